/// Errors from shape inference, planning and execution. Messages name the node at fault.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    /// A node's inputs do not fit its operation.
    case invalidNode(node: String, message: String)
    /// A graph-level problem: unknown value names, missing inputs, bad input tensors.
    case invalidGraph(String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case let .invalidNode(node, message): return "node \"\(node)\": \(message)"
        case let .invalidGraph(message): return "invalid graph: \(message)"
        case let .invalidInput(message): return "invalid input: \(message)"
        }
    }
}
