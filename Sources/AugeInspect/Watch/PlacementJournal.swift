import Foundation

/// Makes "decide, log, move" exactly-once across crashes (kill -9, power cut).
///
/// Parts are handled one at a time. Before anything visible happens, the intent (the record to log
/// and where the file goes) is written to a small pending file, durably. Then the record is appended
/// to results.jsonl (fsync), the file is moved, and the pending file is removed. At start, a pending
/// intent left by a crash is completed: a torn last line of results.jsonl is cut off, the record is
/// appended unless it is already the last line, the move is done unless it already was, and the
/// intent is cleared. So every input ends in exactly one place with exactly one record.
final class PlacementJournal {
    struct Intent: Codable {
        /// Unique per part; also the record's `id`, which tells whether the record was written.
        var id: String
        var source: String
        /// Where the file goes; nil when files are kept in place (`--keep`).
        var target: String?
        /// Text of the sidecar written next to the target (why a photo could not be read).
        var sidecar: String?
        /// The complete results.jsonl line.
        var line: String
    }

    let pendingPath: String
    let resultsPath: String
    /// With --keep: files already handled, "name<TAB>size<TAB>mtime" per line, so a restart does not redo them.
    let keptLedgerPath: String
    private var results: FileHandle
    private var keptLedger: Set<String> = []

    init(outputFolder: String) throws {
        pendingPath = (outputFolder as NSString).appendingPathComponent(".auge-pending.json")
        resultsPath = (outputFolder as NSString).appendingPathComponent("results.jsonl")
        keptLedgerPath = (outputFolder as NSString).appendingPathComponent(".auge-kept")
        try FileManager.default.createDirectory(atPath: outputFolder, withIntermediateDirectories: true)
        for path in [resultsPath, keptLedgerPath] where !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw WatchError(description: "cannot create \(path)") }
        }
        try Self.cutTornLastLine(resultsPath)
        results = try FileHandle(forUpdating: URL(fileURLWithPath: resultsPath))
        try results.seekToEnd()
        if let text = try? String(contentsOfFile: keptLedgerPath, encoding: .utf8) {
            keptLedger = Set(text.split(separator: "\n").map(String.init))
        }
    }

    /// Completes an intent a crash left behind. Returns what was completed, for the log.
    func recover() throws -> Intent? {
        guard let data = FileManager.default.contents(atPath: pendingPath) else { return nil }
        guard let intent = try? JSONDecoder().decode(Intent.self, from: data) else {
            // The pending file itself was torn: nothing after it happened, the source is still in place.
            try FileManager.default.removeItem(atPath: pendingPath)
            return nil
        }
        if !lastLineHasID(intent.id) { try appendRecord(intent.line) }
        try complete(intent)
        return intent
    }

    /// Runs one part through intent -> record -> move -> done.
    func place(_ intent: Intent) throws {
        try writeDurably(JSONEncoder().encode(intent), to: pendingPath)
        try appendRecord(intent.line)
        try complete(intent)
    }

    func isKept(_ path: String) -> Bool {
        keptLedger.contains(ledgerKey(path) ?? "")
    }

    private func complete(_ intent: Intent) throws {
        if let target = intent.target {
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if let sidecar = intent.sidecar {
                try writeDurably(Data(sidecar.utf8), to: target + ".error.txt")
            }
            if FileManager.default.fileExists(atPath: intent.source) {
                try move(intent.source, to: target)
            }
        } else if let key = ledgerKey(intent.source), !keptLedger.contains(key) {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: keptLedgerPath, isDirectory: false))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data((key + "\n").utf8))
            try handle.synchronize()
            keptLedger.insert(key)
        }
        try FileManager.default.removeItem(atPath: pendingPath)
        syncDirectory(of: pendingPath)
    }

    private func ledgerKey(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\((path as NSString).lastPathComponent)\t\(info.st_size)\t\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }

    private func appendRecord(_ line: String) throws {
        try results.write(contentsOf: Data((line + "\n").utf8))
        try results.synchronize()
    }

    /// The target name was reserved by the intent, so replacing a partial copy there is right.
    private func move(_ source: String, to target: String) throws {
        if rename(source, target) != 0 {
            guard errno == EXDEV else {
                throw WatchError(description: "cannot move \(source) to \(target): \(String(validatingCString: strerror(errno)) ?? "")")
            }
            // Another file system: copy durably, then remove the source.
            try writeDurably(Data(contentsOf: URL(fileURLWithPath: source)), to: target)
            try FileManager.default.removeItem(atPath: source)
        }
        syncDirectory(of: target)
        syncDirectory(of: source)
    }

    private func lastLineHasID(_ id: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: resultsPath) else { return false }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let tail = min(size, 1 << 16)
        try? handle.seek(toOffset: size - tail)
        let text = String(decoding: handle.readData(ofLength: Int(tail)), as: UTF8.self)
        let lastLine = text.split(separator: "\n").last.map(String.init) ?? ""
        return lastLine.contains("\"id\":\"\(id)\"")
    }

    /// A crash during an append leaves a line without its newline: cut it (its intent is still pending).
    private static func cutTornLastLine(_ path: String) throws {
        guard let handle = FileHandle(forUpdatingAtPath: path) else { return }
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        guard size > 0 else { return }
        let tail = min(size, 1 << 20)
        try handle.seek(toOffset: size - tail)
        let bytes = [UInt8](handle.readData(ofLength: Int(tail)))
        guard bytes.last != UInt8(ascii: "\n") else { return }
        let keep = bytes.lastIndex(of: UInt8(ascii: "\n")).map { size - tail + UInt64($0) + 1 } ?? (size - tail)
        try handle.truncate(atOffset: keep)
        try handle.synchronize()
    }
}

struct WatchError: Error, CustomStringConvertible {
    let description: String
}

/// Writes a file so that after a crash it is either the old one or the whole new one.
func writeDurably(_ data: Data, to path: String) throws {
    // A dot-name in the same folder: never taken for a photo, and the rename stays on one file system.
    let temporary = ((path as NSString).deletingLastPathComponent as NSString)
        .appendingPathComponent(".\((path as NSString).lastPathComponent).tmp-\(getpid())")
    guard FileManager.default.createFile(atPath: temporary, contents: data) else {
        throw WatchError(description: "cannot write \(temporary)")
    }
    let fd = open(temporary, O_RDONLY)
    if fd >= 0 { fsync(fd); close(fd) }
    guard rename(temporary, path) == 0 else {
        throw WatchError(description: "cannot write \(path): \(String(validatingCString: strerror(errno)) ?? "")")
    }
    syncDirectory(of: path)
}

/// Makes a rename or unlink in the folder holding `path` durable.
func syncDirectory(of path: String) {
    let fd = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY)
    if fd >= 0 { fsync(fd); close(fd) }
}
