@testable import AugeInspect
import Foundation

/// libFuzzer target: arbitrary bytes as the watch journal (`.auge-journal`) after a crash, with the
/// results log and `.auge-kept` ledger, replayed as `auge watch` does at start. Everything happens in
/// one scratch folder per process, named relatively (`inbox/`, `out/`) as the seeds name it; the
/// journal's recovery refuses to move anything outside the inbox and the output folder.
private let inbox = "inbox"
private let out = "out"
private let scratchReady: Bool = {
    // In memory where there is a tmpfs: the journal syncs every file it writes, which a disk makes slow.
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
    let scratch = base + "auge-fuzz-journal-\(getpid())"
    try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    return FileManager.default.changeCurrentDirectoryPath(scratch)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJournal(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    precondition(scratchReady, "cannot enter the scratch folder")
    for folder in [inbox, out] { try? FileManager.default.removeItem(atPath: folder) }
    try? FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
    try? FileManager.default.createDirectory(atPath: out + "/ok", withIntermediateDirectories: true)
    FileManager.default.createFile(atPath: inbox + "/a.png", contents: Data("photo".utf8))
    // The input, split at NULs: the journal, the results log (a torn last line is cut), the --keep ledger.
    let parts = Data(bytes: data, count: size).split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
    for (index, name) in [".auge-journal", "results.jsonl", ".auge-kept"].enumerated() {
        FileManager.default.createFile(atPath: out + "/" + name, contents: index < parts.count ? Data(parts[index]) : Data())
    }
    if let journal = try? PlacementJournal(outputFolder: out) {
        _ = try? journal.recover(inbox: inbox)
        _ = journal.isKept(inbox + "/a.png")
    }
    return 0
}
