import ArgumentParser
import AugeImage
import AugeRandom
import AugeSamples
import Foundation

/// Developer tool: writes synthetic inspection photos (to become `auge samples` once the CLI is free).
struct AugeSamplesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auge-samples",
        abstract: "Generate synthetic inspection photos of a steel washer, intact or with a defect.",
        subcommands: [Generate.self, Sheet.self])
}

enum FileFormat: String, ExpressibleByArgument, CaseIterable {
    case jpeg, png
    /// Every fourth photo PNG, the rest JPEG: both formats appear, and the set stays small.
    case mixed

    func concrete(for index: Int) -> FileFormat {
        self == .mixed ? (index % 4 == 3 ? .png : .jpeg) : self
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write OUT_DIR/<condition>/<condition>_<index> for every condition, and optionally unlabelled photos.",
        discussion: """
            With --unlabelled N, also writes OUT_DIR/incoming/part_<index> (random conditions, about half \
            intact) and OUT_DIR/incoming/LABELS.csv (file,label) for checking decisions. The same seed \
            always gives the same photos.
            """)

    @Argument(help: "Output folder (created if missing).")
    var outDir: String

    @Option(help: "Labelled photos per condition.")
    var perClass: Int

    @Option(help: "Seed; every photo follows from it.")
    var seed: UInt64

    @Option(help: "Width and height in pixels.")
    var size = 256

    @Option(help: "File format: jpeg, png or mixed.")
    var format = FileFormat.mixed

    @Option(help: "JPEG quality, 1-100.")
    var quality = 90

    @Option(help: "Unlabelled photos for OUT_DIR/incoming.")
    var unlabelled = 0

    func validate() throws {
        guard perClass >= 0, unlabelled >= 0 else { throw ValidationError("counts must not be negative") }
        guard (16...4096).contains(size) else { throw ValidationError("--size must be 16-4096") }
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be 1-100") }
    }

    func run() throws {
        let renderer = SampleRenderer(seed: seed, width: size, height: size)
        for condition in PartCondition.allCases {
            for index in 0..<perClass {
                let name = "\(condition.rawValue)_\(index)"
                try write(renderer.render(kind: condition, index: index), to: "\(condition.rawValue)/\(name)", index: index)
            }
        }
        guard unlabelled > 0 else { return }
        // Unlabelled photos come from a separate index range, so none repeats a labelled scene.
        let firstIndex = 1 << 32
        var chooser = SeededGenerator(stream: seed, 0x1C0)
        let defects = PartCondition.allCases.filter { $0 != .ok }
        var labels = "file,label\n"
        for number in 0..<unlabelled {
            let condition = chooser.nextChance(0.5) ? .ok : defects[chooser.nextIndex(below: defects.count)]
            let file = try write(
                renderer.render(kind: condition, index: firstIndex + number), to: "incoming/part_\(number)",
                index: number)
            labels += "\(file),\(condition.rawValue)\n"
        }
        try labels.write(toFile: outDir + "/incoming/LABELS.csv", atomically: true, encoding: .utf8)
    }

    /// Writes `image` to OUT_DIR/`stem`.jpg or .png and returns the file's name.
    @discardableResult
    func write(_ image: Image, to stem: String, index: Int) throws -> String {
        let format = format.concrete(for: index)
        let path = "\(outDir)/\(stem).\(format == .png ? "png" : "jpg")"
        let bytes = format == .png ? try PNGEncoder.encode(image) : try JPEGEncoder.encode(image, quality: quality)
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url.lastPathComponent
    }
}

struct Sheet: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one PNG with a row of photos per condition, to look over the renderer at a glance.")

    @Argument(help: "Output PNG file.")
    var output: String

    @Option(help: "Photos per condition (columns).")
    var perClass = 8

    @Option(help: "Seed; every photo follows from it.")
    var seed: UInt64

    @Option(help: "Width and height of each photo in pixels.")
    var size = 128

    @Option(help: "Index of the first column's photo.")
    var firstIndex = 0

    func run() throws {
        let renderer = SampleRenderer(seed: seed, width: size, height: size)
        let gap = 4, cell = size + gap
        let width = perClass * cell - gap, height = PartCondition.allCases.count * cell - gap
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        for (row, condition) in PartCondition.allCases.enumerated() {
            for column in 0..<perClass {
                let photo = renderer.render(kind: condition, index: firstIndex + column)
                for y in 0..<size {
                    let start = ((row * cell + y) * width + column * cell) * 3
                    pixels.replaceSubrange(start..<(start + size * 3), with: photo.pixels[(y * size * 3)..<((y + 1) * size * 3)])
                }
            }
        }
        let sheet = Image(width: width, height: height, color: .rgb, pixels: pixels)
        try Data(PNGEncoder.encode(sheet)).write(to: URL(fileURLWithPath: output))
    }
}

AugeSamplesCommand.main()
