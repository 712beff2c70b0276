import Foundation
import XCTest

/// `auge watch --http` and `auge serve` as a user runs them.
final class StationCommandTests: XCTestCase {
    /// Headless Chromium opens the live screen while photos arrive, answers the review queue with a click,
    /// and the verdict is checked on disk (scripts/station_browser.py). AUGE_SCREENSHOTS=DIR keeps the screenshots.
    func testRealBrowserSeesPartsArriveAndGivesAVerdict() throws {
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("no chromium (apt-get install chromium): the real-browser test of the line station is not run")
        }
        var arguments = [
            repositoryRoot.appendingPathComponent("scripts/station_browser.py").path, AugeProcess.binary.path,
            repositoryRoot.appendingPathComponent("Models/default.onnx").path,
            repositoryRoot.appendingPathComponent("SampleImages/incoming").path, "--chromium", chromium,
        ]
        if let folder = ProcessInfo.processInfo.environment["AUGE_SCREENSHOTS"] { arguments += ["--screenshots", folder] }
        let result = try AugeProcess.run(arguments, executable: URL(fileURLWithPath: "/usr/bin/python3"))
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("station browser check passed"), result.stdout)
    }

    func testAnotherAddressThanLoopbackNeedsAToken() throws {
        let folder = try temporaryFolder("auge-station-cli")
        defer { try? FileManager.default.removeItem(at: folder) }
        let inbox = folder.appendingPathComponent("inbox").path
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        let model = repositoryRoot.appendingPathComponent("Models/default.onnx").path
        let open = try AugeProcess.run(["watch", inbox, "--out", folder.appendingPathComponent("out").path, "--model", model, "--http", "0.0.0.0:8080"])
        XCTAssertEqual(open.status, 64)
        XCTAssertTrue(open.stderr.contains("--http-token"), open.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("out").path), "nothing is created before the arguments are checked")
        let weak = folder.appendingPathComponent("token").path
        try Data("short".utf8).write(to: URL(fileURLWithPath: weak))
        let short = try AugeProcess.run(["serve", folder.path, "--http", "0.0.0.0:0", "--http-token", weak])
        XCTAssertEqual(short.status, 64)
        XCTAssertTrue(short.stderr.contains("at least 16"), short.stderr)
        let missing = try AugeProcess.run(["serve", folder.appendingPathComponent("nothing").path])
        XCTAssertEqual(missing.status, 64)
        XCTAssertTrue(missing.stderr.contains("does not exist"), missing.stderr)
    }
}
