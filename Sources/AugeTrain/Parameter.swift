import AugeEngine

/// A trained tensor with its gradient and the optimiser's moment estimates.
final class Parameter {
    let name: String
    let value: AlignedBuffer
    let gradient: AlignedBuffer
    let firstMoment: AlignedBuffer
    let secondMoment: AlignedBuffer
    /// Weight decay applies to weights, not to biases and normalisation scales.
    let decays: Bool
    /// This parameter's share of the learning rate (pretrained layers being fine-tuned learn slower).
    var learningRateScale: Float = 1

    init(name: String, count: Int, decays: Bool, initial: Float = 0) {
        self.name = name
        value = AlignedBuffer(count: count, value: initial)
        gradient = AlignedBuffer(count: count)
        firstMoment = AlignedBuffer(count: count)
        secondMoment = AlignedBuffer(count: count)
        self.decays = decays
    }

    var count: Int { value.count }
}

/// One partial-sum area per worker, combined in worker order so the result depends only on the worker count.
final class WorkerPartials {
    let buffers: [AlignedBuffer]
    let count: Int

    init(workers: Int, count: Int) {
        buffers = (0..<workers).map { _ in AlignedBuffer(count: count) }
        self.count = count
    }

    subscript(worker: Int) -> UnsafeMutablePointer<Float> { buffers[worker].pointer }

    /// Sums the first `workersUsed` partials into `destination` (overwriting it).
    func sum(into destination: UnsafeMutablePointer<Float>, workersUsed: Int) {
        destination.update(from: buffers[0].pointer, count: count)
        for w in 1..<max(1, workersUsed) {
            let p = buffers[w].pointer
            for i in 0..<count { destination[i] += p[i] }
        }
    }
}
