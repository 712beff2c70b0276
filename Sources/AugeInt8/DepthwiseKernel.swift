// One output row of an int8 depthwise convolution (one filter per channel), 16 channels at a time.
// The engine converts the input codes to Float less the zero point (whole numbers), so the sums of
// products of codes and int8 weights are exact in Float up to 2^24 (at most 512 taps, see the engine's
// `Int8DepthwiseStep.applies`): the same as Int32 sums, then requantized by `requantize16`.
//
// The body is @_transparent and written on Builtin vector operations, so that it compiles well both
// where the engine inlines it (x86-64-v3: two ymm per vector, the kernel's 9 weights no longer all in
// registers) and in `int8DepthwiseRowAVX512`, this module's AVX-512 build of it (one zmm per vector,
// 32 registers), which the engine calls only after the CPU check.
//
// With AVX-512 VNNI, `int8DepthwiseQuadRowVNNI` sums in Int32 instead: `vpdpbusd` multiplies four codes
// by four int8 weights per lane and adds the products, so a kernel row of up to 4 taps is one instruction
// (3 FMAs in Float), and no Float conversion is needed before the requantization. Its input rows hold,
// per pixel and channel, the codes of this pixel and the next three: taps kx ... kx + 3 in one lane.
import Swift

/// The arguments of one output row (see `int8DepthwiseRow`).
public struct Int8DepthwiseRowArguments {
    /// The row's `kernelHeight` input rows, each with the left padding's zero columns, so that output
    /// pixel x, tap kx reads pixel x * strideX + kx * dilationX of it. For `int8DepthwiseRow`: Float,
    /// code less the input zero point, `stride` values per pixel. For `int8DepthwiseQuadRowVNNI`
    /// (dilation 1): `stride` 4-byte lanes per pixel, channel c's holding the codes of pixels x ... x + 3
    /// (padding pixels: the input zero point's code).
    public var inputRows: UnsafePointer<UnsafeRawPointer>
    public var kernelHeight: Int, kernelWidth: Int
    public var strideX: Int, dilationX: Int
    /// For `int8DepthwiseRow`: [tap][stride] Float (whole numbers), and the bias in accumulator units.
    /// For `int8DepthwiseQuadRowVNNI`: [ky][quad][stride] 4-byte lanes, each the int8 weights of taps
    /// 4 * quad ... 4 * quad + 3 of kernel row ky (0 past the kernel's width), and the bias less the input
    /// zero point times the filter's weight sum. Then the multipliers ([stride]).
    public var weights: UnsafeRawPointer
    public var bias: UnsafePointer<Int32>
    public var multipliers: UnsafePointer<Float>
    /// Output bounds minus the zero point, and the output zero point (see `requantize16`).
    public var low: Float, high: Float
    public var zeroPoint: Int32
    /// The output row: `outWidth` pixels of `stride` bytes, `channels` of them written.
    public var output: UnsafeMutablePointer<UInt8>
    public var outWidth: Int
    public var channels: Int
    public var stride: Int

    @_transparent
    public init(
        inputRows: UnsafePointer<UnsafeRawPointer>, kernelHeight: Int, kernelWidth: Int, strideX: Int, dilationX: Int, weights: UnsafeRawPointer,
        bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, low: Float, high: Float, zeroPoint: Int32, output: UnsafeMutablePointer<UInt8>,
        outWidth: Int, channels: Int, stride: Int
    ) {
        self.inputRows = inputRows
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideX = strideX
        self.dilationX = dilationX
        self.weights = weights
        self.bias = bias
        self.multipliers = multipliers
        self.low = low
        self.high = high
        self.zeroPoint = zeroPoint
        self.output = output
        self.outWidth = outWidth
        self.channels = channels
        self.stride = stride
    }
}

@_transparent @usableFromInline
func loadFloats(_ pointer: UnsafePointer<Float>) -> SIMD16<Float> {
    Builtin.loadRaw(pointer._rawValue)
}

/// Row `index` of `rows` as Float (the Float kernels' layout).
@_transparent @usableFromInline
func floatRow(_ rows: UnsafePointer<UnsafeRawPointer>, _ index: Int) -> UnsafePointer<Float> {
    UnsafePointer(rows[index]._rawValue)
}

@_transparent @usableFromInline
func loadInt32s(_ pointer: UnsafePointer<Int32>) -> SIMD16<Int32> {
    Builtin.loadRaw(pointer._rawValue)
}

/// a * b + c. Fused where the build has FMA (exact either way: whole numbers below 2^24); a multiply and
/// an add in the portable build, where a fused one would be a library call per lane.
@_transparent @usableFromInline
func productSum(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
    var result = SIMD16<Float>()
    #if AUGE_VNNI
        result._storage._value = Builtin.int_fma_Vec16xFPIEEE32(a._storage._value, b._storage._value, c._storage._value)
    #else
        result._storage._value = Builtin.fadd_Vec16xFPIEEE32(Builtin.fmul_Vec16xFPIEEE32(a._storage._value, b._storage._value), c._storage._value)
    #endif
    return result
}

@_transparent @usableFromInline
func sum(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    var result = SIMD16<Float>()
    result._storage._value = Builtin.fadd_Vec16xFPIEEE32(a._storage._value, b._storage._value)
    return result
}

@_transparent @usableFromInline
func product(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    var result = SIMD16<Float>()
    result._storage._value = Builtin.fmul_Vec16xFPIEEE32(a._storage._value, b._storage._value)
    return result
}

/// Computes one output row (see `Int8DepthwiseRowArguments`).
@_transparent
public func int8DepthwiseRow(_ p: Int8DepthwiseRowArguments) {
    var channel = 0
    while channel < p.channels {
        if p.kernelHeight == 3 && p.kernelWidth == 3 {
            depthwiseBlock3x3(p, channel: channel)
        } else {
            depthwiseBlock(p, channel: channel)
        }
        channel &+= 16
    }
}

/// Requantizes and stores one output pixel's 16 channels from the Float sum.
///
/// No generic standard-library call here (`min`, `storeBytes`): a second user of their specializations in
/// this module made the compiler outline them, also in the GEMM's hot loop (calls, and copies compiled
/// for AVX-512 that the linker may share with the engine's).
@_transparent @usableFromInline
func storeDepthwise(_ p: Int8DepthwiseRowArguments, _ sum: SIMD16<Float>, x: Int, channel: Int, scale: SIMD16<Float>, bias: SIMD16<Int32>) {
    let codes = requantize16(
        int16(sum) &+ bias, scale: scale, low: SIMD16<Float>(repeating: p.low), high: SIMD16<Float>(repeating: p.high),
        zeroPoint: SIMD16<Int32>(repeating: p.zeroPoint))
    storeCodes16(narrowed16(codes), p.output + (x &* p.stride &+ channel), lanes: p.channels &- channel < 16 ? p.channels &- channel : 16)
}

/// Any kernel size.
@_transparent @usableFromInline
func depthwiseBlock(_ p: Int8DepthwiseRowArguments, channel: Int) {
    let scale = loadFloats(p.multipliers + channel)
    let bias = loadInt32s(p.bias + channel)
    let tap = p.dilationX &* p.stride, step = p.strideX &* p.stride
    var x = 0
    while x < p.outWidth {
        var sum = SIMD16<Float>(repeating: 0)
        var ky = 0
        while ky < p.kernelHeight {
            let line = floatRow(p.inputRows, ky) + (x &* step &+ channel)
            let weights = UnsafePointer<Float>(p.weights._rawValue) + (ky &* p.kernelWidth &* p.stride &+ channel)
            var kx = 0
            while kx < p.kernelWidth {
                sum = productSum(loadFloats(line + kx &* tap), loadFloats(weights + kx &* p.stride), sum)
                kx &+= 1
            }
            ky &+= 1
        }
        storeDepthwise(p, sum, x: x, channel: channel, scale: scale, bias: bias)
        x &+= 1
    }
}

/// 3x3 kernels: nine taps unrolled, the block's weights held for the row.
@_transparent @usableFromInline
func depthwiseBlock3x3(_ p: Int8DepthwiseRowArguments, channel: Int) {
    let scale = loadFloats(p.multipliers + channel)
    let bias = loadInt32s(p.bias + channel)
    let s = p.stride, w = UnsafePointer<Float>(p.weights._rawValue) + channel
    let w0 = loadFloats(w), w1 = loadFloats(w + s), w2 = loadFloats(w + 2 &* s)
    let w3 = loadFloats(w + 3 &* s), w4 = loadFloats(w + 4 &* s), w5 = loadFloats(w + 5 &* s)
    let w6 = loadFloats(w + 6 &* s), w7 = loadFloats(w + 7 &* s), w8 = loadFloats(w + 8 &* s)
    let tap = p.dilationX &* s, step = p.strideX &* s
    let r0 = floatRow(p.inputRows, 0) + channel, r1 = floatRow(p.inputRows, 1) + channel, r2 = floatRow(p.inputRows, 2) + channel
    var x = 0
    while x < p.outWidth {
        // One sum per kernel row, added at the end: three short dependency chains instead of one of nine
        // (the sums are exact, so the order does not change them).
        let offset = x &* step
        var a = product(loadFloats(r0 + offset), w0)
        var b = product(loadFloats(r1 + offset), w3)
        var c = product(loadFloats(r2 + offset), w6)
        a = productSum(loadFloats(r0 + (offset &+ tap)), w1, a)
        b = productSum(loadFloats(r1 + (offset &+ tap)), w4, b)
        c = productSum(loadFloats(r2 + (offset &+ tap)), w7, c)
        a = productSum(loadFloats(r0 + (offset &+ 2 &* tap)), w2, a)
        b = productSum(loadFloats(r1 + (offset &+ 2 &* tap)), w5, b)
        c = productSum(loadFloats(r2 + (offset &+ 2 &* tap)), w8, c)
        storeDepthwise(p, sum(sum(a, b), c), x: x, channel: channel, scale: scale, bias: bias)
        x &+= 1
    }
}

#if AUGE_VNNI

    /// `int8DepthwiseRow` compiled for AVX-512. Only on a CPU with AVX-512 (the engine asks for VNNI too,
    /// as for the module's GEMM).
    @inline(never)
    public func int8DepthwiseRowAVX512(_ args: UnsafePointer<Int8DepthwiseRowArguments>) {
        int8DepthwiseRow(args.pointee)
    }

    @_transparent
    func loadQuads(_ pointer: UnsafePointer<Int32>) -> SIMD16<Int32> {
        Builtin.loadRaw(pointer._rawValue)
    }

    /// One output row on quad rows (see `Int8DepthwiseRowArguments`; dilation 1). Only on a CPU with
    /// AVX-512 VNNI.
    @inline(never)
    public func int8DepthwiseQuadRowVNNI(_ args: UnsafePointer<Int8DepthwiseRowArguments>) {
        let p = args.pointee
        var channel = 0
        while channel < p.channels {
            // The way of storing the block's codes, chosen once for the block (see `CodeStore`).
            let e = depthwiseEpilogue(p, channel: channel)
            if e.lanes < 16 {
                quadBlock(p, channel: channel, e, CheckedStore.self)
            } else if e.topIs255 {
                quadBlock(p, channel: channel, e, SaturatingStore.self)
            } else {
                quadBlock(p, channel: channel, e, ClampingStore.self)
            }
            channel &+= 16
        }
    }

    @_transparent
    func quadRow(_ p: Int8DepthwiseRowArguments, _ ky: Int) -> UnsafePointer<Int32> {
        UnsafePointer(p.inputRows[ky]._rawValue)
    }

    /// The requantization of the 16 channels from `channel`. (No `min` here: a second user of it in this
    /// module had it compiled as an outlined call, also in the GEMM's tiles.)
    @_transparent
    func depthwiseEpilogue(_ p: Int8DepthwiseRowArguments, channel: Int) -> BlockEpilogue {
        BlockEpilogue(
            scale: loadFloats(p.multipliers + channel), low: SIMD16<Float>(repeating: p.low), high: SIMD16<Float>(repeating: p.high),
            zeroPoint: SIMD16<Int32>(repeating: p.zeroPoint), lanes: p.channels &- channel < 16 ? p.channels &- channel : 16, topIs255: p.high + Float(p.zeroPoint) == 255)
    }

    /// The 16 channels from `channel` of the output row.
    @_transparent
    func quadBlock<Store: CodeStore>(_ p: Int8DepthwiseRowArguments, channel: Int, _ e: BlockEpilogue, _: Store.Type) {
        if p.kernelHeight == 3 && p.kernelWidth <= 4 {
            quadLoop3Rows(p, channel: channel, e, Store.self)
        } else {
            quadLoop(p, channel: channel, e, Store.self)
        }
    }

    /// Any kernel size: ceil(kernelWidth / 4) quads per kernel row.
    @_transparent
    func quadLoop<Store: CodeStore>(_ p: Int8DepthwiseRowArguments, channel: Int, _ e: BlockEpilogue, _: Store.Type) {
        let bias = loadInt32s(p.bias + channel)
        let weights = UnsafePointer<Int32>(p.weights._rawValue) + channel
        let quads = (p.kernelWidth &+ 3) / 4
        let step = p.strideX &* p.stride
        var x = 0
        while x < p.outWidth {
            var sum = bias
            var ky = 0
            while ky < p.kernelHeight {
                let line = quadRow(p, ky) + (x &* step &+ channel)
                let rowWeights = weights + ky &* quads &* p.stride
                var quad = 0
                while quad < quads {
                    sum = dotBytes(sum, loadQuads(line + 4 &* quad &* p.stride), loadQuads(rowWeights + quad &* p.stride))
                    quad &+= 1
                }
                ky &+= 1
            }
            Store.store(sum, e, p.output + (x &* p.stride &+ channel))
            x &+= 1
        }
    }

    /// Three kernel rows of at most 4 taps (3x3 above all): one vpdpbusd per kernel row, the block's
    /// three weight vectors held for the row.
    @_transparent
    func quadLoop3Rows<Store: CodeStore>(_ p: Int8DepthwiseRowArguments, channel: Int, _ e: BlockEpilogue, _: Store.Type) {
        let bias = loadInt32s(p.bias + channel)
        let s = p.stride, w = UnsafePointer<Int32>(p.weights._rawValue) + channel
        let w0 = loadQuads(w), w1 = loadQuads(w + s), w2 = loadQuads(w + 2 &* s)
        let step = p.strideX &* s
        let r0 = quadRow(p, 0) + channel, r1 = quadRow(p, 1) + channel, r2 = quadRow(p, 2) + channel
        let output = p.output + channel
        var x = 0
        while x < p.outWidth {
            let offset = x &* step
            var sum = dotBytes(bias, loadQuads(r0 + offset), w0)
            sum = dotBytes(sum, loadQuads(r1 + offset), w1)
            sum = dotBytes(sum, loadQuads(r2 + offset), w2)
            Store.store(sum, e, output + x &* s)
            x &+= 1
        }
    }

#else

    /// Not in this build (portable, or not x86-64): the engine never calls it.
    @inline(never)
    public func int8DepthwiseRowAVX512(_ args: UnsafePointer<Int8DepthwiseRowArguments>) {
        fatalError("the AVX-512 depthwise kernel is not in this build")
    }

    /// Not in this build (portable, or not x86-64): the engine never calls it.
    @inline(never)
    public func int8DepthwiseQuadRowVNNI(_ args: UnsafePointer<Int8DepthwiseRowArguments>) {
        fatalError("the VNNI depthwise kernel is not in this build")
    }

#endif
