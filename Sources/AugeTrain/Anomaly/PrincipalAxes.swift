import Foundation

/// The principal axes of a set of vectors: the eigenvectors of their covariance, largest variance first.
/// The anomaly model projects its patch vectors onto the leading ones, scaled so that the weak axes count
/// as much as the strong ones (whitening, softened so that noise in the weakest is not blown up): fixed
/// by the good photos, unlike a random projection, and measured better for the nearest-neighbour search.
struct PrincipalAxes {
    /// Variances along the axes, largest first.
    let variances: [Double]
    /// The axes as rows of `dimensions` values, in the order of `variances`.
    let axes: [[Double]]

    /// Of the first `dimensions` values of `count` rows spaced `stride` apart (every row when `sample` is
    /// nil or at least `count`, else `sample` rows evenly spread).
    init(rows: [Float], count: Int, dimensions: Int, stride: Int, sample: Int = 50_000, workers: Workers) {
        let moments = Self.moments(rows: rows, count: count, dimensions: dimensions, stride: stride, sample: sample, workers: workers)
        (variances, axes) = Self.symmetricEigen(moments.covariance, size: dimensions)
    }

    /// The leading `count` axes as a projection matrix [count][dimensions]: each scaled by
    /// 1 / sqrt(variance + `floor` x the largest variance).
    func whitening(count: Int, floor: Double) -> [Float] {
        let regulariser = floor * (variances.first ?? 0)
        return (0..<count).flatMap { axis in
            let scale = 1 / max(variances[axis] + regulariser, .leastNormalMagnitude).squareRoot()
            return axes[axis].map { Float($0 * scale) }
        }
    }

    /// The mean [dimensions] and sample covariance [dimensions x dimensions] of the chosen rows, in Double.
    static func moments(rows: [Float], count: Int, dimensions d: Int, stride: Int, sample: Int, workers: Workers) -> (mean: [Double], covariance: [Double]) {
        let taken = min(count, max(2, sample))
        let chosen = (0..<taken).map { $0 * count / taken }
        var mean = [Double](repeating: 0, count: d)
        for row in chosen { for i in 0..<d { mean[i] += Double(rows[row * stride + i]) } }
        for i in 0..<d { mean[i] /= Double(taken) }
        // Each worker sums the outer products of its share of rows; the shares are added at the end.
        var partial = [[Double]](repeating: [Double](repeating: 0, count: d * d), count: workers.count)
        partial.withUnsafeMutableBufferPointer { partial in
            workers.forEachShare(of: taken) { worker, share in
                var sum = [Double](repeating: 0, count: d * d), centred = [Double](repeating: 0, count: d)
                for index in share {
                    let row = chosen[index] * stride
                    for i in 0..<d { centred[i] = Double(rows[row + i]) - mean[i] }
                    for i in 0..<d where centred[i] != 0 {
                        let x = centred[i]
                        for j in i..<d { sum[i * d + j] += x * centred[j] }
                    }
                }
                partial[worker] = sum
            }
        }
        var covariance = [Double](repeating: 0, count: d * d)
        for sum in partial { for k in 0..<(d * d) { covariance[k] += sum[k] } }
        for i in 0..<d {
            for j in i..<d {
                covariance[i * d + j] /= Double(taken - 1)
                covariance[j * d + i] = covariance[i * d + j]
            }
        }
        return (mean, covariance)
    }

    /// Eigenvalues (descending) and eigenvectors (rows) of a symmetric matrix, by cyclic Jacobi rotations:
    /// slow for large matrices (n³ per sweep), exact to rounding, and simple; n is a few hundred here.
    static func symmetricEigen(_ matrix: [Double], size n: Int) -> (values: [Double], vectors: [[Double]]) {
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        let scale = max(a.reduce(0) { max($0, abs($1)) }, .leastNormalMagnitude)
        for _ in 0..<64 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<max(p + 1, n) { off = max(off, abs(a[p * n + q])) } }
            if off <= 1e-14 * scale { break }
            for p in 0..<n {
                for q in (p + 1)..<max(p + 1, n) where abs(a[p * n + q]) > 1e-300 {
                    // The rotation in the (p, q) plane that zeroes a[p][q].
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * a[p * n + q])
                    let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let kp = a[k * n + p], kq = a[k * n + q]
                        a[k * n + p] = c * kp - s * kq
                        a[k * n + q] = s * kp + c * kq
                    }
                    for k in 0..<n {
                        let pk = a[p * n + k], qk = a[q * n + k]
                        a[p * n + k] = c * pk - s * qk
                        a[q * n + k] = s * pk + c * qk
                    }
                    for k in 0..<n {
                        let pk = v[p * n + k], qk = v[q * n + k]
                        v[p * n + k] = c * pk - s * qk
                        v[q * n + k] = s * pk + c * qk
                    }
                }
            }
        }
        let order = (0..<n).sorted { a[$0 * n + $0] > a[$1 * n + $1] }
        return (order.map { a[$0 * n + $0] }, order.map { Array(v[($0 * n)..<($0 * n + n)]) })
    }
}
