import AugeEngine
@testable import AugeTrain
import XCTest

/// The trainer's GEMM (`multiply`: 6 x 16 tiles in SIMD8 pairs, 8-wide and single-column row tails,
/// K in blocks of 256) called directly on raw buffers, against a naive triple loop in Double. M, N and
/// K run over every tail; A is read plain and transposed; B and C have row strides wider than N. A's
/// and B's gaps hold NaN (never read), C's gaps a sentinel (never written).
final class GemmKernelTests: XCTestCase {
    static func random(_ count: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in generator.nextFloat(in: -1...1) }
    }

    /// Runs one product and checks it: |C - exact| <= (K + 3) eps sum |terms| (the worst-case rounding
    /// of the sum, plus the add of an accumulated block).
    func check(
        m: Int, n: Int, k: Int, transposedA: Bool, accumulate: Bool, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let a = Self.random(m * k, seed: seed), b = Self.random(k * n, seed: seed + 1), c0 = Self.random(m * n, seed: seed + 2)
        // Strides with gaps: A plain rows of k + 3, A transposed columns of m + 2, B rows of n + 5, C rows of n + 3.
        let (aRowStride, aColumnStride) = transposedA ? (1, m + 2) : (k + 3, 1)
        let (bRowStride, cRowStride) = (n + 5, n + 3)
        var aBuffer = [Float](repeating: .nan, count: transposedA ? k * aColumnStride : m * aRowStride)
        var bBuffer = [Float](repeating: .nan, count: k * bRowStride)
        let sentinel: Float = 4242
        var cBuffer = [Float](repeating: sentinel, count: m * cRowStride)
        for r in 0..<m { for q in 0..<k { aBuffer[r * aRowStride + q * aColumnStride] = a[r * k + q] } }
        for q in 0..<k { for j in 0..<n { bBuffer[q * bRowStride + j] = b[q * n + j] } }
        if accumulate { for r in 0..<m { for j in 0..<n { cBuffer[r * cRowStride + j] = c0[r * n + j] } } }
        aBuffer.withUnsafeBufferPointer { aPointer in
            bBuffer.withUnsafeBufferPointer { bPointer in
                cBuffer.withUnsafeMutableBufferPointer { cPointer in
                    multiply(
                        m: m, n: n, k: k, a: aPointer.baseAddress!, aRowStride: aRowStride, aColumnStride: aColumnStride,
                        b: bPointer.baseAddress!, bRowStride: bRowStride, c: cPointer.baseAddress!, cRowStride: cRowStride,
                        accumulate: accumulate)
                }
            }
        }
        let label = "multiply m \(m) n \(n) k \(k)\(transposedA ? " transposed A" : "")\(accumulate ? " accumulating" : "")"
        for r in 0..<m {
            for j in 0..<n {
                var exact = accumulate ? Double(c0[r * n + j]) : 0, magnitude = abs(exact)
                for q in 0..<k {
                    let term = Double(a[r * k + q]) * Double(b[q * n + j])
                    exact += term
                    magnitude += abs(term)
                }
                let actual = cBuffer[r * cRowStride + j]
                let bound = Double(k + 3) * Double(Float.ulpOfOne) * magnitude + 1e-30
                guard abs(Double(actual) - exact) <= bound else {
                    XCTFail("\(label): C[\(r), \(j)] is \(actual), expected \(exact) (bound \(bound))", file: file, line: line)
                    return
                }
            }
            for j in n..<cRowStride where cBuffer[r * cRowStride + j] != sentinel {
                XCTFail("\(label): C[\(r), \(j)] (past N) was written", file: file, line: line)
                return
            }
        }
    }

    func testMultiplyEveryTail() {
        let columnCounts = [1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 40, 48]
        let depths = [1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 33, 37]
        var index: UInt64 = 0
        for m in 1...13 {
            for n in columnCounts {
                for k in depths {
                    index += 1
                    check(m: m, n: n, k: k, transposedA: index % 2 == 0, accumulate: index % 3 == 0, seed: index * 10)
                }
            }
        }
        XCTAssertEqual(index, 13 * 15 * 12)
    }

    /// K beyond one 256-deep block: the second block accumulates onto the first one's stores.
    func testMultiplyAcrossDepthBlocks() {
        var seed: UInt64 = 50_000
        for m in [1, 5, 6, 7, 13] {
            for n in [3, 16, 17, 40] {
                for k in [255, 256, 257, 300, 513] {
                    for (transposedA, accumulate) in [(false, false), (true, true)] {
                        seed += 10
                        check(m: m, n: n, k: k, transposedA: transposedA, accumulate: accumulate, seed: seed)
                    }
                }
            }
        }
    }
}
