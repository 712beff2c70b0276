import AugeEngine
import Foundation
import XCTest
@testable import AugeONNX

/// Broken and unsupported files get one clear error naming the file (and node), never a crash.
final class MalformedModelTests: XCTestCase {
    func testEveryMalformedFixtureIsRefusedWithItsReason() throws {
        let manifest = try FixtureManifest.load()
        XCTAssertGreaterThanOrEqual(manifest.malformed.count, 20)
        for entry in manifest.malformed {
            do {
                _ = try ONNXModel.load(contentsOf: FixtureManifest.url("malformed/" + entry.file))
                XCTFail("\(entry.file) loaded")
            } catch {
                XCTAssertEqual(error.file, entry.file)
                let message = error.description.lowercased()
                for word in entry.expect {
                    XCTAssertTrue(message.contains(word.lowercased()), "\(entry.file): \"\(error.description)\" lacks \"\(word)\"")
                }
            }
        }
    }

    private func error(loading file: String) -> ONNXError? {
        do {
            _ = try ONNXModel.load(contentsOf: FixtureManifest.url("malformed/" + file))
            return nil
        } catch {
            return error
        }
    }

    func testErrorKindsAndNodes() {
        let expected: [(String, ONNXError.Kind, String?)] = [
            ("truncated.onnx", .unreadable, nil),
            ("unsupported_ops.onnx", .unsupportedOperator, nil),
            ("external_data.onnx", .externalData, nil),
            ("weight_size_mismatch.onnx", .invalidTensor, nil),
            ("conv_channel_mismatch.onnx", .invalidShape, "'bad_conv' (Conv)"),
            ("dangling_input.onnx", .invalidGraph, "'adder' (Add)"),
            ("cycle.onnx", .invalidGraph, nil),
            ("impossible_broadcast.onnx", .invalidShape, "'broadcast_add' (Add)"),
            ("impossible_reshape.onnx", .invalidShape, "'reshaper' (Reshape)"),
            ("pool_larger_than_input.onnx", .invalidShape, "'huge_pool' (MaxPool)"),
            ("absurd_input_dims.onnx", .limitExceeded, nil),
            ("absurd_initializer_dims.onnx", .limitExceeded, nil),
            ("opset_too_old.onnx", .unsupportedOpset, nil),
            ("opset_too_new.onnx", .unsupportedOpset, nil),
            ("value_defined_twice.onnx", .invalidGraph, "'two' (Sigmoid)"),
            ("pad_reflect.onnx", .unsupportedOperator, "'mirror' (Pad)"),
        ]
        for (file, kind, node) in expected {
            guard let error = error(loading: file) else { XCTFail("\(file) loaded"); continue }
            XCTAssertEqual(error.kind, kind, "\(file): \(error)")
            XCTAssertEqual(error.node, node, "\(file): \(error)")
        }
    }

    func testUnsupportedOperatorsAreListedTogether() throws {
        let error = try XCTUnwrap(error(loading: "unsupported_ops.onnx"))
        XCTAssertTrue(error.message.contains("opset 13: 'swap_axes' (Transpose), 'local_norm' (LRN), 'plugin' (com.example.CustomThing)."), error.message)
    }

    /// Every prefix and many corrupted copies of a real model either load or throw ONNXError.
    func testCorruptedBytesNeverCrash() throws {
        let original = try Data(contentsOf: FixtureManifest.url("resnet18_small.onnx"))
        var generator = SeededGenerator(seed: 2026)
        var outcomes = (loaded: 0, refused: 0)
        func attempt(_ data: Data) {
            do {
                _ = try ONNXModel.load(data: data, name: "corrupt.onnx")
                outcomes.loaded += 1
            } catch {
                XCTAssertEqual(error.file, "corrupt.onnx")
                outcomes.refused += 1
            }
        }
        for length in stride(from: 0, to: original.count, by: max(1, original.count / 300)) {
            attempt(original.prefix(length))
        }
        for _ in 0..<300 {
            var copy = original
            for _ in 0..<4 {
                copy[Int.random(in: 0..<copy.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            attempt(copy)
        }
        XCTAssertGreaterThan(outcomes.refused, 250)
    }

    func testMissingFileIsUnreadable() {
        XCTAssertThrowsError(try ONNXModel.load(contentsOf: URL(fileURLWithPath: "/nonexistent/model.onnx"))) { error in
            XCTAssertEqual((error as? ONNXError)?.kind, .unreadable)
            XCTAssertTrue("\(error)".contains("model.onnx"))
        }
    }
}
