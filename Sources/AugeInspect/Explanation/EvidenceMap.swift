import AugeImage
import Foundation

/// Where in a model's input the evidence for its answer lies, found by occlusion: the input is cut
/// into a grid of cells, each window of 2 x 2 cells in turn is flattened to its own average colour
/// (which wipes out small detail such as a scratch but keeps the brightness), and the model runs again.
/// The evidence a window's flattening takes away is how much the answer depends on what is there.
///
/// The evidence is the defect probability for a model with OK labels, else the probability of the
/// label the model chose. Any model works (no gradients, no knowledge of its layers); the price is
/// (grid - 1)^2 extra inferences per photo.
public struct EvidenceMap: Sendable, Equatable {
    /// Cells down and across.
    public let rows: Int, columns: Int
    public let inputWidth: Int, inputHeight: Int
    /// Per cell (row-major): the share of the evidence lost when a window holding the cell is
    /// flattened, averaged over those windows; 0...1.
    public let heat: [Float]
    /// The window whose flattening loses the most evidence, in input pixels.
    public let strongest: InputWindow
    /// The evidence of the untouched input.
    public let evidence: Float

    /// A rectangle of the model's input and the share of the evidence lost when it is flattened.
    public struct InputWindow: Sendable, Equatable {
        public var x: Int, y: Int, width: Int, height: Int
        public var share: Float
    }

    /// Left edges of the cells plus the right edge of the last one: `grid + 1` positions over `length`.
    static func cellEdges(_ length: Int, grid: Int) -> [Int] {
        (0...grid).map { $0 * length / grid }
    }

    /// Measures the map for a planar input tensor (channels x height x width, as the classifier takes
    /// it); `evidenceOf` runs the model and returns the evidence of the answer being explained. The
    /// tensor is changed while this runs and restored before it returns.
    static func measure(
        tensor: UnsafeMutablePointer<Float>, channels: Int, width: Int, height: Int, grid requestedGrid: Int,
        evidenceOf: (UnsafePointer<Float>) -> Float
    ) -> EvidenceMap {
        let grid = max(2, min(requestedGrid, width, height))
        let xs = cellEdges(width, grid: grid), ys = cellEdges(height, grid: grid)
        let plane = width * height
        let baseline = evidenceOf(tensor)
        let windows = grid - 1
        var shares = [Float](repeating: 0, count: windows * windows)
        // The window's values while it is flattened; no window is wider than two cells rounded up.
        var saved = [Float](repeating: 0, count: channels * 2 * (width / grid + 1) * 2 * (height / grid + 1))
        for row in 0..<windows {
            for column in 0..<windows {
                let (x0, x1, y0, y1) = (xs[column], xs[column + 2], ys[row], ys[row + 2])
                let windowWidth = x1 - x0, count = windowWidth * (y1 - y0)
                for c in 0..<channels {
                    var sum: Float = 0
                    for y in y0..<y1 {
                        let rowStart = tensor + c * plane + y * width + x0
                        for x in 0..<windowWidth {
                            saved[(c * (y1 - y0) + y - y0) * windowWidth + x] = rowStart[x]
                            sum += rowStart[x]
                        }
                    }
                    let average = sum / Float(count)
                    for y in y0..<y1 { (tensor + c * plane + y * width + x0).update(repeating: average, count: windowWidth) }
                }
                let evidence = evidenceOf(tensor)
                for c in 0..<channels {
                    for y in y0..<y1 {
                        let rowStart = tensor + c * plane + y * width + x0
                        for x in 0..<windowWidth { rowStart[x] = saved[(c * (y1 - y0) + y - y0) * windowWidth + x] }
                    }
                }
                shares[row * windows + column] = baseline > 0 ? max(0, baseline - evidence) / baseline : 0
            }
        }
        // A cell's heat: the average over the (up to four) windows that hold it.
        var heat = [Float](repeating: 0, count: grid * grid)
        for row in 0..<grid {
            for column in 0..<grid {
                var sum: Float = 0, count: Float = 0
                for windowRow in max(0, row - 1)...min(windows - 1, row) {
                    for windowColumn in max(0, column - 1)...min(windows - 1, column) {
                        sum += shares[windowRow * windows + windowColumn]
                        count += 1
                    }
                }
                heat[row * grid + column] = sum / count
            }
        }
        let best = shares.indices.max { shares[$0] < shares[$1] }!
        let (row, column) = (best / windows, best % windows)
        let strongest = InputWindow(
            x: xs[column], y: ys[row], width: xs[column + 2] - xs[column], height: ys[row + 2] - ys[row],
            share: shares[best])
        return EvidenceMap(
            rows: grid, columns: grid, inputWidth: width, inputHeight: height, heat: heat, strongest: strongest,
            evidence: baseline)
    }

    /// The heat at an input position (continuous input pixels), interpolated between cell centres.
    public func heat(atInputX x: Double, y: Double) -> Float {
        func coordinate(_ position: Double, _ length: Int, _ cells: Int) -> (Int, Int, Float) {
            let cell = min(max(position / Double(length) * Double(cells) - 0.5, 0), Double(cells - 1))
            let lower = Int(cell)
            return (lower, min(lower + 1, cells - 1), Float(cell - Double(lower)))
        }
        let (c0, c1, fx) = coordinate(x, inputWidth, columns)
        let (r0, r1, fy) = coordinate(y, inputHeight, rows)
        let top = heat[r0 * columns + c0] * (1 - fx) + heat[r0 * columns + c1] * fx
        let bottom = heat[r1 * columns + c0] * (1 - fx) + heat[r1 * columns + c1] * fx
        return top * (1 - fy) + bottom * fy
    }
}

extension EvidenceMap {
    /// An anomaly model's map as evidence: each cell's heat is its value placed in the model-wide `range`
    /// (below the lower end: cold, 0; above the upper: hot, 1), so that good parts stay cold in every heatmap.
    /// The strongest window is the patch of cells around the peak that rise at least half as far above the
    /// map's median as the peak does; its share is how much of the peak's rise above the median would go
    /// were that patch like the rest of the photo (the largest value outside it instead of the peak).
    public init(
        anomalyMap values: [Float], rows: Int, columns: Int, inputWidth: Int, inputHeight: Int, score: Float,
        range: ClosedRange<Float>
    ) {
        precondition(values.count == rows * columns && !values.isEmpty, "one value per cell")
        let span = max(range.upperBound - range.lowerBound, .leastNormalMagnitude)
        let peak = values.indices.max { values[$0] < values[$1] }!
        // The cells connected to the peak (8 neighbours) at least halfway from the median to the peak.
        let median = values.sorted()[values.count / 2]
        let floor = median + (values[peak] - median) / 2
        var inside = [Bool](repeating: false, count: values.count)
        var stack = [peak]
        inside[peak] = true
        var (top, left, bottom, right) = (peak / columns, peak % columns, peak / columns, peak % columns)
        while let cell = stack.popLast() {
            let (r, c) = (cell / columns, cell % columns)
            (top, left, bottom, right) = (min(top, r), min(left, c), max(bottom, r), max(right, c))
            for nr in max(0, r - 1)...min(rows - 1, r + 1) {
                for nc in max(0, c - 1)...min(columns - 1, c + 1) where !inside[nr * columns + nc] && values[nr * columns + nc] >= floor {
                    inside[nr * columns + nc] = true
                    stack.append(nr * columns + nc)
                }
            }
        }
        var outside: Float = 0
        for r in 0..<rows {
            for c in 0..<columns where !(top...bottom).contains(r) || !(left...right).contains(c) {
                outside = max(outside, values[r * columns + c])
            }
        }
        let xs = Self.cellEdges(inputWidth, grid: columns), ys = Self.cellEdges(inputHeight, grid: rows)
        let rise = values[peak] - median
        let share = rise > 0 ? min(1, max(0, (values[peak] - outside) / rise)) : 0
        self.init(
            rows: rows, columns: columns, inputWidth: inputWidth, inputHeight: inputHeight,
            heat: values.map { min(1, max(0, ($0 - range.lowerBound) / span)) },
            strongest: InputWindow(x: xs[left], y: ys[top], width: xs[right + 1] - xs[left], height: ys[bottom + 1] - ys[top], share: share),
            evidence: score)
    }
}

/// The photo rectangle whose flattening lowers the evidence most: record key `hotspot`.
public struct Hotspot: Sendable, Equatable, Codable {
    /// Upright, full-resolution photo pixels (the same frame as a region of interest).
    public var x: Int, y: Int, width: Int, height: Int
    /// Share of the evidence (defect probability, or the chosen label's probability) lost when the
    /// rectangle is flattened: near 1, this rectangle alone makes the decision; near 0, no single
    /// place does.
    public var evidence: Float

    public init(x: Int, y: Int, width: Int, height: Int, evidence: Float) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
        self.evidence = evidence
    }

    public init(_ window: EvidenceMap.InputWindow, through mapping: InputMapping) {
        let region = mapping.photoRegion(
            inputX: Double(window.x), inputY: Double(window.y),
            width: Double(window.width), height: Double(window.height))
        self.init(x: region.x, y: region.y, width: region.width, height: region.height, evidence: window.share)
    }
}
