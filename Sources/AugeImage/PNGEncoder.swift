import CPNG

/// Writes 8-bit gray or RGB PNG files (previews, heatmaps, reports).
public enum PNGEncoder {
    public struct EncodingError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func encode(_ image: Image) throws -> [UInt8] {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = image.color == .gray ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        defer { png_image_free(&png) }
        return try image.pixels.withUnsafeBytes { pixels in
            var size = 0
            // The first call measures, the second writes.
            guard png_image_write_to_memory(&png, nil, &size, 0, pixels.baseAddress, 0, nil) != 0 else {
                throw EncodingError(description: "PNG encoding failed")
            }
            var ok: Int32 = 0
            let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
                ok = png_image_write_to_memory(&png, buffer.baseAddress, &size, 0, pixels.baseAddress, 0, nil)
                count = size
            }
            guard ok != 0 else { throw EncodingError(description: "PNG encoding failed") }
            return bytes
        }
    }
}
