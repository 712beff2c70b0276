import AugeInspect
import ArgumentParser

/// `--hotspots`, `--heatmaps DIR`, `--heatmap-grid N`: showing why a part was rejected.
struct ExplanationOptions: ParsableArguments {
    @Flag(help: "For each defect or review photo, find where the evidence is (key `hotspot`: x, y, width, height in photo pixels, and the share of the evidence there). Costs (grid - 1)^2 extra inferences per such photo.")
    var hotspots = false

    @Option(
        help: ArgumentHelp("Like --hotspots, and also write DIR/<photo name>.heatmap.png (keeping the folders below a given folder): the photo with the evidence in red to yellow and the hotspot framed (key `heatmap`).", valueName: "dir"))
    var heatmaps: String?

    @Option(help: ArgumentHelp("Cells down and across the model input for --hotspots and --heatmaps (2...64).", valueName: "n"))
    var heatmapGrid = ExplanationSettings.defaultGrid

    func validate() throws {
        guard (2...64).contains(heatmapGrid) else { throw ValidationError("--heatmap-grid must be in 2...64, got \(heatmapGrid)") }
    }

    var asked: Bool { hotspots || heatmaps != nil }

    /// nil when no explanation was asked for. A heatmap keeps the photo's sub-folders below `photoRoots`.
    func settings(photoRoots: [String]) -> ExplanationSettings? {
        guard asked else { return nil }
        var settings = ExplanationSettings(grid: heatmapGrid, heatmapFolder: heatmaps)
        settings.photoRoots = photoRoots
        return settings
    }
}
