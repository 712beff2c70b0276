import AugeImage
import AugeONNX
import AugeTestSupport
import Foundation
import XCTest

/// `auge watch` end to end: the real binary, real files, real signals (SIGKILL included).
/// The model is the brightness model of ClassifyCommandTests: bright photos are "ok", dark ones "defect".
final class WatchCommandTests: XCTestCase {
    var root: URL!
    var inbox: String { root.appendingPathComponent("in").path }
    var out: String { root.appendingPathComponent("out").path }
    var model: String { root.appendingPathComponent("model.onnx").path }

    override func setUpWithError() throws {
        root = try temporaryFolder("auge-watch")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        let metadata = ModelMetadata(labels: ["ok", "defect"], okLabels: ["ok"], inputSize: .init(width: 16, height: 16), color: .gray)
        try exportONNX(graph: ClassifyCommandTests.brightnessGraph(size: 16), metadata: metadata).write(to: URL(fileURLWithPath: model))
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    /// A watcher process with its output in files (pipes could fill up and block it).
    final class WatchProcess {
        let process = Process()
        let log: URL

        init(_ arguments: [String], log: URL) throws {
            self.log = log
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            try handle.seekToEnd()
            process.executableURL = AugeProcess.binary
            process.arguments = ["watch"] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = handle
            try process.run()
        }

        func signal(_ number: Int32) { kill(process.processIdentifier, number) }

        func stop() -> Int32 {
            signal(SIGTERM)
            process.waitUntilExit()
            return process.terminationStatus
        }

        var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
    }

    func start(_ extra: [String] = []) throws -> WatchProcess {
        try WatchProcess(
            [inbox, "--out", out, "--model", model, "--status-interval", "3600"] + extra,
            log: root.appendingPathComponent("watch.log"))
    }

    static let bright = try! PNGEncoder.encode(Image(width: 24, height: 20, color: .gray, pixels: [UInt8](repeating: 220, count: 480)))
    static let dark = try! PNGEncoder.encode(Image(width: 24, height: 20, color: .gray, pixels: [UInt8](repeating: 30, count: 480)))

    enum Delivery: CaseIterable { case direct, renamed, chunked, corrupt }

    /// Writes one file the way a producer would; returns the expected decision.
    @discardableResult
    func deliver(_ name: String, _ delivery: Delivery, bright: Bool = true) throws -> String {
        let path = inbox + "/" + name
        let bytes = bright ? Self.bright : Self.dark
        switch delivery {
        case .direct:
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        case .renamed:
            try Data(bytes).write(to: URL(fileURLWithPath: path + ".tmp"))
            XCTAssertEqual(rename(path + ".tmp", path), 0)
        case .chunked:
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            let half = bytes.count / 2
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, half) }
            usleep(20_000)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + half, bytes.count - half) }
            close(fd)
        case .corrupt:
            try Data([0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 7, count: 100)).write(to: URL(fileURLWithPath: path))
            return "error"
        }
        return bright ? "ok" : "defect"
    }

    func waitUntil(timeout: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    func inboxPhotos() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: inbox)) ?? []).filter { !$0.hasSuffix(".tmp") }
    }

    func results() throws -> [[String: Any]] {
        let text = try String(contentsOfFile: out + "/results.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// Every delivered file is in exactly one output folder and has exactly one record, with the right decision.
    func assertExactlyOnce(_ expected: [String: String], file: StaticString = #filePath, line: UInt = #line) throws {
        var placed: [String: [String]] = [:]
        for folder in ["ok", "defect", "review", "error"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: out + "/" + folder)) ?? [] where !name.hasSuffix(".error.txt") && !name.hasPrefix(".") {
                placed[name, default: []].append(folder)
            }
        }
        let records = try results()
        var recorded: [String: [String]] = [:]
        for record in records {
            let name = ((record["path"] as! String) as NSString).lastPathComponent
            recorded[name, default: []].append(record["decision"] as! String)
            let movedTo = record["moved_to"] as! String
            XCTAssertTrue(FileManager.default.fileExists(atPath: movedTo), "moved_to \(movedTo) exists", file: file, line: line)
        }
        XCTAssertEqual(records.count, expected.count, "one record per file", file: file, line: line)
        for (name, decision) in expected {
            XCTAssertEqual(placed[name], [decision], "\(name) placed once, in \(decision)/", file: file, line: line)
            XCTAssertEqual(recorded[name], [decision], "\(name) recorded once as \(decision)", file: file, line: line)
        }
        XCTAssertEqual(inboxPhotos(), [], "inbox is empty", file: file, line: line)
    }

    /// Files arrive in bursts, by every kind of producer, while the watcher is killed with SIGKILL at
    /// random moments and restarted. CI runs 120 files; AUGE_SOAK_FILES=500 (or more) is the soak.
    func testExactlyOnceAcrossKillNine() throws {
        let count = Int(ProcessInfo.processInfo.environment["AUGE_SOAK_FILES"] ?? "") ?? 120
        var generator = SystemRandomNumberGenerator()
        var expected: [String: String] = [:]
        var watcher = try start()
        var kills = 0, bursts = 0
        var index = 0
        while index < count {
            bursts += 1
            let burst = Int.random(in: 1...12, using: &generator)
            for _ in 0..<min(burst, count - index) {
                let delivery: Delivery = index % 7 == 6 ? .corrupt : [.direct, .renamed, .chunked][index % 3]
                let name = String(format: "part_%04d.png", index)
                expected[name] = try deliver(name, delivery, bright: index % 5 != 0)
                index += 1
            }
            usleep(UInt32.random(in: 5_000...60_000, using: &generator))
            // Every third burst: at least 120 / 12 = 10 bursts, so at least 3 kills, at random moments.
            if bursts % 3 == 0 {
                watcher.signal(SIGKILL)
                watcher.process.waitUntilExit()
                kills += 1
                watcher = try start()
            }
        }
        XCTAssertTrue(waitUntil(timeout: 60) { inboxPhotos().isEmpty }, "inbox drained; left: \(inboxPhotos().prefix(5)); log: \(watcher.logText.suffix(2000))")
        XCTAssertEqual(watcher.stop(), 0, "SIGTERM is a clean exit")
        XCTAssertGreaterThan(kills, 2, "the run was interrupted several times")
        try assertExactlyOnce(expected)
    }

    /// Two watchers on one output folder (or one inbox) would each claim every photo and interleave
    /// their lines in results.jsonl: the second is refused, naming the first; a kill -9 frees the lock.
    func testOneWatcherPerOutputFolderAndPerInbox() throws {
        let first = try start()
        XCTAssertTrue(waitUntil(timeout: 5) { first.logText.contains("watching") }, first.logText)
        let pid = String(first.process.processIdentifier)

        let sameOut = try AugeProcess.run(["watch", inbox, "--out", out, "--model", model])
        XCTAssertNotEqual(sameOut.status, 0)
        XCTAssertTrue(sameOut.stderr.contains("already used by another auge watch"), sameOut.stderr)
        XCTAssertTrue(sameOut.stderr.contains("process \(pid)"), "names the holder: \(sameOut.stderr)")

        let otherOut = root.appendingPathComponent("out2").path
        let sameInbox = try AugeProcess.run(["watch", inbox, "--out", otherOut, "--model", model])
        XCTAssertNotEqual(sameInbox.status, 0)
        XCTAssertTrue(sameInbox.stderr.contains("the inbox \(inbox) is already used"), sameInbox.stderr)
        XCTAssertTrue(sameInbox.stderr.contains("process \(pid)"), sameInbox.stderr)

        // Photos delivered meanwhile are the first watcher's alone.
        var expected: [String: String] = [:]
        for i in 0..<12 { expected["p\(i).png"] = try deliver("p\(i).png", .renamed, bright: i % 3 != 0) }
        XCTAssertTrue(waitUntil(timeout: 10) { inboxPhotos().isEmpty }, first.logText)
        first.signal(SIGKILL)
        first.process.waitUntilExit()
        // The lock died with the process: a new watcher starts on the same folders.
        let second = try start()
        XCTAssertTrue(waitUntil(timeout: 5) { second.logText.contains("watching") }, second.logText)
        try deliver("after.png", .renamed)
        expected["after.png"] = "ok"
        XCTAssertTrue(waitUntil(timeout: 10) { inboxPhotos().isEmpty }, second.logText)
        XCTAssertEqual(second.stop(), 0)
        try assertExactlyOnce(expected)
    }

    /// A mistyped inbox is refused before the output folder, its journal or its log exist.
    func testBadArgumentsCreateNothing() throws {
        let missingOut = root.appendingPathComponent("never").path
        let missingInbox = try AugeProcess.run(["watch", root.appendingPathComponent("no-such-inbox").path, "--out", missingOut, "--model", model])
        XCTAssertNotEqual(missingInbox.status, 0)
        XCTAssertTrue(missingInbox.stderr.contains("no-such-inbox does not exist"), missingInbox.stderr)
        let badModel = try AugeProcess.run(["watch", inbox, "--out", missingOut, "--model", root.appendingPathComponent("none.onnx").path])
        XCTAssertNotEqual(badModel.status, 0)
        XCTAssertTrue(badModel.stderr.contains("none.onnx"), badModel.stderr)
        let noModel = try AugeProcess.run(["watch", inbox, "--out", missingOut])
        XCTAssertEqual(noModel.status, 64, "a line never runs the demo model by default")
        XCTAssertTrue(noModel.stderr.contains("needs --model"), noModel.stderr)
        let intoInbox = try AugeProcess.run(["watch", inbox, "--out", inbox, "--model", model])
        XCTAssertNotEqual(intoInbox.status, 0)
        XCTAssertTrue(intoInbox.stderr.contains("must not be the inbox"), intoInbox.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: missingOut), "nothing was created")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: inbox), [], "nothing was written into the inbox")
    }

    func testPollingModeWaitsForSlowWritersToSettle() throws {
        let watcher = try start(["--poll", "0.1", "--settle", "0.5"])
        let path = inbox + "/slow.png"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let bytes = Self.dark
        for chunk in 0..<4 {  // a slow writer: four chunks 200 ms apart, each shorter than the settle time
            let start = chunk * bytes.count / 4, end = (chunk + 1) * bytes.count / 4
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + start, end - start) }
            usleep(200_000)
        }
        close(fd)
        try deliver("quick.png", .direct)
        XCTAssertTrue(waitUntil(timeout: 10) { inboxPhotos().isEmpty }, watcher.logText)
        XCTAssertEqual(watcher.stop(), 0)
        try assertExactlyOnce(["slow.png": "defect", "quick.png": "ok"])
    }

    func testBacklogNameClashesAndErrorSidecar() throws {
        try deliver("a.png", .direct)
        try deliver("b.png", .direct, bright: false)
        try deliver("broken.png", .corrupt)
        try FileManager.default.createDirectory(atPath: out + "/ok", withIntermediateDirectories: true)
        try Data(Self.bright).write(to: URL(fileURLWithPath: out + "/ok/a.png"))  // an earlier a.png is already there
        let watcher = try start(["--settle", "0"])
        XCTAssertTrue(waitUntil(timeout: 10) { inboxPhotos().isEmpty }, watcher.logText)
        XCTAssertEqual(watcher.stop(), 0)
        let ok = try FileManager.default.contentsOfDirectory(atPath: out + "/ok").sorted()
        XCTAssertEqual(ok, ["a-1.png", "a.png"])
        let why = try String(contentsOfFile: out + "/error/broken.png.error.txt", encoding: .utf8)
        XCTAssertTrue(why.contains("corrupt image data"), why)
        let records = try results()
        XCTAssertEqual(records.count, 3)
        XCTAssertEqual(Set(records.map { $0["decision"] as! String }), ["ok", "defect", "error"])
        // The model by content, for audit trails: the digest sha256sum gives for the file.
        let expected = try runProcess(URL(fileURLWithPath: "/usr/bin/sha256sum"), [model]).stdout.split(separator: " ").first.map(String.init)
        for record in records {
            XCTAssertNotNil(record["time"] as? String)
            XCTAssertEqual(record["model"] as? String, "model.onnx")
            XCTAssertEqual(record["model_sha256"] as? String, expected)
            XCTAssertEqual(record["threshold"] as? Double, 0.5)
            XCTAssertEqual(record["auge_version"] as? String, augeVersion, "the deciding auge's version")
        }
    }

    func testHeatmapsForDefectsOnTheLine() throws {
        try deliver("good.png", .direct)
        try deliver("bad.png", .direct, bright: false)
        let heatmaps = root.appendingPathComponent("heatmaps").path
        let watcher = try start(["--settle", "0", "--heatmaps", heatmaps, "--heatmap-grid", "4"])
        XCTAssertTrue(waitUntil(timeout: 10) { inboxPhotos().isEmpty }, watcher.logText)
        XCTAssertEqual(watcher.stop(), 0)
        let records = Dictionary(uniqueKeysWithValues: try results().map { (($0["path"] as! String as NSString).lastPathComponent, $0) })
        XCTAssertNil(records["good.png"]?["hotspot"], "OK parts are not explained")
        XCTAssertNotNil(records["bad.png"]?["hotspot"] as? [String: Any])
        XCTAssertEqual(records["bad.png"]?["heatmap"] as? String, heatmaps + "/bad.heatmap.png")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: heatmaps), ["bad.heatmap.png"])
    }

    /// The status line's latencies are arrival-to-record times: photos waiting at start have no arrival.
    func testStatusLatencyLeavesOutTheBacklog() throws {
        try deliver("waiting.png", .direct)
        let watcher = try WatchProcess(
            [inbox, "--out", out, "--model", model, "--settle", "0", "--status-interval", "0.3"],
            log: root.appendingPathComponent("watch.log"))
        XCTAssertTrue(waitUntil(timeout: 10) { watcher.logText.contains("1 file done") }, watcher.logText)
        let backlogOnly = watcher.logText.components(separatedBy: "\n").first { $0.contains("1 file done") } ?? ""
        XCTAssertTrue(backlogOnly.contains("latency p50 - ms p99 - ms"), backlogOnly)
        try deliver("arrived.png", .renamed)
        XCTAssertTrue(waitUntil(timeout: 10) { watcher.logText.contains("2 files done") }, watcher.logText)
        let afterArrival = watcher.logText.components(separatedBy: "\n").first { $0.contains("2 files done") } ?? ""
        XCTAssertFalse(afterArrival.contains("p50 -"), afterArrival)
        XCTAssertEqual(watcher.stop(), 0)
    }

    func testInotifyOverflowTriggersARescan() throws {
        let watcher = try start()
        XCTAssertTrue(waitUntil(timeout: 5) { watcher.logText.contains("watching") })
        watcher.signal(SIGSTOP)
        // More events than the kernel queues (fs.inotify.max_queued_events, 16384 by default).
        let limit =
            Int(
                (try? String(contentsOfFile: "/proc/sys/fs/inotify/max_queued_events", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 16384
        for i in 0...limit { close(open(inbox + "/noise\(i).tmp", O_WRONLY | O_CREAT, 0o644)) }
        try deliver("after-overflow.png", .direct)
        watcher.signal(SIGCONT)
        XCTAssertTrue(waitUntil(timeout: 20) { !inboxPhotos().contains("after-overflow.png") }, watcher.logText)
        XCTAssertEqual(watcher.stop(), 0)
        XCTAssertTrue(watcher.logText.contains("overflowed; rescanned"), watcher.logText)
        XCTAssertEqual(try results().count, 1)
    }

    func testSIGHUPReloadsAGoodModelAndRefusesABadOne() throws {
        let watcher = try start()
        XCTAssertTrue(waitUntil(timeout: 5) { watcher.logText.contains("watching") })
        watcher.signal(SIGHUP)
        XCTAssertTrue(waitUntil(timeout: 5) { watcher.logText.contains("reloaded the model (SIGHUP)") }, watcher.logText)
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: model))  // the file changes: a reload is tried
        XCTAssertTrue(waitUntil(timeout: 5) { watcher.logText.contains("model reload refused") }, watcher.logText)
        try deliver("still-running.png", .renamed, bright: false)
        XCTAssertTrue(waitUntil(timeout: 5) { inboxPhotos().isEmpty }, watcher.logText)
        XCTAssertEqual(watcher.stop(), 0)
        try assertExactlyOnce(["still-running.png": "defect"])
    }

    /// The journal as a crash leaves it at each step of a placement is completed at start:
    /// one record and one place per photo, whichever step the crash interrupted.
    func testRecoveryCompletesTheOpenIntentAfterACrashAtEveryStep() throws {
        enum Step: CaseIterable { case tornIntent, intentOnly, intentAndRecord, movedNotDone, legacyPendingFile }
        for step in Step.allCases {
            try? FileManager.default.removeItem(atPath: out)
            try FileManager.default.createDirectory(atPath: out + "/ok", withIntermediateDirectories: true)
            try deliver("a.png", .direct)
            let source = inbox + "/a.png", target = out + "/ok/a.png"
            let record: [String: Any] = [
                "path": source, "label": "ok", "score": 0.9, "decision": "ok", "ms": 1.0,
                "id": "crash-1", "moved_to": target, "model": "model.onnx", "time": "2026-11-26T00:00:00.000Z",
            ]
            let line = String(decoding: try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]), as: UTF8.self)
            let intent: [String: Any] = ["id": "crash-1", "source": source, "target": target, "line": line]
            let entry = String(decoding: try JSONSerialization.data(withJSONObject: ["intent": intent]), as: UTF8.self)
            var journal = entry + "\n", resultLines = ""
            switch step {
            case .tornIntent: journal = String(entry.prefix(entry.count / 2))
            case .intentOnly: break
            case .intentAndRecord: resultLines = line + "\n"
            case .movedNotDone:
                resultLines = line + "\n"
                XCTAssertEqual(rename(source, target), 0)
            case .legacyPendingFile:
                journal = ""
                try JSONSerialization.data(withJSONObject: intent).write(to: URL(fileURLWithPath: out + "/.auge-pending.json"))
            }
            try Data(journal.utf8).write(to: URL(fileURLWithPath: out + "/.auge-journal"))
            try Data(resultLines.utf8).write(to: URL(fileURLWithPath: out + "/results.jsonl"))
            let watcher = try start(["--settle", "0"])
            XCTAssertTrue(waitUntil(timeout: 10) { watcher.logText.contains("watching") && inboxPhotos().isEmpty }, "\(step): \(watcher.logText)")
            XCTAssertEqual(watcher.stop(), 0)
            try assertExactlyOnce(["a.png": "ok"])
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/.auge-pending.json"), "\(step)")
            let records = try results()
            let keptIntentRecord = records.contains { ($0["id"] as? String) == "crash-1" }
            XCTAssertEqual(keptIntentRecord, step != .tornIntent, "\(step): the open intent's record is the one kept")
            try FileManager.default.removeItem(at: root.appendingPathComponent("watch.log"))
        }
    }

    /// A damaged journal whose open entry would move a file from outside the inbox, or to outside the
    /// output folder, stops the start with a message naming the journal; nothing is moved.
    func testADamagedJournalNeverMovesFilesOutsideTheFolders() throws {
        let outside = root.appendingPathComponent("precious.txt").path
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: outside))
        try deliver("a.png", .direct)
        for (source, target) in [
            (outside, out + "/ok/precious.txt"), (inbox + "/a.png", root.path + "/stolen.png"),
            (inbox + "/../precious.txt", out + "/ok/p.txt"), (inbox + "/a.png", out + "/../stolen.png"),
        ] {
            try? FileManager.default.removeItem(atPath: out)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let intent: [String: Any] = ["id": "bad-1", "source": source, "target": target, "line": "{}"]
            let entry = String(decoding: try JSONSerialization.data(withJSONObject: ["intent": intent]), as: UTF8.self)
            try Data((entry + "\n").utf8).write(to: URL(fileURLWithPath: out + "/.auge-journal"))
            let watcher = try start(["--settle", "0"])
            XCTAssertTrue(waitUntil(timeout: 10) { !watcher.process.isRunning }, watcher.logText)
            XCTAssertEqual(watcher.stop(), 1)
            XCTAssertTrue(watcher.logText.contains(".auge-journal is damaged"), watcher.logText)
            XCTAssertEqual(FileManager.default.contents(atPath: outside), Data("keep me".utf8), "\(source) -> \(target)")
            XCTAssertTrue(FileManager.default.fileExists(atPath: inbox + "/a.png"), "\(source) -> \(target)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: root.path + "/stolen.png"))
            try FileManager.default.removeItem(at: root.appendingPathComponent("watch.log"))
        }
    }
}
