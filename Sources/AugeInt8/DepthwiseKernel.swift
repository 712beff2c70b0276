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
// per pixel and channel, the codes of this pixel and the next three: taps kx ... kx + 3 in one lane
// (built by `int8QuadRowVNNI`). At stride 1, 3x3 and 5x5 kernels compute output pixels in pairs from
// the even pixel's quads, the odd one with its weights moved a byte: half the quad loads.
import Swift

/// The arguments of one output row (see `int8DepthwiseRow`).
public struct Int8DepthwiseRowArguments {
    /// The row's `kernelHeight` input rows, each with the left padding's zero columns, so that output
    /// pixel x, tap kx reads pixel x * strideX + kx * dilationX of it. For `int8DepthwiseRow`: Float,
    /// code less the input zero point, `stride` values per pixel. For `int8DepthwiseQuadRowVNNI`
    /// (dilation 1): `stride` 4-byte lanes per pixel, channel c's holding the codes of pixels x + 3 ... x
    /// from the low byte up (padding pixels: the input zero point's code); at stride 2, and with
    /// `depthwiseOutputPairs`, only the even pixels' quads are read.
    public var inputRows: UnsafePointer<UnsafeRawPointer>
    public var kernelHeight: Int, kernelWidth: Int
    public var strideX: Int, dilationX: Int
    /// For `int8DepthwiseRow`: [tap][stride] Float (whole numbers), and the bias in accumulator units.
    /// For `int8DepthwiseQuadRowVNNI`: [set][ky][quad][stride] 4-byte lanes (ceil(kernelWidth / 4) quads),
    /// each the int8 weights of the kernel row's taps under the quad's pixels, in its byte order (0 where
    /// no tap falls), and the bias less the input zero point times the filter's weight sum. Set 0 is for
    /// an output pixel on the quad it starts on; with `depthwiseOutputPairs`, set 1 is for the second pixel
    /// of a pair, one pixel further in. Then the multipliers ([stride]).
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

/// The arguments of `int8QuadRowVNNI`: one input row of codes made into the quad row the VNNI depthwise
/// kernel reads (see `Int8DepthwiseRowArguments.inputRows`).
public struct Int8QuadRowArguments {
    /// `width` pixels of `stride` codes.
    public var line: UnsafePointer<UInt8>
    /// The quad row: `padLeft + width + padRight` pixels of `stride` lanes. Only the pixels whose quad
    /// touches the row's interior are written; the rest keep the padding they hold.
    public var target: UnsafeMutablePointer<UInt32>
    public var stride: Int
    public var padLeft: Int, width: Int
    /// The code of a padding pixel (the input zero point).
    public var padding: UInt8
    /// Stride 2 across: the kernel reads only the quads of even pixels, so only those are written.
    public var evenOnly: Bool

    @_transparent
    public init(line: UnsafePointer<UInt8>, target: UnsafeMutablePointer<UInt32>, stride: Int, padLeft: Int, width: Int, padding: UInt8, evenOnly: Bool) {
        (self.line, self.target, self.stride, self.padLeft, self.width, self.padding, self.evenOnly) =
            (line, target, stride, padLeft, width, padding, evenOnly)
    }
}

/// Whether `int8DepthwiseQuadRowVNNI` computes output pixels in pairs, both from the quads of the even one
/// (at stride 1, kernels of 3 rows and at most 3 taps or of 5 rows and 5 to 7 taps), so that the weights
/// need their second set.
@_transparent
public func depthwiseOutputPairs(kernelHeight: Int, kernelWidth: Int, strideX: Int) -> Bool {
    strideX == 1 && (kernelHeight == 3 && kernelWidth <= 3 || kernelHeight == 5 && kernelWidth > 4 && kernelWidth <= 7)
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

    /// Builds one quad row (see `Int8QuadRowArguments`). Only on a CPU with AVX-512 VNNI.
    @inline(never)
    public func int8QuadRowVNNI(_ args: UnsafePointer<Int8QuadRowArguments>) {
        let p = args.pointee
        let padding = SIMD16<Int32>(repeating: Int32(p.padding))
        let end = p.padLeft &+ p.width
        let first = p.padLeft > 3 ? p.padLeft &- 3 : 0
        let skipped = p.evenOnly ? 1 : 0
        var channel = 0
        while channel < p.stride {
            @_transparent func codes(_ x: Int) -> SIMD16<Int32> {
                x >= p.padLeft && x < end ? widen16(loadCodes(p.line + ((x &- p.padLeft) &* p.stride &+ channel))) : padding
            }
            // Each quad is the one before it moved up a byte with the next pixel's code at the bottom (a
            // shift and an or; the other order would need two shifts). Four of them make the first quad
            // whatever the register held.
            var quad = padding
            quad = movedIn(codes(first), quad)
            quad = movedIn(codes(first &+ 1), quad)
            quad = movedIn(codes(first &+ 2), quad)
            quad = movedIn(codes(first &+ 3), quad)
            var x = first
            var next = p.line + ((first &+ 4 &- p.padLeft) &* p.stride &+ channel)
            let target = p.target + channel
            while x &+ 4 < end {
                if x & skipped == 0 { storeQuads(quad, target + x &* p.stride) }
                quad = movedIn(widen16(loadCodes(next)), quad)
                next += p.stride
                x &+= 1
            }
            while x < end {
                if x & skipped == 0 { storeQuads(quad, target + x &* p.stride) }
                quad = movedIn(padding, quad)
                x &+= 1
            }
            channel &+= 16
        }
    }

    /// quad << 8 with `code` (0...255) in the low byte, per lane.
    @_transparent
    func movedIn(_ code: SIMD16<Int32>, _ quad: SIMD16<Int32>) -> SIMD16<Int32> {
        var result = SIMD16<Int32>()
        result._storage._value = Builtin.or_Vec16xInt32(Builtin.shl_Vec16xInt32(quad._storage._value, SIMD16<Int32>(repeating: 8)._storage._value), code._storage._value)
        return result
    }

    @_transparent
    func storeQuads(_ quads: SIMD16<Int32>, _ pointer: UnsafeMutablePointer<UInt32>) {
        Builtin.storeRaw(quads._storage._value, pointer._rawValue)
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
        if depthwiseOutputPairs(kernelHeight: p.kernelHeight, kernelWidth: p.kernelWidth, strideX: p.strideX) {
            if p.kernelHeight == 3 {
                pairLoop3Rows(p, channel: channel, e, Store.self)
            } else {
                pairLoop5Rows(p, channel: channel, e, Store.self)
            }
        } else if p.kernelHeight == 3 && p.kernelWidth <= 4 {
            quadLoop3Rows(p, channel: channel, e, Store.self)
        } else if p.kernelHeight == 5 && p.kernelWidth > 4 && p.kernelWidth <= 8 {
            quadLoop5Rows(p, channel: channel, e, Store.self)
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

    /// Three kernel rows of at most 4 taps, not in pairs (3x3 at stride 2 above all), output pixels from
    /// `first` on: one vpdpbusd per kernel row, the block's three weight vectors held for the row.
    @_transparent
    func quadLoop3Rows<Store: CodeStore>(_ p: Int8DepthwiseRowArguments, channel: Int, from first: Int = 0, _ e: BlockEpilogue, _: Store.Type) {
        let bias = loadInt32s(p.bias + channel)
        let s = p.stride, w = UnsafePointer<Int32>(p.weights._rawValue) + channel
        let w0 = loadQuads(w), w1 = loadQuads(w + s), w2 = loadQuads(w + 2 &* s)
        let step = p.strideX &* s
        let r0 = quadRow(p, 0) + channel, r1 = quadRow(p, 1) + channel, r2 = quadRow(p, 2) + channel
        let output = p.output + channel
        var x = first
        while x < p.outWidth {
            let offset = x &* step
            let sum = dotBytes(dotBytes(dotBytes(bias, loadQuads(r0 + offset), w0), loadQuads(r1 + offset), w1), loadQuads(r2 + offset), w2)
            Store.store(sum, e, output + x &* s)
            x &+= 1
        }
    }

    /// Five kernel rows of 5 to 8 taps (5x5 above all), output pixels from `first` on: two vpdpbusd per
    /// kernel row, the block's ten weight vectors held for the row.
    @_transparent
    func quadLoop5Rows<Store: CodeStore>(_ p: Int8DepthwiseRowArguments, channel: Int, from first: Int = 0, _ e: BlockEpilogue, _: Store.Type) {
        let bias = loadInt32s(p.bias + channel)
        let s = p.stride, w = UnsafePointer<Int32>(p.weights._rawValue) + channel
        let a0 = loadQuads(w), b0 = loadQuads(w + s), a1 = loadQuads(w + 2 &* s), b1 = loadQuads(w + 3 &* s)
        let a2 = loadQuads(w + 4 &* s), b2 = loadQuads(w + 5 &* s), a3 = loadQuads(w + 6 &* s), b3 = loadQuads(w + 7 &* s)
        let a4 = loadQuads(w + 8 &* s), b4 = loadQuads(w + 9 &* s)
        let step = p.strideX &* s, second = 4 &* s
        let r0 = quadRow(p, 0) + channel, r1 = quadRow(p, 1) + channel, r2 = quadRow(p, 2) + channel
        let r3 = quadRow(p, 3) + channel, r4 = quadRow(p, 4) + channel
        let output = p.output + channel
        var x = first
        while x < p.outWidth {
            let o = x &* step
            var sum = quadPair(bias, r0 + o, second, a0, b0)
            sum = quadPair(sum, r1 + o, second, a1, b1)
            sum = quadPair(sum, r2 + o, second, a2, b2)
            sum = quadPair(sum, r3 + o, second, a3, b3)
            sum = quadPair(sum, r4 + o, second, a4, b4)
            Store.store(sum, e, output + x &* s)
            x &+= 1
        }
    }

    /// Stride 1, five kernel rows of 5 to 7 taps: an output pair reads two quads per kernel row, each
    /// multiplied by both pixels' weights (twenty vectors, held for the row).
    @_transparent
    func pairLoop5Rows<Store: CodeStore>(_ p: Int8DepthwiseRowArguments, channel: Int, _ e: BlockEpilogue, _: Store.Type) {
        let bias = loadInt32s(p.bias + channel)
        let s = p.stride, w = UnsafePointer<Int32>(p.weights._rawValue) + channel, v = w + 10 &* s
        let a0 = loadQuads(w), b0 = loadQuads(w + s), a1 = loadQuads(w + 2 &* s), b1 = loadQuads(w + 3 &* s)
        let a2 = loadQuads(w + 4 &* s), b2 = loadQuads(w + 5 &* s), a3 = loadQuads(w + 6 &* s), b3 = loadQuads(w + 7 &* s)
        let a4 = loadQuads(w + 8 &* s), b4 = loadQuads(w + 9 &* s)
        let c0 = loadQuads(v), d0 = loadQuads(v + s), c1 = loadQuads(v + 2 &* s), d1 = loadQuads(v + 3 &* s)
        let c2 = loadQuads(v + 4 &* s), d2 = loadQuads(v + 5 &* s), c3 = loadQuads(v + 6 &* s), d3 = loadQuads(v + 7 &* s)
        let c4 = loadQuads(v + 8 &* s), d4 = loadQuads(v + 9 &* s)
        let second = 4 &* s
        let r0 = quadRow(p, 0) + channel, r1 = quadRow(p, 1) + channel, r2 = quadRow(p, 2) + channel
        let r3 = quadRow(p, 3) + channel, r4 = quadRow(p, 4) + channel
        let output = p.output + channel
        var x = 0
        while x &+ 1 < p.outWidth {
            let o = x &* s
            var sums = pairRow((bias, bias), r0 + o, second, a0, b0, c0, d0)
            sums = pairRow(sums, r1 + o, second, a1, b1, c1, d1)
            sums = pairRow(sums, r2 + o, second, a2, b2, c2, d2)
            sums = pairRow(sums, r3 + o, second, a3, b3, c3, d3)
            sums = pairRow(sums, r4 + o, second, a4, b4, c4, d4)
            Store.store(sums.0, e, output + o)
            Store.store(sums.1, e, output + (o &+ s))
            x &+= 2
        }
        // An odd width's last pixel, alone.
        if x < p.outWidth { quadLoop5Rows(p, channel: channel, from: x, e, Store.self) }
    }

    /// `sum` plus a kernel row's two quads (at `quads` and `second` lanes on) times weights `a` and `b`.
    @_transparent
    func quadPair(_ sum: SIMD16<Int32>, _ quads: UnsafePointer<Int32>, _ second: Int, _ a: SIMD16<Int32>, _ b: SIMD16<Int32>) -> SIMD16<Int32> {
        dotBytes(dotBytes(sum, loadQuads(quads), a), loadQuads(quads + second), b)
    }

    /// An output pair's sums plus a kernel row's two quads, times the first pixel's weights (`a`, `b`)
    /// and the second's (`c`, `d`): each quad loaded once.
    @_transparent
    func pairRow(
        _ sums: (SIMD16<Int32>, SIMD16<Int32>), _ quads: UnsafePointer<Int32>, _ second: Int, _ a: SIMD16<Int32>, _ b: SIMD16<Int32>,
        _ c: SIMD16<Int32>, _ d: SIMD16<Int32>
    ) -> (SIMD16<Int32>, SIMD16<Int32>) {
        let q = loadQuads(quads), r = loadQuads(quads + second)
        return (dotBytes(dotBytes(sums.0, q, a), r, b), dotBytes(dotBytes(sums.1, q, c), r, d))
    }

    /// Stride 1, three kernel rows of at most 3 taps (3x3 above all): an output pair reads one quad per
    /// kernel row, one vpdpbusd per row and pixel, the block's six weight vectors held for the row.
    @_transparent
    func pairLoop3Rows<Store: CodeStore>(_ p: Int8DepthwiseRowArguments, channel: Int, _ e: BlockEpilogue, _: Store.Type) {
        let bias = loadInt32s(p.bias + channel)
        let s = p.stride, w = UnsafePointer<Int32>(p.weights._rawValue) + channel
        let w0 = loadQuads(w), w1 = loadQuads(w + s), w2 = loadQuads(w + 2 &* s)
        let v0 = loadQuads(w + 3 &* s), v1 = loadQuads(w + 4 &* s), v2 = loadQuads(w + 5 &* s)
        let r0 = quadRow(p, 0) + channel, r1 = quadRow(p, 1) + channel, r2 = quadRow(p, 2) + channel
        let output = p.output + channel
        var x = 0
        while x &+ 1 < p.outWidth {
            let offset = x &* s
            let a = loadQuads(r0 + offset), b = loadQuads(r1 + offset), c = loadQuads(r2 + offset)
            let sum = dotBytes(dotBytes(dotBytes(bias, a, w0), b, w1), c, w2)
            let next = dotBytes(dotBytes(dotBytes(bias, a, v0), b, v1), c, v2)
            Store.store(sum, e, output + offset)
            Store.store(next, e, output + (offset &+ s))
            x &+= 2
        }
        // An odd width's last pixel, alone.
        if x < p.outWidth { quadLoop3Rows(p, channel: channel, from: x, e, Store.self) }
    }

#else

    /// Not in this build (portable, or not x86-64): the engine never calls it.
    @inline(never)
    public func int8DepthwiseRowAVX512(_ args: UnsafePointer<Int8DepthwiseRowArguments>) {
        fatalError("the AVX-512 depthwise kernel is not in this build")
    }

    /// Not in this build (portable, or not x86-64): the engine never calls it.
    @inline(never)
    public func int8QuadRowVNNI(_ args: UnsafePointer<Int8QuadRowArguments>) {
        fatalError("the VNNI quad-row builder is not in this build")
    }

    /// Not in this build (portable, or not x86-64): the engine never calls it.
    @inline(never)
    public func int8DepthwiseQuadRowVNNI(_ args: UnsafePointer<Int8DepthwiseRowArguments>) {
        fatalError("the VNNI depthwise kernel is not in this build")
    }

#endif
