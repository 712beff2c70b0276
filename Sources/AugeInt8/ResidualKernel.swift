// The end of a residual block on codes, in AVX-512: a convolution's output codes (on its own grid) plus
// the residual's codes (on theirs), as values, then quantized onto the block's output grid:
//     out = clamp(roundHalfEven((own value + residual value) / scale)) + zeroPoint
// with the engine's own functions (`codeValues16`, `quantize16`, as its `ValueQuantization` uses them), so
// both give the same codes; in zmm registers a vector is one division instead of two.
// Compiled for x86-64-v4 like the rest of the module: only after the CPU check.
import Swift

/// The arguments of `int8ResidualAddVNNI`: `rows` rows of channels `firstChannel ..< channelEnd`.
public struct Int8ResidualArguments {
    /// The convolution's codes (row stride `ownRowStride`), the residual's and the output's (row stride
    /// `rowStride`), each at the first row's channel 0.
    public var own: UnsafePointer<UInt8>, ownRowStride: Int
    public var residual: UnsafePointer<UInt8>
    public var output: UnsafeMutablePointer<UInt8>
    public var rowStride: Int
    public var rows: Int, firstChannel: Int, channelEnd: Int
    /// value = (code - zeroPoint) * scale for the convolution's and the residual's codes.
    public var ownScale: Float, ownZeroPoint: Int32
    public var residualScale: Float, residualZeroPoint: Int32
    /// The output grid: its step, zero point, and bounds minus the zero point (as `quantize16` takes them).
    public var scale: Float, zeroPoint: Int32, low: Float, high: Float

    @_transparent
    public init(
        own: UnsafePointer<UInt8>, ownRowStride: Int, residual: UnsafePointer<UInt8>, output: UnsafeMutablePointer<UInt8>, rowStride: Int,
        rows: Int, firstChannel: Int, channelEnd: Int, ownScale: Float, ownZeroPoint: Int32, residualScale: Float, residualZeroPoint: Int32,
        scale: Float, zeroPoint: Int32, low: Float, high: Float
    ) {
        (self.own, self.ownRowStride, self.residual, self.output, self.rowStride) = (own, ownRowStride, residual, output, rowStride)
        (self.rows, self.firstChannel, self.channelEnd) = (rows, firstChannel, channelEnd)
        (self.ownScale, self.ownZeroPoint, self.residualScale, self.residualZeroPoint) = (ownScale, ownZeroPoint, residualScale, residualZeroPoint)
        (self.scale, self.zeroPoint, self.low, self.high) = (scale, zeroPoint, low, high)
    }
}

#if AUGE_VNNI

    @_transparent
    func loadCodes(_ pointer: UnsafePointer<UInt8>) -> SIMD16<UInt8> {
        var codes = SIMD16<UInt8>()
        codes._storage._value = Builtin.loadRaw(pointer._rawValue)
        return codes
    }

    /// Only on a CPU with AVX-512 (the engine asks for VNNI, as for the module's other kernels).
    @inline(never)
    public func int8ResidualAddVNNI(_ args: UnsafePointer<Int8ResidualArguments>) {
        let p = args.pointee
        let ownZero = SIMD16<Int32>(repeating: p.ownZeroPoint), ownScale = SIMD16<Float>(repeating: p.ownScale)
        let residualZero = SIMD16<Int32>(repeating: p.residualZeroPoint), residualScale = SIMD16<Float>(repeating: p.residualScale)
        let scale = SIMD16<Float>(repeating: p.scale), zeroPoint = SIMD16<Int32>(repeating: p.zeroPoint)
        let low = SIMD16<Float>(repeating: p.low), high = SIMD16<Float>(repeating: p.high)
        var row = 0
        while row < p.rows {
            var channel = p.firstChannel
            while channel < p.channelEnd {
                let own = codeValues16(loadCodes(p.own + (row &* p.ownRowStride &+ channel)), zeroPoint: ownZero, scale: ownScale)
                let other = codeValues16(loadCodes(p.residual + (row &* p.rowStride &+ channel)), zeroPoint: residualZero, scale: residualScale)
                var sum = SIMD16<Float>()
                sum._storage._value = Builtin.fadd_Vec16xFPIEEE32(own._storage._value, other._storage._value)
                let bytes = narrowed16(quantize16(sum, scale: scale, low: low, high: high, zeroPoint: zeroPoint))
                let left = p.channelEnd &- channel
                storeCodes16(bytes, p.output + (row &* p.rowStride &+ channel), lanes: left < 16 ? left : 16)
                channel &+= 16
            }
            row &+= 1
        }
    }

#else

    /// Not in this build (portable, or not x86-64): the engine never calls it.
    @inline(never)
    public func int8ResidualAddVNNI(_ args: UnsafePointer<Int8ResidualArguments>) {
        fatalError("the AVX-512 residual kernel is not in this build")
    }

#endif
