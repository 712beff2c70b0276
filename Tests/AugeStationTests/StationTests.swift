@testable import AugeStation
import Foundation
import XCTest

final class PartLogTests: XCTestCase {
    func testReadsCompleteLinesOnlyAndNamesRecordsWithoutID() throws {
        let folder = try StationFolder()
        let log = PartLog(path: folder.out + "/results.jsonl")
        XCTAssertEqual(log.refresh().count, 0, "no file yet")
        folder.append(#"{"path":"a.jpg","label":"ok","score":0.9,"decision":"ok","ms":1}"#)
        folder.append(#"{"path":"b.jpg","label":"dent","score":0.8,"decision":"defect","ms":1"#, newline: false)
        let first = log.refresh()
        XCTAssertEqual(first.map(\.id), ["line-1"], "a classify record has no id; the unfinished line waits")
        folder.append(#","id":"b"}"#)
        folder.append("not a record")
        XCTAssertEqual(log.refresh().map(\.id), ["b"])
        XCTAssertEqual(log.unreadableLines, 1)
        XCTAssertEqual(log.count, 2)
    }

    func testQueriesAndCounts() throws {
        let folder = try StationFolder()
        try folder.addPart("a.jpg", decision: "ok", label: "ok", time: "2026-12-04T06:10:00.000Z", id: "a")
        try folder.addPart("b.jpg", decision: "defect", label: "dent", time: "2026-12-04T07:00:00.000Z", id: "b")
        try folder.addPart("c.jpg", decision: "review", label: "ok", time: "2026-12-04T08:00:00.500Z", id: "c")
        let log = PartLog(path: folder.out + "/results.jsonl")
        log.refresh()
        XCTAssertEqual(log.parts(matching: PartQuery()).map(\.id), ["c", "b", "a"], "newest first")
        XCTAssertEqual(log.parts(matching: PartQuery(decisions: ["defect", "review"])).map(\.id), ["c", "b"])
        XCTAssertEqual(log.parts(matching: PartQuery(label: "ok")).map(\.id), ["c", "a"])
        let seven = StationTime.parse("2026-12-04T07:00:00Z")!
        XCTAssertEqual(log.parts(matching: PartQuery(from: seven)).map(\.id), ["c", "b"])
        XCTAssertEqual(log.parts(matching: PartQuery(to: seven)).map(\.id), ["a"])
        XCTAssertEqual(log.parts(matching: PartQuery(), limit: 1, before: "c").map(\.id), ["b"], "paging continues after a part")
        let counts = log.counts(since: seven)
        XCTAssertEqual(counts.total, 2)
        XCTAssertEqual(counts.decisions, ["defect": 1, "review": 1])
        XCTAssertEqual(counts.labels, ["dent": 1, "ok": 1])
        XCTAssertEqual(StationTime.parse("2026-12-04T08:00:00.500Z")! - seven, 3600.5, accuracy: 1e-6)
    }

    func testTimesRoundTrip() throws {
        XCTAssertEqual(StationTime.format(Date(timeIntervalSince1970: StationTime.parse("2026-12-04T19:20:38.123Z")!)), "2026-12-04T19:20:38.123Z")
        XCTAssertEqual(StationTime.format(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00.000Z")
        XCTAssertNil(StationTime.parse("2026-12-04 19:20:38"))
    }

    func testShiftStart() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let shifts = try ShiftSchedule("22:00, 06:00,14:00")
        func start(_ time: String) -> String {
            StationTime.format(shifts.currentStart(now: Date(timeIntervalSince1970: StationTime.parse(time)!), calendar: calendar))
        }
        XCTAssertEqual(start("2026-12-04T10:00:00Z"), "2026-12-04T06:00:00.000Z")
        XCTAssertEqual(start("2026-12-04T14:00:00Z"), "2026-12-04T14:00:00.000Z")
        XCTAssertEqual(start("2026-12-04T03:00:00Z"), "2026-12-03T22:00:00.000Z", "the night shift began yesterday")
        XCTAssertThrowsError(try ShiftSchedule("25:00"))
        XCTAssertThrowsError(try ShiftSchedule("6am"))
    }
}

final class ReviewDeskTests: XCTestCase {
    private func part(_ folder: StationFolder, _ id: String) -> Part {
        let log = PartLog(path: folder.out + "/results.jsonl")
        log.refresh()
        return log.part(id: id)!
    }

    func testVerdictIsJournalledWithTheModelsDecisionAndThePhotoFiled() throws {
        let folder = try StationFolder()
        try folder.addPart("p.jpg", decision: "review", label: "ok", score: 0.61, id: "p")
        let desk = try ReviewDesk(outputFolder: folder.out)
        let record = try desk.give(try Verdict(kind: .defect, label: "scratch"), for: part(folder, "p"), photo: folder.out + "/review/p.jpg", who: "ana")
        let journal = try String(contentsOfFile: folder.out + "/reviews.jsonl", encoding: .utf8)
        let line = try JSONSerialization.jsonObject(with: Data(journal.split(separator: "\n")[0].utf8)) as! [String: Any]
        XCTAssertEqual(line["who"] as? String, "ana")
        XCTAssertEqual(line["verdict"] as? String, "defect")
        XCTAssertEqual(line["label"] as? String, "scratch")
        XCTAssertEqual(line["model_decision"] as? String, "review")
        XCTAssertEqual(line["model_label"] as? String, "ok")
        XCTAssertEqual(line["model_sha256"] as? String, "abc")
        XCTAssertEqual(line["part"] as? String, "p")
        XCTAssertNotNil(line["time"])
        let filed = try XCTUnwrap(record.feedback)
        XCTAssertTrue(filed.hasSuffix("/out/feedback/scratch/p.jpg"), filed)
        XCTAssertEqual(FileManager.default.contents(atPath: filed), Data("photo p.jpg".utf8))
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.out + "/review/p.jpg"), "the photo stays where the watcher put it")
        XCTAssertEqual(desk.verdict(for: "p")?.label, "scratch")
    }

    func testUndoTakesBackTheLatestVerdictAndItsCopy() throws {
        let folder = try StationFolder()
        try folder.addPart("a.jpg", decision: "review", label: "ok", id: "a")
        try folder.addPart("b.jpg", decision: "review", label: "dent", id: "b")
        let desk = try ReviewDesk(outputFolder: folder.out)
        let first = try desk.give(try Verdict(kind: .ok, label: "ok"), for: part(folder, "a"), photo: folder.out + "/review/a.jpg", who: "ana")
        let second = try desk.give(try Verdict(kind: .defect, label: "dent"), for: part(folder, "b"), photo: folder.out + "/review/b.jpg", who: "ana")
        XCTAssertEqual(try desk.undoLast(who: "ana")?.reviewId, second.reviewId)
        XCTAssertFalse(FileManager.default.fileExists(atPath: second.feedback!))
        XCTAssertTrue(FileManager.default.fileExists(atPath: first.feedback!))
        XCTAssertNil(desk.verdict(for: "b"))
        XCTAssertEqual(try desk.undoLast(who: "ana")?.reviewId, first.reviewId)
        XCTAssertNil(try desk.undoLast(who: "ana"), "nothing left to undo")
        // The journal keeps everything, and a new desk replays it to the same state.
        XCTAssertEqual(try String(contentsOfFile: desk.journalPath, encoding: .utf8).split(separator: "\n").count, 4)
        XCTAssertTrue(try ReviewDesk(outputFolder: folder.out).verdicts.isEmpty)
    }

    func testACrashBetweenJournalAndCopyIsCompletedOnStart() throws {
        let folder = try StationFolder()
        try folder.addPart("a.jpg", decision: "review", label: "ok", id: "a")
        try folder.addPart("b.jpg", decision: "review", label: "ok", id: "b")
        let desk = try ReviewDesk(outputFolder: folder.out)
        let kept = try desk.give(try Verdict(kind: .defect, label: "dent"), for: part(folder, "a"), photo: folder.out + "/review/a.jpg", who: "ana")
        let undone = try desk.give(try Verdict(kind: .ok, label: "ok"), for: part(folder, "b"), photo: folder.out + "/review/b.jpg", who: "ana")
        try desk.undoLast(who: "ana")
        // As if the process died: the first copy never happened, the undone one was never removed,
        // and a verdict was being written when the power went.
        try FileManager.default.removeItem(atPath: kept.feedback!)
        try Data("photo b.jpg".utf8).write(to: URL(fileURLWithPath: undone.feedback!))
        let handle = FileHandle(forWritingAtPath: desk.journalPath)!
        handle.seekToEndOfFile()
        handle.write(Data(#"{"review_id":"x","part":"b","ti"#.utf8))
        try handle.close()

        let restarted = try ReviewDesk(outputFolder: folder.out)
        XCTAssertEqual(FileManager.default.contents(atPath: kept.feedback!), Data("photo a.jpg".utf8))
        XCTAssertFalse(FileManager.default.fileExists(atPath: undone.feedback!))
        XCTAssertEqual(Set(restarted.verdicts.keys), ["a"], "the torn verdict was never given")
        // The torn line is cut off, so the next verdict is a line of its own.
        try restarted.give(try Verdict(kind: .ok, label: "ok"), for: part(folder, "b"), photo: folder.out + "/review/b.jpg", who: "bo")
        XCTAssertEqual(Set(try ReviewDesk(outputFolder: folder.out).verdicts.keys), ["a", "b"])
    }

    func testSameNameFromTwoPartsGetsTwoFiles() throws {
        let folder = try StationFolder()
        try folder.addPart("p.jpg", decision: "review", label: "ok", id: "a")
        try folder.addPart("p.jpg", decision: "defect", label: "dent", id: "b")
        let desk = try ReviewDesk(outputFolder: folder.out)
        let a = try desk.give(try Verdict(kind: .defect, label: "dent"), for: part(folder, "a"), photo: folder.out + "/review/p.jpg", who: "ana")
        let b = try desk.give(try Verdict(kind: .defect, label: "dent"), for: part(folder, "b"), photo: folder.out + "/defect/p.jpg", who: "ana")
        XCTAssertNotEqual(a.feedback, b.feedback)
        XCTAssertTrue(b.feedback!.hasSuffix("/feedback/dent/p-1.jpg"))
    }

    func testLabelsThatCannotNameAFolderAreRefused() {
        for bad in ["", "../ok", "a/b", ".hidden", "incoming", String(repeating: "x", count: 65), "tab\there"] {
            XCTAssertThrowsError(try Verdict(kind: .defect, label: bad), bad)
        }
        XCTAssertNoThrow(try Verdict(kind: .defect, label: "Blow hole-2.b"))
    }
}

final class OutputFilesTests: XCTestCase {
    func testOnlyRegularFilesInsideTheOutputFolderAreServed() throws {
        let folder = try StationFolder()
        try folder.addPart("a b.jpg", decision: "ok", label: "ok")
        try Data("secret".utf8).write(to: URL(fileURLWithPath: folder.root + "/secret.txt"))
        try FileManager.default.createSymbolicLink(atPath: folder.out + "/ok/link.jpg", withDestinationPath: folder.root + "/secret.txt")
        try FileManager.default.createSymbolicLink(atPath: folder.out + "/up", withDestinationPath: folder.root)
        try FileManager.default.createSymbolicLink(atPath: folder.out + "/ok/inside.jpg", withDestinationPath: folder.out + "/ok/a b.jpg")
        let files = OutputFiles(outputFolder: folder.out)
        XCTAssertNotNil(files.resolve(urlPath: "ok/a%20b.jpg"))
        XCTAssertNotNil(files.resolve(urlPath: "ok/inside.jpg"), "a link that stays inside is fine")
        for attack in [
            "../secret.txt", "%2e%2e/secret.txt", "ok/..%2F..%2Fsecret.txt", "ok/%2E%2E/%2E%2E/secret.txt", "/etc/passwd",
            "%2Fetc%2Fpasswd", "ok/link.jpg", "up/secret.txt", "ok", "", ".", "ok/a%00b.jpg", "%252e%252e/secret.txt",
        ] {
            XCTAssertNil(files.resolve(urlPath: attack), attack)
        }
        XCTAssertEqual(files.url(for: folder.out + "/ok/a b.jpg"), "/files/ok/a%20b.jpg")
        XCTAssertNil(files.url(for: folder.root + "/secret.txt"), "a record naming a file outside gets no URL")
    }
}
