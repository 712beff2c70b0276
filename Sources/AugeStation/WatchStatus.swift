import AugeInspect
import Foundation
import Prometheus
import Synchronization

/// What a watcher in this process last told: kept for the screens, `/healthz` and `/metrics`.
/// The watcher's calls take a lock for a few assignments and return: the line never waits for a browser.
public final class WatchStatus: WatchObserver {
    public struct Snapshot: Sendable {
        public var lastLoop: Double?
        public var lastRecord: Double?
        public var queueDepth = 0
        /// Latencies (seconds, file ready to record) of the latest records, oldest first.
        public var latencies: [Double] = []
    }

    private let state = Mutex(Snapshot())
    private let latencyHistogram: ValueHistogram
    private static let kept = 1024

    init(metrics: PrometheusCollectorRegistry) {
        latencyHistogram = metrics.makeValueHistogram(
            descriptor: .auge("watch_latency_seconds", "From a photo being ready in the inbox to its record being durable in results.jsonl"),
            buckets: [0.002, 0.005, 0.01, 0.015, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10])
    }

    public func watcherWaiting(queueDepth: Int) {
        let now = Date().timeIntervalSince1970
        state.withLock { state in
            state.lastLoop = now
            state.queueDepth = queueDepth
        }
    }

    public func watcherRecorded(line: String, latency: Double?) {
        let now = Date().timeIntervalSince1970
        state.withLock { state in
            state.lastLoop = now
            state.lastRecord = now
            if let latency {
                if state.latencies.count == Self.kept { state.latencies.removeFirst(Self.kept / 4) }
                state.latencies.append(latency)
            }
        }
        if let latency { latencyHistogram.record(latency) }
    }

    public var snapshot: Snapshot { state.withLock { $0 } }
}
