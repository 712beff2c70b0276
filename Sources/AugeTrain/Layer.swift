import AugeEngine

/// Height, width and channels of one image's activations (stored NHWC: channels innermost).
public struct Shape: Equatable, Codable, Sendable, CustomStringConvertible {
    public var height: Int
    public var width: Int
    public var channels: Int

    public init(height: Int, width: Int, channels: Int) {
        self.height = height
        self.width = width
        self.channels = channels
    }

    public var count: Int { height * width * channels }
    public var description: String { "\(height)x\(width)x\(channels)" }
}

/// One differentiable step of a network, on batches of NHWC images.
///
/// `backward` overwrites the parameter gradients with those of the whole batch and, when `inputGradient`
/// is given, overwrites it with the gradient with respect to the input.
protocol Layer: AnyObject {
    var inputShape: Shape { get }
    var outputShape: Shape { get }
    var parameters: [Parameter] { get }
    /// State kept in checkpoints that gradients do not train (batch normalisation's running statistics).
    var state: [AlignedBuffer] { get }
    /// Allocates scratch space for batches of up to `maxBatch` images.
    func prepare(maxBatch: Int, workers: Workers)
    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool, workers: Workers)
    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, workers: Workers)
    /// The inference graph nodes computing this layer from value `input` into value `output`.
    func graphNodes(name: String, input: String, output: String) -> [Node]
}

extension Layer {
    var parameters: [Parameter] { [] }
    var state: [AlignedBuffer] { [] }
    func prepare(maxBatch: Int, workers: Workers) {}
}

/// He-normal initialisation for a layer followed by ReLU.
func initialiseHe(_ parameter: Parameter, fanIn: Int, generator: inout SeededGenerator) {
    let deviation = (2 / Float(fanIn)).squareRoot()
    for i in 0..<parameter.count { parameter.value.pointer[i] = deviation * generator.nextGaussian() }
}
