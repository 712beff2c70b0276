/// Load-time evaluation of nodes whose inputs are all constant: Constant nodes, typed casts, and the
/// shape arithmetic PyTorch exports emit (Shape → Gather → Unsqueeze → Concat → Reshape and its kin).
extension GraphImporter {
    /// The node's outputs, or nil when the operator has no folding rule.
    mutating func fold(_ scope: NodeScope) throws -> [ConstantTensor]? {
        func input(_ position: Int) throws -> ConstantTensor {
            try constant(scope, try scope.requiredInput(position, "input \(position)"), "input \(position)")
        }
        let a = scope.attributes
        switch scope.op {
        case "Constant": return [try constantNodeValue(scope)]
        case "Identity", "Dropout": return [try input(0)]
        case "Cast": return [try cast(scope, try input(0))]
        case "Add", "Sub", "Mul", "Div": return [try elementwise(scope, try input(0), try input(1))]
        case "Shape": return [ConstantTensor(vector: try shapeSlice(scope, try input(0).shape.map(SymbolicInt.known)))]
        case "Reshape":
            let data = try input(0)
            guard let target = try input(1).integers else { throw scope.fail(.invalidTensor, "shape is not an integer tensor") }
            let shape = try reshaped(data.shape.map(SymbolicInt.known), to: target, allowZero: try a.int("allowzero", default: 0) != 0)
            return [data.reshaped(shape.map(\.coefficient))]
        case "Flatten":
            let data = try input(0)
            let axis = try flattenAxis(try a.int("axis", default: 1), rank: data.shape.count)
            return [data.reshaped(try flattened(data.shape.map(SymbolicInt.known), axis: axis).map(\.coefficient))]
        case "Squeeze", "Unsqueeze":
            let data = try input(0)
            return [data.reshaped(try squeezedOrUnsqueezed(scope, data.shape.map(SymbolicInt.known)).map(\.coefficient))]
        case "Gather": return [try gather(scope, try input(0), try input(1))]
        case "Slice": return [try slice(scope, try input(0))]
        case "Split": return try split(scope, try input(0))
        case "Concat": return [try concat(scope, try scope.proto.input.filter { !$0.isEmpty }.map { try constant(scope, $0, "input") })]
        case "ReduceProd": return [try reduceProduct(scope, try input(0))]
        case "DequantizeLinear", "QuantizeLinear":
            let zero = try scope.input(2).map { try constant(scope, $0, "zero point") }
            return scope.op == "DequantizeLinear"
                ? [try foldDequantize(scope, try input(0), scale: try input(1), zeroPoint: zero)]
                : [try foldQuantize(scope, try input(0), scale: try input(1), zeroPoint: zero)]
        default: return nil
        }
    }

    /// Folding builds index tables as large as its result; a file could grow a constant without
    /// bound (Concat of itself, broadcasting), so a computed result is capped before it is built.
    static let maximumFoldedElements = 1 << 24

    private func requireFoldable(_ scope: NodeScope, _ shape: [Int]) throws {
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= Self.maximumFoldedElements else {
                throw scope.fail(.limitExceeded, "folding at load time would build a constant of shape \(shape), more than \(Self.maximumFoldedElements) elements")
            }
            count = product
        }
    }

    private func constantNodeValue(_ scope: NodeScope) throws -> ConstantTensor {
        let a = scope.attributes
        if let tensor = try a.tensor("value") {
            return try TensorDecoder(file: file, maximumElements: maximumElements).decode(tensor, node: NodeScope.label(scope.proto, index: scope.index))
        }
        if let value = try a.float("value_float") { return ConstantTensor(shape: [], floats: [value]) }
        if let values = try a.floats("value_floats") { return ConstantTensor(shape: [values.count], floats: values) }
        if let value = try a.int("value_int") { return ConstantTensor(shape: [], integers: [.known(value)]) }
        if let values = try a.ints("value_ints") { return ConstantTensor(vector: values.map(SymbolicInt.known)) }
        throw scope.fail(.unsupportedOperator, "Constant holds no value Auge reads (value, value_float(s), value_int(s))")
    }

    private func cast(_ scope: NodeScope, _ value: ConstantTensor) throws -> ConstantTensor {
        let target = Onnx_TensorProto.DataType(rawValue: try scope.attributes.int("to") ?? 0)
        let value = value.widened
        switch (target, value.elements) {
        case (.float?, .floats), (.double?, .floats), (.int64?, .integers), (.int32?, .integers):
            return value
        case (.float?, .integers(let integers)), (.double?, .integers(let integers)):
            guard let known = value.knownIntegers else { throw scope.fail(.unsupportedOperator, "casts the batch size \(integers) to float") }
            return ConstantTensor(shape: value.shape, floats: known.map { Float($0) })
        case (.int64?, .floats(let floats)), (.int32?, .floats(let floats)):
            guard floats.allSatisfy({ $0.isFinite && abs($0) < 9e18 }) else { throw scope.fail(.invalidTensor, "casts non-finite or huge floats to integers") }
            return ConstantTensor(shape: value.shape, integers: floats.map { .known(Int($0)) })
        default:
            throw scope.fail(.unsupportedOperator, "casts to \(typeName(try scope.attributes.int("to") ?? 0)), Auge folds casts to FLOAT, DOUBLE, INT32 and INT64")
        }
    }

    private func elementwise(_ scope: NodeScope, _ left: ConstantTensor, _ right: ConstantTensor) throws -> ConstantTensor {
        try requireFoldable(scope, try ShapeRules.broadcast(left.shape.map(SymbolicInt.known), right.shape.map(SymbolicInt.known)).map(\.coefficient))
        let (shape, leftIndices, rightIndices) = try ShapeRules.broadcastIndices(left.shape, right.shape)
        switch (left.widened.elements, right.widened.elements) {
        case (.floats(let l), .floats(let r)):
            let operation: (Float, Float) -> Float =
                switch scope.op {
                case "Add": (+)
                case "Sub": (-)
                case "Mul": (*)
                default: (/)
                }
            return ConstantTensor(shape: shape, floats: zip(leftIndices, rightIndices).map { operation(l[$0], r[$1]) })
        case (.integers(let l), .integers(let r)):
            let results = try zip(leftIndices, rightIndices).map { i, j throws(SymbolicInt.Unrepresentable) -> SymbolicInt in
                switch scope.op {
                case "Add": try l[i] + r[j]
                case "Sub": try l[i] + (try -r[j])
                case "Mul": try l[i] * r[j]
                default: try l[i] / r[j]
                }
            }
            return ConstantTensor(shape: shape, integers: results)
        default:
            throw scope.fail(.invalidTensor, "mixes a float and an integer tensor")
        }
    }

    private func gather(_ scope: NodeScope, _ data: ConstantTensor, _ indices: ConstantTensor) throws -> ConstantTensor {
        let axis = try ShapeRules.axis(try scope.attributes.int("axis", default: 0), rank: data.shape.count)
        guard let positions = indices.knownIntegers else { throw scope.fail(.invalidTensor, "indices must be known integers") }
        let size = data.shape[axis]
        let normalized = try positions.map { position in
            let index = position < 0 ? position + size : position
            guard (0..<size).contains(index) else { throw ShapeRules.Mismatch(reason: "index \(position) is out of range for size \(size)") }
            return index
        }
        // Gathering along `axis` with a multi-dimensional index tensor: select, then lay the index dims in place.
        var selection = data.shape.map { Array(0..<$0) }
        selection[axis] = normalized
        let shape = Array(data.shape[..<axis]) + indices.shape + Array(data.shape[(axis + 1)...])
        try requireFoldable(scope, shape)
        return data.gathering(ShapeRules.selectIndices(shape: data.shape, selection), shape: shape)
    }

    /// Slice with starts/ends/axes as attributes before opset 10 and as inputs (plus steps) since.
    private func slice(_ scope: NodeScope, _ data: ConstantTensor) throws -> ConstantTensor {
        let rank = data.shape.count
        let starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if opset < 10 {
            starts = try scope.attributes.ints("starts") ?? []
            ends = try scope.attributes.ints("ends") ?? []
            axes = try scope.attributes.ints("axes")
            steps = nil
        } else {
            starts = try integerConstant(scope, try scope.requiredInput(1, "starts"), "starts")
            ends = try integerConstant(scope, try scope.requiredInput(2, "ends"), "ends")
            axes = try scope.input(3).map { try integerConstant(scope, $0, "axes") }
            steps = try scope.input(4).map { try integerConstant(scope, $0, "steps") }
        }
        let sliceAxes = try (axes ?? Array(0..<starts.count)).map { try ShapeRules.axis($0, rank: rank) }
        let sliceSteps = steps ?? Array(repeating: 1, count: starts.count)
        guard starts.count == ends.count, sliceAxes.count == starts.count, sliceSteps.count == starts.count else {
            throw scope.fail(.invalidGraph, "starts \(starts), ends \(ends), axes \(axes ?? []) and steps \(steps ?? []) differ in length")
        }
        var selection = data.shape.map { Array(0..<$0) }
        for (position, axis) in sliceAxes.enumerated() {
            let size = data.shape[axis], step = sliceSteps[position]
            guard step != 0 else { throw scope.fail(.invalidGraph, "a slice step is 0") }
            func resolve(_ value: Int, low: Int, high: Int) -> Int { min(max(value < 0 ? value + size : value, low), high) }
            let start = step > 0 ? resolve(starts[position], low: 0, high: size) : resolve(starts[position], low: -1, high: size - 1)
            let end = step > 0 ? resolve(ends[position], low: 0, high: size) : resolve(ends[position], low: -1, high: size - 1)
            selection[axis] = Array(stride(from: start, to: end, by: step))
        }
        return data.gathering(ShapeRules.selectIndices(shape: data.shape, selection), shape: selection.map(\.count))
    }

    /// Split sizes: an attribute before opset 13, an input since, or equal parts (num_outputs in opset 18).
    private func split(_ scope: NodeScope, _ data: ConstantTensor) throws -> [ConstantTensor] {
        let axis = try ShapeRules.axis(try scope.attributes.int("axis", default: 0), rank: data.shape.count)
        let size = data.shape[axis], parts = scope.proto.output.count
        let sizes: [Int]
        if let given = opset < 13 ? try scope.attributes.ints("split") : try scope.input(1).map({ try integerConstant(scope, $0, "split") }) {
            sizes = given
        } else {
            // Equal parts, the last one smaller when the size does not divide (opset 18).
            let chunk = (size + parts - 1) / max(parts, 1)
            sizes = (0..<parts).map { min(chunk, max(0, size - $0 * chunk)) }
        }
        guard sizes.count == parts, sizes.allSatisfy({ (0...size).contains($0) }), sizes.reduce(0, +) == size else {
            throw ShapeRules.Mismatch(reason: "split sizes \(sizes) do not cut axis \(axis) of size \(size) into \(parts) outputs")
        }
        var start = 0
        return sizes.map { length in
            var selection = data.shape.map { Array(0..<$0) }
            selection[axis] = Array(start..<(start + length))
            start += length
            return data.gathering(ShapeRules.selectIndices(shape: data.shape, selection), shape: selection.map(\.count))
        }
    }

    private func concat(_ scope: NodeScope, _ parts: [ConstantTensor]) throws -> ConstantTensor {
        guard let first = parts.first, let axisAttribute = try scope.attributes.int("axis") else { throw scope.fail(.invalidGraph, "needs inputs and an axis") }
        let axis = try ShapeRules.axis(axisAttribute, rank: first.shape.count)
        guard parts.allSatisfy({ part in part.shape.count == first.shape.count && part.shape.indices.allSatisfy { $0 == axis || part.shape[$0] == first.shape[$0] } }) else {
            throw ShapeRules.Mismatch(reason: "inputs \(parts.map(\.shape)) differ outside the concatenation axis \(axis)")
        }
        var shape = first.shape
        shape[axis] = parts.map { $0.shape[axis] }.reduce(0, +)
        try requireFoldable(scope, shape)
        let combined: ConstantTensor.Elements
        if let floats = parts.map(\.floats) as? [[Float]] {
            combined = .floats(floats.flatMap { $0 })
        } else if let integers = parts.map(\.integers) as? [[SymbolicInt]] {
            combined = .integers(integers.flatMap { $0 })
        } else {
            throw scope.fail(.invalidTensor, "concatenates float and integer tensors")
        }
        // Output element order: for each outer index, each part's slab in turn.
        let outer = first.shape[..<axis].reduce(1, *)
        var offsets: [Int] = [], offset = 0
        for part in parts {
            offsets.append(offset)
            offset += part.count
        }
        var indices: [Int] = []
        for o in 0..<outer {
            for (part, start) in zip(parts, offsets) {
                let slab = part.shape[axis...].reduce(1, *)
                indices.append(contentsOf: (start + o * slab)..<(start + (o + 1) * slab))
            }
        }
        return ConstantTensor(shape: [offset], elements: combined).gathering(indices, shape: shape)
    }

    /// ReduceProd over every axis, as PyTorch uses it to compute a flattened size.
    private func reduceProduct(_ scope: NodeScope, _ data: ConstantTensor) throws -> ConstantTensor {
        let axes = opset < 18 ? try scope.attributes.ints("axes") : try scope.input(1).map { try integerConstant(scope, $0, "axes") }
        let rank = data.shape.count
        guard let integers = data.integers, Set(try (axes ?? Array(0..<rank)).map { try ShapeRules.axis($0, rank: rank) }) == Set(0..<rank) else {
            throw scope.fail(.unsupportedOperator, "ReduceProd is folded only over all axes of an integer tensor")
        }
        guard let product = SymbolicInt.product(integers) else { throw ShapeRules.Mismatch(reason: "the product of \(integers) cannot be folded") }
        let keep = try scope.attributes.int("keepdims", default: 1) != 0
        return ConstantTensor(shape: keep ? Array(repeating: 1, count: rank) : [], integers: [product])
    }
}
