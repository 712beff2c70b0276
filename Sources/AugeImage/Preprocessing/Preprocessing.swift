import Foundation

/// A rectangle in upright, full-resolution image pixels: the part of the picture a fixed camera inspects.
public struct Region: Sendable, Codable, Equatable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// Parses "x,y,w,h".
    public init?(_ text: String) {
        let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 4, let x = parts[0], let y = parts[1], let w = parts[2], let h = parts[3],
            x >= 0, y >= 0, w > 0, h > 0
        else { return nil }
        self.init(x: x, y: y, width: w, height: h)
    }

    public var description: String { "\(x),\(y),\(width),\(height)" }
}

/// How the region of interest is brought to the model's input size.
public enum ResizePolicy: String, Sendable, Codable, CaseIterable {
    /// Scale each axis independently to fill the input; the aspect ratio may change.
    case stretch
    /// Keep the aspect ratio and scale the whole region to fit inside; the margins are black (0).
    case fit
    /// Keep the aspect ratio and scale to cover the input; the centre is kept and the excess cut off.
    case crop
}

/// How a decoded image maps onto the model's input: the rectangle of the image the model sees
/// (`source*`, in the decoded image's pixels) and the rectangle of the input it fills (`destination*`,
/// in input pixels; smaller than the input only for `fit`). Maps both ways, so a result found in input
/// pixels can be shown on the photo.
public struct InputMapping: Sendable {
    public internal(set) var sourceX, sourceY, sourceWidth, sourceHeight: Double
    public internal(set) var destinationX, destinationY, destinationWidth, destinationHeight: Int
    /// Decoded pixels per original (full-resolution, upright) pixel, across and down.
    public internal(set) var imageScale: (x: Double, y: Double) = (1, 1)

    var outputPixelsPerSourcePixel: (Double, Double) {
        (Double(destinationWidth) / sourceWidth, Double(destinationHeight) / sourceHeight)
    }

    /// The input position that the decoded image's position (x, y) lands on (continuous coordinates:
    /// pixel i spans i..<i+1), or nil where the model does not see the image.
    public func inputPoint(imageX x: Double, imageY y: Double) -> (x: Double, y: Double)? {
        let u = (x - sourceX) / sourceWidth, v = (y - sourceY) / sourceHeight
        guard (0..<1).contains(u), (0..<1).contains(v) else { return nil }
        return (Double(destinationX) + u * Double(destinationWidth), Double(destinationY) + v * Double(destinationHeight))
    }

    /// The decoded image's position that input position (x, y) shows: the inverse of `inputPoint`.
    public func imagePoint(inputX x: Double, inputY y: Double) -> (x: Double, y: Double) {
        (
            sourceX + (x - Double(destinationX)) / Double(destinationWidth) * sourceWidth,
            sourceY + (y - Double(destinationY)) / Double(destinationHeight) * sourceHeight
        )
    }

    /// The rectangle of the original photo (full-resolution, upright pixels) that an input rectangle
    /// shows, clipped to the part of the input the photo fills.
    public func photoRegion(inputX x: Double, inputY y: Double, width: Double, height: Double) -> Region {
        func clipped(_ value: Double, _ origin: Int, _ length: Int) -> Double { min(max(value, Double(origin)), Double(origin + length)) }
        let (left, top) = (clipped(x, destinationX, destinationWidth), clipped(y, destinationY, destinationHeight))
        let (right, bottom) = (clipped(x + width, destinationX, destinationWidth), clipped(y + height, destinationY, destinationHeight))
        let first = imagePoint(inputX: left, inputY: top), last = imagePoint(inputX: right, inputY: bottom)
        let photoX = Int((first.x / imageScale.x).rounded(.down)), photoY = Int((first.y / imageScale.y).rounded(.down))
        return Region(
            x: photoX, y: photoY, width: max(1, Int((last.x / imageScale.x).rounded(.up)) - photoX),
            height: max(1, Int((last.y / imageScale.y).rounded(.up)) - photoY))
    }
}

public struct PreprocessingError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Everything that turns a decoded photo into the model's input tensor. Training and inference run
/// this same code, and a model file stores these settings, so the two can never disagree.
///
/// For an output pixel the steps are:
/// 1. region: the region of interest (or the whole upright image) in full-resolution pixels;
/// 2. geometry: `stretch` maps the region onto the W x H input; `crop` uses the centred sub-region
///    with the input's aspect ratio, scale s = max(W / rw, H / rh); `fit` maps the whole region onto a
///    centred rw*s x rh*s rectangle (rounded), s = min(W / rw, H / rh), and fills the margins with 0;
/// 3. resampling: separable triangle (bilinear) filter whose support widens with the downscale factor,
///    so every source pixel contributes (antialiased, as Pillow's BILINEAR resize):
///    out(i) = sum_j w(j) in(j) / sum_j w(j), w(j) = max(0, 1 - |j + 0.5 - c(i)| / f),
///    c(i) = start + (i + 0.5) * scale, scale = region length / output length, f = max(1, scale);
///    sampling positions are clamped to the image, not to the region;
/// 4. colour: gray <-> RGB before resampling (BT.601 luma for RGB -> gray);
/// 5. normalisation, per channel c: x = (v / 255 - mean[c]) / std[c], v in 0...255 (float, unrounded).
/// The tensor is planar (channels, height, width), as one NCHW batch item.
public struct Preprocessing: Sendable, Codable, Equatable {
    public var width: Int
    public var height: Int
    public var color: ColorMode
    public var resize: ResizePolicy
    public var region: Region?
    /// Per-channel mean and standard deviation in 0...1 units (one value applies to every channel).
    public var mean: [Float]
    public var std: [Float]

    public init(
        width: Int, height: Int, color: ColorMode, resize: ResizePolicy = .stretch, region: Region? = nil,
        mean: [Float] = [0], std: [Float] = [1]
    ) {
        self.width = width
        self.height = height
        self.color = color
        self.resize = resize
        self.region = region
        self.mean = mean
        self.std = std
    }

    public var tensorCount: Int { color.channels * width * height }

    /// Checks the settings themselves (not an image).
    public func validate() throws {
        guard width > 0, height > 0, width <= 8192, height <= 8192 else {
            throw PreprocessingError(description: "input size \(width)x\(height) is out of range (1...8192)")
        }
        for (name, values) in [("mean", mean), ("std", std)] where values.count != 1 && values.count != color.channels {
            throw PreprocessingError(description: "\(name) has \(values.count) values; \(color) input needs 1 or \(color.channels)")
        }
        guard std.allSatisfy({ $0 > 0 && $0.isFinite }), mean.allSatisfy(\.isFinite) else {
            throw PreprocessingError(description: "std must be positive and mean finite")
        }
    }

    /// The smallest decoded size (upright) that still gives the resize at least as many pixels as it
    /// outputs, for an upright full size `w` x `h`. Used to pick JPEG DCT-domain scaling.
    public func minimumDecodeSize(_ w: Int, _ h: Int) -> (width: Int, height: Int) {
        let (regionWidth, regionHeight) = region.map { (Double($0.width), Double($0.height)) } ?? (Double(w), Double(h))
        let (sx, sy) = geometry(regionWidth: regionWidth, regionHeight: regionHeight).outputPixelsPerSourcePixel
        return (Int((Double(w) * sx).rounded(.up)), Int((Double(h) * sy).rounded(.up)))
    }

    func geometry(regionWidth rw: Double, regionHeight rh: Double) -> InputMapping {
        let (w, h) = (Double(width), Double(height))
        switch resize {
        case .stretch:
            return InputMapping(
                sourceX: 0, sourceY: 0, sourceWidth: rw, sourceHeight: rh,
                destinationX: 0, destinationY: 0, destinationWidth: width, destinationHeight: height)
        case .crop:
            let s = max(w / rw, h / rh)
            let (cw, ch) = (w / s, h / s)
            return InputMapping(
                sourceX: (rw - cw) / 2, sourceY: (rh - ch) / 2, sourceWidth: cw, sourceHeight: ch,
                destinationX: 0, destinationY: 0, destinationWidth: width, destinationHeight: height)
        case .fit:
            let s = min(w / rw, h / rh)
            let dw = max(1, min(width, Int((rw * s).rounded())))
            let dh = max(1, min(height, Int((rh * s).rounded())))
            return InputMapping(
                sourceX: 0, sourceY: 0, sourceWidth: rw, sourceHeight: rh,
                destinationX: (width - dw) / 2, destinationY: (height - dh) / 2,
                destinationWidth: dw, destinationHeight: dh)
        }
    }

    /// Where `image` (decoded, possibly at a reduced scale) lands on the model's input: the region and
    /// geometry steps, in the decoded image's pixels.
    public func inputMapping(for image: Image) throws -> InputMapping {
        let region = self.region ?? Region(x: 0, y: 0, width: image.originalWidth, height: image.originalHeight)
        guard region.x + region.width <= image.originalWidth, region.y + region.height <= image.originalHeight else {
            throw PreprocessingError(
                description:
                    "region of interest \(region) lies outside the \(image.originalWidth)x\(image.originalHeight) image")
        }
        let scaleX = Double(image.width) / Double(image.originalWidth)
        let scaleY = Double(image.height) / Double(image.originalHeight)
        var mapping = geometry(regionWidth: Double(region.width), regionHeight: Double(region.height))
        mapping.sourceX = (Double(region.x) + mapping.sourceX) * scaleX
        mapping.sourceY = (Double(region.y) + mapping.sourceY) * scaleY
        mapping.sourceWidth *= scaleX
        mapping.sourceHeight *= scaleY
        mapping.imageScale = (scaleX, scaleY)
        return mapping
    }

    /// Writes the normalised planar tensor (channels x height x width floats) for `image`.
    public func writeTensor(from image: Image, to destination: UnsafeMutablePointer<Float>) throws {
        let channels = color.channels
        var gains = [Float](repeating: 0, count: channels)
        var offsets = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            let m = mean.count == 1 ? mean[0] : mean[c]
            let s = std.count == 1 ? std[0] : std[c]
            gains[c] = 1 / (255 * s)
            offsets[c] = -m / s
        }
        try resample(image.converted(to: color), gains: gains, offsets: offsets, into: destination)
    }

    /// The normalised planar tensor for `image`.
    public func tensor(from image: Image) throws -> [Float] {
        try [Float](unsafeUninitializedCapacity: tensorCount) { buffer, count in
            try writeTensor(from: image, to: buffer.baseAddress!)
            count = tensorCount
        }
    }

    /// Exactly what the model sees, before normalisation, as an 8-bit image (for `auge preview`).
    public func preview(of image: Image) throws -> Image {
        let channels = color.channels
        let planar = try [Float](unsafeUninitializedCapacity: tensorCount) { buffer, count in
            try resample(
                image.converted(to: color), gains: [Float](repeating: 1, count: channels),
                offsets: [Float](repeating: 0, count: channels), into: buffer.baseAddress!)
            count = tensorCount
        }
        let plane = width * height
        var pixels = [UInt8](repeating: 0, count: tensorCount)
        for i in 0..<plane {
            for c in 0..<channels {
                pixels[i * channels + c] = UInt8(max(0, min(255, planar[c * plane + i].rounded())))
            }
        }
        return Image(width: width, height: height, color: color, pixels: pixels)
    }

    private func resample(_ image: Image, gains: [Float], offsets: [Float], into destination: UnsafeMutablePointer<Float>) throws {
        let mapping = try inputMapping(for: image)
        let horizontal = ResampleWeights(
            sourceStart: mapping.sourceX, sourceLength: mapping.sourceWidth,
            sourceLimit: image.width, outputLength: mapping.destinationWidth)
        let vertical = ResampleWeights(
            sourceStart: mapping.sourceY, sourceLength: mapping.sourceHeight,
            sourceLimit: image.height, outputLength: mapping.destinationHeight)
        let plane = width * height
        for c in 0..<color.channels {
            // Margins (fit policy) hold the normalised value of black.
            (destination + c * plane).update(repeating: offsets[c], count: plane)
        }
        image.pixels.withUnsafeBufferPointer { pixels in
            Resampler.run(
                pixels.baseAddress!, width: image.width, channels: image.channels,
                horizontal: horizontal, vertical: vertical, gains: gains, offsets: offsets,
                destination: destination, destinationWidth: width, destinationHeight: height,
                originX: mapping.destinationX, originY: mapping.destinationY)
        }
    }
}

extension Preprocessing {
    /// Parses an input size written "WxH" (or "N" for N x N).
    public static func parseSize(_ text: String) -> (width: Int, height: Int)? {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        switch parts.count {
        case 1: if let n = parts[0], n > 0 { return (n, n) }
        case 2: if let w = parts[0], let h = parts[1], w > 0, h > 0 { return (w, h) }
        default: break
        }
        return nil
    }
}
