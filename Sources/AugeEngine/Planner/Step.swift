// The executable form of a plan: steps holding raw pointers into the arena and their packed weights.

/// How the engine stores a value. Plain is the logical row-major (NCHW) order; channels-last is
/// NHWC with the channel stride rounded up to the vector width (`paddedChannels`), for rank-4 values.
enum Layout: Hashable {
    case plain
    case channelsLast
}

protocol Step: AnyObject {
    func execute(pool: ThreadPool)
}
