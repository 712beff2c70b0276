import AugeEngine
import Foundation

/// A tensor known at load time: an initializer, a Constant node, or the result of folding.
/// Float types (FLOAT, DOUBLE) are held as Float; integer types (INT32, INT64) and folded shapes as
/// SymbolicInt, so a shape element may stand for the open batch size.
struct ConstantTensor {
    enum Elements {
        case floats([Float])
        case integers([SymbolicInt])
        /// 8-bit integers (a quantized model's weights and zero points): 4 bytes each where a SymbolicInt
        /// takes 16, for tensors of millions of values.
        case int32s([Int32])
    }

    var shape: [Int]
    var elements: Elements
    /// For INT8 and UINT8 tensors (quantized weights, zero points), the type's range: a zero point's
    /// type sets the range QuantizeLinear saturates to.
    var eightBitRange: ClosedRange<Int>? = nil
    /// For a float tensor folded from a DequantizeLinear of symmetric int8 values (zero point 0): its
    /// scales, one per slice along axis 0 (or one for all), so that a convolution keeps its int8 weights.
    var symmetricInt8Scales: [Float]? = nil

    init(shape: [Int], elements: Elements) {
        self.shape = shape
        self.elements = elements
    }

    init(shape: [Int], floats: [Float]) { self.init(shape: shape, elements: .floats(floats)) }
    init(shape: [Int], integers: [SymbolicInt]) { self.init(shape: shape, elements: .integers(integers)) }
    init(vector: [SymbolicInt]) { self.init(shape: [vector.count], integers: vector) }

    var count: Int {
        switch elements {
        case .floats(let values): values.count
        case .integers(let values): values.count
        case .int32s(let values): values.count
        }
    }

    var floats: [Float]? {
        if case .floats(let values) = elements { return values }
        return nil
    }

    var integers: [SymbolicInt]? {
        switch elements {
        case .floats: nil
        case .integers(let values): values
        case .int32s(let values): values.map { .known(Int($0)) }
        }
    }

    /// Integers that all fit 32 bits, without a detour through `integers` for the compact ones.
    var int32s: [Int32]? {
        if case .int32s(let values) = elements { return values }
        guard let known = knownIntegers, known.allSatisfy({ Int(Int32.min)...Int(Int32.max) ~= $0 }) else { return nil }
        return known.map { Int32($0) }
    }

    /// The same tensor with compact integers as SymbolicInts (what the folding rules take).
    var widened: ConstantTensor {
        guard case .int32s = elements, let integers else { return self }
        var result = ConstantTensor(shape: shape, integers: integers)
        result.eightBitRange = eightBitRange
        return result
    }

    /// Integers all known (no batch factor), e.g. axes, pads.
    var knownIntegers: [Int]? {
        if case .int32s(let values) = elements { return values.map { Int($0) } }
        guard let values = integers else { return nil }
        let known = values.compactMap(\.knownValue)
        return known.count == values.count ? known : nil
    }

    var engineTensor: Tensor? { floats.map { Tensor(shape: shape, data: $0) } }

    var typeName: String {
        switch elements {
        case .floats: "float"
        case .integers, .int32s: "integer"
        }
    }

    /// Rearranges elements by index: result element i is element `indices[i]`.
    func gathering(_ indices: [Int], shape: [Int]) -> ConstantTensor {
        switch elements {
        case .floats(let values): ConstantTensor(shape: shape, floats: indices.map { values[$0] })
        case .integers(let values): ConstantTensor(shape: shape, integers: indices.map { values[$0] })
        case .int32s(let values): ConstantTensor(shape: shape, elements: .int32s(indices.map { values[$0] }))
        }
    }

    func reshaped(_ shape: [Int]) -> ConstantTensor {
        var result = ConstantTensor(shape: shape, elements: elements)
        result.eightBitRange = eightBitRange
        return result
    }
}

/// Reads TensorProto payloads (initializers, Constant values) with every size checked before use.
struct TensorDecoder {
    let file: String
    let maximumElements: Int

    func decode(_ proto: Onnx_TensorProto, node: String? = nil) throws(ONNXError) -> ConstantTensor {
        let name = proto.name.isEmpty ? "(unnamed tensor)" : "'\(proto.name)'"
        func fail(_ kind: ONNXError.Kind, _ message: String) -> ONNXError {
            ONNXError(kind, file: file, node: node, "tensor \(name) \(message)")
        }
        if proto.dataLocation == .external || !proto.externalData.isEmpty {
            let location = proto.externalData.first(where: { $0.key == "location" })?.value ?? "another file"
            throw fail(.externalData, "keeps its data in external file \(location.debugDescription); Auge needs every weight inside the .onnx file (re-save with onnx.save_model(..., save_as_external_data=False))")
        }
        if proto.hasSegment { throw fail(.unsupportedOperator, "is a segment of a larger tensor, which Auge does not read") }
        var shape: [Int] = []
        var count = 1
        for dim in proto.dims {
            guard dim >= 0 else { throw fail(.invalidTensor, "has dims \(proto.dims) with negative dimension \(dim)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(dim))
            guard !overflow, product <= maximumElements else {
                throw fail(.limitExceeded, "has dims \(proto.dims): more than the \(maximumElements) elements Auge accepts in one tensor")
            }
            shape.append(Int(dim))
            count = product
        }

        func checked<T>(_ values: [T], _ field: String) throws(ONNXError) -> [T] {
            guard values.count == count else { throw fail(.invalidTensor, "has \(values.count) values in \(field) but dims \(proto.dims) need \(count)") }
            return values
        }
        func raw<T>(_ width: Int, _ read: (UnsafeRawBufferPointer, Int) -> T) throws(ONNXError) -> [T] {
            let bytes = proto.rawData
            guard bytes.count == count * width else {
                throw fail(.invalidTensor, "has \(bytes.count) bytes of raw_data but dims \(proto.dims) of \(typeName(Int(proto.dataType))) need \(count * width)")
            }
            return bytes.withUnsafeBytes { buffer in (0..<count).map { read(buffer, $0 * width) } }
        }
        let hasRaw = proto.hasRawData

        switch Onnx_TensorProto.DataType(rawValue: Int(proto.dataType)) {
        case .float:
            let values =
                hasRaw
                ? try raw(4) { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt32.self))) }
                : try checked(proto.floatData, "float_data")
            return ConstantTensor(shape: shape, floats: values)
        case .double:
            let values =
                hasRaw
                ? try raw(8) { Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt64.self))) }
                : try checked(proto.doubleData, "double_data")
            return ConstantTensor(shape: shape, floats: values.map { Float($0) })
        case .int64:
            let values =
                hasRaw
                ? try raw(8) { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: Int64.self)) }
                : try checked(proto.int64Data, "int64_data")
            return ConstantTensor(shape: shape, integers: values.map { .known(Int($0)) })
        case .int32:
            let values =
                hasRaw
                ? try raw(4) { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: Int32.self)) }
                : try checked(proto.int32Data, "int32_data")
            return ConstantTensor(shape: shape, integers: values.map { .known(Int($0)) })
        case .int8, .uint8:
            // Without raw_data, ONNX keeps 8-bit values in int32_data.
            let signed = proto.dataType == Int32(Onnx_TensorProto.DataType.int8.rawValue)
            let range = signed ? -128...127 : 0...255
            let values =
                hasRaw
                ? try raw(1) { signed ? Int32($0.load(fromByteOffset: $1, as: Int8.self)) : Int32($0.load(fromByteOffset: $1, as: UInt8.self)) }
                : try checked(proto.int32Data, "int32_data")
            guard values.allSatisfy({ range.contains(Int($0)) }) else {
                throw fail(.invalidTensor, "has values outside \(range) for its type \(typeName(Int(proto.dataType)))")
            }
            var tensor = ConstantTensor(shape: shape, elements: .int32s(values))
            tensor.eightBitRange = range
            return tensor
        default:
            throw fail(.unsupportedOperator, "has data type \(typeName(Int(proto.dataType))); Auge reads FLOAT, DOUBLE, INT8, UINT8, INT32 and INT64 tensors")
        }
    }
}

/// The ONNX name of a TensorProto data type, e.g. "FLOAT16".
func typeName(_ dataType: Int) -> String {
    guard let type = Onnx_TensorProto.DataType(rawValue: dataType) else { return "unknown type \(dataType)" }
    return String(describing: type).uppercased()
}
