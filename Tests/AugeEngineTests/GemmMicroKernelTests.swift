import XCTest
@testable import AugeEngine

/// The engine's GEMM micro-kernels called directly on raw buffers, against a naive triple loop in
/// Double: `multiplyTile` (6 rows x 16 columns, the heart of every non-depthwise convolution but
/// Winograd's) stored through `Epilogue.store`, and `FullyConnectedStep` (1 row x 16 columns, K
/// unrolled by 4). M, N and K run over every tail of the tiles. Memory the kernels must not read holds
/// NaN, memory they must not write holds a sentinel.
final class GemmMicroKernelTests: XCTestCase {
    static let rowCounts = Array(1...13)
    static let columnCounts = [1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40]
    static let depths = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 23, 31, 32, 33, 37]

    /// |actual - exact| <= (K + 2) eps sum |terms|: the worst-case rounding of a K-term float sum (with a
    /// floor for sums that are exactly 0).
    static func assertProduct(
        _ actual: [Float], _ exact: [Double], magnitudes: [Double], k: Int, _ label: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        for i in exact.indices {
            let bound = Double(k + 2) * Double(Float.ulpOfOne) * magnitudes[i] + 1e-30
            if !(abs(Double(actual[i]) - exact[i]) <= bound) {
                XCTFail("\(label): element \(i) is \(actual[i]), expected \(exact[i]) (bound \(bound))", file: file, line: line)
                return
            }
        }
    }

    /// C = A (m x k) * B (k x n) + bias through `multiplyTile`. K is walked as `taps.rows` x
    /// `taps.columns` runs of `taps.inner` values: A's rows hold NaN between the runs (one float after
    /// each run, two more after each row of runs), so a wrong offset shows; B is packed in 16-wide
    /// blocks whose unused lanes hold NaN (lanes must not mix).
    func tileProduct(
        m: Int, n: Int, taps: (rows: Int, columns: Int, inner: Int), a: [Float], b: [Float], bias: [Float],
        prefetch: Bool
    ) -> [Float] {
        let k = taps.rows * taps.columns * taps.inner
        let tapColumnStep = taps.inner + 1, tapRowStep = taps.columns * tapColumnStep + 2
        let rowLength = taps.rows * tapRowStep
        let spreadA = AlignedBuffer(count: m * rowLength)
        spreadA.pointer.update(repeating: .nan, count: m * rowLength)
        for r in 0..<m {
            for q in 0..<k {
                let (ky, kx, i) = (q / (taps.columns * taps.inner), (q / taps.inner) % taps.columns, q % taps.inner)
                spreadA.pointer[r * rowLength + ky * tapRowStep + kx * tapColumnStep + i] = a[r * k + q]
            }
        }
        let blocks = (n + vectorWidth - 1) / vectorWidth
        let packed = AlignedBuffer(count: blocks * k * vectorWidth)
        for block in 0..<blocks {
            for q in 0..<k {
                for lane in 0..<vectorWidth {
                    let column = block * vectorWidth + lane
                    packed.pointer[(block * k + q) * vectorWidth + lane] = column < n ? b[q * n + column] : .nan
                }
            }
        }
        let prefetched = AlignedBuffer(count: k * vectorWidth)
        let sentinel: Float = 12_345
        var c = [Float](repeating: sentinel, count: m * n + vectorWidth)
        let epilogue = Epilogue(activation: nil, residual: nil, postActivation: nil)
        c.withUnsafeMutableBufferPointer { output in
            for block in 0..<blocks {
                var biasVector = Vector(repeating: .nan)
                for lane in 0..<min(vectorWidth, n - block * vectorWidth) { biasVector[lane] = bias[block * vectorWidth + lane] }
                var row = 0
                while row < m {
                    let count = min(6, m - row), last = count - 1
                    func pointer(_ index: Int) -> UnsafePointer<Float> { UnsafePointer(spreadA.pointer + (row + min(index, last)) * rowLength) }
                    let tile = multiplyTile(
                        (pointer(0), pointer(1), pointer(2), pointer(3), pointer(4), pointer(5)),
                        kernelRows: taps.rows, tapRowStep: tapRowStep, tapColumns: taps.columns,
                        tapColumnStep: tapColumnStep, inner: taps.inner, weights: packed.pointer + block * k * vectorWidth,
                        initial: (biasVector, biasVector, biasVector, biasVector, biasVector, biasVector),
                        prefetching: prefetch ? UnsafeRawPointer(prefetched.pointer) : nil)
                    let offset = row * n + block * vectorWidth
                    epilogue.store(
                        tile, count: count, output: output.baseAddress! + offset, offset: offset, stride: n,
                        lanes: min(vectorWidth, n - block * vectorWidth))
                    row += count
                }
            }
        }
        XCTAssert(c[(m * n)...].allSatisfy { $0 == sentinel }, "multiplyTile m \(m) n \(n): a store past C's end")
        return Array(c[..<(m * n)])
    }

    /// The exact product (+ bias) and the sum of the magnitudes of its terms.
    static func exactProduct(m: Int, n: Int, k: Int, a: [Float], b: [Float], bias: [Float]) -> (values: [Double], magnitudes: [Double]) {
        var values = [Double](repeating: 0, count: m * n), magnitudes = values
        for r in 0..<m {
            for j in 0..<n {
                var sum = Double(bias[j]), magnitude = abs(Double(bias[j]))
                for q in 0..<k {
                    let term = Double(a[r * k + q]) * Double(b[q * n + j])
                    sum += term
                    magnitude += abs(term)
                }
                values[r * n + j] = sum
                magnitudes[r * n + j] = magnitude
            }
        }
        return (values, magnitudes)
    }

    /// Ways of walking K in taps (rows x columns x inner), chosen from K's divisors.
    static func tapShapes(_ k: Int) -> [(rows: Int, columns: Int, inner: Int)] {
        var shapes: [(rows: Int, columns: Int, inner: Int)] = [(1, 1, k)]
        for rows in 1...min(k, 5) where k % rows == 0 {
            for columns in 1...min(k / rows, 5) where (k / rows) % columns == 0 && rows * columns > 1 {
                shapes.append((rows, columns, k / (rows * columns)))
            }
        }
        return shapes
    }

    func testMultiplyTileEveryTail() {
        var products = 0
        for m in Self.rowCounts {
            for (columnIndex, n) in Self.columnCounts.enumerated() {
                for (depthIndex, k) in Self.depths.enumerated() {
                    let seed = UInt64(m * 10_000 + n * 100 + k)
                    let a = randomTensor([m * k], seed: seed).data, b = randomTensor([k * n], seed: seed + 1).data
                    let bias = randomTensor([n], seed: seed + 2).data
                    let exact = Self.exactProduct(m: m, n: n, k: k, a: a, b: b, bias: bias)
                    let shapes = Self.tapShapes(k)
                    let taps = shapes[(m + columnIndex + depthIndex) % shapes.count]
                    let actual = tileProduct(m: m, n: n, taps: taps, a: a, b: b, bias: bias, prefetch: (m + k) % 2 == 0)
                    Self.assertProduct(actual, exact.values, magnitudes: exact.magnitudes, k: k, "multiplyTile m \(m) n \(n) k \(k) taps \(taps)")
                    products += 1
                }
            }
        }
        XCTAssertEqual(products, 13 * 14 * 18)
    }

    func testFullyConnectedStepEveryTail() {
        let pools = [ThreadPool(threads: 1), ThreadPool(threads: 2)]
        for m in Self.rowCounts {
            for (columnIndex, n) in Self.columnCounts.enumerated() {
                for k in Self.depths + [64, 257] {
                    let seed = UInt64(m * 100_000 + n * 1000 + k)
                    let a = randomTensor([m * k], seed: seed).data, w = randomTensor([k * n], seed: seed + 1).data
                    let bias = randomTensor([n], seed: seed + 2).data
                    let exact = Self.exactProduct(m: m, n: n, k: k, a: a, b: w, bias: bias)
                    let sentinel: Float = -777
                    let input = AlignedBuffer(count: m * k), output = AlignedBuffer(count: m * n + vectorWidth)
                    input.pointer.update(from: a, count: m * k)
                    output.pointer.update(repeating: sentinel, count: m * n + vectorWidth)
                    let step = FullyConnectedStep(
                        rows: m, inFeatures: k, outFeatures: n, weight: { w[$0 * n + $1] }, biasValue: { bias[$1] },
                        input: input.pointer, output: output.pointer)
                    step.execute(pool: pools[(m + columnIndex) % 2])
                    let actual = Array(UnsafeBufferPointer(start: output.pointer, count: m * n))
                    Self.assertProduct(actual, exact.values, magnitudes: exact.magnitudes, k: k, "FullyConnectedStep m \(m) n \(n) k \(k)")
                    XCTAssert(
                        UnsafeBufferPointer(start: output.pointer + m * n, count: vectorWidth).allSatisfy { $0 == sentinel },
                        "FullyConnectedStep m \(m) n \(n) k \(k): a store past the output's end")
                }
            }
        }
    }
}
