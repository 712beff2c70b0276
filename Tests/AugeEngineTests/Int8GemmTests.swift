import XCTest
@testable import AugeEngine

/// Every int8 GEMM path against `referenceInt8Gemm`, bit for bit on the Int32 accumulators and on the
/// uint8 outputs (integer arithmetic is exact and the requantization is the same Float operations in
/// the same order, so any difference is a bug). M runs over 1...13 (every tail of the 4- and 8-row
/// tiles), N and K over values around the 16/32-column blocks and 4-k groups. A's rows hold random
/// bytes past K (up to the 4-k group and beyond), outputs and accumulators are surrounded by sentinels.
/// The VNNI path's row minima are checked against the reference accumulators' on the same cases.
final class Int8GemmTests: XCTestCase {
    static let rowCounts = Array(1...13)
    static let columnCounts = [1, 2, 3, 5, 8, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 70]
    static let depths = [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 70]
    static let seeds: [UInt64] = [1, 7, 42, 2026, 0xC0FFEE]

    enum Values { case random, extremeHigh, extremeLow, alternating }

    struct Case: CustomStringConvertible {
        var m: Int, n: Int, k: Int, seed: UInt64
        var values: Values = .random
        var description: String { "M=\(m) N=\(n) K=\(k) seed=\(seed) values=\(values)" }
    }

    /// Runs one case on `path` and on the reference; returns the number of mismatching elements
    /// (failing the test with the first one).
    @discardableResult
    func check(_ c: Case, path: Int8GemmPath, file: StaticString = #filePath, line: UInt = #line) -> Int {
        var generator = SeededGenerator(seed: c.seed &* 0x9E37_79B9 &+ UInt64(c.m * 1_000_003 + c.n * 1009 + c.k))
        let kGroups = (c.k + 3) / 4
        let aRowStride = kGroups * 4 + Int(generator.next() % 6)
        // Readable exactly up to the last row's 4-k groups; all bytes random, including those past K.
        let aCount = (c.m - 1) * aRowStride + kGroups * 4
        var a = (0..<aCount).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var weights = (0..<(c.n * c.k)).map { _ in Int8.random(in: -128...127, using: &generator) }
        switch c.values {
        case .random: break
        case .extremeHigh:  // the largest |products| with the zero point 0: 255 x -128 everywhere
            for m in 0..<c.m { for i in 0..<c.k { a[m * aRowStride + i] = 255 } }
            weights = weights.map { _ in -128 }
        case .extremeLow:
            for m in 0..<c.m { for i in 0..<c.k { a[m * aRowStride + i] = 0 } }
            weights = weights.map { _ in 127 }
        case .alternating:
            for m in 0..<c.m { for i in 0..<c.k { a[m * aRowStride + i] = (m + i) % 2 == 0 ? 255 : 0 } }
            weights = weights.indices.map { $0 % 3 == 0 ? -128 : 127 }
        }
        let inputZeroPoint: Int32 = c.values == .random ? Int32.random(in: 0...255, using: &generator) : [0, 255, 128][Int(c.seed % 3)]
        let outputZeroPoint = Int32.random(in: 0...255, using: &generator)
        let bias = (0..<c.n).map { _ in Int32.random(in: -100_000...100_000, using: &generator) }
        // Multipliers that spread the outputs over the code range, and some exact halves (0.5, 0.25)
        // whose ties test the rounding half to even.
        let typical = Float(max(1, c.k)).squareRoot() * 5000
        let scale = (0..<c.n).map { column -> Float in
            column % 5 == 4 ? [0.5, 0.25][column % 2] : Float.random(in: 0.05...20, using: &generator) / typical
        }
        let ranges: [ClosedRange<Int32>] = [0...255, outputZeroPoint...255, min(outputZeroPoint, 40)...max(outputZeroPoint, 200)]
        let quantization = Int8Quantization(
            inputZeroPoint: inputZeroPoint, outputZeroPoint: outputZeroPoint,
            outputRange: ranges[Int(generator.next() % 3)])
        let expected = referenceInt8Gemm(
            a: a, aRowStride: aRowStride, m: c.m, k: c.k, n: c.n, weights: weights, bias: bias, scale: scale,
            quantization: quantization)
        let packed = Int8PackedWeights(weights: weights, k: c.k, n: c.n, bias: bias, scale: scale, quantization: quantization)
        let outputStride = c.n + 3, accumulatorStride = c.n + 5
        let byteSentinel: UInt8 = 0xA5, intSentinel: Int32 = 0x5A5A_5A5A
        var output = [UInt8](repeating: byteSentinel, count: c.m * outputStride + 16)
        var accumulators = [Int32](repeating: intSentinel, count: c.m * accumulatorStride + 16)
        // The codes alone as well: the kernels store them on another route when no accumulators are kept.
        var codesOnly = output
        a.withUnsafeBufferPointer { a in
            output.withUnsafeMutableBufferPointer { output in
                accumulators.withUnsafeMutableBufferPointer { accumulators in
                    int8Gemm(
                        path: path, input: .matrix(a.baseAddress!, rowStride: aRowStride), rows: c.m, weights: packed, output: output.baseAddress!,
                        outputRowStride: outputStride, accumulators: accumulators.baseAddress!, accumulatorRowStride: accumulatorStride)
                }
            }
            codesOnly.withUnsafeMutableBufferPointer { codesOnly in
                int8Gemm(
                    path: path, input: .matrix(a.baseAddress!, rowStride: aRowStride), rows: c.m, weights: packed, output: codesOnly.baseAddress!,
                    outputRowStride: outputStride)
            }
        }
        var mismatches = 0
        if path == .avx512VNNI {
            // Each row's smallest accumulator kept in the epilogue instead (a bank search's minimum), and
            // nothing written past the rows.
            var minima = [Int32](repeating: .max, count: c.m * 16) + [Int32](repeating: intSentinel, count: 16)
            a.withUnsafeBufferPointer { a in
                minima.withUnsafeMutableBufferPointer { minima in
                    int8Gemm(
                        path: path, input: .matrix(a.baseAddress!, rowStride: aRowStride), rows: c.m, weights: packed, output: nil, outputRowStride: 0,
                        rowMinima: minima.baseAddress!)
                }
            }
            // Lane j: the smallest of columns j, j + 16, ... (none: Int32.max).
            for m in 0..<c.m {
                for lane in 0..<16 {
                    let want = stride(from: lane, to: c.n, by: 16).map { expected.accumulators[m * c.n + $0] }.min() ?? .max
                    if minima[m * 16 + lane] != want {
                        if mismatches == 0 { XCTFail("\(path) \(c): row \(m) lane \(lane) minimum \(minima[m * 16 + lane]), expected \(want)", file: file, line: line) }
                        mismatches += 1
                    }
                }
            }
            if minima[(c.m * 16)...].contains(where: { $0 != intSentinel }) {
                XCTFail("\(path) \(c): row minima written past the rows", file: file, line: line)
                mismatches += 1
            }
        }
        if codesOnly != output {
            XCTFail("\(path) \(c): the codes differ when no accumulators are kept", file: file, line: line)
            mismatches += 1
        }
        for m in 0..<c.m {
            for column in 0..<outputStride where column >= c.n {
                if output[m * outputStride + column] != byteSentinel { mismatches += 1 }
            }
            for column in 0..<accumulatorStride where column >= c.n {
                if accumulators[m * accumulatorStride + column] != intSentinel { mismatches += 1 }
            }
            for column in 0..<c.n {
                let (gotSum, wantSum) = (accumulators[m * accumulatorStride + column], expected.accumulators[m * c.n + column])
                let (got, want) = (output[m * outputStride + column], expected.output[m * c.n + column])
                if gotSum != wantSum || got != want {
                    if mismatches == 0 {
                        XCTFail("\(path) \(c): [\(m)][\(column)] accumulator \(gotSum) output \(got), expected \(wantSum) and \(want)", file: file, line: line)
                    }
                    mismatches += 1
                }
            }
        }
        if output[(c.m * outputStride)...].contains(where: { $0 != byteSentinel }) || accumulators[(c.m * accumulatorStride)...].contains(where: { $0 != intSentinel }) {
            mismatches += 1
        }
        if mismatches > 0 { XCTFail("\(path) \(c): \(mismatches) mismatching or overwritten elements", file: file, line: line) }
        return mismatches
    }

    /// The sweep: 13 x 18 x 19 shapes, each with its own seed, plus extreme values and larger shapes.
    func sweep(_ path: Int8GemmPath) -> Int {
        var cases = 0
        for (index, m) in Self.rowCounts.enumerated() {
            for n in Self.columnCounts {
                for k in Self.depths {
                    check(Case(m: m, n: n, k: k, seed: Self.seeds[(index + n + k) % Self.seeds.count]), path: path)
                    cases += 1
                }
            }
        }
        for values in [Values.extremeHigh, .extremeLow, .alternating] {
            for (m, n, k) in [(1, 1, 1), (7, 17, 5), (13, 70, 70), (9, 33, 255), (8, 32, 1027)] {
                for seed in Self.seeds.prefix(3) {
                    check(Case(m: m, n: n, k: k, seed: seed, values: values), path: path)
                    cases += 1
                }
            }
        }
        // Realistic layer shapes (K = 3x3 x 64 and 3x3 x 3; FC), every seed.
        for (m, n, k) in [(100, 64, 576), (37, 130, 27), (3, 1000, 1280), (49, 96, 1152)] {
            for seed in Self.seeds {
                check(Case(m: m, n: n, k: k, seed: seed), path: path)
                cases += 1
            }
        }
        return cases
    }

    func testPortableEqualsReference() {
        let cases = sweep(.portable)
        print("Int8GemmTests: portable path checked on \(cases) cases")
    }

    func testAVX512VNNIEqualsReference() throws {
        try XCTSkipUnless(
            Int8GemmPath.isAvailable(.avx512VNNI),
            "no AVX-512 VNNI here (CPU flags avx512_vnni + x86-64-v4, or a build without the kernel): \(CPUFeatures.summary)")
        let cases = sweep(.avx512VNNI)
        print("Int8GemmTests: avx512-vnni path checked on \(cases) cases")
    }

    func testAVX2EqualsReference() throws {
        try XCTSkipUnless(Int8GemmPath.isAvailable(.avx2), "no AVX2 int8 kernel here (a CPU without AVX2, or the portable build): \(CPUFeatures.summary)")
        let cases = sweep(.avx2)
        print("Int8GemmTests: avx2 path checked on \(cases) cases")
    }

    /// Rows read in place as runs (`Int8GemmInput.windows`, a convolution's kernel rows in its padded input)
    /// equal the reference on the same rows gathered into a matrix: 1...4 runs of 1...5 groups, run strides
    /// shorter and longer than a run, rows starting anywhere (also on each other), every row-tile tail.
    func testWindowedRowsEqualReference() {
        var generator = SeededGenerator(seed: 2026)
        for path in Int8GemmPath.allCases where Int8GemmPath.isAvailable(path) {
            for m in [1, 2, 3, 7, 8, 9, 13, 64] {
                for (runs, runGroups) in [(1, 1), (1, 7), (2, 3), (3, 1), (3, 3), (3, 5), (4, 2)] {
                    let n = [1, 16, 17, 33, 64][(m + runs) % 5]
                    let runStride = [1, 4 * runGroups, 4 * runGroups + 13, 301][(m + runGroups) % 4]
                    let k = runs * runGroups * 4
                    let image = (0..<(runs * runStride + k + 512)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                    let starts = (0..<m).map { _ in Int.random(in: 0...512, using: &generator) }
                    var gathered = [UInt8]()
                    for start in starts {
                        for run in 0..<runs { gathered += image[(start + run * runStride)..<(start + run * runStride + runGroups * 4)] }
                    }
                    let weights = (0..<(n * k)).map { _ in Int8.random(in: -128...127, using: &generator) }
                    let bias = (0..<n).map { _ in Int32.random(in: -10_000...10_000, using: &generator) }
                    let scale = (0..<n).map { _ in Float.random(in: 0.0001...0.01, using: &generator) }
                    let quantization = Int8Quantization(inputZeroPoint: Int32.random(in: 0...255, using: &generator), outputZeroPoint: 128)
                    let expected = referenceInt8Gemm(
                        a: gathered, aRowStride: k, m: m, k: k, n: n, weights: weights, bias: bias, scale: scale, quantization: quantization)
                    let packed = Int8PackedWeights(weights: weights, k: k, n: n, bias: bias, scale: scale, quantization: quantization)
                    var output = [UInt8](repeating: 0, count: m * n + 16), accumulators = [Int32](repeating: 0, count: m * n + 16)
                    image.withUnsafeBufferPointer { image in
                        let rowStarts = starts.map { image.baseAddress! + $0 }
                        rowStarts.withUnsafeBufferPointer { rowStarts in
                            int8Gemm(
                                path: path, input: .windows(rowStarts.baseAddress!, runGroups: runGroups, runStride: runStride), rows: m,
                                weights: packed, output: &output, outputRowStride: n, accumulators: &accumulators, accumulatorRowStride: n)
                        }
                    }
                    let label = "\(path) M=\(m) N=\(n) runs=\(runs)x\(runGroups) stride=\(runStride)"
                    XCTAssertEqual(Array(accumulators.prefix(m * n)), expected.accumulators, label)
                    XCTAssertEqual(Array(output.prefix(m * n)), expected.output, label)
                }
            }
        }
    }

    /// Ties round half to even: accumulators 1, 3, 5, -1, -3 with scale 0.5 give 0, 2, 2, 0, -2 (then + zy).
    func testRoundingHalfToEven() {
        // K = 1, A = 1 with zero point 0, weight 1: the accumulator is 1 + bias.
        let biases: [Int32] = [0, 2, 4, -2, -4, 6]
        let expected: [Int32] = [0, 2, 2, 0, -2, 4]  // (1 + bias) / 2, ties to even
        let quantization = Int8Quantization(inputZeroPoint: 0, outputZeroPoint: 100)
        let packed = Int8PackedWeights(
            weights: [Int8](repeating: 1, count: biases.count), k: 1, n: biases.count, bias: biases,
            scale: [Float](repeating: 0.5, count: biases.count), quantization: quantization)
        let reference = referenceInt8Gemm(
            a: [1, 0, 0, 0], aRowStride: 4, m: 1, k: 1, n: biases.count, weights: [Int8](repeating: 1, count: biases.count),
            bias: biases, scale: [Float](repeating: 0.5, count: biases.count), quantization: quantization)
        XCTAssertEqual(reference.output.map(Int32.init), expected.map { $0 + 100 })
        for path in Int8GemmPath.allCases where Int8GemmPath.isAvailable(path) {
            var output = [UInt8](repeating: 0, count: biases.count)
            let a: [UInt8] = [1, 0, 0, 0]
            a.withUnsafeBufferPointer { a in
                int8Gemm(path: path, input: .matrix(a.baseAddress!, rowStride: 4), rows: 1, weights: packed, output: &output, outputRowStride: biases.count)
            }
            XCTAssertEqual(output.map(Int32.init), expected.map { $0 + 100 }, "\(path)")
        }
    }

    /// The best path is VNNI exactly where the CPU and build have it, and the benchmarks' machine line says the choice.
    func testDispatch() {
        let built = CPUFeatures.compiledLevel == .avx2  // the main x86-64 build holds both int8 kernels; the portable one neither
        XCTAssertEqual(Int8GemmPath.best == .avx512VNNI, CPUFeatures.hasAVX512VNNI && built)
        XCTAssertEqual(Int8GemmPath.best == .avx2, !CPUFeatures.hasAVX512VNNI && built && CPUFeatures.kernelLevel >= .avx2)
        XCTAssertTrue(kernelSummary.contains("int8 GEMM \(Int8GemmPath.best.rawValue)"))
        if CPUFeatures.flags.contains("avx512_vnni") && CPUFeatures.kernelLevel == .avx512 {
            XCTAssertEqual(Int8GemmPath.best, .avx512VNNI, CPUFeatures.summary)
        }
    }
}
