import AugeImage
import AugeInspect
import ArgumentParser
import Foundation

/// The model to use and the settings that override (or, for a plain ONNX file, supply) its metadata.
struct ModelOptions: ParsableArguments {
    @Option(help: "The model file (ONNX). Default: Models/default.onnx shipped with Auge.")
    var model: String?

    @Option(help: "Class names in output order, comma-separated (overrides the model's).")
    var labels: String?

    @Option(help: "Labels that count as a good part, comma-separated (overrides the model's).")
    var okLabels: String?

    @Option(help: ArgumentHelp("Model input size WxH, or N for NxN.", valueName: "WxH"))
    var size: InputSize?

    @Option(help: "Input colour: gray or rgb.")
    var color: ColorMode?

    @Option(help: "Resize policy: stretch, fit or crop.")
    var resize: ResizePolicy?

    @Option(help: ArgumentHelp("Region of interest x,y,w,h in photo pixels.", valueName: "x,y,w,h"))
    var roi: Region?

    @Option(help: "Per-channel mean on 0...1 pixel values, comma-separated.")
    var mean: String?

    @Option(help: "Per-channel standard deviation on 0...1 pixel values, comma-separated.")
    var std: String?

    @Option(help: "Defect-probability threshold (0...1).")
    var threshold: Float?

    @Option(help: "Half-width of the review band around the threshold (0 = no review).")
    var reviewBand: Float?

    func overrides() throws -> ModelSettingOverrides {
        var o = ModelSettingOverrides()
        o.labels = labels.map(Self.list)
        o.okLabels = okLabels.map(Self.list)
        o.size = size?.pair
        o.color = color
        o.resize = resize
        o.region = roi
        o.mean = try mean.map { try Self.numbers($0, flag: "--mean") }
        o.std = try std.map { try Self.numbers($0, flag: "--std") }
        o.threshold = threshold
        o.reviewBand = reviewBand
        return o
    }

    func load() throws -> InspectionModel {
        try InspectionModel.load(path: model ?? (try Self.defaultModelPath()), overrides: overrides())
    }

    private static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    private static func numbers(_ text: String, flag: String) throws -> [Float] {
        let values = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw ValidationError("\(flag) takes numbers separated by commas, got '\(text)'") }
        return values.map { $0! }
    }

    /// Models/default.onnx in the working directory, else beside the source checkout the binary was
    /// built in (.build/<config>/auge), else in ../share/auge/ of an installed binary.
    static func defaultModelPath() throws -> String {
        try shippedModel("default.onnx", missing: "no --model given, and the demo model default.onnx is not in")
    }

    static let defaultBackbone = "backbones/efficientnet-lite0.onnx"

    /// The pretrained backbone training uses by default (scripts/setup-backbone.sh makes it),
    /// looked up as the default model is.
    static func defaultBackbonePath() throws -> String {
        try shippedModel(
            defaultBackbone,
            missing: "training needs a pretrained backbone (make it with scripts/setup-backbone.sh, or give --backbone); it is not in")
    }

    /// Where `name` may be: under Models/ in the working directory, beside the source checkout the
    /// binary was built in, or in ../share/auge/ of an installed binary.
    static func shippedModelPlaces(_ name: String) -> [String] {
        // The running binary itself (found through PATH, argv[0] is only its name), symlinks resolved.
        let executable = FileManager.default.fileExists(atPath: "/proc/self/exe") ? "/proc/self/exe" : CommandLine.arguments[0]
        let binary = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        return [
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Models/" + name),
            binary.appendingPathComponent("../../../Models/" + name).standardized,
            binary.appendingPathComponent("../share/auge/" + name).standardized,
        ].map(\.path)
    }

    /// The first of `shippedModelPlaces(name)` that exists; when none does, an error that names them.
    private static func shippedModel(_ name: String, missing: String) throws -> String {
        let places = shippedModelPlaces(name)
        guard let found = places.first(where: FileManager.default.fileExists(atPath:)) else {
            throw CommandFailure("\(missing) " + places.joined(separator: ", "))
        }
        return found
    }
}
