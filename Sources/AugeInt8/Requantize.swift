// Requantization of int8 GEMM accumulators to uint8, shared by every int8 path (the engine's portable
// kernel, the AVX2 kernel and this module's VNNI kernel) so that they agree bit for bit.
//
// @_transparent: always inlined at SIL level, so each caller compiles it with its own CPU flags. A plain
// @inlinable function may stay an outlined call into this module, which is compiled for AVX-512 and
// must not run before the CPU check.
import Swift

/// Requantizes 16 accumulators (already corrected: sum_k (a - za) * b + bias) to output codes in
/// `low + zeroPoint ... high + zeroPoint`:
///     q = clamp(roundHalfEven(Float(acc) * scale), low, high) + zeroPoint
/// `low` / `high` are the output bounds minus the zero point, whole numbers in [-255, 255]. Clamping
/// before rounding gives the same result as after (rounding is monotone and keeps whole numbers), and
/// keeps the value small enough for the rounding trick below.
@_transparent
public func requantize16(_ accumulator: SIMD16<Int32>, scale: SIMD16<Float>, low: SIMD16<Float>, high: SIMD16<Float>, zeroPoint: SIMD16<Int32>) -> SIMD16<Int32> {
    // Int32 -> Float rounds to nearest even (cvtdq2ps), then one multiply (never fused with anything).
    // Both as Builtin vector operations: in this -parse-stdlib module the SIMD initialiser stayed an
    // outlined call and `*` a per-lane scalar loop.
    var y = SIMD16<Float>()
    y._storage._value = Builtin.fmul_Vec16xFPIEEE32(Builtin.sitofp_Vec16xInt32_Vec16xFPIEEE32(accumulator._storage._value), scale._storage._value)
    // Comparisons and blends: pointwiseMin/Max compile to scalar loops.
    y = y.replacing(with: low, where: y .< low)
    y = y.replacing(with: high, where: high .< y)
    // Adding 1.5 * 2^23 rounds |y| <= 2^22 to a whole number, half to even (the default rounding
    // mode), and leaves that number in the low mantissa bits: exact, and no SSE4.1 round needed.
    let shifted = y + SIMD16<Float>(repeating: 12_582_912)
    return unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- SIMD16<Int32>(repeating: 0x4B40_0000) &+ zeroPoint
}

/// The arguments of one int8 GEMM call: C[m][n] = requantize(sum_k A[m][k] * B[k][n] + biasFolded[n])
/// for `rows` x `columns`, B pre-packed in 16-column blocks of 4-k groups (see the engine's
/// `Int8PackedWeights`). A pointer struct, so the entry point is one non-inlined call with no generics.
public struct Int8GemmArguments {
    /// Row m of A starts at rowStarts[m], or (nil) at a + m * aRowStride. A row is read as runs of
    /// `runGroups` 4-byte groups, run r from the row's start + r * runStride: one run of `kGroups` groups
    /// for a plain matrix, or a convolution's kernel rows read in place from its padded input (implicit
    /// GEMM: no gathered copy). `kGroups * 4` bytes are read per row in all (bytes past K meet zero
    /// weights, but must be readable).
    public var a: UnsafePointer<UInt8>
    public var aRowStride: Int
    public var rowStarts: UnsafePointer<UnsafePointer<UInt8>>?
    public var runGroups: Int
    public var runStride: Int
    public var rows: Int
    /// Blocks of 16 columns, `kGroups * 64` bytes each: byte (g * 16 + j) * 4 + t is B[4g + t][16 * block + j].
    public var packedB: UnsafePointer<Int8>
    public var kGroups: Int
    public var columns: Int
    /// Per column, padded to whole blocks: bias - aZeroPoint * sum_k B[k][n], and the float multiplier.
    public var biasFolded: UnsafePointer<Int32>
    public var scale: UnsafePointer<Float>
    /// Output bounds minus the zero point (see `requantize16`), and the output zero point.
    public var low: Float, high: Float
    public var zeroPoint: Int32
    /// uint8 output, or nil.
    public var output: UnsafeMutablePointer<UInt8>?
    public var outputRowStride: Int
    /// The corrected Int32 accumulators (before requantization), or nil: for tests and diagnostics.
    public var accumulators: UnsafeMutablePointer<Int32>?
    public var accumulatorRowStride: Int
    /// Per row, 16 Int32 lanes (64 bytes apart) that keep the smallest corrected accumulator of the
    /// columns seen (lane j: of the columns j, j + 16, ...), or nil. The VNNI kernel only: a nearest-
    /// neighbour search takes each row's minimum without storing its sums.
    public var rowMinima: UnsafeMutablePointer<Int32>?

    @_transparent
    public init(
        a: UnsafePointer<UInt8>, aRowStride: Int, rows: Int, packedB: UnsafePointer<Int8>, kGroups: Int, columns: Int, biasFolded: UnsafePointer<Int32>,
        scale: UnsafePointer<Float>, low: Float, high: Float, zeroPoint: Int32, output: UnsafeMutablePointer<UInt8>?, outputRowStride: Int,
        accumulators: UnsafeMutablePointer<Int32>?, accumulatorRowStride: Int, rowStarts: UnsafePointer<UnsafePointer<UInt8>>? = nil,
        runGroups: Int? = nil, runStride: Int = 0, rowMinima: UnsafeMutablePointer<Int32>? = nil
    ) {
        self.a = a
        self.aRowStride = aRowStride
        self.rowStarts = rowStarts
        self.runGroups = runGroups ?? kGroups
        self.runStride = runStride
        self.rows = rows
        self.packedB = packedB
        self.kGroups = kGroups
        self.columns = columns
        self.biasFolded = biasFolded
        self.scale = scale
        self.low = low
        self.high = high
        self.zeroPoint = zeroPoint
        self.output = output
        self.outputRowStride = outputRowStride
        self.accumulators = accumulators
        self.accumulatorRowStride = accumulatorRowStride
        self.rowMinima = rowMinima
    }
}

/// Where row `row` of A starts (see `Int8GemmArguments.rowStarts`).
@_transparent
public func rowStart(_ p: Int8GemmArguments, _ row: Int) -> UnsafePointer<UInt8> {
    if let starts = p.rowStarts { return starts[row] }
    return p.a + row &* p.aRowStride
}

/// Stores the first `lanes` (1...16) of `values` as bytes (the codes are already in 0...255).
@_transparent
public func storeBytes16(_ values: SIMD16<Int32>, _ pointer: UnsafeMutablePointer<UInt8>, lanes: Int) {
    let bytes = narrowed16(values)
    if lanes == 16 {
        UnsafeMutableRawPointer(pointer).storeBytes(of: bytes, as: SIMD16<UInt8>.self)
    } else {
        for j in 0..<lanes { pointer[j] = bytes[j] }
    }
}

/// 16 Int32 codes (already in 0...255) as bytes: the Builtin truncation, for the same reason as in `requantize16`.
@_transparent
public func narrowed16(_ values: SIMD16<Int32>) -> SIMD16<UInt8> {
    var bytes = SIMD16<UInt8>()
    bytes._storage._value = Builtin.trunc_Vec16xInt32_Vec16xInt8(values._storage._value)
    return bytes
}

/// Stores 16 codes.
@_transparent
public func storeCodes(_ codes: SIMD16<UInt8>, _ pointer: UnsafeMutablePointer<UInt8>) {
    Builtin.storeRaw(codes._storage._value, pointer._rawValue)
}

/// Stores the first `lanes` (1...16) codes. Builtin operations only: a generic standard-library call here
/// (a SIMD subscript, `storeBytes`) with a second user in this module was compiled as an outlined call,
/// also in the GEMM's hot loop.
@_transparent
public func storeCodes16(_ codes: SIMD16<UInt8>, _ pointer: UnsafeMutablePointer<UInt8>, lanes: Int) {
    if lanes >= 16 {
        storeCodes(codes, pointer)
    } else {
        var lane = 0
        while lane < lanes {
            pointer[lane] = UInt8(Builtin.extractelement_Vec16xInt8_Int32(codes._storage._value, Int32(truncatingIfNeeded: lane)._value))
            lane &+= 1
        }
    }
}

/// Stores the first `lanes` (1...16) Int32 lanes.
@_transparent
public func storeInt32x16(_ values: SIMD16<Int32>, _ pointer: UnsafeMutablePointer<Int32>, lanes: Int) {
    if lanes == 16 {
        UnsafeMutableRawPointer(pointer).storeBytes(of: values, as: SIMD16<Int32>.self)
    } else {
        for j in 0..<lanes { pointer[j] = values[j] }
    }
}

/// 16 codes widened to Int32 lanes (vpmovzxbd): the generic SIMD conversion is a per-lane loop.
@_transparent
public func widen16(_ codes: SIMD16<UInt8>) -> SIMD16<Int32> {
    var result = SIMD16<Int32>()
    result._storage._value = Builtin.zext_Vec16xInt8_Vec16xInt32(codes._storage._value)
    return result
}

/// The values of 16 codes on a grid: Float(code - zeroPoint) * scale (the engine's dequantization, and
/// the residual kernel's: one definition, so that both give the same Float).
@_transparent
public func codeValues16(_ codes: SIMD16<UInt8>, zeroPoint: SIMD16<Int32>, scale: SIMD16<Float>) -> SIMD16<Float> {
    var values = SIMD16<Float>()
    values._storage._value = Builtin.fmul_Vec16xFPIEEE32(
        Builtin.sitofp_Vec16xInt32_Vec16xFPIEEE32((widen16(codes) &- zeroPoint)._storage._value), scale._storage._value)
    return values
}

/// 16 Int32 lanes as Float (cvtdq2ps, rounding to nearest even), for the same reason.
@_transparent
public func float16(_ values: SIMD16<Int32>) -> SIMD16<Float> {
    var result = SIMD16<Float>()
    result._storage._value = Builtin.sitofp_Vec16xInt32_Vec16xFPIEEE32(values._storage._value)
    return result
}

/// Float values to codes on a grid: clamp(roundHalfEven(x / scale) + zeroPoint, ...), as QuantizeLinear
/// (a division, not a reciprocal multiply). `low` / `high` are the code bounds minus the zero point, as in
/// `requantize16`; NaN gives the lower bound.
@_transparent
public func quantize16(_ x: SIMD16<Float>, scale: SIMD16<Float>, low: SIMD16<Float>, high: SIMD16<Float>, zeroPoint: SIMD16<Int32>) -> SIMD16<Int32> {
    var y = SIMD16<Float>()
    y._storage._value = Builtin.fdiv_Vec16xFPIEEE32(x._storage._value, scale._storage._value)
    // !(y >= low) also catches NaN.
    y = y.replacing(with: low, where: .!(y .>= low))
    y = y.replacing(with: high, where: high .< y)
    let shifted = y + SIMD16<Float>(repeating: 12_582_912)
    return unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- SIMD16<Int32>(repeating: 0x4B40_0000) &+ zeroPoint
}

/// 16 whole-number Float lanes (|x| < 2^31) to Int32 (cvttps2dq): exact for whole numbers.
@_transparent
public func int16(_ values: SIMD16<Float>) -> SIMD16<Int32> {
    var result = SIMD16<Int32>()
    result._storage._value = Builtin.fptosi_Vec16xFPIEEE32_Vec16xInt32(values._storage._value)
    return result
}
