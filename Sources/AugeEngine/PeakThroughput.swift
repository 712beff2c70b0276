// A measured FMA peak of this CPU, to put achieved GFLOP/s in context (`auge bench --profile`).

import AugeInt8
import Foundation

public enum PeakThroughput {
    /// GFLOP/s of one thread running independent vector FMAs that stay in registers (12 chains of
    /// SIMD8, enough to cover the FMA latency on two pipes). Counted as 2 FLOP per lane per FMA.
    /// Measured for about `duration` seconds; the best of several slices is kept (noise only slows down).
    public static func measureOneThread(duration: Double = 0.2) -> Double {
        let iterations = 200_000
        var best = 0.0
        let end = DispatchTime.now().uptimeNanoseconds + UInt64(duration * 1e9)
        var sink = SIMD8<Float>(repeating: 0)
        repeat {
            let start = DispatchTime.now().uptimeNanoseconds
            sink += fmaChains(iterations)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = max(best, Double(iterations) * 12 * 8 * 2 / seconds / 1e9)
        } while DispatchTime.now().uptimeNanoseconds < end
        // Keep the result observable so the loop is not optimised away.
        if sink.sum().isNaN { print("") }
        return best
    }

    /// G int8 multiply-accumulates per second of one thread running independent vpdpbusd on registers
    /// (64 per instruction), the best of slices over about `duration` seconds; nil without the VNNI kernel.
    package static func measureInt8OneThread(duration: Double = 0.2) -> Double? {
        guard Int8GemmPath.isAvailable(.avx512VNNI) else { return nil }
        let iterations = 100_000
        var best = 0.0, sink: Int32 = 0
        let end = DispatchTime.now().uptimeNanoseconds + UInt64(duration * 1e9)
        repeat {
            let start = DispatchTime.now().uptimeNanoseconds
            sink &+= int8PeakLoopVNNI(iterations)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = max(best, Double(iterations) * 16 * 64 / seconds / 1e9)
        } while DispatchTime.now().uptimeNanoseconds < end
        if sink == 42 { print("") }
        return best
    }

    @inline(never)
    private static func fmaChains(_ iterations: Int) -> SIMD8<Float> {
        let a = SIMD8<Float>(repeating: 0.999_999), b = SIMD8<Float>(repeating: 1e-7)
        var c0 = SIMD8<Float>(repeating: 1), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0
        var c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0
        for _ in 0..<iterations {
            c0 = b.addingProduct(c0, a); c1 = b.addingProduct(c1, a); c2 = b.addingProduct(c2, a)
            c3 = b.addingProduct(c3, a); c4 = b.addingProduct(c4, a); c5 = b.addingProduct(c5, a)
            c6 = b.addingProduct(c6, a); c7 = b.addingProduct(c7, a); c8 = b.addingProduct(c8, a)
            c9 = b.addingProduct(c9, a); c10 = b.addingProduct(c10, a); c11 = b.addingProduct(c11, a)
        }
        return c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11
    }
}
