// The AVX-512 VNNI int8 GEMM: `vpdpbusd` multiplies 4 uint8 by 4 int8 per 32-bit lane and adds the
// four products to the lane's Int32 (64 multiply-accumulates per zmm instruction, exact: the products
// are widened before the sum). Reached through LLVM's intrinsic in the Builtin module, which only a
// -parse-stdlib module sees; it compiles only with AVX-512 VNNI in the -march (features given only
// through -Xllvm -mattr crashed instruction selection), hence the AUGE_VNNI define in Package.swift.
//
// Register tile: 8 rows x 32 columns = 16 zmm accumulators; per group of 4 k-values two 64-byte weight
// loads and 8 four-byte broadcasts of A feed 16 vpdpbusd.
//
// This module is compiled for x86-64-v4 + VNNI: everything in it may use those instructions, so the
// engine calls `int8GemmVNNI` only after `CPUFeatures.hasAVX512VNNI`, and the entry point is
// @inline(never) so none of it is inlined into the engine (compiled for x86-64-v3).
import Swift

/// Whether this build holds the VNNI kernel (false in the portable build and off x86-64).
@_transparent
public var int8VNNICompiled: Bool {
    #if AUGE_VNNI
        return true
    #else
        return false
    #endif
}

#if AUGE_VNNI

    @_transparent
    func dotBytes(_ accumulator: SIMD16<Int32>, _ unsignedBytes: SIMD16<Int32>, _ signedBytes: SIMD16<Int32>) -> SIMD16<Int32> {
        var result = accumulator
        result._storage._value = Builtin.int_x86_avx512_vpdpbusd_512(accumulator._storage._value, unsignedBytes._storage._value, signedBytes._storage._value)
        return result
    }

    /// Four consecutive bytes of A, as one 32-bit lane repeated 16 times (a broadcast load).
    @_transparent
    func broadcast4(_ pointer: UnsafePointer<UInt8>) -> SIMD16<Int32> {
        SIMD16<Int32>(repeating: UnsafeRawPointer(pointer).loadUnaligned(as: Int32.self))
    }

    @_transparent
    func load16(_ pointer: UnsafePointer<Int8>) -> SIMD16<Int32> {
        UnsafeRawPointer(pointer).loadUnaligned(as: SIMD16<Int32>.self)
    }

    /// C for `args.rows` x `args.columns` (see `Int8GemmArguments`). Only on a CPU with AVX-512 VNNI.
    /// Rows go in tiles of 8; a remainder of at most `singleRowLimit` rows goes row by row, since a tile
    /// of 8 costs the same with one real row as with eight (a fully connected layer's single row, a
    /// 7x7 map's 49th).
    @inline(never)
    public func int8GemmVNNI(_ args: UnsafePointer<Int8GemmArguments>) {
        let p = args.pointee
        let blockBytes = p.kGroups &* 64
        let remainder = p.rows & 7
        let tiledRows = remainder <= singleRowLimit ? p.rows &- remainder : p.rows
        var column = 0
        while column < p.columns {
            let two = p.columns &- column > 16
            var row = 0
            while row < tiledRows {
                let count = min(8, tiledRows &- row)
                if two {
                    tile32(p, row: row, count: count, column: column, blockBytes: blockBytes)
                } else {
                    tile16(p, row: row, count: count, column: column, blockBytes: blockBytes)
                }
                row &+= 8
            }
            while row < p.rows {
                singleRow(p, row: row, column: column, blocks: two ? 2 : 1, blockBytes: blockBytes)
                row &+= 1
            }
            column &+= two ? 32 : 16
        }
    }

    /// A row by itself runs at about 40 % of the int8 peak (two weight loads and a broadcast per two
    /// vpdpbusd), a tile at about r/8 of it with r real rows (`Int8GemmBenchmark`): row by row wins up to 3.
    @_transparent
    var singleRowLimit: Int { 3 }

    /// One row x 16 or 32 columns from `column`.
    @_transparent
    func singleRow(_ p: Int8GemmArguments, row: Int, column: Int, blocks: Int, blockBytes: Int) {
        let a = rowStart(p, row)
        let w0 = p.packedB + (column &>> 4) &* blockBytes
        // With one block, the second accumulator repeats the first block's (not stored).
        let w1 = blocks == 2 ? w0 + blockBytes : w0
        var c0 = foldedBias(p, column: column), c1 = blocks == 2 ? foldedBias(p, column: column &+ 16) : c0
        var g = 0, runStart = 0
        while g < p.kGroups {
            let runEnd = g &+ p.runGroups
            var k = runStart
            while g < runEnd {
                let x = broadcast4(a + k)
                c0 = dotBytes(c0, x, load16(w0 + g &* 64))
                c1 = dotBytes(c1, x, load16(w1 + g &* 64))
                g &+= 1
                k &+= 4
            }
            runStart &+= p.runStride
        }
        if let minima = p.rowMinima {
            keepMinimum(p, minima, c0, c1, row: row, column: column)
            return
        }
        storeRow(p, blockEpilogue(p, column: column), c0, row: row, column: column)
        if blocks == 2 { storeRow(p, blockEpilogue(p, column: column &+ 16), c1, row: row, column: column &+ 16) }
    }

    /// The 8 row pointers of a tile at `row` with `count` (1...8) real rows: rows past `count` repeat the
    /// last one (their results are not stored), so the loop has no row tail.
    @_transparent
    func rowPointers(_ p: Int8GemmArguments, row: Int, count: Int) -> RowPointers8 {
        let last = count &- 1
        return (
            rowStart(p, row), rowStart(p, row &+ min(1, last)), rowStart(p, row &+ min(2, last)), rowStart(p, row &+ min(3, last)),
            rowStart(p, row &+ min(4, last)), rowStart(p, row &+ min(5, last)), rowStart(p, row &+ min(6, last)), rowStart(p, row &+ last)
        )
    }

    typealias RowPointers8 = (
        UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>,
        UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>
    )

    /// 8 rows x 32 columns (two blocks from `column`): 16 accumulators.
    @_transparent
    func tile32(_ p: Int8GemmArguments, row: Int, count: Int, column: Int, blockBytes: Int) {
        let (a0, a1, a2, a3, a4, a5, a6, a7) = rowPointers(p, row: row, count: count)
        let w0 = p.packedB + (column &>> 4) &* blockBytes
        let w1 = w0 + blockBytes
        let bias0 = foldedBias(p, column: column), bias1 = foldedBias(p, column: column &+ 16)
        var c00 = bias0, c10 = bias0, c20 = bias0, c30 = bias0, c40 = bias0, c50 = bias0, c60 = bias0, c70 = bias0
        var c01 = bias1, c11 = bias1, c21 = bias1, c31 = bias1, c41 = bias1, c51 = bias1, c61 = bias1, c71 = bias1
        // g: the group of B; k: its byte in the rows of A, which jumps by runStride at each run's end.
        var g = 0, runStart = 0
        while g < p.kGroups {
            let runEnd = g &+ p.runGroups
            var k = runStart
            while g < runEnd {
                let b0 = load16(w0 + g &* 64), b1 = load16(w1 + g &* 64)
                let x0 = broadcast4(a0 + k), x1 = broadcast4(a1 + k), x2 = broadcast4(a2 + k), x3 = broadcast4(a3 + k)
                let x4 = broadcast4(a4 + k), x5 = broadcast4(a5 + k), x6 = broadcast4(a6 + k), x7 = broadcast4(a7 + k)
                c00 = dotBytes(c00, x0, b0); c10 = dotBytes(c10, x1, b0); c20 = dotBytes(c20, x2, b0); c30 = dotBytes(c30, x3, b0)
                c40 = dotBytes(c40, x4, b0); c50 = dotBytes(c50, x5, b0); c60 = dotBytes(c60, x6, b0); c70 = dotBytes(c70, x7, b0)
                c01 = dotBytes(c01, x0, b1); c11 = dotBytes(c11, x1, b1); c21 = dotBytes(c21, x2, b1); c31 = dotBytes(c31, x3, b1)
                c41 = dotBytes(c41, x4, b1); c51 = dotBytes(c51, x5, b1); c61 = dotBytes(c61, x6, b1); c71 = dotBytes(c71, x7, b1)
                g &+= 1
                k &+= 4
            }
            runStart &+= p.runStride
        }
        if let output = codesOnly(p, count: count) {
            storeCodes8(p, (c00, c10, c20, c30, c40, c50, c60, c70), output: output, row: row, column: column)
            storeCodes8(p, (c01, c11, c21, c31, c41, c51, c61, c71), output: output, row: row, column: column &+ 16)
        } else if let minima = p.rowMinima {
            keepMinima8(p, minima, (c00, c10, c20, c30, c40, c50, c60, c70), (c01, c11, c21, c31, c41, c51, c61, c71), row: row, count: count, column: column)
        } else {
            finish(p, (c00, c10, c20, c30, c40, c50, c60, c70), row: row, count: count, column: column)
            finish(p, (c01, c11, c21, c31, c41, c51, c61, c71), row: row, count: count, column: column &+ 16)
        }
    }

    /// 8 rows x 16 columns, for the last block of an odd block count: 8 accumulators.
    @_transparent
    func tile16(_ p: Int8GemmArguments, row: Int, count: Int, column: Int, blockBytes: Int) {
        let (a0, a1, a2, a3, a4, a5, a6, a7) = rowPointers(p, row: row, count: count)
        let w0 = p.packedB + (column &>> 4) &* blockBytes
        let bias = foldedBias(p, column: column)
        var c0 = bias, c1 = bias, c2 = bias, c3 = bias, c4 = bias, c5 = bias, c6 = bias, c7 = bias
        var g = 0, runStart = 0
        while g < p.kGroups {
            let runEnd = g &+ p.runGroups
            var k = runStart
            while g < runEnd {
                let b = load16(w0 + g &* 64)
                c0 = dotBytes(c0, broadcast4(a0 + k), b); c1 = dotBytes(c1, broadcast4(a1 + k), b)
                c2 = dotBytes(c2, broadcast4(a2 + k), b); c3 = dotBytes(c3, broadcast4(a3 + k), b)
                c4 = dotBytes(c4, broadcast4(a4 + k), b); c5 = dotBytes(c5, broadcast4(a5 + k), b)
                c6 = dotBytes(c6, broadcast4(a6 + k), b); c7 = dotBytes(c7, broadcast4(a7 + k), b)
                g &+= 1
                k &+= 4
            }
            runStart &+= p.runStride
        }
        if let output = codesOnly(p, count: count) {
            storeCodes8(p, (c0, c1, c2, c3, c4, c5, c6, c7), output: output, row: row, column: column)
        } else if let minima = p.rowMinima {
            // The block again as the pair's second, past the last column: left out.
            let c = (c0, c1, c2, c3, c4, c5, c6, c7)
            keepMinima8(p, minima, c, c, row: row, count: count, column: column)
        } else {
            finish(p, (c0, c1, c2, c3, c4, c5, c6, c7), row: row, count: count, column: column)
        }
    }

    typealias Accumulators8 = (SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>)

    /// Stores accumulators and/or requantized bytes for `count` rows of one block.
    @_transparent
    func finish(_ p: Int8GemmArguments, _ c: Accumulators8, row: Int, count: Int, column: Int) {
        let epilogue = blockEpilogue(p, column: column)
        storeRow(p, epilogue, c.0, row: row, column: column)
        if count > 1 { storeRow(p, epilogue, c.1, row: row &+ 1, column: column) }
        if count > 2 { storeRow(p, epilogue, c.2, row: row &+ 2, column: column) }
        if count > 3 { storeRow(p, epilogue, c.3, row: row &+ 3, column: column) }
        if count > 4 { storeRow(p, epilogue, c.4, row: row &+ 4, column: column) }
        if count > 5 { storeRow(p, epilogue, c.5, row: row &+ 5, column: column) }
        if count > 6 { storeRow(p, epilogue, c.6, row: row &+ 6, column: column) }
        if count > 7 { storeRow(p, epilogue, c.7, row: row &+ 7, column: column) }
    }

    /// Folds `count` rows of a pair of blocks' sums (from `column` and `column + 16`) into their running minima.
    @_transparent
    func keepMinima8(
        _ p: Int8GemmArguments, _ minima: UnsafeMutablePointer<Int32>, _ first: Accumulators8, _ second: Accumulators8, row: Int, count: Int,
        column: Int
    ) {
        keepMinimum(p, minima, first.0, second.0, row: row, column: column)
        if count > 1 { keepMinimum(p, minima, first.1, second.1, row: row &+ 1, column: column) }
        if count > 2 { keepMinimum(p, minima, first.2, second.2, row: row &+ 2, column: column) }
        if count > 3 { keepMinimum(p, minima, first.3, second.3, row: row &+ 3, column: column) }
        if count > 4 { keepMinimum(p, minima, first.4, second.4, row: row &+ 4, column: column) }
        if count > 5 { keepMinimum(p, minima, first.5, second.5, row: row &+ 5, column: column) }
        if count > 6 { keepMinimum(p, minima, first.6, second.6, row: row &+ 6, column: column) }
        if count > 7 { keepMinimum(p, minima, first.7, second.7, row: row &+ 7, column: column) }
    }

    /// Row `row`'s running minimum, lowered by the sums of the blocks at `column` and `column + 16`; lanes
    /// past the last column hold no sums (a block wholly past it is left out).
    @_transparent
    func keepMinimum(_ p: Int8GemmArguments, _ minima: UnsafeMutablePointer<Int32>, _ first: SIMD16<Int32>, _ second: SIMD16<Int32>, row: Int, column: Int) {
        let target = UnsafeMutableRawPointer(minima + row &* 16)
        var smallest = target.load(as: SIMD16<Int32>.self)
        smallest = smallerOf(smallest, smallerOf(onlyColumns(p, first, from: column), onlyColumns(p, second, from: column &+ 16)))
        target.storeBytes(of: smallest, as: SIMD16<Int32>.self)
    }

    /// vpminsd (the standard library's pointwiseMin is a loop over the lanes here).
    @_transparent
    func smallerOf(_ a: SIMD16<Int32>, _ b: SIMD16<Int32>) -> SIMD16<Int32> {
        var result = a
        result._storage._value = Builtin.int_smin_Vec16xInt32(a._storage._value, b._storage._value)
        return result
    }

    /// A block's sums with the lanes past the last column raised to Int32.max.
    @_transparent
    func onlyColumns(_ p: Int8GemmArguments, _ sums: SIMD16<Int32>, from column: Int) -> SIMD16<Int32> {
        let lanes = p.columns &- column
        guard lanes < 16 else { return sums }
        return sums.replacing(with: .max, where: laneIndices .>= SIMD16<Int32>(repeating: Int32(truncatingIfNeeded: max(0, lanes))))
    }

    @_transparent
    var laneIndices: SIMD16<Int32> { SIMD16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) }

    /// The output, when a tile is the common case: 8 real rows and codes only (no accumulators kept).
    /// `storeCodes8` stores it with no branch per row for whole blocks; at small K the branches of the
    /// general `finish` cost as much as the multiply-accumulates.
    @_transparent
    func codesOnly(_ p: Int8GemmArguments, count: Int) -> UnsafeMutablePointer<UInt8>? {
        count == 8 && p.accumulators == nil ? p.output : nil
    }

    /// The codes of 8 rows of one block (see `codesOnly`).
    @_transparent
    func storeCodes8(_ p: Int8GemmArguments, _ c: Accumulators8, output: UnsafeMutablePointer<UInt8>, row: Int, column: Int) {
        let e = blockEpilogue(p, column: column)
        let target = output + (row &* p.outputRowStride &+ column)
        if e.lanes < 16 {
            storeRows8(c, e, target, stride: p.outputRowStride, CheckedStore.self)
        } else if e.topIs255 {
            storeRows8(c, e, target, stride: p.outputRowStride, SaturatingStore.self)
        } else {
            storeRows8(c, e, target, stride: p.outputRowStride, ClampingStore.self)
        }
    }

    @_transparent
    func storeRows8<Store: CodeStore>(_ c: Accumulators8, _ e: BlockEpilogue, _ target: UnsafeMutablePointer<UInt8>, stride: Int, _: Store.Type) {
        Store.store(c.0, e, target); Store.store(c.1, e, target + stride)
        Store.store(c.2, e, target + 2 &* stride); Store.store(c.3, e, target + 3 &* stride)
        Store.store(c.4, e, target + 4 &* stride); Store.store(c.5, e, target + 5 &* stride)
        Store.store(c.6, e, target + 6 &* stride); Store.store(c.7, e, target + 7 &* stride)
    }

    /// How a kernel stores the 16 codes of a block from its Int32 sums: a type parameter, so that the
    /// choice is made once per block and each loop is compiled without a branch per store.
    protocol CodeStore {
        static func store(_ sum: SIMD16<Int32>, _ e: BlockEpilogue, _ pointer: UnsafeMutablePointer<UInt8>)
    }

    /// A whole block whose output range tops out at code 255.
    enum SaturatingStore: CodeStore {
        @_transparent
        static func store(_ sum: SIMD16<Int32>, _ e: BlockEpilogue, _ pointer: UnsafeMutablePointer<UInt8>) {
            storeCodes(requantizedCodesAVX512(sum, scale: e.scale, low: e.low, high: e.high, zeroPoint: e.zeroPoint, topIs255: true), pointer)
        }
    }

    /// A whole block with a lower top.
    enum ClampingStore: CodeStore {
        @_transparent
        static func store(_ sum: SIMD16<Int32>, _ e: BlockEpilogue, _ pointer: UnsafeMutablePointer<UInt8>) {
            storeCodes(requantizedCodesAVX512(sum, scale: e.scale, low: e.low, high: e.high, zeroPoint: e.zeroPoint, topIs255: false), pointer)
        }
    }

    /// Any block, checking its lanes and top at each store (the last block, of fewer than 16 columns).
    enum CheckedStore: CodeStore {
        @_transparent
        static func store(_ sum: SIMD16<Int32>, _ e: BlockEpilogue, _ pointer: UnsafeMutablePointer<UInt8>) {
            storeCodes16(
                requantizedCodesAVX512(sum, scale: e.scale, low: e.low, high: e.high, zeroPoint: e.zeroPoint, topIs255: e.topIs255), pointer,
                lanes: e.lanes)
        }
    }

    /// What one block's stores need, loaded once per tile.
    struct BlockEpilogue {
        var scale: SIMD16<Float>, low: SIMD16<Float>, high: SIMD16<Float>, zeroPoint: SIMD16<Int32>, lanes: Int
        /// Whether the top of the output range is code 255 (see `requantizedCodesAVX512`).
        var topIs255: Bool
    }

    /// The folded bias of the 16 columns from `column`: the accumulators start from it.
    @_transparent
    func foldedBias(_ p: Int8GemmArguments, column: Int) -> SIMD16<Int32> {
        UnsafeRawPointer(p.biasFolded + column).loadUnaligned(as: SIMD16<Int32>.self)
    }

    @_transparent
    func blockEpilogue(_ p: Int8GemmArguments, column: Int) -> BlockEpilogue {
        BlockEpilogue(
            scale: UnsafeRawPointer(p.scale + column).loadUnaligned(as: SIMD16<Float>.self), low: SIMD16<Float>(repeating: p.low),
            high: SIMD16<Float>(repeating: p.high), zeroPoint: SIMD16<Int32>(repeating: p.zeroPoint), lanes: min(16, p.columns &- column),
            topIs255: p.high + Float(p.zeroPoint) == 255)
    }

    /// A top-level function, not a nested one: the nested closure stayed an outlined call per row.
    @_transparent
    func storeRow(_ p: Int8GemmArguments, _ e: BlockEpilogue, _ corrected: SIMD16<Int32>, row: Int, column: Int) {
        if let accumulators = p.accumulators {
            storeInt32x16(corrected, accumulators + (row &* p.accumulatorRowStride &+ column), lanes: e.lanes)
        }
        if let output = p.output { CheckedStore.store(corrected, e, output + (row &* p.outputRowStride &+ column)) }
    }

    /// `requantize16` in fewer AVX-512 instructions, with the same result: the clamp as vmaxps / vminps (no
    /// NaN reaches them: the accumulator and multiplier are finite), the rounding as vcvtps2dq under the
    /// default rounding mode (to nearest, ties to even), exact on the clamped whole-number range.
    @_transparent
    func requantize16AVX512(_ accumulator: SIMD16<Int32>, scale: SIMD16<Float>, low: SIMD16<Float>, high: SIMD16<Float>, zeroPoint: SIMD16<Int32>) -> SIMD16<Int32> {
        let y = Builtin.fmul_Vec16xFPIEEE32(Builtin.sitofp_Vec16xInt32_Vec16xFPIEEE32(accumulator._storage._value), scale._storage._value)
        let currentDirection = Int32(4)._value
        let clamped = Builtin.int_x86_avx512_min_ps_512(
            Builtin.int_x86_avx512_max_ps_512(y, low._storage._value, currentDirection), high._storage._value, currentDirection)
        var rounded = SIMD16<Int32>()
        rounded._storage._value = Builtin.int_x86_avx512_mask_cvtps2dq_512(
            clamped, zeroPoint._storage._value, Int16(-1)._value, currentDirection)
        return rounded &+ zeroPoint
    }

    /// `requantize16AVX512` as bytes. Where the range's top is code 255, the clamp at the top is left to
    /// `vpmovusdb`, which saturates unsigned: a value past 255 gives 255, and so does a sum past Int32's
    /// range (vcvtps2dq's 0x80000000 and a wrapped + zero point read as large unsigned numbers), as the
    /// clamp would. The bottom clamp stays, so no in-range negative number reaches it.
    @_transparent
    func requantizedCodesAVX512(
        _ accumulator: SIMD16<Int32>, scale: SIMD16<Float>, low: SIMD16<Float>, high: SIMD16<Float>, zeroPoint: SIMD16<Int32>, topIs255: Bool
    ) -> SIMD16<UInt8> {
        guard topIs255 else { return narrowed16(requantize16AVX512(accumulator, scale: scale, low: low, high: high, zeroPoint: zeroPoint)) }
        var codes = SIMD16<UInt8>()
        let y = Builtin.fmul_Vec16xFPIEEE32(Builtin.sitofp_Vec16xInt32_Vec16xFPIEEE32(accumulator._storage._value), scale._storage._value)
        let currentDirection = Int32(4)._value
        var rounded = SIMD16<Int32>()
        rounded._storage._value = Builtin.int_x86_avx512_mask_cvtps2dq_512(
            Builtin.int_x86_avx512_max_ps_512(y, low._storage._value, currentDirection), zeroPoint._storage._value, Int16(-1)._value, currentDirection)
        let shifted = rounded &+ zeroPoint
        codes._storage._value = Builtin.int_x86_avx512_mask_pmovus_db_512(shifted._storage._value, codes._storage._value, Int16(-1)._value)
        return codes
    }

    /// A throughput probe: 16 independent chains of vpdpbusd on registers, `iterations` rounds (1024
    /// multiply-accumulates each). Returns a value that depends on every chain so none is optimised away.
    @inline(never)
    public func int8PeakLoopVNNI(_ iterations: Int) -> Int32 {
        let a = SIMD16<Int32>(repeating: 0x0102_0301), b = SIMD16<Int32>(repeating: 0x01FF_01FF)
        var c0 = SIMD16<Int32>(repeating: Int32(truncatingIfNeeded: iterations)), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        var c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0
        for _ in 0..<iterations {
            c0 = dotBytes(c0, a, b); c1 = dotBytes(c1, a, b); c2 = dotBytes(c2, a, b); c3 = dotBytes(c3, a, b)
            c4 = dotBytes(c4, a, b); c5 = dotBytes(c5, a, b); c6 = dotBytes(c6, a, b); c7 = dotBytes(c7, a, b)
            c8 = dotBytes(c8, a, b); c9 = dotBytes(c9, a, b); c10 = dotBytes(c10, a, b); c11 = dotBytes(c11, a, b)
            c12 = dotBytes(c12, a, b); c13 = dotBytes(c13, a, b); c14 = dotBytes(c14, a, b); c15 = dotBytes(c15, a, b)
        }
        return (c0 &+ c1 &+ c2 &+ c3 &+ c4 &+ c5 &+ c6 &+ c7 &+ c8 &+ c9 &+ c10 &+ c11 &+ c12 &+ c13 &+ c14 &+ c15).wrappedSum()
    }

#else

    /// Not in this build (portable, or not x86-64): `int8VNNICompiled` is false and the engine never calls it.
    @inline(never)
    public func int8GemmVNNI(_ args: UnsafePointer<Int8GemmArguments>) {
        fatalError("the AVX-512 VNNI int8 kernel is not in this build")
    }

    @inline(never)
    public func int8PeakLoopVNNI(_ iterations: Int) -> Int32 {
        fatalError("the AVX-512 VNNI int8 kernel is not in this build")
    }

#endif
