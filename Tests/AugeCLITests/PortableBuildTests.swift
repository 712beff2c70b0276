import Foundation
import XCTest

/// The portable build (scripts/build-portable.sh, for x86-64 CPUs without AVX2/FMA) answers as the main
/// build does. AUGE_KERNELS=portable makes `auge` hand over to it on this CPU, as it does by itself on
/// an older one.
final class PortableBuildTests: XCTestCase {
    /// The portable binary beside the main one; skips when it has not been built.
    func portableBuild() throws -> URL {
        let portable = AugeProcess.binary.deletingLastPathComponent().appendingPathComponent("auge-portable")
        guard FileManager.default.isExecutableFile(atPath: portable.path) else {
            throw XCTSkip("no portable build beside \(AugeProcess.binary.path): run scripts/build-portable.sh (scripts/test.sh does)")
        }
        return portable
    }

    func testThePortableBuildGivesTheSameAnswers() throws {
        _ = try portableBuild()
        let photos = ["crack/crack_0.jpg", "ok/ok_0.jpg", "stain/stain_3.png", "dent/dent_1.jpg"]
            .map { repositoryRoot.appendingPathComponent("SampleImages/" + $0).path }
        let main = try AugeProcess.run(["classify", "--scores", "--format", "jsonl"] + photos)
        let handedOver = try AugeProcess.run(["classify", "--scores", "--format", "jsonl"] + photos, environment: ["AUGE_KERNELS": "portable"])
        XCTAssertEqual(main.status, 0, main.stderr)
        XCTAssertEqual(handedOver.status, 0, handedOver.stderr)
        let (a, b) = (try records(main.stdout), try records(handedOver.stdout))
        XCTAssertEqual(a.count, photos.count)
        XCTAssertEqual(b.count, photos.count)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x["decision"] as? String, y["decision"] as? String)
            XCTAssertEqual(x["label"] as? String, y["label"] as? String)
            let (sx, sy) = (x["scores"] as! [String: Double], y["scores"] as! [String: Double])
            for (label, score) in sx { XCTAssertEqual(score, sy[label]!, accuracy: 1e-4, "\(x["path"]!) \(label)") }
        }
        // It really was the portable build that answered.
        let info = try AugeProcess.run(["bench", "--seconds", "0.1", "--threads", "1"], environment: ["AUGE_KERNELS": "portable"])
        XCTAssertTrue(info.stdout.contains("kernels compiled for portable"), info.stdout + info.stderr)
    }

    /// On an emulated Intel Nehalem (no AVX; qemu-user), the portable build classifies, and the main
    /// build gets as far as handing over without running an AVX instruction: nothing before the CPU
    /// check may be compiled for AVX2. (The main build's kernels do die there with an illegal instruction.)
    func testNoAVXInstructionRunsBeforeTheHandOverOrInThePortableBuild() throws {
        let portable = try portableBuild()
        guard let qemu = ["/usr/bin/qemu-x86_64", "/usr/local/bin/qemu-x86_64"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("no qemu-x86_64 (Debian: qemu-user; scripts/test.sh installs it): the emulated older CPU is not tried")
        }
        let crack = repositoryRoot.appendingPathComponent("SampleImages/crack/crack_0.jpg").path
        let emulated = try AugeProcess.run(["classify", "--format", "jsonl", crack], launcher: [qemu, "-cpu", "Nehalem"], executable: portable)
        XCTAssertEqual(emulated.status, 0, emulated.stderr)
        XCTAssertTrue(emulated.stdout.contains("\"decision\":\"defect\""), emulated.stdout)
        // qemu-user shows the host's /proc/cpuinfo, so the hand-over is asked for; the portable build
        // it starts then runs natively.
        let handedOver = try AugeProcess.run(
            ["classify", "--format", "jsonl", crack], environment: ["AUGE_KERNELS": "portable"],
            launcher: [qemu, "-cpu", "Nehalem"])
        XCTAssertEqual(handedOver.status, 0, handedOver.stderr)
        XCTAssertTrue(handedOver.stdout.contains("\"decision\":\"defect\""), handedOver.stdout)
    }
}
