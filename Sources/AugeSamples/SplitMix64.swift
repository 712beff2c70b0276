/// A small seeded pseudo-random generator (Steele, Lea and Flood's SplitMix64). The samples must be
/// identical on every machine and Swift version, so all draws go through these few lines and none
/// through the standard library's algorithms.
public struct SplitMix64: Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    /// A generator for one independent stream, e.g. (seed, image index, purpose).
    public init(stream keys: UInt64...) {
        state = keys.reduce(0x243F_6A88_85A3_08D3) { SplitMix64.mix($0 ^ $1) }
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// Uniform in [0, 1), from the top 24 bits (all a Float holds).
    public mutating func unit() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    public mutating func uniform(_ range: ClosedRange<Float>) -> Float {
        range.lowerBound + (range.upperBound - range.lowerBound) * unit()
    }

    /// Uniform in 0..<count.
    public mutating func index(below count: Int) -> Int {
        Int(next() % UInt64(count))
    }

    public mutating func chance(_ probability: Float) -> Bool {
        unit() < probability
    }

    /// Approximately standard normal: the sum of four 16-bit uniforms, centred and scaled to unit
    /// variance (within ±3.5). Several times cheaper than Box-Muller, and free of libm differences.
    public mutating func gaussian() -> Float {
        let bits = next()
        let sum = (bits & 0xFFFF) + (bits >> 16 & 0xFFFF) + (bits >> 32 & 0xFFFF) + (bits >> 48)
        // Four uniforms on [0, 1) have mean 2 and variance 4/12.
        return (Float(sum) * 0x1p-16 - 2) * 1.7320508  // times √3
    }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
