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

    /// Finishes and stores the first `count` (1...6) vectors of a register tile (or of any run of
    /// output pixels `stride` apart; unused vectors of the tuple may repeat a used one): pixel i at
    /// `output + i * stride`, element offset `offset + i * stride`, `lanes` lanes each. One call per
    /// tile rather than one per vector (the stores of a 16-input-channel 1x1 tile cost as much as its
    /// multiplications).
    @inline(never)
    func store(_ tile: TileAccumulators, count: Int, output: UnsafeMutablePointer<Float>, offset: Int, stride: Int, lanes: Int) {
        storeVector(apply(tile.0, offset: offset), output, lanes: lanes)
        if count > 1 { storeVector(apply(tile.1, offset: offset &+ stride), output + stride, lanes: lanes) }
        if count > 2 { storeVector(apply(tile.2, offset: offset &+ 2 &* stride), output + 2 &* stride, lanes: lanes) }
        if count > 3 { storeVector(apply(tile.3, offset: offset &+ 3 &* stride), output + 3 &* stride, lanes: lanes) }
        if count > 4 { storeVector(apply(tile.4, offset: offset &+ 4 &* stride), output + 4 &* stride, lanes: lanes) }
        if count > 5 { storeVector(apply(tile.5, offset: offset &+ 5 &* stride), output + 5 &* stride, lanes: lanes) }
    }

    @inline(never) private func applyGeneral(_ accumulator: Vector, offset: Int) -> Vector {
        var value = accumulator
        if let activation { value = activation.apply(value) }
        if let residual { value += loadVector(residual + offset) }
        if let postActivation { value = postActivation.apply(value) }
        return value
    }
}
