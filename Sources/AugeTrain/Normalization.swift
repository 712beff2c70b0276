import AugeEngine

/// Batch normalisation per channel: batch statistics while training (with running averages kept for
/// inference), running statistics otherwise. With frozen statistics (fine-tuning a pretrained network
/// on small batches, whose statistics would be noisy) training uses and keeps the running statistics
/// and learns only the scale and shift.
final class BatchNormalization2D: Layer {
    let inputShape: Shape
    var outputShape: Shape { inputShape }
    let scale: Parameter
    let shift: Parameter
    let runningMean: AlignedBuffer
    let runningVariance: AlignedBuffer
    let epsilon: Float
    let momentum: Float = 0.1
    let frozenStatistics: Bool
    /// The normalised input of the last training forward pass, for the backward pass.
    private var normalized: AlignedBuffer?
    private var inverseDeviation: AlignedBuffer
    private var partials: WorkerPartials?

    init(input: Shape, epsilon: Float = 1e-5, frozenStatistics: Bool = false) {
        inputShape = input
        self.epsilon = epsilon
        self.frozenStatistics = frozenStatistics
        scale = Parameter(name: "scale", count: input.channels, decays: false, initial: 1)
        shift = Parameter(name: "bias", count: input.channels, decays: false)
        runningMean = AlignedBuffer(count: input.channels)
        runningVariance = AlignedBuffer(count: input.channels, value: 1)
        inverseDeviation = AlignedBuffer(count: input.channels)
    }

    var parameters: [Parameter] { [scale, shift] }
    var state: [AlignedBuffer] { [runningMean, runningVariance] }

    func prepare(maxBatch: Int, workers: Workers) {
        if (normalized?.count ?? 0) < maxBatch * inputShape.count { normalized = AlignedBuffer(count: maxBatch * inputShape.count) }
        if partials?.buffers.count != workers.count { partials = WorkerPartials(workers: workers.count, count: 2 * inputShape.channels) }
    }

    /// Per-channel sums over the batch, combined in worker order into `totals` (2 x channels):
    /// `accumulate(pixels, sums)` adds its pixels' contributions to one worker's `sums`.
    @inline(__always)
    private func channelSums(
        batch: Int, workers: Workers, totals: UnsafeMutablePointer<Float>,
        _ accumulate: (_ pixels: Range<Int>, _ sums: UnsafeMutablePointer<Float>) -> Void
    ) {
        let pixels = inputShape.height * inputShape.width, partials = partials!
        workers.forEachShare(of: batch) { worker, images in
            let sums = partials[worker]
            sums.update(repeating: 0, count: partials.count)
            accumulate((images.lowerBound * pixels)..<(images.upperBound * pixels), sums)
        }
        partials.sum(into: totals, workersUsed: min(workers.count, batch))
    }

    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool, workers: Workers) {
        let c = inputShape.channels, total = batch * inputShape.count
        let gamma = scale.value.pointer, beta = shift.value.pointer
        let mean = UnsafeMutablePointer<Float>.allocate(capacity: 2 * c)
        defer { mean.deallocate() }
        let variance = mean + c, inverse = inverseDeviation.pointer
        if training && !frozenStatistics {
            prepare(maxBatch: batch, workers: workers)
            let count = Float(batch * inputShape.height * inputShape.width)
            channelSums(batch: batch, workers: workers, totals: mean) { pixels, sums in
                for p in pixels {
                    let x = input + p &* c
                    for ch in 0..<c { sums[ch] += x[ch] }
                }
            }
            for ch in 0..<c { mean[ch] /= count }
            // Second pass on centred values: better conditioned than E[x^2] - E[x]^2.
            let centredSums = UnsafeMutablePointer<Float>.allocate(capacity: 2 * c)
            defer { centredSums.deallocate() }
            channelSums(batch: batch, workers: workers, totals: centredSums) { pixels, sums in
                for p in pixels {
                    let x = input + p &* c
                    for ch in 0..<c {
                        let d = x[ch] - mean[ch]
                        sums[ch] = sums[ch].addingProduct(d, d)
                    }
                }
            }
            for ch in 0..<c {
                variance[ch] = centredSums[ch] / count
                inverse[ch] = 1 / (variance[ch] + epsilon).squareRoot()
                let unbiased = variance[ch] * count / max(1, count - 1)
                runningMean.pointer[ch] += momentum * (mean[ch] - runningMean.pointer[ch])
                runningVariance.pointer[ch] += momentum * (unbiased - runningVariance.pointer[ch])
            }
        } else {
            for ch in 0..<c {
                mean[ch] = runningMean.pointer[ch]
                inverse[ch] = 1 / (runningVariance.pointer[ch] + epsilon).squareRoot()
            }
        }
        let xhat = training ? normalized!.pointer : nil
        let pixelsTotal = total / c
        workers.forEachShare(of: pixelsTotal) { _, pixels in
            for p in pixels {
                let offset = p &* c
                for ch in 0..<c {
                    let normalizedValue = (input[offset &+ ch] - mean[ch]) * inverse[ch]
                    xhat?[offset &+ ch] = normalizedValue
                    output[offset &+ ch] = beta[ch].addingProduct(normalizedValue, gamma[ch])
                }
            }
        }
    }

    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, workers: Workers
    ) {
        let c = inputShape.channels
        let xhat = UnsafePointer(normalized!.pointer), dy = outputGradient
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: 2 * c)
        defer { sums.deallocate() }
        channelSums(batch: batch, workers: workers, totals: sums) { pixels, sums in
            let productSum = sums + c
            for p in pixels {
                let offset = p &* c
                for ch in 0..<c {
                    sums[ch] += dy[offset &+ ch]
                    productSum[ch] = productSum[ch].addingProduct(dy[offset &+ ch], xhat[offset &+ ch])
                }
            }
        }
        let gradientSum = UnsafePointer(sums), productSum = UnsafePointer(sums + c)
        shift.gradient.pointer.update(from: gradientSum, count: c)
        scale.gradient.pointer.update(from: productSum, count: c)
        guard let dx = inputGradient else { return }
        let count = Float(batch * inputShape.height * inputShape.width)
        let gamma = scale.value.pointer, inverse = inverseDeviation.pointer
        if frozenStatistics {
            // The statistics are constants: the layer is a per-channel affine map.
            workers.forEachShare(of: batch * inputShape.height * inputShape.width) { _, pixels in
                for p in pixels {
                    let offset = p &* c
                    for ch in 0..<c { dx[offset &+ ch] = dy[offset &+ ch] * gamma[ch] * inverse[ch] }
                }
            }
            return
        }
        let factor = UnsafeMutablePointer<Float>.allocate(capacity: c)
        defer { factor.deallocate() }
        for ch in 0..<c { factor[ch] = gamma[ch] * inverse[ch] / count }
        workers.forEachShare(of: batch * inputShape.height * inputShape.width) { _, pixels in
            for p in pixels {
                let offset = p &* c
                for ch in 0..<c {
                    let i = offset &+ ch
                    dx[i] = factor[ch] * (count * dy[i] - gradientSum[ch] - xhat[i] * productSum[ch])
                }
            }
        }
    }

    func graphNodes(name: String, input: String, output: String) -> [Node] {
        let normalization = AugeEngine.BatchNormalization(
            scale: scale.value.array, bias: shift.value.array,
            mean: runningMean.array, variance: runningVariance.array, epsilon: epsilon)
        return [Node(name: name, operation: .batchNormalization(normalization), inputs: [input], outputs: [output])]
    }
}
