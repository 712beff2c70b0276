@testable import AugeTrain
import AugeEngine
import AugeImage
import AugeONNX
import Foundation
import XCTest

/// Transfer learning: cutting a backbone at its pooling or a named node, and a head trained on its
/// features that exports with it as one model.
final class TransferTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("auge-transfer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// A small classifier in the shape of an ImageNet export: conv, ReLU, conv (5 channels, an odd
    /// count), ReLU, global average pooling, flatten, fully connected, softmax; random weights.
    func writeClassifier(size: Int = 12) throws -> (path: String, graph: Graph) {
        var generator = SeededGenerator(seed: 5)
        func tensor(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in 0.4 * generator.nextGaussian() })
        }
        let first = Convolution(weight: tensor([6, 3, 3, 3]), bias: tensor([6]), strides: (2, 2), pads: (1, 1, 1, 1))
        let second = Convolution(weight: tensor([5, 6, 3, 3]), bias: tensor([5]), pads: (1, 1, 1, 1))
        let graph = Graph(
            name: "classifier", inputs: [GraphInput(name: "image", shape: [nil, 3, size, size])],
            nodes: [
                Node(name: "conv1", operation: .convolution(first), inputs: ["image"], outputs: ["c1"]),
                Node(name: "relu1", operation: .activation(.relu), inputs: ["c1"], outputs: ["r1"]),
                Node(name: "conv2", operation: .convolution(second), inputs: ["r1"], outputs: ["c2"]),
                Node(name: "relu2", operation: .activation(.relu), inputs: ["c2"], outputs: ["r2"]),
                Node(name: "pool", operation: .globalAveragePool, inputs: ["r2"], outputs: ["pooled"]),
                Node(name: "flatten", operation: .flatten(axis: 1), inputs: ["pooled"], outputs: ["flat"]),
                Node(
                    name: "fc", operation: .fullyConnected(FullyConnected(weight: tensor([10, 5]), bias: tensor([10]))),
                    inputs: ["flat"], outputs: ["logits"]),
                Node(name: "softmax", operation: .softmax(axis: 1), inputs: ["logits"], outputs: ["probabilities"]),
            ], outputs: ["probabilities"])
        let path = folder.appendingPathComponent("classifier.onnx").path
        try exportONNX(graph: graph, metadata: nil).write(to: URL(fileURLWithPath: path))
        return (path, graph)
    }

    /// The reference value of `value` in `graph` for one random input, as [channels][pixels].
    func referenceMap(_ graph: Graph, _ value: String, input: Tensor) throws -> [[Float]] {
        var cut = graph
        cut.outputs = [value]
        let map = try XCTUnwrap(runReference(cut, inputs: [graph.inputs[0].name: input])[value])
        let pixels = map.shape[2] * map.shape[3]
        return (0..<map.shape[1]).map { Array(map.data[($0 * pixels)..<(($0 + 1) * pixels)]) }
    }

    func features(_ backbone: Backbone, input: Tensor) throws -> [Float] {
        let engine = try Engine(graph: backbone.graph, batchSize: 1, threads: 1)
        return try XCTUnwrap(engine.run([backbone.graph.inputs[0].name: input])[Backbone.featuresValue]).data
    }

    func testCutsAtTheGlobalPoolingByDefault() throws {
        let (path, graph) = try writeClassifier()
        let backbone = try Backbone.load(path)
        XCTAssertEqual(backbone.cut, "r2")
        XCTAssertEqual(backbone.featureCount, 5)
        XCTAssertFalse(backbone.graph.nodes.contains { $0.name == "fc" || $0.name == "softmax" }, "the classifier is cut away")
        XCTAssertEqual(backbone.preprocessing.mean, Backbone.imageNetMean, "no metadata: ImageNet statistics")
        XCTAssertEqual([backbone.preprocessing.width, backbone.preprocessing.height], [12, 12])

        var generator = SeededGenerator(seed: 8)
        let input = Tensor(shape: [1, 3, 12, 12], data: (0..<432).map { _ in generator.nextGaussian() })
        let expected = try referenceMap(graph, "r2", input: input).map { $0.reduce(0, +) / Float($0.count) }
        for (got, want) in zip(try features(backbone, input: input), expected) { XCTAssertEqual(got, want, accuracy: 1e-5) }
    }

    func testCutsAtANamedNodeWithBothPoolingsAndAnotherSize() throws {
        let (path, graph) = try writeClassifier()
        let backbone = try Backbone.load(path, featureNode: "conv1", pooling: .both, size: (width: 16, height: 10))
        XCTAssertEqual(backbone.cut, "c1")
        XCTAssertEqual(backbone.featureCount, 12)
        XCTAssertEqual(backbone.graph.inputs[0].shape, [nil, 3, 10, 16])

        var resized = graph
        resized.inputs[0].shape = [nil, 3, 10, 16]
        var generator = SeededGenerator(seed: 9)
        let input = Tensor(shape: [1, 3, 10, 16], data: (0..<480).map { _ in generator.nextGaussian() })
        let map = try referenceMap(resized, "c1", input: input)
        let expected = map.map { $0.reduce(0, +) / Float($0.count) } + map.map { $0.max()! }
        for (got, want) in zip(try features(backbone, input: input), expected) { XCTAssertEqual(got, want, accuracy: 1e-5) }

        XCTAssertEqual(try Backbone.load(path, featureNode: "c2").cut, "c2", "a value name works too")
        XCTAssertThrowsError(try Backbone.load(path, featureNode: "conv9")) { error in
            XCTAssertTrue("\(error)".contains("classifier.onnx: has no node or value named 'conv9'"), "\(error)")
        }
    }

    /// A small classifier with a residual block, shaped like an EfficientNet-Lite tail: conv + BN +
    /// ReLU6 (stride 2), a residual block (1x1 conv, BN, ReLU, depthwise 3x3, BN, add), conv 1x1 + BN +
    /// ReLU, global average pooling, fully connected, softmax; random weights and statistics.
    func writeResidualClassifier() throws -> String {
        var generator = SeededGenerator(seed: 6)
        func tensor(_ shape: [Int], scale: Float = 0.4) -> Tensor {
            Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in scale * generator.nextGaussian() })
        }
        func normalization(_ channels: Int) -> AugeEngine.Operation {
            func values(_ range: ClosedRange<Float>) -> [Float] { (0..<channels).map { _ in generator.nextFloat(in: range) } }
            let scale = values(0.5...1.5), bias = values(-0.5...0.5), mean = values(-0.2...0.2), variance = values(0.5...2)
            return .batchNormalization(BatchNormalization(scale: scale, bias: bias, mean: mean, variance: variance, epsilon: 1e-3))
        }
        func node(_ name: String, _ operation: AugeEngine.Operation, _ inputs: [String]) -> Node {
            Node(name: name, operation: operation, inputs: inputs, outputs: [name])
        }
        let nodes: [Node] = [
            node("stem/conv", .convolution(Convolution(weight: tensor([6, 3, 3, 3]), strides: (2, 2), pads: (1, 1, 1, 1))), ["image"]),
            node("stem/bn", normalization(6), ["stem/conv"]),
            node("stem/relu6", .activation(.clip(min: 0, max: 6)), ["stem/bn"]),
            node("block/expand", .convolution(Convolution(weight: tensor([6, 6, 1, 1]))), ["stem/relu6"]),
            node("block/expand_bn", normalization(6), ["block/expand"]),
            node("block/relu", .activation(.relu), ["block/expand_bn"]),
            node("block/dw", .convolution(Convolution(weight: tensor([6, 1, 3, 3]), pads: (1, 1, 1, 1), groups: 6)), ["block/relu"]),
            node("block/dw_bn", normalization(6), ["block/dw"]),
            node("block/add", .add, ["block/dw_bn", "stem/relu6"]),
            node("head/conv", .convolution(Convolution(weight: tensor([5, 6, 1, 1]))), ["block/add"]),
            node("head/bn", normalization(5), ["head/conv"]),
            node("head/relu", .activation(.relu), ["head/bn"]),
            node("pool", .globalAveragePool, ["head/relu"]),
            node("flatten", .flatten(axis: 1), ["pool"]),
            node("fc", .fullyConnected(FullyConnected(weight: tensor([10, 5]), bias: tensor([10]))), ["flatten"]),
            node("softmax", .softmax(axis: 1), ["fc"]),
        ]
        let graph = Graph(name: "residual", inputs: [GraphInput(name: "image", shape: [nil, 3, 12, 12])], nodes: nodes, outputs: ["softmax"])
        let path = folder.appendingPathComponent("residual.onnx").path
        try exportONNX(graph: graph, metadata: nil).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testFineTunedLayersAreConvolutionUnitsAndResidualBlocks() throws {
        let path = try writeResidualClassifier()
        let tuned = try Backbone.load(path, fineTunedLayers: 2)
        XCTAssertEqual(tuned.featureShape, Shape(height: 6, width: 6, channels: 6), "the map after the stem")
        XCTAssertEqual(
            tuned.trainableNodes.map(\.name),
            [
                "block/expand", "block/expand_bn", "block/relu", "block/dw", "block/dw_bn", "block/add",
                "head/conv", "head/bn", "head/relu",
            ])
        XCTAssertEqual(tuned.trainableNodes[0].inputs, [Backbone.featuresValue])
        XCTAssertEqual(tuned.trainableNodes[5].inputs, ["block/dw_bn", Backbone.featuresValue])
        XCTAssertEqual(try Backbone.load(path, fineTunedLayers: 1).featureShape.channels, 6)
        XCTAssertThrowsError(try Backbone.load(path, fineTunedLayers: 4)) { error in
            XCTAssertTrue("\(error)".contains("has 3 layers before head/relu to fine-tune, not 4"), "\(error)")
        }

        // The trainer's layers, holding the pretrained weights, compute the frozen backbone's features.
        let frozen = try Backbone.load(path)
        var generator = SeededGenerator(seed: 12)
        let input = Tensor(shape: [1, 3, 12, 12], data: (0..<432).map { _ in generator.nextGaussian() })
        let map = try XCTUnwrap(Engine(graph: tuned.graph, batchSize: 1, threads: 1).run(["image": input])[Backbone.featuresValue])
        let layers = try Network.head(on: tuned, hiddenUnits: 0, classes: 2, seed: 1).layers.dropLast()
        XCTAssertTrue(layers.contains { $0 is Residual })
        let network = Network(layers: Array(layers))
        network.reserve(batch: 1, workers: Workers(count: 1))
        planarToInterleaved(map.data, into: network.input, shape: tuned.featureShape)
        let pooled = network.forward(batch: 1, training: false, workers: Workers(count: 1))
        for (index, want) in try features(frozen, input: input).enumerated() { XCTAssertEqual(pooled[index], want, accuracy: 1e-4) }
    }

    /// Convolutions with a bias (as exporters write them when they fold normalisation in) fine-tune
    /// too, even from the image itself, when every layer trains.
    func testFineTuningKeepsConvolutionBiasesFromTheImageOn() throws {
        let (path, _) = try writeClassifier()
        let tuned = try Backbone.load(path, fineTunedLayers: 2)
        XCTAssertEqual(tuned.featureShape, Shape(height: 12, width: 12, channels: 3), "the frozen part is the input itself")
        let layers = try Network.head(on: tuned, hiddenUnits: 0, classes: 2, seed: 1).layers.dropLast()
        XCTAssertEqual(layers.compactMap { ($0 as? Convolution2D)?.bias?.count }, [6, 5])

        var generator = SeededGenerator(seed: 14)
        let input = Tensor(shape: [1, 3, 12, 12], data: (0..<432).map { _ in generator.nextGaussian() })
        let map = try XCTUnwrap(Engine(graph: tuned.graph, batchSize: 1, threads: 1).run(["image": input])[Backbone.featuresValue])
        XCTAssertEqual(map.data, input.data)
        let network = Network(layers: Array(layers))
        network.reserve(batch: 1, workers: Workers(count: 1))
        planarToInterleaved(map.data, into: network.input, shape: tuned.featureShape)
        let pooled = network.forward(batch: 1, training: false, workers: Workers(count: 1))
        for (index, want) in try features(try Backbone.load(path), input: input).enumerated() {
            XCTAssertEqual(pooled[index], want, accuracy: 1e-4)
        }
    }

    /// A head on a random backbone (frozen, or with its last layers fine-tuned) learns the synthetic
    /// squares; the exported model (backbone + head), run by the engine on the photo files,
    /// reproduces the trainer's validation results.
    func testHeadLearnsAndTheModelFileReproducesValidation() throws {
        try checkTransferTraining(path: try writeClassifier().path, fineTunedLayers: 0)
    }

    func testFineTunedModelFileReproducesValidation() throws {
        try checkTransferTraining(path: try writeResidualClassifier(), fineTunedLayers: 2)
    }

    /// At a 2x2 input the residual backbone's last map is 1x1: the fine-tuned head still pools and
    /// flattens it, so the exported model runs (it once fed [N, C, 1, 1] to the head's Gemm).
    func testFineTunedHeadOnAOneByOneMapExportsARunnableModel() throws {
        let photos = folder.appendingPathComponent("photos")
        try SyntheticSquares.write(into: photos, perClass: 8, seed: 3)
        let (train, validation) = try ImageFolder.scan(photos.path).split(validationEvery: 4)
        let path = try writeResidualClassifier()
        var options = TrainingOptions()
        (options.epochs, options.batchSize, options.threads) = (1, 4, 1)
        options.transfer = TransferOptions(backbone: path)
        options.transfer?.fineTunedLayers = 2
        let backbone = try Backbone.load(path, fineTunedLayers: 2, size: (width: 2, height: 2))
        let model = try Trainer(train: train, validation: validation, backbone: backbone, okLabels: ["ok"], options: options).run()
        let onnx = try ONNXModel.load(data: model.onnxData(), name: "model.onnx")
        let engine = try Engine(graph: onnx.graph, batchSize: 1, threads: 1)
        let output = try XCTUnwrap(engine.run([onnx.graph.inputs[0].name: Tensor(shape: [1, 3, 2, 2], data: [Float](repeating: 0.3, count: 12))])[onnx.graph.outputs[0]])
        XCTAssertEqual(output.shape, [1, 2])
        XCTAssertEqual(output.data.reduce(0, +), 1, accuracy: 1e-5)
    }

    func checkTransferTraining(path: String, fineTunedLayers: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let photos = folder.appendingPathComponent("photos")
        try SyntheticSquares.write(into: photos, perClass: 40, seed: 3)
        let dataset = try ImageFolder.scan(photos.path)
        let (train, validation) = dataset.split(validationEvery: 5)
        var options = TrainingOptions()
        options.epochs = 40
        options.batchSize = 16
        options.threads = 2
        options.optimizer.learningRate = 0.01
        options.transfer = TransferOptions(backbone: path)
        options.transfer?.variants = 2
        options.transfer?.hiddenUnits = 8
        options.transfer?.fineTunedLayers = fineTunedLayers
        let backbone = try Backbone.load(path, fineTunedLayers: fineTunedLayers, size: (width: 24, height: 24))
        let model = try Trainer(train: train, validation: validation, backbone: backbone, okLabels: ["ok"], options: options).run()
        XCTAssertGreaterThanOrEqual(model.validation.accuracy, 0.9, "history: \(model.history.map(\.validationAccuracy))", file: file, line: line)

        let onnx = try ONNXModel.load(data: model.onnxData(), name: "model.onnx")
        XCTAssertEqual(onnx.metadata?.labels, ["dark_spot", "ok"], file: file, line: line)
        XCTAssertEqual(onnx.metadata?.mean, Backbone.imageNetMean, file: file, line: line)
        let method = onnx.metadata?.provenance?.method ?? ""
        XCTAssertTrue(method.hasPrefix("MLP head (8 hidden units) on "), method, file: file, line: line)
        XCTAssertEqual(method.contains("last \(fineTunedLayers) layers fine-tuned"), fineTunedLayers > 0, method, file: file, line: line)
        let engine = try Engine(graph: onnx.graph, batchSize: 1, threads: 2)
        let rows = try validation.items.map { item -> [Float] in
            let image = try ImageDecoder().decode(fileAt: item.path, for: backbone.preprocessing)
            let input = Tensor(shape: [1, 3, 24, 24], data: try backbone.preprocessing.tensor(from: image))
            return try XCTUnwrap(engine.run([onnx.graph.inputs[0].name: input])[onnx.graph.outputs[0]]).data
        }
        let metrics = EvaluationMetrics(
            labels: model.labels, okLabels: model.okLabels, truths: validation.items.map(\.label),
            probabilities: rows, threshold: model.calibration.threshold, reviewBand: model.calibration.reviewBand)
        XCTAssertEqual(metrics.confusion, model.validation.confusion, file: file, line: line)
        XCTAssertEqual(metrics.loss, model.validation.loss, accuracy: 1e-4, file: file, line: line)
    }
}
