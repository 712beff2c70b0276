// The engine's FP32 GEMM as a benchmark sees it: the convolution kernel on a 1x1, stride-1 layer over
// channels-last data (a plain register-blocked GEMM, M = pixels, N = out-channels, K = in-channels), so
// the int8 kernels can be measured against it at the same M, N, K (Benchmarks/Int8GemmBenchmark).

package final class FP32GemmBenchmark {
    private let step: ConvolutionGemmStep
    private let pool = ThreadPool(threads: 1)
    private let input: AlignedBuffer, output: AlignedBuffer

    package init(m: Int, n: Int, k: Int, seed: UInt64 = 1) {
        let geometry = ConvolutionGeometry(
            batch: 1, inHeight: 1, inWidth: m, inChannels: k, outHeight: 1, outWidth: m, outChannels: n, kernelHeight: 1, kernelWidth: 1,
            strideY: 1, strideX: 1, dilationY: 1, dilationX: 1, padTop: 0, padLeft: 0, padBottom: 0, padRight: 0, groups: 1)
        var generator = SeededGenerator(seed: seed)
        input = AlignedBuffer(count: m * paddedChannels(k))
        for i in 0..<(m * paddedChannels(k)) { input.pointer[i] = generator.nextFloat(in: -1...1) }
        output = AlignedBuffer(count: m * paddedChannels(n))
        let weight = (0..<(n * k)).map { _ in generator.nextFloat(in: -1...1) }
        step = ConvolutionGemmStep(
            geometry: geometry, weight: weight, biasValues: [Float](repeating: 0.5, count: n), source: input.pointer, sourceLayout: .channelsLast,
            gathered: nil, output: output.pointer, epilogue: Epilogue(activation: .relu, residual: nil, postActivation: nil))
    }

    /// One GEMM on the calling thread.
    package func run() { step.execute(pool: pool) }
}
