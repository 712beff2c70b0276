/// A fixed-size float array at a stable, 64-byte aligned address, for hot loops (no copy-on-write, no
/// exclusivity checks): the engine's packed weights, biases and arena, and the trainer's tensors.
/// 16 zeroed floats follow the last element, so a vector load that starts inside may run past the end.
package final class AlignedBuffer {
    package let pointer: UnsafeMutablePointer<Float>
    package let count: Int

    package init(count: Int, value: Float = 0) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4 + 64, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1) + 16)
        pointer.initialize(repeating: value, count: count)
        (pointer + count).initialize(repeating: 0, count: max(count, 1) + 16 - count)
    }

    package convenience init(_ values: [Float]) {
        self.init(count: values.count)
        load(values)
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    package var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    package func load(_ values: [Float]) {
        precondition(values.count == count, "expected \(count) values, got \(values.count)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    package func fill(_ value: Float) {
        pointer.update(repeating: value, count: count)
    }
}
