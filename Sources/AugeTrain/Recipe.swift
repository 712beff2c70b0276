import AugeImage
import Foundation

/// What a dataset's photos look like, read off a few photos of each class.
public struct PhotoSurvey: Sendable, Equatable {
    public var sampled: Int
    /// Every sampled photo is grey (its colour channels agree within JPEG's rounding).
    public var grayContent: Bool
    public var medianWidth: Int
    public var medianHeight: Int
    /// The sampled photos differ in size or aspect by more than 10 %: the parts are not framed alike.
    public var sizesVary: Bool

    public init(sampled: Int, grayContent: Bool, medianWidth: Int, medianHeight: Int, sizesVary: Bool) {
        (self.sampled, self.grayContent, self.medianWidth, self.medianHeight, self.sizesVary) =
            (sampled, grayContent, medianWidth, medianHeight, sizesVary)
    }

    /// Decodes up to `perClass` photos of each class, evenly spread over its photos by name; photos
    /// that cannot be read are left out (training reports them).
    public static func survey(_ folder: ImageFolder, perClass: Int = 8) -> PhotoSurvey {
        let decoder = ImageDecoder()
        var sizes: [(width: Int, height: Int)] = [], gray = true
        for label in folder.classes.indices {
            let paths = folder.items.filter { $0.label == label }.map(\.path)
            let step = max(1, paths.count / perClass)
            for path in stride(from: 0, to: paths.count, by: step).prefix(perClass).map({ paths[$0] }) {
                guard let image = try? decoder.decode(fileAt: path, color: .rgb) else { continue }
                sizes.append((image.width, image.height))
                if gray { gray = isGray(image) }
            }
        }
        guard !sizes.isEmpty else { return PhotoSurvey(sampled: 0, grayContent: false, medianWidth: 0, medianHeight: 0, sizesVary: false) }
        func median(_ values: [Int]) -> Int { values.sorted()[values.count / 2] }
        func spread(_ values: [Double]) -> Double { values.max()! / values.min()! }
        let varies =
            spread(sizes.map { Double($0.width) }) > 1.1 || spread(sizes.map { Double($0.height) }) > 1.1
            || spread(sizes.map { Double($0.width) / Double($0.height) }) > 1.1
        return PhotoSurvey(
            sampled: sizes.count, grayContent: gray, medianWidth: median(sizes.map(\.width)), medianHeight: median(sizes.map(\.height)),
            sizesVary: varies)
    }

    private static func isGray(_ image: Image) -> Bool {
        stride(from: 0, to: image.pixels.count, by: 3 * 7).allSatisfy { i in
            let r = Int(image.pixels[i]), g = Int(image.pixels[i + 1]), b = Int(image.pixels[i + 2])
            return abs(r - g) <= 3 && abs(g - b) <= 3
        }
    }
}

/// How `auge train` trains when the command line does not say: chosen from the photos, the class
/// counts and whether a pretrained backbone is there, each choice with its reason in plain words.
public struct Recipe: Sendable, Equatable {
    /// Train on the pretrained backbone (else a network from scratch).
    public var useBackbone: Bool
    /// Square input size.
    public var size: Int
    /// With a backbone: its last layers trained along with the head.
    public var fineTunedLayers: Int
    /// With a backbone: feature vectors per training photo.
    public var variants: Int
    public var selection: EpochSelection
    /// From scratch: the colour and pooling the network gets.
    public var color: ColorMode
    public var pooling: GlobalPooling
    /// With a backbone and OK labels: an anomaly gate fitted on the good photos beside the classifier.
    public var anomalyGate = false
    /// One sentence per choice.
    public var reasons: [String]

    /// - Parameters:
    ///   - trainCounts, validationCounts: photos per class in the training and validation parts.
    ///   - backboneInput: the pretrained backbone's own square input size, or nil when there is none.
    ///   - fineTuning: whether the backbone's layers may be trained (pooling both averages and maxima is frozen only).
    ///   - validationDefects: defect photos in the validation part (nil: no OK labels, so no good/defect split), and
    ///     `defectPhotosNeeded` how many the missed-defect target needs to be measured.
    public static func choose(
        survey: PhotoSurvey, trainCounts: [Int], validationCounts: [Int], backboneInput: Int?, fineTuning: Bool = true,
        validationDefects: Int? = nil, defectPhotosNeeded: Int = 100
    ) -> Recipe {
        var reasons: [String] = []
        let photos = trainCounts.reduce(0, +)
        let smallestValidation = validationCounts.min() ?? 0
        let selection: EpochSelection, selectionReason: String
        if smallestValidation < 10 {
            selection = .accuracy
            selectionReason =
                "best epoch by accuracy: the smallest class has \(smallestValidation) validation photos, so one photo moves its recall, "
                + "and with it the balanced accuracy, by \(100 / max(1, smallestValidation)) points"
        } else {
            selection = .balanced
            selectionReason = "best epoch by balanced accuracy (every class has at least 10 validation photos)"
        }
        let shape =
            survey.sizesVary
            ? "the photos vary in size and shape (median \(survey.medianWidth)x\(survey.medianHeight))"
            : "the photos are alike in size (\(survey.medianWidth)x\(survey.medianHeight))"
        guard let backboneInput else {
            let color: ColorMode = survey.grayContent ? .gray : .rgb
            reasons.append("from scratch (no pretrained backbone): a small network, 128x128 \(color.rawValue)")
            reasons.append("max pooling: the strongest response anywhere decides, so small marks are not averaged away")
            reasons.append(selectionReason)
            return Recipe(
                useBackbone: false, size: 128, fineTunedLayers: 0, variants: 1, selection: selection, color: color, pooling: .max,
                reasons: reasons)
        }
        reasons.append("pretrained backbone: with \(photos) training photos, ImageNet features beat a network trained from scratch")
        let size = survey.sizesVary ? max(320, backboneInput) : backboneInput
        let layers = fineTuning ? (survey.sizesVary ? 5 : 3) : 0
        let tuning = layers > 0 ? "the last \(layers) layers fine-tuned" : "the backbone frozen (its features are pooled two ways, which fine-tuning does not do)"
        if survey.sizesVary {
            reasons.append(
                "\(size)x\(size) input and \(tuning): \(shape), so each is stretched differently and small marks "
                    + "need more pixels" + (layers > 0 ? " and more adapted layers" : ""))
        } else {
            reasons.append("\(size)x\(size) input (the backbone's own) and \(tuning): \(shape)")
        }
        let variants = photos > 3000 ? 2 : 4
        reasons.append(
            "\(variants) augmented copies of each photo"
                + (photos > 3000 ? " (\(photos) photos: fewer copies keep the epochs within the time budget)" : ""))
        reasons.append(selectionReason)
        var recipe = Recipe(
            useBackbone: true, size: size, fineTunedLayers: layers, variants: variants, selection: selection, color: .rgb, pooling: .average,
            reasons: reasons)
        if let validationDefects, validationDefects < defectPhotosNeeded {
            // The classifier's threshold then rests on good photos alone; the gate guards against the defects it passes.
            recipe.anomalyGate = true
            recipe.reasons.append(
                "an anomaly gate beside the classifier: with \(validationDefects) validation defect photos (the missed-defect target needs "
                    + "\(defectPhotosNeeded)) the threshold is set on good photos, and defects the classifier learnt poorly can pass; "
                    + "the gate, fitted on the good photos, rejects what looks like none of them (label unknown), at about 1 % more false rejects")
        }
        return recipe
    }
}
