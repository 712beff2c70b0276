import AugeTrain
import Foundation

func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Says which sub-folders of a dataset were left out, and why.
func logSkippedFolders(_ folder: ImageFolder, command: String) {
    for skipped in folder.skippedFolders {
        log("auge \(command): skipping \(folder.root)/\(skipped.name): \(skipped.reason)")
    }
}

/// Where results go: standard output or a file, line by line.
final class OutputSink {
    private let handle: FileHandle
    let isTerminal: Bool

    init(path: String?) throws {
        if let path {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CommandFailure("cannot create output file \(path)")
            }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            isTerminal = false
        } else {
            handle = .standardOutput
            isTerminal = isatty(STDOUT_FILENO) == 1
        }
    }

    func write(_ line: String) {
        handle.write(Data((line + "\n").utf8))
    }
}

/// A failure while running a command (exit 1); bad usage is ArgumentParser's ValidationError (exit 64).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The one progress bar (classify's photos, train's decoding, features and epochs): a line on standard
/// error with an optional label, the count, percentage and ETA, redrawn at most 10 times a second; drawn
/// only when enabled (by default: when standard error is a terminal).
final class ProgressBar {
    let label: String
    let total: Int
    private let enabled: Bool
    private var done = 0
    private let started = DispatchTime.now().uptimeNanoseconds
    private var lastDraw: UInt64 = 0

    init(_ label: String = "", total: Int, enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.label = label
        self.total = total
        self.enabled = enabled && total > 0
    }

    func advance() {
        update(done: done + 1)
    }

    /// Shows `done` of `total`, followed by `suffix` (e.g. the running loss).
    func update(done: Int, suffix: String = "") {
        self.done = done
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastDraw > 100_000_000 || done >= total else { return }  // at most 10 redraws per second
        lastDraw = now
        let elapsed = Double(now - started) / 1e9
        let eta = done > 0 ? elapsed / Double(done) * Double(max(0, total - done)) : 0
        let width = 30, filled = width * min(done, total) / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = String(format: "[%@] %d/%d  %3d%%  ETA %.0fs", bar, done, total, 100 * min(done, total) / total, eta)
        FileHandle.standardError.write(Data(("\r" + (label.isEmpty ? "" : label + " ") + line + suffix + "\u{1B}[K").utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// Pretty JSON on standard output (`--format json` of info and bench).
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
