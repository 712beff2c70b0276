/// Typed access to a node's attributes; a value of the wrong type is an error, not a default.
struct Attributes {
    private let byName: [String: Onnx_AttributeProto]
    private let fail: (String) -> ONNXError

    init(_ attributes: [Onnx_AttributeProto], fail: @escaping (String) -> ONNXError) {
        self.byName = Dictionary(attributes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.fail = fail
    }

    private func attribute(_ name: String, _ type: Onnx_AttributeProto.AttributeType, present: (Onnx_AttributeProto) -> Bool) throws -> Onnx_AttributeProto? {
        guard let attribute = byName[name] else { return nil }
        // Files from before IR version 2 leave `type` unset; then the filled field decides.
        guard attribute.type == type || (attribute.type == .undefined && present(attribute)) else {
            throw fail("attribute '\(name)' has type \(attribute.type), expected \(type)")
        }
        return attribute
    }

    func int(_ name: String) throws -> Int? { try attribute(name, .int, present: \.hasI).map { Int($0.i) } }
    func int(_ name: String, default value: Int) throws -> Int { try int(name) ?? value }
    func ints(_ name: String) throws -> [Int]? { try attribute(name, .ints, present: { !$0.ints.isEmpty }).map { $0.ints.map { Int($0) } } }
    func float(_ name: String) throws -> Float? { try attribute(name, .float, present: \.hasF).map(\.f) }
    func float(_ name: String, default value: Float) throws -> Float { try float(name) ?? value }
    func floats(_ name: String) throws -> [Float]? { try attribute(name, .floats, present: { !$0.floats.isEmpty }).map(\.floats) }
    func string(_ name: String, default value: String) throws -> String {
        try attribute(name, .string, present: \.hasS).map { String(decoding: $0.s, as: UTF8.self) } ?? value
    }
    func tensor(_ name: String) throws -> Onnx_TensorProto? { try attribute(name, .tensor, present: \.hasT).map(\.t) }
}
