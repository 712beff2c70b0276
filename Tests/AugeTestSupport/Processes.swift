import Foundation

/// What a finished process left: its exit status and everything it wrote.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs `executable` to its end with both outputs captured: the one process runner of the test targets
/// (the `auge` binary, Python with ONNX Runtime, system tools).
public func runProcess(
    _ executable: URL, _ arguments: [String], in directory: URL? = nil,
    environment: [String: String] = [:]
) throws -> ProcessResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Standard error is drained on another thread while standard output is read, so a chatty process
    // cannot block on either pipe filling up.
    let errors = Drain(err.fileHandleForReading)
    Thread.detachNewThread { errors.run() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    errors.done.wait()
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errors.data, as: UTF8.self))
}

/// Reads a pipe to its end on another thread; `data` is complete once `done` is signalled.
private final class Drain: @unchecked Sendable {
    let handle: FileHandle
    let done = DispatchSemaphore(value: 0)
    var data = Data()

    init(_ handle: FileHandle) { self.handle = handle }

    func run() {
        data = handle.readDataToEndOfFile()
        done.signal()
    }
}
