import Foundation

/// A small, fast generator whose sequence depends only on the seed (Steele, Lea and Flood's SplitMix64),
/// so seeded weights, training runs, test data and the synthetic sample photos repeat exactly on every
/// machine and Swift version: all their draws go through these few lines, none through the standard
/// library's algorithms. The one seeded generator of the engine, the trainer, the samples and the tests.
/// (Its own module because the samples depend only on the image code and the engine not on it.)
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    @usableFromInline var state: UInt64

    @inlinable
    public init(seed: UInt64) {
        state = seed
    }

    /// A generator for one independent stream, e.g. (seed, image index, purpose).
    @inlinable
    public init(stream keys: UInt64...) {
        state = keys.reduce(0x243F_6A88_85A3_08D3) { SeededGenerator.mix($0 ^ $1) }
    }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SeededGenerator.mix(state)
    }

    /// SplitMix64's output function: a well-mixed hash of one 64-bit value.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 24 bits (all a Float holds).
    @inlinable
    public mutating func nextUnit() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// Uniform in `range`.
    @inlinable
    public mutating func nextFloat(in range: ClosedRange<Float>) -> Float {
        range.lowerBound + (range.upperBound - range.lowerBound) * nextUnit()
    }

    /// Uniform in 0..<count.
    @inlinable
    public mutating func nextIndex(below count: Int) -> Int {
        Int(next() % UInt64(count))
    }

    /// True with the given probability.
    @inlinable
    public mutating func nextChance(_ probability: Float) -> Bool {
        nextUnit() < probability
    }

    /// Standard normal (Box-Muller).
    @inlinable
    public mutating func nextGaussian() -> Float {
        let u1 = max(nextUnit(), 1e-7)
        let u2 = nextUnit()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    /// Approximately standard normal: the sum of four 16-bit uniforms, centred and scaled to unit
    /// variance (within ±3.5). Several times cheaper than Box-Muller, and free of libm differences
    /// (the sample photos' sensor noise; weights and training keep `nextGaussian`, so both stay as they were).
    @inlinable
    public mutating func nextApproximateGaussian() -> Float {
        let bits = next()
        let sum = (bits & 0xFFFF) + (bits >> 16 & 0xFFFF) + (bits >> 32 & 0xFFFF) + (bits >> 48)
        // Four uniforms on [0, 1) have mean 2 and variance 4/12.
        return (Float(sum) * 0x1p-16 - 2) * 1.7320508  // times √3
    }

    /// An independent generator for one item of a batch, so work can be split across threads without
    /// the split changing the random numbers.
    @inlinable
    public func derived(_ index: Int) -> SeededGenerator {
        var copy = SeededGenerator(seed: state ^ (UInt64(truncatingIfNeeded: index) &* 0xD6E8_FEB8_6659_FD93))
        _ = copy.next()
        return copy
    }
}
