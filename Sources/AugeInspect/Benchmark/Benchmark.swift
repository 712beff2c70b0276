import AugeEngine
import AugeImage
import AugeONNX
import Foundation

/// What `auge bench` measures, in the style of the peers' tools: load time, the first (cold) run,
/// latency statistics and throughput per thread count and batch size, an optional per-layer profile,
/// an optional end-to-end run over real photos, and the process's peak memory.
public struct Benchmark {
    public struct Options: Sendable {
        public var threads: [Int] = [1, 2]
        public var batches: [Int] = [1]
        /// Timed runs per configuration; nil: as many as fit in `seconds` (at least 10).
        public var runs: Int?
        public var seconds: Double = 3
        public var warmup: Int = 10
        public var profile = false
        /// How a quantized model's convolutions run (the network timings and the profile).
        public var int8: Int8Execution = .automatic
        /// A folder of photos for the end-to-end pipeline (read, decode, preprocess, infer).
        public var images: String?
        /// Settings for the end-to-end pipeline where the model file has none (a plain ONNX model).
        public var overrides = ModelSettingOverrides()

        public init() {}
    }

    public struct Machine: Sendable, Encodable {
        public let cpu: String
        public let cores: Int
        public let kernelLevel: String
        public let build: String
        public let summary: String

        enum CodingKeys: String, CodingKey {
            case cpu, cores, build, summary
            case kernelLevel = "kernel_level"
        }

        public static var current: Machine {
            let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
            let model =
                cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
                .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
            return Machine(
                cpu: model, cores: ProcessInfo.processInfo.activeProcessorCount,
                kernelLevel: CPUFeatures.kernelLevel.rawValue, build: Benchmark.buildConfiguration,
                summary: kernelSummary)
        }
    }

    public static var buildConfiguration: String {
        #if DEBUG
            return "debug"
        #else
            return "release"
        #endif
    }

    public struct Run: Sendable, Encodable {
        public let threads: Int
        public let batch: Int
        public let latencyMs: LatencyStatistics
        public let imagesPerS: Double

        enum CodingKeys: String, CodingKey {
            case threads, batch
            case latencyMs = "latency_ms"
            case imagesPerS = "images_per_s"
        }
    }

    public struct Layer: Sendable, Encodable {
        public let name: String
        public let kind: String
        public let outputShape: [Int]
        public let ms: Double
        public let percent: Double
        public let gflops: Double

        enum CodingKeys: String, CodingKey {
            case name, kind, ms, percent, gflops
            case outputShape = "output_shape"
        }
    }

    public struct Profile: Sendable, Encodable {
        public let threads: Int
        public let layers: [Layer]
        /// Sum of the layer times, per run.
        public let layerSumMs: Double
        /// Wall time of the same profiled runs, per run.
        public let runMs: Double
        public let modelGflopPerImage: Double
        public let achievedGflops: Double
        /// Measured one-thread FMA peak (register-resident SIMD8 FMA chains) times the threads used.
        public let peakGflops: Double

        enum CodingKeys: String, CodingKey {
            case threads, layers
            case layerSumMs = "layer_sum_ms"
            case runMs = "run_ms"
            case modelGflopPerImage = "model_gflop_per_image"
            case achievedGflops = "achieved_gflops"
            case peakGflops = "peak_gflops"
        }
    }

    public struct Pipeline: Sendable, Encodable {
        public let images: Int
        public let errors: Int
        public let readMs: Double
        public let decodeMs: Double
        public let preprocessMs: Double
        public let inferMs: Double
        public let totalMs: Double
        public let imagesPerS: Double

        enum CodingKeys: String, CodingKey {
            case images, errors
            case readMs = "read_ms"
            case decodeMs = "decode_ms"
            case preprocessMs = "preprocess_ms"
            case inferMs = "infer_ms"
            case totalMs = "total_ms"
            case imagesPerS = "images_per_s"
        }
    }

    public struct Report: Sendable, Encodable {
        public let machine: Machine
        public let model: String
        public let loadMs: Double
        public let firstRunMs: Double
        public let runs: [Run]
        public let layers: Profile?
        public let pipeline: Pipeline?
        public let peakRssMb: Double

        enum CodingKeys: String, CodingKey {
            case machine, model, runs, layers, pipeline
            case loadMs = "load_ms"
            case firstRunMs = "first_run_ms"
            case peakRssMb = "peak_rss_mb"
        }
    }

    public let modelPath: String
    public let options: Options

    public init(modelPath: String, options: Options) {
        self.modelPath = modelPath
        self.options = options
    }

    private static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Runs everything; `progress` receives a line per finished configuration.
    public func run(progress: (String) -> Void = { _ in }) throws -> Report {
        // Load: parse, import and plan, as a caller pays it before the first photo.
        let loadStart = Self.now()
        let onnx = try ONNXModel.load(contentsOf: URL(fileURLWithPath: modelPath))
        let firstEngine = try Engine(graph: onnx.graph, batchSize: options.batches[0], threads: options.threads[0], int8: options.int8)
        let loadMs = (Self.now() - loadStart) * 1000
        let input = Self.randomInput(count: Self.inputCount(firstEngine))
        let outputs = OutputBuffers(firstEngine)
        let firstStart = Self.now()
        input.withUnsafeBufferPointer { firstEngine.run(input: $0.baseAddress!, outputs: outputs.pointers) }
        let firstRunMs = (Self.now() - firstStart) * 1000

        var runs: [Run] = []
        for threads in options.threads {
            for batch in options.batches {
                let engine =
                    threads == options.threads[0] && batch == options.batches[0]
                    ? firstEngine : try Engine(graph: onnx.graph, batchSize: batch, threads: threads, int8: options.int8)
                let times = timeRuns(engine)
                let stats = LatencyStatistics(times.map { $0 * 1000 })!
                let run = Run(
                    threads: threads, batch: batch, latencyMs: stats,
                    imagesPerS: Double(batch * times.count) / times.reduce(0, +))
                runs.append(run)
                progress(String(format: "threads %d batch %d: p50 %.3f ms, %.1f images/s", threads, batch, stats.p50, run.imagesPerS))
            }
        }
        let profile = options.profile ? try self.profile(onnx.graph) : nil
        let pipeline = try options.images.map { try endToEnd(onnx, folder: $0) }
        return Report(
            machine: .current, model: modelPath, loadMs: loadMs, firstRunMs: firstRunMs, runs: runs,
            layers: profile, pipeline: pipeline, peakRssMb: Self.peakResidentMegabytes())
    }

    private static func inputCount(_ engine: Engine) -> Int { engine.inputShapes[engine.inputNames[0]]!.reduce(1, *) }

    /// A buffer for every output of an engine (an anomaly model has two), freed with the holder.
    private final class OutputBuffers {
        let pointers: [UnsafeMutablePointer<Float>]
        init(_ engine: Engine) {
            pointers = engine.outputNames.map { .allocate(capacity: engine.outputShapes[$0]!.reduce(1, *)) }
        }
        deinit { pointers.forEach { $0.deallocate() } }
    }

    /// Fixed pseudo-random values in -1...1 (a zero input could take faster paths in some kernels).
    private static func randomInput(count: Int) -> [Float] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state) >> 40) / Float(1 << 23)
        }
    }

    /// Seconds per run after warm-up: `runs` of them, or as many as fit in `seconds` (at least 10).
    private func timeRuns(_ engine: Engine) -> [Double] {
        let input = Self.randomInput(count: Self.inputCount(engine))
        let outputs = OutputBuffers(engine)
        return input.withUnsafeBufferPointer { i in
            for _ in 0..<options.warmup { engine.run(input: i.baseAddress!, outputs: outputs.pointers) }
            var times: [Double] = []
            let end = Self.now() + options.seconds
            while options.runs.map({ times.count < $0 }) ?? (times.count < 10 || Self.now() < end) {
                let start = Self.now()
                engine.run(input: i.baseAddress!, outputs: outputs.pointers)
                times.append(Self.now() - start)
            }
            return times
        }
    }

    /// Median latency in ms of each engine, timed side by side: `rounds` rounds, each running every engine in
    /// turn after a warm-up (so that a busy spell of a shared machine falls on all of them), the median of
    /// the rounds' medians.
    public static func sideBySide(_ engines: [Engine], rounds: Int = 3, seconds: Double = 0.25) -> [Double] {
        var options = Options()
        options.seconds = seconds
        options.warmup = 3
        let timer = Benchmark(modelPath: "", options: options)
        var medians = [[Double]](repeating: [], count: engines.count)
        for _ in 0..<rounds {
            for (index, engine) in engines.enumerated() {
                medians[index].append(LatencyStatistics(timer.timeRuns(engine).map { $0 * 1000 })!.p50)
            }
        }
        return medians.map { LatencyStatistics($0)!.p50 }
    }

    /// Per-layer wall times at batch 1 on the first thread count.
    private func profile(_ graph: Graph) throws -> Profile {
        let threads = options.threads[0]
        let engine = try Engine(graph: graph, batchSize: 1, threads: threads, int8: options.int8)
        _ = timeRuns(engine)  // warm
        engine.isProfiling = true
        engine.profilingClock = .wall
        engine.resetTimings()
        let runStart = Self.now()
        let profiledRuns = timeRuns(engine).count
        let runMs = (Self.now() - runStart) * 1000 / Double(profiledRuns)
        let perRun = engine.layerTimings.map { $0 * 1000 / Double(engine.profiledRuns) }
        let sum = perRun.reduce(0, +)
        let layers = zip(engine.layers, perRun).map { layer, ms in
            Layer(
                name: layer.name, kind: layer.kind, outputShape: layer.outputShape, ms: ms, percent: sum > 0 ? 100 * ms / sum : 0,
                gflops: ms > 0 ? Double(2 * layer.multiplyAccumulates) / (ms / 1000) / 1e9 : 0)
        }
        let gflop = Double(engine.layers.reduce(0) { $0 + $1.multiplyAccumulates }) * 2 / 1e9
        return Profile(
            threads: threads, layers: layers, layerSumMs: sum, runMs: runMs, modelGflopPerImage: gflop,
            achievedGflops: gflop / (runMs / 1000), peakGflops: PeakThroughput.measureOneThread() * Double(threads))
    }

    /// The photos of a folder through read, decode, preprocess and inference, one after another,
    /// each stage timed separately (so the stage times add up; `auge classify` overlaps them).
    private func endToEnd(_ onnx: ONNXModel, folder: String) throws -> Pipeline {
        let model = try InspectionModel(path: modelPath, onnx: onnx, overrides: options.overrides)
        let classifier = try model.classifier(threads: options.threads[0])
        let files = FileWalk().collect([folder]).files
        let decoder = ImageDecoder()
        let preprocessing = model.preprocessing
        var tensor = [Float](repeating: 0, count: preprocessing.tensorCount)
        var read = 0.0, decode = 0.0, prepare = 0.0, infer = 0.0, errors = 0
        let start = Self.now()
        for file in files {
            let t0 = Self.now()
            guard let bytes = try? decoder.readFile(file) else { errors += 1; continue }
            let t1 = Self.now()
            guard let image = try? decoder.decode(bytes, name: file, for: preprocessing) else { errors += 1; continue }
            let t2 = Self.now()
            guard (try? tensor.withUnsafeMutableBufferPointer({ try preprocessing.writeTensor(from: image, to: $0.baseAddress!) })) != nil else {
                errors += 1; continue
            }
            let t3 = Self.now()
            _ = tensor.withUnsafeBufferPointer { classifier.answer(for: $0.baseAddress!) }
            let t4 = Self.now()
            read += t1 - t0; decode += t2 - t1; prepare += t3 - t2; infer += t4 - t3
        }
        let total = Self.now() - start
        let done = Double(max(1, files.count - errors))
        return Pipeline(
            images: files.count, errors: errors, readMs: read * 1000 / done, decodeMs: decode * 1000 / done,
            preprocessMs: prepare * 1000 / done, inferMs: infer * 1000 / done,
            totalMs: total * 1000 / Double(max(1, files.count)), imagesPerS: Double(files.count) / total)
    }

    /// Peak resident set size of this process (ru_maxrss is in kilobytes on Linux, bytes on macOS).
    public static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        #if os(Linux)
            getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
            getrusage(RUSAGE_SELF, &usage)
        #endif
        #if os(macOS)
            return Double(usage.ru_maxrss) / 1e6
        #else
            return Double(usage.ru_maxrss) / 1024
        #endif
    }
}
