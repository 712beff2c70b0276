import Foundation

/// Makes "decide, log, move" exactly-once across crashes (kill -9, power cut).
///
/// Parts are handled one at a time. Before anything visible happens, the intent (the record to log and
/// where the file goes) is appended to the journal `.auge-journal`, durably. Then the record is appended
/// to results.jsonl (synced) and the file is moved; once the move is durable a `done` line follows the
/// intent. The `done` line needs no sync of its own: the next intent's sync carries it, and an intent
/// found open after a crash is completed idempotently. At start, the last intent, if open, is completed:
/// a torn last line of results.jsonl is cut off, the record is appended unless it is already the last
/// line, the move is done unless it already was. So every input ends in exactly one place with exactly
/// one record, and a part costs two file syncs before its record is out, plus the folder syncs after.
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

    /// One journal line: an intent, or the id of an intent that is complete.
    private struct Entry: Codable {
        var intent: Intent?
        var done: String?
    }

    let journalPath: String
    let resultsPath: String
    /// With --keep: files already handled, "name<TAB>size<TAB>mtime" per line, so a restart does not redo them.
    let keptLedgerPath: String
    private var results: FileHandle
    private var journal: FileHandle
    private var journalBytes: UInt64 = 0
    private var keptLedger: Set<String> = []
    /// One watcher per output folder: taken before anything in it is read or changed.
    private let lock: FolderLock
    /// Above this size the journal is emptied between parts (every intent in it is complete then).
    private let journalLimit: UInt64 = 1 << 20

    init(outputFolder: String) throws {
        journalPath = (outputFolder as NSString).appendingPathComponent(".auge-journal")
        resultsPath = (outputFolder as NSString).appendingPathComponent("results.jsonl")
        keptLedgerPath = (outputFolder as NSString).appendingPathComponent(".auge-kept")
        try FileManager.default.createDirectory(atPath: outputFolder, withIntermediateDirectories: true)
        for path in [resultsPath, keptLedgerPath, journalPath] where !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw WatchError(description: "cannot create \(path)") }
        }
        syncDirectory(of: journalPath)
        lock = try FolderLock(path: journalPath, what: "the output folder \(outputFolder)")
        try Self.cutTornLastLine(resultsPath)
        results = try FileHandle(forUpdating: URL(fileURLWithPath: resultsPath))
        try results.seekToEnd()
        journal = try FileHandle(forUpdating: URL(fileURLWithPath: journalPath))
        journalBytes = try journal.seekToEnd()
        if let data = readWholeFile(keptLedgerPath) {
            keptLedger = Set(String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init))
        }
    }

    /// Completes the intent a crash left open, then empties the journal. Returns what was completed, for the log.
    /// A damaged journal never moves a file from outside `inbox` or to outside the output folder.
    func recover(inbox: String) throws -> Intent? {
        let open = openIntent() ?? legacyPendingIntent()
        if let intent = open {
            let outputFolder = (journalPath as NSString).deletingLastPathComponent
            guard Self.isPath(intent.source, inside: inbox), intent.target.map({ Self.isPath($0, inside: outputFolder) }) ?? true else {
                throw WatchError(
                    description: "\(journalPath) is damaged: its open entry moves \(intent.source) to \(intent.target ?? "nowhere"), "
                        + "outside the inbox \(inbox) or the output folder; look at it, then remove it to start")
            }
            if !lastLineHasID(intent.id) { try appendRecord(intent.line) }
            try complete(intent)
        }
        try emptyJournal()
        if FileManager.default.fileExists(atPath: legacyPendingPath) {
            try FileManager.default.removeItem(atPath: legacyPendingPath)
            syncDirectory(of: legacyPendingPath)
        }
        return open
    }

    /// Runs one part through intent -> record -> move. The part is placed when this returns;
    /// `settle` makes the move durable and closes the intent before the next part.
    func place(_ intent: Intent) throws {
        if journalBytes > journalLimit { try emptyJournal() }
        try appendToJournal(Entry(intent: intent), sync: true)
        try appendRecord(intent.line)
        try move(intent)
    }

    /// Syncs the folders the last placement changed and marks its intent done.
    func settle(_ intent: Intent) throws {
        if let target = intent.target {
            syncDirectory(of: target)
            syncDirectory(of: intent.source)
        }
        try appendToJournal(Entry(done: intent.id), sync: false)
    }

    func isKept(_ path: String) -> Bool {
        keptLedger.contains(ledgerKey(path) ?? "")
    }

    /// Moves the file to its target (or, with --keep, adds it to the ledger); does nothing when already done.
    private func move(_ intent: Intent) throws {
        if let target = intent.target {
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if let sidecar = intent.sidecar {
                try writeDurably(Data(sidecar.utf8), to: target + ".error.txt")
            }
            if FileManager.default.fileExists(atPath: intent.source) {
                try moveFile(intent.source, to: target)
            }
        } else if let key = ledgerKey(intent.source), !keptLedger.contains(key) {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: keptLedgerPath, isDirectory: false))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data((key + "\n").utf8))
            try handle.synchronize()
            keptLedger.insert(key)
        }
    }

    private func complete(_ intent: Intent) throws {
        try move(intent)
        try settle(intent)
    }

    /// Whether `path` lies inside `folder`, with `..` and the symlinks of the folders it names resolved.
    static func isPath(_ path: String, inside folder: String) -> Bool {
        func resolved(_ path: String) -> String {
            URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        }
        let parent = resolved((URL(fileURLWithPath: path).standardizedFileURL.path as NSString).deletingLastPathComponent)
        let root = resolved(folder)
        let name = (path as NSString).lastPathComponent
        return (parent == root || parent.hasPrefix(root + "/")) && !name.isEmpty && name != ".." && name != "."
    }

    /// The last intent in the journal, unless a `done` line follows it. A torn last line (a crash while
    /// appending the intent) is ignored: nothing after it happened.
    private func openIntent() -> Intent? {
        guard let data = readWholeFile(journalPath) else { return nil }
        var last: Intent?
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let entry = try? JSONDecoder().decode(Entry.self, from: line) else { continue }
            if let intent = entry.intent { last = intent }
            if let done = entry.done, done == last?.id { last = nil }
        }
        return last
    }

    /// Versions before the journal kept the open intent in `.auge-pending.json`; one left by a crash
    /// before an upgrade is taken over.
    private func legacyPendingIntent() -> Intent? {
        readWholeFile(legacyPendingPath).flatMap { try? JSONDecoder().decode(Intent.self, from: $0) }
    }

    private var legacyPendingPath: String {
        ((journalPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(".auge-pending.json")
    }

    private func appendToJournal(_ entry: Entry, sync: Bool) throws {
        var bytes = try JSONEncoder().encode(entry)
        bytes.append(UInt8(ascii: "\n"))
        try journal.write(contentsOf: bytes)
        journalBytes += UInt64(bytes.count)
        if sync { try dataSync(journal) }
    }

    private func emptyJournal() throws {
        try journal.truncate(atOffset: 0)
        try journal.synchronize()
        journalBytes = 0
    }

    private func ledgerKey(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\((path as NSString).lastPathComponent)\t\(info.st_size)\t\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }

    private func appendRecord(_ line: String) throws {
        try results.write(contentsOf: Data((line + "\n").utf8))
        try dataSync(results)
    }

    /// Flushes an appended file's data (and its size), not its timestamps.
    private func dataSync(_ handle: FileHandle) throws {
        #if os(Linux)
            guard fdatasync(handle.fileDescriptor) == 0 else {
                throw WatchError(description: "cannot sync: \(String(validatingCString: strerror(errno)) ?? "")")
            }
        #else
            try handle.synchronize()
        #endif
    }

    /// The target name was reserved by the intent, so replacing a partial copy there is right.
    /// The folders are synced later, in `settle`.
    private func moveFile(_ source: String, to target: String) throws {
        if rename(source, target) != 0 {
            guard errno == EXDEV else {
                throw WatchError(description: "cannot move \(source) to \(target): \(String(validatingCString: strerror(errno)) ?? "")")
            }
            // Another file system: copy durably, then remove the source.
            try writeDurably(Data(contentsOf: URL(fileURLWithPath: source)), to: target)
            try FileManager.default.removeItem(atPath: source)
        }
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

/// The whole file, nil when it cannot be opened. (Foundation 6.3's FileManager.contents(atPath:) and
/// String(contentsOfFile:) leak a 4 KiB buffer on every empty file, and the journal files start empty.)
func readWholeFile(_ path: String) -> Data? {
    guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? handle.close() }
    return (try? handle.readToEnd()) ?? Data()
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
