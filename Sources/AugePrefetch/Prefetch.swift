// A software prefetch, in Swift: the compiler's own builtin for LLVM's prefetch intrinsic, which the
// standard library's Builtin module exposes to modules compiled with -parse-stdlib (this one, and only
// this one). Swift has no public prefetch, and the C intrinsic is a macro Swift cannot import.
// @inlinable, so it compiles to one `prefetcht1` (x86) or `prfm pldl2keep` (arm64) inside the caller.
import Swift

/// Asks the CPU to start loading the cache line at `address` into the second-level cache, for reading
/// soon: not into L1, where it would evict data in use (measured: into L1 it gained a fifth as much). A hint:
/// it never faults and does not wait for the data.
@inlinable @inline(__always)
public func prefetchForReading(_ address: UnsafeRawPointer) {
    Builtin.int_prefetch_RawPointer(address._rawValue, Int32(0)._value, Int32(2)._value, Int32(1)._value)
}
