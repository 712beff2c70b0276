import AugeEngine
import Foundation
import SwiftProtobuf

/// An ONNX model imported into the engine's graph IR, with the Auge metadata it carries.
public struct ONNXModel: Sendable {
    /// Default-domain opsets the importer reads; files outside are refused.
    public static let supportedOpsets = 7...21
    /// Files larger than this are refused before parsing.
    public static let maximumFileSize = 1 << 30
    /// No tensor, weight or activation (per batch item) may have more elements than this.
    public static let maximumTensorElements = 1 << 28

    public let graph: Graph
    /// The `auge.*` metadata, nil for a plain ONNX model that has none.
    public let metadata: ModelMetadata?
    /// The file's default-domain opset version.
    public let opsetVersion: Int
    /// producer_name and producer_version, e.g. "pytorch 2.5.1".
    public let producer: String
    /// All metadata_props entries of the file, including non-Auge ones.
    public let properties: [String: String]

    public static func load(contentsOf url: URL) throws(ONNXError) -> ONNXModel {
        try load(data: readFile(url), name: url.lastPathComponent)
    }

    /// The bytes of a model file, refusing files larger than Auge reads.
    public static func readFile(_ url: URL) throws(ONNXError) -> Data {
        let name = url.lastPathComponent
        let size: Int
        do {
            size = try url.resourceValues(forKeys: [.fileSizeKey]).fileSize ?? 0
        } catch {
            throw ONNXError(.unreadable, file: name, "cannot be read: \(error.localizedDescription)")
        }
        guard size <= maximumFileSize else {
            throw ONNXError(.limitExceeded, file: name, "is \(size) bytes, more than the \(maximumFileSize) Auge reads")
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw ONNXError(.unreadable, file: name, "cannot be read: \(error.localizedDescription)")
        }
    }

    /// Imports a serialized ModelProto; `name` is used in error messages.
    public static func load(data: Data, name: String) throws(ONNXError) -> ONNXModel {
        guard data.count <= maximumFileSize else {
            throw ONNXError(.limitExceeded, file: name, "is \(data.count) bytes, more than the \(maximumFileSize) Auge reads")
        }
        let proto: Onnx_ModelProto
        do {
            proto = try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw ONNXError(.unreadable, file: name, "is not a valid ONNX protobuf (\(error)); the file may be truncated or not an ONNX model")
        }
        guard proto.hasGraph else { throw ONNXError(.invalidGraph, file: name, "contains no graph; is it an ONNX model?") }

        let defaultDomain = proto.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        guard let opset = defaultDomain.map({ Int($0.version) }).max() else {
            throw ONNXError(.unsupportedOpset, file: name, "imports no opset for the default ONNX domain")
        }
        guard supportedOpsets.contains(opset) else {
            throw ONNXError(
                .unsupportedOpset, file: name,
                "uses opset \(opset); Auge reads opsets \(supportedOpsets.lowerBound) through \(supportedOpsets.upperBound) (convert it with onnx.version_converter)")
        }

        let properties = Dictionary(proto.metadataProps.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        let metadata: ModelMetadata?
        do {
            metadata = try ModelMetadata(properties: properties)
        } catch {
            throw ONNXError(.invalidMetadata, file: name, "metadata: \(error)")
        }
        var importer = GraphImporter(file: name, opset: opset, maximumElements: maximumTensorElements)
        let graph: Graph
        do {
            graph = try importer.importGraph(proto.graph)
        } catch let error as ONNXError {
            throw error
        } catch {
            throw ONNXError(.invalidGraph, file: name, "\(error)")
        }
        let producer = [proto.producerName, proto.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        return ONNXModel(graph: graph, metadata: metadata, opsetVersion: opset, producer: producer, properties: properties)
    }

    /// The model written back as ONNX through the exporter (not the original bytes).
    public func serialized() throws(ONNXError) -> Data {
        try exportONNX(graph: graph, metadata: metadata)
    }
}
