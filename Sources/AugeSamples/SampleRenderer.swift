import AugeImage
import AugeRandom

/// Renders synthetic inspection photos: a turned steel washer on a dark conveyor belt, intact or with
/// one defect, under varying pose, lighting, glare and sensor noise.
///
/// Deterministic: the same seed, index and condition give the same pixels. The photos of one index
/// share everything but the defect, so a defect image differs from the intact one only around it.
public struct SampleRenderer: Sendable {
    public let seed: UInt64
    public let width: Int
    public let height: Int

    public init(seed: UInt64, width: Int = 256, height: Int = 256) {
        precondition(width > 0 && height > 0, "image size must be positive")
        self.seed = seed
        self.width = width
        self.height = height
    }

    public func render(kind: PartCondition, index: Int) -> Image {
        let scale = Float(min(width, height))
        let pixel = 1 / scale
        let frame = SIMD2(Float(width), Float(height)) / scale
        var sceneRandom = SeededGenerator(stream: seed, UInt64(bitPattern: Int64(index)), 0)
        var defectRandom = SeededGenerator(stream: seed, UInt64(bitPattern: Int64(index)), 1)
        var sensor = SeededGenerator(stream: seed, UInt64(bitPattern: Int64(index)), 2)
        let scene = Scene(frame: frame, random: &sceneRandom)
        let defect = makeDefect(
            kind, on: scene.washer, light: scene.partFrame(scene.light), texture: scene.texture,
            random: &defectRandom)

        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let point = SIMD2(Float(x) + 0.5, Float(y) + 0.5) / scale
                let offset = point - scene.center
                let radius = length(offset)
                var color = scene.beltColor(at: point)
                var coverage = scene.ringCoverage(radius: radius, edge: pixel)
                if coverage > 0 {
                    let local = scene.partFrame(offset)
                    var steel = scene.steelColor(at: point, offset: offset, radius: radius, local: local, pixel: pixel)
                    if let defect, defect.bounds.contains(local) {
                        defect.mark(&steel, at: local)
                        coverage *= 1 - defect.missing(at: local, pixel: pixel)
                    }
                    color += (steel - color) * coverage
                }
                color = scene.withDust(color, at: point)
                color *= scene.whiteBalance * scene.illumination(at: point, frame: frame)
                // Sensor noise: mostly shared by the channels (luminance), stronger in bright pixels.
                let shared = sensor.nextApproximateGaussian()
                let noise = SIMD3(sensor.nextApproximateGaussian(), sensor.nextApproximateGaussian(), sensor.nextApproximateGaussian()) * 0.4 + shared
                color += noise * scene.noiseLevel * (0.6 + color)
                let quantised = (color.clamped(lowerBound: .zero, upperBound: .one) * 255).rounded(.toNearestOrAwayFromZero)
                let base = (y * width + x) * 3
                pixels[base] = UInt8(quantised.x)
                pixels[base + 1] = UInt8(quantised.y)
                pixels[base + 2] = UInt8(quantised.z)
            }
        }
        return Image(width: width, height: height, color: .rgb, pixels: pixels)
    }
}
