// The fused tail of a producing kernel: bias, activation, residual Add and an activation after the Add.

struct Epilogue {
    var activation: Activation?
    /// Channels-last tensor of the output's layout, added after `activation`.
    var residual: UnsafePointer<Float>?
    var postActivation: Activation?

    /// Finishes one vector of accumulators; `offset` is the element offset of the vector in the output.
    @inline(__always) func apply(_ accumulator: Vector, offset: Int) -> Vector {
        var value = accumulator
        if let activation { value = activation.apply(value) }
        if let residual { value += loadVector(residual + offset) }
        if let postActivation { value = postActivation.apply(value) }
        return value
    }
}
