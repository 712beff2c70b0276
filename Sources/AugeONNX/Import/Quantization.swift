import AugeEngine

/// The output of a QuantizeLinear on a computed tensor: the engine computes in float, so it exists only
/// as what the DequantizeLinear reading it gives back (`Activation.fakeQuantize`).
struct QuantizedValue {
    var source: String
    var scale: Float
    var zeroPoint: Int
    var range: ClosedRange<Int>
    var shape: [SymbolicInt]
}

/// QuantizeLinear / DequantizeLinear (the QDQ format of ONNX Runtime's quantizer and of PyTorch and
/// TensorFlow exports): on constants they fold (int8 weights become float weights); on a computed
/// tensor a QuantizeLinear-DequantizeLinear pair becomes one fake-quantize activation, which the
/// planner fuses into the layer before it.
extension GraphImporter {
    /// A per-tensor scale and zero point: inputs 1 and 2 of either operator.
    private func quantizationParameters(_ scope: NodeScope) throws -> (scale: Float, zeroPoint: Int, range: ClosedRange<Int>) {
        let scale = try floatConstant(scope, try scope.requiredInput(1, "scale"), "scale")
        guard scale.count == 1, let value = scale.data.first, value.isFinite, value > 0 else {
            throw scope.fail(.unsupportedOperator, "on a computed tensor Auge takes one positive scale (per tensor), got \(scale.count) values \(scale.data.prefix(4))")
        }
        guard let zeroName = scope.input(2) else { return (value, 0, 0...255) }  // no zero point: uint8, 0
        let zero = try constant(scope, zeroName, "zero point")
        guard zero.count == 1, let range = zero.eightBitRange, let point = zero.knownIntegers?.first else {
            throw scope.fail(.unsupportedOperator, "on a computed tensor Auge takes one INT8 or UINT8 zero point (per tensor)")
        }
        return (value, point, range)
    }

    mutating func importQuantizeLinear(_ scope: NodeScope) throws {
        let x = try scope.requiredInput(0, "x")
        let shape = try runtimeShape(scope, x)
        let (scale, zeroPoint, range) = try quantizationParameters(scope)
        values[scope.output] = .quantized(QuantizedValue(source: x, scale: scale, zeroPoint: zeroPoint, range: range, shape: shape))
    }

    mutating func importDequantizeLinear(_ scope: NodeScope) throws {
        let x = try scope.requiredInput(0, "x")
        guard case .quantized(let quantized) = values[x] else {
            throw scope.fail(.unsupportedOperator, "dequantizes '\(x)', which no QuantizeLinear made: Auge computes in float")
        }
        let (scale, zeroPoint, _) = try quantizationParameters(scope)
        guard scale == quantized.scale, zeroPoint == quantized.zeroPoint else {
            throw scope.fail(
                .unsupportedOperator,
                "dequantizes with scale \(scale) and zero point \(zeroPoint), but '\(x)' was quantized with "
                    + "\(quantized.scale) and \(quantized.zeroPoint); Auge takes a pair that agrees")
        }
        let fakeQuantize = Activation.fakeQuantize(
            scale: scale, zeroPoint: Float(zeroPoint), lower: Float(quantized.range.lowerBound),
            upper: Float(quantized.range.upperBound))
        try emit(scope, .activation(fakeQuantize), inputs: [quantized.source], output: scope.output, shape: quantized.shape)
    }

    /// DequantizeLinear on constants: (x - zeroPoint) * scale, per tensor or per slice along `axis`.
    func foldDequantize(_ scope: NodeScope, _ x: ConstantTensor, scale: ConstantTensor, zeroPoint: ConstantTensor?) throws -> ConstantTensor {
        guard let values = x.int32s else { throw scope.fail(.invalidTensor, "dequantizes a tensor that is not integer (or beyond 32 bits)") }
        guard let scales = scale.floats else { throw scope.fail(.invalidTensor, "scale is not a float tensor") }
        let zeros =
            try zeroPoint.map { zero -> [Int] in
                guard let known = zero.knownIntegers, known.count == scales.count else {
                    throw scope.fail(.invalidTensor, "zero point has \(zero.count) values for \(scales.count) scales")
                }
                return known
            } ?? [Int](repeating: 0, count: scales.count)
        guard try scope.attributes.int("block_size", default: 0) == 0 else {
            throw scope.fail(.unsupportedOperator, "blocked dequantization (block_size) is not supported")
        }
        let symmetric = x.eightBitRange == -128...127 && zeros.allSatisfy { $0 == 0 } && values.allSatisfy { $0 >= -127 }
        if scales.count == 1 {
            var result = ConstantTensor(shape: x.shape, floats: values.map { Float(Int($0) - zeros[0]) * scales[0] })
            if symmetric { result.symmetricInt8Scales = scales }
            return result
        }
        let rank = x.shape.count
        var axis = try scope.attributes.int("axis", default: 1)
        if axis < 0 { axis += rank }
        guard (0..<rank).contains(axis), x.shape[axis] == scales.count, scale.shape.count == 1 else {
            throw scope.fail(.invalidShape, "has \(scales.count) scales for axis \(axis) of a tensor of shape \(x.shape)")
        }
        let inner = x.shape[(axis + 1)...].reduce(1, *), length = x.shape[axis]
        // Channel by channel: no division per value (a model's weights are millions of them).
        var floats: [Float] = []
        floats.reserveCapacity(values.count)
        for start in stride(from: 0, to: values.count, by: max(1, inner * length)) {
            for channel in 0..<length {
                let (zero, scale) = (zeros[channel], scales[channel])
                let first = start + channel * inner
                for value in values[first..<(first + inner)] { floats.append(Float(Int(value) - zero) * scale) }
            }
        }
        var result = ConstantTensor(shape: x.shape, floats: floats)
        if symmetric && axis == 0 { result.symmetricInt8Scales = scales }
        return result
    }

    /// QuantizeLinear on constants (a float weight quantized in the file): saturate(round(x / scale) + zeroPoint).
    func foldQuantize(_ scope: NodeScope, _ x: ConstantTensor, scale: ConstantTensor, zeroPoint: ConstantTensor?) throws -> ConstantTensor {
        guard let floats = x.floats, let scales = scale.floats, scales.count == 1, let s = scales.first, s > 0, s.isFinite else {
            throw scope.fail(.unsupportedOperator, "folds QuantizeLinear of float constants with one positive scale only")
        }
        guard floats.allSatisfy(\.isFinite) else { throw scope.fail(.invalidTensor, "quantizes a constant that holds NaN or infinite values") }
        let range = zeroPoint?.eightBitRange ?? 0...255
        let zero = zeroPoint?.knownIntegers?.first ?? 0
        var result = ConstantTensor(
            shape: x.shape,
            integers: floats.map { value in
                let rounded = (value / s).rounded(.toNearestOrEven) + Float(zero)
                return .known(Int(min(max(rounded, Float(range.lowerBound)), Float(range.upperBound))))
            })
        result.eightBitRange = range
        return result
    }
}
