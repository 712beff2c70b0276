import AugeInspect
import AugeONNX
import ArgumentParser
import Foundation

struct Annotate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write labels, preprocessing and decision policy into a model file, so it needs no flags afterwards.",
        discussion: "Example: auge annotate resnet.onnx --labels ok,scratch,dent --ok-labels ok --size 224x224 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 -o inspect.onnx")

    @Argument(help: "The model file (ONNX) to annotate.")
    var modelFile: String

    @OptionGroup var settings: ModelOptions

    @Option(name: .shortAndLong, help: "The annotated model file to write.")
    var output: String

    func run() throws {
        var settings = self.settings
        settings.model = modelFile
        let resolved = try settings.load()
        // Refuse now what classify would refuse later: e.g. a --size the model's fixed input cannot take.
        _ = try resolved.classifier(threads: 1)
        let data = try Data(contentsOf: URL(fileURLWithPath: modelFile))
        try annotateONNX(data, name: modelFile, metadata: resolved.resolvedMetadata).write(to: URL(fileURLWithPath: output), options: .atomic)
        print(
            "\(output): \(resolved.policy.labels.count) labels, \(resolved.preprocessing.width)x\(resolved.preprocessing.height) "
                + "\(resolved.preprocessing.color.rawValue), threshold \(resolved.policy.threshold)")
    }
}
