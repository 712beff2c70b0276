// The fused tail of a producing kernel: bias, activation, residual Add and an activation after the Add.

struct Epilogue {
    let activation: Activation?
    /// Channels-last tensor of the output's layout, added after `activation`.
    let residual: UnsafePointer<Float>?
    let postActivation: Activation?
    /// The common tails (none, ReLU, ReLU6 / Clip) as bounds, applied inline: the general path holds
    /// every activation and is too large to inline into each kernel's stores (it stayed an outlined
    /// call per stored vector, a quarter of a 1x1 layer's time on 16 input channels).
    private let bounds: (lower: Float, upper: Float)?

    init(activation: Activation?, residual: UnsafePointer<Float>?, postActivation: Activation?) {
        self.activation = activation
        self.residual = residual
        self.postActivation = postActivation
        switch (activation, residual, postActivation) {
        case (nil, nil, nil): bounds = (-.infinity, .infinity)
        case (.relu?, nil, nil): bounds = (0, .infinity)
        case let (.clip(lower, upper)?, nil, nil): bounds = (lower, upper)
        default: bounds = nil
        }
    }

    /// Finishes one vector of accumulators; `offset` is the element offset of the vector in the output.
    @inline(__always) func apply(_ accumulator: Vector, offset: Int) -> Vector {
        if let bounds { return vectorClamp(accumulator, bounds.lower, bounds.upper) }
        return applyGeneral(accumulator, offset: offset)
    }

    @inline(never) private func applyGeneral(_ accumulator: Vector, offset: Int) -> Vector {
        var value = accumulator
        if let activation { value = activation.apply(value) }
        if let residual { value += loadVector(residual + offset) }
        if let postActivation { value = postActivation.apply(value) }
        return value
    }
}
