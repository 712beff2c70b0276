/// EXIF orientation (tag 0x0112): how the stored pixels must be turned to be seen upright.
/// 1 = as stored, 2 = mirrored, 3 = rotated 180, 4 = flipped vertically, 5 = transposed,
/// 6 = rotate 90 clockwise, 7 = transversed, 8 = rotate 90 counter-clockwise.
public struct Orientation: Sendable, Equatable {
    public let rawValue: Int

    public init?(rawValue: Int) {
        guard (1...8).contains(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    public static let upright = Orientation(rawValue: 1)!

    /// Orientations 5 to 8 swap width and height.
    public var swapsAxes: Bool { rawValue >= 5 }

    /// For an upright output pixel (x, y), the stored pixel it comes from, with the stored size (w, h).
    @inline(__always)
    func source(x: Int, y: Int, storedWidth w: Int, storedHeight h: Int) -> (Int, Int) {
        switch rawValue {
        case 2: return (w - 1 - x, y)
        case 3: return (w - 1 - x, h - 1 - y)
        case 4: return (x, h - 1 - y)
        case 5: return (y, x)
        case 6: return (y, h - 1 - x)
        case 7: return (w - 1 - y, h - 1 - x)
        case 8: return (w - 1 - y, x)
        default: return (x, y)
        }
    }

    /// The upright image.
    public func apply(to image: Image) -> Image {
        if rawValue == 1 { return image }
        let (w, h, c) = (image.width, image.height, image.channels)
        let outWidth = swapsAxes ? h : w
        let outHeight = swapsAxes ? w : h
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<outHeight {
                    for x in 0..<outWidth {
                        let (sx, sy) = source(x: x, y: y, storedWidth: w, storedHeight: h)
                        let from = (sy * w + sx) * c
                        let to = (y * outWidth + x) * c
                        for k in 0..<c { dst[to + k] = src[from + k] }
                    }
                }
            }
        }
        let (originalWidth, originalHeight) = swapsAxes ? (image.originalHeight, image.originalWidth) : (image.originalWidth, image.originalHeight)
        return Image(
            width: outWidth, height: outHeight, color: image.color, pixels: out,
            originalWidth: originalWidth, originalHeight: originalHeight)
    }
}

/// Reads the orientation tag of an EXIF (TIFF-structured) block. Malformed EXIF is ignored:
/// a broken tag must not make a good photo unreadable.
enum EXIF {
    static func orientation(tiff: UnsafeRawBufferPointer) -> Orientation? {
        guard tiff.count >= 8 else { return nil }
        let little: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= tiff.count else { return nil }
            return little ? Int(tiff[at]) | Int(tiff[at + 1]) << 8 : Int(tiff[at]) << 8 | Int(tiff[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard let a = u16(at), let b = u16(at + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let ifd = u32(4), let entries = u16(ifd) else { return nil }
        for i in 0..<entries {
            let entry = ifd + 2 + 12 * i
            guard let tag = u16(entry) else { return nil }
            if tag == 0x0112, u16(entry + 2) == 3, let value = u16(entry + 8) {
                return Orientation(rawValue: value)
            }
        }
        return nil
    }

    /// Finds the APP1 "Exif" segment among a JPEG's header markers.
    static func jpegOrientation(_ bytes: UnsafeRawBufferPointer) -> Orientation? {
        var at = 2
        while at + 4 <= bytes.count, bytes[at] == 0xFF {
            let marker = bytes[at + 1]
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { at += 2; continue }
            if marker == 0xDA || marker == 0xD9 { return nil }  // image data starts: no EXIF before it
            let length = Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            guard length >= 2, at + 2 + length <= bytes.count else { return nil }
            let body = UnsafeRawBufferPointer(rebasing: bytes[(at + 4)..<(at + 2 + length)])
            if marker == 0xE1, body.count > 6, Array(body.prefix(6)) == [0x45, 0x78, 0x69, 0x66, 0, 0] {
                return orientation(tiff: UnsafeRawBufferPointer(rebasing: body[6...]))
            }
            at += 2 + length
        }
        return nil
    }

    /// Finds an `eXIf` chunk in a PNG stream.
    static func pngOrientation(_ bytes: UnsafeRawBufferPointer) -> Orientation? {
        var at = 8
        while at + 8 <= bytes.count {
            let length = Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            let type = String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self)
            guard length >= 0, at + 12 + length <= bytes.count else { return nil }
            if type == "eXIf" {
                return orientation(tiff: UnsafeRawBufferPointer(rebasing: bytes[(at + 8)..<(at + 8 + length)]))
            }
            if type == "IDAT" || type == "IEND" { return nil }  // eXIf must come before the image data to count
            at += 12 + length
        }
        return nil
    }
}
