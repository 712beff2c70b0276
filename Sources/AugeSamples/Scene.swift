import AugeRandom
import Foundation

/// A turned steel washer seen from above. Lengths are in units of the image's shorter side.
struct Washer: Sendable {
    var outerRadius: Float
    var innerRadius: Float
    var chamferWidth: Float
    /// A shallow turned groove that splits the face into two rings.
    var grooveRadius: Float

    /// The flat face between the chamfers.
    var face: ClosedRange<Float> { (innerRadius + chamferWidth)...(outerRadius - chamferWidth) }

    /// A point on the face at least `margin` from its edges, in the part's frame.
    func randomFacePoint(margin: Float, random: inout SeededGenerator) -> SIMD2<Float> {
        let radius = random.nextFloat(in: (face.lowerBound + margin)...(face.upperBound - margin))
        return radius * direction(random.nextFloat(in: 0...(2 * .pi)))
    }
}

/// Everything about one photo except its defect: the part's pose, the lamp, the materials and the camera.
struct Scene: Sendable {
    var washer: Washer
    var center: SIMD2<Float>
    /// (cos, sin) of the part's rotation; its texture and defects turn with it.
    var rotation: SIMD2<Float>
    /// Unit vector from the part towards the lamp, in the image plane.
    var light: SIMD2<Float>
    var exposure: Float
    var lightGradient: Float
    var vignette: Float
    var whiteBalance: SIMD3<Float>
    var glareCenter: SIMD2<Float>
    var glareRadius: Float
    var glareStrength: Float
    /// Turned grooves reflect the lamp along the radius that points at it: a "bow-tie" highlight.
    var streakStrength: Float
    var streakWidth: Float
    var steel: SIMD3<Float>
    var toolMarkPeriod: Float
    var toolMarkDepth: Float
    var belt: SIMD3<Float>
    var shadowOffset: SIMD2<Float>
    /// Standard deviation of the sensor noise, in [0, 1] intensity units.
    var noiseLevel: Float
    var texture: ValueNoise
    /// Dust and lint: a few soft grey specks anywhere, on intact and defective parts alike.
    var dust: [(center: SIMD2<Float>, radius: Float, opacity: Float)]

    init(frame: SIMD2<Float>, random: inout SeededGenerator) {
        let outerRadius = 0.33 * random.nextFloat(in: 0.94...1.06)
        washer = Washer(
            outerRadius: outerRadius,
            innerRadius: outerRadius * random.nextFloat(in: 0.38...0.46),
            chamferWidth: random.nextFloat(in: 0.012...0.018),
            grooveRadius: outerRadius * random.nextFloat(in: 0.68...0.76))
        center = frame / 2 + SIMD2(random.nextFloat(in: -0.05...0.05), random.nextFloat(in: -0.05...0.05))
        rotation = direction(random.nextFloat(in: 0...(2 * .pi)))
        light = direction(random.nextFloat(in: 0...(2 * .pi)))
        exposure = random.nextFloat(in: 0.85...1.12)
        lightGradient = random.nextFloat(in: 0.1...0.35)
        vignette = random.nextFloat(in: 0.15...0.35)
        whiteBalance = SIMD3(1 + random.nextFloat(in: -0.04...0.04), 1, 1 + random.nextFloat(in: -0.04...0.04))
        glareCenter =
            center + light * outerRadius * random.nextFloat(in: 0.2...0.7)
            + SIMD2(random.nextFloat(in: -0.04...0.04), random.nextFloat(in: -0.04...0.04))
        glareRadius = random.nextFloat(in: 0.04...0.1)
        glareStrength = random.nextFloat(in: 0.05...0.35)
        streakStrength = random.nextFloat(in: 0.08...0.25)
        streakWidth = random.nextFloat(in: 0.15...0.35)
        let grey = random.nextFloat(in: 0.55...0.68)
        steel = SIMD3(grey * random.nextFloat(in: 0.96...1), grey, grey * random.nextFloat(in: 1...1.05))
        toolMarkPeriod = random.nextFloat(in: 0.008...0.016)
        toolMarkDepth = random.nextFloat(in: 0.02...0.05)
        let rubber = random.nextFloat(in: 0.09...0.15)
        belt = SIMD3(rubber, rubber * random.nextFloat(in: 1...1.06), rubber)
        shadowOffset = -light * random.nextFloat(in: 0.012...0.03)
        noiseLevel = random.nextFloat(in: 0.008...0.025)
        texture = ValueNoise(seed: random.next())
        dust = (0..<random.nextIndex(below: 6)).map { _ in
            (
                center: SIMD2(random.nextFloat(in: 0...frame.x), random.nextFloat(in: 0...frame.y)),
                radius: random.nextFloat(in: 0.002...0.005), opacity: random.nextFloat(in: 0.3...0.7)
            )
        }
    }

    /// From image coordinates (relative to the part's centre) to the part's own frame.
    func partFrame(_ offset: SIMD2<Float>) -> SIMD2<Float> {
        SIMD2(rotation.x * offset.x + rotation.y * offset.y, rotation.x * offset.y - rotation.y * offset.x)
    }

    /// Fraction of a pixel covered by the washer's ring (or, with a softer edge, by its shadow).
    func ringCoverage(radius: Float, edge: Float) -> Float {
        smoothstep(washer.outerRadius + edge / 2, washer.outerRadius - edge / 2, radius)
            * smoothstep(washer.innerRadius - edge / 2, washer.innerRadius + edge / 2, radius)
    }

    /// Dark rubber, grainy along the running direction (x), darkened by the part's soft shadow.
    func beltColor(at point: SIMD2<Float>) -> SIMD3<Float> {
        let grain =
            0.12 * texture.fractal(point.x * 25 + 100, point.y * 140, octaves: 2)
            + 0.06 * texture.sample(point.x * 4 + 100, point.y * 4)
        let shadow = ringCoverage(radius: length(point - center - shadowOffset), edge: 0.03)
        return belt * (1 + grain) * (1 - 0.55 * shadow)
    }

    /// Turned steel: concentric tool marks, slight mottling, the bow-tie highlight, chamfers and the
    /// groove shaded by which way they tilt relative to the lamp, and the lamp's glare.
    func steelColor(at point: SIMD2<Float>, offset: SIMD2<Float>, radius: Float, local: SIMD2<Float>, pixel: Float) -> SIMD3<Float> {
        let outward = offset / max(radius, 1e-6)
        let facing = dot(outward, light)
        let toolMarks = toolMarkDepth * sin(2 * .pi * radius / toolMarkPeriod) * (0.6 + 0.4 * texture.sample(radius * 40, 3.7))
        let mottling = 0.05 * texture.fractal(local.x * 14, local.y * 14, octaves: 2)
        let outerChamfer = smoothstep(washer.face.upperBound - pixel, washer.face.upperBound, radius)
        let innerChamfer = smoothstep(washer.face.lowerBound + pixel, washer.face.lowerBound, radius)
        // The groove is a narrow valley: its inner wall faces outward, its outer wall inward.
        let grooveWidth: Float = 0.004
        let fromGroove = (radius - washer.grooveRadius) / grooveWidth
        let groove = exp(-fromGroove * fromGroove / 2)
        let brightness =
            0.78 + toolMarks + mottling + 0.45 * facing * (outerChamfer - innerChamfer)
            - 0.18 * groove - 0.25 * facing * fromGroove * groove
        let across = outward.x * light.y - outward.y * light.x
        let streak = streakStrength * exp(-across * across / (2 * streakWidth * streakWidth))
        let fromGlare = point - glareCenter
        let glare = glareStrength * exp(-dot(fromGlare, fromGlare) / (2 * glareRadius * glareRadius))
        return steel * brightness + SIMD3(repeating: streak + glare)
    }

    func withDust(_ color: SIMD3<Float>, at point: SIMD2<Float>) -> SIMD3<Float> {
        let grey = SIMD3<Float>(repeating: 0.4)
        var color = color
        for speck in dust {
            let fromSpeck = point - speck.center
            let distance2 = dot(fromSpeck, fromSpeck) / (speck.radius * speck.radius)
            if distance2 < 16 { color += (grey - color) * speck.opacity * exp(-distance2 / 2) }
        }
        return color
    }

    /// Light falling across the belt from the lamp's side and the lens's darker corners.
    func illumination(at point: SIMD2<Float>, frame: SIMD2<Float>) -> Float {
        let fromMiddle = point - frame / 2
        return exposure * (1 + lightGradient * dot(fromMiddle, light)) * (1 - vignette * dot(fromMiddle, fromMiddle))
    }
}

func direction(_ angle: Float) -> SIMD2<Float> {
    SIMD2(cos(angle), sin(angle))
}

func dot(_ a: SIMD2<Float>, _ b: SIMD2<Float>) -> Float {
    (a * b).sum()
}

func length(_ v: SIMD2<Float>) -> Float {
    dot(v, v).squareRoot()
}
