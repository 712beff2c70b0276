import AugeEngine
import AugeImage
import AugeONNX
import CLibCrypto
import Foundation

/// Settings given on the command line (or by a library user) that take precedence over the model
/// file's metadata; for a plain ONNX file without metadata they are the only source.
public struct ModelSettingOverrides: Sendable {
    public var labels: [String]?
    public var okLabels: [String]?
    public var size: (width: Int, height: Int)?
    public var color: ColorMode?
    public var resize: ResizePolicy?
    public var region: Region?
    public var mean: [Float]?
    public var std: [Float]?
    public var threshold: Float?
    /// Half-width of the review band around the threshold.
    public var reviewBand: Float?

    public init() {}
}

/// An inspection model loaded from an ONNX file: its graph, and the preprocessing and decision policy
/// that come from its metadata, from overrides, or from the graph itself, in that order of precedence
/// (overrides first).
public struct InspectionModel: Sendable {
    public let path: String
    public let onnx: ONNXModel
    public let preprocessing: Preprocessing
    public let policy: DecisionPolicy
    /// SHA-256 of the model file (hex), when loaded from a file: which model decided, for audit trails
    /// (a replaced model keeps its name, not its digest).
    public let sha256: String?

    /// More class scores than this per photo is not a classifier (and its default labels would not fit in memory).
    public static let maximumClasses = 1 << 16

    public struct SettingsError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func load(path: String, overrides: ModelSettingOverrides = ModelSettingOverrides()) throws -> InspectionModel {
        let url = URL(fileURLWithPath: path)
        let data = try ONNXModel.readFile(url)
        return try InspectionModel(
            path: path, onnx: ONNXModel.load(data: data, name: url.lastPathComponent), overrides: overrides,
            sha256: sha256Hex(data))
    }

    /// `sha256`: the digest of the file the model came from, if any.
    public init(path: String, onnx: ONNXModel, overrides: ModelSettingOverrides, sha256: String? = nil) throws {
        let name = (path as NSString).lastPathComponent
        func fail(_ message: String) -> SettingsError { SettingsError(description: "\(name): \(message)") }
        let graph = onnx.graph, metadata = onnx.metadata
        let kind = metadata?.resolvedKind ?? .classifier
        guard graph.inputs.count == 1, graph.outputs.count == kind.outputCount else {
            throw fail("\(kind.outputDescription); this one has \(graph.inputs.count) and \(graph.outputs.count)")
        }
        // NCHW input: channels and size come from the graph when nothing else says them.
        let inputShape = graph.inputs[0].shape
        guard inputShape.count == 4 else { throw fail("the input has shape \(inputShape.map { $0.map(String.init) ?? "?" }); an image model takes NCHW") }
        let graphChannels = inputShape[1], graphHeight = inputShape[2], graphWidth = inputShape[3]

        let color =
            overrides.color ?? metadata?.color
            ?? graphChannels.flatMap { $0 == 1 ? .gray : $0 == 3 ? .rgb : nil }
        guard let color else { throw fail("the input has \(graphChannels.map(String.init) ?? "unknown") channels; give --color gray or rgb") }
        let size =
            overrides.size ?? metadata?.inputSize.map { ($0.width, $0.height) }
            ?? (graphWidth != nil && graphHeight != nil ? (graphWidth!, graphHeight!) : nil)
        guard let size else { throw fail("the input size is not fixed in the model; give --size WxH") }
        let preprocessing = Preprocessing(
            width: size.width, height: size.height, color: color,
            resize: overrides.resize ?? metadata?.resize ?? .stretch,
            region: overrides.region ?? metadata?.roi,
            mean: overrides.mean ?? metadata?.mean ?? [0], std: overrides.std ?? metadata?.std ?? [1])
        do { try preprocessing.validate() } catch { throw fail("\(error)") }

        let shapes = try inferShapes(graph, batchSize: 1)
        let outputCount = shapes[graph.outputs[0]].map { $0.reduce(1, *) } ?? 0
        guard outputCount <= Self.maximumClasses else {
            throw fail("the model outputs \(outputCount) scores per photo; a classifier gives at most \(Self.maximumClasses) class scores")
        }
        let labels = overrides.labels ?? metadata.flatMap { $0.labels.isEmpty ? nil : $0.labels } ?? (0..<outputCount).map(String.init)
        if kind.hasAnomalyHead {
            let score = shapes[graph.outputs[kind.outputCount - 2]].map { $0.reduce(1, *) } ?? 0
            let map = shapes[graph.outputs[kind.outputCount - 1]] ?? []
            guard score == 1, map.count == 4, map[0] == 1, map[1] == 1 else {
                throw fail("an anomaly head outputs a score [N, 1] and a map [N, 1, h, w], not \(score) values and \(map)")
            }
        }
        if kind != .anomaly, labels.count != outputCount {
            throw fail("the model outputs \(outputCount) scores but \(labels.count) labels were given")
        }
        let threshold = overrides.threshold ?? metadata?.threshold ?? (kind == .anomaly ? 1 : 0.5)
        // A band from the flags is centred on the (possibly overridden) threshold; the file's band goes with the file's threshold.
        let band =
            overrides.reviewBand.map { DecisionPolicy.band(around: threshold, halfWidth: $0, kind: kind) }
            ?? (overrides.threshold == nil ? metadata?.reviewBand : nil)
        let policy = DecisionPolicy(
            labels: labels, okLabels: overrides.okLabels ?? metadata?.okLabels ?? [],
            threshold: threshold, reviewBand: band, kind: kind, anomalyBand: metadata?.anomalyReviewBand)
        do { try policy.validate() } catch { throw fail("\(error)") }

        self.path = path
        self.onnx = onnx
        self.preprocessing = preprocessing
        self.policy = policy
        self.sha256 = sha256
    }

    /// The complete settings as metadata (what `auge annotate` writes), keeping the file's provenance.
    public var resolvedMetadata: ModelMetadata {
        ModelMetadata(
            labels: policy.labels, okLabels: policy.okLabels,
            inputSize: .init(width: preprocessing.width, height: preprocessing.height), color: preprocessing.color,
            resize: preprocessing.resize, roi: preprocessing.region,
            mean: Self.perChannel(preprocessing.mean, preprocessing.color), std: Self.perChannel(preprocessing.std, preprocessing.color),
            threshold: policy.threshold, reviewBand: policy.reviewBand, provenance: onnx.metadata?.provenance,
            kind: onnx.metadata?.kind, mapRange: onnx.metadata?.mapRange, anomalyReviewBand: policy.anomalyBand)
    }

    private static func perChannel(_ values: [Float], _ color: ColorMode) -> [Float] {
        values.count == 1 ? [Float](repeating: values[0], count: color.channels) : values
    }

    public func classifier(threads: Int) throws -> Classifier {
        try Classifier(
            graph: onnx.graph, preprocessing: preprocessing, policy: policy, threads: threads,
            mapRange: onnx.metadata?.mapRange)
    }
}

/// The SHA-256 digest of `data` in lowercase hex, as `sha256sum` prints it (the system's libcrypto).
func sha256Hex(_ data: Data) -> String {
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    let done = data.withUnsafeBytes { bytes in
        EVP_Digest(bytes.baseAddress, bytes.count, &digest, &length, EVP_sha256(), nil)
    }
    // EVP_Digest fails only when out of memory; SHA-256 needs none beyond its context.
    precondition(done == 1 && length == 32, "SHA-256 failed")
    return digest.prefix(32).map { String(format: "%02x", $0) }.joined()
}
