import AugeImage

/// libFuzzer target: photo bytes through format sniffing, PNG/JPEG decoding, EXIF orientation and
/// preprocessing, as `auge classify` takes them. Any thrown error is a correct answer; a crash is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImages(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // A 4-megapixel cap keeps one input well inside the 10 s budget; larger ones are refused with an error.
    let decoder = ImageDecoder(maxPixels: 4_000_000)
    for (color, resize) in [(ColorMode.rgb, ResizePolicy.stretch), (.gray, .fit), (.rgb, .crop)] {
        let preprocessing = Preprocessing(
            width: 37, height: 23, color: color, resize: resize,
            region: resize == .crop ? Region(x: 3, y: 1, width: 40, height: 30) : nil)
        // Full resolution, and the DCT-downscaled path the model's input size chooses.
        for image in [try? decoder.decode(bytes, name: "fuzz", color: color), try? decoder.decode(bytes, name: "fuzz", for: preprocessing)] {
            if let image { _ = try? preprocessing.tensor(from: image) }
        }
    }
    return 0
}
