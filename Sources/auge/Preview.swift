import AugeImage
import AugeInspect
import ArgumentParser
import Foundation

struct Preview: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write exactly what a model sees: the photo after orientation, region of interest and resize.",
        discussion: """
            Use it to set the region of interest of a fixed camera: adjust --roi until the part fills the preview. \
            With --model, the size, colour, resize policy and region are the model's; flags given beside it override them.
            """)

    @Argument(help: "The photo (PNG or JPEG).")
    var image: String

    @Option(name: .shortAndLong, help: "The PNG file to write.")
    var output: String

    @Option(help: ArgumentHelp("Take the size, colour, resize policy and region of interest from this model file.", valueName: "model.onnx"))
    var model: String?

    @Option(help: ArgumentHelp("Model input size WxH or N (default: the model's, else the region's or the photo's own size).", valueName: "WxH"))
    var size: InputSize?

    @Option(help: ArgumentHelp("Region of interest x,y,w,h in photo pixels (after EXIF orientation).", valueName: "x,y,w,h"))
    var roi: Region?

    @Option(help: "Colour the model sees: gray or rgb (default: the model's, else rgb).")
    var color: ColorMode?

    @Option(help: "Resize policy: stretch, fit (keep aspect, black margins) or crop (keep aspect, cut the excess); default: the model's, else stretch.")
    var resize: ResizePolicy?

    func run() throws {
        let model = try self.model.map { try InspectionModel.load(path: $0).preprocessing }
        let region = roi ?? model?.region
        let color = self.color ?? model?.color ?? .rgb
        let resize = self.resize ?? model?.resize ?? .stretch
        let decoder = ImageDecoder()
        let photo = try decoder.decode(fileAt: image, color: color)
        let size = size?.pair ?? model.map { ($0.width, $0.height) } ?? (region.map { ($0.width, $0.height) } ?? (photo.width, photo.height))
        let preprocessing = Preprocessing(width: size.0, height: size.1, color: color, resize: resize, region: region)
        try preprocessing.validate()
        let seen = try preprocessing.preview(of: photo)
        try Data(PNGEncoder.encode(seen)).write(to: URL(fileURLWithPath: output))
        print("\(output): \(seen.width)x\(seen.height) \(color.rawValue), from \(photo.width)x\(photo.height) \(image)")
    }
}
