import AugeImage
import Foundation

/// Classifies a list of photos with decoding running in parallel with inference.
///
/// Decode workers read, decode and preprocess photos into a ring of `queueDepth` preallocated tensor
/// slots; the calling thread runs the network on each slot in file order and hands out one record per
/// photo, in order. A photo that cannot be read gets an error record; the others are unaffected.
public final class InspectionPipeline: @unchecked Sendable {
    public let classifier: Classifier
    public let decoder: ImageDecoder
    public let decodeWorkers: Int
    public let queueDepth: Int
    public var includeScores = false

    public init(classifier: Classifier, decoder: ImageDecoder = ImageDecoder(), decodeWorkers: Int, queueDepth: Int = 8) {
        self.classifier = classifier
        self.decoder = decoder
        self.decodeWorkers = max(1, decodeWorkers)
        self.queueDepth = max(2, queueDepth)
    }

    private final class Slot {
        let tensor: UnsafeMutablePointer<Float>
        /// Index of the file the slot holds, or -1 when free.
        var fileIndex = -1
        var failure: String?
        var decodeMilliseconds = 0.0

        init(count: Int) { tensor = .allocate(capacity: count) }
        deinit { tensor.deallocate() }
    }

    /// The state shared by the decode workers and the inference loop; every field is guarded by `condition`.
    private final class Ring: @unchecked Sendable {
        let condition = NSCondition()
        let slots: [Slot]
        var nextToDecode = 0
        /// Files handed out so far: slot i % depth is free for file i once i < consumed + depth.
        var consumed = 0
        var stopped = false

        init(depth: Int, tensorCount: Int) { slots = (0..<depth).map { _ in Slot(count: tensorCount) } }

        /// The next file index to decode, once its slot is free; nil when there is none or the run stopped.
        func claim(fileCount: Int) -> Int? {
            condition.lock()
            defer { condition.unlock() }
            let index = nextToDecode
            guard index < fileCount, !stopped else { return nil }
            nextToDecode += 1
            while index >= consumed + slots.count && !stopped { condition.wait() }
            return stopped ? nil : index
        }

        func fill(_ index: Int, failure: String?, milliseconds: Double) {
            condition.lock()
            let slot = slots[index % slots.count]
            slot.failure = failure
            slot.decodeMilliseconds = milliseconds
            slot.fileIndex = index
            condition.broadcast()
            condition.unlock()
        }

        func waitFor(_ index: Int) -> Slot {
            let slot = slots[index % slots.count]
            condition.lock()
            while slot.fileIndex != index { condition.wait() }
            condition.unlock()
            return slot
        }

        func release(_ index: Int) {
            condition.lock()
            slots[index % slots.count].fileIndex = -1
            consumed = index + 1
            condition.broadcast()
            condition.unlock()
        }

        func stop() {
            condition.lock()
            stopped = true
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Runs over `files`, calling `handle` on the calling thread for each record in file order.
    public func run(_ files: [String], handle: (InspectionRecord) throws -> Void) rethrows {
        let preprocessing = classifier.preprocessing
        let ring = Ring(depth: queueDepth, tensorCount: preprocessing.tensorCount)
        let decoder = self.decoder
        for _ in 0..<min(decodeWorkers, max(1, files.count)) {
            Thread {
                while let index = ring.claim(fileCount: files.count) {
                    let start = DispatchTime.now().uptimeNanoseconds
                    var failure: String?
                    do {
                        let image = try decoder.decode(fileAt: files[index], for: preprocessing)
                        try preprocessing.writeTensor(from: image, to: ring.slots[index % ring.slots.count].tensor)
                    } catch let error as ImageError {
                        failure = error.reasonText
                    } catch {
                        failure = "\(error)"
                    }
                    ring.fill(index, failure: failure, milliseconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                }
            }.start()
        }
        defer { ring.stop() }

        for index in files.indices {
            let slot = ring.waitFor(index)
            let record: InspectionRecord
            if let failure = slot.failure {
                record = .failure(path: files[index], error: failure, ms: slot.decodeMilliseconds)
            } else {
                let start = DispatchTime.now().uptimeNanoseconds
                let probabilities = classifier.probabilities(for: slot.tensor)
                let inferMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                record = classifier.record(path: files[index], probabilities: probabilities,
                                           ms: slot.decodeMilliseconds + inferMilliseconds, includeScores: includeScores)
            }
            ring.release(index)
            try handle(record)
        }
    }
}
