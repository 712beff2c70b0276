// Winograd F(m x m, 3x3) for 3x3 stride-1 convolutions, with output tiles of m = 2 or m = 4 pixels a
// side. A tile reads an n x n input window (n = m + 2) and costs n^2 multiplies per input-output channel
// pair instead of 9 m^2: 16 instead of 36 for m = 2, 36 instead of 144 for m = 4. Per chunk of tiles
// (sized to stay in L2, in per-thread scratch): input transform V = B^T d B, n^2 GEMMs
// M[k] = V[k] x U[k] with the same 6x16 micro-kernel as the direct convolution, then the output
// transform Y = A^T M A with the fused epilogue. U = G g G^T is computed once at load time, in Double.
// The m = 4 transforms are built on the points 0, 1, -1, 1/2, -2 rather than the usual 0, +-1, +-2:
// simulated in Float over 48 channels, the worst error falls from 9.5e-5 to 2.3e-5 (outputs of
// magnitude about 3.5).

final class WinogradStep: Step {
    let geometry: ConvolutionGeometry
    /// Output pixels per tile side (m); the input window is m + 2 a side.
    let tileSize: Int
    let window: Int
    let padded: PaddedInput
    let output: UnsafeMutablePointer<Float>
    let epilogue: Epilogue
    /// [window^2][output channel blocks][inChannelsPadded][16]
    let weights: AlignedBuffer
    let bias: AlignedBuffer
    /// Per worker, after the padded input in the arena: V [window^2][chunkTiles][inChannelsPadded] then
    /// M [window^2][chunkTiles][outChannelsPadded].
    let scratch: UnsafeMutablePointer<Float>
    let inStride: Int, outStride: Int
    let tilesY: Int, tilesX: Int, tiles: Int
    let chunkTiles: Int
    /// Output channel block ranges per chunk.
    let blockRanges: Int

    static func applies(to g: ConvolutionGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideY == 1 && g.strideX == 1 && g.dilationY == 1 && g.dilationX == 1
            && g.groups == 1 && g.inChannels >= 16 && g.outChannels >= 16
            // Measured on ResNet-18: from 7x7 outputs up, 2x2 tiles beat the direct kernel (2.25 against
            // 2.64 ms at 512 channels), although the partial tiles waste a quarter of the work.
            && g.outHeight * g.outWidth >= 49
    }

    /// G of F(2x2, 3x3), 4x3.
    private static let kernelTransform4: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
    /// G of F(4x4, 3x3), 6x3, on the points 0, 1, -1, 1/2, -2 (and infinity): mixing 2 and 1/2 keeps
    /// the transforms' constants small, which quarters the rounding error of the usual 0, +-1, +-2.
    private static let kernelTransform6: [[Double]] = [
        [1, 0, 0], [1 / 3.0, 1 / 3.0, 1 / 3.0], [-1 / 3.0, 1 / 3.0, -1 / 3.0],
        [-16 / 15.0, -8 / 15.0, -4 / 15.0], [1 / 15.0, -2 / 15.0, 4 / 15.0], [0, 0, 1],
    ]

    /// The tile size for a geometry. Measured at one thread: 4x4 tiles take ResNet-18's 56x56 layers
    /// from 1.13 to 0.81 ms, its 28x28 layers from 1.15 to 0.87 ms and the default model's 16x16 layer
    /// from 0.44 to 0.25 ms; on ResNet-18's 14x14 layers both sizes are level (the 4x4 tiles waste
    /// 23 % on partial tiles, and their transformed weights, 2.25 times larger, stream from memory).
    static func tileSize(for g: ConvolutionGeometry) -> Int {
        g.outHeight * g.outWidth >= 256 ? 4 : 2
    }

    /// Size of the zero-padded input: whole windows for every tile.
    static func paddedSize(_ g: ConvolutionGeometry) -> (height: Int, width: Int) {
        let m = tileSize(for: g)
        return (m * ((g.outHeight + m - 1) / m) + 2, m * ((g.outWidth + m - 1) / m) + 2)
    }

    static func gatheredCount(_ g: ConvolutionGeometry) -> Int {
        g.paddedCopyCount(pixelStride: paddedChannels(g.inChannels), size: paddedSize(g))
    }

    /// Tiles down and across one image.
    static func tileGrid(_ g: ConvolutionGeometry) -> (rows: Int, columns: Int) {
        let m = tileSize(for: g)
        return ((g.outHeight + m - 1) / m, (g.outWidth + m - 1) / m)
    }

    /// Tiles per chunk, and output channel ranges per chunk, for a geometry on `threads` threads.
    static func chunking(_ g: ConvolutionGeometry, threads: Int) -> (chunkTiles: Int, blockRanges: Int) {
        let m = tileSize(for: g), positions = (m + 2) * (m + 2)
        let (inStride, outStride) = (paddedChannels(g.inChannels), paddedChannels(g.outChannels))
        let grid = tileGrid(g)
        let tiles = g.batch * grid.rows * grid.columns
        // V and M of one chunk within about 1 MB (each GEMM touches one window position of it), and at
        // least 24 tiles so the transformed weights are reused; chunks of equal size in whole
        // micro-tiles of 6. Transformed weights above 3 MB stream from memory once per chunk, so
        // there chunks of up to 60 tiles pay for their larger scratch (measured on ResNet-18: its
        // 14x14 layers, 4.2 MB, 1.50 -> 1.36 ms; its 28x28 layers, 2.4 MB, were slower with them).
        let perTile = positions * (inStride + outStride) * 4
        let weightBytes = positions * inStride * outStride * 4
        let largestChunk = max(weightBytes > 3 << 20 ? 60 : 24, (1 << 20) / perTile / 6 * 6)
        let chunks = (tiles + largestChunk - 1) / largestChunk
        let chunkTiles = ((tiles + chunks - 1) / chunks + 5) / 6 * 6
        // Too few chunks to keep every thread busy: tasks also split the output channels (each repeats
        // its chunk's input transform, a small part of the work).
        let blockRanges = threads > 1 && chunks < 2 * threads ? min(outStride / vectorWidth, (2 * threads + chunks - 1) / chunks) : 1
        return (chunkTiles, blockRanges)
    }

    /// Floats of working memory in the arena: the padded input, then per thread V and M of one chunk.
    /// (In the arena, layers share this memory instead of each holding its own scratch.)
    static func workingCount(_ g: ConvolutionGeometry, threads: Int) -> Int {
        let m = tileSize(for: g)
        let perThread = chunking(g, threads: threads).chunkTiles * (m + 2) * (m + 2) * (paddedChannels(g.inChannels) + paddedChannels(g.outChannels))
        return gatheredCount(g) + max(1, threads) * perThread
    }

    init(
        geometry g: ConvolutionGeometry, weight: [Float], biasValues: [Float], source: UnsafePointer<Float>, sourceLayout: Layout,
        working: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, epilogue: Epilogue, threads: Int
    ) {
        geometry = g
        tileSize = Self.tileSize(for: g)
        window = tileSize + 2
        inStride = paddedChannels(g.inChannels)
        outStride = paddedChannels(g.outChannels)
        let size = Self.paddedSize(g)
        padded = PaddedInput(
            geometry: g, source: source, sourceLayout: sourceLayout, pixelStride: inStride,
            paddedHeight: size.height, paddedWidth: size.width, planar: false, destination: working)
        self.output = output
        self.epilogue = epilogue
        (tilesY, tilesX) = Self.tileGrid(g)
        tiles = g.batch * tilesY * tilesX
        (chunkTiles, blockRanges) = Self.chunking(g, threads: threads)
        scratch = working + Self.gatheredCount(g)
        let positions = window * window
        bias = AlignedBuffer(count: outStride)
        for o in 0..<g.outChannels { bias.pointer[o] = biasValues[o] }
        let gMatrix = tileSize == 2 ? Self.kernelTransform4 : Self.kernelTransform6
        let blocks = outStride / vectorWidth
        weights = AlignedBuffer(count: positions * blocks * inStride * vectorWidth)
        for o in 0..<g.outChannels {
            for i in 0..<g.inChannels {
                let kernel = (0..<9).map { Double(weight[(o * g.inChannels + i) * 9 + $0]) }
                for r in 0..<window {
                    for c in 0..<window {
                        var sum = 0.0
                        for a in 0..<3 { for b in 0..<3 { sum += gMatrix[r][a] * kernel[a * 3 + b] * gMatrix[c][b] } }
                        let position = r * window + c
                        weights.pointer[((position * blocks + o / vectorWidth) * inStride + i) * vectorWidth + o % vectorWidth] = Float(sum)
                    }
                }
            }
        }
    }

    func execute(pool: ThreadPool) {
        padded.gather(pool: pool)
        let chunks = (tiles + chunkTiles - 1) / chunkTiles
        let perWorker = chunkTiles * window * window * (inStride + outStride)
        let blocks = outStride / vectorWidth
        pool.parallelFor(
            chunks * blockRanges, work: geometry.multiplyAccumulates,
            withWorker: { task, worker in
                let (chunk, range) = (task / blockRanges, task % blockRanges)
                let first = chunk * chunkTiles
                process(
                    tiles: first..<min(first + chunkTiles, tiles), blocks: (range * blocks / blockRanges)..<((range + 1) * blocks / blockRanges),
                    scratch: scratch + worker * perWorker)
            })
    }

    /// Where tile t's input window starts in the padded input, and its top-left output pixel.
    @inline(__always) private func locate(_ t: Int) -> (input: UnsafePointer<Float>, image: Int, y: Int, x: Int) {
        let perImage = tilesY &* tilesX
        let (image, rest) = (t / perImage, t % perImage)
        let (y, x) = (tileSize &* (rest / tilesX), tileSize &* (rest % tilesX))
        return (UnsafePointer(padded.destination + (image &* padded.imageStride &+ y &* padded.rowStride &+ x &* inStride)), image, y, x)
    }

    /// One chunk of tiles, for the output channels of `blocks`.
    private func process(tiles range: Range<Int>, blocks: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
        let count = range.count
        let positions = window &* window
        let v = scratch, m = scratch + positions &* chunkTiles &* inStride
        let vPlane = chunkTiles &* inStride, mPlane = chunkTiles &* outStride
        // Input transform: V[k][tile][channel].
        for (index, t) in range.enumerated() {
            let target = v + index &* inStride
            if tileSize == 2 { transformInput4(locate(t).input, into: target, plane: vPlane) } else { transformInput6(locate(t).input, into: target, plane: vPlane) }
        }
        // One GEMM per window position: M[k] (count x outStride) = V[k] (count x inStride) x U[k] (inStride x outStride).
        let blockCount = outStride / vectorWidth
        for k in 0..<positions {
            let a = UnsafePointer(v + k &* vPlane), c = m + k &* mPlane
            for block in blocks {
                let u = UnsafePointer(weights.pointer + (k &* blockCount &+ block) &* inStride &* vectorWidth)
                var row = 0
                while row < count {
                    let last = min(row &+ 5, count &- 1)
                    let rows = (
                        a + row &* inStride, a + min(row &+ 1, last) &* inStride, a + min(row &+ 2, last) &* inStride,
                        a + min(row &+ 3, last) &* inStride, a + min(row &+ 4, last) &* inStride, a + last &* inStride
                    )
                    // The first pass over a weight block also pulls the next block into L2 (see `multiplyTile`).
                    let r = multiplyTile(
                        rows, kernelRows: 1, tapRowStep: 0, tapColumns: 1, tapColumnStep: 0, inner: inStride,
                        weights: u, initial: (Vector(), Vector(), Vector(), Vector(), Vector(), Vector()),
                        prefetching: row == 0 ? UnsafeRawPointer(u + inStride &* vectorWidth) : nil)
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
            let source = m + index &* outStride
            let channels = (blocks.lowerBound &* vectorWidth)..<(blocks.upperBound &* vectorWidth)
            if tileSize == 2 {
                transformOutput4(UnsafePointer(source), plane: mPlane, image: image, y: y, x: x, channels: channels)
            } else {
                transformOutput6(source, plane: mPlane, image: image, y: y, x: x, channels: channels)
            }
        }
    }

    // MARK: F(2x2, 3x3): 4x4 windows

    /// V = B^T d B for every 16-channel block of one 4x4 window; writes V[k] at `target + k * plane`.
    @inline(__always)
    private func transformInput4(_ window: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, plane: Int) {
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

    /// Y = A^T M A + bias for the 16-channel blocks in `channels` of one tile, through the epilogue,
    /// into the output pixels (y, x) ... (y + 1, x + 1) that exist.
    @inline(__always)
    private func transformOutput4(_ source: UnsafePointer<Float>, plane: Int, image: Int, y: Int, x: Int, channels: Range<Int>) {
        let g = geometry
        let right = x &+ 1 < g.outWidth, below = y &+ 1 < g.outHeight
        let topLeft = ((image &* g.outHeight &+ y) &* g.outWidth &+ x) &* outStride
        let belowOffset = g.outWidth &* outStride
        var channel = channels.lowerBound
        while channel < channels.upperBound {
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

    // MARK: F(4x4, 3x3): 6x6 windows

    /// V = B^T d B for every 16-channel block of one 6x6 window, written to V[k] at `target + k * plane`:
    /// first the columns (B^T d, stored in place), then the rows of that.
    @inline(__always)
    private func transformInput6(_ window: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, plane: Int) {
        let rowStride = padded.rowStride
        var channel = 0
        while channel < inStride {
            let base = window + channel, out = target + channel
            for c in 0..<6 {
                let column = base + c &* inStride
                let r = winogradInput6(
                    loadVector(column), loadVector(column + rowStride), loadVector(column + 2 &* rowStride),
                    loadVector(column + 3 &* rowStride), loadVector(column + 4 &* rowStride), loadVector(column + 5 &* rowStride))
                let position = out + c &* plane
                storeVector(r.0, position)
                storeVector(r.1, position + 6 &* plane)
                storeVector(r.2, position + 12 &* plane)
                storeVector(r.3, position + 18 &* plane)
                storeVector(r.4, position + 24 &* plane)
                storeVector(r.5, position + 30 &* plane)
            }
            for i in 0..<6 {
                let row = out + i &* 6 &* plane
                let r = winogradInput6(
                    loadVector(row), loadVector(row + plane), loadVector(row + 2 &* plane),
                    loadVector(row + 3 &* plane), loadVector(row + 4 &* plane), loadVector(row + 5 &* plane))
                storeVector(r.0, row)
                storeVector(r.1, row + plane)
                storeVector(r.2, row + 2 &* plane)
                storeVector(r.3, row + 3 &* plane)
                storeVector(r.4, row + 4 &* plane)
                storeVector(r.5, row + 5 &* plane)
            }
            channel &+= vectorWidth
        }
    }

    /// Y = A^T M A + bias for the 16-channel blocks in `channels` of one tile, through the epilogue,
    /// into the output pixels of the 4x4 tile at (y, x) that exist. The rows of A^T M overwrite the
    /// first four rows of M (this worker's scratch), column by column.
    @inline(__always)
    private func transformOutput6(_ source: UnsafeMutablePointer<Float>, plane: Int, image: Int, y: Int, x: Int, channels: Range<Int>) {
        let g = geometry
        let rows = min(4, g.outHeight &- y), columns = min(4, g.outWidth &- x)
        let topLeft = ((image &* g.outHeight &+ y) &* g.outWidth &+ x) &* outStride
        let rowStep = g.outWidth &* outStride
        var channel = channels.lowerBound
        while channel < channels.upperBound {
            let base = source + channel
            for c in 0..<6 {
                let column = base + c &* plane
                let r = winogradOutput6(
                    loadVector(column), loadVector(column + 6 &* plane), loadVector(column + 12 &* plane),
                    loadVector(column + 18 &* plane), loadVector(column + 24 &* plane), loadVector(column + 30 &* plane))
                storeVector(r.0, column)
                storeVector(r.1, column + 6 &* plane)
                storeVector(r.2, column + 12 &* plane)
                storeVector(r.3, column + 18 &* plane)
            }
            let b = loadVector(bias.pointer + channel)
            for r in 0..<rows {
                let row = base + r &* 6 &* plane
                let y4 = winogradOutput6(
                    loadVector(row), loadVector(row + plane), loadVector(row + 2 &* plane), loadVector(row + 3 &* plane),
                    loadVector(row + 4 &* plane), loadVector(row + 5 &* plane))
                let offset = topLeft &+ r &* rowStep &+ channel
                let last = y4.3 + b
                epilogue.store(
                    (y4.0 + b, y4.1 + b, y4.2 + b, last, last, last), count: columns, output: output + offset, offset: offset,
                    stride: outStride, lanes: vectorWidth)
            }
            channel &+= vectorWidth
        }
    }
}

/// B^T d for one column (or row) of a 6x6 window, F(4x4, 3x3) on the points 0, 1, -1, 1/2, -2.
@inline(__always)
private func winogradInput6(_ d0: Vector, _ d1: Vector, _ d2: Vector, _ d3: Vector, _ d4: Vector, _ d5: Vector)
    -> (Vector, Vector, Vector, Vector, Vector, Vector)
{
    let half = Vector(repeating: 0.5), two = Vector(repeating: 2), oneAndHalf = Vector(repeating: 1.5), twoAndHalf = Vector(repeating: 2.5)
    let r0 = d0 + d4 + oneAndHalf * (d3 - d1) - two * d2
    let r1 = d4 - d1 + half * d2 + twoAndHalf * d3
    let r2 = d4 + d1 - twoAndHalf * d2 + half * d3
    let r3 = d4 - d2 + two * (d3 - d1)
    let r4 = d4 - d2 + half * (d1 - d3)
    let r5 = d5 + d1 + oneAndHalf * (d4 - d2) - two * d3
    return (r0, r1, r2, r3, r4, r5)
}

/// A^T m for one column (or row) of a 6x6 transformed tile, F(4x4, 3x3) on the points 0, 1, -1, 1/2, -2.
@inline(__always)
private func winogradOutput6(_ m0: Vector, _ m1: Vector, _ m2: Vector, _ m3: Vector, _ m4: Vector, _ m5: Vector)
    -> (Vector, Vector, Vector, Vector)
{
    let sum12 = m1 + m2, difference12 = m1 - m2
    let y0 = m0 + sum12 + m3 + m4
    let y1 = difference12 + Vector(repeating: 0.5) * m3 - Vector(repeating: 2) * m4
    let y2 = sum12 + Vector(repeating: 0.25) * m3 + Vector(repeating: 4) * m4
    let y3 = difference12 + Vector(repeating: 0.125) * m3 - Vector(repeating: 8) * m4 + m5
    return (y0, y1, y2, y3)
}
