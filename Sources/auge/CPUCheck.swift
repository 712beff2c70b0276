import AugeEngine
import ArgumentParser
import Foundation

/// Makes sure the engine's kernels can run here. On a CPU without the instructions this build's
/// kernels need, hands the whole command over to the portable build (`auge-portable` beside this
/// binary, made by scripts/build-portable.sh) when there is one, and otherwise refuses clearly instead
/// of dying on an illegal instruction. AUGE_KERNELS=portable hands over on any CPU (to check the
/// portable build).
func requireKernelSupport() throws {
    let forced = ProcessInfo.processInfo.environment["AUGE_KERNELS"] == "portable" && CPUFeatures.compiledLevel != .portable
    guard !CPUFeatures.canRunKernels || forced else { return }
    let executable = Bundle.main.executablePath.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath() }
    if let portable = executable?.deletingLastPathComponent().appendingPathComponent("auge-portable").path,
        FileManager.default.isExecutableFile(atPath: portable)
    {
        let arguments = [portable] + CommandLine.arguments.dropFirst()
        var cArguments = arguments.map { strdup($0) } + [nil]
        execv(portable, &cArguments)
        throw CommandFailure("could not start the portable build \(portable): \(String(cString: strerror(errno)))")
    }
    throw CommandFailure(
        "this CPU lacks the vector instructions Auge's kernels were built for. \(CPUFeatures.summary). "
            + "x86-64 builds need AVX2 and FMA (Intel Haswell / AMD Zen or newer), or the portable build beside them: "
            + "run scripts/build-portable.sh.")
}
