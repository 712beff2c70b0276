import Foundation
import SwiftProtobuf

/// Writes `metadata` into a serialized ONNX model, replacing its `auge.*` entries and keeping
/// everything else (graph, weights, other metadata) as it was. Works on any valid ModelProto, even one
/// whose operators Auge cannot run, so a model can be annotated for other runtimes too.
public func annotateONNX(_ data: Data, name: String, metadata: ModelMetadata) throws(ONNXError) -> Data {
    var model: Onnx_ModelProto
    do {
        model = try Onnx_ModelProto(serializedBytes: data)
    } catch {
        throw ONNXError(.unreadable, file: name, "is not a valid ONNX protobuf (\(error))")
    }
    let entries: [(key: String, value: String)]
    do {
        entries = try metadata.properties()
    } catch {
        throw ONNXError(.invalidMetadata, file: name, "metadata: \(error)")
    }
    model.metadataProps =
        model.metadataProps.filter { !$0.key.hasPrefix("auge.") }
        + entries.map { entry in
            Onnx_StringStringEntryProto.with {
                $0.key = entry.key; $0.value = entry.value
            }
        }
    do {
        return try model.serializedBytes()
    } catch {
        throw ONNXError(.unexportable, file: name, "cannot be serialized: \(error)")
    }
}
