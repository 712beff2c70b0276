import CJPEG
import CPNG
import Foundation

/// Decodes PNG and JPEG files into upright 8-bit images.
///
/// The format is detected from the content. EXIF orientation is applied. Sizes are checked from the
/// header before any pixel memory is allocated. Truncated or corrupt data is an error unless
/// `strict` is off.
public struct ImageDecoder: Sendable {
    /// Largest image accepted, in pixels (width x height as stored). Default: 100 megapixels.
    public var maxPixels: Int
    /// Largest file read, in bytes. Default: 256 MiB.
    public var maxFileBytes: Int
    /// Treat decoder warnings (truncated data, corrupt entropy data) as errors.
    public var strict: Bool
    /// Colour that transparent PNG pixels are composited onto (8-bit RGB).
    public var background: (red: UInt8, green: UInt8, blue: UInt8)

    public init(
        maxPixels: Int = 100_000_000, maxFileBytes: Int = 256 << 20, strict: Bool = true,
        background: (red: UInt8, green: UInt8, blue: UInt8) = (255, 255, 255)
    ) {
        self.maxPixels = maxPixels
        self.maxFileBytes = maxFileBytes
        self.strict = strict
        self.background = background
    }

    /// Reads and decodes a file at full resolution.
    public func decode(fileAt path: String, color: ColorMode) throws -> Image {
        try decode(readFile(path), name: path, color: color)
    }

    /// Reads and decodes a file for a model input: in the model's colour, and for JPEG at the smallest
    /// DCT-domain scale (1/2, 1/4, 1/8) that still gives the resize at least as many pixels as it outputs.
    public func decode(fileAt path: String, for preprocessing: Preprocessing) throws -> Image {
        try decode(readFile(path), name: path, for: preprocessing)
    }

    /// Reads a whole regular file, refusing directories, devices, FIFOs and oversized files.
    public func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw ImageError(file: path, reason: .unreadable(systemError(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ImageError(file: path, reason: .unreadable(systemError(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw ImageError(file: path, reason: .notARegularFile) }
        let size = Int(info.st_size)
        guard size > 0 else { throw ImageError(file: path, reason: .emptyFile) }
        guard size <= maxFileBytes else { throw ImageError(file: path, reason: .fileTooLarge(bytes: size, limit: maxFileBytes)) }
        var readError: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            while count < size {
                let n = read(fd, buffer.baseAddress! + count, size - count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { readError = n < 0 ? errno : 0; break }
                count += n
            }
        }
        if readError != 0 { throw ImageError(file: path, reason: .unreadable(systemError(readError))) }
        return bytes
    }

    /// Decodes bytes already in memory at full resolution; `name` is used in error messages.
    public func decode(_ bytes: [UInt8], name: String, color: ColorMode) throws -> Image {
        try decode(bytes, name: name, color: color, minimumSize: nil)
    }

    /// Decodes bytes already in memory for a model input (see `decode(fileAt:for:)`).
    public func decode(_ bytes: [UInt8], name: String, for preprocessing: Preprocessing) throws -> Image {
        try decode(bytes, name: name, color: preprocessing.color, minimumSize: preprocessing.minimumDecodeSize)
    }

    /// `minimumSize` maps the upright full size to the smallest decoded size the caller can use.
    private func decode(
        _ bytes: [UInt8], name: String, color: ColorMode,
        minimumSize: ((Int, Int) -> (width: Int, height: Int))?
    ) throws -> Image {
        guard !bytes.isEmpty else { throw ImageError(file: name, reason: .emptyFile) }
        return try bytes.withUnsafeBytes { raw in
            switch ImageFormat.detect(raw) {
            case .png:
                let image = try decodePNG(raw, name: name, color: color)
                return (EXIF.pngOrientation(raw) ?? .upright).apply(to: image)
            case .jpeg:
                let orientation = EXIF.jpegOrientation(raw) ?? .upright
                let image = try decodeJPEG(raw, name: name, color: color, minimumSize: minimumSize, orientation: orientation)
                return orientation.apply(to: image)
            case .unsupported(let what):
                throw ImageError(file: name, reason: .unsupportedFormat(what))
            }
        }
    }

    private func checkPixels(width: Int, height: Int, name: String) throws {
        guard width > 0, height > 0 else { throw ImageError(file: name, reason: .corrupt("image has no pixels (\(width)x\(height))")) }
        guard width.multipliedReportingOverflow(by: height).partialValue <= maxPixels, width <= maxPixels, height <= maxPixels else {
            throw ImageError(file: name, reason: .tooManyPixels(width: width, height: height, limit: maxPixels))
        }
    }

    // MARK: JPEG

    /// Largest DCT scale denominator (1, 2, 4, 8) that keeps the upright image at least `minimumSize`.
    static func jpegScaleDenominator(
        width: Int, height: Int, minimumSize: ((Int, Int) -> (width: Int, height: Int))?,
        swapsAxes: Bool
    ) -> Int {
        guard let minimumSize else { return 1 }
        let (w, h) = swapsAxes ? (height, width) : (width, height)
        let minimum = minimumSize(w, h)
        for denominator in [8, 4, 2] {
            // libjpeg rounds scaled sizes up
            if (w + denominator - 1) / denominator >= minimum.width && (h + denominator - 1) / denominator >= minimum.height {
                return denominator
            }
        }
        return 1
    }

    private func decodeJPEG(
        _ raw: UnsafeRawBufferPointer, name: String, color: ColorMode,
        minimumSize: ((Int, Int) -> (width: Int, height: Int))?, orientation: Orientation
    ) throws -> Image {
        let data = raw.bindMemory(to: UInt8.self).baseAddress!
        let wantGray: Int32 = color == .gray ? 1 : 0
        var info = cjpeg_info()
        var message = [CChar](repeating: 0, count: Int(CJPEG_MESSAGE_LENGTH))
        guard cjpeg_probe(data, raw.count, 1, wantGray, &info, &message) == 0 else {
            throw ImageError(file: name, reason: .corrupt(cString(message)))
        }
        try checkPixels(width: Int(info.image_width), height: Int(info.image_height), name: name)
        let denominator = Self.jpegScaleDenominator(
            width: Int(info.image_width), height: Int(info.image_height),
            minimumSize: minimumSize, swapsAxes: orientation.swapsAxes)
        if denominator != 1 {
            guard cjpeg_probe(data, raw.count, Int32(denominator), wantGray, &info, &message) == 0 else {
                throw ImageError(file: name, reason: .corrupt(cString(message)))
            }
        }
        let width = Int(info.output_width), height = Int(info.output_height)
        let size = width * height * color.channels
        var status: Int32 = 0
        let pixels = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            status = cjpeg_decode(data, raw.count, Int32(denominator), wantGray, strict ? 1 : 0, buffer.baseAddress!, size, &message)
            count = size
        }
        guard status == 0 else { throw ImageError(file: name, reason: .corrupt(cString(message))) }
        return Image(
            width: width, height: height, color: color, pixels: pixels,
            originalWidth: Int(info.image_width), originalHeight: Int(info.image_height))
    }

    // MARK: PNG

    /// A chunk that declares more data than the file holds after it, in words: libpng allocates a chunk's
    /// declared length (up to 2 GB) before it finds the data missing, so a few damaged bytes would cost
    /// gigabytes. Nil when every chunk up to IEND fits.
    static func oversizedPNGChunk(_ raw: UnsafeRawBufferPointer) -> String? {
        var offset = 8  // past the signature
        while offset + 8 <= raw.count {
            let length = Int(UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            let type = String(decoding: raw[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let left = raw.count - offset - 8
            if length > left { return "chunk \(type) declares \(length) bytes of data but the file has \(left) left (truncated or damaged PNG)" }
            if type == "IEND" { return nil }
            offset += length + 12
        }
        return nil
    }

    /// libpng's simplified API treats 16-bit samples as linear light and composites alpha in linear
    /// light. Photos and tools (Pillow, browsers) treat the stored values as sRGB and composite them
    /// directly, so alpha and 16-bit samples are taken raw here and composited in sRGB values:
    /// v = round(c * a + background * (1 - a)), 16-bit samples divided by 257.
    private func decodePNG(_ raw: UnsafeRawBufferPointer, name: String, color: ColorMode) throws -> Image {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&png) }
        func failure() -> ImageError {
            let message = withUnsafeBytes(of: png.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return ImageError(file: name, reason: .corrupt(message.isEmpty ? "PNG decoding failed" : message))
        }
        if let problem = Self.oversizedPNGChunk(raw) { throw ImageError(file: name, reason: .corrupt(problem)) }
        guard png_image_begin_read_from_memory(&png, raw.baseAddress, raw.count) != 0 else { throw failure() }
        try checkPixels(width: Int(png.width), height: Int(png.height), name: name)
        let width = Int(png.width), height = Int(png.height), count = width * height
        let hasAlpha = png.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        let sixteenBit = png.format & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
        let background = [Int(self.background.red), Int(self.background.green), Int(self.background.blue)]
        // Always decode RGB and convert to gray ourselves, so PNG and JPEG share one luma formula.
        var rgb = [UInt8](repeating: 0, count: count * 3)
        if sixteenBit {
            // 16-bit linear output is alpha-premultiplied: v = p + background * (1 - a).
            png.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA | PNG_FORMAT_FLAG_LINEAR)
            var samples = [UInt16](repeating: 0, count: count * 4)
            guard png_image_finish_read(&png, nil, &samples, 0, nil) != 0 else { throw failure() }
            for i in 0..<count {
                let a = Int(samples[4 * i + 3])
                for c in 0..<3 {
                    let v = Int(samples[4 * i + c]) + background[c] * 257 * (65535 - a) / 65535
                    rgb[3 * i + c] = UInt8(min(255, (v + 128) / 257))
                }
            }
        } else if hasAlpha {
            png.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
            var samples = [UInt8](repeating: 0, count: count * 4)
            guard png_image_finish_read(&png, nil, &samples, 0, nil) != 0 else { throw failure() }
            for i in 0..<count {
                let a = Int(samples[4 * i + 3])
                for c in 0..<3 {
                    rgb[3 * i + c] = UInt8((Int(samples[4 * i + c]) * a + background[c] * (255 - a) + 127) / 255)
                }
            }
        } else {
            png.format = UInt32(PNG_FORMAT_RGB)
            guard png_image_finish_read(&png, nil, &rgb, 0, nil) != 0 else { throw failure() }
        }
        return Image(width: width, height: height, color: .rgb, pixels: rgb).converted(to: color)
    }
}

private func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

private func systemError(_ code: Int32) -> String {
    String(validatingCString: strerror(code)) ?? "error \(code)"
}
