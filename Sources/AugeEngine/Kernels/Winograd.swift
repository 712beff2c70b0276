// Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions: each 2x2 output tile costs 16 multiplies per
// input-output channel pair instead of 36. Per chunk of tiles (sized to stay in L2, in per-thread
// scratch): input transform V = B^T d B of 4x4 input windows, 16 GEMMs M[k] = V[k] x U[k] with the
// same 6x16 micro-kernel as the direct convolution, then the output transform Y = A^T M A with the
// fused epilogue. U = G g G^T is computed once at load time.

final class WinogradStep: Step {
    let geometry: ConvolutionGeometry
    let padded: PaddedInput
    let output: UnsafeMutablePointer<Float>
    let epilogue: Epilogue
    /// [16][output channel blocks][inChannelsPadded][16]
    let weights: AlignedBuffer
    let bias: AlignedBuffer
    /// Per worker: V [16][chunkTiles][inChannelsPadded] then M [16][chunkTiles][outChannelsPadded].
    let scratch: AlignedBuffer
    let inStride: Int, outStride: Int
    let tilesY: Int, tilesX: Int, tiles: Int
    let chunkTiles: Int

    static func applies(to g: ConvolutionGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideY == 1 && g.strideX == 1 && g.dilationY == 1 && g.dilationX == 1
            && g.groups == 1 && g.inChannels >= 16 && g.outChannels >= 16
            // Measured: on 7x7 outputs the 2x2 tiles waste a third of the work and the transformed
            // weights stream once per small chunk; the direct kernel wins there.
            && g.outHeight * g.outWidth >= 100
    }

    /// Size of the zero-padded input: whole 4x4 windows for every 2x2 output tile.
    static func paddedSize(_ g: ConvolutionGeometry) -> (height: Int, width: Int) {
        (2 * ((g.outHeight + 1) / 2) + 2, 2 * ((g.outWidth + 1) / 2) + 2)
    }

    static func gatheredCount(_ g: ConvolutionGeometry) -> Int {
        let size = paddedSize(g)
        return g.batch * size.height * size.width * paddedChannels(g.inChannels)
    }

    init(geometry g: ConvolutionGeometry, weight: [Float], biasValues: [Float], source: UnsafePointer<Float>, sourceLayout: Layout,
         gathered: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, epilogue: Epilogue, threads: Int) {
        geometry = g
        inStride = paddedChannels(g.inChannels)
        outStride = paddedChannels(g.outChannels)
        let size = Self.paddedSize(g)
        padded = PaddedInput(geometry: g, source: source, sourceLayout: sourceLayout, pixelStride: inStride,
                             paddedHeight: size.height, paddedWidth: size.width, planar: false, destination: gathered)
        self.output = output
        self.epilogue = epilogue
        tilesY = (g.outHeight + 1) / 2
        tilesX = (g.outWidth + 1) / 2
        tiles = g.batch * tilesY * tilesX
        // V and M of one chunk within about 1 MB (each of the 16 GEMMs touches a sixteenth of it),
        // and at least 24 tiles so the transformed weights are reused; whole micro-tiles of 6.
        let perTile = 16 * (inStride + outStride) * 4
        chunkTiles = min(max(24, (1 << 20) / perTile / 6 * 6), (tiles + 5) / 6 * 6)
        scratch = AlignedBuffer(count: max(1, threads) * chunkTiles * 16 * (inStride + outStride))
        bias = AlignedBuffer(count: outStride)
        for o in 0..<g.outChannels { bias.pointer[o] = biasValues[o] }
        // U = G g G^T per (output, input) channel pair, in Double.
        let blocks = outStride / vectorWidth
        weights = AlignedBuffer(count: 16 * blocks * inStride * vectorWidth)
        let gMatrix: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        for o in 0..<g.outChannels {
            for i in 0..<g.inChannels {
                let kernel = (0..<9).map { Double(weight[(o * g.inChannels + i) * 9 + $0]) }
                for r in 0..<4 {
                    for c in 0..<4 {
                        var sum = 0.0
                        for a in 0..<3 { for b in 0..<3 { sum += gMatrix[r][a] * kernel[a * 3 + b] * gMatrix[c][b] } }
                        let position = r * 4 + c
                        weights.pointer[((position * blocks + o / vectorWidth) * inStride + i) * vectorWidth + o % vectorWidth] = Float(sum)
                    }
                }
            }
        }
    }

    func execute(pool: ThreadPool) {
        padded.gather(pool: pool)
        let chunks = (tiles + chunkTiles - 1) / chunkTiles
        pool.parallelFor(chunks, work: geometry.multiplyAccumulates, withWorker: { chunk, worker in
            let first = chunk * chunkTiles
            process(tiles: first..<min(first + chunkTiles, tiles), scratch: scratch.pointer + worker * chunkTiles * 16 * (inStride + outStride))
        })
    }

    /// Where tile t's 4x4 input window starts in the padded input, and its output pixel.
    @inline(__always) private func locate(_ t: Int) -> (input: UnsafePointer<Float>, image: Int, y: Int, x: Int) {
        let perImage = tilesY &* tilesX
        let (image, rest) = (t / perImage, t % perImage)
        let (y, x) = (2 &* (rest / tilesX), 2 &* (rest % tilesX))
        return (UnsafePointer(padded.destination + (image &* padded.imageStride &+ y &* padded.rowStride &+ x &* inStride)), image, y, x)
    }

    private func process(tiles range: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
        let count = range.count
        let v = scratch, m = scratch + 16 &* chunkTiles &* inStride
        let vPlane = chunkTiles &* inStride, mPlane = chunkTiles &* outStride
        // Input transform: V[k][tile][channel].
        for (index, t) in range.enumerated() {
            transformInput(locate(t).input, into: v + index &* inStride, plane: vPlane)
        }
        // 16 GEMMs: M[k] (count x outStride) = V[k] (count x inStride) x U[k] (inStride x outStride).
        let blocks = outStride / vectorWidth
        for k in 0..<16 {
            let a = UnsafePointer(v + k &* vPlane), c = m + k &* mPlane
            for block in 0..<blocks {
                let u = UnsafePointer(weights.pointer + (k &* blocks &+ block) &* inStride &* vectorWidth)
                var row = 0
                while row < count {
                    let last = min(row &+ 5, count &- 1)
                    let rows = (a + row &* inStride, a + min(row &+ 1, last) &* inStride, a + min(row &+ 2, last) &* inStride,
                                a + min(row &+ 3, last) &* inStride, a + min(row &+ 4, last) &* inStride, a + last &* inStride)
                    let r = multiplyTile(rows, kernelRows: 1, tapRowStep: 0, tapColumns: 1, tapColumnStep: 0, inner: inStride,
                                         weights: u, initial: (Vector(), Vector(), Vector(), Vector(), Vector(), Vector()))
                    let out = c + (row &* outStride &+ block &* vectorWidth)
                    let valid = last &- row &+ 1
                    storeVector(r.0, out)
                    if valid > 1 { storeVector(r.1, out + outStride) }
                    if valid > 2 { storeVector(r.2, out + 2 &* outStride) }
                    if valid > 3 { storeVector(r.3, out + 3 &* outStride) }
                    if valid > 4 { storeVector(r.4, out + 4 &* outStride) }
                    if valid > 5 { storeVector(r.5, out + 5 &* outStride) }
                    row &+= 6
                }
            }
        }
        // Output transform with the epilogue.
        for (index, t) in range.enumerated() {
            let (_, image, y, x) = locate(t)
            transformOutput(UnsafePointer(m + index &* outStride), plane: mPlane, image: image, y: y, x: x)
        }
    }

    /// V = B^T d B for every 16-channel block of one 4x4 window; writes V[k] at `target + k * plane`.
    @inline(__always)
    private func transformInput(_ window: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, plane: Int) {
        let rowStride = padded.rowStride
        var channel = 0
        while channel < inStride {
            let base = window + channel
            @inline(__always) func load(_ r: Int, _ c: Int) -> Vector { loadVector(base + (r &* rowStride &+ c &* inStride)) }
            // Row i of B^T d, column c.
            @inline(__always) func left(_ i: Int, _ c: Int) -> Vector {
                switch i {
                case 0: return load(0, c) - load(2, c)
                case 1: return load(1, c) + load(2, c)
                case 2: return load(2, c) - load(1, c)
                default: return load(1, c) - load(3, c)
                }
            }
            for i in 0..<4 {
                let (a, b, c, d) = (left(i, 0), left(i, 1), left(i, 2), left(i, 3))
                let row = target + (i &* 4 &* plane &+ channel)
                storeVector(a - c, row)
                storeVector(b + c, row + plane)
                storeVector(c - b, row + 2 &* plane)
                storeVector(b - d, row + 3 &* plane)
            }
            channel &+= vectorWidth
        }
    }

    /// Y = A^T M A + bias for every 16-channel block of one tile, through the epilogue, into the
    /// output pixels (y, x) ... (y + 1, x + 1) that exist.
    @inline(__always)
    private func transformOutput(_ source: UnsafePointer<Float>, plane: Int, image: Int, y: Int, x: Int) {
        let g = geometry
        let right = x &+ 1 < g.outWidth, below = y &+ 1 < g.outHeight
        let topLeft = ((image &* g.outHeight &+ y) &* g.outWidth &+ x) &* outStride
        let belowOffset = g.outWidth &* outStride
        var channel = 0
        while channel < outStride {
            let base = source + channel
            @inline(__always) func load(_ r: Int, _ c: Int) -> Vector { loadVector(base + (r &* 4 &+ c) &* plane) }
            // Rows of A^T M.
            @inline(__always) func top(_ c: Int) -> Vector { load(0, c) + load(1, c) + load(2, c) }
            @inline(__always) func bottom(_ c: Int) -> Vector { load(1, c) - load(2, c) - load(3, c) }
            let b = loadVector(bias.pointer + channel)
            let (t0, t1, t2, t3) = (top(0), top(1), top(2), top(3))
            let offset = topLeft &+ channel
            storeVector(epilogue.apply(t0 + t1 + t2 + b, offset: offset), output + offset)
            if right { storeVector(epilogue.apply(t1 - t2 - t3 + b, offset: offset &+ outStride), output + (offset &+ outStride)) }
            if below {
                let (u0, u1, u2, u3) = (bottom(0), bottom(1), bottom(2), bottom(3))
                let lower = offset &+ belowOffset
                storeVector(epilogue.apply(u0 + u1 + u2 + b, offset: lower), output + lower)
                if right { storeVector(epilogue.apply(u1 - u2 - u3 + b, offset: lower &+ outStride), output + (lower &+ outStride)) }
            }
            channel &+= vectorWidth
        }
    }
}
