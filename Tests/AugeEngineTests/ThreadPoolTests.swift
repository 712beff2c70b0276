import Foundation
import XCTest
@testable import AugeEngine

final class ThreadPoolTests: XCTestCase {
    func testEveryTaskRunsOnceOnEveryPoolSize() {
        for threads in [1, 2, 3] {
            let pool = ThreadPool(threads: threads)
            for count in [0, 1, 7, 1000] {
                let counts = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
                counts.initialize(repeating: 0, count: max(count, 1))
                let workers = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
                // Enough declared work to go parallel; each task writes only its own slots.
                pool.parallelFor(
                    count, work: 1 << 30,
                    withWorker: { task, worker in
                        counts[task] += 1
                        workers[task] = worker
                    })
                XCTAssertEqual((0..<count).filter { counts[$0] != 1 }, [], "\(threads) threads, \(count) tasks")
                XCTAssert((0..<count).allSatisfy { (0..<threads).contains(workers[$0]) })
                counts.deallocate()
                workers.deallocate()
            }
        }
    }

    /// Many short jobs on more threads than cores, so workers are often preempted mid-job, with claim
    /// counts alternating between 5 and 24. Before the tickets were retired at the end of each job, a
    /// worker holding a stale ticket value could claim work of the next job out of turn; `withoutActuallyEscaping`
    /// then trapped in about half of these runs (and `auge bench` on ResNet-18 at two threads, once).
    func testJobsReturnOnlyAfterEveryWorkerLetGoOfThem() {
        let pool = ThreadPool(threads: 3)
        let sums = UnsafeMutablePointer<Int>.allocate(capacity: 100)
        defer { sums.deallocate() }
        for job in 0..<100_000 {
            let count = job % 2 == 0 ? 5 : 100  // one task per claim, then runs of tasks per claim
            pool.parallelFor(count, work: 1 << 30) { task in sums[task] = task &+ job }
            if job % 10_000 == 0 { XCTAssertEqual(sums[count - 1], count - 1 + job) }
        }
    }

    func testIdleWorkersSleep() throws {
        // After a run, workers spin for at most ~100 us and then block: an idle engine uses no CPU.
        let engine = try Engine(graph: Zoo.inspectSmall(resolution: 32), threads: 2)
        let input = [Float](repeating: 0.5, count: 3 * 32 * 32)
        var output = [Float](repeating: 0, count: 2)
        for _ in 0..<20 { engine.run(input: input, output: &output) }
        Thread.sleep(forTimeInterval: 0.05)
        var before = timespec(), after = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &before)
        Thread.sleep(forTimeInterval: 0.3)
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &after)
        let cpuSeconds = Double(after.tv_sec - before.tv_sec) + Double(after.tv_nsec - before.tv_nsec) * 1e-9
        XCTAssertLessThan(cpuSeconds, 0.03, "an idle engine used \(cpuSeconds) s of CPU in 0.3 s")
    }
}
