import AugeImage
import Foundation

/// Draws an evidence map over the photo: the photo, the evidence from transparent through red
/// to yellow, the strongest window outlined in cyan, and what the model does not see (outside the
/// region of interest) dimmed.
public enum HeatmapOverlay {
    /// Overlays are at most this many pixels on their long side: enough to find the spot, quick to write.
    public static let longestSide = 1024

    /// The overlay for `image` (as decoded for the model, possibly at a reduced JPEG scale); `mapping`
    /// is the preprocessing's mapping for that image.
    public static func render(_ image: Image, mapping: InputMapping, map: EvidenceMap) -> Image {
        let scale = min(1, Double(longestSide) / Double(max(image.width, image.height)))
        let width = max(1, Int((Double(image.width) * scale).rounded())), height = max(1, Int((Double(image.height) * scale).rounded()))
        let photo = image.converted(to: .rgb).pixels
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let imageY = (Double(y) + 0.5) / scale
            for x in 0..<width {
                let imageX = (Double(x) + 0.5) / scale
                let source = (min(Int(imageY), image.height - 1) * image.width + min(Int(imageX), image.width - 1)) * 3
                var color = SIMD3<Float>(Float(photo[source]), Float(photo[source + 1]), Float(photo[source + 2]))
                if let point = mapping.inputPoint(imageX: imageX, imageY: imageY) {
                    let heat = map.heat(atInputX: point.x, y: point.y)
                    let alpha = 0.7 * heat
                    color = color * (1 - alpha) + SIMD3<Float>(255, 255 * heat, 0) * alpha
                } else {
                    color *= 0.4
                }
                let base = (y * width + x) * 3
                pixels[base] = UInt8(color.x.rounded())
                pixels[base + 1] = UInt8(color.y.rounded())
                pixels[base + 2] = UInt8(color.z.rounded())
            }
        }
        // The strongest window: input pixels -> decoded image pixels -> overlay pixels.
        let window = map.strongest
        let corners = [
            mapping.imagePoint(inputX: Double(window.x), inputY: Double(window.y)),
            mapping.imagePoint(inputX: Double(window.x + window.width), inputY: Double(window.y + window.height)),
        ]
        .map { (x: min(max(Int(($0.x * scale).rounded()), 0), width - 1), y: min(max(Int(($0.y * scale).rounded()), 0), height - 1)) }
        outline(&pixels, width: width, height: height, left: corners[0].x, top: corners[0].y, right: corners[1].x - 1, bottom: corners[1].y - 1)
        return Image(width: width, height: height, color: .rgb, pixels: pixels)
    }

    /// A two-pixel cyan frame just inside the rectangle.
    private static func outline(_ pixels: inout [UInt8], width: Int, height: Int, left: Int, top: Int, right: Int, bottom: Int) {
        guard right >= left, bottom >= top else { return }
        func paint(_ x: Int, _ y: Int) {
            guard (0..<width).contains(x), (0..<height).contains(y) else { return }
            let base = (y * width + x) * 3
            (pixels[base], pixels[base + 1], pixels[base + 2]) = (0, 255, 255)
        }
        for inset in 0..<2 {
            for x in left...right {
                paint(x, top + inset)
                paint(x, bottom - inset)
            }
            for y in top...bottom {
                paint(left + inset, y)
                paint(right - inset, y)
            }
        }
    }

    /// Writes the overlay as `folder/name` (`name` may hold sub-folders), never replacing a file (a clash
    /// gets `-1`, `-2`, ... before `.png`); returns the path written.
    public static func write(_ overlay: Image, named name: String, into folder: String) throws -> String {
        let data = try PNGEncoder.encode(overlay)
        let target = (folder as NSString).appendingPathComponent((name as NSString).deletingLastPathComponent)
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        // The candidate sequence never ends, so a free name is always found.
        return try uniqueNameCandidates(in: target, for: (name as NSString).lastPathComponent).first { try createExclusively($0, holding: data) }!
    }

    /// Creates `path` with `data`; false when the name is taken.
    private static func createExclusively(_ path: String, holding data: [UInt8]) throws -> Bool {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard descriptor >= 0 else {
            if errno == EEXIST { return false }
            throw CocoaError(
                .fileWriteUnknown,
                userInfo: [
                    NSLocalizedDescriptionKey:
                        "cannot write \(path): \(String(validatingCString: strerror(errno)) ?? "error")"
                ])
        }
        try FileHandle(fileDescriptor: descriptor, closeOnDealloc: true).write(contentsOf: data)
        return true
    }
}

/// `folder/name`, then `folder/stem-1.ext`, `folder/stem-2.ext`, ...: the paths to try, in order, for a
/// file that must not replace another.
public func uniqueNameCandidates(in folder: String, for name: String) -> some Sequence<String> {
    let stem = (name as NSString).deletingPathExtension, ext = (name as NSString).pathExtension
    return (0...).lazy.map { attempt in
        (folder as NSString).appendingPathComponent(attempt == 0 ? name : "\(stem)-\(attempt)" + (ext.isEmpty ? "" : ".\(ext)"))
    }
}
