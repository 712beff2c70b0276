import AugeEngine
import AugeONNX
import Foundation
import XCTest

/// Runs the real `auge` binary built next to the test bundle.
struct AugeProcess {
    static var binary: URL {
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return products.appendingPathComponent("auge")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// `launcher`, when given, starts the binary (e.g. an emulator: [path, options...]).
    static func run(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
                    launcher: [String] = [], executable: URL = binary) throws -> Result {
        let process = Process()
        process.executableURL = launcher.first.map { URL(fileURLWithPath: $0) } ?? executable
        process.arguments = launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [executable.path] + arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting, so a chatty process cannot block on a full pipe.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "python \(arguments.first ?? "") failed")
        return String(decoding: data, as: UTF8.self)
    }
}
