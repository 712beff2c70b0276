import Foundation

/// Why an ONNX file could not be loaded or written. Every error names the file and, where one is
/// to blame, the node; nothing in a file, however malformed, makes the importer trap.
public struct ONNXError: Error, Sendable, Equatable, LocalizedError, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The bytes are not a readable ONNX protobuf (unreadable file, truncated, garbage).
        case unreadable
        /// The model's default-domain opset is missing or outside `ONNXModel.supportedOpsets`.
        case unsupportedOpset
        /// Operators (or attribute values) the engine cannot run.
        case unsupportedOperator
        /// Weights stored outside the file.
        case externalData
        /// A tensor whose data does not match its declared type or dims.
        case invalidTensor
        /// Broken structure: dangling inputs, cycles, values defined twice, missing outputs.
        case invalidGraph
        /// Shapes that cannot be reconciled (channel mismatch, impossible reshape, windows larger than inputs).
        case invalidShape
        /// A size beyond `ONNXModel.maximumFileSize` or `ONNXModel.maximumTensorElements`.
        case limitExceeded
        /// An `auge.*` metadata property that cannot be read, or metadata that contradicts itself.
        case invalidMetadata
        /// The engine graph given to the exporter cannot be written.
        case unexportable
    }

    public let kind: Kind
    /// The file (or model name) concerned.
    public let file: String
    /// The node concerned, as "name (OpType)", when one is to blame.
    public let node: String?
    public let message: String

    public init(_ kind: Kind, file: String, node: String? = nil, _ message: String) {
        self.kind = kind
        self.file = file
        self.node = node
        self.message = message
    }

    public var description: String {
        if let node { return "\(file): node \(node): \(message)" }
        return "\(file): \(message)"
    }

    public var errorDescription: String? { description }
}
