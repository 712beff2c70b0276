import AugeImage
import Foundation
import XCTest

/// Every bad file gets an error that names the file and the cause; nothing crashes or hangs.
final class BadInputTests: XCTestCase {
    let decoder = ImageDecoder()

    func error(for path: String, using decoder: ImageDecoder? = nil) -> ImageError? {
        do {
            _ = try (decoder ?? self.decoder).decode(fileAt: path, color: .rgb)
            return nil
        } catch let error as ImageError {
            XCTAssertTrue(error.description.hasPrefix(path), "message names the file: \(error)")
            return error
        } catch {
            XCTFail("unexpected error type for \(path): \(error)")
            return nil
        }
    }

    func assertFails(
        _ name: String, with expected: (ImageError.Reason) -> Bool, mentioning words: [String] = [],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        guard let error = error(for: fixture("bad/" + name)) else {
            return XCTFail("\(name) decoded without error", file: file, line: line)
        }
        XCTAssertTrue(expected(error.reason), "\(name): \(error)", file: file, line: line)
        for word in words {
            XCTAssertTrue(
                error.description.localizedCaseInsensitiveContains(word), "\(name): '\(error)' lacks '\(word)'",
                file: file, line: line)
        }
    }

    func testCorpusOfBadFiles() {
        func corrupt(_ r: ImageError.Reason) -> Bool { if case .corrupt = r { return true } else { return false } }
        func unsupported(_ r: ImageError.Reason) -> Bool { if case .unsupportedFormat = r { return true } else { return false } }
        func tooLarge(_ r: ImageError.Reason) -> Bool { if case .tooManyPixels = r { return true } else { return false } }
        assertFails("empty.jpg", with: { $0 == .emptyFile }, mentioning: ["empty"])
        assertFails("random.jpg", with: unsupported, mentioning: ["unsupported image format"])
        assertFails("truncated.jpg", with: corrupt, mentioning: ["premature end"])
        assertFails("truncated.png", with: corrupt)
        assertFails("bad-crc.png", with: corrupt, mentioning: ["crc"])
        assertFails("bad-zlib.png", with: corrupt)
        assertFails("bomb.png", with: tooLarge, mentioning: ["100000x100000"])
        assertFails("bomb.jpg", with: tooLarge, mentioning: ["60000x60000"])
        assertFails("gif-named.jpg", with: unsupported, mentioning: ["GIF"])
        assertFails("webp.webp", with: unsupported, mentioning: ["WebP"])
        assertFails("bitmap.bmp", with: unsupported, mentioning: ["BMP"])
        assertFails("scan.tiff", with: unsupported, mentioning: ["TIFF"])
        assertFails("notes.png", with: unsupported, mentioning: ["text"])
    }

    /// A chunk whose declared length runs past the end of the file (a fuzzed eXIf of 2 GB) is refused
    /// before libpng allocates it.
    func testPNGChunkLongerThanTheFileIsRefused() throws {
        let png = try PNGEncoder.encode(Image(width: 3, height: 2, color: .gray, pixels: [0, 50, 100, 150, 200, 250]))
        let huge: [UInt8] = [0x7A, 0x00, 0x00, 0x1A] + Array("eXIf".utf8) + [0x4D, 0x4D, 0x00, 0x2A]
        let damaged = Array(png[0..<33]) + huge + Array(png[33...])  // after the signature and IHDR
        XCTAssertThrowsError(try decoder.decode(damaged, name: "damaged.png", color: .rgb)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix("damaged.png") && message.contains("chunk eXIf declares 2046820378 bytes"), message)
        }
        XCTAssertEqual(try decoder.decode(png, name: "intact.png", color: .gray).pixels, [0, 50, 100, 150, 200, 250])
    }

    func testContentDecidesNotTheExtension() throws {
        let image = try decoder.decode(fileAt: fixture("bad/png-named.jpg"), color: .rgb)
        XCTAssertEqual(image.width, 13)
    }

    func testTruncatedJPEGDecodesOnlyWhenStrictModeIsOff() throws {
        var lenient = decoder
        lenient.strict = false
        let image = try lenient.decode(fileAt: fixture("bad/truncated.jpg"), color: .rgb)
        XCTAssertEqual(image.width, 400)
    }

    func testFileSystemOddities() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("auge-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let directory = folder.appendingPathComponent("x.jpg").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        XCTAssertEqual(error(for: directory)?.reason, .notARegularFile)

        let broken = folder.appendingPathComponent("broken.jpg").path
        try FileManager.default.createSymbolicLink(atPath: broken, withDestinationPath: "/nonexistent/target.jpg")
        XCTAssertEqual(error(for: broken)?.reason, .unreadable("No such file or directory"))

        // A FIFO would block a naive reader forever.
        let fifo = folder.appendingPathComponent("pipe.jpg").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        XCTAssertEqual(error(for: fifo)?.reason, .notARegularFile)

        let locked = folder.appendingPathComponent("locked.jpg").path
        FileManager.default.createFile(atPath: locked, contents: try fixtureBytes("jpeg/baseline-420.jpg").withUnsafeBytes { Data($0) })
        chmod(locked, 0)
        if geteuid() == 0 {
            // root reads files regardless of their mode bits; the permission check cannot be observed here.
            XCTAssertNotNil(try? decoder.decode(fileAt: locked, color: .rgb))
        } else {
            XCTAssertEqual(error(for: locked)?.reason, .unreadable("Permission denied"))
        }
    }

    func testLimitsAreCheckedBeforeAllocating() {
        var small = decoder
        small.maxPixels = 100
        XCTAssertEqual(
            error(for: fixture("jpeg/baseline-420.jpg"), using: small).map(\.reason),
            .tooManyPixels(width: 61, height: 37, limit: 100))
        small.maxFileBytes = 10
        XCTAssertThrowsError(try small.decode(fileAt: fixture("jpeg/baseline-420.jpg"), color: .rgb)) { error in
            XCTAssertTrue("\(error)".contains("file too large"))
        }
    }
}
