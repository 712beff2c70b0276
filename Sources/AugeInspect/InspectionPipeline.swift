import AugeImage
import Foundation

/// Classifies a list of photos on all cores and hands out one record per photo, in file order.
///
/// Each lane is a worker thread with its own classifier: it reads, decodes, preprocesses and classifies
/// whole photos. Lanes never wait for one another, and no core sits idle while another decodes. This
/// is what a folder of photos needs (throughput); one photo alone goes fastest through a single lane
/// whose engine uses every core (`lanes(for:photos:cores:threads:)` chooses). A photo that cannot be
/// read gets an error record; the others are unaffected.
public final class InspectionPipeline: @unchecked Sendable {
    public let lanes: [Classifier]
    public let decoder: ImageDecoder
    /// Records finished ahead of the one the caller waits for, at most.
    public let queueDepth: Int
    public var includeScores = false
    /// Which photos also get a hotspot and heatmap (nil: none).
    public var explanation: ExplanationSettings?

    public init(lanes: [Classifier], decoder: ImageDecoder = ImageDecoder(), queueDepth: Int = 8) {
        precondition(!lanes.isEmpty, "a pipeline needs at least one lane")
        self.lanes = lanes
        self.decoder = decoder
        self.queueDepth = max(lanes.count, queueDepth)
    }

    /// Classifiers for a run over `photos` photos: one lane per core, each engine on one thread, when
    /// there are photos for every lane; a single lane on all cores for one photo. `threads` overrides
    /// the engine threads of each lane, `lanes` their number.
    public static func lanes(
        for model: InspectionModel, photos: Int, cores: Int, lanes: Int? = nil,
        threads: Int? = nil
    ) throws -> [Classifier] {
        let count = max(1, min(lanes ?? cores, photos))
        let engineThreads = threads ?? max(1, cores / count)
        return try (0..<count).map { _ in try model.classifier(threads: engineThreads) }
    }

    /// Finished records waiting to be handed out in file order; guarded by `condition`.
    private final class Ring: @unchecked Sendable {
        let condition = NSCondition()
        var records: [InspectionRecord?]
        var nextToClaim = 0
        /// Records handed out so far: file i may be worked on once i < consumed + depth.
        var consumed = 0
        var stopped = false

        init(depth: Int) { records = [InspectionRecord?](repeating: nil, count: depth) }

        /// The next file index to work on, once its place in the ring is free; nil when there is none or the run stopped.
        func claim(fileCount: Int) -> Int? {
            condition.lock()
            defer { condition.unlock() }
            let index = nextToClaim
            guard index < fileCount, !stopped else { return nil }
            nextToClaim += 1
            while index >= consumed + records.count && !stopped { condition.wait() }
            return stopped ? nil : index
        }

        func fill(_ index: Int, with record: InspectionRecord) {
            condition.lock()
            records[index % records.count] = record
            condition.broadcast()
            condition.unlock()
        }

        /// Waits for file `index`'s record and frees its place.
        func take(_ index: Int) -> InspectionRecord {
            condition.lock()
            defer { condition.unlock() }
            while records[index % records.count] == nil { condition.wait() }
            let record = records[index % records.count]!
            records[index % records.count] = nil
            consumed = index + 1
            condition.broadcast()
            return record
        }

        func stop() {
            condition.lock()
            stopped = true
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Runs over `files`, calling `handle` on the calling thread for each record in file order.
    public func run(_ files: [String], handle: (InspectionRecord) throws -> Void) rethrows {
        let ring = Ring(depth: queueDepth)
        let decoder = self.decoder, includeScores = self.includeScores, explanation = self.explanation
        for classifier in lanes.prefix(max(1, files.count)) {
            Thread {
                while let index = ring.claim(fileCount: files.count) {
                    ring.fill(
                        index,
                        with: classifier.inspect(
                            path: files[index], decoder: decoder, includeScores: includeScores,
                            explanation: explanation))
                }
            }.start()
        }
        defer { ring.stop() }
        for index in files.indices {
            try handle(ring.take(index))
        }
    }
}
