import AugeImage
import AugeInspect
import Foundation
import XCTest

/// Several lanes finish photos out of order; the pipeline must still hand out one record per photo,
/// in file order, with unreadable photos as error records among the others.
final class InspectionPipelineTests: XCTestCase {
    /// Mean brightness above one half is "ok", below is "defect".
    func brightnessClassifier() throws -> Classifier {
        try Classifier(
            graph: ClassifyCommandTests.brightnessGraph(size: 16), preprocessing: Preprocessing(width: 16, height: 16, color: .gray),
            policy: DecisionPolicy(labels: ["ok", "defect"], okLabels: ["ok"]), threads: 1)
    }

    func testLanesHandOutRecordsInFileOrderWithErrorsInPlace() throws {
        let folder = try temporaryFolder("auge-pipeline")
        defer { try? FileManager.default.removeItem(at: folder) }
        var files: [String] = [], expected: [Decision] = []
        for index in 0..<41 {
            let path = folder.appendingPathComponent("photo\(index).png").path
            switch index % 7 {
            case 3:  // unreadable: corrupt bytes
                try Data([0x89, 0x50, 0x4E, 0x47, 1, 2, 3]).write(to: URL(fileURLWithPath: path))
                expected.append(.error)
            case 5:  // gone before it was read
                expected.append(.error)
            default:
                // Sizes vary so that photos take different times and lanes overtake one another.
                let side = 16 + (index * 37) % 300, bright = index % 2 == 0
                let image = Image(
                    width: side, height: side, color: .gray,
                    pixels: [UInt8](repeating: bright ? 220 : 30, count: side * side))
                try Data(PNGEncoder.encode(image)).write(to: URL(fileURLWithPath: path))
                expected.append(bright ? .ok : .defect)
            }
            files.append(path)
        }
        let pipeline = InspectionPipeline(lanes: try (0..<3).map { _ in try brightnessClassifier() }, queueDepth: 3)
        var records: [InspectionRecord] = []
        pipeline.run(files) { records.append($0) }
        XCTAssertEqual(records.map(\.path), files)
        XCTAssertEqual(records.map(\.decision), expected)
        for record in records where record.decision == .error {
            XCTAssertNotNil(record.error, "\(record.path) says why it failed")
        }
    }
}
