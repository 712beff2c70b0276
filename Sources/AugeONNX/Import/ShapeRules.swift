/// Shape arithmetic shared by the importer's folding and its shape checks.
enum ShapeRules {
    struct Mismatch: Error {
        let reason: String
    }

    /// Numpy broadcasting. A dimension broadcasts only from a known 1; the batch never broadcasts
    /// against a different size.
    static func broadcast(_ a: [SymbolicInt], _ b: [SymbolicInt]) throws(Mismatch) -> [SymbolicInt] {
        let rank = max(a.count, b.count)
        let padA = Array(repeating: SymbolicInt.known(1), count: rank - a.count) + a
        let padB = Array(repeating: SymbolicInt.known(1), count: rank - b.count) + b
        return try zip(padA, padB).map { (x, y) throws(Mismatch) -> SymbolicInt in
            if x == y || y == .known(1) { return x }
            if x == .known(1) { return y }
            throw Mismatch(reason: "shapes \(a) and \(b) do not broadcast (\(x) against \(y))")
        }
    }

    /// For every element of the broadcast result, the flat index into each operand.
    static func broadcastIndices(_ a: [Int], _ b: [Int]) throws(Mismatch) -> (shape: [Int], a: [Int], b: [Int]) {
        let shape = try broadcast(a.map(SymbolicInt.known), b.map(SymbolicInt.known)).map(\.coefficient)
        return (shape, sourceIndices(from: a, to: shape), sourceIndices(from: b, to: shape))
    }

    /// Flat indices into a tensor of `shape` read when it is broadcast to `target`.
    private static func sourceIndices(from shape: [Int], to target: [Int]) -> [Int] {
        let padded = Array(repeating: 1, count: target.count - shape.count) + shape
        let strides = rowMajorStrides(padded).enumerated().map { padded[$0.offset] == 1 ? 0 : $0.element }
        var indices = [0]
        for (axis, size) in target.enumerated() {
            indices = indices.flatMap { base in (0..<size).map { base + $0 * strides[axis] } }
        }
        return indices
    }

    static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = Array(repeating: 1, count: shape.count)
        for axis in shape.indices.reversed().dropFirst() { strides[axis] = strides[axis + 1] * shape[axis + 1] }
        return strides
    }

    /// Flat indices of the sub-tensor taking `indices[axis]` along each axis (row-major order).
    static func selectIndices(shape: [Int], _ indices: [[Int]]) -> [Int] {
        let strides = rowMajorStrides(shape)
        var flat = [0]
        for (axis, chosen) in indices.enumerated() {
            flat = flat.flatMap { base in chosen.map { base + $0 * strides[axis] } }
        }
        return flat
    }

    /// Normalises a possibly negative axis against `rank`.
    static func axis(_ axis: Int, rank: Int) throws(Mismatch) -> Int {
        let normalized = axis < 0 ? axis + rank : axis
        guard (0..<rank).contains(normalized) else { throw Mismatch(reason: "axis \(axis) is out of range for rank \(rank)") }
        return normalized
    }

    /// Window geometry of Conv and pooling along one spatial axis: resolves auto_pad and returns the
    /// padding and output size, refusing windows that do not fit.
    static func window(
        input: Int, kernel: Int, stride: Int, dilation: Int, pads: (Int, Int), autoPad: String,
        ceilMode: Bool
    ) throws(Mismatch) -> (pads: (Int, Int), output: Int) {
        guard kernel > 0, stride > 0, dilation > 0 else {
            throw Mismatch(reason: "kernel \(kernel), stride \(stride) and dilation \(dilation) must be positive")
        }
        // Far beyond any real layer; keeps the arithmetic below from overflowing.
        let sane = 0...(1 << 30)
        guard [kernel, stride, dilation, pads.0, pads.1].allSatisfy({ sane.contains($0) || $0 < 0 }) else {
            throw Mismatch(reason: "kernel \(kernel), stride \(stride), dilation \(dilation) or pads \(pads) are absurdly large")
        }
        let span = dilation * (kernel - 1) + 1
        var (begin, end) = pads
        switch autoPad {
        case "NOTSET":
            guard begin >= 0, end >= 0 else { throw Mismatch(reason: "negative pads \(pads)") }
        case "VALID":
            (begin, end) = (0, 0)
        case "SAME_UPPER", "SAME_LOWER":
            let output = (input + stride - 1) / stride
            let total = max(0, (output - 1) * stride + span - input)
            begin = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
            end = total - begin
        default:
            throw Mismatch(reason: "auto_pad \(autoPad.debugDescription) is not NOTSET, VALID, SAME_UPPER or SAME_LOWER")
        }
        let padded = input + begin + end
        guard padded >= span else {
            throw Mismatch(reason: "a window of \(span) does not fit the input size \(input) padded to \(padded)")
        }
        var output = (padded - span) / stride + 1
        // Ceil mode adds a last partial window, unless that window would start inside the end padding.
        if ceilMode, (padded - span) % stride != 0, output * stride < input + begin { output += 1 }
        return ((begin, end), output)
    }
}
