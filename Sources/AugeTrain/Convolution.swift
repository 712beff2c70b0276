import AugeEngine

/// A dense 2-D convolution, computed per image as im2col + GEMM, without bias (a batch normalisation
/// follows) unless it is given one. Weights are stored [kernelY, kernelX, inputChannel, outputChannel].
final class Convolution2D: Layer {
    let inputShape: Shape
    let outputShape: Shape
    let geometry: WindowGeometry
    let weight: Parameter
    /// Per output channel; pretrained convolutions carry one where an exporter folded normalisation in.
    var bias: Parameter?
    /// The weights transposed to [outputChannel, patch], for the input gradient.
    private let transposedWeight: AlignedBuffer
    private var columns: WorkerPartials?
    private var weightGradients: WorkerPartials?
    /// A 1x1 stride-1 convolution reads its input as the patch matrix directly.
    private var isPointwise: Bool { geometry.patchSize == inputShape.channels && geometry.stride == 1 }

    init(input: Shape, outputChannels: Int, kernel: Int, stride: Int, padding: Int, generator: inout SeededGenerator) {
        inputShape = input
        geometry = WindowGeometry(
            inputHeight: input.height, inputWidth: input.width, channels: input.channels,
            kernel: kernel, stride: stride, padding: padding)
        outputShape = Shape(height: geometry.outputHeight, width: geometry.outputWidth, channels: outputChannels)
        weight = Parameter(name: "weight", count: geometry.patchSize * outputChannels, decays: true)
        transposedWeight = AlignedBuffer(count: weight.count)
        initialiseHe(weight, fanIn: geometry.patchSize, generator: &generator)
    }

    var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    func prepare(maxBatch: Int, workers: Workers) {
        let patchMatrix = geometry.outputPixels * geometry.patchSize
        if columns?.buffers.count != workers.count {
            columns = WorkerPartials(workers: workers.count, count: patchMatrix)
            weightGradients = WorkerPartials(workers: workers.count, count: weight.count)
        }
    }

    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool, workers: Workers) {
        prepare(maxBatch: batch, workers: workers)
        let g = geometry, outputChannels = outputShape.channels
        let (inputCount, outputCount) = (inputShape.count, outputShape.count)
        let w = weight.value.pointer, columns = columns!, pointwise = isPointwise
        workers.forEachShare(of: batch) { worker, images in
            for n in images {
                let x = input + n &* inputCount
                var patches = UnsafePointer(x)
                if !pointwise {
                    im2col(x, g, into: columns[worker])
                    patches = UnsafePointer(columns[worker])
                }
                multiply(
                    m: g.outputPixels, n: outputChannels, k: g.patchSize, a: patches, aRowStride: g.patchSize, aColumnStride: 1,
                    b: w, bRowStride: outputChannels, c: output + n &* outputCount, cRowStride: outputChannels, accumulate: false)
            }
        }
        bias?.addBias(to: output, count: batch * g.outputPixels)
    }

    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, workers: Workers
    ) {
        prepare(maxBatch: batch, workers: workers)
        let g = geometry, outputChannels = outputShape.channels, patch = g.patchSize
        let (inputCount, outputCount) = (inputShape.count, outputShape.count)
        let w = weight.value.pointer, wt = transposedWeight.pointer
        for p in 0..<patch {
            for o in 0..<outputChannels { wt[o &* patch &+ p] = w[p &* outputChannels &+ o] }
        }
        let columns = columns!, partials = weightGradients!, pointwise = isPointwise
        // Pixel chunks keep the patch rows of one weight-gradient GEMM in cache.
        let chunk = 256
        workers.forEachShare(of: batch) { worker, images in
            let dw = partials[worker]
            dw.update(repeating: 0, count: partials.count)
            for n in images {
                let x = input + n &* inputCount, dy = outputGradient + n &* outputCount
                var patches = UnsafePointer(x)
                if !pointwise {
                    im2col(x, g, into: columns[worker])
                    patches = UnsafePointer(columns[worker])
                }
                var start = 0
                while start < g.outputPixels {
                    let length = min(chunk, g.outputPixels &- start)
                    multiply(
                        m: patch, n: outputChannels, k: length, a: patches + start &* patch, aRowStride: 1, aColumnStride: patch,
                        b: dy + start &* outputChannels, bRowStride: outputChannels, c: dw, cRowStride: outputChannels, accumulate: true)
                    start &+= length
                }
                guard let inputGradient else { continue }
                let dx = inputGradient + n &* inputCount
                if pointwise {
                    multiply(
                        m: g.outputPixels, n: patch, k: outputChannels, a: dy, aRowStride: outputChannels, aColumnStride: 1,
                        b: wt, bRowStride: patch, c: dx, cRowStride: patch, accumulate: false)
                } else {
                    multiply(
                        m: g.outputPixels, n: patch, k: outputChannels, a: dy, aRowStride: outputChannels, aColumnStride: 1,
                        b: wt, bRowStride: patch, c: columns[worker], cRowStride: patch, accumulate: false)
                    dx.update(repeating: 0, count: inputCount)
                    col2im(columns[worker], g, addingInto: dx)
                }
            }
        }
        partials.sum(into: weight.gradient.pointer, workersUsed: min(workers.count, batch))
        bias?.setBiasGradient(from: outputGradient, count: batch * geometry.outputPixels)
    }

    func graphNodes(name: String, input: String, output: String) -> [Node] {
        let (kh, kw, ci, co) = (geometry.kernelHeight, geometry.kernelWidth, inputShape.channels, outputShape.channels)
        var onnxWeight = [Float](repeating: 0, count: weight.count)
        let w = weight.value.pointer
        for o in 0..<co {
            for i in 0..<ci {
                for y in 0..<kh {
                    for x in 0..<kw { onnxWeight[((o * ci + i) * kh + y) * kw + x] = w[((y * kw + x) * ci + i) * co + o] }
                }
            }
        }
        let (s, p) = (geometry.stride, geometry.padTop)
        let convolution = AugeEngine.Convolution(
            weight: Tensor(shape: [co, ci, kh, kw], data: onnxWeight),
            bias: bias.map { Tensor(shape: [co], data: $0.value.array) }, strides: (s, s), pads: (p, p, p, p))
        return [Node(name: name, operation: .convolution(convolution), inputs: [input], outputs: [output])]
    }
}

/// A depthwise 2-D convolution (one filter per channel), without bias unless it is given one. Weights
/// are stored [kernelY, kernelX, channel].
final class DepthwiseConvolution2D: Layer {
    let inputShape: Shape
    let outputShape: Shape
    let geometry: WindowGeometry
    let weight: Parameter
    /// Per output channel; pretrained convolutions carry one where an exporter folded normalisation in.
    var bias: Parameter?
    private var weightGradients: WorkerPartials?

    init(input: Shape, kernel: Int, stride: Int, padding: Int, generator: inout SeededGenerator) {
        inputShape = input
        geometry = WindowGeometry(
            inputHeight: input.height, inputWidth: input.width, channels: input.channels,
            kernel: kernel, stride: stride, padding: padding)
        outputShape = Shape(height: geometry.outputHeight, width: geometry.outputWidth, channels: input.channels)
        weight = Parameter(name: "weight", count: kernel * kernel * input.channels, decays: true)
        initialiseHe(weight, fanIn: kernel * kernel, generator: &generator)
    }

    var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    func prepare(maxBatch: Int, workers: Workers) {
        if weightGradients?.buffers.count != workers.count {
            weightGradients = WorkerPartials(workers: workers.count, count: weight.count)
        }
    }

    /// Calls `body(outputPixel, inputPixel, kernelPosition)` for every kernel tap inside the image.
    @inline(__always)
    private func forEachTap(_ body: (Int, Int, Int) -> Void) {
        let g = geometry
        for oy in 0..<g.outputHeight {
            for ky in 0..<g.kernelHeight {
                let iy = oy &* g.stride &- g.padTop &+ ky
                if iy < 0 || iy >= g.inputHeight { continue }
                for ox in 0..<g.outputWidth {
                    for kx in 0..<g.kernelWidth {
                        let ix = ox &* g.stride &- g.padLeft &+ kx
                        if ix < 0 || ix >= g.inputWidth { continue }
                        body(oy &* g.outputWidth &+ ox, iy &* g.inputWidth &+ ix, ky &* g.kernelWidth &+ kx)
                    }
                }
            }
        }
    }

    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool, workers: Workers) {
        let c = inputShape.channels, (inputCount, outputCount) = (inputShape.count, outputShape.count)
        let w = UnsafePointer(weight.value.pointer)
        workers.forEachShare(of: batch) { _, images in
            for n in images {
                let x = input + n &* inputCount, y = output + n &* outputCount
                y.update(repeating: 0, count: outputCount)
                forEachTap { o, i, k in
                    let yo = y + o &* c, xi = x + i &* c, wk = w + k &* c
                    for ch in 0..<c { yo[ch] = yo[ch].addingProduct(xi[ch], wk[ch]) }
                }
            }
        }
        bias?.addBias(to: output, count: batch * geometry.outputPixels)
    }

    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, workers: Workers
    ) {
        prepare(maxBatch: batch, workers: workers)
        let c = inputShape.channels, (inputCount, outputCount) = (inputShape.count, outputShape.count)
        let w = UnsafePointer(weight.value.pointer), partials = weightGradients!
        workers.forEachShare(of: batch) { worker, images in
            let dw = partials[worker]
            dw.update(repeating: 0, count: partials.count)
            for n in images {
                let x = input + n &* inputCount, dy = outputGradient + n &* outputCount
                let dx = inputGradient.map { $0 + n &* inputCount }
                dx?.update(repeating: 0, count: inputCount)
                forEachTap { o, i, k in
                    let dyo = dy + o &* c, xi = x + i &* c, dwk = dw + k &* c
                    for ch in 0..<c { dwk[ch] = dwk[ch].addingProduct(dyo[ch], xi[ch]) }
                    if let dx {
                        let dxi = dx + i &* c, wk = w + k &* c
                        for ch in 0..<c { dxi[ch] = dxi[ch].addingProduct(dyo[ch], wk[ch]) }
                    }
                }
            }
        }
        partials.sum(into: weight.gradient.pointer, workersUsed: min(workers.count, batch))
        bias?.setBiasGradient(from: outputGradient, count: batch * geometry.outputPixels)
    }

    func graphNodes(name: String, input: String, output: String) -> [Node] {
        let (kh, kw, c) = (geometry.kernelHeight, geometry.kernelWidth, inputShape.channels)
        var onnxWeight = [Float](repeating: 0, count: weight.count)
        for ch in 0..<c {
            for k in 0..<(kh * kw) { onnxWeight[ch * kh * kw + k] = weight.value.pointer[k * c + ch] }
        }
        let (s, p) = (geometry.stride, geometry.padTop)
        let convolution = AugeEngine.Convolution(
            weight: Tensor(shape: [c, 1, kh, kw], data: onnxWeight),
            bias: bias.map { Tensor(shape: [c], data: $0.value.array) }, strides: (s, s),
            pads: (p, p, p, p), groups: c)
        return [Node(name: name, operation: .convolution(convolution), inputs: [input], outputs: [output])]
    }
}

extension Parameter {
    /// As a per-channel bias: adds it to `count` NHWC pixels.
    func addBias(to output: UnsafeMutablePointer<Float>, count: Int) {
        let b = value.pointer, channels = self.count
        for p in 0..<count {
            let y = output + p &* channels
            for c in 0..<channels { y[c] += b[c] }
        }
    }

    /// As a per-channel bias: its gradient is the output gradient summed over `count` NHWC pixels.
    func setBiasGradient(from outputGradient: UnsafePointer<Float>, count: Int) {
        let db = gradient.pointer, channels = self.count
        db.update(repeating: 0, count: channels)
        for p in 0..<count {
            let dy = outputGradient + p &* channels
            for c in 0..<channels { db[c] += dy[c] }
        }
    }
}
