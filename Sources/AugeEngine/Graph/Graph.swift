// The engine's graph IR: a static, ONNX-shaped description of a network.
//
// Tensors in the IR are logical NCHW (or N x features) and row-major, exactly as in an ONNX file,
// so importers and exporters map one to one. The planner (Engine) turns this description into its
// own internal layout, fused kernels and one activation arena; nothing here is optimised.

/// A dense float tensor, row-major, in logical (ONNX) dimension order.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "tensor data count does not match its shape \(shape)")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public var count: Int { data.count }
}

/// Element-wise activation functions, as ONNX defines them.
public enum Activation: Sendable, Equatable {
    case relu
    /// Clip(min, max); ReLU6 is `.clip(0, 6)`.
    case clip(min: Float, max: Float)
    case leakyRelu(alpha: Float)
    case sigmoid
    /// max(0, min(1, alpha * x + beta))
    case hardSigmoid(alpha: Float, beta: Float)
    /// x * max(0, min(1, x / 6 + 1 / 2))
    case hardSwish
    /// x * sigmoid(x) (ONNX has no single op: exporters write Sigmoid then Mul)
    case silu
    case tanh
    /// The square root (of a value that is never negative: NaN otherwise, as in ONNX).
    case sqrt
    /// 1 / x (ONNX Reciprocal).
    case reciprocal
    /// ONNX QuantizeLinear followed by DequantizeLinear with the same per-tensor scale and zero point:
    /// (clamp(roundHalfEven(x / scale) + zeroPoint, lower, upper) - zeroPoint) * scale, where
    /// [lower, upper] is the integer type's range (0...255 for uint8, -128...127 for int8). The value
    /// a quantized model passes between layers, computed in float where no int8 kernel runs.
    case fakeQuantize(scale: Float, zeroPoint: Float, lower: Float, upper: Float)

    public var isFakeQuantize: Bool {
        if case .fakeQuantize = self { return true }
        return false
    }
}

/// 2-D convolution, ONNX `Conv` semantics.
public struct Convolution: Sendable, Equatable {
    /// [outChannels, inChannels / groups, kernelHeight, kernelWidth]
    public var weight: Tensor
    /// [outChannels], or nil for no bias
    public var bias: Tensor?
    public var strides: (Int, Int)
    public var dilations: (Int, Int)
    /// (top, left, bottom, right): ONNX orders pads as [top, left, bottom, right].
    public var pads: (top: Int, left: Int, bottom: Int, right: Int)
    public var groups: Int
    /// For a quantized model's convolution, one scale per output channel: every weight of channel c is
    /// an integer in -127...127 times `weightScales[c]` (symmetric int8). Exporters write such weights
    /// as INT8 with a DequantizeLinear; nil for float weights.
    public var weightScales: [Float]? = nil

    public init(
        weight: Tensor, bias: Tensor? = nil, strides: (Int, Int) = (1, 1), dilations: (Int, Int) = (1, 1),
        pads: (top: Int, left: Int, bottom: Int, right: Int) = (0, 0, 0, 0), groups: Int = 1
    ) {
        self.weight = weight
        self.bias = bias
        self.strides = strides
        self.dilations = dilations
        self.pads = pads
        self.groups = groups
    }

    public var outChannels: Int { weight.shape[0] }
    public var kernel: (Int, Int) { (weight.shape[2], weight.shape[3]) }

    public static func == (a: Convolution, b: Convolution) -> Bool {
        a.weight == b.weight && a.bias == b.bias && a.strides == b.strides && a.dilations == b.dilations
            && a.pads == b.pads && a.groups == b.groups && a.weightScales == b.weightScales
    }
}

/// Inference-mode batch normalisation: y = scale * (x - mean) / sqrt(variance + epsilon) + bias, per channel.
public struct BatchNormalization: Sendable, Equatable {
    public var scale: [Float]
    public var bias: [Float]
    public var mean: [Float]
    public var variance: [Float]
    public var epsilon: Float

    public init(scale: [Float], bias: [Float], mean: [Float], variance: [Float], epsilon: Float = 1e-5) {
        self.scale = scale
        self.bias = bias
        self.mean = mean
        self.variance = variance
        self.epsilon = epsilon
    }
}

/// MaxPool / AveragePool, ONNX semantics (2-D).
public struct Pooling: Sendable, Equatable {
    public var kernel: (Int, Int)
    public var strides: (Int, Int)
    public var pads: (top: Int, left: Int, bottom: Int, right: Int)
    public var ceilMode: Bool
    /// AveragePool only: whether padded cells count in the divisor.
    public var countIncludePad: Bool

    public init(
        kernel: (Int, Int), strides: (Int, Int) = (1, 1), pads: (top: Int, left: Int, bottom: Int, right: Int) = (0, 0, 0, 0),
        ceilMode: Bool = false, countIncludePad: Bool = false
    ) {
        self.kernel = kernel
        self.strides = strides
        self.pads = pads
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }

    public static func == (a: Pooling, b: Pooling) -> Bool {
        a.kernel == b.kernel && a.strides == b.strides && a.pads == b.pads && a.ceilMode == b.ceilMode
            && a.countIncludePad == b.countIncludePad
    }
}

/// Fully connected layer, ONNX `Gemm` with transA = 0: y = x * W' + bias, where W' = transB ? W^T : W.
/// The weight is stored as given in the file together with `transB`.
public struct FullyConnected: Sendable, Equatable {
    /// [outFeatures, inFeatures] when transB, else [inFeatures, outFeatures]
    public var weight: Tensor
    public var bias: Tensor?
    public var transB: Bool
    public var alpha: Float
    public var beta: Float
    /// Set when `weight` holds int8 values times one scale per output feature (a QDQ file's
    /// DequantizeLinear), so that the layer may run on the int8 kernels.
    public var weightScales: [Float]? = nil

    public init(weight: Tensor, bias: Tensor? = nil, transB: Bool = true, alpha: Float = 1, beta: Float = 1) {
        self.weight = weight
        self.bias = bias
        self.transB = transB
        self.alpha = alpha
        self.beta = beta
    }
}

/// One operation of the graph. Constant parameters (weights) live inside the operation;
/// element-wise binary operations may also take a constant operand from `Graph.constants`.
public enum Operation: Sendable, Equatable {
    case convolution(Convolution)
    case batchNormalization(BatchNormalization)
    case activation(Activation)
    /// Numpy-style broadcasting binary operations (two inputs).
    case add
    case mul
    case maxPool(Pooling)
    case averagePool(Pooling)
    case globalAveragePool
    case concat(axis: Int)
    /// Constant-mode padding; pads in ONNX order [x1_begin, x2_begin, ..., x1_end, x2_end, ...].
    case pad(pads: [Int], value: Float)
    case flatten(axis: Int)
    /// Target shape with ONNX rules already resolved except 0 (copy) and -1 (infer).
    case reshape(shape: [Int])
    case fullyConnected(FullyConnected)
    /// MatMul of the input with a constant matrix [K, N] (a constant-weight MatMul, as PyTorch exports Linear).
    case matMul(weight: Tensor)
    case softmax(axis: Int)
    /// ReduceMin / ReduceMax over one axis, which stays with size 1 (keepdims).
    case reduce(Reduction, axis: Int)
    /// Resize of an NCHW tensor's two spatial axes to a fixed size, bilinear with half-pixel centres
    /// (ONNX Resize mode "linear", coordinate_transformation_mode "half_pixel"; PyTorch's align_corners=False).
    case resize(height: Int, width: Int)
    case identity
}

/// What a reduction keeps of the values along its axis.
public enum Reduction: String, Sendable, Equatable {
    case min
    case max
}

/// A node: one operation applied to named values, producing named values.
public struct Node: Sendable, Equatable {
    public var name: String
    public var operation: Operation
    public var inputs: [String]
    public var outputs: [String]

    public init(name: String, operation: Operation, inputs: [String], outputs: [String]) {
        self.name = name
        self.operation = operation
        self.inputs = inputs
        self.outputs = outputs
    }
}

/// A graph input. `shape[0]` is the batch dimension, which may be left open (`nil`).
public struct GraphInput: Sendable, Equatable {
    public var name: String
    public var shape: [Int?]

    public init(name: String, shape: [Int?]) {
        self.name = name
        self.shape = shape
    }
}

/// A whole network: inputs, nodes in topological order, named constants and outputs.
public struct Graph: Sendable, Equatable {
    public var name: String
    public var inputs: [GraphInput]
    public var nodes: [Node]
    /// Constant tensors referenced by name from node inputs (e.g. the operand of Mul/Add).
    public var constants: [String: Tensor]
    public var outputs: [String]

    public init(name: String = "graph", inputs: [GraphInput], nodes: [Node], constants: [String: Tensor] = [:], outputs: [String]) {
        self.name = name
        self.inputs = inputs
        self.nodes = nodes
        self.constants = constants
        self.outputs = outputs
    }
}
