// Int8 GEMM rate (G int8 multiply-accumulates per second, one thread) of each int8 path beside the
// engine's FP32 GEMM (1x1 convolution kernel) at the same M x N x K, with the measured peaks.
//
//   swift build -c release --product Int8GemmBenchmark && .build/release/Int8GemmBenchmark [--samples 9] [--shapes M,N,K;...] [--check]
//
// --check also compares every path's output with `referenceInt8Gemm` at each shape (bit for bit), e.g.
// in the portable build, whose int8 path the test suite (built for the main build) does not run.
//
// Each figure is the median of `samples` timed samples (each at least 20 ms of repeated GEMMs) after a
// 0.3 s warm-up; the machine is shared, so compare ratios from one run. A: uint8 M x K (rows padded to
// 4 bytes), B packed at setup, output uint8 M x N with requantization and ReLU fused.

import AugeEngine
import Foundation

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

/// Median seconds per call of `body`.
func measure(samples: Int, _ body: () -> Void) -> Double {
    let warmUpEnd = now() + 0.3
    var calls = 0
    while now() < warmUpEnd || calls < 2 {
        body()
        calls += 1
    }
    // Calls per sample: enough for about 20 ms.
    let single = 0.3 / Double(calls)
    let repeats = max(1, Int(0.02 / single))
    var times: [Double] = []
    for _ in 0..<samples {
        let start = now()
        for _ in 0..<repeats { body() }
        times.append((now() - start) / Double(repeats))
    }
    return times.sorted()[times.count / 2]
}

var samples = 9
var checking = false
// Realistic layers: ResNet-18 3x3 convolutions as im2col GEMMs (K = 9 x in-channels) at 56, 28, 14, 7;
// a 1x1 expansion; MobileNetV2's first layer (K = 27); a batch-1 FC layer.
var shapes: [(m: Int, n: Int, k: Int)] = [(3136, 64, 576), (784, 128, 1152), (196, 256, 2304), (49, 512, 4608), (3136, 144, 24), (12544, 32, 27), (1, 1000, 1280)]
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--samples": samples = Int(arguments.next() ?? "") ?? samples
    case "--check": checking = true
    case "--shapes":
        shapes = (arguments.next() ?? "").split(separator: ";").compactMap {
            let v = $0.split(separator: ",").compactMap { Int($0) }
            return v.count == 3 ? (v[0], v[1], v[2]) : nil
        }
    default:
        print("usage: Int8GemmBenchmark [--samples N] [--shapes M,N,K;M,N,K...] [--check]")
        exit(2)
    }
}

print(kernelSummary)
guard CPUFeatures.canRunKernels else {
    print("this CPU cannot run the compiled kernels")
    exit(1)
}
let fp32Peak = PeakThroughput.measureOneThread() / 2  // G FMA/s (one multiply-accumulate each)
let int8Peak = PeakThroughput.measureInt8OneThread()
print(String(format: "measured one-thread peaks: FP32 %.1f G FMA/s, int8 %@", fp32Peak, int8Peak.map { String(format: "%.1f G MAC/s (vpdpbusd)", $0) } ?? "n/a (no VNNI)"))
let paths = Int8GemmPath.allCases.filter(Int8GemmPath.isAvailable)
func padded(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
print("     M     N     K  " + paths.map { padded($0.rawValue, 13) }.joined() + padded("fp32-gemm", 12) + padded("int8/fp32", 12) + padded("% of int8 peak", 15))
for (m, n, k) in shapes {
    var generator = SeededGenerator(seed: 7)
    let stride = (k + 3) / 4 * 4
    let a = (0..<(m * stride)).map { _ in UInt8.random(in: 0...255, using: &generator) }
    let weights = (0..<(n * k)).map { _ in Int8.random(in: -128...127, using: &generator) }
    let bias = (0..<n).map { _ in Int32.random(in: -1000...1000, using: &generator) }
    let scale = (0..<n).map { _ in Float.random(in: 1e-5...1e-4, using: &generator) }
    let quantization = Int8Quantization(inputZeroPoint: 128, outputZeroPoint: 3, outputRange: 3...255)
    let packed = Int8PackedWeights(weights: weights, k: k, n: n, bias: bias, scale: scale, quantization: quantization)
    let expected =
        checking
        ? referenceInt8Gemm(a: a, aRowStride: stride, m: m, k: k, n: n, weights: weights, bias: bias, scale: scale, quantization: quantization).output : nil
    var output = [UInt8](repeating: 0, count: m * n)
    let macs = Double(m * n * k)
    var rates: [Double] = []
    a.withUnsafeBufferPointer { a in
        output.withUnsafeMutableBufferPointer { output in
            for path in paths {
                output.update(repeating: 0)  // so that a path that stores nothing cannot pass on another's output
                let seconds = measure(samples: samples) {
                    int8Gemm(path: path, input: .matrix(a.baseAddress!, rowStride: stride), rows: m, weights: packed, output: output.baseAddress!, outputRowStride: n)
                }
                rates.append(macs / seconds * 1e-9)
                if let expected, !expected.elementsEqual(output) {
                    print("\(path.rawValue) differs from the reference at \(m) x \(n) x \(k)")
                    exit(1)
                }
            }
        }
    }
    let fp32 = FP32GemmBenchmark(m: m, n: n, k: k)
    let fp32Rate = macs / measure(samples: samples) { fp32.run() } * 1e-9
    let best = rates.max()!
    let peakText = int8Peak.map { String(format: "%14.0f%%", best / $0 * 100) } ?? padded("n/a", 15)
    print(
        String(format: "%6d %5d %5d  ", m, n, k) + rates.map { String(format: "%13.1f", $0) }.joined()
            + String(format: "%12.1f%11.2fx", fp32Rate, best / fp32Rate) + peakText)
}
print("rates in G multiply-accumulates per second, one thread (median of \(samples) samples)" + (checking ? "; every output equal to the reference" : ""))
