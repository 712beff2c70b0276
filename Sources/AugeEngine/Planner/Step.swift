// The executable form of a plan: steps holding raw pointers into the arena and their packed weights.

/// How the engine stores a value. Plain is the logical row-major (NCHW) order; channels-last is
/// NHWC with the channel stride rounded up to the vector width (`paddedChannels`), for rank-4 values;
/// codes are a quantized value's uint8 codes in the channels-last order (one byte per element).
enum Layout: Hashable {
    case plain
    case channelsLast
    case codes
}

/// A shape seen along one axis: the elements before it, along it and after it ([outer][length][inner]).
func axisSplit(_ shape: [Int], axis: Int) -> (outer: Int, length: Int, inner: Int) {
    (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
}

protocol Step: AnyObject {
    func execute(pool: ThreadPool)
}
