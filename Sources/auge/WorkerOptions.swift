import ArgumentParser
import AugeInspect
import Foundation

/// Photos in flight and engine threads, with one meaning in every subcommand that has several workers
/// (classify, eval, quantize). `--threads` alone means engine threads everywhere (watch and bench too).
struct WorkerOptions: ParsableArguments {
    @Option(help: "Photos in flight, each read, decoded and inspected by its own worker (default: all cores, at most one per photo).")
    var workers: Int?

    @Option(help: "Engine threads of each worker (default: the cores shared among the workers).")
    var threads: Int?

    /// The name `auge classify` had for --workers until 0.3; kept for scripts on the line, hidden.
    @Option(name: .customLong("decode-threads"), help: .hidden)
    var decodeThreads: Int?

    func validate() throws {
        if decodeThreads != nil && workers != nil { throw ValidationError("--decode-threads is the old name of --workers: give one of them") }
        if let workers = workers ?? decodeThreads, workers < 1 { throw ValidationError("--workers must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// The classifiers of a pipeline over `photos` photos, saying so once if a deprecated name was used.
    func lanes(for model: InspectionModel, photos: Int) throws -> [Classifier] {
        if decodeThreads != nil { log("auge: --decode-threads is deprecated and will go: it is now --workers (same meaning)") }
        return try InspectionPipeline.lanes(
            for: model, photos: photos, cores: ProcessInfo.processInfo.activeProcessorCount,
            lanes: workers ?? decodeThreads, threads: threads)
    }
}
