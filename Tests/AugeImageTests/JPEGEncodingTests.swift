import AugeImage
import XCTest

final class JPEGEncodingTests: XCTestCase {
    /// Smooth gradients with a soft disc: the kind of content JPEG reproduces closely.
    func smoothImage(width: Int, height: Int, color: ColorMode) -> Image {
        var pixels: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width {
                let dx = Double(x - width / 2), dy = Double(y - height / 2)
                let disc = 80 / (1 + (dx * dx + dy * dy) / 200)
                let rgb = [40 + 150 * x / width + Int(disc), 60 + 120 * y / height, 200 - 100 * (x + y) / (width + height)]
                if color == .gray { pixels.append(UInt8(rgb[0])) } else { pixels += rgb.map { UInt8($0) } }
            }
        }
        return Image(width: width, height: height, color: color, pixels: pixels)
    }

    func assertRoundTrip(
        _ image: Image, quality: Int, maxError: Int, meanError: Double,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let bytes = try JPEGEncoder.encode(image, quality: quality)
        XCTAssertEqual(Array(bytes.prefix(2)), [0xFF, 0xD8], "JPEG start-of-image marker", file: file, line: line)
        XCTAssertEqual(Array(bytes.suffix(2)), [0xFF, 0xD9], "JPEG end-of-image marker", file: file, line: line)
        let decoded = try ImageDecoder().decode(bytes, name: "encoded.jpg", color: image.color)
        XCTAssertEqual(decoded.width, image.width, file: file, line: line)
        XCTAssertEqual(decoded.height, image.height, file: file, line: line)
        let errors = zip(decoded.pixels, image.pixels).map { abs(Int($0) - Int($1)) }
        XCTAssertLessThanOrEqual(errors.max()!, maxError, "largest pixel difference", file: file, line: line)
        XCTAssertLessThanOrEqual(
            Double(errors.reduce(0, +)) / Double(errors.count), meanError, "mean pixel difference",
            file: file, line: line)
    }

    func testRGBRoundTripsWithinJPEGTolerance() throws {
        // Odd sizes exercise partial 16x16 MCUs; 4:2:0 chroma costs a few levels at colour edges.
        try assertRoundTrip(smoothImage(width: 67, height: 45, color: .rgb), quality: 95, maxError: 12, meanError: 1.5)
    }

    func testGrayRoundTripsWithinJPEGTolerance() throws {
        try assertRoundTrip(smoothImage(width: 64, height: 48, color: .gray), quality: 95, maxError: 6, meanError: 1)
    }

    func testLowerQualityGivesSmallerFiles() throws {
        let image = smoothImage(width: 128, height: 96, color: .rgb)
        let small = try JPEGEncoder.encode(image, quality: 30).count
        let large = try JPEGEncoder.encode(image, quality: 98).count
        XCTAssertLessThan(small, large)
    }

    func testNoiseLargerThanTheFirstBufferStillEncodes() throws {
        // Incompressible noise at quality 100 outgrows the initial output buffer, so it must grow.
        var state: UInt32 = 12345
        let pixels = (0..<(300 * 200 * 3)).map { _ -> UInt8 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(state >> 24)
        }
        let image = Image(width: 300, height: 200, color: .rgb, pixels: pixels)
        let bytes = try JPEGEncoder.encode(image, quality: 100)
        XCTAssertGreaterThan(bytes.count, image.pixels.count / 4 + 4096)
        let decoded = try ImageDecoder().decode(bytes, name: "noise.jpg", color: .rgb)
        XCTAssertEqual(decoded.pixels.count, image.pixels.count)
    }

    func testLibjpegErrorsBecomeEncodingErrors() {
        // libjpeg refuses an image without pixels by longjmp; the C layer turns that into a message.
        let empty = Image(width: 0, height: 0, color: .gray, pixels: [])
        XCTAssertThrowsError(try JPEGEncoder.encode(empty, quality: 90)) { error in
            XCTAssertTrue("\(error)".contains("Empty JPEG image"), "\(error)")
        }
    }
}
