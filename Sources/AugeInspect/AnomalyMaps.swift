import AugeImage
import Foundation

extension Classifier {
    /// A ground-truth defect mask (a grey image the size of the photo, defect where bright) brought into
    /// the model's input frame by the model's own preprocessing (region, resize policy), one value per
    /// input pixel, row-major. Pixels from 128 up are defect; a mask whose values all lie below 128
    /// (a 0/1 mask) counts every non-zero pixel.
    public func inputMask(fileAt path: String, decoder: ImageDecoder) throws -> [Bool] {
        var geometry = preprocessing
        (geometry.color, geometry.mean, geometry.std) = (.gray, [0], [1])
        let image = try decoder.decode(fileAt: path, for: geometry)
        var values = [Float](repeating: 0, count: geometry.tensorCount)
        try geometry.writeTensor(from: image, to: &values)
        let cut: Float = image.pixels.contains { $0 >= 128 } ? 0.5 : 0.5 / 255
        return values.map { $0 >= cut }
    }

    /// An anomaly map at the model's input resolution: bilinear between cell centres (as heatmaps draw it).
    public func mapAtInputResolution(_ map: [Float]) -> [Float] {
        guard let layout = anomalyMap else { preconditionFailure("an anomaly model's map") }
        let (width, height) = (preprocessing.width, preprocessing.height)
        func taps(_ size: Int, _ cells: Int) -> [(Int, Int, Float)] {
            (0..<size).map { i in
                let position = min(max((Double(i) + 0.5) / Double(size) * Double(cells) - 0.5, 0), Double(cells - 1))
                let low = Int(position)
                return (low, min(low + 1, cells - 1), Float(position - Double(low)))
            }
        }
        let columns = taps(width, layout.columns), rows = taps(height, layout.rows)
        var result = [Float](repeating: 0, count: width * height)
        for (y, (r0, r1, fy)) in rows.enumerated() {
            for (x, (c0, c1, fx)) in columns.enumerated() {
                let top = map[r0 * layout.columns + c0] * (1 - fx) + map[r0 * layout.columns + c1] * fx
                let bottom = map[r1 * layout.columns + c0] * (1 - fx) + map[r1 * layout.columns + c1] * fx
                result[y * width + x] = top * (1 - fy) + bottom * fy
            }
        }
        return result
    }
}
