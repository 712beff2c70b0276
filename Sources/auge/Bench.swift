import ArgumentParser
import AugeEngine
import AugeInspect
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark a model: load time, first run, latency (min/p50/p90/p99/max) and images/s per thread count and batch.",
        discussion: """
            Percentiles are nearest-rank (always a measured time). With --profile: per-layer times after fusion, their \
            share and GFLOP/s, against a measured FMA peak. With --images: the whole pipeline on real photos. \
            Numbers from a debug build mean nothing: it refuses unless --allow-debug.
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "Engine threads, comma-separated: each count is measured in turn.")
    var threads: String = "1,\(ProcessInfo.processInfo.activeProcessorCount)"

    @Option(help: "Batch sizes, comma-separated.")
    var batch: String = "1"

    @Option(help: "Timed runs per configuration (default: as many as fit in --seconds).")
    var runs: Int?

    @Option(help: "Seconds of timed runs per configuration.")
    var seconds: Double = 3

    @Option(help: "Untimed warm-up runs per configuration.")
    var warmup: Int = 10

    @Option(help: "A folder of photos: time read, decode, preprocess and inference end to end.")
    var images: String?

    @Flag(help: "Per-layer profile.")
    var profile = false

    @Option(
        help: ArgumentHelp(
            "How a quantized model's convolutions run: automatic, kernels or float.",
            discussion:
                "automatic (what every command does): on the int8 kernels where the CPU has AVX-512 VNNI; without it in float on the same grids when float runs most of the model as Winograd (3x3, stride 1), else on the int8 kernels. kernels: on the int8 kernels anyway; float: in float anyway."
        ))
    var int8: Int8Mode = .automatic

    @Option(help: "Output: table or json.")
    var format: BenchFormat = .table

    @Flag(help: "Run even in a debug build (the numbers are meaningless).")
    var allowDebug = false

    enum BenchFormat: String, ExpressibleByArgument { case table, json }

    enum Int8Mode: String, ExpressibleByArgument {
        case automatic, kernels, float
        var execution: Int8Execution {
            switch self {
            case .automatic: .automatic
            case .kernels: .kernels
            case .float: .float
            }
        }
    }

    private func numbers(_ text: String, _ flag: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else { throw ValidationError("\(flag) takes positive integers, e.g. 1,2") }
        return values.map { $0! }
    }

    func run() throws {
        try requireKernelSupport()
        if Benchmark.buildConfiguration == "debug" {
            guard allowDebug else {
                throw CommandFailure(
                    "this is a debug build: its kernels are hundreds of times slower and its numbers mean nothing. "
                        + "Build with `swift build -c release` (or pass --allow-debug).")
            }
            log("WARNING: debug build; these numbers mean nothing")
        }
        var options = Benchmark.Options()
        options.threads = try numbers(threads, "--threads")
        options.batches = try numbers(batch, "--batch")
        options.runs = runs
        options.seconds = seconds
        options.warmup = warmup
        options.profile = profile
        options.int8 = int8.execution
        options.images = images
        options.overrides = try model.overrides()
        let path = try model.model ?? ModelOptions.defaultModelPath()
        let report = try Benchmark(modelPath: path, options: options).run(progress: { if format == .table { log($0) } })
        switch format {
        case .json:
            try printJSON(report)
        case .table:
            printTable(report)
        }
    }

    private func printTable(_ r: Benchmark.Report) {
        print("machine: \(r.machine.cpu); \(r.machine.summary); \(r.machine.build) build")
        print("model:   \(r.model)")
        print(String(format: "load %.1f ms, first run %.2f ms, peak RSS %.1f MB", r.loadMs, r.firstRunMs, r.peakRssMb))
        print("")
        print("threads  batch      min      p50      p90      p99      max   images/s")
        for run in r.runs {
            let l = run.latencyMs
            print(String(format: "%7d %6d %8.3f %8.3f %8.3f %8.3f %8.3f %10.1f", run.threads, run.batch, l.min, l.p50, l.p90, l.p99, l.max, run.imagesPerS))
        }
        print("(latency in ms per run of one batch)")
        if let p = r.layers {
            print("")
            print("profile, batch 1, \(p.threads) thread(s), wall clock:")
            print("   ms      %   GFLOP/s  kind / output / layer")
            for layer in p.layers {
                print(
                    String(format: "%7.3f %6.1f %8.1f  ", layer.ms, layer.percent, layer.gflops)
                        + "\(layer.kind)  \(layer.outputShape)  \(layer.name)")
            }
            print(
                String(
                    format: "layers sum to %.3f ms of a %.3f ms run; model %.4f GFLOP -> %.1f GFLOP/s of a measured peak %.1f (%.0f %%)",
                    p.layerSumMs, p.runMs, p.modelGflopPerImage, p.achievedGflops, p.peakGflops, 100 * p.achievedGflops / p.peakGflops))
            print("(peak: one thread's register-resident SIMD8 FMA rate times the threads)")
        }
        if let e = r.pipeline {
            print("")
            print(
                String(
                    format: "end to end, %d photos (%d errors): read %.2f + decode %.2f + preprocess %.2f + infer %.2f = %.2f ms per photo, %.1f photos/s",
                    e.images, e.errors, e.readMs, e.decodeMs, e.preprocessMs, e.inferMs, e.totalMs, e.imagesPerS))
        }
    }
}
