import AugeEngine
import Foundation

/// Greedy k-centre subsampling (PatchCore's coreset): picks `count` of the patches so that every patch
/// lies close to a picked one. Each step takes the patch farthest from everything picked so far, so rare
/// patterns are kept and the thousandth copy of a common one is not. The bank's size, and with it the
/// model's search cost, is fixed however many photos it was fitted on.
enum Coreset {
    /// Indices of the picked rows of `patches` ([n][stride] values, the first `dimensions` of each row
    /// meaningful, `stride` a multiple of 16). The distances are measured on a random projection to at
    /// most `projectedDimensions` (Johnson-Lindenstrauss: distances kept to a few percent, at a fraction of the work).
    static func select(
        patches: [Float], count n: Int, dimensions: Int, stride: Int, picks: Int, projectedDimensions: Int = 64,
        seed: UInt64, workers: Workers
    ) -> [Int] {
        precondition(stride % 16 == 0 && dimensions <= stride && patches.count == n * stride)
        guard picks < n else { return Array(0..<n) }
        var generator = SeededGenerator(seed: seed).derived(0xC0DE)
        let (points, width) =
            dimensions > projectedDimensions
            ? (
                project(patches, count: n, dimensions: dimensions, stride: stride, to: projectedDimensions, generator: &generator, workers: workers),
                projectedDimensions
            )
            : (patches, stride)
        let paddedWidth = (width + 15) / 16 * 16
        var nearest = [Float](repeating: .infinity, count: n)
        var picked: [Int] = []
        picked.reserveCapacity(picks)
        var next = Int(generator.next() % UInt64(n))
        var bests = [(Int, Float)](repeating: (0, -1), count: workers.count)
        points.withUnsafeBufferPointer { points in
            nearest.withUnsafeMutableBufferPointer { nearest in
                let points = points.baseAddress!, nearest = nearest.baseAddress!
                while picked.count < picks {
                    picked.append(next)
                    let centre = points + next * paddedWidth
                    bests.withUnsafeMutableBufferPointer { bests in
                        workers.forEachShare(of: n) { worker, rows in
                            var best = (rows.lowerBound, Float(-1))
                            for row in rows {
                                let distance = min(nearest[row], squaredDistance(points + row * paddedWidth, centre, count: paddedWidth))
                                nearest[row] = distance
                                if distance > best.1 { best = (row, distance) }
                            }
                            bests[worker] = best
                        }
                    }
                    next = bests.max { $0.1 < $1.1 }!.0
                    for worker in bests.indices { bests[worker] = (0, -1) }
                }
            }
        }
        return picked
    }

    /// Squared Euclidean distance of two 16-aligned rows.
    @inline(__always) static func squaredDistance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var sum = SIMD16<Float>(repeating: 0)
        var i = 0
        while i < count {
            let difference = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self) - UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
            sum = sum.addingProduct(difference, difference)
            i &+= 16
        }
        return sum.sum()
    }

    /// The rows times a random Gaussian matrix [dimensions x target] / sqrt(target), in rows padded to 16.
    private static func project(
        _ patches: [Float], count n: Int, dimensions: Int, stride: Int, to target: Int,
        generator: inout SeededGenerator, workers: Workers
    ) -> [Float] {
        let scale = 1 / Float(target).squareRoot()
        var matrix = [Float](repeating: 0, count: target * dimensions)
        for i in 0..<dimensions { for j in 0..<target { matrix[j * dimensions + i] = generator.nextGaussian() * scale } }
        return project(patches, count: n, dimensions: dimensions, stride: stride, by: matrix, rows: target, workers: workers)
    }

    /// The rows times `matrix`ᵀ (`matrix`: [target][dimensions]), in rows of `target` values padded to 16.
    static func project(
        _ patches: [Float], count n: Int, dimensions: Int, stride: Int, by matrix: [Float], rows target: Int, workers: Workers
    ) -> [Float] {
        precondition(matrix.count == target * dimensions)
        let width = (target + 15) / 16 * 16
        // Transposed and padded, so that one input value scales a row of 16 outputs' weights.
        var columns = [Float](repeating: 0, count: dimensions * width)
        for j in 0..<target { for i in 0..<dimensions { columns[i * width + j] = matrix[j * dimensions + i] } }
        var projected = [Float](repeating: 0, count: n * width)
        patches.withUnsafeBufferPointer { patches in
            columns.withUnsafeBufferPointer { columns in
                projected.withUnsafeMutableBufferPointer { projected in
                    let (source, weights, target) = (patches.baseAddress!, columns.baseAddress!, projected.baseAddress!)
                    workers.forEachShare(of: n) { _, rows in
                        for row in rows {
                            let input = source + row * stride, output = target + row * width
                            for i in 0..<dimensions {
                                let x = input[i]
                                var j = 0
                                while j < width {
                                    let accumulated = UnsafeRawPointer(output + j).loadUnaligned(as: SIMD16<Float>.self)
                                        .addingProduct(UnsafeRawPointer(weights + i * width + j).loadUnaligned(as: SIMD16<Float>.self), SIMD16(repeating: x))
                                    UnsafeMutableRawPointer(output + j).storeBytes(of: accumulated, as: SIMD16<Float>.self)
                                    j &+= 16
                                }
                            }
                        }
                    }
                }
            }
        }
        return projected
    }
}
