import ArgumentParser
import AugeEngine
import AugeInspect
import AugeONNX
import AugeTrain
import Foundation

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize a model to INT8 (ONNX QDQ), calibrated on photos through the model's own preprocessing.",
        discussion: """
            Convolution weights become int8 per output channel (symmetric; --weight-bits), their inputs uint8 per tensor with ranges \
            measured on the --calibrate photos. The file keeps the model's labels, preprocessing and policy; ONNX Runtime \
            and OpenVINO run it on their INT8 kernels. With --recalibrate, the classifier's threshold and review band \
            are set again on the quantized model's own scores of labelled held-out photos, by the rule auge train uses \
            (and a gated model's anomaly gate on its anomaly scores of the good ones, by auge train --anomaly's rule). \
            With --check, the quantized model is compared with the float one on labelled photos (decisions and labels \
            that agree, and each one's accuracy).
            Example: auge quantize model.onnx --calibrate photos/ --recalibrate held-out/ --check more-held-out/ -o model.int8.onnx
            """)

    @Argument(help: "The model file (ONNX) to quantize.")
    var modelFile: String

    @OptionGroup var settings: ModelOptions

    @Option(help: ArgumentHelp("Photos to calibrate on (files or folders, recursively): photos like those on the line.", valueName: "dir"))
    var calibrate: [String] = []

    @Option(help: "At most this many calibration photos, taken evenly from those found.")
    var maxPhotos = 300

    @Option(help: "Range of each activation: minmax, or percentile (leaves out the most extreme 0.01 %).")
    var ranges: RangeMethod = .minmax

    @Option(
        help: ArgumentHelp(
            "Bits of the int8 weights: 8 (-127...127) or 7 (-63...63).",
            discussion:
                "Auge runs either exactly. 7 is coarser (less accurate), but ONNX Runtime's int8 kernels on x86 CPUs without VNNI need it: with 8-bit weights their u8 x s8 products can saturate and give wrong answers."
        ))
    var weightBits = 8

    @Option(
        help: ArgumentHelp(
            "Leave this many convolutions in float (those whose quantization alone moves the model's output most), or auto.",
            discussion:
                "The ranking is measured on up to 32 of the calibration photos, each convolution quantized by itself; the ones kept, and by how much each moved the output, are printed and noted in the file's provenance. auto (with --recalibrate): the fewest, up to 5, with which the quantized model decides the --recalibrate photos as the float model does on at least 99.5 % of them, with its accuracy on them at most 0.2 points below the float model's; none if it already does.",
            valueName: "n|auto"))
    var keepFloat: KeptFloat = .count(0)

    @Option(help: ArgumentHelp("Labelled photos (DATASET/<class>/<photo>) to compare the quantized model with the float one.", valueName: "dir"))
    var check: String?

    @Option(
        help: ArgumentHelp(
            "Labelled held-out photos (DATASET/<class>/<photo>) to set the classifier's threshold and review band again on the quantized model's scores.",
            discussion:
                "By auge train's rule: --max-miss-rate of the defect photos, or with too few of them --max-false-reject-rate of the good ones; --max-review-rate in the band. A gated model's anomaly gate too, at --max-false-reject-rate of the good photos. Without it the float model's thresholds are kept.",
            valueName: "dir"))
    var recalibrate: String?

    @Option(help: "With --recalibrate: largest share of defects the threshold may pass as OK.")
    var maxMissRate = 0.01

    @Option(help: "With --recalibrate: largest share of photos the review band may hold.")
    var maxReviewRate = 0.02

    @Option(
        help: .init(
            "With --recalibrate: largest share of good photos a gated model's anomaly gate may reject, and the classifier's threshold "
                + "when too few defect photos are held out for --max-miss-rate."))
    var maxFalseRejectRate = 0.01

    @Option(name: .shortAndLong, help: "The quantized model file to write.")
    var output: String

    @Flag(
        inversion: .prefixedNo,
        help: "Time the float and the quantized model side by side on this machine (about 2 s) and say whether the int8 one is faster here.")
    var speed = true

    @OptionGroup var parallel: WorkerOptions

    /// Sets the quantized model's threshold and review band again on its own scores of the labelled
    /// `photos` (auge train's rule), and a gated model's anomaly gate on its anomaly scores of the good
    /// ones (auge train --anomaly's rule), and rewrites `file`; returns what was done, in words, or nil for
    /// a model without OK labels.
    static func recalibrate(
        _ quantizer: ModelQuantizer, _ calibration: ModelQuantizer.Calibration, file: String, photos: [String], maxMissRate: Double,
        maxReviewRate: Double, maxFalseRejectRate: Double, lanes: (InspectionModel) throws -> [Classifier]
    ) throws -> String? {
        guard let labelled = try ModelQuantizer.labelledScores(of: try InspectionModel.load(path: file), photos: photos, lanes: lanes) else {
            return nil
        }
        guard !labelled.defectProbabilities.isEmpty else {
            throw CommandFailure("no photo to recalibrate on is in a folder named after one of the model's labels")
        }
        let threshold = Calibration.calibrate(
            defectScores: labelled.defectProbabilities, isDefect: labelled.isDefect, maxMissRate: maxMissRate, maxReviewRate: maxReviewRate,
            maxFalseRejectRate: maxFalseRejectRate)
        let policy = threshold.filePolicy
        var recalibration = ModelQuantizer.Recalibration(
            threshold: policy.threshold, reviewBand: policy.reviewBand, basis: "\(threshold.explanation), on \(labelled.defectProbabilities.count) photos")
        var said = String(
            format: "threshold %.4f (the float model's: %.4f), review band ±%.4f: %@", policy.threshold, quantizer.model.policy.threshold,
            threshold.reviewBand, recalibration.basis)
        let goodAnomalyScores = zip(labelled.anomalyScores, labelled.isDefect).filter { !$0.1 }.map(\.0)
        if !goodAnomalyScores.isEmpty {
            // The float gate's scores on the quantized backbone: the new threshold in those units, then 1.0.
            let gate = AnomalyTrainer.thresholdAndBand(goodScores: goodAnomalyScores, maxFalseRejectRate: maxFalseRejectRate)
            recalibration.gate = ModelQuantizer.GateRecalibration(
                scale: 1 / gate.threshold, reviewBand: gate.reviewBand,
                basis: String(format: "threshold at %g %% false rejects of %d good photos", 100 * maxFalseRejectRate, goodAnomalyScores.count))
            said += String(
                format: "; anomaly gate: threshold at %.4f of the float gate's score (%@), review band %.3f-%.3f", gate.threshold,
                recalibration.gate!.basis, gate.reviewBand.lower, gate.reviewBand.upper)
        }
        try quantizer.quantizedFile(calibration, recalibration: recalibration).write(to: URL(fileURLWithPath: file), options: .atomic)
        return said
    }

    enum RangeMethod: String, ExpressibleByArgument {
        case minmax, percentile
        var method: RangeObserver.Method { self == .minmax ? .minMax : .percentile(99.99) }
    }

    func validate() throws {
        if calibrate.isEmpty { throw ValidationError("give the photos to calibrate on: --calibrate DIR") }
        if maxPhotos < 1 { throw ValidationError("--max-photos must be at least 1") }
        if weightBits != 7 && weightBits != 8 { throw ValidationError("--weight-bits must be 7 or 8, not \(weightBits)") }
        if case let .count(count) = keepFloat, count < 0 { throw ValidationError("--keep-float must be 0 or more") }
        if keepFloat == .automatic && recalibrate == nil {
            throw ValidationError(
                "--keep-float auto chooses on held-out photos: give them with --recalibrate DIR (on the calibration photos, which the model "
                    + "was fitted on, quantization rarely changes a decision)")
        }
    }

    func run() throws {
        try requireKernelSupport()
        var settings = self.settings
        settings.model = modelFile
        let model = try settings.load()
        guard model.policy.kind != .anomaly else {
            throw CommandFailure("\(modelFile) is an anomaly model; auge quantize takes classifiers (and gated ones, whose anomaly head stays as trained) for now")
        }
        let walk = FileWalk().collect(calibrate)
        for problem in walk.problems { log("auge quantize: \(problem.path): \(problem.reason)") }
        guard !walk.files.isEmpty else { throw CommandFailure("no photos found in \(calibrate.joined(separator: " "))") }
        let photos = ModelQuantizer.evenlyTaken(walk.files, count: maxPhotos)

        var quantizer = ModelQuantizer(model: model, method: ranges.method, weightBits: weightBits)
        let started = Date()
        let threads = parallel.threads ?? ProcessInfo.processInfo.activeProcessorCount
        let calibration = try quantizer.calibrate(photos: photos, threads: threads)
        for failure in calibration.failures { log("auge quantize: \(failure.path): \(failure.error) (not used)") }
        guard calibration.photos > 0 else { throw CommandFailure("none of the calibration photos could be read") }
        switch keepFloat {
        case .count(0):
            break
        case let .count(count):
            log("auge quantize: " + (try quantizer.keepingFloat(count, calibration: calibration, photos: photos, threads: threads)))
        case .automatic:
            let heldOut = FileWalk().collect([recalibrate!]).files
            log(
                "auge quantize: "
                    + (try quantizer.choosingKeptFloat(calibration: calibration, photos: heldOut, rankingPhotos: photos, threads: threads) {
                        try parallel.lanes(for: $0, photos: heldOut.count)
                    }))
        }
        try quantizer.quantizedFile(calibration).write(to: URL(fileURLWithPath: output), options: .atomic)
        log(
            String(
                format: "auge quantize: %@: %d convolutions int8, %d activations calibrated on %d photos (%@ ranges) in %.1f s",
                output, quantizer.quantizedConvolutionCount, calibration.ranges.count, calibration.photos, ranges.method.name, Date().timeIntervalSince(started)))
        if let recalibrate {
            let photos = FileWalk().collect([recalibrate]).files
            guard
                let said = try Self.recalibrate(
                    quantizer, calibration, file: output, photos: photos, maxMissRate: maxMissRate, maxReviewRate: maxReviewRate,
                    maxFalseRejectRate: maxFalseRejectRate, lanes: { try parallel.lanes(for: $0, photos: photos.count) })
            else { throw CommandFailure("\(modelFile) has no OK labels, so no threshold to recalibrate") }
            log("auge quantize: " + said)
        }
        if model.policy.kind == .gated && recalibrate == nil {
            log(
                "auge quantize: the anomaly gate stays as trained, but it reads the quantized backbone: its threshold and review band were "
                    + "set on the float model; --recalibrate DIR sets them again on the quantized model's scores")
        }
        if weightBits == 8 {
            log(
                "auge quantize: note: ONNX Runtime on x86 CPUs without VNNI can give wrong answers for 8-bit weights (its int8 "
                    + "products saturate); for a file that must run there, --weight-bits 7")
        }
        // Read back once, as written (recalibrated or not), for the speed line and the check.
        let quantized = speed || check != nil ? try InspectionModel.load(path: output) : nil
        if speed, let quantized {
            log("auge quantize: " + (try quantizer.speed(of: quantized)).report)
        }
        if let check, let quantized {
            let checked = FileWalk().collect([check]).files
            let agreement = try quantizer.agreement(with: quantized, photos: checked) {
                try parallel.lanes(for: $0, photos: checked.count)
            }
            guard agreement.photos > 0 else { throw CommandFailure("no photo in \(check) could be decided") }
            print(agreement.report)
        }
    }
}

/// `--keep-float`: how many convolutions stay float, or `auto`.
enum KeptFloat: ExpressibleByArgument, Equatable {
    case automatic
    case count(Int)

    init?(argument: String) {
        if argument == "auto" {
            self = .automatic
        } else if let count = Int(argument) {
            self = .count(count)
        } else {
            return nil
        }
    }

    var defaultValueDescription: String {
        switch self {
        case .automatic: "auto"
        case let .count(count): "\(count)"
        }
    }
}
