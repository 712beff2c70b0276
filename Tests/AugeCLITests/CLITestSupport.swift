import AugeEngine
import AugeONNX
import AugeTestSupport
import Foundation
import XCTest

/// Runs the real `auge` binary built next to the test bundle.
struct AugeProcess {
    static var binary: URL {
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return products.appendingPathComponent("auge")
    }

    typealias Result = ProcessResult

    /// `launcher`, when given, starts the binary (e.g. an emulator: [path, options...]).
    static func run(
        _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
        launcher: [String] = [], executable: URL = binary
    ) throws -> Result {
        guard let start = launcher.first else { return try runProcess(executable, arguments, in: directory, environment: environment) }
        return try runProcess(
            URL(fileURLWithPath: start), Array(launcher.dropFirst()) + [executable.path] + arguments,
            in: directory, environment: environment)
    }
}

/// The objects of a JSON-lines text, one per line.
func records(_ jsonl: String) throws -> [[String: Any]] {
    try jsonl.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
}

func temporaryFolder(_ prefix: String) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}

/// The repository's own files (fixtures of other test targets, SampleImages) for end-to-end runs.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// ONNX Runtime's class probabilities for photos at the model's input size (scripts/ort_classify.py),
/// the reference for `auge classify --scores`. Needs the project's Python venv (scripts/python-env.sh)
/// or AUGE_PYTHON; skips, saying so, without it.
struct ONNXRuntimeClassifier {
    let python: String

    init() throws {
        let path = ProcessInfo.processInfo.environment["AUGE_PYTHON"] ?? repositoryRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("no Python venv with onnxruntime (run scripts/python-env.sh): the ONNX Runtime comparison is not run")
        }
        python = path
    }

    /// Photo path to probabilities, in the model's output order.
    func probabilities(model: String, color: String, mean: String, std: String, photos: [String]) throws -> [String: [Double]] {
        let output = try run([repositoryRoot.appendingPathComponent("scripts/ort_classify.py").path, model, color, mean, std] + photos)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: [Double]])
    }

    /// The model's first output for one input tensor in a .npy file (scripts/run_onnxruntime.py,
    /// which also runs onnx.checker's full check), working in `directory`.
    func outputs(model: URL, input: URL, in directory: URL) throws -> Tensor {
        try allOutputs(model: model, input: input, in: directory)[0]
    }

    /// Every output of the model, in the graph's order, for one input tensor in a .npy file.
    func allOutputs(model: URL, input: URL, in directory: URL) throws -> [Tensor] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let inputName = try run(["-c", "import onnxruntime as o, sys; print(o.InferenceSession(sys.argv[1]).get_inputs()[0].name)", model.path])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let jobs: [[String: Any]] = [["model": model.path, "inputs": [inputName: input.path], "outdir": directory.path]]
        let jobsURL = directory.appendingPathComponent("jobs.json")
        try JSONSerialization.data(withJSONObject: jobs).write(to: jobsURL)
        _ = try run([repositoryRoot.appendingPathComponent("scripts/run_onnxruntime.py").path, jobsURL.path])
        var outputs: [Tensor] = []
        while FileManager.default.fileExists(atPath: directory.appendingPathComponent("output\(outputs.count).npy").path) {
            outputs.append(try NPY.read(contentsOf: directory.appendingPathComponent("output\(outputs.count).npy")))
        }
        return outputs
    }

    private func run(_ arguments: [String]) throws -> String {
        let result = try runProcess(URL(fileURLWithPath: python), arguments)
        XCTAssertEqual(result.status, 0, "python \(arguments.first ?? "") failed: \(result.stderr)")
        return result.stdout
    }
}
