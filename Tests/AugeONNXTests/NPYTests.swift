import AugeEngine
import Foundation
import XCTest
@testable import AugeONNX

final class NPYTests: XCTestCase {
    func testReadsNumPyWrittenFixture() throws {
        // Written by numpy.save: shape (1, 3, 8, 8) of standard normal values.
        let tensor = try NPY.read(contentsOf: FixtureManifest.url("activations.in0.npy"))
        XCTAssertEqual(tensor.shape, [1, 3, 8, 8])
        XCTAssertEqual(tensor.count, 192)
        XCTAssertTrue(tensor.data.contains { $0 < -1 } && tensor.data.contains { $0 > 1 })
    }

    func testRoundTripKeepsShapeAndBits() throws {
        for shape in [[], [5], [2, 3], [1, 2, 3, 4]] {
            let count = shape.reduce(1, *)
            let tensor = Tensor(shape: shape, data: (0..<count).map { Float($0) * 0.37 - 1 })
            let encoded = NPY.encode(tensor)
            XCTAssertEqual(try NPY.decode(encoded, name: "t.npy"), tensor)
            // NumPy aligns the data to 64 bytes.
            XCTAssertEqual((encoded.count - count * 4) % 64, 0)
        }
        let special = Tensor(shape: [3], data: [.infinity, -0.0, .leastNonzeroMagnitude])
        XCTAssertEqual(try NPY.decode(NPY.encode(special), name: "s.npy").data.map(\.bitPattern), special.data.map(\.bitPattern))
    }

    func testWrittenFileHasNumPyHeader() {
        let data = NPY.encode(Tensor(shape: [2], data: [1, 2]))
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        let header = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"), header)
        XCTAssertTrue(header.hasSuffix("\n"))
    }

    func testRefusesOtherFormats() {
        let valid = NPY.encode(Tensor(shape: [2, 2], data: [1, 2, 3, 4]))
        var float64 = valid
        float64.replaceSubrange(float64.range(of: Data("<f4".utf8))!, with: Data("<f8".utf8))
        var fortran = valid
        fortran.replaceSubrange(fortran.range(of: Data("False".utf8))!, with: Data("True ".utf8))
        let cases: [(Data, String)] = [
            (Data("not numpy".utf8), "magic"),
            (valid.dropLast(3), "bytes"),
            (float64, "float32"),
            (fortran, "Fortran"),
            (valid.prefix(20), "truncated"),
        ]
        for (data, word) in cases {
            XCTAssertThrowsError(try NPY.decode(data, name: "bad.npy")) { error in
                XCTAssertTrue("\(error)".contains(word) && "\(error)".contains("bad.npy"), "\(error)")
            }
        }
    }
}
