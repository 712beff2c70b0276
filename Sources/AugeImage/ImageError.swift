/// Why an image could not be read. Every case names the file, so a line operator can find it.
public struct ImageError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        case unreadable(String)
        case notARegularFile
        case emptyFile
        case fileTooLarge(bytes: Int, limit: Int)
        case unsupportedFormat(String)
        case tooManyPixels(width: Int, height: Int, limit: Int)
        case corrupt(String)
    }

    public var file: String
    public var reason: Reason

    public init(file: String, reason: Reason) {
        self.file = file
        self.reason = reason
    }

    public var description: String { "\(file): \(reasonText)" }

    public var reasonText: String {
        switch reason {
        case .unreadable(let why): return "cannot read file (\(why))"
        case .notARegularFile: return "not a regular file"
        case .emptyFile: return "empty file (0 bytes)"
        case .fileTooLarge(let bytes, let limit): return "file too large (\(bytes) bytes, limit \(limit))"
        case .unsupportedFormat(let what): return "unsupported image format (\(what)); Auge reads PNG and JPEG"
        case .tooManyPixels(let w, let h, let limit):
            return "image too large (\(w)x\(h) = \(w * h) pixels, limit \(limit))"
        case .corrupt(let why): return "corrupt image data (\(why))"
        }
    }
}
