/// An integer known at load time up to the batch size N: `coefficient`, or `coefficient × N`.
/// Tensor dimensions and the elements of folded shape tensors are both of this kind, which is what
/// lets `Shape → Gather → Unsqueeze → Concat → Reshape` fold with an open batch.
struct SymbolicInt: Hashable, CustomStringConvertible {
    var coefficient: Int
    var timesBatch: Bool

    static func known(_ value: Int) -> SymbolicInt { SymbolicInt(coefficient: value, timesBatch: false) }
    static let batch = SymbolicInt(coefficient: 1, timesBatch: true)

    var knownValue: Int? { timesBatch ? nil : coefficient }

    var description: String {
        guard timesBatch else { return String(coefficient) }
        return coefficient == 1 ? "N" : "\(coefficient)N"
    }

    /// Why an arithmetic result cannot be expressed as `c` or `c × N`.
    struct Unrepresentable: Error {
        let reason: String
    }

    static func + (a: SymbolicInt, b: SymbolicInt) throws(Unrepresentable) -> SymbolicInt {
        if b == .known(0) { return a }
        if a == .known(0) { return b }
        guard a.timesBatch == b.timesBatch else { throw Unrepresentable(reason: "\(a) + \(b) mixes the batch size with a constant") }
        let (sum, overflow) = a.coefficient.addingReportingOverflow(b.coefficient)
        guard !overflow else { throw Unrepresentable(reason: "\(a) + \(b) overflows") }
        return SymbolicInt(coefficient: sum, timesBatch: a.timesBatch)
    }

    static func * (a: SymbolicInt, b: SymbolicInt) throws(Unrepresentable) -> SymbolicInt {
        guard !(a.timesBatch && b.timesBatch) else { throw Unrepresentable(reason: "\(a) × \(b) squares the batch size") }
        let (product, overflow) = a.coefficient.multipliedReportingOverflow(by: b.coefficient)
        guard !overflow else { throw Unrepresentable(reason: "\(a) × \(b) overflows") }
        return SymbolicInt(coefficient: product, timesBatch: a.timesBatch || b.timesBatch)
    }

    static prefix func - (a: SymbolicInt) throws(Unrepresentable) -> SymbolicInt {
        try a * .known(-1)
    }

    /// Integer division as ONNX Div does it on integers (truncating); with N only where exact.
    static func / (a: SymbolicInt, b: SymbolicInt) throws(Unrepresentable) -> SymbolicInt {
        guard b.coefficient != 0 else { throw Unrepresentable(reason: "\(a) / \(b) divides by zero") }
        switch (a.timesBatch, b.timesBatch) {
        case (false, false): return .known(a.coefficient / b.coefficient)
        case (true, true) where a.coefficient % b.coefficient == 0: return .known(a.coefficient / b.coefficient)
        case (true, false) where a.coefficient % b.coefficient == 0:
            return SymbolicInt(coefficient: a.coefficient / b.coefficient, timesBatch: true)
        default: throw Unrepresentable(reason: "\(a) / \(b) depends on the batch size in a way that cannot be folded")
        }
    }

    /// The product of dimensions, nil when it does not fit.
    static func product(_ dims: some Sequence<SymbolicInt>) -> SymbolicInt? {
        var result = SymbolicInt.known(1)
        for dim in dims {
            guard let next = try? result * dim else { return nil }
            result = next
        }
        return result
    }
}
