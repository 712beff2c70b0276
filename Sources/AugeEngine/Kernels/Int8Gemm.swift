// Int8 GEMM for convolutions (as implicit/explicit GEMM, 1x1, first layers) and fully connected layers
// (`Int8ConvolutionStep` runs a quantized model's convolutions on it):
//
//     C[m][n] = clamp(roundHalfEven(Float(acc[m][n]) * scale[n]), low, high) + zy
//     acc[m][n] = sum_k (A[m][k] - za) * B[k][n] + bias[n]          (Int32, exact)
//               = sum_k A[m][k] * B[k][n] + (bias[n] - za * sum_k B[k][n])
//
// A: uint8 activations with zero point za (rows = output pixels, K = kernel window x input channels).
// B: int8 weights, symmetric per output channel (zero point 0), packed at plan time.
// scale[n] = aScale * wScale[n] / yScale; low / high = output bounds (0...255, or ReLU / clip) - zy.
// The second form is what the kernels compute: the zero-point term is folded into the bias once, so the
// hot loop multiplies raw bytes (vpdpbusd takes unsigned x signed).
//
// Paths: `portable` (generic Swift SIMD, any CPU and the portable build), `avx2` (module AugeInt8AVX2,
// vpmaddwd on widened bytes, x86-64-v3) and `avx512VNNI` (module AugeInt8, compiled for x86-64-v4 +
// VNNI, entered only after the CPU check). All requantize through AugeInt8's `requantize16`, and all
// equal `referenceInt8Gemm` bit for bit.

import AugeInt8
import AugeInt8AVX2

/// The quantization of one int8 GEMM's activations (the weights' is in the per-column scale).
package struct Int8Quantization {
    /// Zero point of the uint8 input activations.
    package var inputZeroPoint: Int32
    /// Zero point of the uint8 output.
    package var outputZeroPoint: Int32
    /// Output codes are clamped to this range: 0...255, or zy...255 for a fused ReLU, or a clip's bounds quantized.
    package var outputRange: ClosedRange<Int32> = 0...255

    package init(inputZeroPoint: Int32, outputZeroPoint: Int32, outputRange: ClosedRange<Int32> = 0...255) {
        self.inputZeroPoint = inputZeroPoint
        self.outputZeroPoint = outputZeroPoint
        self.outputRange = outputRange
    }
}

/// The machine line benchmarks print: the CPU's features, the kernels compiled, and the int8 GEMM path
/// this build and CPU pick.
public var kernelSummary: String { CPUFeatures.summary + ", int8 GEMM \(int8GemmPathName)" }

/// The int8 GEMM quantized models run on here: `avx512-vnni`, `avx2` or `portable`.
public var int8GemmPathName: String { Int8GemmPath.best.rawValue }

/// How the engine runs a quantized model's convolutions (those with int8 weights reading a value on a
/// uint8 grid).
public enum Int8Execution: Sendable {
    /// On the int8 kernels where the CPU has AVX-512 VNNI (4x the multiply-adds of float). Without it the
    /// int8 GEMM runs no faster than the float one, so a model that float runs mostly as Winograd (3x3
    /// convolutions of stride 1: fewer multiply-adds) runs in float on the same grids; the outputs agree
    /// within rounding ties.
    case automatic
    /// On the int8 kernels, on the CPU's best path (exact integer arithmetic).
    case kernels
    /// In float: dequantized weights, each value rounded to its grid (fake quantization).
    case float
}

/// Which int8 kernel runs.
package enum Int8GemmPath: String, CaseIterable {
    case portable
    case avx2
    case avx512VNNI = "avx512-vnni"

    /// The fastest path this build and CPU can run.
    package static var best: Int8GemmPath { [.avx512VNNI, .avx2].first(where: isAvailable) ?? .portable }

    /// Whether this build and CPU can run `path` (the CPU is read once, not on every call).
    package static func isAvailable(_ path: Int8GemmPath) -> Bool {
        switch path {
        case .portable: return true
        case .avx2: return avx2Available
        case .avx512VNNI: return vnniAvailable
        }
    }

    private static let avx2Available = int8AVX2Compiled && CPUFeatures.kernelLevel >= .avx2
    private static let vnniAvailable = int8VNNICompiled && CPUFeatures.hasAVX512VNNI
}

/// B (K x N int8) packed for the kernels, with the folded bias and multipliers; made once at plan time.
///
/// Layout: N in blocks of 16 columns, each block `kGroups * 64` bytes, kGroups = ceil(K / 4); within a
/// block, group g holds 16 lanes of 4 bytes: byte (g * 16 + j) * 4 + t = B[4g + t][16 * block + j].
/// So one 64-byte load gives each of 16 Int32 lanes the four k-values that vpdpbusd multiplies with
/// four consecutive bytes of an A row. Rows k >= K and columns n >= N are zero, so the kernels may
/// read A up to 4 * kGroups bytes per row whatever those bytes hold.
package final class Int8PackedWeights {
    package let k: Int, n: Int, kGroups: Int, blocks: Int
    let packed: UnsafeMutablePointer<Int8>
    /// bias[n] - za * sum_k B[k][n], then zeros up to a whole block.
    let biasFolded: UnsafeMutablePointer<Int32>
    /// Float multiplier per column, then zeros up to a whole block.
    let scale: UnsafeMutablePointer<Float>
    let quantization: Int8Quantization

    /// `weights` is [N][K] (output channel major: ONNX Conv's [O, I, kH, kW] flattened, or Gemm's B
    /// transposed); `bias` and `scale` have N values.
    package init(weights: [Int8], k: Int, n: Int, bias: [Int32], scale multipliers: [Float], quantization: Int8Quantization) {
        precondition(weights.count == n * k && bias.count == n && multipliers.count == n && k > 0 && n > 0)
        self.k = k
        self.n = n
        self.quantization = quantization
        kGroups = (k + 3) / 4
        blocks = (n + 15) / 16
        let bytes = blocks * kGroups * 64
        packed = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64).bindMemory(to: Int8.self, capacity: bytes)
        packed.initialize(repeating: 0, count: bytes)
        biasFolded = .allocate(capacity: blocks * 16)
        biasFolded.initialize(repeating: 0, count: blocks * 16)
        scale = .allocate(capacity: blocks * 16)
        scale.initialize(repeating: 0, count: blocks * 16)
        for column in 0..<n {
            var columnSum: Int32 = 0
            for row in 0..<k {
                let value = weights[column * k + row]
                columnSum &+= Int32(value)
                let (block, lane) = (column / 16, column % 16)
                packed[block * kGroups * 64 + ((row / 4) * 16 + lane) * 4 + row % 4] = value
            }
            biasFolded[column] = bias[column] &- quantization.inputZeroPoint &* columnSum
            scale[column] = multipliers[column]
        }
    }

    deinit {
        UnsafeMutableRawPointer(packed).deallocate()
        biasFolded.deallocate()
        scale.deallocate()
    }
}

/// Where the rows of an int8 GEMM's A are (uint8, 4 * kGroups bytes read per row).
package enum Int8GemmInput {
    /// Row m at a + m * rowStride.
    case matrix(UnsafePointer<UInt8>, rowStride: Int)
    /// Row m at starts[m], read as runs of `runGroups` 4-byte groups `runStride` bytes apart: a
    /// convolution's window read in place, one run per kernel row (see `Int8GemmArguments`).
    case windows(UnsafePointer<UnsafePointer<UInt8>>, runGroups: Int, runStride: Int)
}

/// C = requantize(A x B) for `rows` rows of A (`input`) into `output` (uint8, row stride
/// `outputRowStride`), and/or the corrected Int32 accumulators into `accumulators`, for the 16-column
/// blocks `columnBlocks` (default all; `output` and `accumulators` point at column 0 either way), or on
/// the VNNI path, instead of either, each row's running minimum of them into `rowMinima` (see
/// `Int8GemmArguments.rowMinima`). No allocation; the caller splits rows and column blocks over threads.
package func int8Gemm(
    path: Int8GemmPath, input: Int8GemmInput, rows: Int, weights w: Int8PackedWeights, columnBlocks: Range<Int>? = nil,
    output: UnsafeMutablePointer<UInt8>?, outputRowStride: Int, accumulators: UnsafeMutablePointer<Int32>? = nil, accumulatorRowStride: Int = 0,
    rowMinima: UnsafeMutablePointer<Int32>? = nil
) {
    precondition(rowMinima == nil || (path == .avx512VNNI && output == nil && accumulators == nil), "row minima are the VNNI kernel's only output")
    let q = w.quantization
    // A range of 16-column blocks: every pointer moves to its first column.
    let blocks = columnBlocks ?? 0..<w.blocks
    guard !blocks.isEmpty else { return }
    let column = blocks.lowerBound &* 16
    let a: UnsafePointer<UInt8>, aRowStride: Int, rowStarts: UnsafePointer<UnsafePointer<UInt8>>?, runGroups: Int?, runStride: Int
    switch input {
    case let .matrix(matrix, rowStride): (a, aRowStride, rowStarts, runGroups, runStride) = (matrix, rowStride, nil, nil, 0)
    case let .windows(starts, groups, stride):
        precondition(groups > 0 && w.kGroups % groups == 0, "the runs must make up the weights' depth")
        (a, aRowStride, rowStarts, runGroups, runStride) = (starts[0], 0, starts, groups, stride)
    }
    var arguments = Int8GemmArguments(
        a: a, aRowStride: aRowStride, rows: rows, packedB: w.packed + blocks.lowerBound &* w.kGroups &* 64, kGroups: w.kGroups,
        columns: min(w.n, blocks.upperBound &* 16) &- column, biasFolded: w.biasFolded + column, scale: w.scale + column,
        low: Float(q.outputRange.lowerBound &- q.outputZeroPoint), high: Float(q.outputRange.upperBound &- q.outputZeroPoint), zeroPoint: q.outputZeroPoint,
        output: output.map { $0 + column }, outputRowStride: outputRowStride, accumulators: accumulators.map { $0 + column },
        accumulatorRowStride: accumulatorRowStride, rowStarts: rowStarts, runGroups: runGroups, runStride: runStride, rowMinima: rowMinima)
    switch path {
    case .portable:
        int8GemmPortable(&arguments)
    case .avx2:
        precondition(Int8GemmPath.isAvailable(.avx2), "the AVX2 int8 kernel cannot run on this CPU or build")
        int8GemmAVX2(&arguments)
    case .avx512VNNI:
        // The module's code uses AVX-512: never entered without the CPU check.
        precondition(Int8GemmPath.isAvailable(.avx512VNNI), "the AVX-512 VNNI int8 kernel cannot run on this CPU or build")
        int8GemmVNNI(&arguments)
    }
}

// MARK: - Portable path

/// The same product with generic SIMD: per group, the 64 packed bytes are one SIMD16<Int32> whose byte t
/// of each lane is B[4g + t][column]; shifting it left then arithmetically right sign-extends that byte
/// into the lane. Tile: 4 rows x 16 columns (the four B vectors serve all four rows).
func int8GemmPortable(_ p: UnsafePointer<Int8GemmArguments>) {
    let p = p.pointee
    let blockBytes = p.kGroups &* 64
    var column = 0
    while column < p.columns {
        var row = 0
        while row < p.rows {
            portableTile(p, row: row, count: min(4, p.rows &- row), column: column, weights: p.packedB + (column &>> 4) &* blockBytes)
            row &+= 4
        }
        column &+= 16
    }
}

@inline(__always)
private func portableTile(_ p: Int8GemmArguments, row: Int, count: Int, column: Int, weights: UnsafePointer<Int8>) {
    let last = count &- 1
    let a0 = rowStart(p, row), a1 = rowStart(p, row &+ min(1, last)), a2 = rowStart(p, row &+ min(2, last)), a3 = rowStart(p, row &+ last)
    var c0 = SIMD16<Int32>(repeating: 0), c1 = c0, c2 = c0, c3 = c0
    // g: the group of B; k: its byte in the rows of A, which jumps by runStride at each run's end.
    var g = 0, runStart = 0
    while g < p.kGroups {
        let runEnd = g &+ p.runGroups
        var offset = runStart
        while g < runEnd {
            let k = offset
            let packed = UnsafeRawPointer(weights + g &* 64).loadUnaligned(as: SIMD16<Int32>.self)
            let b0 = (packed &<< 24) &>> 24, b1 = (packed &<< 16) &>> 24, b2 = (packed &<< 8) &>> 24, b3 = packed &>> 24
            @inline(__always) func dot(_ r: UnsafePointer<UInt8>) -> SIMD16<Int32> {
                SIMD16(repeating: Int32(r[k])) &* b0 &+ SIMD16(repeating: Int32(r[k &+ 1])) &* b1
                    &+ SIMD16(repeating: Int32(r[k &+ 2])) &* b2 &+ SIMD16(repeating: Int32(r[k &+ 3])) &* b3
            }
            c0 &+= dot(a0)
            c1 &+= dot(a1)
            c2 &+= dot(a2)
            c3 &+= dot(a3)
            g &+= 1
            offset &+= 4
        }
        runStart &+= p.runStride
    }
    let lanes = min(16, p.columns &- column)
    let bias = UnsafeRawPointer(p.biasFolded + column).loadUnaligned(as: SIMD16<Int32>.self)
    let scale = UnsafeRawPointer(p.scale + column).loadUnaligned(as: SIMD16<Float>.self)
    let low = SIMD16<Float>(repeating: p.low), high = SIMD16<Float>(repeating: p.high), zeroPoint = SIMD16<Int32>(repeating: p.zeroPoint)
    @inline(__always) func store(_ value: SIMD16<Int32>, _ r: Int) {
        let corrected = value &+ bias
        if let accumulators = p.accumulators {
            storeInt32x16(corrected, accumulators + ((row &+ r) &* p.accumulatorRowStride &+ column), lanes: lanes)
        }
        if let output = p.output {
            let q = requantize16(corrected, scale: scale, low: low, high: high, zeroPoint: zeroPoint)
            storeBytes16(q, output + ((row &+ r) &* p.outputRowStride &+ column), lanes: lanes)
        }
    }
    store(c0, 0)
    if count > 1 { store(c1, 1) }
    if count > 2 { store(c2, 2) }
    if count > 3 { store(c3, 3) }
}
