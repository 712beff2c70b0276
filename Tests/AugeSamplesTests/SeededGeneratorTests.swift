import AugeRandom
import XCTest

final class SeededGeneratorTests: XCTestCase {
    func testStreamsAreReproducibleAndIndependent() {
        var a = SeededGenerator(stream: 5, 1), b = SeededGenerator(stream: 5, 1), c = SeededGenerator(stream: 5, 2), d = SeededGenerator(stream: 1, 5)
        let first = (0..<4).map { _ in a.next() }
        XCTAssertEqual(first, (0..<4).map { _ in b.next() })
        XCTAssertNotEqual(first, (0..<4).map { _ in c.next() })
        XCTAssertNotEqual(first, (0..<4).map { _ in d.next() }, "the order of the keys matters")
    }

    func testDrawsHaveTheirDistributions() {
        var random = SeededGenerator(seed: 42)
        let count = 20_000
        let units = (0..<count).map { _ in random.nextUnit() }
        XCTAssertTrue(units.allSatisfy { (0..<1).contains($0) })
        XCTAssertEqual(units.reduce(0, +) / Float(count), 0.5, accuracy: 0.01)
        let normals = (0..<count).map { _ in random.nextApproximateGaussian() }
        let mean = normals.reduce(0, +) / Float(count)
        let variance = normals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(count)
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
        XCTAssertEqual(Float(normals.filter { abs($0) < 1 }.count) / Float(count), 0.683, accuracy: 0.02, "normal-like shape")
        let indices = Set((0..<1000).map { _ in random.nextIndex(below: 6) })
        XCTAssertEqual(indices, Set(0..<6))
    }
}
