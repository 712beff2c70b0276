/// File formats recognised by their first bytes (never by the file name).
public enum ImageFormat: Sendable, Equatable {
    case png
    case jpeg
    /// A known format Auge does not decode, or unrecognised content, with a human name.
    case unsupported(String)

    public static func detect(_ bytes: UnsafeRawBufferPointer) -> ImageFormat {
        func starts(with prefix: [UInt8], at offset: Int = 0) -> Bool {
            guard bytes.count >= offset + prefix.count else { return false }
            return prefix.indices.allSatisfy { bytes[offset + $0] == prefix[$0] }
        }
        if starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts(with: Array("GIF8".utf8)) { return .unsupported("GIF") }
        if starts(with: Array("RIFF".utf8)) && starts(with: Array("WEBP".utf8), at: 8) { return .unsupported("WebP") }
        if starts(with: Array("BM".utf8)) { return .unsupported("BMP") }
        if starts(with: [0x49, 0x49, 0x2A, 0x00]) || starts(with: [0x4D, 0x4D, 0x00, 0x2A]) { return .unsupported("TIFF") }
        if starts(with: [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50]) || starts(with: [0xFF, 0x4F, 0xFF, 0x51]) {
            return .unsupported("JPEG 2000")
        }
        if starts(with: Array("ftyp".utf8), at: 4) { return .unsupported("HEIF/AVIF or video") }
        let head = bytes.prefix(512)
        let printable = head.allSatisfy { $0 == 9 || $0 == 10 || $0 == 13 || (0x20..<0x7F).contains($0) || $0 >= 0x80 }
        return .unsupported(printable && !head.isEmpty ? "text" : "unrecognised content")
    }
}
