import AugeEngine
import Foundation
import XCTest

/// The fixtures written by scripts/make_onnx_fixtures.py, described by their manifest.json.
struct FixtureManifest: Decodable {
    struct Case: Decodable {
        let name: String
        let model: String
        let opset: Int
        let inputs: [String: String]
        let outputs: [String: String]
        /// A quantized output's step: another summation order may land a value on a rounding edge one step away.
        let step: Float?
        /// Requantizations in series before a quantized output (nil: one); each may move a value on an edge.
        let quantizedLayers: Int?
    }

    struct Malformed: Decodable {
        let file: String
        let expect: [String]
    }

    /// Largest absolute difference allowed between Auge and ONNX Runtime.
    let tolerance: Float
    let cases: [Case]
    let malformed: [Malformed]

    static let directory = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static func load() throws -> FixtureManifest {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(FixtureManifest.self, from: Data(contentsOf: directory.appendingPathComponent("manifest.json")))
    }

    static func url(_ file: String) -> URL { directory.appendingPathComponent(file) }

    /// The largest difference allowed for `fixture`: the manifest's, or one quantization step (plus it)
    /// for a quantized output.
    func tolerance(_ fixture: Case) -> Float { tolerance + (fixture.step ?? 0) }
}

/// The largest absolute element difference, or infinity when the shapes differ.
func maxAbsoluteDifference(_ a: Tensor, _ b: Tensor) -> Float {
    guard a.shape == b.shape else { return .infinity }
    return zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0
}

/// The project's root, found from this file's path (Tests/AugeONNXTests/...).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
