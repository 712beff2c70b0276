import AugeImage
import AugeONNX
import Foundation

/// The production-line loop of `auge watch`: every photo that lands in the inbox is decided, logged to
/// `results.jsonl` and moved to `out/<decision>/` (or `out/<label>/`), exactly once even across crashes.
public final class Watcher {
    public struct Options: Sendable {
        public var inbox: String
        public var outputFolder: String
        public var mode: HotFolder.Mode = .inotify
        /// Seconds a file must stay unchanged before it is taken when no close event vouches for it
        /// (polling mode, and photos already in the inbox at start that were written moments ago).
        public var settle: Double = 1
        public var ignorePatterns: [String] = HotFolder.defaultIgnorePatterns
        public var grouping: Sorter.Grouping = .decision
        /// Leave files in the inbox and only log them.
        public var keep = false
        public var includeScores = false
        /// Which photos also get a hotspot and heatmap (nil: none).
        public var explanation: ExplanationSettings?
        public var statusInterval: Double = 60
        public var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        public init(inbox: String, outputFolder: String) {
            self.inbox = inbox
            self.outputFolder = outputFolder
        }
    }

    /// Loads (or reloads) the model; called at start, on SIGHUP and when the model file changes.
    /// `sha256` is the model file's digest (`InspectionModel.sha256`), logged with every record.
    public typealias ModelLoader = () throws -> (classifier: Classifier, name: String, sha256: String?)

    private let options: Options
    private let loadModel: ModelLoader
    private let modelPath: String
    private let log: (String) -> Void
    private let emit: (String) -> Void
    private var classifier: Classifier
    private var modelName: String
    private var modelSHA256: String?
    private var modelStamp: String?
    private let decoder = ImageDecoder()
    private let journal: PlacementJournal
    /// Held for the watcher's life: one watcher per inbox (the journal locks the output folder).
    private let inboxLock: FolderLock
    private let sorter: Sorter
    private let signals: SignalPipe
    private var stats = WatchStatistics()
    /// Told of every record and every turn of the loop (e.g. the line station's screen); must not block.
    public var observer: (any WatchObserver)?

    /// `emit` receives each results line (for `--jsonl`); `log` receives messages for people.
    public init(
        options: Options, modelPath: String, loadModel: @escaping ModelLoader,
        log: @escaping (String) -> Void, emit: @escaping (String) -> Void
    ) throws {
        self.options = options
        self.loadModel = loadModel
        self.modelPath = modelPath
        self.log = log
        self.emit = emit
        // Every argument is checked before anything is created.
        try Self.checkFolders(options)
        (classifier, modelName, modelSHA256) = try loadModel()
        inboxLock = try FolderLock(path: options.inbox, what: "the inbox \(options.inbox)")
        journal = try PlacementJournal(outputFolder: options.outputFolder)
        sorter = Sorter(root: options.outputFolder, grouping: options.grouping, move: true)
        signals = try SignalPipe.install()
        modelStamp = Self.stamp(modelPath)
    }

    private static func checkFolders(_ options: Options) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: options.inbox, isDirectory: &isFolder) else {
            throw WatchError(description: "the inbox \(options.inbox) does not exist")
        }
        guard isFolder.boolValue else { throw WatchError(description: "the inbox \(options.inbox) is not a folder") }
        if FileManager.default.fileExists(atPath: options.outputFolder, isDirectory: &isFolder), !isFolder.boolValue {
            throw WatchError(description: "the output folder \(options.outputFolder) is a file, not a folder")
        }
        let inbox = URL(fileURLWithPath: options.inbox).standardizedFileURL.resolvingSymlinksInPath().path
        let output = URL(fileURLWithPath: options.outputFolder).standardizedFileURL.resolvingSymlinksInPath().path
        guard inbox != output else {
            throw WatchError(description: "the output folder must not be the inbox (\(options.inbox)): sorted photos would be taken again")
        }
    }

    /// Runs until SIGINT or SIGTERM; the photo in hand is finished first.
    public func run() throws {
        if let recovered = try journal.recover(inbox: options.inbox) {
            log("auge watch: completed \(recovered.source) after an interrupted run")
        }
        let hotFolder = try HotFolder(
            folder: options.inbox, mode: options.mode, ignorePatterns: options.ignorePatterns,
            wakeDescriptor: signals.readDescriptor)
        var queue = PendingFiles(settle: options.settle)
        // Backlog first, oldest first; files written moments ago must settle before they are trusted.
        for path in hotFolder.scan() where !(options.keep && journal.isKept(path)) {
            queue.add(path, vouched: false, backlog: true)
        }
        var nextStatus = Date().timeIntervalSince1970 + options.statusInterval
        log(
            "auge watch: watching \(options.inbox) (\(options.mode == .inotify ? "inotify" : "polling")), "
                + "results in \((options.outputFolder as NSString).appendingPathComponent("results.jsonl")), model \(modelName)")
        while true {
            while let (path, arrival) = queue.next() {
                observer?.watcherWaiting(queueDepth: queue.count + 1)
                try process(path, arrival: arrival)
                if handleSignals() == .stop { return finish() }
            }
            if handleSignals() == .stop { return finish() }
            observer?.watcherWaiting(queueDepth: queue.count)
            let now = Date().timeIntervalSince1970
            if now >= nextStatus {
                log(stats.statusLine(queueDepth: queue.count))
                nextStatus = now + options.statusInterval
            }
            reloadIfModelChanged()
            let wait = min(nextStatus - now, queue.hasUnsettled ? options.settle / 2 : 1)
            let overflows = hotFolder.overflows
            for path in hotFolder.waitForReady(timeout: max(0.01, wait)) {
                queue.add(path, vouched: true)
            }
            if hotFolder.overflows > overflows { log("auge watch: inotify event queue overflowed; rescanned \(options.inbox)") }
        }
    }

    private func finish() {
        log(stats.statusLine(queueDepth: 0) + "; stopped")
    }

    /// `arrival` is nil for a photo that was waiting before the watcher started: its wait is not a latency.
    private func process(_ path: String, arrival: Double?) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }  // already handled (a repeated event)
        if options.keep && journal.isKept(path) { return }
        let record = classifier.inspect(
            path: path, decoder: decoder, includeScores: options.includeScores,
            explanation: options.explanation)
        let target = options.keep ? nil : uniqueTarget(for: record)
        let id = UUID().uuidString.lowercased()
        let line = WatchRecord(
            record: record, id: id, time: Date(), movedTo: target, model: modelName, modelSHA256: modelSHA256,
            threshold: classifier.policy.threshold
        ).jsonLine()
        let intent = PlacementJournal.Intent(
            id: id, source: path, target: target,
            sidecar: record.error.map { "\(path): \($0)\n" }, line: line)
        try journal.place(intent)
        let latency = arrival.map { Date().timeIntervalSince1970 - $0 }
        stats.add(record, latency: latency)
        emit(line)
        observer?.watcherRecorded(line: line, latency: latency)
        // The record is durable and the file moved; making the move durable can follow the line out.
        try journal.settle(intent)
    }

    /// A free name in the record's folder; the journal reserves it until the move is done.
    private func uniqueTarget(for record: InspectionRecord) -> String {
        // The candidate sequence never ends, so a free name is always found.
        sorter.candidateTargets(for: record).first { !FileManager.default.fileExists(atPath: $0) }!
    }

    private enum SignalAction { case none, stop }

    private func handleSignals() -> SignalAction {
        var action = SignalAction.none
        for signal in signals.drain() {
            switch signal {
            case SIGHUP: reload(reason: "SIGHUP")
            default: action = .stop
            }
        }
        return action
    }

    private static func stamp(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }

    private func reloadIfModelChanged() {
        let stamp = Self.stamp(modelPath)
        guard stamp != nil, stamp != modelStamp else { return }
        modelStamp = stamp
        reload(reason: "the model file changed")
    }

    /// Loads and checks the new model before it replaces the old one; a bad file is refused and logged.
    private func reload(reason: String) {
        do {
            let (candidate, name, sha256) = try loadModel()
            let probe = [Float](repeating: 0, count: candidate.preprocessing.tensorCount)
            let answer = probe.withUnsafeBufferPointer { candidate.answer(for: $0.baseAddress!) }
            guard answer.values.allSatisfy(\.isFinite) else { throw WatchError(description: "it gives non-finite scores") }
            classifier = candidate
            modelName = name
            modelSHA256 = sha256
            log("auge watch: reloaded the model (\(reason)): \(name)")
        } catch {
            log("auge watch: model reload refused (\(reason)), still using \(modelName): \(error)")
        }
    }
}

/// What a watcher tells while it runs, from its own thread: implementations must return at once.
public protocol WatchObserver: AnyObject, Sendable {
    /// Each turn of the loop (at least once a second while idle), with the photos waiting.
    func watcherWaiting(queueDepth: Int)
    /// A record is durable in results.jsonl; `latency` is file-ready to record, nil for the backlog.
    func watcherRecorded(line: String, latency: Double?)
}

/// Files waiting to be processed, in arrival order. A file vouched for by a close/move event is ready
/// at once; others (backlog, polling) once unchanged for `settle` seconds.
struct PendingFiles {
    let settle: Double
    private var order: [String] = []
    private var entries: [String: (arrival: Double?, vouched: Bool, size: Int64, mtime: Double, stableSince: Double)] = [:]

    init(settle: Double) { self.settle = settle }

    var count: Int { order.count }
    var hasUnsettled: Bool { entries.values.contains { !$0.vouched } }

    /// `backlog`: the file was already there when watching began (it has no arrival time).
    mutating func add(_ path: String, vouched: Bool, backlog: Bool = false) {
        let now = Date().timeIntervalSince1970
        if var entry = entries[path] {
            entry.vouched = entry.vouched || vouched
            entries[path] = entry
            return
        }
        let (size, mtime) = Self.sizeAndTime(path) ?? (-1, 0)
        // A backlog file untouched for longer than the settle time is already settled.
        let stableSince = vouched ? now : min(now, mtime)
        entries[path] = (backlog ? nil : now, vouched, size, mtime, stableSince)
        order.append(path)
    }

    /// The first file that is ready, with its arrival time (nil for the backlog).
    mutating func next() -> (String, Double?)? {
        let now = Date().timeIntervalSince1970
        for (index, path) in order.enumerated() {
            guard var entry = entries[path] else { continue }
            if !entry.vouched {
                guard let (size, mtime) = Self.sizeAndTime(path) else {
                    order.remove(at: index); entries[path] = nil
                    return next()
                }
                if size != entry.size || mtime != entry.mtime {
                    entry.size = size; entry.mtime = mtime; entry.stableSince = now
                    entries[path] = entry
                    continue
                }
                guard now - entry.stableSince >= settle else { continue }
            }
            order.remove(at: index)
            entries[path] = nil
            return (path, entry.arrival)
        }
        return nil
    }

    private static func sizeAndTime(_ path: String) -> (Int64, Double)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (Int64(info.st_size), Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
    }
}

/// The results.jsonl line: the classify keys plus `id`, `time` (ISO-8601 UTC), `moved_to`, `model` and the
/// deciding `auge_version`.
struct WatchRecord: Encodable {
    let record: InspectionRecord
    let id: String
    let time: Date
    let movedTo: String?
    let model: String
    /// For audit trails: which model file, by content, and the defect threshold it decided with.
    let modelSHA256: String?
    let threshold: Float

    enum CodingKeys: String, CodingKey {
        case id, time, model, threshold
        case movedTo = "moved_to"
        case modelSHA256 = "model_sha256"
        case augeVersion = "auge_version"
    }

    func encode(to encoder: Encoder) throws {
        try record.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(Self.timeFormatter.string(from: time), forKey: .time)
        try container.encode(movedTo, forKey: .movedTo)
        try container.encode(model, forKey: .model)
        try container.encodeIfPresent(modelSHA256, forKey: .modelSHA256)
        try container.encode(threshold, forKey: .threshold)
        try container.encode(augeVersion, forKey: .augeVersion)
    }

    /// ISO-8601 UTC with milliseconds; made once, as building a formatter costs more than a record.
    nonisolated(unsafe) private static let timeFormatter: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")!
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()

    func jsonLine() -> String {
        let rounded = WatchRecord(
            record: ResultFormatter.roundedForOutput(record), id: id, time: time, movedTo: movedTo, model: model,
            modelSHA256: modelSHA256, threshold: threshold)
        // Encoding strings, numbers and dates cannot fail.
        return String(decoding: try! ResultFormatter.encoder.encode(rounded), as: UTF8.self)
    }
}

/// Counts and arrival-to-record latencies for the periodic status line.
struct WatchStatistics {
    private var done = 0
    private var errors = 0
    private var latencies: [Double] = []
    private var windowStart = Date().timeIntervalSince1970
    private var windowCount = 0

    /// `latency` is nil for a photo that was waiting at start.
    mutating func add(_ record: InspectionRecord, latency: Double?) {
        done += 1
        windowCount += 1
        if record.decision == .error { errors += 1 }
        if let latency { latencies.append(latency) }
    }

    mutating func statusLine(queueDepth: Int) -> String {
        let now = Date().timeIntervalSince1970
        let rate = Double(windowCount) / max(1e-9, now - windowStart)
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> String {
            sorted.isEmpty ? "-" : String(format: "%.1f", sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000)
        }
        let line = String(
            format: "auge watch: %d %@ done, %.1f files/s, latency p50 %@ ms p99 %@ ms, queue %d, errors %d",
            done, (done == 1 ? "file" : "files") as NSString, rate, percentile(0.5), percentile(0.99), queueDepth, errors)
        latencies.removeAll(keepingCapacity: true)
        windowStart = now
        windowCount = 0
        return line
    }
}
