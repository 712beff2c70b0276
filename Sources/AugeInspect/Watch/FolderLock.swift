import Foundation

/// An exclusive advisory lock (flock) held for the life of the process: the kernel drops it when the
/// process dies, however it dies, so a `kill -9` leaves no stale lock behind.
///
/// `auge watch` takes one on its inbox folder and one on its output folder's journal, so that two
/// watchers never claim the same photos or interleave lines of the same results log.
final class FolderLock {
    private let descriptor: Int32

    /// Locks `path` (a folder or a file that exists), or throws naming what holds it.
    /// `what` names the path for people, e.g. "the inbox /srv/in".
    init(path: String, what: String) throws {
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw WatchError(description: "cannot open \(what) to lock it (\(path)): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = Self.holder(of: descriptor)
            close(descriptor)
            guard reason == EWOULDBLOCK else {
                throw WatchError(description: "cannot lock \(what) (\(path)): \(String(cString: strerror(reason)))")
            }
            let who = holder.map { "process \($0)\(Self.commandLine(of: $0).map { " (\($0))" } ?? "")" } ?? "another process"
            throw WatchError(
                description: "\(what) is already used by another auge watch: \(who) holds its lock. "
                    + "Only one watcher may use an inbox or an output folder; stop that one first.")
        }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    /// The process holding an flock on the file behind `descriptor`, read from /proc/locks (Linux),
    /// whose lines read "1: FLOCK  ADVISORY  WRITE 1234 08:02:131074 0 EOF" (pid, then major:minor:inode).
    /// Matched by inode alone (overlay file systems report other device numbers there): a hint for the message.
    private static func holder(of descriptor: Int32) -> Int32? {
        var info = stat()
        guard fstat(descriptor, &info) == 0, let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        let inode = String(info.st_ino)
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = Int32(fields[4]) else { continue }
            let device = fields[5].split(separator: ":")
            if device.count == 3, device[2] == inode, pid != getpid() { return pid }
        }
        return nil
    }

    /// The holder's command line, for the message; nil where /proc does not say.
    private static func commandLine(of pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
        let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return words.joined(separator: " ")
    }
}
