import AugeEngine

/// Splits work over a fixed number of threads: the engine's pool (`ThreadPool`: its threads spin briefly
/// after a job, then sleep), one task per worker. Each worker always gets the same contiguous share of
/// the items and partial sums are combined in worker order, so results depend only on the count.
/// Not reentrant: a body must not start another run on the same workers.
public struct Workers: Sendable {
    public let count: Int
    private let pool: ThreadPool

    public init(count: Int) {
        precondition(count >= 1, "at least one worker")
        self.count = count
        pool = ThreadPool(threads: count)
    }

    /// The items worker `worker` handles out of `total`.
    public func share(of total: Int, worker: Int) -> Range<Int> {
        let base = total / count, extra = total % count
        let start = worker * base + min(worker, extra)
        return start..<(start + base + (worker < extra ? 1 : 0))
    }

    /// Runs `body(worker)` for every worker, concurrently when there is more than one. Which thread runs
    /// a worker's task does not matter: the share is the worker's, and the workers write disjoint parts
    /// of shared buffers.
    public func run(_ body: (Int) -> Void) {
        pool.parallelFor(count, work: .max, body)
    }

    /// Runs `body(worker, items)` with each worker's share of `total` items (workers without items skip).
    public func forEachShare(of total: Int, _ body: (Int, Range<Int>) -> Void) {
        run { worker in
            let items = share(of: total, worker: worker)
            if !items.isEmpty { body(worker, items) }
        }
    }
}
