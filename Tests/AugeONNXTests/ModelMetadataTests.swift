import Foundation
import XCTest
@testable import AugeONNX

final class ModelMetadataTests: XCTestCase {
    static let complete = ModelMetadata(
        labels: ["ok", "scratch", "dent"], okLabels: ["ok"], inputSize: .init(width: 224, height: 160), color: .rgb,
        resize: .fit, roi: .init(x: 10, y: 20, width: 300, height: 200), mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
        threshold: 0.5, reviewBand: .init(lower: 0.3, upper: 0.7),
        provenance: .init(
            tool: "auge 0.1", method: "fine-tuned head, 30 epochs", trainedAt: "2026-11-24T22:00:00Z",
            dataset: "parts/2026-11", samplesPerLabel: ["ok": 120, "scratch": 40, "dent": 35],
            validationMetrics: ["accuracy": 0.975, "recall_nok": 1.0]))

    func testPropertiesUseTheDocumentedKeysAndFormats() throws {
        let properties = Dictionary(uniqueKeysWithValues: try Self.complete.properties().map { ($0.key, $0.value) })
        XCTAssertEqual(properties["auge.format_version"], "1")
        XCTAssertEqual(properties["auge.labels"], #"["ok","scratch","dent"]"#)
        XCTAssertEqual(properties["auge.ok_labels"], #"["ok"]"#)
        XCTAssertEqual(properties["auge.input_size"], "224x160")
        XCTAssertEqual(properties["auge.color"], "rgb")
        XCTAssertEqual(properties["auge.resize"], "fit")
        XCTAssertEqual(properties["auge.roi"], "10,20,300,200")
        XCTAssertEqual(properties["auge.threshold"], "0.5")
        XCTAssertEqual(properties["auge.review_band"], "0.3,0.7")
        let provenance = try XCTUnwrap(properties["auge.provenance"])
        XCTAssertTrue(provenance.contains(#""trained_at":"2026-11-24T22:00:00Z""#), provenance)
        XCTAssertTrue(provenance.contains(#""validation_metrics":{"accuracy":0.975,"recall_nok":1}"#), provenance)
        // Every key but the anomaly and gated models' own.
        XCTAssertEqual(
            Set(properties.keys), Set(ModelMetadata.Key.allCases.map(\.rawValue)).subtracting(["auge.kind", "auge.map_range", "auge.anomaly_review_band"]))
    }

    /// An anomaly model's keys: version 2 (older Auge refuses the file by name), a threshold and band
    /// in anomaly-score units, the heatmap range.
    func testAnomalyModelKeys() throws {
        let anomaly = ModelMetadata(
            labels: ["good", "anomaly"], okLabels: ["good"], threshold: 1, reviewBand: .init(lower: 0.9, upper: 1.1),
            kind: .anomaly, mapRange: .init(lower: 0.4, upper: 1.5))
        let properties = Dictionary(uniqueKeysWithValues: try anomaly.properties().map { ($0.key, $0.value) })
        XCTAssertEqual(properties["auge.format_version"], "2")
        XCTAssertEqual(properties["auge.kind"], "anomaly")
        XCTAssertEqual(properties["auge.map_range"], "0.4,1.5")
        XCTAssertEqual(properties["auge.review_band"], "0.9,1.1")
        XCTAssertEqual(try ModelMetadata(properties: properties), anomaly)
        var high = properties
        high["auge.threshold"] = "2.5"
        high["auge.review_band"] = "2,3"
        XCTAssertEqual(try ModelMetadata(properties: high)?.threshold, 2.5, "an anomaly threshold may exceed 1")
        for (key, value, expected) in [
            ("auge.kind", "detector", "auge.kind"), ("auge.map_range", "1.5,0.4", "map range"),
            ("auge.threshold", "-1", "outside 0 or more"),
        ] {
            assertRefused(properties, key, value, saying: expected)
        }
        var classifier = ["auge.format_version": "1", "auge.labels": #"["a","b"]"#, "auge.ok_labels": #"["a"]"#]
        classifier["auge.map_range"] = "0,1"
        XCTAssertThrowsError(try ModelMetadata(properties: classifier)) { XCTAssertTrue("\($0)".contains("anomaly head"), "\($0)") }
    }

    /// A gated model's keys: version 3, the classifier's threshold and band as probabilities, the
    /// anomaly head's band around its threshold 1.0, the heatmap range.
    func testGatedModelKeys() throws {
        let gated = ModelMetadata(
            labels: ["good", "crack"], okLabels: ["good"], threshold: 0.4, reviewBand: .init(lower: 0.3, upper: 0.5),
            kind: .gated, mapRange: .init(lower: 0.6, upper: 1.5), anomalyReviewBand: .init(lower: 0.95, upper: 1.05))
        let properties = Dictionary(uniqueKeysWithValues: try gated.properties().map { ($0.key, $0.value) })
        XCTAssertEqual(properties["auge.format_version"], "3")
        XCTAssertEqual(properties["auge.kind"], "gated")
        XCTAssertEqual(properties["auge.anomaly_review_band"], "0.95,1.05")
        XCTAssertEqual(try ModelMetadata(properties: properties), gated)
        for (key, value, expected) in [
            ("auge.anomaly_review_band", "1.1,1.3", "must contain the anomaly threshold"), ("auge.threshold", "1.5", "outside 0...1"),
            ("auge.format_version", "4", "update Auge"),
        ] {
            assertRefused(properties, key, value, saying: expected)
        }
        var anomaly = properties
        (anomaly["auge.kind"], anomaly["auge.labels"], anomaly["auge.threshold"]) = ("anomaly", #"["good","anomaly"]"#, "1")
        anomaly["auge.review_band"] = nil
        XCTAssertThrowsError(try ModelMetadata(properties: anomaly)) { XCTAssertTrue("\($0)".contains("belongs to a gated model"), "\($0)") }
    }

    /// `properties` with `key` set to `value` is refused with a message containing `expected`.
    func assertRefused(_ properties: [String: String], _ key: String, _ value: String, saying expected: String, line: UInt = #line) {
        var broken = properties
        broken[key] = value
        XCTAssertThrowsError(try ModelMetadata(properties: broken), "\(key) = \(value)", line: line) { error in
            XCTAssertTrue("\(error)".contains(expected), "\(key) = \(value): \(error)", line: line)
        }
    }

    func testRoundTripThroughProperties() throws {
        let properties = Dictionary(uniqueKeysWithValues: try Self.complete.properties().map { ($0.key, $0.value) })
        XCTAssertEqual(try ModelMetadata(properties: properties), Self.complete)
        let minimal = ModelMetadata(labels: ["good", "bad"], okLabels: ["good"])
        let minimalProperties = Dictionary(uniqueKeysWithValues: try minimal.properties().map { ($0.key, $0.value) })
        XCTAssertEqual(minimalProperties.count, 3)
        XCTAssertEqual(try ModelMetadata(properties: minimalProperties), minimal)
    }

    func testPlainModelsHaveNoMetadata() throws {
        XCTAssertNil(try ModelMetadata(properties: [:]))
        XCTAssertNil(try ModelMetadata(properties: ["author": "someone"]))
    }

    func testUnreadableValuesNameTheirKey() {
        let base = ["auge.format_version": "1", "auge.labels": #"["a","b"]"#, "auge.ok_labels": #"["a"]"#]
        let broken: [(String, String, String)] = [
            ("auge.input_size", "224", "auge.input_size"),
            ("auge.color", "bgr", "gray, rgb"),
            ("auge.roi", "1,2,3", "auge.roi"),
            ("auge.mean", "[0.5, \"x\"]", "auge.mean"),
            ("auge.threshold", "high", "auge.threshold"),
            ("auge.threshold", "1.5", "outside 0...1"),
            ("auge.review_band", "0.8,0.2", "review band"),
            ("auge.ok_labels", #"["c"]"#, "not one of the labels"),
            ("auge.format_version", "4", "update Auge"),
            ("auge.std", "[0]", "positive"),
        ]
        for (key, value, expected) in broken {
            var properties = base
            properties[key] = value
            XCTAssertThrowsError(try ModelMetadata(properties: properties), "\(key) = \(value)") { error in
                XCTAssertTrue("\(error)".contains(expected), "\(key) = \(value): \(error)")
            }
        }
        var mismatched = base
        mismatched["auge.color"] = "gray"
        mismatched["auge.mean"] = "[0.1, 0.2, 0.3]"
        XCTAssertThrowsError(try ModelMetadata(properties: mismatched)) { error in
            XCTAssertTrue("\(error)".contains("1 channels"), "\(error)")
        }
    }
}
