// The public face of the engine: plan a graph once, run it many times without allocating.

import Foundation

/// Runs a `Graph` with fused, pre-packed kernels over one pre-allocated activation arena.
/// One `run` at a time per engine (it owns its arena); create one engine per concurrent caller.
public final class Engine: @unchecked Sendable {
    public let batchSize: Int
    public let threads: Int
    public let inputNames: [String]
    public let outputNames: [String]
    /// Logical NCHW shapes with the batch filled in.
    public let inputShapes: [String: [Int]]
    public let outputShapes: [String: [Int]]
    /// One entry per executed step (fused kernels and layout conversions), in execution order.
    public var layers: [LayerDescription] { plan.layers }
    /// Bytes of the activation arena.
    public var arenaBytes: Int { plan.arenaBytes }
    /// Whether some convolutions run on the int8 kernels (a quantized model; see `Int8Execution`).
    public var runsInt8Kernels: Bool { layers.contains { $0.convolution == .int8Gemm || $0.convolution == .int8Depthwise } }
    /// When true, `run` records the time of every layer in `layerTimings`.
    public var isProfiling = false
    /// The clock of the profile: wall time, or the CPU time of the calling thread (which ignores time
    /// the thread waited for a busy CPU; meaningful with one engine thread).
    public var profilingClock: ProfilingClock = .wall
    /// Seconds spent in each layer (same order as `layers`), summed over profiled runs since the last reset.
    public private(set) var layerTimings: [Double]
    /// Number of profiled runs summed in `layerTimings`.
    public private(set) var profiledRuns = 0

    private let plan: Plan
    private let pool: ThreadPool

    /// `int8`: how a quantized model's convolutions run (see `Int8Execution`).
    public init(
        graph: Graph, batchSize: Int = 1, threads: Int = ProcessInfo.processInfo.activeProcessorCount, int8: Int8Execution = .automatic
    ) throws {
        guard threads >= 1 else { throw EngineError.invalidGraph("thread count must be at least 1, got \(threads)") }
        plan = try Planner.plan(graph, batchSize: batchSize, threads: threads, int8: int8)
        self.batchSize = batchSize
        self.threads = threads
        pool = ThreadPool(threads: threads)
        inputNames = plan.inputs.map(\.name)
        outputNames = plan.outputs.map(\.name)
        inputShapes = Dictionary(plan.inputs.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        outputShapes = Dictionary(plan.outputs.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        layerTimings = [Double](repeating: 0, count: plan.layers.count)
    }

    public func resetTimings() {
        layerTimings = [Double](repeating: 0, count: plan.layers.count)
        profiledRuns = 0
    }

    /// Runs on named tensors (logical NCHW) and returns every graph output. Allocates the result tensors.
    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        for input in plan.inputs {
            guard let tensor = inputs[input.name] else { throw EngineError.invalidInput("missing input \"\(input.name)\"") }
            guard tensor.shape == input.shape else {
                throw EngineError.invalidInput("input \"\(input.name)\" has shape \(tensor.shape), the engine expects \(input.shape)")
            }
            input.pointer.update(from: tensor.data, count: tensor.count)
        }
        execute()
        var results: [String: Tensor] = [:]
        for output in plan.outputs {
            let count = output.shape.reduce(1, *)
            results[output.name] = Tensor(shape: output.shape, data: Array(UnsafeBufferPointer(start: output.pointer, count: count)))
        }
        return results
    }

    /// The allocation-free path for a graph with one input and one output, both logical NCHW with
    /// the engine's batch size.
    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        precondition(plan.inputs.count == 1 && plan.outputs.count == 1, "run(input:output:) needs a graph with one input and one output")
        let source = plan.inputs[0], destination = plan.outputs[0]
        source.pointer.update(from: input, count: source.shape.reduce(1, *))
        execute()
        output.update(from: destination.pointer, count: destination.shape.reduce(1, *))
    }

    /// The allocation-free path for a graph with one input and several outputs: `outputs[i]` receives
    /// output `outputNames[i]` (each at least its element count long).
    public func run(input: UnsafePointer<Float>, outputs: [UnsafeMutablePointer<Float>]) {
        precondition(plan.inputs.count == 1 && outputs.count == plan.outputs.count, "one input, and one buffer per output")
        let source = plan.inputs[0]
        source.pointer.update(from: input, count: source.shape.reduce(1, *))
        execute()
        for (destination, buffer) in zip(plan.outputs, outputs) {
            buffer.update(from: destination.pointer, count: destination.shape.reduce(1, *))
        }
    }

    private func execute() {
        if isProfiling {
            for (index, step) in plan.steps.enumerated() {
                let start = profilingClock.seconds()
                step.execute(pool: pool)
                layerTimings[index] += profilingClock.seconds() - start
            }
            profiledRuns += 1
        } else {
            for step in plan.steps { step.execute(pool: pool) }
        }
    }
}

public enum ProfilingClock: Sendable {
    case wall
    case threadCPU

    func seconds() -> Double {
        var time = timespec()
        clock_gettime(self == .wall ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }
}
