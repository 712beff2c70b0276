// What the CPU offers and what the engine's kernels were compiled for, so a caller (the CLI) can
// refuse clearly instead of dying on an illegal instruction.

import Foundation

public enum CPUFeatures {
    public enum KernelLevel: String, Sendable, Comparable {
        /// Baseline x86-64 or other, no vector FMA.
        case portable
        /// ARM NEON (always present on arm64).
        case neon
        /// x86-64-v3: AVX2 + FMA.
        case avx2
        /// AVX-512F on top of AVX2.
        case avx512

        private var rank: Int { [.portable: 0, .neon: 1, .avx2: 2, .avx512: 3][self]! }
        public static func < (a: KernelLevel, b: KernelLevel) -> Bool { a.rank < b.rank }
    }

    /// Lower-case feature names the CPU reports (x86: from /proc/cpuinfo or sysctl).
    public static let flags: Set<String> = readFlags()

    /// The best kernel level this CPU supports.
    public static var kernelLevel: KernelLevel {
        #if arch(arm64)
            return .neon
        #else
            guard flags.contains("avx2") && flags.contains("fma") else { return .portable }
            return flags.contains("avx512f") ? .avx512 : .avx2
        #endif
    }

    /// The level the engine's kernels were compiled for (Package.swift passes -march=x86-64-v3 on x86-64,
    /// nothing in the portable build).
    public static var compiledLevel: KernelLevel {
        #if AUGE_PORTABLE
            return .portable
        #elseif arch(x86_64)
            return .avx2
        #elseif arch(arm64)
            return .neon
        #else
            return .portable
        #endif
    }

    /// Whether the compiled kernels can run here; when false, running the engine would crash with SIGILL.
    public static var canRunKernels: Bool { kernelLevel >= compiledLevel }

    /// AVX-512 VNNI (`vpdpbusd` on zmm) with everything else of x86-64-v4, which the AugeInt8 module is
    /// compiled for: the condition for entering it. Linux names the flag `avx512_vnni`.
    public static var hasAVX512VNNI: Bool {
        #if arch(x86_64)
            return kernelLevel >= .avx512 && ["avx512bw", "avx512dq", "avx512cd", "avx512vl", "avx512_vnni"].allSatisfy(flags.contains)
        #else
            return false
        #endif
    }

    public static var summary: String {
        let wanted = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16", "f16c"].filter(flags.contains)
        return "CPU kernel level \(kernelLevel.rawValue) (features: \(wanted.isEmpty ? "none of interest" : wanted.joined(separator: " "))), "
            + "kernels compiled for \(compiledLevel.rawValue), \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }

    private static func readFlags() -> Set<String> {
        #if os(Linux)
            guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
                let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") || $0.hasPrefix("Features") }),
                let colon = line.firstIndex(of: ":")
            else { return [] }
            return Set(line[line.index(after: colon)...].split(separator: " ").map { $0.lowercased() })
        #elseif os(macOS)
            var result = Set<String>()
            for (sysctl, name) in [
                ("hw.optional.avx2_0", "avx2"), ("hw.optional.fma", "fma"), ("hw.optional.avx512f", "avx512f"),
                ("hw.optional.avx512bw", "avx512bw"), ("hw.optional.avx512vl", "avx512vl"),
                ("hw.optional.avx512dq", "avx512dq"), ("hw.optional.avx512cd", "avx512cd"), ("hw.optional.avx512vnni", "avx512_vnni"),
            ] {
                var value: Int32 = 0
                var size = MemoryLayout<Int32>.size
                if sysctlbyname(sysctl, &value, &size, nil, 0) == 0 && value != 0 { result.insert(name) }
            }
            return result
        #else
            return []
        #endif
    }
}
