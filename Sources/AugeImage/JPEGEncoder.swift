import CJPEG

/// Writes 8-bit gray or RGB baseline JPEG files (sample photos, reports).
public enum JPEGEncoder {
    public struct EncodingError: Error, CustomStringConvertible {
        public let description: String
    }

    /// `quality` is libjpeg's 1-100 scale; about 90 keeps sensor-level detail at a tenth of PNG's size.
    public static func encode(_ image: Image, quality: Int) throws -> [UInt8] {
        precondition((1...100).contains(quality), "JPEG quality must be 1-100, got \(quality)")
        var jpeg: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: Int(CJPEG_MESSAGE_LENGTH))
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            cjpeg_encode(
                pixels.baseAddress, Int32(image.width), Int32(image.height), Int32(image.channels),
                Int32(quality), &jpeg, &size, &message)
        }
        guard status == 0, let jpeg else {
            throw EncodingError(description: "JPEG encoding failed: " + String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { cjpeg_free(jpeg) }
        return Array(UnsafeBufferPointer(start: jpeg, count: size))
    }
}
