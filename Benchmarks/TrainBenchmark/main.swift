// Training throughput without decoding: median step time and images/s per architecture, and the
// median forward/backward time per layer. Usage: TrainBenchmark [size] [channels] [batch] [threads] [steps] [arch...]
import AugeTrain
import Foundation

let arguments = CommandLine.arguments.dropFirst().map { $0 }
func number(_ index: Int, _ fallback: Int) -> Int { arguments.count > index ? Int(arguments[index]) ?? fallback : fallback }
let (size, channels, batch) = (number(0, 128), number(1, 1), number(2, 32))
let (threads, steps) = (number(3, ProcessInfo.processInfo.activeProcessorCount), number(4, 10))
let architectures = arguments.count > 5 ? arguments[5...].compactMap(Architecture.init(rawValue:)) : Architecture.allCases

for architecture in architectures {
    let result = TrainingBenchmark.run(architecture: architecture, input: Shape(height: size, width: size, channels: channels),
                                       batch: batch, threads: threads, steps: steps)
    print(String(format: "%@ %dx%dx%d batch %d threads %d: %d parameters, step median %.1f ms, %.0f images/s", architecture.rawValue,
                 size, size, channels, batch, threads, result.parameterCount, result.stepMilliseconds, result.imagesPerSecond))
    for layer in result.layers {
        print(String(format: "  %-24@ %-12@ forward %7.2f ms  backward %7.2f ms", layer.layer, layer.output.description,
                     layer.forwardMilliseconds, layer.backwardMilliseconds))
    }
}
