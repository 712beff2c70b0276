import AugeEngine

/// What a value of the ONNX graph is at load time: computed by the engine at run time (with its
/// shape, the batch left symbolic), or known now and folded.
enum ImportedValue {
    case runtime([SymbolicInt])
    case constant(ConstantTensor)
    /// A QuantizeLinear's output, which only a DequantizeLinear may read.
    case quantized(QuantizedValue)
}

/// Turns an ONNX GraphProto into the engine's Graph: checks the structure, folds everything known at
/// load time (Constant nodes, shape arithmetic) and maps the remaining nodes to engine operations,
/// tracking every runtime shape so that impossible ones are refused here, naming the node.
struct GraphImporter {
    /// Operators in the default domain the importer reads; some only on load-time constants.
    static let supportedOperators = Set(ONNXOperator.allCases.map(\.rawValue))

    let file: String
    let opset: Int
    let maximumElements: Int

    var values: [String: ImportedValue] = [:]
    var nodes: [Node] = []
    var constants: [String: Tensor] = [:]
    /// Every value and node name in use, so helper values never collide with the file's names.
    var names = NameTable([])
    /// How many node inputs and graph outputs read each value.
    var readers: [String: Int] = [:]

    init(file: String, opset: Int, maximumElements: Int) {
        self.file = file
        self.opset = opset
        self.maximumElements = maximumElements
    }

    func fail(_ kind: ONNXError.Kind, _ message: String) -> ONNXError {
        ONNXError(kind, file: file, message)
    }

    mutating func importGraph(_ proto: Onnx_GraphProto) throws -> Graph {
        try refuseUnsupportedOperators(proto.node)
        let decoder = TensorDecoder(file: file, maximumElements: maximumElements)
        for initializer in proto.initializer {
            guard values[initializer.name] == nil else { throw fail(.invalidGraph, "initializer '\(initializer.name)' is defined twice") }
            values[initializer.name] = .constant(try decoder.decode(initializer))
        }
        var inputs: [GraphInput] = []
        for input in proto.input where values[input.name] == nil {
            let shape = try inputShape(input)
            inputs.append(GraphInput(name: input.name, shape: shape.map(\.knownValue)))
            values[input.name] = .runtime(shape)
        }
        guard !inputs.isEmpty else { throw fail(.invalidGraph, "the graph has no runtime input (every input is an initializer)") }
        names = NameTable(Set(values.keys).union(proto.node.flatMap(\.output)).union(proto.node.map(\.name)))

        let ordered = try topologicalOrder(proto.node)
        for node in proto.node {
            for input in node.input where !input.isEmpty { readers[input, default: 0] += 1 }
        }
        for output in proto.output { readers[output.name, default: 0] += 1 }
        for index in ordered {
            let scope = NodeScope(proto: proto.node[index], index: index, file: file)
            do {
                try importNode(scope)
            } catch let error as ONNXError {
                throw error
            } catch let error as ShapeRules.Mismatch {
                throw scope.fail(.invalidShape, error.reason)
            } catch let error as SymbolicInt.Unrepresentable {
                throw scope.fail(.unsupportedOperator, error.reason)
            }
        }

        var outputs: [String] = []
        for output in proto.output {
            switch values[output.name] {
            case nil:
                throw fail(.invalidGraph, "graph output '\(output.name)' is not produced by any node")
            case .constant:
                throw fail(.unsupportedOperator, "graph output '\(output.name)' is a constant; the engine only outputs computed tensors")
            case .quantized:
                throw fail(.unsupportedOperator, "graph output '\(output.name)' is quantized; Auge outputs float tensors (add a DequantizeLinear)")
            case .runtime(let shape):
                if inputs.contains(where: { $0.name == output.name }) {
                    // An output that is an input unchanged still needs a node writing it.
                    let copy = names.unique(output.name + "/copy")
                    values[copy] = .runtime(shape)
                    nodes.append(Node(name: copy, operation: .identity, inputs: [output.name], outputs: [copy]))
                    outputs.append(copy)
                } else {
                    outputs.append(output.name)
                }
            }
        }
        return Graph(name: proto.name.isEmpty ? "graph" : proto.name, inputs: inputs, nodes: nodes, constants: constants, outputs: outputs)
    }

    /// One error listing every operator the importer cannot read, so a user sees the whole gap at once.
    private func refuseUnsupportedOperators(_ protoNodes: [Onnx_NodeProto]) throws {
        let unsupported = protoNodes.enumerated().filter { _, node in
            !(node.domain.isEmpty || node.domain == "ai.onnx") || !Self.supportedOperators.contains(node.opType)
        }
        guard !unsupported.isEmpty else { return }
        let list = unsupported.map { index, node in
            let op = node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain).\(node.opType)"
            return node.name.isEmpty ? "#\(index) (\(op))" : "'\(node.name)' (\(op))"
        }
        throw fail(
            .unsupportedOperator,
            "unsupported operators at opset \(opset): \(list.joined(separator: ", ")). Auge reads \(Self.supportedOperators.sorted().joined(separator: ", ")).")
    }

    private func inputShape(_ input: Onnx_ValueInfoProto) throws -> [SymbolicInt] {
        guard case .tensorType(let tensorType) = input.type.value else {
            throw fail(.unsupportedOperator, "graph input '\(input.name)' is not a tensor")
        }
        guard tensorType.elemType == Onnx_TensorProto.DataType.float.rawValue else {
            throw fail(.unsupportedOperator, "graph input '\(input.name)' has element type \(typeName(Int(tensorType.elemType))); Auge's inputs are FLOAT")
        }
        guard tensorType.hasShape, !tensorType.shape.dim.isEmpty else {
            throw fail(.invalidShape, "graph input '\(input.name)' declares no shape; Auge needs every dimension but the batch")
        }
        var shape: [SymbolicInt] = []
        for (axis, dim) in tensorType.shape.dim.enumerated() {
            switch dim.value {
            case .dimValue(let value) where value > 0:
                shape.append(.known(Int(value)))
            case .dimParam where axis == 0, nil where axis == 0:
                shape.append(.batch)
            default:
                let shown =
                    switch dim.value {
                    case .dimValue(let value): String(value)
                    case .dimParam(let name): "'\(name)'"
                    case nil: "unknown"
                    }
                throw fail(.invalidShape, "graph input '\(input.name)' has dimension \(shown) at axis \(axis); only the batch (axis 0) may be open, the others must be positive sizes")
            }
        }
        guard let perBatch = SymbolicInt.product(shape), perBatch.coefficient <= maximumElements else {
            throw fail(.limitExceeded, "graph input '\(input.name)' of shape \(shape) has more than the \(maximumElements) elements Auge accepts in one tensor")
        }
        return shape
    }

    /// Node indices in an order where every value is produced before it is read (ONNX requires
    /// files to be sorted already; this also accepts unsorted ones and refuses dangling inputs and cycles).
    private func topologicalOrder(_ protoNodes: [Onnx_NodeProto]) throws -> [Int] {
        var producer: [String: Int] = [:]
        for (index, node) in protoNodes.enumerated() {
            for output in node.output where !output.isEmpty {
                if let first = producer[output] {
                    throw NodeScope(proto: node, index: index, file: file).fail(
                        .invalidGraph, "value '\(output)' is defined twice: also by node \(NodeScope.label(protoNodes[first], index: first))")
                }
                if values[output] != nil {
                    throw NodeScope(proto: node, index: index, file: file).fail(
                        .invalidGraph, "value '\(output)' is defined twice: also an initializer or graph input")
                }
                producer[output] = index
            }
        }
        var waitingOn = Array(repeating: 0, count: protoNodes.count)
        var consumers: [Int: [Int]] = [:]
        for (index, node) in protoNodes.enumerated() {
            for input in Set(node.input) where !input.isEmpty {
                if let source = producer[input] {
                    waitingOn[index] += 1
                    consumers[source, default: []].append(index)
                } else if values[input] == nil {
                    throw NodeScope(proto: node, index: index, file: file).fail(
                        .invalidGraph, "input '\(input)' is not produced by any node, initializer or graph input")
                }
            }
        }
        var ready = protoNodes.indices.filter { waitingOn[$0] == 0 }
        var order: [Int] = []
        while !ready.isEmpty {
            let index = ready.removeFirst()
            order.append(index)
            for consumer in consumers[index, default: []] {
                waitingOn[consumer] -= 1
                // Lowest index first, so a file that is already sorted keeps its order.
                if waitingOn[consumer] == 0 { ready.insert(consumer, at: ready.firstIndex(where: { $0 > consumer }) ?? ready.count) }
            }
        }
        guard order.count == protoNodes.count else {
            let stuck = protoNodes.indices.filter { waitingOn[$0] > 0 }.map { NodeScope.label(protoNodes[$0], index: $0) }
            throw fail(.invalidGraph, "the graph has a cycle: nodes \(stuck.joined(separator: ", ")) wait on each other")
        }
        return order
    }

    // MARK: Helpers for the operator mappings

    /// Appends an engine node writing one runtime value of `shape`.
    mutating func emit(
        _ scope: NodeScope, _ operation: Operation, inputs: [String], output: String, shape: [SymbolicInt],
        name: String? = nil
    ) throws {
        guard let perBatch = SymbolicInt.product(shape), perBatch.coefficient <= maximumElements, perBatch.coefficient > 0 else {
            throw scope.fail(.limitExceeded, "output shape \(shape) is empty or has more than \(maximumElements) elements")
        }
        nodes.append(Node(name: name ?? scope.engineName, operation: operation, inputs: inputs, outputs: [output]))
        values[output] = .runtime(shape)
    }

    func runtimeShape(_ scope: NodeScope, _ name: String) throws -> [SymbolicInt] {
        if case .quantized = values[name] {
            throw scope.fail(.unsupportedOperator, "reads '\(name)', a QuantizeLinear's output: Auge runs a QuantizeLinear only when DequantizeLinear reads it")
        }
        guard case .runtime(let shape) = values[name] else {
            throw scope.fail(.unsupportedOperator, "input '\(name)' is a constant where the engine needs a computed tensor")
        }
        return shape
    }

    func constant(_ scope: NodeScope, _ name: String, _ role: String) throws -> ConstantTensor {
        guard case .constant(let tensor) = values[name] else {
            throw scope.fail(.unsupportedOperator, "\(role) '\(name)' is computed at run time; Auge needs it constant")
        }
        return tensor
    }

    func floatConstant(_ scope: NodeScope, _ name: String, _ role: String) throws -> Tensor {
        let value = try constant(scope, name, role)
        guard let tensor = value.engineTensor else { throw scope.fail(.invalidTensor, "\(role) '\(name)' is an integer tensor, expected float") }
        return tensor
    }

    func integerConstant(_ scope: NodeScope, _ name: String, _ role: String) throws -> [Int] {
        let value = try constant(scope, name, role)
        guard let integers = value.knownIntegers else {
            throw scope.fail(.invalidTensor, "\(role) '\(name)' must hold known integers, it holds \(value.typeName) values")
        }
        return integers
    }

    func isConstant(_ name: String) -> Bool {
        if case .constant = values[name] { return true }
        return false
    }

    /// The engine's Reshape target for going from `input` to `output`: sizes where known, 0 to copy
    /// an open batch in place, -1 where the batch is folded into a dimension.
    func reshapeTarget(from input: [SymbolicInt], to output: [SymbolicInt]) -> [Int] {
        output.enumerated().map { axis, dim in
            if let known = dim.knownValue { return known }
            return axis == 0 && input.first == dim ? 0 : -1
        }
    }
}

/// The node being imported: its inputs and attributes, and errors that name it.
struct NodeScope {
    let proto: Onnx_NodeProto
    let index: Int
    let file: String

    var op: String { proto.opType }
    var attributes: Attributes { Attributes(proto.attribute, fail: { fail(.invalidGraph, $0) }) }
    /// The node's name in the engine graph: its own, or one made from its position.
    var engineName: String { proto.name.isEmpty ? "\(proto.opType)_\(index)" : proto.name }
    var output: String { proto.output.first ?? "" }

    /// Input `position`, nil when absent or left empty (an omitted optional input).
    func input(_ position: Int) -> String? {
        position < proto.input.count && !proto.input[position].isEmpty ? proto.input[position] : nil
    }

    func requiredInput(_ position: Int, _ role: String) throws -> String {
        guard let name = input(position) else { throw fail(.invalidGraph, "has no \(role) input (input \(position))") }
        return name
    }

    static func label(_ node: Onnx_NodeProto, index: Int) -> String {
        node.name.isEmpty ? "#\(index) (\(node.opType))" : "'\(node.name)' (\(node.opType))"
    }

    func fail(_ kind: ONNXError.Kind, _ message: String) -> ONNXError {
        ONNXError(kind, file: file, node: Self.label(proto, index: index), message)
    }
}
