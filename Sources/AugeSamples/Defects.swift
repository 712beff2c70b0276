import AugeRandom
import Foundation

/// A defect drawn onto the part. Positions are in the part's frame (centred, turning with the part),
/// lengths in units of the image's shorter side.
protocol Defect: Sendable {
    /// Outside this box the defect changes nothing, so the renderer skips it there.
    var bounds: Bounds { get }
    /// Fraction of the material at `point` that is missing (0 = intact, 1 = gone).
    func missing(at point: SIMD2<Float>, pixel: Float) -> Float
    /// Changes the colour of the steel at `point`.
    func mark(_ color: inout SIMD3<Float>, at point: SIMD2<Float>)
}

extension Defect {
    func missing(at point: SIMD2<Float>, pixel: Float) -> Float { 0 }
}

struct Bounds: Sendable {
    var lower: SIMD2<Float>
    var upper: SIMD2<Float>

    init(around points: [SIMD2<Float>], margin: Float) {
        lower = points.reduce(points[0], pointwiseMin) - margin
        upper = points.reduce(points[0], pointwiseMax) + margin
    }

    func contains(_ point: SIMD2<Float>) -> Bool {
        all(point .>= lower) && all(point .<= upper)
    }
}

/// Draws the defect for `condition` (nil for an intact part). `light` points at the lamp in the part's frame.
func makeDefect(
    _ condition: PartCondition, on washer: Washer, light: SIMD2<Float>, texture: ValueNoise,
    random: inout SeededGenerator
) -> (any Defect)? {
    switch condition {
    case .ok: return nil
    case .scratch: return Scratch(on: washer, random: &random)
    case .crack: return Crack(on: washer, random: &random)
    case .dent: return Dent(on: washer, light: light, random: &random)
    case .chip: return Chip(on: washer, light: light, texture: texture, random: &random)
    case .stain: return Stain(on: washer, texture: texture, random: &random)
    }
}

/// A thin, slightly bowed line of freshly exposed metal that catches the lamp. (Dark lines are cracks.)
struct Scratch: Defect {
    let center: SIMD2<Float>
    let along: SIMD2<Float>
    let halfLength: Float
    let width: Float
    let bow: Float
    let contrast: Float
    let bounds: Bounds

    init(on washer: Washer, random: inout SeededGenerator) {
        center = washer.randomFacePoint(margin: 0.01, random: &random)
        along = direction(random.nextFloat(in: 0...(2 * .pi)))
        halfLength = random.nextFloat(in: 0.08...0.14)
        width = random.nextFloat(in: 0.012...0.018)
        bow = halfLength * random.nextFloat(in: -0.15...0.15)
        contrast = random.nextFloat(in: 0.3...0.55)
        bounds = Bounds(around: [center - along * halfLength, center + along * halfLength], margin: abs(bow) + 3 * width)
    }

    func mark(_ color: inout SIMD3<Float>, at point: SIMD2<Float>) {
        let offset = point - center
        let t = dot(offset, along) / halfLength
        guard abs(t) < 1 else { return }
        let side = (offset.x * along.y - offset.y * along.x) - bow * (1 - t * t)
        let taper = 1 - t * t * t * t
        let sigma = width / 2
        color += SIMD3(repeating: contrast * taper * exp(-side * side / (2 * sigma * sigma)))
    }
}

/// A dark, jagged fissure running from the inner or outer edge across the face, thinning to its tip.
struct Crack: Defect {
    let path: [SIMD2<Float>]
    let width: Float
    let darkness: Float
    let bounds: Bounds

    init(on washer: Washer, random: inout SeededGenerator) {
        let fromOutside = random.nextChance(0.5)
        let start = direction(random.nextFloat(in: 0...(2 * .pi)))
        var point = start * (fromOutside ? washer.outerRadius - 0.002 : washer.innerRadius + 0.002)
        var heading = atan2(start.y, start.x) + (fromOutside ? .pi : 0) + random.nextFloat(in: -0.4...0.4)
        let steps = 7
        let step = random.nextFloat(in: 0.1...0.18) / Float(steps)
        var path = [point]
        for _ in 0..<steps {
            heading += random.nextFloat(in: -0.6...0.6)
            point += step * direction(heading)
            path.append(point)
        }
        self.path = path
        width = random.nextFloat(in: 0.009...0.014)
        darkness = random.nextFloat(in: 0.65...0.9)
        bounds = Bounds(around: path, margin: 3 * width)
    }

    func mark(_ color: inout SIMD3<Float>, at point: SIMD2<Float>) {
        var nearest = Float.infinity, progress: Float = 0
        for i in 0..<(path.count - 1) {
            let segment = path[i + 1] - path[i]
            let t = min(max(dot(point - path[i], segment) / dot(segment, segment), 0), 1)
            let distance = length(point - path[i] - t * segment)
            if distance < nearest {
                nearest = distance
                progress = (Float(i) + t) / Float(path.count - 1)
            }
        }
        let sigma = width / 2 * (1 - 0.6 * progress)
        color *= 1 - darkness * exp(-nearest * nearest / (2 * sigma * sigma))
    }
}

/// A shallow round depression: the wall facing the lamp lights up, the opposite wall falls dark.
struct Dent: Defect {
    let center: SIMD2<Float>
    let radius: Float
    let strength: Float
    let light: SIMD2<Float>
    let bounds: Bounds

    init(on washer: Washer, light: SIMD2<Float>, random: inout SeededGenerator) {
        radius = random.nextFloat(in: 0.045...0.07)
        center = washer.randomFacePoint(margin: radius * 0.6, random: &random)
        strength = random.nextFloat(in: 0.4...0.7)
        self.light = light
        bounds = Bounds(around: [center], margin: radius)
    }

    func mark(_ color: inout SIMD3<Float>, at point: SIMD2<Float>) {
        let offset = point - center
        let u = length(offset) / radius
        guard u < 1 else { return }
        // Depth (1 - u²)² has slope 4u(1 - u²) (at most 1.54); walls face the centre.
        let slope = 4 * u * (1 - u * u) / 1.54
        let inward = -offset / max(length(offset), 1e-6)
        color *= 1 + strength * slope * dot(inward, light) - 0.05 * (1 - u * u)
    }
}

/// A piece broken out of the outer edge: the belt shows through, the fracture face is rough.
struct Chip: Defect {
    let center: SIMD2<Float>
    let radius: Float
    let light: SIMD2<Float>
    let texture: ValueNoise
    let bounds: Bounds
    private let fractureWidth: Float = 0.008

    init(on washer: Washer, light: SIMD2<Float>, texture: ValueNoise, random: inout SeededGenerator) {
        radius = random.nextFloat(in: 0.045...0.075)
        center = direction(random.nextFloat(in: 0...(2 * .pi))) * (washer.outerRadius + radius * random.nextFloat(in: -0.2...0.3))
        self.light = light
        self.texture = texture
        bounds = Bounds(around: [center], margin: radius * 1.35 + fractureWidth)
    }

    /// The break's jagged outline: its radius wanders by up to a third around the circle.
    private func outline(_ offset: SIMD2<Float>) -> Float {
        let around = offset / max(length(offset), 1e-6)
        return radius * (1 + 0.33 * texture.sample(around.x * 1.8 + 50, around.y * 1.8))
    }

    func missing(at point: SIMD2<Float>, pixel: Float) -> Float {
        let offset = point - center
        let edge = outline(offset)
        return smoothstep(edge + pixel / 2, edge - pixel / 2, length(offset))
    }

    func mark(_ color: inout SIMD3<Float>, at point: SIMD2<Float>) {
        let offset = point - center
        let distance = length(offset)
        let intoFracture = 1 - (distance - outline(offset)) / fractureWidth
        guard intoFracture > 0 else { return }
        let facing = dot(-offset / max(distance, 1e-6), light)
        let roughness = 0.15 * texture.sample(point.x * 400, point.y * 400)
        color *= 1 + min(intoFracture, 1) * (0.4 * facing + roughness)
    }
}

/// A blotch of rust, oil or heat tint with an irregular, soft outline.
struct Stain: Defect {
    let center: SIMD2<Float>
    let radius: Float
    let tint: SIMD3<Float>
    let texture: ValueNoise
    let bounds: Bounds

    static let tints: [SIMD3<Float>] = [
        SIMD3(0.80, 0.55, 0.38),  // rust
        SIMD3(0.62, 0.60, 0.55),  // oil
        SIMD3(0.72, 0.60, 0.82),  // heat tint
    ]

    init(on washer: Washer, texture: ValueNoise, random: inout SeededGenerator) {
        radius = random.nextFloat(in: 0.06...0.1)
        center = washer.randomFacePoint(margin: radius * 0.3, random: &random)
        let strength = random.nextFloat(in: 0.6...0.9)
        tint = 1 - strength * (1 - Stain.tints[random.nextIndex(below: Stain.tints.count)])
        self.texture = texture
        bounds = Bounds(around: [center], margin: radius * 1.4)
    }

    func mark(_ color: inout SIMD3<Float>, at point: SIMD2<Float>) {
        let offset = (point - center) / radius
        let shape = length(offset) + 0.35 * texture.fractal(offset.x * 1.6 - 70, offset.y * 1.6, octaves: 3)
        let cover = smoothstep(1, 0.6, shape)
        color *= 1 - cover * (1 - tint)
    }
}
