import AugeInspect
import AugeONNX
import Foundation
import Prometheus
import Synchronization

/// The line station's state for one output folder: its parts, its review desk, what the watcher in
/// this process says, and the metrics. Knows nothing of HTTP (`StationServer` serves it).
public final class LineStation: Sendable {
    public struct Options: Sendable {
        public var outputFolder: String
        /// The model file, for the model page and the labels a verdict offers (the watcher's model).
        public var modelPath: String?
        public var shifts = ShiftSchedule.threeShifts
        /// A watcher runs in this process (it gets `watchStatus` as its observer).
        public var watching = false

        public init(outputFolder: String) {
            self.outputFolder = outputFolder
        }
    }

    public let options: Options
    public let parts: PartLog
    public let reviews: ReviewDesk
    public let files: OutputFiles
    /// The watcher's observer; nil when only browsing (`auge serve`).
    public let watchStatus: WatchStatus?
    public let events = EventHub()
    let metrics = PrometheusCollectorRegistry()
    private let startTime = Date().timeIntervalSince1970
    private let model = Mutex<ModelInfo?>(nil)
    private let processingHistogram: ValueHistogram

    public init(options: Options) throws {
        self.options = options
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: options.outputFolder, isDirectory: &isFolder), isFolder.boolValue else {
            throw StationError("the output folder \(options.outputFolder) does not exist")
        }
        parts = PartLog(path: (options.outputFolder as NSString).appendingPathComponent("results.jsonl"))
        reviews = try ReviewDesk(outputFolder: options.outputFolder)
        files = OutputFiles(outputFolder: options.outputFolder)
        watchStatus = options.watching ? WatchStatus(metrics: metrics) : nil
        processingHistogram = metrics.makeValueHistogram(
            descriptor: .auge("processing_seconds", "Read, decode, preprocess and infer one photo"),
            buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1])
    }

    /// Takes in what results.jsonl gained: counts it and tells every open screen.
    public func ingest() {
        let added = parts.refresh()
        for part in added {
            metrics.makeCounter(
                descriptor: .auge("parts_total", "Parts decided, by decision and label"),
                labels: [("decision", part.decision), ("label", part.label ?? "")]
            ).increment()
            if part.decision == "error" { metrics.makeCounter(descriptor: .auge("errors_total", "Photos that could not be processed")).increment() }
            if let ms = part.ms { processingHistogram.record(ms / 1000) }
        }
        if !added.isEmpty {
            events.publish(name: "parts", json: StationJSON.encode(added.map { summary(of: $0) }))
        }
    }

    // MARK: - What the pages show

    public struct Summary: Encodable, Sendable {
        public let id: String
        public let time: String?
        public let decision: String
        public let label: String?
        public let score: Float?
        public let anomalyScore: Float?
        public let ms: Double?
        public let error: String?
        public let name: String
        public let photoUrl: String?
        public let heatmapUrl: String?
        public let review: ReviewRecord?
    }

    public func summary(of part: Part) -> Summary {
        Summary(
            id: part.id, time: part.time.map { StationTime.format(Date(timeIntervalSince1970: $0)) }, decision: part.decision,
            label: part.label, score: part.score, anomalyScore: part.anomalyScore, ms: part.ms, error: part.error,
            name: (part.path as NSString).lastPathComponent, photoUrl: photoURL(of: part),
            heatmapUrl: files.url(for: part.heatmap), review: reviews.verdict(for: part.id))
    }

    /// Where the watcher moved the photo; for a classify run's records (no `moved_to`), where
    /// `--sort-into OUT` copied it: `OUT/<decision>/<name>` (or `OUT/<label>/<name>` with `--by label`).
    func photoURL(of part: Part) -> String? {
        if let url = files.url(for: part.photo) { return url }
        guard part.movedTo == nil else { return nil }
        let name = (part.path as NSString).lastPathComponent
        return files.url(for: part.decision + "/" + name) ?? part.label.flatMap { files.url(for: $0 + "/" + name) }
    }

    public struct Status: Encodable, Sendable {
        public struct Window: Encodable, Sendable {
            public let start: String?
            public let counts: PartCounts
        }
        public struct Percentiles: Encodable, Sendable {
            public let p50: Double
            public let p99: Double
        }
        public struct Watcher: Encodable, Sendable {
            public let alive: Bool
            public let lastLoop: String?
            public let lastPhoto: String?
            public let queueDepth: Int
        }
        public let time: String
        /// The latest part: what the big panel beside the line shows.
        public let current: Summary?
        public let shift: Window
        public let sinceStart: Window
        public let ratePerMinute: Double
        public let processingMs: Percentiles?
        /// File ready to record, from the watcher in this process.
        public let latencyMs: Percentiles?
        public let watcher: Watcher?
        public let reviewPending: Int
        public let unreadableLines: Int
        public let clients: Int
    }

    /// A watcher that has not turned its loop for this long is reported dead (it turns it every second).
    static let aliveWithin = 10.0

    public func status(now: Date = Date()) -> Status {
        let seconds = now.timeIntervalSince1970
        let shiftStart = options.shifts.currentStart(now: now)
        let since: Double? = options.watching ? startTime : nil
        let latest = parts.parts(matching: PartQuery(), limit: 1).first
        var watcher: Status.Watcher?
        var latency: Status.Percentiles?
        if let snapshot = watchStatus?.snapshot {
            watcher = Status.Watcher(
                alive: snapshot.lastLoop.map { seconds - $0 < Self.aliveWithin } ?? false,
                lastLoop: snapshot.lastLoop.map { StationTime.format(Date(timeIntervalSince1970: $0)) },
                lastPhoto: snapshot.lastRecord.map { StationTime.format(Date(timeIntervalSince1970: $0)) },
                queueDepth: snapshot.queueDepth)
            latency = Self.percentiles(snapshot.latencies.map { $0 * 1000 })
        }
        return Status(
            time: StationTime.format(now), current: latest.map { summary(of: $0) },
            shift: .init(start: StationTime.format(shiftStart), counts: parts.counts(since: shiftStart.timeIntervalSince1970)),
            sinceStart: .init(start: since.map { StationTime.format(Date(timeIntervalSince1970: $0)) }, counts: parts.counts(since: since)),
            ratePerMinute: parts.rate(now: seconds), processingMs: Self.percentiles(parts.recentProcessingTimes(1000)),
            latencyMs: latency, watcher: watcher, reviewPending: reviewQueue(decisions: ["review"], limit: .max).count,
            unreadableLines: parts.unreadableLines, clients: events.clientCount)
    }

    static func percentiles(_ values: [Double]) -> Status.Percentiles? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        func at(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        return Status.Percentiles(p50: at(0.5), p99: at(0.99))
    }

    /// Parts of these decisions that no person has answered yet, oldest first.
    public func reviewQueue(decisions: Set<String>, limit: Int) -> [Part] {
        let answered = reviews.verdicts
        return parts.oldestFirst(matching: PartQuery(decisions: decisions), where: { answered[$0.id] == nil }, limit: limit)
    }

    /// Files the part's photo under the verdict (see `ReviewDesk`) and tells every screen.
    public func give(_ verdict: Verdict, partID: String, who: String) throws -> ReviewRecord {
        guard let part = parts.part(id: partID) else { throw StationError("there is no part \(partID) in \(parts.path)") }
        guard let photoURL = photoURL(of: part), let photo = files.resolve(urlPath: String(photoURL.dropFirst("/files/".count))) else {
            throw StationError("the photo of part \(partID) is not in the output folder (\(part.photo))")
        }
        let record = try reviews.give(verdict, for: part, photo: photo, who: who)
        events.publish(name: "review", json: StationJSON.encode(summary(of: part)))
        return record
    }

    public func undoLastVerdict(who: String) throws -> ReviewRecord? {
        let undone = try reviews.undoLast(who: who)
        if let part = undone?.part.flatMap({ parts.part(id: $0) }) {
            events.publish(name: "review", json: StationJSON.encode(summary(of: part)))
        }
        return undone
    }

    // MARK: - The model

    public struct ModelInfo: Encodable, Sendable {
        public let file: String
        public let sha256: String?
        public let kind: String
        public let labels: [String]
        public let okLabels: [String]
        public let threshold: Float
        public let reviewBand: ModelMetadata.ReviewBand?
        public let metadata: ModelMetadata?
        let stamp: String
    }

    /// The model file's labels, policy and metadata; read again only when the file changes.
    public func modelInfo() throws -> ModelInfo? {
        guard let path = options.modelPath else { return nil }
        var info = stat()
        guard stat(path, &info) == 0 else { throw StationError("the model file \(path) is gone") }
        let stamp = "\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        if let cached = model.withLock({ $0 }), cached.stamp == stamp { return cached }
        let loaded = try InspectionModel.load(path: path)
        let fresh = ModelInfo(
            file: (path as NSString).lastPathComponent, sha256: loaded.sha256, kind: loaded.policy.kind.rawValue,
            labels: loaded.policy.labels, okLabels: loaded.policy.okLabels, threshold: loaded.policy.threshold,
            reviewBand: loaded.policy.reviewBand, metadata: loaded.onnx.metadata, stamp: stamp)
        model.withLock { $0 = fresh }
        return fresh
    }

    /// Labels a verdict can name: the model's, else those seen in the results.
    public func verdictLabels() -> (ok: [String], defects: [String]) {
        if let info = try? modelInfo() {
            return (info.okLabels.isEmpty ? ["ok"] : info.okLabels, info.labels.filter { !info.okLabels.contains($0) })
        }
        let seen = parts.counts(since: nil).labels.keys.sorted()
        let ok = seen.filter { ModelMetadata.isConventionalOKLabel($0) }
        return (ok.isEmpty ? ["ok"] : ok, seen.filter { !ModelMetadata.isConventionalOKLabel($0) })
    }

    // MARK: - Metrics

    /// The Prometheus text: counters as they grew, gauges read now.
    public func prometheusText(now: Date = Date()) -> String {
        let status = status(now: now)
        metrics.makeGauge(descriptor: .auge("review_pending", "Parts in review that no person has answered")).set(to: Double(status.reviewPending))
        metrics.makeGauge(descriptor: .auge("screen_clients", "Open live screens")).set(to: Double(status.clients))
        if let watcher = status.watcher {
            metrics.makeGauge(descriptor: .auge("queue_depth", "Photos waiting in the inbox")).set(to: Double(watcher.queueDepth))
            metrics.makeGauge(descriptor: .auge("watcher_up", "1 while the watcher loop runs")).set(to: watcher.alive ? 1 : 0)
            if let last = watchStatus?.snapshot.lastRecord {
                metrics.makeGauge(descriptor: .auge("last_photo_timestamp_seconds", "When the latest record was written")).set(to: last)
            }
        }
        return metrics.emitToString()
    }
}

enum StationJSON {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func encode(_ value: some Encodable) -> String {
        // The station's values are strings, numbers and dictionaries of them: encoding cannot fail.
        String(decoding: try! encoder.encode(value), as: UTF8.self)
    }
}

extension MetricNameDescriptor {
    /// `auge_<name>`: the whole name is given, with its unit, as Prometheus's naming rules ask.
    static func auge(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "auge", metricName: name, unitName: "", helpText: help)
    }
}

/// The open live screens: each gets the events as they happen, and a slow or vanished one loses the
/// oldest of at most `buffered` waiting events instead of growing the process.
public final class EventHub: Sendable {
    private let clients = Mutex<[UUID: AsyncStream<String>.Continuation]>([:])
    static let buffered = 64
    public static let maximumClients = 256

    public var clientCount: Int { clients.withLock { $0.count } }

    /// nil when `maximumClients` screens are already open.
    public func subscribe() -> (id: UUID, events: AsyncStream<String>)? {
        let id = UUID()
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(Self.buffered))
        let added = clients.withLock { clients -> Bool in
            guard clients.count < Self.maximumClients else { return false }
            clients[id] = continuation
            return true
        }
        guard added else { return nil }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
        return (id, stream)
    }

    public func unsubscribe(_ id: UUID) {
        clients.withLock { $0.removeValue(forKey: id) }?.finish()
    }

    /// One server-sent event to every screen.
    public func publish(name: String, json: String) {
        let event = "event: \(name)\ndata: \(json)\n\n"
        for continuation in clients.withLock({ Array($0.values) }) { continuation.yield(event) }
    }
}
