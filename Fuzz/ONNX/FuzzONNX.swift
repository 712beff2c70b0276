import AugeEngine
import AugeInspect
import AugeONNX
import Foundation

/// libFuzzer target: model file bytes through protobuf parsing, graph import, the `auge.*` metadata,
/// shape inference and planning, as `auge classify --model` loads a file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let model = try? ONNXModel.load(data: Data(bytes: data, count: size), name: "fuzz.onnx") else { return 0 }
    _ = try? InspectionModel(path: "fuzz.onnx", onnx: model, overrides: ModelSettingOverrides())
    _ = try? Engine(graph: model.graph, batchSize: 1, threads: 1)
    return 0
}
