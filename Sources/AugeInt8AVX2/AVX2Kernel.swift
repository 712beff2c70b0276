// The int8 GEMM for AVX2 CPUs without VNNI, exact. `vpmaddubsw` (u8 x s8 pairs summed to int16) would
// be the fast route, but its int16 sum saturates (255 x -128 x 2 < -32768), which breaks bit-exactness
// unless weights are limited to 7 bits. Instead each byte is widened to int16 first and `vpmaddwd`
// multiplies int16 pairs and adds them into int32: 255 x 128 x 2 fits easily, so nothing saturates.
//
// It reads the VNNI packing unchanged: 16 bytes of a packed group are 4 columns x 4 k-values;
// sign-extended to 16 int16 and multiplied by the row's 4 A bytes (zero-extended, repeated), vpmaddwd
// leaves per column two partial sums (k 0+1 and k 2+3) in adjacent int32 lanes. The epilogue adds the
// pairs (vphaddd, then vpermd restores column order). Tile: 2 rows x 16 columns = 8 ymm accumulators.
//
// Compiled for x86-64-v3 (the engine's own level) with -parse-stdlib for the intrinsics; entered only
// when the CPU has AVX2 (the same check as the engine's kernels).
import AugeInt8
import Swift

/// Whether this build holds the AVX2 int8 kernel (not in the portable build or off x86-64).
@_transparent
public var int8AVX2Compiled: Bool {
    #if AUGE_INT8_AVX2
        return true
    #else
        return false
    #endif
}

#if AUGE_INT8_AVX2

    /// The four A bytes at `pointer`, zero-extended to int16 and repeated 4 times (16 int16 lanes).
    @_transparent
    func rowPattern(_ pointer: UnsafePointer<UInt8>) -> SIMD16<Int16> {
        let bytes = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD4<UInt8>.self)
        let widened = Int64(Builtin.bitcast_Vec4xInt16_Int64(Builtin.zext_Vec4xInt8_Vec4xInt16(bytes._storage._value)))
        return unsafeBitCast(SIMD4<Int64>(repeating: widened), to: SIMD16<Int16>.self)
    }

    /// 16 packed weight bytes (4 columns x 4 k), sign-extended to int16.
    @_transparent
    func weights16(_ pointer: UnsafePointer<Int8>) -> SIMD16<Int16> {
        let bytes = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD16<Int8>.self)
        var result = SIMD16<Int16>()
        result._storage._value = Builtin.sext_Vec16xInt8_Vec16xInt16(bytes._storage._value)
        return result
    }

    /// acc + vpmaddwd(a, b): int16 pairs multiplied and summed into int32, exactly.
    @_transparent
    func multiplyAdd(_ accumulator: SIMD8<Int32>, _ a: SIMD16<Int16>, _ b: SIMD16<Int16>) -> SIMD8<Int32> {
        var products = SIMD8<Int32>()
        products._storage._value = Builtin.int_x86_avx2_pmadd_wd(a._storage._value, b._storage._value)
        var result = SIMD8<Int32>()
        result._storage._value = Builtin.add_Vec8xInt32(accumulator._storage._value, products._storage._value)
        return result
    }

    /// The 16 column sums of one row from its four accumulators of (column, half) pairs.
    @_transparent
    func columnSums(_ c0: SIMD8<Int32>, _ c1: SIMD8<Int32>, _ c2: SIMD8<Int32>, _ c3: SIMD8<Int32>) -> SIMD16<Int32> {
        // vphaddd works within 128-bit halves: [0 1 4 5 | 2 3 6 7] for columns 0...7; vpermd reorders.
        let order = SIMD8<Int32>(0, 1, 4, 5, 2, 3, 6, 7)
        var low = SIMD8<Int32>(), high = SIMD8<Int32>()
        low._storage._value = Builtin.int_x86_avx2_permd(Builtin.int_x86_avx2_phadd_d(c0._storage._value, c1._storage._value), order._storage._value)
        high._storage._value = Builtin.int_x86_avx2_permd(Builtin.int_x86_avx2_phadd_d(c2._storage._value, c3._storage._value), order._storage._value)
        var sums = SIMD16<Int32>()
        withUnsafeMutableBytes(of: &sums) { raw in
            raw.storeBytes(of: low, toByteOffset: 0, as: SIMD8<Int32>.self)
            raw.storeBytes(of: high, toByteOffset: 32, as: SIMD8<Int32>.self)
        }
        return sums
    }

    /// C for `args.rows` x `args.columns` (see `Int8GemmArguments`). Only on a CPU with AVX2.
    @inline(never)
    public func int8GemmAVX2(_ args: UnsafePointer<Int8GemmArguments>) {
        let p = args.pointee
        let blockBytes = p.kGroups &* 64
        var column = 0
        while column < p.columns {
            let weights = p.packedB + (column &>> 4) &* blockBytes
            var row = 0
            while row < p.rows {
                tile(p, row: row, count: min(2, p.rows &- row), column: column, weights: weights)
                row &+= 2
            }
            column &+= 16
        }
    }

    /// `count` (1 or 2) rows x 16 columns: 8 accumulators, two A patterns, one B vector and a product
    /// (3 rows needed 17 ymm registers and spilled an accumulator through memory every iteration: 32 G MAC/s).
    @_transparent
    func tile(_ p: Int8GemmArguments, row: Int, count: Int, column: Int, weights: UnsafePointer<Int8>) {
        let a0 = rowStart(p, row), a1 = rowStart(p, row &+ count &- 1)
        let zero = SIMD8<Int32>(repeating: 0)
        var c00 = zero, c01 = zero, c02 = zero, c03 = zero
        var c10 = zero, c11 = zero, c12 = zero, c13 = zero
        // g: the group of B; k: its byte in the rows of A, which jumps by runStride at each run's end.
        var g = 0, runStart = 0
        while g < p.kGroups {
            let runEnd = g &+ p.runGroups
            var k = runStart
            while g < runEnd {
                let w = weights + g &* 64
                let x0 = rowPattern(a0 + k), x1 = rowPattern(a1 + k)
                let b0 = weights16(w)
                c00 = multiplyAdd(c00, x0, b0); c10 = multiplyAdd(c10, x1, b0)
                let b1 = weights16(w + 16)
                c01 = multiplyAdd(c01, x0, b1); c11 = multiplyAdd(c11, x1, b1)
                let b2 = weights16(w + 32)
                c02 = multiplyAdd(c02, x0, b2); c12 = multiplyAdd(c12, x1, b2)
                let b3 = weights16(w + 48)
                c03 = multiplyAdd(c03, x0, b3); c13 = multiplyAdd(c13, x1, b3)
                g &+= 1
                k &+= 4
            }
            runStart &+= p.runStride
        }
        let lanes = min(16, p.columns &- column)
        let bias = UnsafeRawPointer(p.biasFolded + column).loadUnaligned(as: SIMD16<Int32>.self)
        let scale = UnsafeRawPointer(p.scale + column).loadUnaligned(as: SIMD16<Float>.self)
        let low = SIMD16<Float>(repeating: p.low), high = SIMD16<Float>(repeating: p.high), zeroPoint = SIMD16<Int32>(repeating: p.zeroPoint)
        storeRow(p, columnSums(c00, c01, c02, c03), bias: bias, scale: scale, low: low, high: high, zeroPoint: zeroPoint, row: row, column: column, lanes: lanes)
        if count > 1 {
            storeRow(p, columnSums(c10, c11, c12, c13), bias: bias, scale: scale, low: low, high: high, zeroPoint: zeroPoint, row: row &+ 1, column: column, lanes: lanes)
        }
    }

    @_transparent
    func storeRow(
        _ p: Int8GemmArguments, _ sums: SIMD16<Int32>, bias: SIMD16<Int32>, scale: SIMD16<Float>, low: SIMD16<Float>, high: SIMD16<Float>, zeroPoint: SIMD16<Int32>,
        row: Int, column: Int, lanes: Int
    ) {
        var corrected = SIMD16<Int32>()
        corrected._storage._value = Builtin.add_Vec16xInt32(sums._storage._value, bias._storage._value)
        if let accumulators = p.accumulators {
            storeInt32x16(corrected, accumulators + (row &* p.accumulatorRowStride &+ column), lanes: lanes)
        }
        if let output = p.output {
            let q = requantize16(corrected, scale: scale, low: low, high: high, zeroPoint: zeroPoint)
            storeBytes16(q, output + (row &* p.outputRowStride &+ column), lanes: lanes)
        }
    }

#else

    /// Not in this build: `int8AVX2Compiled` is false and the engine never calls it.
    @inline(never)
    public func int8GemmAVX2(_ args: UnsafePointer<Int8GemmArguments>) {
        fatalError("the AVX2 int8 kernel is not in this build")
    }

#endif
