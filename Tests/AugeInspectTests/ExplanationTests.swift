import AugeEngine
import AugeImage
@testable import AugeInspect
import AugeSamples
import Foundation
import XCTest

final class InputMappingTests: XCTestCase {
    /// A region of interest, fitted with margins, on a JPEG decoded at half scale: input rectangles map
    /// back onto the photo rectangles they show.
    func testInputRectanglesMapBackOntoThePhoto() throws {
        let preprocessing = Preprocessing(
            width: 100, height: 50, color: .gray, resize: .fit,
            region: Region(x: 10, y: 20, width: 300, height: 300))
        let decoded = Image(
            width: 200, height: 200, color: .gray, pixels: [UInt8](repeating: 0, count: 200 * 200),
            originalWidth: 400, originalHeight: 400)
        let mapping = try preprocessing.inputMapping(for: decoded)
        // fit: the 300x300 region fills a centred 50x50 square of the 100x50 input.
        XCTAssertEqual([mapping.destinationX, mapping.destinationY, mapping.destinationWidth, mapping.destinationHeight], [25, 0, 50, 50])
        XCTAssertEqual(
            mapping.photoRegion(inputX: 0, inputY: 0, width: 100, height: 50), Region(x: 10, y: 20, width: 300, height: 300),
            "the whole input shows the whole region (the margins show nothing)")
        XCTAssertEqual(mapping.photoRegion(inputX: 25, inputY: 0, width: 10, height: 5), Region(x: 10, y: 20, width: 60, height: 30))
        XCTAssertEqual(mapping.photoRegion(inputX: 70, inputY: 45, width: 5, height: 5), Region(x: 280, y: 290, width: 30, height: 30))
        // Decoded pixel (5 + 15, 10 + 15) is original (40, 50): 30 photo pixels into the region = 5 input pixels.
        let point = try XCTUnwrap(mapping.inputPoint(imageX: 20, imageY: 25))
        XCTAssertEqual(point.x, 30, accuracy: 1e-9)
        XCTAssertEqual(point.y, 5, accuracy: 1e-9)
        XCTAssertNil(mapping.inputPoint(imageX: 2, imageY: 25), "left of the region")
        XCTAssertNil(mapping.inputPoint(imageX: 20, imageY: 170), "below the region")
    }
}

final class ExplanationTests: XCTestCase {
    func testHeatmapNamesKeepTheFoldersBelowTheRoot() {
        var settings = ExplanationSettings(heatmapFolder: "/why")
        settings.photoRoots = ["photos", "/line/inbox/", "photos/deep"]
        XCTAssertEqual(settings.heatmapName(forPhoto: "photos/a/x.jpg"), "a/x.heatmap.png")
        XCTAssertEqual(settings.heatmapName(forPhoto: "photos/deep/x.png"), "x.heatmap.png", "the deepest root holding it")
        XCTAssertEqual(settings.heatmapName(forPhoto: "/line/inbox/cam1/x.jpeg"), "cam1/x.heatmap.png")
        XCTAssertEqual(settings.heatmapName(forPhoto: "photosmore/x.jpg"), "x.heatmap.png", "a root is a folder, not a prefix")
        XCTAssertEqual(settings.heatmapName(forPhoto: "elsewhere/y.jpg"), "y.heatmap.png")
    }

    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("auge-explain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// A model that calls a gray 32x32 input a defect when its brightest pixel is bright:
    /// global max pool -> 2 logits -> softmax. Only the bright spot carries evidence.
    func brightSpotClassifier() throws -> Classifier {
        let graph = Graph(
            inputs: [GraphInput(name: "image", shape: [1, 1, 32, 32])],
            nodes: [
                Node(name: "max", operation: .maxPool(Pooling(kernel: (32, 32))), inputs: ["image"], outputs: ["m"]),
                Node(name: "flat", operation: .flatten(axis: 1), inputs: ["m"], outputs: ["f"]),
                Node(
                    name: "fc",
                    operation: .fullyConnected(
                        FullyConnected(
                            weight: Tensor(shape: [2, 1], data: [-8, 8]),
                            bias: Tensor(shape: [2], data: [4, -4]))),
                    inputs: ["f"], outputs: ["logits"]),
                Node(name: "softmax", operation: .softmax(axis: 1), inputs: ["logits"], outputs: ["p"]),
            ],
            outputs: ["p"])
        return try Classifier(
            graph: graph, preprocessing: Preprocessing(width: 32, height: 32, color: .gray),
            policy: DecisionPolicy(labels: ["ok", "spot"], okLabels: ["ok"]), threads: 1)
    }

    /// A 64x64 black photo (stretched to the 32x32 input) with a white 8x8 spot at (40, 16).
    func writeSpotPhoto(named name: String) throws -> String {
        var pixels = [UInt8](repeating: 0, count: 64 * 64)
        for y in 16..<24 { for x in 40..<48 { pixels[y * 64 + x] = 255 } }
        let path = folder.appendingPathComponent(name).path
        try Data(PNGEncoder.encode(Image(width: 64, height: 64, color: .gray, pixels: pixels))).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testTheHotspotHoldsTheOnlyPlaceWithEvidence() throws {
        let classifier = try brightSpotClassifier()
        let path = try writeSpotPhoto(named: "part.png")
        let heatmaps = folder.appendingPathComponent("heatmaps").path
        let record = classifier.inspect(
            path: path, decoder: ImageDecoder(),
            explanation: ExplanationSettings(grid: 8, heatmapFolder: heatmaps))
        XCTAssertEqual(record.decision, .defect)
        let hotspot = try XCTUnwrap(record.hotspot)
        // Grid 8 on the 32-pixel input: 4-pixel cells, 8-pixel windows; 16 photo pixels per window.
        XCTAssertEqual([hotspot.width, hotspot.height], [16, 16])
        XCTAssertTrue(
            hotspot.x <= 40 && hotspot.x + hotspot.width >= 48 && hotspot.y <= 16 && hotspot.y + hotspot.height >= 24,
            "the hotspot \(hotspot) holds the whole spot (40, 16, 8x8)")
        XCTAssertGreaterThan(hotspot.evidence, 0.95, "flattening the spot's window removes the evidence")

        let heatmap = try XCTUnwrap(record.heatmap)
        XCTAssertEqual(heatmap, (heatmaps as NSString).appendingPathComponent("part.heatmap.png"))
        let overlay = try ImageDecoder().decode(fileAt: heatmap, color: .rgb)
        XCTAssertEqual([overlay.width, overlay.height], [64, 64], "the overlay has the photo's size")
        // Inside the spot: red to yellow over white; far from it (no evidence), the black photo.
        XCTAssertEqual(Array(overlay.pixels[(60 * 64 + 4) * 3..<(60 * 64 + 4) * 3 + 3]), [0, 0, 0])
        let spot = Array(overlay.pixels[(20 * 64 + 44) * 3..<(20 * 64 + 44) * 3 + 3])
        XCTAssertTrue(spot[0] == 255 && spot[2] < 200, "\(spot)")

        // The same photo again: its heatmap gets a new name and the first one stays.
        let again = classifier.inspect(path: path, decoder: ImageDecoder(), explanation: ExplanationSettings(grid: 8, heatmapFolder: heatmaps))
        XCTAssertEqual(again.heatmap, (heatmaps as NSString).appendingPathComponent("part.heatmap-1.png"))
        XCTAssertEqual(again.hotspot, record.hotspot, "explaining is deterministic")
    }

    func testTheMapIsHotOnlyWhereTheSpotIsAndTheTensorIsRestored() throws {
        let classifier = try brightSpotClassifier()
        let photo = try ImageDecoder().decode(fileAt: writeSpotPhoto(named: "part.png"), color: .gray)
        var tensor = try classifier.preprocessing.tensor(from: photo)
        let original = tensor
        let probabilities = tensor.withUnsafeBufferPointer { classifier.probabilities(for: $0.baseAddress!) }
        let map = tensor.withUnsafeMutableBufferPointer {
            classifier.evidenceMap(for: $0.baseAddress!, probabilities: probabilities, grid: 8)
        }
        XCTAssertEqual(tensor, original, "the input tensor is restored")
        XCTAssertEqual(map.evidence, probabilities[1], accuracy: 1e-6, "the evidence is the defect probability")
        // The spot covers input pixels 20..<24 x 8..<12: cell (row 2, column 5).
        let hottest = map.heat.indices.max { map.heat[$0] < map.heat[$1] }!
        XCTAssertEqual([hottest / 8, hottest % 8], [2, 5])
        for row in 0..<8 {
            for column in 0..<8 where abs(row - 2) > 1 || abs(column - 5) > 1 {
                XCTAssertEqual(map.heat[row * 8 + column], 0, "cell (\(row), \(column)) shares no window with the spot")
            }
        }
    }

    /// A large photo gets an overlay at most 1024 pixels on its long side, the hotspot framed where the
    /// input window lies on it, and the part outside the region of interest dimmed.
    func testOverlaysOfLargePhotosAreScaledDownAndFramed() throws {
        let photo = Image(width: 3000, height: 1500, color: .gray, pixels: [UInt8](repeating: 200, count: 3000 * 1500))
        let preprocessing = Preprocessing(width: 100, height: 100, color: .gray, region: Region(x: 1000, y: 0, width: 1500, height: 1500))
        let mapping = try preprocessing.inputMapping(for: photo)
        var heat = [Float](repeating: 0, count: 4 * 4)
        heat[0] = 1
        let map = EvidenceMap(
            rows: 4, columns: 4, inputWidth: 100, inputHeight: 100, heat: heat,
            strongest: .init(x: 0, y: 0, width: 50, height: 50, share: 1), evidence: 0.9)
        let overlay = HeatmapOverlay.render(photo, mapping: mapping, map: map)
        XCTAssertEqual([overlay.width, overlay.height], [1024, 512])
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(overlay.pixels[(y * 1024 + x) * 3..<(y * 1024 + x) * 3 + 3]) }
        // The region starts at photo x = 1000, overlay x = 341; the window is its top-left third of a
        // side (1500 / 2 = 750 photo pixels = 256 overlay pixels).
        XCTAssertEqual(pixel(341, 100), [0, 255, 255], "left edge of the frame")
        XCTAssertEqual(pixel(341 + 255, 100), [0, 255, 255], "right edge of the frame")
        XCTAssertEqual(pixel(100, 100), [80, 80, 80], "outside the region of interest: dimmed")
        XCTAssertEqual(pixel(800, 400), [200, 200, 200], "no evidence: the photo as it is")
        let hottest = pixel(360, 20)
        XCTAssertTrue(hottest[0] > 230 && hottest[2] < 100, "the hottest cell turns the gray photo yellow: \(hottest)")
    }

    func testOKPhotosAreNotExplainedUnlessAsked() throws {
        let classifier = try brightSpotClassifier()
        let path = folder.appendingPathComponent("dark.png").path
        try Data(PNGEncoder.encode(Image(width: 32, height: 32, color: .gray, pixels: [UInt8](repeating: 0, count: 32 * 32))))
            .write(to: URL(fileURLWithPath: path))
        let record = classifier.inspect(path: path, decoder: ImageDecoder(), explanation: ExplanationSettings(grid: 8))
        XCTAssertEqual(record.decision, .ok)
        XCTAssertNil(record.hotspot)
        let asked = classifier.inspect(path: path, decoder: ImageDecoder(), explanation: ExplanationSettings(grid: 8, decisions: [.ok]))
        XCTAssertNotNil(asked.hotspot)
    }

    func testAnUnwritableHeatmapFolderKeepsTheDecision() throws {
        let classifier = try brightSpotClassifier()
        let path = try writeSpotPhoto(named: "part.png")
        let blocker = folder.appendingPathComponent("file").path
        FileManager.default.createFile(atPath: blocker, contents: Data())
        let record = classifier.inspect(
            path: path, decoder: ImageDecoder(),
            explanation: ExplanationSettings(grid: 8, heatmapFolder: blocker + "/heatmaps"))
        XCTAssertEqual(record.decision, .defect)
        XCTAssertNotNil(record.hotspot)
        XCTAssertNil(record.heatmap)
        XCTAssertNotNil(record.heatmapError)
        let json = ResultFormatter.json(record)
        XCTAssertTrue(json.contains("\"heatmap_error\""), json)
        XCTAssertFalse(json.contains("\"error\""), "the photo itself did not fail: \(json)")
    }

    /// The shipped default model on freshly rendered washers (seed 777, which training never saw): the
    /// hotspot must land on the defect. The renderer draws each defect photo and its intact twin from
    /// the same scene, so the pixels where they differ are the defect.
    func testHotspotsLandOnRenderedDefects() throws {
        let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Models/default.onnx").path
        let classifier = try InspectionModel.load(path: modelPath).classifier(threads: 1)
        let renderer = SampleRenderer(seed: 777)
        var explained = 0, hits = 0
        var shares: Float = 0
        var misses: [String] = []
        for kind in PartCondition.allCases where kind != .ok {
            for index in 0..<4 {
                let photo = renderer.render(kind: kind, index: index), twin = renderer.render(kind: .ok, index: index)
                var tensor = try classifier.preprocessing.tensor(from: photo)
                let probabilities = tensor.withUnsafeBufferPointer { classifier.probabilities(for: $0.baseAddress!) }
                guard classifier.policy.decide(probabilities).decision != .ok else { continue }
                let map = tensor.withUnsafeMutableBufferPointer {
                    classifier.evidenceMap(for: $0.baseAddress!, probabilities: probabilities, grid: ExplanationSettings.defaultGrid)
                }
                let hotspot = try Hotspot(map.strongest, through: classifier.preprocessing.inputMapping(for: photo))
                var defectPixelsInside = 0
                for y in hotspot.y..<min(photo.height, hotspot.y + hotspot.height) {
                    for x in hotspot.x..<min(photo.width, hotspot.x + hotspot.width) {
                        let base = (y * photo.width + x) * 3
                        let difference = (0..<3).map { abs(Int(photo.pixels[base + $0]) - Int(twin.pixels[base + $0])) }.reduce(0, +)
                        if difference > 24 { defectPixelsInside += 1 }
                    }
                }
                explained += 1
                shares += hotspot.evidence
                if defectPixelsInside > 0 { hits += 1 } else { misses.append("\(kind)_\(index) at \(hotspot)") }
            }
        }
        print("hotspots on the defect: \(hits) of \(explained); mean evidence share \(shares / Float(max(1, explained))); missed: \(misses)")
        XCTAssertGreaterThanOrEqual(explained, 16, "the default model rejects most rendered defects")
        XCTAssertGreaterThanOrEqual(Double(hits), 0.85 * Double(explained), "missed: \(misses)")
    }
}
