import AugeImage
import Foundation

/// Which photos get explained, and how.
public struct ExplanationSettings: Sendable, Equatable {
    /// Cells down and across the model's input; (grid - 1)^2 extra inferences per explained photo.
    public var grid: Int
    /// Where heatmap overlays go (`<photo name>.heatmap.png`); nil for the `hotspot` alone.
    public var heatmapFolder: String?
    /// The folders the photos were found in: a photo's heatmap keeps its sub-folders below the root it
    /// came from (`a/x.jpg` -> `a/x.heatmap.png`), so photos of one name in different sub-folders get
    /// their own heatmaps in file order (a name still taken, e.g. by `x.png` beside `x.jpg`, gets `-1`).
    public var photoRoots: [String] = []
    /// The decisions that get explained.
    public var decisions: Set<Decision>

    public static let defaultGrid = 12

    public init(grid: Int = defaultGrid, heatmapFolder: String? = nil, decisions: Set<Decision> = [.defect, .review]) {
        self.grid = grid
        self.heatmapFolder = heatmapFolder
        self.decisions = decisions
    }

    /// Where `photoPath`'s heatmap goes below the heatmap folder: its path below the deepest photo root
    /// holding it, else its file name; `.heatmap.png` in place of its extension.
    public func heatmapName(forPhoto photoPath: String) -> String {
        let path = (photoPath as NSString).standardizingPath
        let below = photoRoots.map { ($0 as NSString).standardizingPath }
            .filter { path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }
            .max { $0.count < $1.count }
            .map { String(path.dropFirst($0.hasSuffix("/") ? $0.count : $0.count + 1)) }
        return ((below ?? (path as NSString).lastPathComponent) as NSString).deletingPathExtension + ".heatmap.png"
    }
}

extension Classifier {
    /// The evidence map of the answer `probabilities` gives for `tensor` (planar, as `probabilities(for:)`
    /// takes it): see `EvidenceMap`. The tensor is restored before this returns.
    public func evidenceMap(for tensor: UnsafeMutablePointer<Float>, probabilities: [Float], grid: Int) -> EvidenceMap {
        var chosen = 0
        for i in probabilities.indices where probabilities[i] > probabilities[chosen] { chosen = i }
        return EvidenceMap.measure(
            tensor: tensor, channels: preprocessing.color.channels, width: preprocessing.width,
            height: preprocessing.height, grid: grid
        ) { occluded in
            policy.evidence(self.probabilities(for: occluded), label: chosen)
        }
    }

    private func anomalyEvidence(score: Float, values: [Float]) -> EvidenceMap {
        let layout = anomalyMap!
        return EvidenceMap(
            anomalyMap: values, rows: layout.rows, columns: layout.columns, inputWidth: preprocessing.width,
            inputHeight: preprocessing.height, score: score, range: layout.range)
    }

    /// Adds `hotspot` (and with a heatmap folder, `heatmap` or `heatmap_error`) to the record of `image`,
    /// whose tensor and answer are given. A classifier's evidence is found by occlusion; an anomaly
    /// model's map is its own evidence, at no extra cost.
    func explain(
        _ record: inout InspectionRecord, image: Image, tensor: UnsafeMutablePointer<Float>, answer: Answer,
        settings: ExplanationSettings
    ) {
        let map: EvidenceMap
        switch answer {
        case let .probabilities(probabilities):
            map = evidenceMap(for: tensor, probabilities: probabilities, grid: settings.grid)
        case let .anomaly(score, values):
            map = anomalyEvidence(score: score, values: values)
        case let .gated(probabilities, score, values):
            // The anomaly map where the anomaly head spoke (free); else the classifier's evidence, by occlusion.
            let gateSpoke = score >= (policy.anomalyBand?.lower ?? DecisionPolicy.gateThreshold)
            map =
                gateSpoke
                ? anomalyEvidence(score: score, values: values) : evidenceMap(for: tensor, probabilities: probabilities, grid: settings.grid)
        }
        do {
            let mapping = try preprocessing.inputMapping(for: image)
            record.hotspot = Hotspot(map.strongest, through: mapping)
            if let folder = settings.heatmapFolder {
                let overlay = HeatmapOverlay.render(image, mapping: mapping, map: map)
                record.heatmap = try HeatmapOverlay.write(overlay, named: settings.heatmapName(forPhoto: record.path), into: folder)
            }
        } catch {
            record.heatmapError = "\(error)"
        }
    }
}
