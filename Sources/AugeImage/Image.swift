/// Colour model of an image or of a model's input.
public enum ColorMode: String, Sendable, Codable, CaseIterable {
    case gray
    case rgb

    public var channels: Int { self == .gray ? 1 : 3 }
}

/// An 8-bit image with interleaved channels (1 = gray, 3 = RGB), rows top to bottom.
public struct Image: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var color: ColorMode
    public var pixels: [UInt8]
    /// Upright size of the picture in the file. It differs from width x height when a JPEG was decoded
    /// at 1/2, 1/4 or 1/8 scale; regions of interest are given in these original pixels.
    public var originalWidth: Int
    public var originalHeight: Int

    public init(width: Int, height: Int, color: ColorMode, pixels: [UInt8], originalWidth: Int? = nil, originalHeight: Int? = nil) {
        precondition(width * height * color.channels == pixels.count, "pixel count does not match \(width)x\(height) \(color)")
        self.width = width
        self.height = height
        self.color = color
        self.pixels = pixels
        self.originalWidth = originalWidth ?? width
        self.originalHeight = originalHeight ?? height
    }

    public var channels: Int { color.channels }

    public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
        pixels[(y * width + x) * channels + channel]
    }

    /// The same picture in another colour model. RGB -> gray uses ITU-R BT.601 luma,
    /// L = 0.299 R + 0.587 G + 0.114 B (rounded), the same weights JPEG's Y channel and Pillow use.
    public func converted(to target: ColorMode) -> Image {
        if target == color { return self }
        let count = width * height
        var out = [UInt8](repeating: 0, count: count * target.channels)
        switch target {
        case .rgb:
            for i in 0..<count {
                let v = pixels[i]
                out[3 * i] = v; out[3 * i + 1] = v; out[3 * i + 2] = v
            }
        case .gray:
            for i in 0..<count {
                let luma = 299 * Int(pixels[3 * i]) + 587 * Int(pixels[3 * i + 1]) + 114 * Int(pixels[3 * i + 2])
                out[i] = UInt8((luma + 500) / 1000)
            }
        }
        return Image(width: width, height: height, color: target, pixels: out, originalWidth: originalWidth, originalHeight: originalHeight)
    }
}
