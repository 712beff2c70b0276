// Numeric kernels of the training layers. Hot loops use raw pointers, wrapping index arithmetic and
// SIMD8 register tiles (AVX2 + FMA), and never allocate.

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let raw = UnsafeMutableRawPointer(p)
    raw.storeBytes(of: accumulate ? raw.loadUnaligned(as: SIMD8<Float>.self) + v : v, as: SIMD8<Float>.self)
}

/// C (m x n) = or += A (m x k) * B (k x n).
/// A's element (row r, column q) is at `a[r * aRowStride + q * aColumnStride]`, so A may be read
/// transposed; B and C are row-major with the given row strides.
///
/// Blocking: a 16-column panel of B, `depthBlock` rows deep (16 KB), stays in L1 while 6-row tiles
/// of A sweep over it; each tile keeps its 6 x 16 results in 12 SIMD8 registers.
/// Not the engine's 6x16 tile (ConvolutionGemm), which needs weights packed once at load: here both operands change every step and A is read transposed, so packing per call would cost more than it saves.
func multiply(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
    b: UnsafePointer<Float>, bRowStride: Int,
    c: UnsafeMutablePointer<Float>, cRowStride: Int, accumulate: Bool
) {
    let depthBlock = 256
    let fullRows = m - m % 6
    var j = 0
    while j &+ 16 <= n {
        var depth = 0
        repeat {
            let length = min(depthBlock, k &- depth)
            let blockA = a + depth &* aColumnStride, blockB = b + depth &* bRowStride + j
            let add = accumulate || depth > 0
            var i = 0
            while i < fullRows {
                multiplyTile6x16(
                    a: blockA + i &* aRowStride, aRowStride: aRowStride, aColumnStride: aColumnStride, k: length,
                    b: blockB, bRowStride: bRowStride, c: c + (i &* cRowStride &+ j), cRowStride: cRowStride, accumulate: add)
                i &+= 6
            }
            depth &+= length
        } while depth < k
        j &+= 16
    }
    for row in 0..<m {
        // Rows below the last full tile get every column; the others only the columns beyond the last panel.
        let columns = row < fullRows ? j..<n : 0..<n
        if !columns.isEmpty {
            multiplyRow(
                row, columns: columns, k: k, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
                b: b, bRowStride: bRowStride, c: c, cRowStride: cRowStride, accumulate: accumulate)
        }
    }
}

@inline(__always)
private func multiplyTile6x16(
    a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int, k: Int,
    b: UnsafePointer<Float>, bRowStride: Int,
    c: UnsafeMutablePointer<Float>, cRowStride: Int, accumulate: Bool
) {
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
    let a0 = a, a1 = a0 + aRowStride, a2 = a1 + aRowStride, a3 = a2 + aRowStride, a4 = a3 + aRowStride, a5 = a4 + aRowStride
    var bp = b
    var offset = 0
    for _ in 0..<k {
        let b0 = load8(bp), b1 = load8(bp + 8)
        var x = SIMD8(repeating: a0[offset])
        c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1)
        x = SIMD8(repeating: a1[offset])
        c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1)
        x = SIMD8(repeating: a2[offset])
        c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1)
        x = SIMD8(repeating: a3[offset])
        c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1)
        x = SIMD8(repeating: a4[offset])
        c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1)
        x = SIMD8(repeating: a5[offset])
        c50 = c50.addingProduct(x, b0); c51 = c51.addingProduct(x, b1)
        bp += bRowStride
        offset &+= aColumnStride
    }
    let c1 = c + cRowStride, c2 = c1 + cRowStride, c3 = c2 + cRowStride, c4 = c3 + cRowStride, c5 = c4 + cRowStride
    store8(c00, c, accumulate: accumulate); store8(c01, c + 8, accumulate: accumulate)
    store8(c10, c1, accumulate: accumulate); store8(c11, c1 + 8, accumulate: accumulate)
    store8(c20, c2, accumulate: accumulate); store8(c21, c2 + 8, accumulate: accumulate)
    store8(c30, c3, accumulate: accumulate); store8(c31, c3 + 8, accumulate: accumulate)
    store8(c40, c4, accumulate: accumulate); store8(c41, c4 + 8, accumulate: accumulate)
    store8(c50, c5, accumulate: accumulate); store8(c51, c5 + 8, accumulate: accumulate)
}

/// One row of C over `columns`: 8 columns at a time, then one at a time.
@inline(__always)
private func multiplyRow(
    _ row: Int, columns: Range<Int>, k: Int,
    a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
    b: UnsafePointer<Float>, bRowStride: Int,
    c: UnsafeMutablePointer<Float>, cRowStride: Int, accumulate: Bool
) {
    let ar = a + row &* aRowStride
    let cr = c + row &* cRowStride
    var j = columns.lowerBound
    while j &+ 8 <= columns.upperBound {
        var sum = SIMD8<Float>()
        var bp = b + j
        var offset = 0
        for _ in 0..<k {
            sum = sum.addingProduct(SIMD8(repeating: ar[offset]), load8(bp))
            bp += bRowStride
            offset &+= aColumnStride
        }
        store8(sum, cr + j, accumulate: accumulate)
        j &+= 8
    }
    while j < columns.upperBound {
        var sum: Float = 0
        var offset = 0
        for q in 0..<k {
            sum += ar[offset] * b[q &* bRowStride &+ j]
            offset &+= aColumnStride
        }
        cr[j] = accumulate ? cr[j] + sum : sum
        j &+= 1
    }
}

/// Geometry of a 2-D window operation (convolution or pooling) on one NHWC image.
struct WindowGeometry: Equatable, Sendable {
    var inputHeight: Int, inputWidth: Int, channels: Int
    var kernelHeight: Int, kernelWidth: Int
    var stride: Int
    var padTop: Int, padLeft: Int
    var outputHeight: Int, outputWidth: Int

    init(inputHeight: Int, inputWidth: Int, channels: Int, kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int) {
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.channels = channels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.stride = stride
        padTop = padding
        padLeft = padding
        outputHeight = (inputHeight + 2 * padding - kernelHeight) / stride + 1
        outputWidth = (inputWidth + 2 * padding - kernelWidth) / stride + 1
    }

    init(inputHeight: Int, inputWidth: Int, channels: Int, kernel: Int, stride: Int, padding: Int) {
        self.init(
            inputHeight: inputHeight, inputWidth: inputWidth, channels: channels, kernelHeight: kernel, kernelWidth: kernel,
            stride: stride, padding: padding)
    }

    /// Columns of one im2col row: kernel positions times input channels, ordered (ky, kx, channel).
    var patchSize: Int { kernelHeight * kernelWidth * channels }
    var outputPixels: Int { outputHeight * outputWidth }
}

/// Visits the entries of one image's patch rows in im2col order, (oy, ox, ky, kx): the input pixel under
/// the kernel, or nil where the kernel overlaps the padding. `im2col` and its adjoint `col2im` walk it alike.
@inline(__always)
private func forEachPatchPixel(_ g: WindowGeometry, _ body: (_ inputPixel: Int?) -> Void) {
    for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
            for ky in 0..<g.kernelHeight {
                let iy = oy &* g.stride &- g.padTop &+ ky
                for kx in 0..<g.kernelWidth {
                    let ix = ox &* g.stride &- g.padLeft &+ kx
                    body(iy >= 0 && iy < g.inputHeight && ix >= 0 && ix < g.inputWidth ? iy &* g.inputWidth &+ ix : nil)
                }
            }
        }
    }
}

/// Unfolds one NHWC image into rows of patches: row (oy * outputWidth + ox) holds the input values
/// under the kernel at that output position, zero where the kernel overlaps the padding.
func im2col(_ input: UnsafePointer<Float>, _ g: WindowGeometry, into columns: UnsafeMutablePointer<Float>) {
    let c = g.channels
    var out = columns
    forEachPatchPixel(g) { pixel in
        if let pixel {
            out.update(from: input + pixel &* c, count: c)
        } else {
            out.update(repeating: 0, count: c)
        }
        out += c
    }
}

/// The adjoint of `im2col`: adds every patch entry back onto the input position it came from.
func col2im(_ columns: UnsafePointer<Float>, _ g: WindowGeometry, addingInto input: UnsafeMutablePointer<Float>) {
    let c = g.channels
    var source = columns
    forEachPatchPixel(g) { pixel in
        if let pixel {
            let target = input + pixel &* c
            for ch in 0..<c { target[ch] += source[ch] }
        }
        source += c
    }
}
