// A persistent pool: one worker per extra core. Workers spin briefly after a job (layers follow each
// other within microseconds during an inference) and then block on a condition variable, so an idle
// engine uses no CPU. The trainer's `Workers` run on it too.

import Foundation
import Synchronization

package final class ThreadPool: @unchecked Sendable {
    /// Below this many multiply-accumulates (or element operations) a job runs on the calling thread.
    static let minimumParallelWork = 32_768
    /// Jobs with more tasks than this per thread hand them out in runs.
    static let claimsPerThread = 8
    private let shared: PoolShared
    package var threadCount: Int { shared.threadCount }

    package init(threads: Int) {
        shared = PoolShared(threads: threads)
        for index in 1..<shared.threadCount {
            // Workers hold the shared state, not the pool, so dropping the pool shuts them down.
            let thread = Thread { [shared] in shared.workerLoop(worker: index) }
            thread.name = "auge-engine-\(index)"
            thread.start()
        }
    }

    deinit { shared.shutDown() }

    /// Runs `body(task)` for every task in 0..<count, spread over the pool; returns when all are done.
    /// `work` estimates the job's size: small jobs stay on the calling thread.
    package func parallelFor(_ count: Int, work: Int, _ body: (Int) -> Void) {
        parallelFor(count, work: work) { task, _ in body(task) }
    }

    /// As above, also passing the index (0..<threadCount) of the thread running the task, for
    /// per-thread scratch memory.
    package func parallelFor(_ count: Int, work: Int, withWorker body: (_ task: Int, _ worker: Int) -> Void) {
        if shared.threadCount == 1 || count <= 1 || work < Self.minimumParallelWork {
            for task in 0..<count { body(task, 0) }
            return
        }
        // Every claim moves a cache line between cores (about 100 ns), so many tiny tasks (a padded
        // copy's rows) are claimed in contiguous runs: enough claims per thread to balance uneven tasks.
        shared.run(count, claims: min(count, Self.claimsPerThread * shared.threadCount), body)
    }
}

/// The state workers share with the pool.
private final class PoolShared: @unchecked Sendable {
    let threadCount: Int
    static let spinNanoseconds: UInt64 = 100_000

    // Each counter in its own cache line: workers spin reading `generation` while tasks are claimed
    // through `tickets` and counted in `completed`.
    private let counters: CacheLineCounters
    private var generation: UnsafeMutablePointer<Atomic<Int>> { counters[0] }
    private var completed: UnsafeMutablePointer<Atomic<Int>> { counters[1] }
    /// One per thread, for the claims of its home range: (generation << 32) | next claim of the range.
    /// A worker can only claim tasks of the job it saw published. Each thread first runs its own range
    /// (the same part of every job: of consecutive layers, and of the same layer in the next run, so
    /// the data it touches tends to be in its own core's cache), then helps with the others.
    private let tickets: CacheLineCounters
    private let shuttingDown = Atomic<Bool>(false)
    /// Tasks and claims of the current job: claim c runs tasks c * taskCount / claimCount ..< (c + 1) * taskCount / claimCount.
    /// Atomic (relaxed) because a worker finishing the last job may read them while the next job sets them
    /// (ThreadSanitizer saw it); the tickets, not these loads, decide which job a claim belongs to.
    private let taskCount = Atomic<Int>(0)
    private let claimCount = Atomic<Int>(0)
    private nonisolated(unsafe) var body: ((Int, Int) -> Void)?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private nonisolated(unsafe) var sleepers = 0

    init(threads: Int) {
        threadCount = max(1, threads)
        counters = CacheLineCounters(count: 2)
        tickets = CacheLineCounters(count: threadCount)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
        counters.deallocate()
        tickets.deallocate()
    }

    func shutDown() {
        shuttingDown.store(true, ordering: .sequentiallyConsistent)
        generation.pointee.add(1, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Runs `count` tasks in `claims` contiguous runs.
    func run(_ count: Int, claims: Int, _ body: (Int, Int) -> Void) {
        withoutActuallyEscaping(body) { escapable in
            self.body = escapable
            taskCount.store(count, ordering: .relaxed)
            claimCount.store(claims, ordering: .relaxed)
            completed.pointee.store(0, ordering: .relaxed)
            let next = generation.pointee.load(ordering: .relaxed) &+ 1
            for thread in 0..<threadCount {
                tickets[thread].pointee.store(next << 32 | homeRange(thread).lowerBound, ordering: .releasing)
            }
            generation.pointee.store(next, ordering: .releasing)
            pthread_mutex_lock(mutex)
            if sleepers > 0 { pthread_cond_broadcast(condition) }
            pthread_mutex_unlock(mutex)
            runTasks(generation: next, worker: 0)
            // The remaining tasks are running on workers; if one of them lost its core, give it ours.
            var spins = 0
            while completed.pointee.load(ordering: .acquiring) < claims {
                spins &+= 1
                if spins & 1023 == 0 { sched_yield() }
            }
            // Retire the tickets before the next job's fields change: a worker still holding one of this
            // job's last ticket values would otherwise pass its checks against the next job's claim
            // count, win the exchange and run a claim of the next job twice, counted out of turn (it did,
            // rarely, when a short job followed a long one: the next job then returned while its closure
            // was still running, and `withoutActuallyEscaping` trapped).
            for thread in 0..<threadCount { tickets[thread].pointee.store((next << 32) | 0xFFFF_FFFF, ordering: .releasing) }
            self.body = nil
        }
    }

    /// The claims thread `thread` runs first.
    private func homeRange(_ thread: Int) -> Range<Int> {
        let claims = claimCount.load(ordering: .relaxed)
        return (thread * claims / threadCount)..<((thread + 1) * claims / threadCount)
    }

    /// Claims and runs tasks of job `generation` until none are left: its home range, then the others'.
    private func runTasks(generation job: Int, worker: Int) {
        // Claims are counted once, at the end, after this thread's reference to the job's closure is gone
        // (the job may return, and check that nothing holds its closure, as soon as the count is complete).
        // Once: `completed` is the one line every thread writes, and the closure's reference count is
        // another; per claim, moving them between cores cost as much as a small layer's tasks.
        let done = runClaims(generation: job, worker: worker)
        if done > 0 { completed.pointee.add(done, ordering: .releasing) }
    }

    /// Runs the claims this thread wins; returns how many.
    @inline(never)
    private func runClaims(generation job: Int, worker: Int) -> Int {
        var step = 0
        guard var claim = nextClaim(generation: job, worker: worker, step: &step) else { return 0 }
        // Read once a claim is won: until then the job may end and the next one change them.
        let body = self.body!, tasks = taskCount.load(ordering: .relaxed), claims = claimCount.load(ordering: .relaxed)
        var done = 0
        while true {
            for task in (claim * tasks / claims)..<((claim + 1) * tasks / claims) { body(task, worker) }
            done &+= 1
            guard let next = nextClaim(generation: job, worker: worker, step: &step) else { return done }
            claim = next
        }
    }

    /// The next claim of job `generation` this thread wins, from the range `step` places after its home
    /// range on; nil when none is left.
    @inline(__always)
    private func nextClaim(generation job: Int, worker: Int, step: inout Int) -> Int? {
        while step < threadCount {
            let range = (worker &+ step) % threadCount
            let ticket = tickets[range], end = homeRange(range).upperBound
            while true {
                let current = ticket.pointee.load(ordering: .acquiring)
                guard current >> 32 == job else { return nil }
                let claim = current & 0xFFFF_FFFF
                guard claim < end else { break }
                if ticket.pointee.compareExchange(expected: current, desired: current &+ 1, ordering: .acquiringAndReleasing).exchanged { return claim }
            }
            step &+= 1
        }
        return nil
    }

    func workerLoop(worker: Int) {
        var seen = 0
        while true {
            let spinStart = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            while generation.pointee.load(ordering: .acquiring) == seen {
                spins &+= 1
                if spins & 255 == 0 && DispatchTime.now().uptimeNanoseconds &- spinStart > Self.spinNanoseconds {
                    pthread_mutex_lock(mutex)
                    sleepers += 1
                    while generation.pointee.load(ordering: .acquiring) == seen { pthread_cond_wait(condition, mutex) }
                    sleepers -= 1
                    pthread_mutex_unlock(mutex)
                }
            }
            if shuttingDown.load(ordering: .acquiring) { return }
            seen = generation.pointee.load(ordering: .acquiring)
            runTasks(generation: seen, worker: worker)
        }
    }
}

/// Atomic counters a cache line apart, in memory of their own: no reference counting on the way to them
/// (a retain of an object holding one would write to its line, which the other core is using).
private struct CacheLineCounters {
    private let base: UnsafeMutableRawPointer

    init(count: Int) {
        base = .allocate(byteCount: count * 64, alignment: 64)
        for index in 0..<count { (base + index * 64).bindMemory(to: Atomic<Int>.self, capacity: 1).initialize(to: Atomic(0)) }
    }

    subscript(index: Int) -> UnsafeMutablePointer<Atomic<Int>> { (base + index &* 64).assumingMemoryBound(to: Atomic<Int>.self) }

    func deallocate() { base.deallocate() }
}
