import Foundation

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

    /// Standard normal, by the Box-Muller transform.
    public mutating func gaussian() -> Float {
        let u = 1 - unit()  // in (0, 1], so the logarithm is finite
        return (-2 * log(u)).squareRoot() * cos(2 * Float.pi * unit())
    }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
