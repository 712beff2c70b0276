@testable import AugeTrain
import AugeImage
import Foundation
import XCTest

/// How `auge train` chooses its recipe from the photos, the class counts and the backbone.
final class RecipeTests: XCTestCase {
    let alike = PhotoSurvey(sampled: 16, grayContent: true, medianWidth: 300, medianHeight: 300, sizesVary: false)
    let varied = PhotoSurvey(sampled: 48, grayContent: true, medianWidth: 315, medianHeight: 318, sizesVary: true)

    func testBackboneRecipeFollowsThePhotos() {
        let uniform = Recipe.choose(survey: alike, trainCounts: [2300, 3000], validationCounts: [575, 751], backboneInput: 224)
        XCTAssertTrue(uniform.useBackbone)
        XCTAssertEqual(uniform.size, 224)
        XCTAssertEqual(uniform.fineTunedLayers, 3)
        XCTAssertEqual(uniform.variants, 2)  // more than 3000 photos
        XCTAssertEqual(uniform.selection, .balanced)

        let tiles = Recipe.choose(survey: varied, trainCounts: [60, 44, 30, 17, 488, 54], validationCounts: [14, 11, 7, 4, 122, 13], backboneInput: 224)
        XCTAssertEqual(tiles.size, 320)
        XCTAssertEqual(tiles.fineTunedLayers, 5)
        XCTAssertEqual(tiles.variants, 4)
        XCTAssertEqual(tiles.selection, .accuracy)  // 4 validation photos in the smallest class
        XCTAssertTrue(tiles.reasons.contains { $0.contains("smallest class has 4 validation photos") }, "\(tiles.reasons)")
        XCTAssertTrue(tiles.reasons.contains { $0.contains("vary in size") }, "\(tiles.reasons)")
        XCTAssertFalse(tiles.anomalyGate, "no OK labels given: no gate")
        // Too few validation defect photos to measure a 1 % miss rate: a gate beside the classifier.
        let gated = Recipe.choose(
            survey: varied, trainCounts: [60, 44, 30, 17, 488, 54], validationCounts: [14, 11, 7, 4, 122, 13], backboneInput: 224,
            validationDefects: 49, defectPhotosNeeded: 100)
        XCTAssertTrue(gated.anomalyGate)
        XCTAssertTrue(gated.reasons.last!.contains("with 49 validation defect photos"), "\(gated.reasons)")
        XCTAssertFalse(
            Recipe.choose(
                survey: alike, trainCounts: [2300, 3000], validationCounts: [575, 751], backboneInput: 224, validationDefects: 751,
                defectPhotosNeeded: 100
            ).anomalyGate)
        XCTAssertFalse(
            Recipe.choose(survey: alike, trainCounts: [50, 50], validationCounts: [12, 12], backboneInput: nil, validationDefects: 12).anomalyGate,
            "no backbone: no gate")
        // Features pooled two ways (average and maximum) are computed frozen only.
        let frozen = Recipe.choose(survey: alike, trainCounts: [24, 24], validationCounts: [6, 6], backboneInput: 224, fineTuning: false)
        XCTAssertEqual(frozen.fineTunedLayers, 0)
        XCTAssertTrue(frozen.reasons.contains { $0.contains("the backbone frozen") }, "\(frozen.reasons)")
    }

    func testWithoutABackboneANetworkFromScratchSeesGreyPhotosInGrey() {
        let scratch = Recipe.choose(survey: alike, trainCounts: [192, 192], validationCounts: [48, 48], backboneInput: nil)
        XCTAssertFalse(scratch.useBackbone)
        XCTAssertEqual(scratch.color, .gray)
        XCTAssertEqual(scratch.pooling, .max)
        XCTAssertEqual(scratch.size, 128)
        var colour = alike
        colour.grayContent = false
        XCTAssertEqual(Recipe.choose(survey: colour, trainCounts: [50, 50], validationCounts: [12, 12], backboneInput: nil).color, .rgb)
    }

    func testSurveyReadsSizesAndColour() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("auge-survey-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        func write(_ label: String, _ name: String, width: Int, height: Int, color: ColorMode) throws {
            let classFolder = folder.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: classFolder, withIntermediateDirectories: true)
            let pixels = (0..<(width * height * color.channels)).map { UInt8(truncatingIfNeeded: $0 * 7) }
            try Data(PNGEncoder.encode(Image(width: width, height: height, color: color, pixels: pixels)))
                .write(to: classFolder.appendingPathComponent(name))
        }
        for index in 0..<3 {
            try write("ok", "\(index).png", width: 40, height: 30, color: .gray)
            try write("bad", "\(index).png", width: 40, height: 30, color: .gray)
        }
        var survey = PhotoSurvey.survey(try ImageFolder.scan(folder.path))
        XCTAssertEqual(survey, PhotoSurvey(sampled: 6, grayContent: true, medianWidth: 40, medianHeight: 30, sizesVary: false))
        try write("bad", "3.png", width: 40, height: 60, color: .rgb)
        survey = PhotoSurvey.survey(try ImageFolder.scan(folder.path))
        XCTAssertTrue(survey.sizesVary)
        XCTAssertFalse(survey.grayContent)
    }
}
