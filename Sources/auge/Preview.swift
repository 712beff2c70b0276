import AugeImage
import ArgumentParser
import Foundation

struct Preview: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write exactly what a model sees: the photo after orientation, region of interest and resize.",
        discussion: "Use it to set the region of interest of a fixed camera: adjust --roi until the part fills the preview.")

    @Argument(help: "The photo (PNG or JPEG).")
    var image: String

    @Option(name: .shortAndLong, help: "The PNG file to write.")
    var output: String

    @Option(help: "Model input size WxH (default: the region's or the photo's own size).")
    var size: String?

    @Option(help: "Region of interest x,y,w,h in photo pixels (after EXIF orientation).")
    var roi: String?

    @Option(help: "Colour the model sees: gray or rgb.")
    var color: ColorMode = .rgb

    @Option(help: "Resize policy: stretch, fit (keep aspect, black margins) or crop (keep aspect, cut the excess).")
    var resize: ResizePolicy = .stretch

    func run() throws {
        let region = try roi.map { text in
            guard let region = Region(text) else { throw ValidationError("--roi must be x,y,w,h with w, h > 0, got '\(text)'") }
            return region
        }
        let decoder = ImageDecoder()
        let photo = try decoder.decode(fileAt: image, color: color)
        let size = try size.map { text in
            guard let size = Preprocessing.parseSize(text) else { throw ValidationError("--size must be WxH, got '\(text)'") }
            return size
        } ?? (region.map { ($0.width, $0.height) } ?? (photo.width, photo.height))
        let preprocessing = Preprocessing(width: size.0, height: size.1, color: color, resize: resize, region: region)
        try preprocessing.validate()
        let seen = try preprocessing.preview(of: photo)
        try Data(PNGEncoder.encode(seen)).write(to: URL(fileURLWithPath: output))
        print("\(output): \(seen.width)x\(seen.height) \(color.rawValue), from \(photo.width)x\(photo.height) \(image)")
    }
}

