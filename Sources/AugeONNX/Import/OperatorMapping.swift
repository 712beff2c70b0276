import AugeEngine

/// Every operator of the default ONNX domain the importer reads (some only on load-time constants).
/// `importNode` switches over it exhaustively, so a new case does not compile until it is mapped, and
/// the list of supported operators is this enum's cases.
enum ONNXOperator: String, CaseIterable {
    case conv = "Conv"
    case batchNormalization = "BatchNormalization"
    case relu = "Relu"
    case leakyRelu = "LeakyRelu"
    case sigmoid = "Sigmoid"
    case hardSigmoid = "HardSigmoid"
    case hardSwish = "HardSwish"
    case tanh = "Tanh"
    case sqrt = "Sqrt"
    case reciprocal = "Reciprocal"
    case clip = "Clip"
    case add = "Add"
    case sub = "Sub"
    case mul = "Mul"
    case div = "Div"
    case maxPool = "MaxPool"
    case averagePool = "AveragePool"
    case globalAveragePool = "GlobalAveragePool"
    case reduceMean = "ReduceMean"
    case reduceMin = "ReduceMin"
    case reduceMax = "ReduceMax"
    case resize = "Resize"
    case concat = "Concat"
    case pad = "Pad"
    case flatten = "Flatten"
    case reshape = "Reshape"
    case squeeze = "Squeeze"
    case unsqueeze = "Unsqueeze"
    case gemm = "Gemm"
    case matMul = "MatMul"
    case softmax = "Softmax"
    case identity = "Identity"
    case dropout = "Dropout"
    case cast = "Cast"
    case shape = "Shape"
    case gather = "Gather"
    case slice = "Slice"
    case split = "Split"
    case reduceProd = "ReduceProd"
    case constant = "Constant"
    case quantizeLinear = "QuantizeLinear"
    case dequantizeLinear = "DequantizeLinear"
}

/// ONNX operators mapped to engine operations, opset by opset.
extension GraphImporter {
    mutating func importNode(_ scope: NodeScope) throws {
        guard !scope.output.isEmpty else { throw scope.fail(.invalidGraph, "has no output") }
        let inputs = scope.proto.input.filter { !$0.isEmpty }
        // Any node whose inputs are all known is folded, whatever it is, when a folding rule exists.
        if !inputs.isEmpty || scope.op == "Constant", inputs.allSatisfy(isConstant), let folded = try fold(scope) {
            for (name, value) in zip(scope.proto.output, folded) where !name.isEmpty { values[name] = .constant(value) }
            return
        }
        guard let operation = ONNXOperator(rawValue: scope.op) else {
            throw scope.fail(.unsupportedOperator, "\(scope.op) is not an operator Auge reads")
        }
        let a = scope.attributes
        switch operation {
        case .conv: try importConvolution(scope)
        case .batchNormalization: try importBatchNormalization(scope)
        case .relu: try emitActivation(scope, .relu)
        case .leakyRelu: try emitActivation(scope, .leakyRelu(alpha: a.float("alpha", default: 0.01)))
        case .sigmoid: try emitActivation(scope, .sigmoid)
        case .hardSigmoid:
            try emitActivation(scope, .hardSigmoid(alpha: a.float("alpha", default: 0.2), beta: a.float("beta", default: 0.5)))
        case .hardSwish: try emitActivation(scope, .hardSwish)
        case .tanh: try emitActivation(scope, .tanh)
        case .sqrt: try emitActivation(scope, .sqrt)
        case .reciprocal: try emitActivation(scope, .reciprocal)
        case .clip: try importClip(scope)
        case .add, .sub, .mul, .div: try importBinary(scope)
        case .maxPool, .averagePool: try importPooling(scope)
        case .globalAveragePool:
            let x = try scope.requiredInput(0, "data")
            let shape = try runtimeShape(scope, x)
            guard shape.count == 4 else { throw scope.fail(.unsupportedOperator, "only 2-D pooling (rank-4 input) is supported, input is \(shape)") }
            try emit(scope, .globalAveragePool, inputs: [x], output: scope.output, shape: [shape[0], shape[1], .known(1), .known(1)])
        case .reduceMean: try importReduceMean(scope)
        case .reduceMin, .reduceMax: try importReduceMinMax(scope)
        case .resize: try importResize(scope)
        case .concat: try importConcat(scope)
        case .pad: try importPad(scope)
        case .flatten:
            let x = try scope.requiredInput(0, "data")
            let shape = try runtimeShape(scope, x)
            let axis = try flattenAxis(a.int("axis", default: 1), rank: shape.count)
            try emit(scope, .flatten(axis: axis), inputs: [x], output: scope.output, shape: try flattened(shape, axis: axis))
        case .reshape: try importReshape(scope)
        case .squeeze, .unsqueeze:
            let x = try scope.requiredInput(0, "data")
            let shape = try runtimeShape(scope, x)
            let result = try squeezedOrUnsqueezed(scope, shape)
            try emit(scope, .reshape(shape: reshapeTarget(from: shape, to: result)), inputs: [x], output: scope.output, shape: result)
        case .gemm: try importGemm(scope)
        case .matMul: try importMatMul(scope)
        case .softmax: try importSoftmax(scope)
        case .identity:
            let x = try scope.requiredInput(0, "input")
            try emit(scope, .identity, inputs: [x], output: scope.output, shape: try runtimeShape(scope, x))
        case .dropout: try importDropout(scope)
        case .cast:
            let x = try scope.requiredInput(0, "input")
            guard try a.int("to") == Int(Onnx_TensorProto.DataType.float.rawValue) else {
                throw scope.fail(.unsupportedOperator, "casts a computed tensor to \(typeName(try a.int("to") ?? 0)); the engine computes in FLOAT only")
            }
            try emit(scope, .identity, inputs: [x], output: scope.output, shape: try runtimeShape(scope, x))
        case .shape:
            let shape = try runtimeShape(scope, try scope.requiredInput(0, "data"))
            values[scope.output] = .constant(ConstantTensor(vector: try shapeSlice(scope, shape)))
        case .quantizeLinear: try importQuantizeLinear(scope)
        case .dequantizeLinear: try importDequantizeLinear(scope)
        case .gather, .slice, .split, .reduceProd, .constant:
            // Folded when their inputs are constant, above.
            throw scope.fail(.unsupportedOperator, "\(scope.op) on a computed tensor is not supported: the engine has no such operation, Auge only folds it on load-time constants (shape arithmetic)")
        }
    }

    // MARK: Convolution and normalisation

    private mutating func importConvolution(_ scope: NodeScope) throws {
        let a = scope.attributes
        let x = try scope.requiredInput(0, "data")
        let shape = try runtimeShape(scope, x)
        let weightName = try scope.requiredInput(1, "weight")
        let weight = try floatConstant(scope, weightName, "weight")
        guard shape.count == 4, weight.shape.count == 4 else {
            throw scope.fail(.unsupportedOperator, "only 2-D convolution is supported (input \(shape), weight \(weight.shape))")
        }
        let groups = try a.int("group", default: 1)
        let (outChannels, groupChannels) = (weight.shape[0], weight.shape[1])
        guard groups > 0, outChannels % groups == 0, shape[1] == .known(groupChannels * groups) else {
            throw scope.fail(.invalidShape, "weight \(weight.shape) with group \(groups) expects \(groupChannels * groups) input channels, the input \(shape) has \(shape[1])")
        }
        if let kernel = try a.ints("kernel_shape"), kernel != Array(weight.shape[2...]) {
            throw scope.fail(.invalidShape, "kernel_shape \(kernel) does not match the weight \(weight.shape)")
        }
        var bias: Tensor?
        if let biasName = scope.input(2) {
            bias = try floatConstant(scope, biasName, "bias")
            guard bias!.count == outChannels else { throw scope.fail(.invalidShape, "bias has \(bias!.count) values for \(outChannels) output channels") }
            bias = Tensor(shape: [outChannels], data: bias!.data)
        }
        let geometry = try windowGeometry(scope, input: shape, kernel: (weight.shape[2], weight.shape[3]), ceilMode: false, allowDilation: true)
        var convolution = Convolution(
            weight: weight, bias: bias, strides: geometry.strides, dilations: geometry.dilations,
            pads: geometry.pads, groups: groups)
        // Int8 weights (a DequantizeLinear folded above) stay known as such, per output channel.
        if let scales = try constant(scope, weightName, "weight").symmetricInt8Scales {
            convolution.weightScales = scales.count == 1 ? [Float](repeating: scales[0], count: outChannels) : scales
        }
        try emit(
            scope, .convolution(convolution), inputs: [x], output: scope.output,
            shape: [shape[0], .known(outChannels), .known(geometry.output.0), .known(geometry.output.1)])
    }

    private mutating func importBatchNormalization(_ scope: NodeScope) throws {
        let a = scope.attributes
        if opset < 9, try a.int("spatial", default: 1) != 1 {
            throw scope.fail(.unsupportedOperator, "spatial = 0 (per-activation statistics) is not supported")
        }
        if try a.int("training_mode", default: 0) != 0 {
            throw scope.fail(.unsupportedOperator, "training_mode = 1; Auge imports models for inference")
        }
        try refuseReadOutputs(scope, from: 1, "the running statistics outputs (training mode)")
        let x = try scope.requiredInput(0, "data")
        let shape = try runtimeShape(scope, x)
        guard shape.count >= 2, let channels = shape[1].knownValue else { throw scope.fail(.invalidShape, "input \(shape) has no channel axis") }
        let roles = ["scale", "bias", "mean", "variance"]
        let parameters = try roles.enumerated().map { position, role in
            let tensor = try floatConstant(scope, try scope.requiredInput(position + 1, role), role)
            guard tensor.count == channels else { throw scope.fail(.invalidShape, "\(role) has \(tensor.count) values for \(channels) channels") }
            return tensor.data
        }
        let normalization = BatchNormalization(
            scale: parameters[0], bias: parameters[1], mean: parameters[2], variance: parameters[3],
            epsilon: try a.float("epsilon", default: 1e-5))
        try emit(scope, .batchNormalization(normalization), inputs: [x], output: scope.output, shape: shape)
    }

    // MARK: Element-wise

    private mutating func emitActivation(_ scope: NodeScope, _ activation: Activation) throws {
        let x = try scope.requiredInput(0, "input")
        try emit(scope, .activation(activation), inputs: [x], output: scope.output, shape: try runtimeShape(scope, x))
    }

    private mutating func importClip(_ scope: NodeScope) throws {
        var bounds: (min: Float, max: Float) = (-.infinity, .infinity)
        if opset < 11 {
            bounds = (try scope.attributes.float("min") ?? bounds.min, try scope.attributes.float("max") ?? bounds.max)
        } else {
            for (position, role) in [(1, "min"), (2, "max")] {
                guard let name = scope.input(position) else { continue }
                let bound = try floatConstant(scope, name, role)
                guard bound.count == 1 else { throw scope.fail(.invalidShape, "\(role) must be a scalar, it has shape \(bound.shape)") }
                if position == 1 { bounds.min = bound.data[0] } else { bounds.max = bound.data[0] }
            }
        }
        try emitActivation(scope, .clip(min: bounds.min, max: bounds.max))
    }

    /// Add and Mul map directly; Sub and Div by a constant become Add and Mul with the negated or
    /// reciprocal constant, Div by a computed value Mul by its Reciprocal (rounded twice, as a / b is not).
    /// x · Sigmoid(x) stays two nodes here: the engine's planner fuses them into SiLU
    /// (Planner/Fusion.swift), for imported graphs and graphs built in code alike.
    private mutating func importBinary(_ scope: NodeScope) throws {
        let left = try scope.requiredInput(0, "A"), right = try scope.requiredInput(1, "B")
        var (leftShape, rightShape): ([SymbolicInt], [SymbolicInt])
        switch (values[left], values[right]) {
        case (.runtime(let l), .runtime(let r)): (leftShape, rightShape) = (l, r)
        case (.runtime(let l), .constant(let c)): (leftShape, rightShape) = (l, c.shape.map(SymbolicInt.known))
        case (.constant(let c), .runtime(let r)): (leftShape, rightShape) = (c.shape.map(SymbolicInt.known), r)
        default: throw scope.fail(.unsupportedOperator, "both inputs are constant but could not be folded")
        }
        let shape = try ShapeRules.broadcast(leftShape, rightShape)
        let output = scope.output

        switch (scope.op, isConstant(left), isConstant(right)) {
        case ("Add", _, _), ("Mul", _, _):
            let operands = [try engineOperand(scope, left), try engineOperand(scope, right)]
            try emit(scope, scope.op == "Add" ? .add : .mul, inputs: operands, output: output, shape: shape)
        case ("Sub", false, true), ("Div", false, true):
            let operand = try floatConstant(scope, right, "B")
            let isSub = scope.op == "Sub"
            if !isSub, operand.data.contains(0) { throw scope.fail(.invalidTensor, "divides by a constant that contains zero") }
            let transformed = Tensor(shape: operand.shape, data: operand.data.map { isSub ? -$0 : 1 / $0 })
            let name = names.unique(right + (isSub ? "/negated" : "/reciprocal"))
            constants[name] = transformed
            try emit(scope, isSub ? .add : .mul, inputs: [left, name], output: output, shape: shape)
        case ("Sub", _, false):
            // a - b = a + (-1 · b)
            let minusOne = names.unique("\(scope.engineName)/minus_one")
            constants[minusOne] = Tensor(shape: [], data: [-1])
            let negated = names.unique("\(output)/negated")
            try emit(scope, .mul, inputs: [right, minusOne], output: negated, shape: rightShape, name: names.unique("\(scope.engineName)/negate"))
            try emit(scope, .add, inputs: [try engineOperand(scope, left), negated], output: output, shape: shape)
        case ("Div", _, false):
            // a / b = a · (1 / b)
            let reciprocal = names.unique("\(output)/reciprocal")
            try emit(
                scope, .activation(.reciprocal), inputs: [right], output: reciprocal, shape: rightShape,
                name: names.unique("\(scope.engineName)/reciprocal"))
            try emit(scope, .mul, inputs: [try engineOperand(scope, left), reciprocal], output: output, shape: shape)
        default:
            preconditionFailure("two constant operands were rejected above")
        }
    }

    /// Registers a constant operand of Add/Mul in `Graph.constants`; runtime operands pass through.
    private mutating func engineOperand(_ scope: NodeScope, _ name: String) throws -> String {
        guard isConstant(name) else { return name }
        if constants[name] == nil { constants[name] = try floatConstant(scope, name, "operand") }
        return name
    }

    // MARK: Pooling

    private mutating func windowGeometry(_ scope: NodeScope, input: [SymbolicInt], kernel: (Int, Int), ceilMode: Bool, allowDilation: Bool) throws
        -> (strides: (Int, Int), dilations: (Int, Int), pads: (top: Int, left: Int, bottom: Int, right: Int), output: (Int, Int))
    {
        let a = scope.attributes
        let strides = try a.ints("strides") ?? [1, 1]
        let dilations = try a.ints("dilations") ?? [1, 1]
        let pads = try a.ints("pads") ?? [0, 0, 0, 0]
        guard strides.count == 2, dilations.count == 2, pads.count == 4 else {
            throw scope.fail(.invalidGraph, "strides \(strides), dilations \(dilations) or pads \(pads) do not describe two spatial axes")
        }
        if !allowDilation, dilations != [1, 1] { throw scope.fail(.unsupportedOperator, "dilations \(dilations) are not supported for pooling") }
        guard let height = input[2].knownValue, let width = input[3].knownValue else {
            throw scope.fail(.invalidShape, "spatial size of input \(input) is not known")
        }
        let autoPad = try a.string("auto_pad", default: "NOTSET")
        let vertical = try ShapeRules.window(
            input: height, kernel: kernel.0, stride: strides[0], dilation: dilations[0],
            pads: (pads[0], pads[2]), autoPad: autoPad, ceilMode: ceilMode)
        let horizontal = try ShapeRules.window(
            input: width, kernel: kernel.1, stride: strides[1], dilation: dilations[1],
            pads: (pads[1], pads[3]), autoPad: autoPad, ceilMode: ceilMode)
        return (
            (strides[0], strides[1]), (dilations[0], dilations[1]),
            (vertical.pads.0, horizontal.pads.0, vertical.pads.1, horizontal.pads.1), (vertical.output, horizontal.output)
        )
    }

    private mutating func importPooling(_ scope: NodeScope) throws {
        let a = scope.attributes
        try refuseReadOutputs(scope, from: 1, "the Indices output")
        let x = try scope.requiredInput(0, "data")
        let shape = try runtimeShape(scope, x)
        guard shape.count == 4 else { throw scope.fail(.unsupportedOperator, "only 2-D pooling (rank-4 input) is supported, input is \(shape)") }
        guard let kernel = try a.ints("kernel_shape"), kernel.count == 2 else {
            throw scope.fail(.invalidGraph, "kernel_shape must give two spatial sizes")
        }
        let ceilMode = opset >= 10 ? try a.int("ceil_mode", default: 0) != 0 : false
        let geometry = try windowGeometry(scope, input: shape, kernel: (kernel[0], kernel[1]), ceilMode: ceilMode, allowDilation: false)
        if kernel[0] <= max(geometry.pads.top, geometry.pads.bottom) || kernel[1] <= max(geometry.pads.left, geometry.pads.right) {
            throw scope.fail(.invalidShape, "pads \(geometry.pads) must be smaller than the kernel \(kernel)")
        }
        let pooling = Pooling(
            kernel: (kernel[0], kernel[1]), strides: geometry.strides, pads: geometry.pads, ceilMode: ceilMode,
            countIncludePad: try a.int("count_include_pad", default: 0) != 0)
        try emit(
            scope, scope.op == "MaxPool" ? .maxPool(pooling) : .averagePool(pooling), inputs: [x], output: scope.output,
            shape: [shape[0], shape[1], .known(geometry.output.0), .known(geometry.output.1)])
    }

    /// ReduceMean over both spatial axes is a global average pool (what `x.mean([2, 3])` exports).
    private mutating func importReduceMean(_ scope: NodeScope) throws {
        let x = try scope.requiredInput(0, "data")
        let shape = try runtimeShape(scope, x)
        let axes = opset < 18 ? try scope.attributes.ints("axes") : try scope.input(1).map { try integerConstant(scope, $0, "axes") }
        let normalized = try Set((axes ?? []).map { try ShapeRules.axis($0, rank: shape.count) })
        guard shape.count == 4, normalized == [2, 3] else {
            throw scope.fail(.unsupportedOperator, "ReduceMean is supported over the spatial axes [2, 3] of a rank-4 tensor, not axes \(axes ?? []) of \(shape)")
        }
        let pooled: [SymbolicInt] = [shape[0], shape[1], .known(1), .known(1)]
        guard try scope.attributes.int("keepdims", default: 1) == 0 else {
            return try emit(scope, .globalAveragePool, inputs: [x], output: scope.output, shape: pooled)
        }
        let intermediate = names.unique("\(scope.output)/pooled")
        try emit(scope, .globalAveragePool, inputs: [x], output: intermediate, shape: pooled)
        let squeezed = Array(pooled[0..<2])
        try emit(
            scope, .reshape(shape: reshapeTarget(from: pooled, to: squeezed)), inputs: [intermediate], output: scope.output,
            shape: squeezed, name: names.unique("\(scope.engineName)/squeeze"))
    }

    /// ReduceMin / ReduceMax over one axis (axes an attribute before opset 18, an input since).
    private mutating func importReduceMinMax(_ scope: NodeScope) throws {
        let x = try scope.requiredInput(0, "data")
        let shape = try runtimeShape(scope, x)
        let axes = opset < 18 ? try scope.attributes.ints("axes") : try scope.input(1).map { try integerConstant(scope, $0, "axes") }
        guard let axes, axes.count == 1 else {
            throw scope.fail(.unsupportedOperator, "\(scope.op) is supported over one axis, not axes \(axes.map { "\($0)" } ?? "all")")
        }
        let axis = try ShapeRules.axis(axes[0], rank: shape.count)
        let reduction: Reduction = scope.op == "ReduceMin" ? .min : .max
        var kept = shape
        kept[axis] = .known(1)
        guard try scope.attributes.int("keepdims", default: 1) == 0 else {
            return try emit(scope, .reduce(reduction, axis: axis), inputs: [x], output: scope.output, shape: kept)
        }
        let intermediate = names.unique("\(scope.output)/kept")
        try emit(scope, .reduce(reduction, axis: axis), inputs: [x], output: intermediate, shape: kept)
        var squeezed = kept
        squeezed.remove(at: axis)
        try emit(
            scope, .reshape(shape: reshapeTarget(from: kept, to: squeezed)), inputs: [intermediate], output: scope.output,
            shape: squeezed, name: names.unique("\(scope.engineName)/squeeze"))
    }

    /// Resize of the spatial axes of an NCHW tensor, bilinear with half-pixel centres (the form PyTorch's
    /// interpolate(..., mode="bilinear", align_corners=False) exports). Other modes are refused by name.
    private mutating func importResize(_ scope: NodeScope) throws {
        guard opset >= 11 else { throw scope.fail(.unsupportedOperator, "Resize before opset 11 (Upsample-style) is not supported") }
        let a = scope.attributes
        let mode = try a.string("mode", default: "nearest")
        let transform = try a.string("coordinate_transformation_mode", default: "half_pixel")
        guard mode == "linear", ["half_pixel", "pytorch_half_pixel"].contains(transform) else {
            throw scope.fail(.unsupportedOperator, "Resize with mode \(mode) and coordinate_transformation_mode \(transform) is not supported; the engine resizes bilinearly with half-pixel centres (mode linear, half_pixel)")
        }
        if try a.int("antialias", default: 0) != 0 { throw scope.fail(.unsupportedOperator, "Resize with antialias is not supported") }
        if try a.ints("axes") != nil { throw scope.fail(.unsupportedOperator, "Resize with axes is not supported") }
        let x = try scope.requiredInput(0, "X")
        let shape = try runtimeShape(scope, x)
        guard shape.count == 4, let height = shape[2].knownValue, let width = shape[3].knownValue else {
            throw scope.fail(.unsupportedOperator, "Resize is supported on NCHW tensors of known size, not \(shape)")
        }
        let output: (height: Int, width: Int)
        if let sizesName = scope.input(3) {
            let sizes = try integerConstant(scope, sizesName, "sizes")
            guard sizes.count == 4, shape[0] == .known(sizes[0]) || shape[0].timesBatch, shape[1] == .known(sizes[1]) else {
                throw scope.fail(.unsupportedOperator, "Resize sizes \(sizes) change more than the spatial axes of \(shape)")
            }
            output = (sizes[2], sizes[3])
        } else if let scalesName = scope.input(2) {
            let scales = try floatConstant(scope, scalesName, "scales").data
            guard scales.count == 4, scales[0] == 1, scales[1] == 1 else {
                throw scope.fail(.unsupportedOperator, "Resize scales \(scales) change more than the spatial axes")
            }
            // Checked before the sizes are computed: a non-finite or huge scale has no whole size.
            guard scales[2...].allSatisfy({ $0.isFinite && $0 > 0 }), Float(height) * scales[2] < 1e7, Float(width) * scales[3] < 1e7 else {
                throw scope.fail(.invalidShape, "Resize scales \(scales) do not give a size for \(shape)")
            }
            output = (Int((Float(height) * scales[2]).rounded(.down)), Int((Float(width) * scales[3]).rounded(.down)))
            // With scales, ONNX samples at (i + 0.5) / scale - 0.5; the engine at (i + 0.5) * in / out - 0.5: the same only when out / in is the scale.
            guard Float(output.height) / Float(height) == scales[2], Float(output.width) / Float(width) == scales[3] else {
                throw scope.fail(.unsupportedOperator, "Resize scales \(scales) do not give whole sizes for \(shape); give sizes instead")
            }
        } else {
            throw scope.fail(.invalidGraph, "Resize needs scales or sizes")
        }
        guard output.height > 0, output.width > 0 else { throw scope.fail(.invalidShape, "Resize to \(output.width)x\(output.height)") }
        try emit(
            scope, .resize(height: output.height, width: output.width), inputs: [x], output: scope.output,
            shape: [shape[0], shape[1], .known(output.height), .known(output.width)])
    }

    // MARK: Shape-changing operators

    private mutating func importConcat(_ scope: NodeScope) throws {
        let inputs = scope.proto.input.filter { !$0.isEmpty }
        let shapes = try inputs.map { try runtimeShape(scope, $0) }
        guard let first = shapes.first, let axisAttribute = try scope.attributes.int("axis") else {
            throw scope.fail(.invalidGraph, "needs inputs and an axis")
        }
        let axis = try ShapeRules.axis(axisAttribute, rank: first.count)
        var result = first
        for shape in shapes.dropFirst() {
            guard shape.count == first.count, shape.indices.allSatisfy({ $0 == axis || shape[$0] == first[$0] }) else {
                throw scope.fail(.invalidShape, "inputs \(shapes) differ outside the concatenation axis \(axis)")
            }
            result[axis] = try result[axis] + shape[axis]
        }
        try emit(scope, .concat(axis: axis), inputs: inputs, output: scope.output, shape: result)
    }

    private mutating func importPad(_ scope: NodeScope) throws {
        let a = scope.attributes
        let mode = try a.string("mode", default: "constant")
        guard mode == "constant" else { throw scope.fail(.unsupportedOperator, "mode \(mode.debugDescription) is not supported, only constant padding") }
        let x = try scope.requiredInput(0, "data")
        let shape = try runtimeShape(scope, x)
        var pads: [Int]
        var value: Float = 0
        if opset < 11 {
            pads = try a.ints("pads") ?? []
            value = try a.float("value", default: 0)
        } else {
            pads = try integerConstant(scope, try scope.requiredInput(1, "pads"), "pads")
            if let valueName = scope.input(2) {
                let constantValue = try floatConstant(scope, valueName, "constant_value")
                guard constantValue.count == 1 else { throw scope.fail(.invalidShape, "constant_value must be a scalar") }
                value = constantValue.data[0]
            }
        }
        if let axesName = scope.input(3) {
            // Opset 18: pads cover only the listed axes.
            let axes = try integerConstant(scope, axesName, "axes").map { try ShapeRules.axis($0, rank: shape.count) }
            guard pads.count == 2 * axes.count else { throw scope.fail(.invalidShape, "\(pads.count) pads for \(axes.count) axes") }
            var full = Array(repeating: 0, count: 2 * shape.count)
            for (position, axis) in axes.enumerated() {
                full[axis] = pads[position]
                full[shape.count + axis] = pads[axes.count + position]
            }
            pads = full
        }
        guard pads.count == 2 * shape.count else { throw scope.fail(.invalidShape, "\(pads.count) pads for a rank-\(shape.count) input") }
        guard pads.allSatisfy({ $0 >= 0 }) else { throw scope.fail(.unsupportedOperator, "negative pads \(pads) (cropping) are not supported") }
        let result = try shape.indices.map { axis throws(SymbolicInt.Unrepresentable) in
            try (try shape[axis] + .known(pads[axis])) + .known(pads[shape.count + axis])
        }
        try emit(scope, .pad(pads: pads, value: value), inputs: [x], output: scope.output, shape: result)
    }

    func flattenAxis(_ axis: Int, rank: Int) throws -> Int {
        let normalized = axis < 0 ? axis + rank : axis
        guard (0...rank).contains(normalized) else { throw ShapeRules.Mismatch(reason: "flatten axis \(axis) is out of range for rank \(rank)") }
        return normalized
    }

    func flattened(_ shape: [SymbolicInt], axis: Int) throws -> [SymbolicInt] {
        guard let outer = SymbolicInt.product(shape[..<axis]), let inner = SymbolicInt.product(shape[axis...]) else {
            throw ShapeRules.Mismatch(reason: "cannot flatten \(shape)")
        }
        return [outer, inner]
    }

    private mutating func importReshape(_ scope: NodeScope) throws {
        let x = try scope.requiredInput(0, "data")
        let shape = try runtimeShape(scope, x)
        let targetName = try scope.requiredInput(1, "shape")
        guard let target = try constant(scope, targetName, "shape").integers else {
            throw scope.fail(.invalidTensor, "shape '\(targetName)' is not an integer tensor")
        }
        let allowZero = try scope.attributes.int("allowzero", default: 0) != 0
        let result = try reshaped(shape, to: target, allowZero: allowZero)
        // Keep the file's own 0 / -1 where they say it; resolve only what involves the batch.
        let engineTarget =
            target.allSatisfy({ !$0.timesBatch }) && !(allowZero && target.contains(.known(0)))
            ? target.map(\.coefficient) : reshapeTarget(from: shape, to: result)
        try emit(scope, .reshape(shape: engineTarget), inputs: [x], output: scope.output, shape: result)
    }

    /// ONNX Reshape rules: 0 copies the input dimension (unless allowzero), one -1 is inferred.
    func reshaped(_ shape: [SymbolicInt], to target: [SymbolicInt], allowZero: Bool) throws -> [SymbolicInt] {
        guard let total = SymbolicInt.product(shape) else { throw ShapeRules.Mismatch(reason: "cannot reshape \(shape)") }
        var result: [SymbolicInt] = []
        var inferred: Int?
        for (axis, dim) in target.enumerated() {
            switch dim {
            case .known(0) where !allowZero:
                guard axis < shape.count else { throw ShapeRules.Mismatch(reason: "target \(target) copies axis \(axis) of \(shape), which has no such axis") }
                result.append(shape[axis])
            case .known(-1):
                guard inferred == nil else { throw ShapeRules.Mismatch(reason: "target \(target) has more than one -1") }
                inferred = axis
                result.append(.known(1))
            case let value where value.coefficient < 0 || (value.coefficient == 0 && allowZero):
                throw ShapeRules.Mismatch(reason: "target \(target) has invalid dimension \(value)")
            default:
                result.append(dim)
            }
        }
        guard let known = SymbolicInt.product(result) else { throw ShapeRules.Mismatch(reason: "target \(target) cannot hold \(total) elements") }
        if let inferred {
            guard known.coefficient > 0, let missing = try? total / known, (try? missing * known) == total else {
                throw ShapeRules.Mismatch(reason: "cannot reshape \(shape) (\(total) elements) to \(target)")
            }
            result[inferred] = missing
        } else if known != total {
            throw ShapeRules.Mismatch(reason: "cannot reshape \(shape) (\(total) elements) to \(target) (\(known) elements)")
        }
        return result
    }

    /// Output shape of Squeeze / Unsqueeze: axes as an attribute before opset 13, as an input since.
    func squeezedOrUnsqueezed(_ scope: NodeScope, _ shape: [SymbolicInt]) throws -> [SymbolicInt] {
        let axes = opset < 13 ? try scope.attributes.ints("axes") : try scope.input(1).map { try integerConstant(scope, $0, "axes") }
        if scope.op == "Squeeze" {
            let squeezed = try Set((axes ?? shape.indices.filter { shape[$0] == .known(1) }).map { try ShapeRules.axis($0, rank: shape.count) })
            if let wrong = squeezed.first(where: { shape[$0] != .known(1) }) {
                throw ShapeRules.Mismatch(reason: "cannot squeeze axis \(wrong) of \(shape), its size is not 1")
            }
            return shape.indices.filter { !squeezed.contains($0) }.map { shape[$0] }
        }
        guard let axes else { throw scope.fail(.invalidGraph, "Unsqueeze needs axes") }
        let rank = shape.count + axes.count
        let inserted = try Set(axes.map { try ShapeRules.axis($0, rank: rank) })
        guard inserted.count == axes.count else { throw ShapeRules.Mismatch(reason: "axes \(axes) repeat an axis") }
        var remaining = shape.makeIterator()
        return (0..<rank).map { inserted.contains($0) ? .known(1) : remaining.next()! }
    }

    // MARK: Fully connected

    private mutating func importGemm(_ scope: NodeScope) throws {
        let a = scope.attributes
        guard try a.int("transA", default: 0) == 0 else {
            throw scope.fail(.unsupportedOperator, "transA = 1 is not supported (the engine multiplies the data as it comes)")
        }
        let x = try scope.requiredInput(0, "A")
        let shape = try runtimeShape(scope, x)
        let weight = try floatConstant(scope, try scope.requiredInput(1, "B"), "B")
        let transB = try a.int("transB", default: 0) != 0
        guard shape.count == 2, weight.shape.count == 2 else {
            throw scope.fail(.invalidShape, "Gemm needs a 2-D input and weight, got \(shape) and \(weight.shape)")
        }
        let (inFeatures, outFeatures) = transB ? (weight.shape[1], weight.shape[0]) : (weight.shape[0], weight.shape[1])
        guard shape[1] == .known(inFeatures) else {
            throw scope.fail(.invalidShape, "input \(shape) has \(shape[1]) features, weight \(weight.shape) (transB \(transB)) expects \(inFeatures)")
        }
        var bias: Tensor?
        if let biasName = scope.input(2) {
            let c = try floatConstant(scope, biasName, "C")
            // C broadcasts to [M, N]; the engine keeps one row of N (or a scalar repeated).
            guard c.shape.dropFirst(max(0, c.shape.count - 1)).allSatisfy({ $0 == outFeatures || $0 == 1 }),
                c.shape.dropLast().allSatisfy({ $0 == 1 })
            else {
                throw scope.fail(.unsupportedOperator, "bias C of shape \(c.shape) is not a row of \(outFeatures) or a scalar")
            }
            bias = Tensor(shape: [outFeatures], data: c.count == outFeatures ? c.data : Array(repeating: c.data[0], count: outFeatures))
        }
        var layer = FullyConnected(
            weight: weight, bias: bias, transB: transB, alpha: try a.float("alpha", default: 1),
            beta: try a.float("beta", default: 1))
        // Int8 weights per output feature (axis 0 of a transposed B), as for convolutions.
        if transB, let scales = try constant(scope, try scope.requiredInput(1, "B"), "B").symmetricInt8Scales {
            layer.weightScales = scales.count == 1 ? [Float](repeating: scales[0], count: outFeatures) : scales
        }
        try emit(scope, .fullyConnected(layer), inputs: [x], output: scope.output, shape: [shape[0], .known(outFeatures)])
    }

    private mutating func importMatMul(_ scope: NodeScope) throws {
        let x = try scope.requiredInput(0, "A")
        let shape = try runtimeShape(scope, x)
        let weight = try floatConstant(scope, try scope.requiredInput(1, "B"), "B")
        guard shape.count >= 2, weight.shape.count == 2, shape.last == .known(weight.shape[0]) else {
            throw scope.fail(.invalidShape, "MatMul of \(shape) by a constant \(weight.shape) is not supported; the engine needs a rank >= 2 input times a [K, N] matrix with matching K")
        }
        try emit(scope, .matMul(weight: weight), inputs: [x], output: scope.output, shape: shape.dropLast() + [.known(weight.shape[1])])
    }

    // MARK: Softmax, Identity, Dropout

    /// Before opset 13, Softmax treats the input as 2-D, flattened at `axis` (default 1); since 13 it
    /// works along one axis (default -1). The old form becomes Flatten, Softmax, Reshape.
    private mutating func importSoftmax(_ scope: NodeScope) throws {
        let x = try scope.requiredInput(0, "input")
        let shape = try runtimeShape(scope, x)
        let axis = try ShapeRules.axis(try scope.attributes.int("axis", default: opset < 13 ? 1 : -1), rank: shape.count)
        guard opset < 13, axis != shape.count - 1 else {
            return try emit(scope, .softmax(axis: axis), inputs: [x], output: scope.output, shape: shape)
        }
        let flat = try flattened(shape, axis: axis)
        let flatName = names.unique("\(scope.output)/flat"), softmaxName = names.unique("\(scope.output)/softmax")
        try emit(scope, .flatten(axis: axis), inputs: [x], output: flatName, shape: flat, name: names.unique("\(scope.engineName)/flatten"))
        try emit(scope, .softmax(axis: 1), inputs: [flatName], output: softmaxName, shape: flat)
        try emit(
            scope, .reshape(shape: reshapeTarget(from: flat, to: shape)), inputs: [softmaxName], output: scope.output, shape: shape,
            name: names.unique("\(scope.engineName)/unflatten"))
    }

    private mutating func importDropout(_ scope: NodeScope) throws {
        try refuseReadOutputs(scope, from: 1, "the mask output")
        if opset >= 12, let training = scope.input(2), try integerConstant(scope, training, "training_mode") != [0] {
            throw scope.fail(.unsupportedOperator, "training_mode is not a constant false; Auge imports models for inference")
        }
        let x = try scope.requiredInput(0, "data")
        try emit(scope, .identity, inputs: [x], output: scope.output, shape: try runtimeShape(scope, x))
    }

    /// Refuses nodes whose extra outputs (training statistics, masks, indices) are read by anything.
    private func refuseReadOutputs(_ scope: NodeScope, from position: Int, _ what: String) throws {
        for output in scope.proto.output.dropFirst(position) where !output.isEmpty && readers[output, default: 0] > 0 {
            throw scope.fail(.unsupportedOperator, "\(what) ('\(output)') is used, the engine does not compute it")
        }
    }

    /// Shape's output, sliced by the start / end attributes of opset 15.
    func shapeSlice(_ scope: NodeScope, _ shape: [SymbolicInt]) throws -> [SymbolicInt] {
        let rank = shape.count
        func clamp(_ value: Int) -> Int { min(max(value < 0 ? value + rank : value, 0), rank) }
        let start = clamp(try scope.attributes.int("start", default: 0))
        let end = clamp(try scope.attributes.int("end", default: rank))
        return start < end ? Array(shape[start..<end]) : []
    }
}
