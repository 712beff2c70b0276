import AugeEngine
import AugeImage
import AugeInspect
import AugeONNX
import Foundation
import XCTest

/// Every input that once crashed, hung or over-allocated in a fuzz target (Fuzz/Regressions/TARGET,
/// scripts/fuzz.sh) now gets an error or an answer, through the same calls as the target.
final class FuzzRegressionTests: XCTestCase {
    private static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/Regressions")

    private static func inputs(_ target: String) throws -> [URL] {
        let folder = regressions.appendingPathComponent(target)
        guard FileManager.default.fileExists(atPath: folder.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil).sorted { $0.path < $1.path }
    }

    func testModelFiles() throws {
        let inputs = try Self.inputs("onnx")
        XCTAssertGreaterThanOrEqual(inputs.count, 2)
        for input in inputs {
            let model: ONNXModel
            do {
                model = try ONNXModel.load(data: Data(contentsOf: input), name: input.lastPathComponent)
            } catch {
                XCTAssertTrue("\(error)".contains(input.lastPathComponent), "the error names the file: \(error)")
                continue
            }
            XCTAssertThrowsError(try InspectionModel(path: input.lastPathComponent, onnx: model, overrides: ModelSettingOverrides()))
            _ = try? Engine(graph: model.graph, batchSize: 1, threads: 1)
        }
    }

    func testPhotos() throws {
        let inputs = try Self.inputs("images")
        XCTAssertGreaterThanOrEqual(inputs.count, 1)
        for input in inputs {
            XCTAssertThrowsError(try ImageDecoder().decode(Array(Data(contentsOf: input)), name: input.lastPathComponent, color: .rgb)) {
                XCTAssertTrue("\($0)".hasPrefix(input.lastPathComponent), "the error names the file: \($0)")
            }
        }
    }
}
