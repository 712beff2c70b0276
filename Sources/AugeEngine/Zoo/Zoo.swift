// The benchmark networks built in code with seeded random weights, laid out like the peer kit's
// ONNX models (conv without bias + BatchNormalization + activation nodes, Clip for ReLU6, residual
// Add, GlobalAveragePool, Flatten, Gemm, Softmax). Tests use reduced sizes; the benchmark full ones.

import Foundation

public enum Zoo {
    /// 4 x (conv 3x3 stride 2 + BN + ReLU) 3->16->32->64->128, GAP, FC to 2 classes, softmax.
    public static func inspectSmall(resolution: Int = 128, classes: Int = 2, seed: UInt64 = 1) -> Graph {
        var b = NetworkBuilder(name: "inspect-small", channels: 3, resolution: resolution, seed: seed)
        var x = "input"
        for channels in [16, 32, 64, 128] { x = b.convBNActivation(x, channels, kernel: 3, stride: 2, activation: .relu) }
        return b.classifier(x, classes: classes)
    }

    /// MobileNetV2 (torchvision layout): inverted residuals with ReLU6, depthwise 3x3, linear projections.
    public static func mobileNetV2(resolution: Int = 224, classes: Int = 1000, widthMultiplier: Double = 1, seed: UInt64 = 2) -> Graph {
        func width(_ c: Int) -> Int { max(8, Int((Double(c) * widthMultiplier / 8).rounded()) * 8) }
        var b = NetworkBuilder(name: "mobilenetv2", channels: 3, resolution: resolution, seed: seed)
        let relu6 = Activation.clip(min: 0, max: 6)
        var x = b.convBNActivation("input", width(32), kernel: 3, stride: 2, activation: relu6)
        for (expansion, channels, repeats, stride) in [
            (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1),
        ] {
            for index in 0..<repeats {
                let input = x, inChannels = b.channels(of: x), outChannels = width(channels)
                let s = index == 0 ? stride : 1
                var y = x
                if expansion != 1 { y = b.convBNActivation(y, inChannels * expansion, kernel: 1, stride: 1, activation: relu6) }
                y = b.convBNActivation(y, b.channels(of: y), kernel: 3, stride: s, groups: b.channels(of: y), activation: relu6)
                y = b.convBNActivation(y, outChannels, kernel: 1, stride: 1, activation: nil)
                if s == 1 && inChannels == outChannels { y = b.add(input, y) }
                x = y
            }
        }
        x = b.convBNActivation(x, widthMultiplier > 1 ? width(1280) : 1280, kernel: 1, stride: 1, activation: relu6)
        return b.classifier(x, classes: classes)
    }

    /// ResNet-18 (torchvision layout): 7x7 stem, max pool, 4 stages of 2 basic blocks, 1x1 downsample shortcuts.
    public static func resnet18(resolution: Int = 224, classes: Int = 1000, baseWidth: Int = 64, seed: UInt64 = 3) -> Graph {
        var b = NetworkBuilder(name: "resnet18", channels: 3, resolution: resolution, seed: seed)
        var x = b.convBNActivation("input", baseWidth, kernel: 7, stride: 2, activation: .relu)
        x = b.maxPool(x, kernel: 3, stride: 2, pad: 1)
        for (stage, stride) in [1, 2, 2, 2].enumerated() {
            let channels = baseWidth << stage
            for index in 0..<2 {
                let s = index == 0 ? stride : 1
                var y = b.convBNActivation(x, channels, kernel: 3, stride: s, activation: .relu)
                y = b.convBNActivation(y, channels, kernel: 3, stride: 1, activation: nil)
                let shortcut =
                    s != 1 || b.channels(of: x) != channels
                    ? b.convBNActivation(x, channels, kernel: 1, stride: s, activation: nil) : x
                x = b.activation(b.add(y, shortcut), .relu)
            }
        }
        return b.classifier(x, classes: classes)
    }
}

/// Builds a graph node by node, tracking channel counts and drawing weights from a seeded generator.
struct NetworkBuilder {
    let name: String
    let inputShape: [Int?]
    private var nodes: [Node] = []
    private var channelCounts: [String: Int]
    private var generator: SeededGenerator
    private var counter = 0

    init(name: String, channels: Int, resolution: Int, seed: UInt64) {
        self.name = name
        inputShape = [nil, channels, resolution, resolution]
        channelCounts = ["input": channels]
        generator = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ 1)
    }

    func channels(of value: String) -> Int { channelCounts[value]! }

    /// Uniform in [0, 1), 53 bits.
    private mutating func uniform() -> Double {
        Double(generator.next() >> 11) / Double(1 << 53)
    }

    /// Standard normal by Box-Muller.
    private mutating func normal() -> Float {
        Float((-2 * Foundation.log(1 - uniform())).squareRoot() * Foundation.cos(2 * Double.pi * uniform()))
    }

    private mutating func normals(_ count: Int, scale: Float, offset: Float = 0) -> [Float] {
        (0..<count).map { _ in offset + scale * normal() }
    }

    private mutating func add(_ operation: Operation, _ inputs: [String], prefix: String, channels: Int) -> String {
        counter += 1
        let node = "\(prefix)_\(counter)"
        nodes.append(Node(name: node, operation: operation, inputs: inputs, outputs: [node + "_out"]))
        channelCounts[node + "_out"] = channels
        return node + "_out"
    }

    /// Convolution (He-normal weights, no bias, "same" padding) + BatchNormalization + optional activation.
    mutating func convBNActivation(
        _ x: String, _ outChannels: Int, kernel: Int, stride: Int, groups: Int = 1,
        activation: Activation?
    ) -> String {
        let inChannels = channels(of: x)
        let fanIn = inChannels / groups * kernel * kernel
        let weight = Tensor(
            shape: [outChannels, inChannels / groups, kernel, kernel],
            data: normals(outChannels * fanIn, scale: Float((2 / Double(fanIn)).squareRoot())))
        let pad = kernel / 2
        var y = add(
            .convolution(Convolution(weight: weight, strides: (stride, stride), pads: (pad, pad, pad, pad), groups: groups)),
            [x], prefix: "conv", channels: outChannels)
        let bn = BatchNormalization(
            scale: normals(outChannels, scale: 0.1, offset: 1), bias: normals(outChannels, scale: 0.1),
            mean: normals(outChannels, scale: 0.1), variance: normals(outChannels, scale: 0.1).map { 1 + abs($0) })
        y = add(.batchNormalization(bn), [y], prefix: "bn", channels: outChannels)
        if let activation { y = self.activation(y, activation) }
        return y
    }

    mutating func activation(_ x: String, _ activation: Activation) -> String {
        add(.activation(activation), [x], prefix: "act", channels: channels(of: x))
    }

    mutating func add(_ a: String, _ b: String) -> String {
        add(.add, [a, b], prefix: "add", channels: channels(of: a))
    }

    mutating func maxPool(_ x: String, kernel: Int, stride: Int, pad: Int) -> String {
        add(
            .maxPool(Pooling(kernel: (kernel, kernel), strides: (stride, stride), pads: (pad, pad, pad, pad))), [x],
            prefix: "maxpool", channels: channels(of: x))
    }

    /// GlobalAveragePool, Flatten, Gemm (transB) and Softmax into the graph output "prob".
    mutating func classifier(_ x: String, classes: Int) -> Graph {
        let features = channels(of: x)
        var y = add(.globalAveragePool, [x], prefix: "gap", channels: features)
        y = add(.flatten(axis: 1), [y], prefix: "flatten", channels: features)
        let fc = FullyConnected(
            weight: Tensor(shape: [classes, features], data: normals(classes * features, scale: Float(1 / Double(features).squareRoot()))),
            bias: Tensor(shape: [classes], data: normals(classes, scale: 0.01)))
        y = add(.fullyConnected(fc), [y], prefix: "fc", channels: classes)
        nodes.append(Node(name: "softmax", operation: .softmax(axis: 1), inputs: [y], outputs: ["prob"]))
        return Graph(name: name, inputs: [GraphInput(name: "input", shape: inputShape)], nodes: nodes, outputs: ["prob"])
    }
}
