/// Order statistics of a set of timings.
///
/// Percentiles use the nearest-rank definition: the p-th percentile of n sorted samples is the
/// sample at rank ceil(p / 100 * n) (1-based), so it is always a time that was really measured.
public struct LatencyStatistics: Sendable, Equatable, Encodable {
    public let min: Double
    public let p50: Double
    public let p90: Double
    public let p99: Double
    public let max: Double
    public let mean: Double
    public let count: Int

    public init?(_ samples: [Double]) {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        func rank(_ p: Double) -> Double {
            let index = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
            return sorted[Swift.max(0, Swift.min(sorted.count - 1, index))]
        }
        min = sorted[0]
        p50 = rank(50)
        p90 = rank(90)
        p99 = rank(99)
        max = sorted[sorted.count - 1]
        mean = sorted.reduce(0, +) / Double(sorted.count)
        count = sorted.count
    }

    enum CodingKeys: String, CodingKey { case min, p50, p90, p99, max, mean }
}
