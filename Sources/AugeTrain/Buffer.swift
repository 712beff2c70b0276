/// A fixed-size float array at a stable address, for hot loops (no copy-on-write, no exclusivity checks).
final class Buffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int, value: Float = 0) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: value, count: max(count, 1))
    }

    convenience init(_ values: [Float]) {
        self.init(count: values.count)
        load(values)
    }

    deinit {
        pointer.deallocate()
    }

    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    func load(_ values: [Float]) {
        precondition(values.count == count, "expected \(count) values, got \(values.count)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    func fill(_ value: Float) {
        pointer.update(repeating: value, count: count)
    }
}

/// A trained tensor with its gradient and the optimiser's moment estimates.
final class Parameter {
    let name: String
    let value: Buffer
    let gradient: Buffer
    let firstMoment: Buffer
    let secondMoment: Buffer
    /// Weight decay applies to weights, not to biases and normalisation scales.
    let decays: Bool
    /// This parameter's share of the learning rate (pretrained layers being fine-tuned learn slower).
    var learningRateScale: Float = 1

    init(name: String, count: Int, decays: Bool, initial: Float = 0) {
        self.name = name
        value = Buffer(count: count, value: initial)
        gradient = Buffer(count: count)
        firstMoment = Buffer(count: count)
        secondMoment = Buffer(count: count)
        self.decays = decays
    }

    var count: Int { value.count }
}

/// One partial-sum area per worker, combined in worker order so the result depends only on the worker count.
final class WorkerPartials {
    let buffers: [Buffer]
    let count: Int

    init(workers: Int, count: Int) {
        buffers = (0..<workers).map { _ in Buffer(count: count) }
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
