import AugeEngine
import AugeImage
import AugeONNX
import Foundation

public struct DatasetError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Labelled photos in the ImageFolder layout: one sub-folder per class, named after the class.
public struct ImageFolder: Sendable, Equatable {
    public struct Item: Sendable, Equatable {
        public var path: String
        public var label: Int
    }

    public var root: String
    /// Class names, sorted; an item's label indexes this list.
    public var classes: [String]
    /// Sorted by class, then by file name.
    public var items: [Item]
    /// A sub-folder left out, and why.
    public struct SkippedFolder: Sendable, Equatable {
        public var name: String
        public var reason: String
    }

    /// Sub-folders left out: not among the given classes, or (without given classes) not a class at all.
    public var skippedFolders: [SkippedFolder] = []

    /// Names that say a folder holds photos waiting for a label, not a class.
    static let unlabelledFolderNames: Set<String> = ["incoming", "inbox", "unlabelled", "unlabeled", "unsorted", "unknown-label"]

    static let photoExtensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Reads the folder. With `classes` given (a validation folder for a trained label list), its
    /// sub-folders must be among them, or with `skippingOthers` the others are left out (and named in
    /// `skippedFolders`); otherwise the sub-folders define the classes.
    public static func scan(_ root: String, classes given: [String]? = nil, skippingOthers: Bool = false) throws -> ImageFolder {
        let manager = FileManager.default
        let rootURL = URL(fileURLWithPath: root)
        guard let entries = try? manager.contentsOfDirectory(at: rootURL, includingPropertiesForKeys: [.isDirectoryKey]) else {
            throw DatasetError(description: "cannot read the dataset folder \(root)")
        }
        var folders = entries.filter { !$0.lastPathComponent.hasPrefix(".") && (try? $0.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true }
            .map(\.lastPathComponent).sorted()
        // Each sub-folder is listed once, whether it is judged, read, or both.
        var listings: [String: [String]] = [:]
        func listing(_ folder: String) throws -> [String] {
            if let known = listings[folder] { return known }
            let names = try manager.contentsOfDirectory(atPath: rootURL.appendingPathComponent(folder).path)
            listings[folder] = names
            return names
        }
        func photos(in folder: String) throws -> [String] {
            try listing(folder).filter { !$0.hasPrefix(".") && photoExtensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        }
        var skipped: [SkippedFolder] = []
        if given == nil {
            // The folders define the classes: leave out those that cannot be one, saying why.
            for folder in folders {
                let contents = (try? listing(folder)) ?? []
                let reason: String? =
                    if unlabelledFolderNames.contains(folder.lowercased()) {
                        "its name says its photos have no label yet"
                    } else if contents.contains(where: { $0.lowercased() == "labels.csv" }) {
                        "it holds a LABELS.csv: its photos are labelled by that file, not by the folder's name"
                    } else if try photos(in: folder).isEmpty {
                        "it holds no JPEG or PNG photos of its own"
                    } else {
                        nil
                    }
                if let reason { skipped.append(SkippedFolder(name: folder, reason: reason)) }
            }
            folders.removeAll { name in skipped.contains { $0.name == name } }
        }
        let classes = given ?? folders
        if skippingOthers {
            skipped += folders.filter { !classes.contains($0) }.map { SkippedFolder(name: $0, reason: "not a class of the model (\(classes.joined(separator: ", ")))") }
            folders.removeAll { !classes.contains($0) }
        }
        guard !folders.isEmpty else {
            if skippingOthers && !skipped.isEmpty {
                throw DatasetError(
                    description: "\(root) has no sub-folder named after a class (\(classes.joined(separator: ", "))); "
                        + "it has \(skipped.map(\.name).sorted().joined(separator: ", "))")
            }
            if !skipped.isEmpty {
                throw DatasetError(
                    description: "\(root) has no sub-folder that is a class: "
                        + skipped.map { "\($0.name) (\($0.reason))" }.joined(separator: "; "))
            }
            throw DatasetError(description: "\(root) has no class sub-folders (expected DATASET/<class>/<photo>)")
        }
        if let unknown = folders.first(where: { !classes.contains($0) }) {
            throw DatasetError(description: "\(root)/\(unknown) is not one of the trained classes \(classes)")
        }
        var items: [Item] = []
        for folder in folders {
            let files = try photos(in: folder)
            let label = classes.firstIndex(of: folder)!
            items += files.map { Item(path: rootURL.appendingPathComponent(folder).appendingPathComponent($0).path, label: label) }
        }
        guard !items.isEmpty else { throw DatasetError(description: "\(root) holds no JPEG or PNG photos") }
        var folder = ImageFolder(root: root, classes: classes, items: items.sorted { ($0.label, $0.path) < ($1.label, $1.path) })
        folder.skippedFolders = skipped
        return folder
    }

    /// Deterministic split: within each class (sorted by name) every `every`-th photo goes to validation.
    public func split(validationEvery every: Int) -> (train: ImageFolder, validation: ImageFolder) {
        precondition(every >= 2, "validation every 2nd photo at most")
        var train = self, validation = self
        train.items = []
        validation.items = []
        var seen = [Int](repeating: 0, count: classes.count)
        for item in items {
            seen[item.label] += 1
            if seen[item.label] % every == 0 { validation.items.append(item) } else { train.items.append(item) }
        }
        return (train, validation)
    }

    public var countsPerClass: [Int] {
        var counts = [Int](repeating: 0, count: classes.count)
        for item in items { counts[item.label] += 1 }
        return counts
    }

    /// Classes whose name is or starts with ok, good or pass (case-insensitive), the default OK labels.
    public static func defaultOKLabels(_ classes: [String]) -> [String] {
        classes.filter(ModelMetadata.isConventionalOKLabel)
    }
}

/// Photos decoded once at the model's input size and kept in memory as normalised NHWC tensors,
/// produced by the same decoder and preprocessing code inference uses.
final class TensorCache {
    let shape: Shape
    let preprocessing: Preprocessing
    private(set) var count = 0
    private(set) var labels: [Int] = []
    private(set) var paths: [String] = []
    private var storage: AlignedBuffer

    /// Decodes every item; photos that cannot be read are left out and returned as `failures`.
    init(
        _ folder: ImageFolder, preprocessing: Preprocessing, workers: Workers,
        progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) {
        self.preprocessing = preprocessing
        shape = Shape(height: preprocessing.height, width: preprocessing.width, channels: preprocessing.color.channels)
        storage = AlignedBuffer(count: folder.items.count * shape.count)
        let items = folder.items
        var succeeded: [Bool] = []
        let chunk = 64
        while succeeded.count < items.count {
            let slice = succeeded.count..<min(items.count, succeeded.count + chunk)
            succeeded += decode(
                Array(items[slice]), preprocessing: preprocessing, shape: shape,
                into: storage.pointer + slice.lowerBound * shape.count, workers: workers)
            progress(slice.upperBound, items.count)
        }
        // Keep only what decoded, in the original order.
        for (index, item) in items.enumerated() where succeeded[index] {
            if count != index {
                (storage.pointer + count * shape.count).update(from: storage.pointer + index * shape.count, count: shape.count)
            }
            labels.append(item.label)
            paths.append(item.path)
            count += 1
        }
        failures = items.indices.filter { !succeeded[$0] }.map { items[$0].path }
    }

    /// Paths of photos that could not be decoded.
    private(set) var failures: [String] = []

    func image(_ index: Int) -> UnsafePointer<Float> {
        UnsafePointer(storage.pointer + index * shape.count)
    }
}

/// Decodes and preprocesses one photo with the inference code and writes it as an NHWC tensor
/// (`scratch` holds the planar tensor the preprocessing writes; its size is the tensor's).
func writeModelInput(
    _ path: String, preprocessing: Preprocessing, decoder: ImageDecoder, scratch: inout [Float],
    into target: UnsafeMutablePointer<Float>
) throws {
    let image = try decoder.decode(fileAt: path, for: preprocessing)
    try preprocessing.writeTensor(from: image, to: &scratch)
    planarToInterleaved(
        scratch, into: target,
        shape: Shape(height: preprocessing.height, width: preprocessing.width, channels: preprocessing.color.channels))
}

/// Decodes `items` in parallel into consecutive NHWC tensors; returns which succeeded.
func decode(
    _ items: [ImageFolder.Item], preprocessing: Preprocessing, shape: Shape, into target: UnsafeMutablePointer<Float>,
    workers: Workers
) -> [Bool] {
    var succeeded = [Bool](repeating: false, count: items.count)
    succeeded.withUnsafeMutableBufferPointer { succeeded in
        workers.forEachShare(of: items.count) { _, positions in
            let decoder = ImageDecoder()
            var planar = [Float](repeating: 0, count: shape.count)
            for index in positions {
                succeeded[index] =
                    (try? writeModelInput(
                        items[index].path, preprocessing: preprocessing, decoder: decoder,
                        scratch: &planar, into: target + index * shape.count)) != nil
            }
        }
    }
    return succeeded
}

/// NHWC (the trainer's layout) to NCHW (the engine's input) for one image.
func interleavedToPlanar(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, shape: Shape) {
    let pixels = shape.height * shape.width, channels = shape.channels
    for c in 0..<channels {
        for p in 0..<pixels { target[c &* pixels &+ p] = source[p &* channels &+ c] }
    }
}

/// NCHW (the engine's and the preprocessing's layout) to NHWC (the trainer's) for one image.
func planarToInterleaved(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, shape: Shape) {
    let pixels = shape.height * shape.width, channels = shape.channels
    for c in 0..<channels {
        for p in 0..<pixels { target[p &* channels &+ c] = source[c &* pixels &+ p] }
    }
}
