@testable import AugeInspect
import Foundation
import XCTest

final class DecisionPolicyTests: XCTestCase {
    let policy = DecisionPolicy(
        labels: ["ok", "scratch", "dent"], okLabels: ["ok"], threshold: 0.5,
        reviewBand: DecisionPolicy.band(around: 0.5, halfWidth: 0.1))

    /// Calibration photos are spread over the whole list (sorted by class), never its first part.
    func testCalibrationPhotosAreTakenEvenly() {
        let photos = (0..<500).map { "\($0 < 250 ? "defect" : "ok")/\($0)" }
        let taken = ModelQuantizer.evenlyTaken(photos, count: 300)
        XCTAssertEqual(taken.count, 300)
        XCTAssertEqual(Set(taken).count, 300)
        XCTAssertEqual(taken.filter { $0.hasPrefix("ok/") }.count, 150, "both classes, in proportion")
        XCTAssertEqual(ModelQuantizer.evenlyTaken(Array(photos.prefix(7)), count: 300), Array(photos.prefix(7)))
    }

    /// `auge quantize` says whether the int8 model pays on this machine, from the times it measured.
    func testSpeedReportSaysWhetherInt8PaysHere() {
        let faster = ModelQuantizer.Speed(threads: 1, floatMs: 2, quantizedMs: 1, int8Path: "avx512-vnni", int8Kernels: true).report
        XCTAssertTrue(faster.contains("(one thread, int8 kernels avx512-vnni): float 2.00 ms, int8 1.00 ms per photo: the int8 model is 2.00x as fast"), faster)
        let slower = ModelQuantizer.Speed(threads: 1, floatMs: 5, quantizedMs: 10, int8Path: "avx2", int8Kernels: false).report
        XCTAssertTrue(slower.contains("not faster here (2.00x the float model's time)") && slower.contains("run the float model on it"), slower)
        XCTAssertTrue(slower.contains("(one thread, no AVX-512 VNNI: the int8 model runs in float)"), slower)
        // Within 5 %: not faster, but on a VNNI CPU no advice to drop it.
        let level = ModelQuantizer.Speed(threads: 2, floatMs: 1, quantizedMs: 0.97, int8Path: "avx512-vnni", int8Kernels: true).report
        XCTAssertTrue(level.contains("2 threads") && level.contains("not faster here") && !level.contains("float model on it"), level)
    }

    func testDefectProbabilityIsOneMinusOKProbability() {
        let (label, score, defect, decision) = policy.decide([0.2, 0.5, 0.3])
        XCTAssertEqual(label, "scratch")
        XCTAssertEqual(score, 0.5)
        XCTAssertEqual(defect!, 0.8, accuracy: 1e-6)
        XCTAssertEqual(decision, .defect)
    }

    func testReviewBandAroundTheThreshold() {
        XCTAssertEqual(policy.decide([0.61, 0.2, 0.19]).decision, .ok)  // d = 0.39 < 0.4
        XCTAssertEqual(policy.decide([0.55, 0.25, 0.2]).decision, .review)  // d = 0.45
        XCTAssertEqual(policy.decide([0.45, 0.5, 0.05]).decision, .review)  // d = 0.55 < 0.6
        XCTAssertEqual(policy.decide([0.39, 0.5, 0.11]).decision, .defect)  // d = 0.61
        var strict = policy
        strict.reviewBand = nil
        XCTAssertEqual(strict.decide([0.5, 0.25, 0.25]).decision, .defect)  // d = 0.5 >= threshold
        XCTAssertEqual(strict.decide([0.51, 0.25, 0.24]).decision, .ok)
    }

    func testLabelOnlyModelsDecideByLabel() {
        let types = DecisionPolicy(labels: ["crazing", "patches"], okLabels: [], threshold: 0.6)
        XCTAssertEqual(types.decide([0.3, 0.7]).decision, .defect)
        XCTAssertEqual(types.decide([0.45, 0.55]).decision, .review)
        XCTAssertNil(types.decide([0.3, 0.7]).defectProbability)
    }

    /// A gated model: the classifier's defect keeps its label; a part only the anomaly head rejects is an
    /// `unknown` defect; either head's doubt sends the part to review; both content: `ok`.
    func testGatedDecisions() throws {
        var gated = policy
        gated.kind = .gated
        gated.anomalyBand = .init(lower: 0.9, upper: 1.1)
        try gated.validate()
        let cases: [(probabilities: [Float], anomaly: Float, label: String, decision: Decision)] = [
            ([0.2, 0.7, 0.1], 0.5, "scratch", .defect),  // the classifier's defect, the gate content
            ([0.2, 0.1, 0.7], 3.0, "dent", .defect),  // both reject: the classifier names it
            ([0.9, 0.05, 0.05], 1.2, "unknown", .defect),  // only the gate rejects
            ([0.9, 0.05, 0.05], 1.0, "ok", .review),  // the gate unsure
            ([0.55, 0.25, 0.2], 0.5, "ok", .review),  // the classifier unsure
            ([0.55, 0.25, 0.2], 1.5, "unknown", .defect),  // the classifier unsure, the gate sure
            ([0.9, 0.05, 0.05], 0.89, "ok", .ok),
        ]
        for (probabilities, anomaly, label, decision) in cases {
            let decided = gated.decide(probabilities: probabilities, anomalyScore: anomaly)
            XCTAssertEqual(decided.label, label, "\(probabilities), \(anomaly)")
            XCTAssertEqual(decided.decision, decision, "\(probabilities), \(anomaly)")
            XCTAssertEqual(decided.defectProbability, policy.decide(probabilities).defectProbability)
        }
        XCTAssertEqual(gated.gateDecision(anomalyScore: 1.1), .defect)
        var withoutOK = gated
        withoutOK.okLabels = []
        XCTAssertThrowsError(try withoutOK.validate()) { XCTAssertTrue("\($0)".contains("needs OK labels"), "\($0)") }
        var clash = gated
        clash.labels[2] = DecisionPolicy.unknownDefectLabel
        XCTAssertThrowsError(try clash.validate())
    }

    func testValidation() {
        XCTAssertThrowsError(try DecisionPolicy(labels: ["a"], okLabels: ["b"]).validate())
        XCTAssertThrowsError(try DecisionPolicy(labels: ["a", "a"], okLabels: []).validate())
        XCTAssertNoThrow(try policy.validate())
        XCTAssertThrowsError(
            try DecisionPolicy(
                labels: ["a"], okLabels: ["a"], threshold: 0.5,
                reviewBand: .init(lower: 0.6, upper: 0.8)
            ).validate(), "band must contain the threshold")
    }
}

final class FileWalkTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("auge-walk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("a/b"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func touch(_ name: String) {
        XCTAssertTrue(FileManager.default.createFile(atPath: folder.appendingPathComponent(name).path, contents: Data([1])))
    }

    func testRecursiveSortedWalkSkipsNonPhotosAndSurvivesLinkLoops() throws {
        for name in ["z.jpg", "A.PNG", "a/b/deep.jpeg", "a/odd.gif", "Thumbs.db", ".DS_Store", "a/notes.txt", "a/.hidden.jpg"] {
            touch(name)
        }
        try FileManager.default.createSymbolicLink(
            atPath: folder.appendingPathComponent("a/b/loop").path,
            withDestinationPath: folder.path)
        let root = folder.path
        let result = FileWalk().collect([root, root + "/missing.jpg"])
        XCTAssertEqual(result.files, ["A.PNG", "a/b/deep.jpeg", "a/odd.gif", "z.jpg"].map { root + "/" + $0 })
        XCTAssertEqual(Set(result.skipped), Set([".DS_Store", "Thumbs.db", "a/.hidden.jpg", "a/notes.txt"].map { root + "/" + $0 }))
        XCTAssertEqual(result.problems.map(\.path), [root + "/missing.jpg"])
    }

    func testExplicitFilesAreAlwaysTaken() {
        touch("notes.txt")
        let path = folder.appendingPathComponent("notes.txt").path
        XCTAssertEqual(FileWalk().collect([path]).files, [path])
    }
}

final class ResultFormatterTests: XCTestCase {
    let records = [
        InspectionRecord(
            path: "in/a,1.jpg", label: "ok", score: 0.97, decision: .ok, ms: 3.14159,
            defectProbability: 0.03, scores: ["ok": 0.97, "dent": 0.03]),
        InspectionRecord.failure(path: "in/\"b\".png", error: "corrupt image data (CRC error)", ms: 0.5),
    ]

    func testJSONLinesAreOneObjectPerImageWithThePublicKeys() throws {
        let formatter = ResultFormatter(format: .jsonl)
        let lines = records.enumerated().map { formatter.line($1, isFirst: $0 == 0) }
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(first["path"] as? String, "in/a,1.jpg")
        XCTAssertEqual(first["label"] as? String, "ok")
        XCTAssertEqual((first["score"] as? Double)!, 0.97, accuracy: 1e-6)
        XCTAssertEqual(first["decision"] as? String, "ok")
        XCTAssertEqual(first["ms"] as? Double, 3.142)
        XCTAssertEqual((first["scores"] as? [String: Double])?.keys.sorted(), ["dent", "ok"])
        let second = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        XCTAssertEqual(second["decision"] as? String, "error")
        XCTAssertEqual(second["error"] as? String, "corrupt image data (CRC error)")
        XCTAssertNil(second["label"])
    }

    func testJSONArrayParses() throws {
        let formatter = ResultFormatter(format: .json)
        let text = ([formatter.header!] + records.enumerated().map { formatter.line($1, isFirst: $0 == 0) } + [formatter.footer!])
            .joined(separator: "\n")
        let array = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [[String: Any]]
        XCTAssertEqual(array.count, 2)
    }

    func testCSVQuotesAndScoreColumns() {
        let formatter = ResultFormatter(format: .csv, scoreLabels: ["ok", "dent"])
        XCTAssertEqual(formatter.header, "path,label,score,decision,ms,error,score_ok,score_dent,defect_probability")
        XCTAssertEqual(formatter.line(records[0], isFirst: true), "\"in/a,1.jpg\",ok,0.970000,ok,3.142,,0.970000,0.030000,0.030000")
        XCTAssertEqual(
            formatter.line(records[1], isFirst: false),
            "\"in/\"\"b\"\".png\",,,error,0.500,corrupt image data (CRC error),,,")
    }

    func testTableColumnsLineUpWhateverTheLabelLength() {
        let formatter = ResultFormatter(format: .table, labels: ["ok", "dent", "scratch_on_the_rim"])
        let long = InspectionRecord(path: "in/c.jpg", label: "scratch_on_the_rim", score: 0.5, decision: .review, ms: 1234.5)
        let lines = [formatter.header!] + (records + [long]).map { formatter.line($0, isFirst: false) }
        let pathColumns = lines.map { line in line.range(of: "  in/").map { line.distance(from: line.startIndex, to: $0.lowerBound) } }
        XCTAssertEqual(pathColumns.dropFirst().compactMap { $0 }.count, 3, "\(lines)")
        XCTAssertEqual(Set(pathColumns.dropFirst()).count, 1, "paths start in one column:\n\(lines.joined(separator: "\n"))")
        XCTAssertEqual(
            lines[0].range(of: "  path").map { lines[0].distance(from: lines[0].startIndex, to: $0.lowerBound) },
            pathColumns[1], "the header's path sits above them")
    }
}

final class SorterTests: XCTestCase {
    func testNameClashesGetUniqueNamesAndNothingIsOverwritten() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("auge-sort-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let inbox = root.appendingPathComponent("in"), out = root.appendingPathComponent("out").path
        try FileManager.default.createDirectory(at: inbox.appendingPathComponent("x"), withIntermediateDirectories: true)
        var sources = [String]()
        for (i, sub) in ["", "x/", ""].enumerated() {
            let name = i == 2 ? "other.jpg" : "part.jpg"
            let path = inbox.appendingPathComponent(sub + name).path
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([UInt8(i)])))
            sources.append(path)
        }
        let copier = Sorter(root: out)
        let a = try copier.place(InspectionRecord(path: sources[0], label: "ok", score: 1, decision: .ok, ms: 1))
        let b = try copier.place(InspectionRecord(path: sources[1], label: "ok", score: 1, decision: .ok, ms: 1))
        XCTAssertEqual(a, out + "/ok/part.jpg")
        XCTAssertEqual(b, out + "/ok/part-1.jpg")
        XCTAssertEqual(FileManager.default.contents(atPath: a), Data([0]))
        XCTAssertEqual(FileManager.default.contents(atPath: b), Data([1]))
        XCTAssertTrue(FileManager.default.fileExists(atPath: sources[0]), "copy keeps the source")

        let mover = Sorter(root: out, grouping: .label, move: true)
        let c = try mover.place(InspectionRecord(path: sources[0], label: "dent", score: 1, decision: .defect, ms: 1))
        let d = try mover.place(InspectionRecord.failure(path: sources[2], error: "bad", ms: 1))
        XCTAssertEqual(c, out + "/dent/part.jpg")
        XCTAssertEqual(d, out + "/error/other.jpg")
        XCTAssertFalse(FileManager.default.fileExists(atPath: sources[0]), "move removes the source")
    }
}

final class LatencyStatisticsTests: XCTestCase {
    func testNearestRankPercentilesOnKnownSamples() {
        let stats = LatencyStatistics((1...100).map(Double.init).shuffled())!
        XCTAssertEqual(stats.min, 1)
        XCTAssertEqual(stats.p50, 50)
        XCTAssertEqual(stats.p90, 90)
        XCTAssertEqual(stats.p99, 99)
        XCTAssertEqual(stats.max, 100)
        XCTAssertEqual(stats.mean, 50.5)
        let few = LatencyStatistics([3, 1, 2])!
        XCTAssertEqual(few.p50, 2)  // rank ceil(1.5) = 2
        XCTAssertEqual(few.p90, 3)  // rank ceil(2.7) = 3
        XCTAssertEqual(LatencyStatistics([7])!.p99, 7)
        XCTAssertNil(LatencyStatistics([]))
    }
}
