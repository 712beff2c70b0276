import AugeImage
import Foundation
import XCTest

/// Resize and normalisation against Pillow's float ("F" mode) BILINEAR resize of the same source
/// (scripts/make_image_fixtures.py). Tolerance: 2e-3 in 0...255 units (float rounding only).
final class PreprocessingTests: XCTestCase {
    struct Case: Decodable {
        let name: String
        let width: Int
        let height: Int
        let box: [Double]
    }

    let tolerance: Float = 2e-3

    func source() throws -> Image {
        try ImageDecoder().decode(fileAt: fixture("resize/source.png"), color: .rgb)
    }

    func reference(_ name: String) throws -> [Float] {
        let bytes = try fixtureBytes("resize/\(name).f32")
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func cases() throws -> [String: Case] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture("resize/cases.json")))
        return Dictionary(uniqueKeysWithValues: try JSONDecoder().decode([Case].self, from: data).map { ($0.name, $0) })
    }

    /// Unnormalised tensor (mean 0, std 1/255 gives values in 0...255).
    func resampled(_ preprocessing: Preprocessing, _ image: Image) throws -> [Float] {
        var p = preprocessing
        p.mean = [0]
        p.std = [1 / 255]
        return try p.tensor(from: image)
    }

    func assertClose(_ got: [Float], _ want: [Float], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, label, file: file, line: line)
        let worst = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, tolerance, "\(label): largest difference", file: file, line: line)
    }

    func testStretchDownUpAndStrongDownscaleMatchPillow() throws {
        let image = try source()
        let all = try cases()
        for name in ["down", "strong-down", "up"] {
            let c = all[name]!
            let got = try resampled(Preprocessing(width: c.width, height: c.height, color: .rgb), image)
            assertClose(got, try reference(name), name)
        }
    }

    func testRegionOfInterestMatchesPillowBox() throws {
        let c = try cases()["roi"]!
        let region = Region(x: Int(c.box[0]), y: Int(c.box[1]), width: Int(c.box[2] - c.box[0]), height: Int(c.box[3] - c.box[1]))
        let got = try resampled(Preprocessing(width: c.width, height: c.height, color: .rgb, region: region), try source())
        assertClose(got, try reference("roi"), "roi")
    }

    func testCentreCropKeepsAspect() throws {
        let c = try cases()["crop-centre"]!
        let got = try resampled(Preprocessing(width: c.width, height: c.height, color: .rgb, resize: .crop), try source())
        assertClose(got, try reference("crop-centre"), "crop-centre")
    }

    func testFitLetterboxesWithBlackMargins() throws {
        // 97x61 into 40x40: scale 40/97, content 40x25 (rounded), centred at y = 7.
        let image = try source()
        let fit = try resampled(Preprocessing(width: 40, height: 40, color: .rgb, resize: .fit), image)
        let plane = 40 * 40
        for c in 0..<3 {
            XCTAssertEqual(fit[c * plane + 0], 0)  // top margin
            XCTAssertEqual(fit[c * plane + 6 * 40 + 20], 0)
            XCTAssertEqual(fit[c * plane + 32 * 40 + 20], 0)  // bottom margin
        }
        // the content equals a stretch of the whole image to 40x25
        let content = try resampled(Preprocessing(width: 40, height: 25, color: .rgb), image)
        for c in 0..<3 {
            for y in 0..<25 {
                for x in 0..<40 {
                    XCTAssertEqual(fit[c * plane + (y + 7) * 40 + x], content[c * 1000 + y * 40 + x], accuracy: 1e-4)
                }
            }
        }
    }

    func testNormalisationFormula() throws {
        let image = try source()
        let raw = try resampled(Preprocessing(width: 32, height: 20, color: .rgb), image)
        let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
        let normalised = try Preprocessing(width: 32, height: 20, color: .rgb, mean: mean, std: std).tensor(from: image)
        for i in 0..<normalised.count {
            let c = i / 640
            XCTAssertEqual(normalised[i], (raw[i] / 255 - mean[c]) / std[c], accuracy: 1e-5)
        }
    }

    func testGrayModelFromRGBPhotoAndPreviewRoundsTheResample() throws {
        let image = try source()
        let gray = Preprocessing(width: 32, height: 20, color: .gray)
        let preview = try gray.preview(of: image)
        XCTAssertEqual(preview.color, .gray)
        let raw = try resampled(gray, image.converted(to: .gray))
        for i in 0..<raw.count { XCTAssertEqual(Float(preview.pixels[i]), raw[i].rounded(), accuracy: 0) }
    }

    func testRegionScalesWithDCTDownscaledJPEG() throws {
        // The same region, decoded at full size and at 1/2 scale, gives nearly the same tensor.
        let region = Region(x: 100, y: 40, width: 200, height: 160)
        let p = Preprocessing(width: 50, height: 40, color: .rgb, region: region)
        let decoder = ImageDecoder()
        let scaled = try decoder.decode(fileAt: fixture("jpeg/large-420.jpg"), for: p)
        XCTAssertLessThan(scaled.width, 400, "expected a DCT-domain downscale")
        let full = try decoder.decode(fileAt: fixture("jpeg/large-420.jpg"), color: .rgb)
        let a = try resampled(p, scaled), b = try resampled(p, full)
        let meanDifference = zip(a, b).map { abs($0 - $1) }.reduce(0, +) / Float(a.count)
        XCTAssertLessThan(meanDifference, 3, "mean difference in 0...255 units")
    }

    func testRegionOutsideTheImageIsAnError() throws {
        let p = Preprocessing(width: 10, height: 10, color: .rgb, region: Region(x: 90, y: 0, width: 20, height: 10))
        XCTAssertThrowsError(try p.tensor(from: try source())) { error in
            XCTAssertTrue("\(error)".contains("outside the 97x61 image"), "\(error)")
        }
        XCTAssertNil(Region("1,2,3"))
        XCTAssertEqual(Region("1, 2, 3, 4"), Region(x: 1, y: 2, width: 3, height: 4))
    }
}
