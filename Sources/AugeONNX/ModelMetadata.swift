import AugeImage
import Foundation

/// Everything inference needs besides the graph, stored in the ONNX file's `metadata_props` under
/// `auge.*` keys, so one file carries the labels, the preprocessing, the decision policy and where
/// the model came from. The key table is in docs/model-metadata.md.
public struct ModelMetadata: Codable, Sendable, Equatable {
    /// The newest version of the key set this type reads; files with a higher one are refused.
    /// Version 2 added `auge.kind` and `auge.map_range` (anomaly models), version 3 the kind `gated` and
    /// `auge.anomaly_review_band`; each file is written with the lowest version that holds it, so that
    /// older Auge versions keep reading what they can run.
    public static let currentFormatVersion = 3

    /// What the graph computes, and so how its outputs become a decision.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// One output: a score per label (probabilities or logits).
        case classifier
        /// Two outputs trained on good parts only: `anomaly_score` [N, 1], the largest value of
        /// `anomaly_map` [N, 1, h, w]; both normalised so that the threshold reads 1.0 for any model.
        case anomaly
        /// A classifier and an anomaly head on one backbone pass, three outputs: the classifier's scores,
        /// `anomaly_score` and `anomaly_map`. A part is a defect when either head says so; one that only
        /// the anomaly head rejects is a defect of an unknown kind.
        case gated

        /// Whether the graph computes an anomaly score and map.
        public var hasAnomalyHead: Bool { self != .classifier }

        /// The graph's outputs: the classifier's scores, then the anomaly score and map.
        public var outputCount: Int {
            switch self {
            case .classifier: 1
            case .anomaly: 2
            case .gated: 3
            }
        }

        /// What the graph's inputs and outputs must be, for an error message.
        public var outputDescription: String {
            switch self {
            case .classifier: "an inspection model has one input and one output"
            case .anomaly: "an anomaly model has one input and two outputs (score, map)"
            case .gated: "a gated model has one input and three outputs (class scores, anomaly score, map)"
            }
        }

        /// The lowest format version that can describe a model of this kind.
        var formatVersion: Int {
            switch self {
            case .classifier: 1
            case .anomaly: 2
            case .gated: 3
            }
        }
    }

    public struct InputSize: Codable, Sendable, Equatable {
        public var width: Int
        public var height: Int
        public init(width: Int, height: Int) {
            self.width = width
            self.height = height
        }
    }

    /// Scores in `lower...upper` go to a person for review instead of being decided automatically.
    public struct ReviewBand: Codable, Sendable, Equatable {
        public var lower: Float
        public var upper: Float
        public init(lower: Float, upper: Float) {
            self.lower = lower
            self.upper = upper
        }
    }

    /// How, when and on what the model was trained, with its validation metrics.
    public struct Provenance: Codable, Sendable, Equatable {
        /// The tool and version that wrote the model, e.g. "auge 0.1".
        public var tool: String?
        /// How it was made, e.g. "fine-tuned MobileNetV2 head, 30 epochs, SGD lr 0.01".
        public var method: String?
        /// ISO 8601 UTC time training ended.
        public var trainedAt: String?
        /// What it was trained on, e.g. a dataset folder or description.
        public var dataset: String?
        public var samplesPerLabel: [String: Int]?
        /// Metrics on the validation set, e.g. "accuracy", "recall_nok".
        public var validationMetrics: [String: Double]?
        /// How the model was quantized, when it was (the tool, the scheme and its calibration).
        public var quantization: String?

        public init(
            tool: String? = nil, method: String? = nil, trainedAt: String? = nil, dataset: String? = nil,
            samplesPerLabel: [String: Int]? = nil, validationMetrics: [String: Double]? = nil
        ) {
            self.tool = tool
            self.method = method
            self.trainedAt = trainedAt
            self.dataset = dataset
            self.samplesPerLabel = samplesPerLabel
            self.validationMetrics = validationMetrics
        }

        enum CodingKeys: String, CodingKey {
            case tool, method, dataset, quantization
            case trainedAt = "trained_at"
            case samplesPerLabel = "samples_per_label"
            case validationMetrics = "validation_metrics"
        }
    }

    public var formatVersion: Int
    /// Class names in the order of the model's output scores.
    public var labels: [String]
    /// The labels that count as a good part; every other label is a defect.
    public var okLabels: [String]
    public var inputSize: InputSize?
    public var color: ColorMode?
    public var resize: ResizePolicy?
    public var roi: Region?
    /// Per-channel mean and standard deviation, on pixel values scaled to 0...1.
    public var mean: [Float]?
    public var std: [Float]?
    /// A part is a defect when its defect score (1 minus the summed probability of the OK labels) reaches this.
    public var threshold: Float?
    public var reviewBand: ReviewBand?
    public var provenance: Provenance?
    /// Absent: a classifier.
    public var kind: Kind?
    /// Anomaly and gated models: the map values drawn from cold (lower) to hot (upper) in every heatmap of
    /// the model, so that good parts stay cold whatever the photo.
    public var mapRange: ReviewBand?
    /// Gated models: the anomaly scores (threshold 1.0) that send a part to review.
    public var anomalyReviewBand: ReviewBand?

    public var resolvedKind: Kind { kind ?? .classifier }

    /// A class named ok, good or pass, or starting so (case-insensitive): an OK label unless told otherwise.
    public static func isConventionalOKLabel(_ name: String) -> Bool {
        ["ok", "good", "pass"].contains { name.lowercased().hasPrefix($0) }
    }

    public init(
        labels: [String], okLabels: [String], inputSize: InputSize? = nil, color: ColorMode? = nil,
        resize: ResizePolicy? = nil, roi: Region? = nil, mean: [Float]? = nil, std: [Float]? = nil,
        threshold: Float? = nil, reviewBand: ReviewBand? = nil, provenance: Provenance? = nil,
        kind: Kind? = nil, mapRange: ReviewBand? = nil, anomalyReviewBand: ReviewBand? = nil
    ) {
        self.formatVersion = (kind ?? .classifier).formatVersion
        self.kind = kind
        self.mapRange = mapRange
        self.anomalyReviewBand = anomalyReviewBand
        self.labels = labels
        self.okLabels = okLabels
        self.inputSize = inputSize
        self.color = color
        self.resize = resize
        self.roi = roi
        self.mean = mean
        self.std = std
        self.threshold = threshold
        self.reviewBand = reviewBand
        self.provenance = provenance
    }

    /// The metadata_props keys, all prefixed `auge.`.
    public enum Key: String, CaseIterable, Sendable {
        case formatVersion = "auge.format_version"
        case labels = "auge.labels"
        case okLabels = "auge.ok_labels"
        case inputSize = "auge.input_size"
        case color = "auge.color"
        case resize = "auge.resize"
        case roi = "auge.roi"
        case mean = "auge.mean"
        case std = "auge.std"
        case threshold = "auge.threshold"
        case reviewBand = "auge.review_band"
        case provenance = "auge.provenance"
        case kind = "auge.kind"
        case mapRange = "auge.map_range"
        case anomalyReviewBand = "auge.anomaly_review_band"
    }

    /// Reads the `auge.*` entries of metadata_props; nil when the file has none (a plain ONNX model).
    /// Other keys are ignored. Throws a message naming the key when a value cannot be read.
    public init?(properties: [String: String]) throws(MetadataError) {
        guard properties.keys.contains(where: { $0.hasPrefix("auge.") }) else { return nil }
        func value(_ key: Key) -> String? { properties[key.rawValue] }
        func parse<T>(_ key: Key, _ expected: String, _ read: (String) -> T?) throws(MetadataError) -> T? {
            guard let text = value(key) else { return nil }
            guard let parsed = read(text) else { throw MetadataError("\(key.rawValue) = \(text.debugDescription) is not \(expected)") }
            return parsed
        }

        guard let version = try parse(.formatVersion, "an integer", { Int($0) }) else {
            throw MetadataError("auge.* keys present but \(Key.formatVersion.rawValue) is missing")
        }
        guard (1...Self.currentFormatVersion).contains(version) else {
            throw MetadataError("\(Key.formatVersion.rawValue) is \(version); this Auge reads versions 1...\(Self.currentFormatVersion), update Auge")
        }
        formatVersion = version
        labels = try parse(.labels, "a JSON array of strings", { Self.decodeJSON([String].self, $0) }) ?? []
        okLabels = try parse(.okLabels, "a JSON array of strings", { Self.decodeJSON([String].self, $0) }) ?? []
        inputSize = try parse(.inputSize, "\"WxH\" with positive integers", Self.parseInputSize)
        color = try parse(.color, "one of " + ColorMode.allCases.map(\.rawValue).joined(separator: ", "), ColorMode.init(rawValue:))
        resize = try parse(.resize, "one of " + ResizePolicy.allCases.map(\.rawValue).joined(separator: ", "), ResizePolicy.init(rawValue:))
        roi = try parse(.roi, "\"x,y,w,h\" with integers", Self.parseROI)
        mean = try parse(.mean, "a JSON array of numbers", { Self.decodeJSON([Float].self, $0) })
        std = try parse(.std, "a JSON array of numbers", { Self.decodeJSON([Float].self, $0) })
        threshold = try parse(.threshold, "a number", { Float($0) })
        reviewBand = try parse(.reviewBand, "\"lower,upper\" with numbers", Self.parseReviewBand)
        provenance = try parse(.provenance, "a JSON object", { Self.decodeJSON(Provenance.self, $0) })
        kind = try parse(.kind, "one of " + Kind.allCases.map(\.rawValue).joined(separator: ", "), Kind.init(rawValue:))
        mapRange = try parse(.mapRange, "\"lower,upper\" with numbers", Self.parseReviewBand)
        anomalyReviewBand = try parse(.anomalyReviewBand, "\"lower,upper\" with numbers", Self.parseReviewBand)
        try validate()
    }

    /// The metadata_props entries, in `Key` order; absent optional fields are left out.
    public func properties() throws(MetadataError) -> [(key: String, value: String)] {
        try validate()
        let entries: [(Key, String?)] = [
            (.formatVersion, String(max(resolvedKind.formatVersion, formatVersion))),
            (.labels, Self.encodeJSON(labels)),
            (.okLabels, Self.encodeJSON(okLabels)),
            (.inputSize, inputSize.map { "\($0.width)x\($0.height)" }),
            (.color, color?.rawValue),
            (.resize, resize?.rawValue),
            (.roi, roi.map { "\($0.x),\($0.y),\($0.width),\($0.height)" }),
            (.mean, mean.map(Self.encodeJSON)),
            (.std, std.map(Self.encodeJSON)),
            (.threshold, threshold.map { "\($0)" }),
            (.reviewBand, reviewBand.map { "\($0.lower),\($0.upper)" }),
            (.provenance, provenance.map(Self.encodeJSON)),
            (.kind, kind?.rawValue),
            (.mapRange, mapRange.map { "\($0.lower),\($0.upper)" }),
            (.anomalyReviewBand, anomalyReviewBand.map { "\($0.lower),\($0.upper)" }),
        ]
        return entries.compactMap { key, value in value.map { (key.rawValue, $0) } }
    }

    /// Checks that the fields agree with each other.
    public func validate() throws(MetadataError) {
        if let unknown = okLabels.first(where: { !labels.contains($0) }) {
            throw MetadataError("ok label \(unknown.debugDescription) is not one of the labels \(labels)")
        }
        if Set(labels).count != labels.count { throw MetadataError("labels \(labels) contain duplicates") }
        if let size = inputSize, size.width <= 0 || size.height <= 0 {
            throw MetadataError("input size \(size.width)x\(size.height) is not positive")
        }
        if let roi, roi.x < 0 || roi.y < 0 || roi.width <= 0 || roi.height <= 0 {
            throw MetadataError("roi \(roi.x),\(roi.y),\(roi.width),\(roi.height) is not a region inside an image")
        }
        for (name, values) in [("mean", mean), ("std", std)] {
            guard let values else { continue }
            if let color, values.count != color.channels {
                throw MetadataError("\(name) has \(values.count) values but colour \(color.rawValue) has \(color.channels) channels")
            }
            if values.contains(where: { !$0.isFinite }) { throw MetadataError("\(name) \(values) has a non-finite value") }
        }
        if let std, std.contains(where: { $0 <= 0 }) { throw MetadataError("std \(std) must be positive") }
        // A classifier's scores are probabilities; an anomaly score is any non-negative number (1.0 = threshold).
        let scores: ClosedRange<Float> = resolvedKind == .anomaly ? 0...Float.greatestFiniteMagnitude : 0...1
        let range = resolvedKind == .anomaly ? "0 or more" : "0...1"
        if let threshold, !scores.contains(threshold) { throw MetadataError("threshold \(threshold) is outside \(range)") }
        if let band = reviewBand, !(band.lower <= band.upper && scores.contains(band.lower) && scores.contains(band.upper)) {
            throw MetadataError("review band \(band.lower),\(band.upper) is not an interval inside \(range)")
        }
        if let band = mapRange, !(band.lower < band.upper && band.lower.isFinite && band.upper.isFinite) {
            throw MetadataError("map range \(band.lower),\(band.upper) is not an interval from cold to hot")
        }
        if mapRange != nil, !resolvedKind.hasAnomalyHead {
            throw MetadataError("a map range belongs to a model with an anomaly head (auge.kind = anomaly or gated)")
        }
        if let band = anomalyReviewBand {
            guard resolvedKind == .gated else { throw MetadataError("an anomaly review band belongs to a gated model (auge.kind = gated)") }
            guard band.lower >= 0, band.lower <= 1, 1 <= band.upper, band.upper.isFinite else {
                throw MetadataError("anomaly review band \(band.lower),\(band.upper) must contain the anomaly threshold 1.0")
            }
        }
    }

    public struct MetadataError: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    private static func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String) -> T? {
        try? JSONDecoder().decode(type, from: Data(text.utf8))
    }

    private static func encodeJSON<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings, numbers and the Provenance struct cannot fail.
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    private static func integers(_ text: String, separator: Character, count: Int) -> [Int]? {
        let parts = text.split(separator: separator, omittingEmptySubsequences: false).map {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        guard parts.count == count, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.map { $0! }
    }

    private static func parseInputSize(_ text: String) -> InputSize? {
        guard let wh = integers(text.lowercased(), separator: "x", count: 2), wh[0] > 0, wh[1] > 0 else { return nil }
        return InputSize(width: wh[0], height: wh[1])
    }

    private static func parseROI(_ text: String) -> Region? {
        integers(text, separator: ",", count: 4).map { Region(x: $0[0], y: $0[1], width: $0[2], height: $0[3]) }
    }

    private static func parseReviewBand(_ text: String) -> ReviewBand? {
        let parts = text.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2 else { return nil }
        return ReviewBand(lower: parts[0], upper: parts[1])
    }
}
