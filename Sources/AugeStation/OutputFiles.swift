import Foundation

/// The only files the station serves: regular files inside the output folder, after every symlink is
/// resolved. Everything else (`..`, encoded or not, absolute paths, links that lead out) is refused.
public struct OutputFiles: Sendable {
    /// The output folder with symlinks resolved; every served file's real path starts with it.
    public let root: String

    public init(outputFolder: String) {
        root = Self.realPath(outputFolder) ?? URL(fileURLWithPath: outputFolder).standardizedFileURL.path
    }

    /// The real path of the file a `/files/...` URL path names (percent-encoded, relative to the root), or nil.
    public func resolve(urlPath: String) -> String? {
        guard let decoded = urlPath.removingPercentEncoding, !decoded.contains("\0") else { return nil }
        let components = decoded.split(separator: "/", omittingEmptySubsequences: true)
        guard !components.isEmpty, !components.contains(where: { $0 == ".." || $0 == "." }) else { return nil }
        let joined = (root as NSString).appendingPathComponent(components.joined(separator: "/"))
        guard let real = Self.realPath(joined), real.hasPrefix(root + "/") else { return nil }
        var info = stat()
        guard stat(real, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return real
    }

    /// The `/files/...` URL of a path a record names, when it lies inside the root. Relative paths are
    /// tried from the working folder, then as the root's own `<folder>/<name>` (a station started elsewhere).
    public func url(for path: String?) -> String? {
        guard let path, !path.isEmpty else { return nil }
        var candidates = [path]
        let components = path.split(separator: "/")
        if components.count >= 2 { candidates.append((root as NSString).appendingPathComponent(components.suffix(2).joined(separator: "/"))) }
        for candidate in candidates {
            guard let real = Self.realPath(candidate), real.hasPrefix(root + "/") else { continue }
            let relative = real.dropFirst(root.count + 1).split(separator: "/").map {
                $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? String($0)
            }
            return "/files/" + relative.joined(separator: "/")
        }
        return nil
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    public static func contentType(of path: String) -> String {
        switch (path as NSString).pathExtension.lowercased() {
        case "jpg", "jpeg": return "image/jpeg"
        case "png": return "image/png"
        case "bmp": return "image/bmp"
        case "tif", "tiff": return "image/tiff"
        case "webp": return "image/webp"
        case "txt": return "text/plain; charset=utf-8"
        case "json", "jsonl": return "application/json"
        default: return "application/octet-stream"
        }
    }
}
