import Foundation

/// Turns command-line paths (files and folders) into the list of photos to inspect.
///
/// Folders are walked recursively in sorted order. Files with an image extension are taken (an
/// unsupported one such as .gif then gets an error record, so nobody is left wondering why it was
/// ignored); hidden files and other files (Thumbs.db, notes.txt) are skipped and counted. Paths named
/// explicitly are always taken. Symbolic links are followed, but a folder is never entered twice, so
/// link loops end.
public struct FileWalk: Sendable {
    public struct Result: Sendable, Equatable {
        public var files: [String] = []
        /// Files passed over because they are not photos.
        public var skipped: [String] = []
        /// Paths that do not exist or folders that cannot be listed, with why.
        public var problems: [(path: String, reason: String)] = []

        public static func == (a: Result, b: Result) -> Bool {
            a.files == b.files && a.skipped == b.skipped && a.problems.map(\.path) == b.problems.map(\.path)
        }
    }

    /// Extensions (lower case) of files that are meant to be photos.
    public static let imageExtensions: Set<String> = [
        "jpg", "jpeg", "jpe", "jfif", "png", "gif", "bmp", "tif", "tiff", "webp", "heic", "heif", "avif", "jp2",
    ]

    public init() {}

    public static func looksLikePhoto(_ name: String) -> Bool {
        guard !name.hasPrefix(".") else { return false }
        return imageExtensions.contains((name as NSString).pathExtension.lowercased())
    }

    public func collect(_ paths: [String]) -> Result {
        var result = Result()
        var visited = Set<FolderIdentity>()
        for path in paths {
            var info = stat()
            guard stat(path, &info) == 0 else {
                result.problems.append((path, String(validatingCString: strerror(errno)) ?? "cannot stat"))
                continue
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                walk(folder: path, into: &result, visited: &visited)
            } else {
                result.files.append(path)
            }
        }
        return result
    }

    private struct FolderIdentity: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    private func walk(folder: String, into result: inout Result, visited: inout Set<FolderIdentity>) {
        var info = stat()
        guard stat(folder, &info) == 0 else { return }
        guard visited.insert(FolderIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))).inserted else { return }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        } catch {
            result.problems.append((folder, "cannot list folder"))
            return
        }
        for name in names {
            let path = folder.hasSuffix("/") ? folder + name : folder + "/" + name
            var entry = stat()
            if stat(path, &entry) == 0, (entry.st_mode & S_IFMT) == S_IFDIR {
                if !name.hasPrefix(".") { walk(folder: path, into: &result, visited: &visited) }
            } else if Self.looksLikePhoto(name) {
                result.files.append(path)
            } else {
                result.skipped.append(path)
            }
        }
    }
}
