import AugeRandom

/// Smooth 2-D lattice noise for textures and irregular outlines: random values on the integer grid,
/// blended with a smoothstep. Hashing the grid point (instead of a stored table) keeps it stateless.
struct ValueNoise: Sendable {
    let seed: UInt64

    /// In [-1, 1], smooth, with features about one unit apart.
    func sample(_ x: Float, _ y: Float) -> Float {
        let fx = x.rounded(.down), fy = y.rounded(.down)
        let ix = Int64(fx), iy = Int64(fy)
        let tx = smoothstep(x - fx), ty = smoothstep(y - fy)
        let top = lerp(lattice(ix, iy), lattice(ix + 1, iy), tx)
        let bottom = lerp(lattice(ix, iy + 1), lattice(ix + 1, iy + 1), tx)
        return lerp(top, bottom, ty)
    }

    /// Sum of `octaves` layers, each at twice the frequency and half the amplitude; about [-1, 1].
    func fractal(_ x: Float, _ y: Float, octaves: Int) -> Float {
        var sum: Float = 0, total: Float = 0, amplitude: Float = 1, frequency: Float = 1
        for octave in 0..<octaves {
            // Offsetting each octave keeps their lattice points from lining up.
            sum += amplitude * sample(x * frequency + Float(octave) * 17.3, y * frequency)
            total += amplitude
            amplitude *= 0.5
            frequency *= 2
        }
        return sum / total
    }

    private func lattice(_ x: Int64, _ y: Int64) -> Float {
        let hash = SeededGenerator.mix(seed ^ UInt64(bitPattern: x) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bitPattern: y) &* 0xC2B2_AE3D_27D4_EB4F)
        return Float(hash >> 40) * 0x1p-23 - 1
    }
}

func smoothstep(_ t: Float) -> Float {
    let c = min(max(t, 0), 1)
    return c * c * (3 - 2 * c)
}

/// 0 at `edge0`, 1 at `edge1` (either order), smooth in between.
func smoothstep(_ edge0: Float, _ edge1: Float, _ x: Float) -> Float {
    smoothstep((x - edge0) / (edge1 - edge0))
}

func lerp<T: FloatingPoint>(_ a: T, _ b: T, _ t: T) -> T {
    a + (b - a) * t
}
