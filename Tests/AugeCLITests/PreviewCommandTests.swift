import AugeImage
import AugeInspect
import Foundation
import XCTest

final class PreviewCommandTests: XCTestCase {
    func testPreviewWritesWhatTheModelSees() throws {
        let folder = try temporaryFolder("auge-preview")
        defer { try? FileManager.default.removeItem(at: folder) }
        let photo = repositoryRoot.appendingPathComponent("Tests/AugeImageTests/Fixtures/jpeg/orientation-6.jpg").path
        let out = folder.appendingPathComponent("seen.png").path
        let result = try AugeProcess.run(["preview", photo, "-o", out, "--size", "24x16", "--color", "gray", "--roi", "0,0,32,40"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let seen = try ImageDecoder().decode(fileAt: out, color: .gray)
        XCTAssertEqual(seen.width, 24)
        XCTAssertEqual(seen.height, 16)
        // the same as the library's preview of the same settings
        let expected = try Preprocessing(width: 24, height: 16, color: .gray, region: Region(x: 0, y: 0, width: 32, height: 40))
            .preview(of: ImageDecoder().decode(fileAt: photo, color: .gray))
        XCTAssertEqual(seen.pixels, expected.pixels)
    }

    /// --model takes the model's size, colour, resize and region; a flag beside it overrides.
    func testPreviewTakesTheModelsSettings() throws {
        let folder = try temporaryFolder("auge-preview-model")
        defer { try? FileManager.default.removeItem(at: folder) }
        let photo = repositoryRoot.appendingPathComponent("SampleImages/ok/ok_0.jpg").path
        let model = repositoryRoot.appendingPathComponent("Models/default.onnx").path
        let out = folder.appendingPathComponent("seen.png").path
        let result = try AugeProcess.run(["preview", photo, "-o", out, "--model", model])
        XCTAssertEqual(result.status, 0, result.stderr)
        let settings = try InspectionModel.load(path: model).preprocessing
        let seen = try ImageDecoder().decode(fileAt: out, color: settings.color)
        XCTAssertEqual(seen.pixels, try settings.preview(of: ImageDecoder().decode(fileAt: photo, color: settings.color)).pixels)
        let gray = try AugeProcess.run(["preview", photo, "-o", out, "--model", model, "--color", "gray", "--size", "40x30"])
        XCTAssertEqual(gray.status, 0, gray.stderr)
        XCTAssertTrue(gray.stdout.contains("40x30 gray"), gray.stdout)
        let missing = try AugeProcess.run(["preview", photo, "-o", out, "--model", folder.appendingPathComponent("none.onnx").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("none.onnx"), missing.stderr)
    }

    func testBadInputGivesAClearErrorAndNonZeroStatus() throws {
        let bad = repositoryRoot.appendingPathComponent("Tests/AugeImageTests/Fixtures/bad/truncated.jpg").path
        let result = try AugeProcess.run(["preview", bad, "-o", "/tmp/never.png"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("truncated.jpg: corrupt image data"), result.stderr)
        let usage = try AugeProcess.run(["preview", bad, "-o", "/tmp/never.png", "--roi", "1,2"])
        XCTAssertEqual(usage.status, 64, usage.stderr)
        XCTAssertTrue(usage.stderr.contains("--roi"), usage.stderr)
    }
}
