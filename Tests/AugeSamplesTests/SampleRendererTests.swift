import AugeImage
import AugeSamples
import XCTest

final class SampleRendererTests: XCTestCase {
    let size = 128
    let indices = 0..<6

    func testSameSeedGivesSamePixelsAndOtherSeedsDiffer() {
        let first = SampleRenderer(seed: 7, width: size, height: size)
        let again = SampleRenderer(seed: 7, width: size, height: size)
        let other = SampleRenderer(seed: 8, width: size, height: size)
        for condition in PartCondition.allCases {
            XCTAssertEqual(first.render(kind: condition, index: 3), again.render(kind: condition, index: 3), "\(condition)")
            XCTAssertNotEqual(first.render(kind: condition, index: 3), other.render(kind: condition, index: 3), "\(condition)")
        }
        XCTAssertNotEqual(first.render(kind: .ok, index: 3), first.render(kind: .ok, index: 4), "another index, another photo")
    }

    func testEveryConditionRendersAPlausiblePhoto() {
        let renderer = SampleRenderer(seed: 1, width: 96, height: 80)
        for condition in PartCondition.allCases {
            for index in indices {
                let image = renderer.render(kind: condition, index: index)
                XCTAssertEqual(image.width, 96)
                XCTAssertEqual(image.height, 80)
                XCTAssertEqual(image.color, .rgb)
                let gray = image.converted(to: .gray).pixels.map(Double.init)
                let mean = gray.reduce(0, +) / Double(gray.count)
                let deviation = (gray.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(gray.count)).squareRoot()
                let clipped = gray.filter { $0 == 0 || $0 == 255 }.count
                // A bright part on a dark belt: mid-grey on average, strong contrast, almost nothing clipped.
                XCTAssertTrue((30...170).contains(mean), "\(condition) \(index): mean \(mean)")
                XCTAssertGreaterThan(deviation, 30, "\(condition) \(index)")
                XCTAssertLessThan(Double(clipped) / Double(gray.count), 0.01, "\(condition) \(index): clipped pixels")
            }
        }
    }

    /// The part covers the middle of the frame: the centre of the photo is much brighter than its corners.
    func testPartSitsOnDarkerBelt() {
        let image = SampleRenderer(seed: 2, width: size, height: size).render(kind: .ok, index: 0).converted(to: .gray)
        func meanGray(x: Range<Int>, y: Range<Int>) -> Double {
            let values = y.flatMap { row in x.map { Double(image[$0, row, 0]) } }
            return values.reduce(0, +) / Double(values.count)
        }
        let ring = meanGray(x: 84..<96, y: 58..<70)  // right of centre, on the face
        let corner = meanGray(x: 0..<12, y: 0..<12)
        XCTAssertGreaterThan(ring, corner + 60)
    }

    func testDefectChangesOnlyASmallRegionOfTheSamePhoto() {
        let renderer = SampleRenderer(seed: 11, width: size, height: size)
        for index in indices {
            let intact = renderer.render(kind: .ok, index: index)
            for condition in PartCondition.allCases where condition != .ok {
                let damaged = renderer.render(kind: condition, index: index)
                var changed = 0, strong = 0
                var lower = SIMD2(Int.max, Int.max), upper = SIMD2(Int.min, Int.min)
                for y in 0..<size {
                    for x in 0..<size {
                        let difference = (0..<3).map { abs(Int(damaged[x, y, $0]) - Int(intact[x, y, $0])) }.max()!
                        guard difference > 0 else { continue }
                        changed += 1
                        if difference >= 16 { strong += 1 }
                        lower = pointwiseMin(lower, SIMD2(x, y))
                        upper = pointwiseMax(upper, SIMD2(x, y))
                    }
                }
                let label = "\(condition) \(index)"
                XCTAssertGreaterThanOrEqual(strong, 6, "\(label): the defect is visible")
                let extent = upper &- lower &+ 1
                XCTAssertLessThanOrEqual(extent.x, size * 2 / 5, "\(label): changes confined to the defect")
                XCTAssertLessThanOrEqual(extent.y, size * 2 / 5, "\(label): changes confined to the defect")
                XCTAssertLessThan(changed, size * size / 10, "\(label)")
            }
        }
    }
}
