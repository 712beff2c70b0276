/// How the engine computes one convolution. Chosen once per layer by `choose(for:inputIsChannelsLast:)`
/// and kept in the layer's description (`auge info` prints it, tests assert it).
public enum ConvolutionAlgorithm: Sendable, Hashable, CustomStringConvertible {
    /// One filter per channel (groups == input channels == output channels).
    case depthwise
    /// Winograd F(m x m, 3x3) for 3x3 stride-1 convolutions with enough channels and pixels; `tile` is m.
    case winograd(tile: Int)
    /// A 1x1 stride-1 unpadded convolution: a plain GEMM on the channels-last input, no copy.
    case gemm
    /// A layer with at most 4 input channels reading a planar (NCHW) input, e.g. the network's first.
    case firstLayerPlanar
    /// Every other convolution: GEMM over a zero-padded channels-last copy of the input.
    case implicitGemm
    /// A quantized model's ungrouped convolution on uint8 codes: the int8 GEMM (`Int8GemmPath`).
    case int8Gemm
    /// A quantized model's depthwise convolution on uint8 codes.
    case int8Depthwise

    /// The algorithm for `geometry`, given whether the input is already available channels-last.
    static func choose(for geometry: ConvolutionGeometry, inputIsChannelsLast: Bool) -> ConvolutionAlgorithm {
        let g = geometry
        if g.groups > 1 && g.groups == g.inChannels && g.groups == g.outChannels { return .depthwise }
        if WinogradStep.applies(to: g) { return .winograd(tile: WinogradStep.tileSize(for: g)) }
        if ConvolutionGemmStep.readsDirectly(g) { return .gemm }
        if !inputIsChannelsLast && ConvolutionGemmStep.isFirstLayer(g, sourceLayout: .plain) { return .firstLayerPlanar }
        return .implicitGemm
    }

    /// The layout the algorithm reads its input in.
    func sourceLayout(inputIsChannelsLast: Bool) -> Layout {
        switch self {
        case .depthwise, .gemm: .channelsLast
        case .firstLayerPlanar: .plain
        case .winograd, .implicitGemm: inputIsChannelsLast ? .channelsLast : .plain
        case .int8Gemm, .int8Depthwise: .codes
        }
    }

    public var description: String {
        switch self {
        case .depthwise: "depthwise"
        case let .winograd(tile): "winograd \(tile)x\(tile)"
        case .gemm: "gemm"
        case .firstLayerPlanar: "first layer, planar"
        case .implicitGemm: "implicit gemm"
        case .int8Gemm: "int8 gemm"
        case .int8Depthwise: "int8 depthwise"
        }
    }
}
