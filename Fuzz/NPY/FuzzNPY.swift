import AugeONNX
import Foundation

/// libFuzzer target: `.npy` bytes as `auge run --input` reads them.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if let tensor = try? NPY.decode(Data(bytes: data, count: size), name: "fuzz.npy") {
        // What is read must round-trip.
        let again = try? NPY.decode(NPY.encode(tensor), name: "again.npy")
        precondition(again?.shape == tensor.shape, "an .npy tensor did not survive encode + decode")
    }
    return 0
}
