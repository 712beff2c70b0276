import Foundation

/// Splits work over a fixed number of threads. Each worker always gets the same contiguous share of
/// the items and partial sums are combined in worker order, so results depend only on the count.
public struct Workers: Sendable {
    public let count: Int

    public init(count: Int) {
        precondition(count >= 1, "at least one worker")
        self.count = count
    }

    public static var allCores: Workers { Workers(count: ProcessInfo.processInfo.activeProcessorCount) }

    /// The items worker `worker` handles out of `total`.
    public func share(of total: Int, worker: Int) -> Range<Int> {
        let base = total / count, extra = total % count
        let start = worker * base + min(worker, extra)
        return start..<(start + base + (worker < extra ? 1 : 0))
    }

    /// Runs `body(worker)` for every worker, concurrently when there is more than one.
    public func run(_ body: (Int) -> Void) {
        if count == 1 {
            body(0)
        } else {
            // The body only runs during this call; the workers write disjoint parts of shared buffers.
            withoutActuallyEscaping(body) { body in
                let shared = UncheckedSendable(body)
                DispatchQueue.concurrentPerform(iterations: count) { shared.value($0) }
            }
        }
    }

    /// Runs `body(worker, items)` with each worker's share of `total` items (workers without items skip).
    public func forEachShare(of total: Int, _ body: (Int, Range<Int>) -> Void) {
        run { worker in
            let items = share(of: total, worker: worker)
            if !items.isEmpty { body(worker, items) }
        }
    }
}

private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
