import AugeEngine
import Foundation

/// Reads and writes NumPy `.npy` files holding little-endian float32 arrays in C order, the format
/// of test fixtures and of `auge run` inputs and outputs.
public enum NPY {
    public struct FormatError: Error, Sendable, Equatable, LocalizedError, CustomStringConvertible {
        public let file: String
        public let message: String
        public var description: String { "\(file): \(message)" }
        public var errorDescription: String? { description }
    }

    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    /// Larger arrays are refused before anything is allocated.
    public static let maximumElements = 1 << 30

    public static func read(contentsOf url: URL) throws -> Tensor {
        try decode(Data(contentsOf: url), name: url.lastPathComponent)
    }

    public static func write(_ tensor: Tensor, to url: URL) throws {
        try encode(tensor).write(to: url, options: .atomic)
    }

    public static func decode(_ data: Data, name: String) throws(FormatError) -> Tensor {
        func fail(_ message: String) -> FormatError { FormatError(file: name, message: message) }
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("not an .npy file (no \\x93NUMPY magic)") }
        let major = bytes[6]
        let headerLengthSize = major == 1 ? 2 : 4
        guard (1...3).contains(major), bytes.count >= 8 + headerLengthSize else { throw fail("unsupported .npy version \(major)") }
        let headerLength = bytes[8..<(8 + headerLengthSize)].reversed().reduce(0) { $0 << 8 | Int($1) }
        let headerStart = 8 + headerLengthSize
        guard headerLength <= data.count - headerStart else { throw fail("truncated header") }
        let headerBytes = data.dropFirst(headerStart).prefix(headerLength)
        guard let header = String(bytes: headerBytes, encoding: major == 3 ? .utf8 : .ascii) else { throw fail("unreadable header") }

        guard let descr = field("descr", in: header), descr == "'<f4'" || descr == "'=f4'" else {
            throw fail("holds \(field("descr", in: header) ?? "unknown type"); only little-endian float32 ('<f4') is supported")
        }
        guard field("fortran_order", in: header) == "False" else { throw fail("is in Fortran order; only C order is supported") }
        guard let shapeText = field("shape", in: header) else { throw fail("header has no shape") }
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()")).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        var count = 1
        for dim in dims {
            guard let value = Int(dim), value >= 0 else { throw fail("shape \(shapeText) has an invalid dimension") }
            let (product, overflow) = count.multipliedReportingOverflow(by: value)
            guard !overflow, product <= maximumElements else { throw fail("shape \(shapeText) exceeds \(maximumElements) elements") }
            shape.append(value)
            count = product
        }
        let payload = data.dropFirst(headerStart + headerLength)
        guard payload.count == count * 4 else {
            throw fail("shape \(shapeText) needs \(count * 4) bytes of data, the file holds \(payload.count)")
        }
        let values = payload.withUnsafeBytes { raw in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        return Tensor(shape: shape, data: values)
    }

    public static func encode(_ tensor: Tensor) -> Data {
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        // Pad so the data starts on a 64-byte boundary, as NumPy does; the header ends in a newline.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data(magic + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        data.reserveCapacity(data.count + tensor.count * 4)
        for value in tensor.data {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
        return data
    }

    /// The text of one entry of the header dictionary, e.g. "'<f4'" for descr or "(1, 3)" for shape.
    private static func field(_ key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)':") else { return nil }
        let rest = header[keyRange.upperBound...].drop(while: { $0 == " " })
        let end: String.Index?
        if rest.first == "(" {
            end = rest.firstIndex(of: ")").map { rest.index(after: $0) }
        } else {
            end = rest.firstIndex(where: { $0 == "," || $0 == "}" })
        }
        return end.map { String(rest[..<$0]).trimmingCharacters(in: .whitespaces) }
    }
}
