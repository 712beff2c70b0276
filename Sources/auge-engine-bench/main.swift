// Batch-1 latency of the engine on the benchmark networks, built in code with seeded random weights.
//
//   auge-engine-bench [--models inspect-small,mobilenetv2,resnet18] [--threads 1,2] [--seconds 3] [--profile [--top 25]]
//   auge-engine-bench --fork-join [--threads 2]
//
// Prints one line per (model, threads): median and p90 latency in ms over the timed runs after warm-up.
// With --profile, also per-layer times: the fastest of 30 runs (CPU time of the thread for 1-thread
// runs, else wall time), which filters out time lost to other processes on a busy machine.
// With --fork-join, instead: what the thread pool's fork and join of one job costs (each layer is one),
// with tasks that do nearly nothing, in 2 and in 16 claims.

import AugeEngine
import ArgumentParser
import Foundation

struct EngineBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auge-engine-bench",
        abstract: "Batch-1 latency of the engine on the benchmark networks, built in code with seeded random weights.")

    @Option(help: "Comma-separated networks: inspect-small, mobilenetv2, resnet18.")
    var models = "inspect-small,mobilenetv2,resnet18"

    @Option(help: "Comma-separated thread counts.")
    var threads = "1,2"

    @Option(help: "Timed seconds per model and thread count, after warm-up.")
    var seconds = 3.0

    @Flag(help: "Also print per-layer times (the fastest of 30 runs per layer).")
    var profile = false

    @Option(help: "How many layers the profile lists, slowest first.")
    var top = 25

    @Flag(help: "Time the thread pool's fork and join of a job of near-empty tasks instead of the networks.")
    var forkJoin = false

    var threadCounts: [Int] { threads.split(separator: ",").compactMap { Int($0) } }

    func validate() throws {
        if let unknown = models.split(separator: ",").first(where: { network(String($0)) == nil }) {
            throw ValidationError("unknown model '\(unknown)'")
        }
        guard !threadCounts.isEmpty, threadCounts.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--threads must be positive whole numbers, e.g. 1,2")
        }
    }

    func run() throws {
        if forkJoin {
            timeForkJoin()
            return
        }
        print(kernelSummary)
        guard CPUFeatures.canRunKernels else { throw ValidationError("this CPU cannot run the compiled kernels") }
        // cpu%: process CPU time over wall time during the timed runs; far below 100 x threads means the
        // machine was busy with other work and the latencies are inflated.
        print("model           threads  median_ms  p90_ms  runs  GMAC/s  cpu%")
        for model in models.split(separator: ",").map(String.init) {
            for threadCount in threadCounts {
                try measure(network(model)!, named: model, threads: threadCount)
            }
        }
    }

    /// Median over 9 rounds of the time per `parallelFor` of 20,000 jobs, each task adding one to its own cache line.
    private func timeForkJoin() {
        print("threads  tasks  median_ns_per_job")
        let slots = UnsafeMutablePointer<Int>.allocate(capacity: 16 * 8)
        slots.initialize(repeating: 0, count: 16 * 8)
        defer { slots.deallocate() }
        for threadCount in threadCounts {
            let pool = ThreadPool(threads: threadCount)
            for tasks in [2, 16] {
                let jobs = 20_000
                let rounds = (0..<9).map { _ in
                    let start = DispatchTime.now().uptimeNanoseconds
                    for _ in 0..<jobs { pool.parallelFor(tasks, work: .max) { task in slots[task &* 8] &+= 1 } }
                    return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(jobs)
                }.sorted()
                print(String(format: "%7d  %5d  %17.0f", threadCount, tasks, rounds[4]))
            }
        }
    }

    private func measure(_ graph: Graph, named name: String, threads: Int) throws {
        let engine = try Engine(graph: graph, batchSize: 1, threads: threads)
        let inputCount = engine.inputShapes[engine.inputNames[0]]!.reduce(1, *)
        let outputCount = engine.outputShapes[engine.outputNames[0]]!.reduce(1, *)
        var generator = SystemRandomNumberGenerator()
        let input = (0..<inputCount).map { _ in Float.random(in: -1...1, using: &generator) }
        var output = [Float](repeating: 0, count: outputCount)
        let macs = engine.layers.map(\.multiplyAccumulates).reduce(0, +)
        var times: [Double] = []
        var cpuShare = 0.0
        input.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { output in
                let warmUpEnd = now() + min(1, seconds / 3)
                while now() < warmUpEnd { engine.run(input: input.baseAddress!, output: output.baseAddress!) }
                let end = now() + seconds
                let (wallStart, cpuStart) = (now(), processCPU())
                times.reserveCapacity(100_000)
                while now() < end || times.count < 20 {
                    let start = now()
                    engine.run(input: input.baseAddress!, output: output.baseAddress!)
                    times.append(now() - start)
                }
                cpuShare = (processCPU() - cpuStart) / (now() - wallStart)
            }
        }
        times.sort()
        let median = times[times.count / 2], p90 = times[times.count * 9 / 10]
        print(
            String(
                format: "%-15@ %7d  %9.3f  %6.3f  %4d  %6.1f  %4.0f", name as NSString, threads, median * 1e3, p90 * 1e3, times.count,
                Double(macs) / median * 1e-9, cpuShare * 100))
        if profile {
            // Thread CPU time per layer: robust against other processes on the machine (1-thread runs).
            engine.isProfiling = true
            engine.profilingClock = threads == 1 ? .threadCPU : .wall
            // The fastest of 30 runs per layer: other processes only ever add time.
            var fastest = [Double](repeating: .infinity, count: engine.layers.count)
            for _ in 0..<30 {
                engine.resetTimings()
                engine.run(input: input, output: &output)
                fastest = zip(fastest, engine.layerTimings).map { min($0, $1) }
            }
            let total = fastest.reduce(0, +)
            print(String(format: "    sum of per-layer minimum times: %.3f ms", total * 1e3))
            for (layer, time) in zip(engine.layers, fastest).sorted(by: { $0.1 > $1.1 }).prefix(top) {
                print(
                    String(
                        format: "    %6.3f ms %5.1f%%  %7.2f GMAC/s  %@  %@  %@", time * 1e3, time / total * 100,
                        Double(layer.multiplyAccumulates) / time * 1e-9, layer.name as NSString, layer.kind as NSString,
                        "\(layer.outputShape)" as NSString))
            }
        }
    }
}

func network(_ name: String) -> Graph? {
    switch name {
    case "inspect-small": return Zoo.inspectSmall()
    case "mobilenetv2": return Zoo.mobileNetV2()
    case "resnet18": return Zoo.resnet18()
    default: return nil
    }
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

/// CPU time of the whole process (all threads).
func processCPU() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

EngineBench.main()
