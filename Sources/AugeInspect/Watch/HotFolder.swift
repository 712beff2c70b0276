import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Finds the photos that are ready in a hot folder: files a producer has finished writing.
///
/// With inotify (Linux), a file is ready when it is closed after writing (`IN_CLOSE_WRITE`) or moved
/// in (`IN_MOVED_TO`); when the kernel's event queue overflows, the folder is rescanned. In polling
/// mode (network shares, where inotify sees nothing, and other platforms) a file is ready once its
/// size and modification time have not changed for `settle` seconds. Temporary names (`*.tmp`,
/// `*.part`, `~*`, dot-files, or the configured patterns) are never taken. Waiting blocks in poll(2):
/// no spinning, no CPU while idle.
public final class HotFolder {
    public enum Mode: Sendable, Equatable {
        case inotify
        case polling(interval: Double, settle: Double)
    }

    public static let defaultIgnorePatterns = ["*.tmp", "*.part", "*.partial", "*.crdownload", "~*", ".*"]

    public let folder: String
    public let mode: Mode
    public let ignorePatterns: [String]
    /// Extra descriptor that ends a wait early when readable (a signal's self-pipe).
    private let wakeDescriptor: Int32
    private var inotifyDescriptor: Int32 = -1
    /// How often the kernel's event queue overflowed (each time the folder was rescanned).
    public private(set) var overflows = 0
    /// Polling: last seen (size, mtime) of each candidate and since when it has been unchanged.
    private var observed: [String: (size: Int64, mtime: Double, since: Double)] = [:]

    public struct HotFolderError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(folder: String, mode: Mode, ignorePatterns: [String] = HotFolder.defaultIgnorePatterns, wakeDescriptor: Int32) throws {
        var info = stat()
        guard stat(folder, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw HotFolderError(description: "\(folder) is not a folder")
        }
        self.folder = folder
        self.mode = mode
        self.ignorePatterns = ignorePatterns
        self.wakeDescriptor = wakeDescriptor
        #if os(Linux)
            if mode == .inotify {
                inotifyDescriptor = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
                guard inotifyDescriptor >= 0,
                    inotify_add_watch(inotifyDescriptor, folder, UInt32(IN_CLOSE_WRITE | IN_MOVED_TO)) >= 0
                else {
                    throw HotFolderError(description: "cannot watch \(folder) with inotify: \(String(validatingCString: strerror(errno)) ?? "")")
                }
            }
        #else
            if mode == .inotify { throw HotFolderError(description: "inotify is not available here; use --poll SECONDS") }
        #endif
    }

    deinit {
        if inotifyDescriptor >= 0 { close(inotifyDescriptor) }
    }

    public func isIgnored(_ name: String) -> Bool {
        ignorePatterns.contains { fnmatch($0, name, 0) == 0 }
    }

    /// Every file now in the folder that is not ignored, oldest first (the backlog at start).
    public func scan() -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        let files: [(path: String, mtime: Double)] = names.compactMap { name in
            guard !isIgnored(name) else { return nil }
            let path = (folder as NSString).appendingPathComponent(name)
            var info = stat()
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
            return (path, modificationTime(info))
        }
        return files.sorted { ($0.mtime, $0.path) < ($1.mtime, $1.path) }.map(\.path)
    }

    /// Blocks up to `timeout` seconds and returns the files that became ready, in arrival order.
    /// An empty answer means a timeout or a wake-up through `wakeDescriptor`.
    public func waitForReady(timeout: Double) -> [String] {
        switch mode {
        case .inotify: return waitForEvents(timeout: timeout)
        case .polling(let interval, let settle): return pollOnce(wait: min(interval, timeout), settle: settle)
        }
    }

    private func block(on descriptors: [Int32], timeout: Double) {
        var fds = descriptors.filter { $0 >= 0 }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        _ = poll(&fds, nfds_t(fds.count), Int32(max(0, timeout) * 1000))
    }

    private func waitForEvents(timeout: Double) -> [String] {
        #if os(Linux)
            block(on: [inotifyDescriptor, wakeDescriptor], timeout: timeout)
            var ready: [String] = []
            var overflow = false
            let capacity = 64 * 1024
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
            defer { buffer.deallocate() }
            while true {
                let count = read(inotifyDescriptor, buffer, capacity)
                guard count > 0 else { break }
                var offset = 0
                while offset < count {
                    let event = (buffer + offset).assumingMemoryBound(to: inotify_event.self).pointee
                    let nameLength = Int(event.len)
                    let name =
                        nameLength > 0
                        ? String(cString: (buffer + offset + MemoryLayout<inotify_event>.size).assumingMemoryBound(to: CChar.self)) : ""
                    if event.mask & UInt32(IN_Q_OVERFLOW) != 0 {
                        overflow = true
                    } else if !name.isEmpty && !isIgnored(name) && event.mask & UInt32(IN_ISDIR) == 0 {
                        ready.append((folder as NSString).appendingPathComponent(name))
                    }
                    offset += MemoryLayout<inotify_event>.size + nameLength
                }
            }
            // The kernel dropped events: whatever is in the folder now is the truth.
            guard overflow else { return ready }
            overflows += 1
            return scan()
        #else
            return []
        #endif
    }

    private func pollOnce(wait: Double, settle: Double) -> [String] {
        block(on: [wakeDescriptor], timeout: wait)
        let now = Date().timeIntervalSince1970
        var ready: [String] = []
        var present = Set<String>()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        for name in names.sorted() where !isIgnored(name) {
            let path = (folder as NSString).appendingPathComponent(name)
            var info = stat()
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            present.insert(path)
            let size = Int64(info.st_size), mtime = modificationTime(info)
            if let seen = observed[path], seen.size == size, seen.mtime == mtime {
                if now - seen.since >= settle { ready.append(path) }
            } else {
                observed[path] = (size, mtime, now)
            }
        }
        observed = observed.filter { present.contains($0.key) }
        for path in ready { observed[path] = nil }
        return ready
    }

    private func modificationTime(_ info: stat) -> Double {
        Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
    }
}
