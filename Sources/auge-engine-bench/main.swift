// Batch-1 latency of the engine on the benchmark networks, built in code with seeded random weights.
//
//   auge-engine-bench [--models inspect-small,mobilenetv2,resnet18] [--threads 1,2] [--seconds 3] [--profile]
//
// Prints one line per (model, threads): median and p90 latency in ms over the timed runs after warm-up.
// With --profile, also per-layer times: the fastest of 30 runs (CPU time of the thread for 1-thread
// runs, else wall time), which filters out time lost to other processes on a busy machine.

import AugeEngine
import Foundation

func option(_ name: String, default value: String) -> String {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return value }
    return arguments[index + 1]
}

let models = option("--models", default: "inspect-small,mobilenetv2,resnet18").split(separator: ",").map(String.init)
let threadCounts = option("--threads", default: "1,2").split(separator: ",").compactMap { Int($0) }
let seconds = Double(option("--seconds", default: "3")) ?? 3
let profile = CommandLine.arguments.contains("--profile")

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

print(CPUFeatures.summary)
guard CPUFeatures.canRunKernels else {
    print("this CPU cannot run the compiled kernels")
    exit(1)
}
// cpu%: process CPU time over wall time during the timed runs; far below 100 x threads means the
// machine was busy with other work and the latencies are inflated.
print("model           threads  median_ms  p90_ms  runs  GMAC/s  cpu%")
for model in models {
    guard let graph = network(model) else {
        print("unknown model \(model)")
        exit(2)
    }
    for threads in threadCounts {
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
        print(String(format: "%-15@ %7d  %9.3f  %6.3f  %4d  %6.1f  %4.0f", model as NSString, threads, median * 1e3, p90 * 1e3, times.count,
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
            for (layer, time) in zip(engine.layers, fastest).sorted(by: { $0.1 > $1.1 }).prefix(Int(option("--top", default: "25")) ?? 25) {
                print(String(format: "    %6.3f ms %5.1f%%  %7.2f GMAC/s  %@  %@  %@", time * 1e3, time / total * 100,
                             Double(layer.multiplyAccumulates) / time * 1e-9, layer.name as NSString, layer.kind as NSString,
                             "\(layer.outputShape)" as NSString))
            }
        }
    }
}
