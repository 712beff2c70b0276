// Times Auge's JPEG decoding of one file from memory: full size, and DCT-downscaled for a 224x224
// model input. Prints one line per variant: name, median and p90 in ms. bench/decode.sh runs this next
// to bench/jpeg_baseline.c (plain libjpeg-turbo) and prints the ratio.
import AugeImage
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write("usage: DecodeBenchmark FILE.jpg [runs]\n".data(using: .utf8)!)
    exit(2)
}
let runs = arguments.count > 2 ? Int(arguments[2]) ?? 100 : 100
let decoder = ImageDecoder()
let bytes = try decoder.readFile(arguments[1])
let model = Preprocessing(width: 224, height: 224, color: .rgb)

func measure(_ name: String, _ body: () throws -> Image) rethrows {
    var times = [Double]()
    var checksum = 0
    for run in 0..<(runs + 5) {
        let start = DispatchTime.now().uptimeNanoseconds
        let image = try body()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        checksum &+= Int(image.pixels[image.pixels.count / 2]) &+ image.width
        if run >= 5 { times.append(elapsed) }  // the first runs warm caches and the allocator
    }
    times.sort()
    let median = times[times.count / 2], p90 = times[Int(Double(times.count) * 0.9)]
    print(String(format: "%@ median_ms=%.3f p90_ms=%.3f checksum=%d", name, median, p90, checksum))
}

try measure("full") { try decoder.decode(bytes, name: arguments[1], color: .rgb) }
try measure("scaled-224") { try decoder.decode(bytes, name: arguments[1], for: model) }
