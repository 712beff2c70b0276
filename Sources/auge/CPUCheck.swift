import AugeEngine
import ArgumentParser

/// Refuses clearly, instead of dying on an illegal instruction, on a CPU the kernels were not built for.
func requireKernelSupport() throws {
    guard CPUFeatures.canRunKernels else {
        throw ValidationFailure("this CPU lacks the vector instructions Auge's kernels were built for. \(CPUFeatures.summary). "
            + "x86-64 builds need AVX2 and FMA (Intel Haswell / AMD Zen or newer).")
    }
}
