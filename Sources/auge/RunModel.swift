import AugeEngine
import AugeONNX
import ArgumentParser
import Foundation

/// `auge run`: raw tensors in, raw tensors out, to check Auge against another runtime.
struct RunModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model on .npy tensors (float32, NCHW as in the ONNX file) and write .npy outputs.",
        discussion: "Example: auge run model.onnx --input x.npy -o y.npy   (or --input NAME=x.npy, -o NAME=y.npy per output)")

    @Argument(help: "The model file (ONNX).")
    var model: String

    @Option(name: .long, help: "An input tensor: FILE.npy for the only input, or NAME=FILE.npy.")
    var input: [String]

    @Option(name: .shortAndLong, help: "Where to write: FILE.npy for the first output, or NAME=FILE.npy per output.")
    var output: [String]

    @Option(help: "Threads.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    private func split(_ text: String) -> (name: String?, file: String) {
        guard let equals = text.firstIndex(of: "="), !text[..<equals].contains("/") else { return (nil, text) }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }

    func run() throws {
        try requireKernelSupport()
        let onnx = try ONNXModel.load(contentsOf: URL(fileURLWithPath: model))
        let graph = onnx.graph
        var tensors: [String: Tensor] = [:]
        for spec in input {
            let (name, file) = split(spec)
            guard let inputName = name ?? (graph.inputs.count == 1 ? graph.inputs[0].name : nil) else {
                throw ValidationError("the model has \(graph.inputs.count) inputs (\(graph.inputs.map(\.name).joined(separator: ", "))); name them: --input NAME=FILE.npy")
            }
            guard graph.inputs.contains(where: { $0.name == inputName }) else {
                throw ValidationError("the model has no input '\(inputName)'; its inputs: \(graph.inputs.map(\.name).joined(separator: ", "))")
            }
            tensors[inputName] = try NPY.read(contentsOf: URL(fileURLWithPath: file))
        }
        guard let batch = tensors.values.first?.shape.first else { throw ValidationError("give at least one --input") }
        let engine = try Engine(graph: graph, batchSize: batch, threads: threads)
        let results = try engine.run(tensors)
        for spec in output {
            let (name, file) = split(spec)
            let outputName = name ?? graph.outputs[0]
            guard let tensor = results[outputName] else {
                throw ValidationError("the model has no output '\(outputName)'; its outputs: \(graph.outputs.joined(separator: ", "))")
            }
            try NPY.write(tensor, to: URL(fileURLWithPath: file))
        }
    }
}
