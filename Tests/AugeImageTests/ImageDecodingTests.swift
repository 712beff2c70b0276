import AugeImage
import Foundation
import XCTest

/// Fixtures are written by scripts/make_image_fixtures.py; the PNG patterns below mirror its formulas.
func fixture(_ path: String) -> String {
    Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(path).path
}

func fixtureBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture(path))))
}

private let width = 13, height = 7

private func pattern(_ x: Int, _ y: Int, _ levels: Int) -> Int { (x * 7 + y * 3) % levels }
private func alpha(_ x: Int, _ y: Int) -> Int { (x * 20 + y * 35) % 256 }

/// Straight alpha over the white background, in 8-bit sRGB values, rounded.
private func overWhite(_ value: Int, _ alpha: Int) -> Int {
    Int((Double(value * alpha + 255 * (255 - alpha)) / 255).rounded())
}

final class PNGDecodingTests: XCTestCase {
    let decoder = ImageDecoder()

    func decode(_ name: String, _ color: ColorMode = .rgb) throws -> Image {
        try decoder.decode(fileAt: fixture("png/" + name), color: color)
    }

    func assertPixels(
        _ image: Image, file: StaticString = #filePath, line: UInt = #line,
        tolerance: Int = 0, _ expected: (Int, Int) -> [Int]
    ) {
        XCTAssertEqual(image.width, width, file: file, line: line)
        XCTAssertEqual(image.height, height, file: file, line: line)
        var worst = 0
        for y in 0..<height {
            for x in 0..<width {
                let want = expected(x, y)
                for c in 0..<image.channels { worst = max(worst, abs(Int(image[x, y, c]) - want[c])) }
            }
        }
        XCTAssertLessThanOrEqual(worst, tolerance, "largest pixel difference", file: file, line: line)
    }

    func testGrayBitDepthsScaleToEightBits() throws {
        for depth in [1, 2, 4, 8] {
            let levels = 1 << depth
            let image = try decode("gray\(depth).png", .gray)
            assertPixels(image) { x, y in [pattern(x, y, levels) * 255 / (levels - 1)] }
        }
    }

    func testSixteenBitSamplesRoundToEightBits() throws {
        // 16 -> 8 bits: v8 = round(v16 / 257)
        assertPixels(try decode("gray16.png", .gray), tolerance: 1) { x, y in
            [Int((Double(pattern(x, y, 65536)) / 257).rounded())]
        }
        assertPixels(try decode("rgb16.png"), tolerance: 1) { x, y in
            [pattern(x, y, 65536), pattern(y, x, 65536), (x * y * 257) % 65536].map { Int((Double($0) / 257).rounded()) }
        }
    }

    func testRGBAndInterlacedDecodeIdentically() throws {
        let expected: (Int, Int) -> [Int] = { x, y in [pattern(x, y, 256), pattern(y, x, 256), (x * y) % 256] }
        assertPixels(try decode("rgb8.png"), expected)
        assertPixels(try decode("rgb8-adam7.png"), expected)
        assertPixels(try decode("gray8-adam7.png", .gray)) { x, y in [pattern(x, y, 256)] }
    }

    func testAlphaIsCompositedOntoWhite() throws {
        assertPixels(try decode("gray-alpha8.png", .gray), tolerance: 1) { x, y in [overWhite(pattern(x, y, 256), alpha(x, y))] }
        assertPixels(try decode("rgba8.png"), tolerance: 1) { x, y in
            [pattern(x, y, 256), pattern(y, x, 256), (x * y) % 256].map { overWhite($0, alpha(x, y)) }
        }
    }

    func testPaletteWithAndWithoutTransparency() throws {
        let palette = (0..<16).map { i in [(i * 50) % 256, (i * 90) % 256, (i * 130) % 256] }
        let transparency = [0, 64, 128, 192]
        assertPixels(try decode("palette4.png")) { x, y in palette[pattern(x, y, 16)] }
        assertPixels(try decode("palette8-trns.png"), tolerance: 1) { x, y in
            let index = pattern(x, y, 16)
            let a = index < transparency.count ? transparency[index] : 255
            return palette[index].map { overWhite($0, a) }
        }
    }

    func testGrayConversionUsesBT601Luma() throws {
        let gray = try decode("rgb8.png", .gray)
        assertPixels(gray) { x, y in
            let (r, g, b) = (pattern(x, y, 256), pattern(y, x, 256), (x * y) % 256)
            return [(299 * r + 587 * g + 114 * b + 500) / 1000]
        }
    }

    func testEncoderRoundTrip() throws {
        for color in ColorMode.allCases {
            let pixels = (0..<(width * height * color.channels)).map { UInt8(($0 * 37) % 256) }
            let image = Image(width: width, height: height, color: color, pixels: pixels)
            let decoded = try decoder.decode(PNGEncoder.encode(image), name: "memory", color: color)
            XCTAssertEqual(decoded, image)
        }
    }
}

final class JPEGDecodingTests: XCTestCase {
    let decoder = ImageDecoder()

    /// Compares with Pillow's decode of the same file (libjpeg-turbo both, ISLOW IDCT, same upsampling).
    func assertMatchesPillow(
        _ name: String, color: ColorMode, expected: String? = nil, tolerance: Int = 1,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let image = try decoder.decode(fileAt: fixture("jpeg/" + name), color: color)
        let want = try fixtureBytes("jpeg/" + (expected ?? name + ".expected"))
        XCTAssertEqual(image.pixels.count, want.count, "\(name): size \(image.width)x\(image.height)", file: file, line: line)
        let worst = zip(image.pixels, want).map { abs(Int($0) - Int($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tolerance, "\(name): largest pixel difference", file: file, line: line)
    }

    func testBaselineSubsamplingsProgressiveRestartAndGray() throws {
        for name in ["baseline-420.jpg", "baseline-422.jpg", "baseline-444.jpg", "progressive.jpg", "restart-markers.jpg"] {
            try assertMatchesPillow(name, color: .rgb)
        }
        try assertMatchesPillow("grayscale.jpg", color: .gray, tolerance: 0)
    }

    func testCMYKIsConvertedToRGB() throws {
        let image = try decoder.decode(fileAt: fixture("jpeg/cmyk.jpg"), color: .rgb)
        XCTAssertEqual(image.width, 16)
        // left half: C=0 M=255 Y=255 K=0 (red); right half: K=128 (grey 127)
        for (x, expected) in [(2, [255, 0, 0]), (12, [127, 127, 127])] {
            for c in 0..<3 { XCTAssertEqual(Double(image[x, 4, c]), Double(expected[c]), accuracy: 3, "x=\(x) c=\(c)") }
        }
    }

    func testOrientationsTwoToEightAreAppliedLikePillowExifTranspose() throws {
        for orientation in 1...8 {
            let image = try decoder.decode(fileAt: fixture("jpeg/orientation-\(orientation).jpg"), color: .rgb)
            let swaps = orientation >= 5
            XCTAssertEqual(image.width, swaps ? 32 : 48, "orientation \(orientation)")
            try assertMatchesPillow("orientation-\(orientation).jpg", color: .rgb)
        }
        // PNG carries EXIF in an eXIf chunk.
        let png = try decoder.decode(fileAt: fixture("png/orientation-6.png"), color: .rgb)
        let jpeg = try decoder.decode(fileAt: fixture("jpeg/orientation-6.jpg"), color: .rgb)
        XCTAssertEqual(png.width, 32)
        XCTAssertEqual(png.height, 48)
        // the red block (top left before rotation) is now top right
        XCTAssertGreaterThan(Int(png[20, 12, 0]), 200)
        XCTAssertLessThan(Int(png[20, 12, 1]), 80)
        XCTAssertEqual(Int(jpeg[20, 12, 0]), Int(png[20, 12, 0]), accuracy: 12)
    }

    func testDCTDomainScalingMatchesPillowDraftMode() throws {
        for denominator in [2, 4, 8] {
            let target = Preprocessing(width: 400 / denominator, height: 240 / denominator, color: .rgb)
            let image = try decoder.decode(fileAt: fixture("jpeg/large-420.jpg"), for: target)
            XCTAssertEqual(image.width, 400 / denominator)
            XCTAssertEqual(image.originalWidth, 400)
            let want = try fixtureBytes("jpeg/large-420.jpg.scale\(denominator).expected")
            let worst = zip(image.pixels, want).map { abs(Int($0) - Int($1)) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1, "scale 1/\(denominator)")
        }
        // A target that needs more than 1/8 of the pixels gets a finer scale.
        let image = try decoder.decode(fileAt: fixture("jpeg/large-420.jpg"), for: Preprocessing(width: 101, height: 40, color: .rgb))
        XCTAssertEqual(image.width, 200)
    }
}
