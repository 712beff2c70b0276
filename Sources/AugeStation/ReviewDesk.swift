import AugeInspect
import Foundation
import Synchronization

/// A person's answer for one part: what it really was.
public struct Verdict: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable { case ok, defect }
    public let kind: Kind
    /// The class the photo is filed under in `feedback/`: an OK label of the model, or a defect label.
    public let label: String

    public init(kind: Kind, label: String) throws {
        try Self.checkFolderName(label)
        self.kind = kind
        self.label = label
    }

    /// A label becomes a folder of a training dataset: one plain name, nothing a path could be made of.
    static func checkFolderName(_ label: String) throws {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: " _-."))
        guard !label.isEmpty, label.count <= 64, !label.hasPrefix("."), !label.hasSuffix(" "), !label.hasPrefix(" "),
            label.unicodeScalars.allSatisfy(allowed.contains), label != "incoming"
        else {
            throw StationError("the label \"\(label)\" cannot name a feedback folder: use 1-64 letters, digits, spaces, '_', '-' or '.', not starting with '.'")
        }
    }
}

/// One line of OUT/reviews.jsonl: a verdict, with the model's decision beside it, or the undoing of one.
public struct ReviewRecord: Sendable, Codable, Equatable {
    public var reviewId: String
    /// The part's record id in results.jsonl.
    public var part: String?
    public var time: String
    public var who: String
    public var verdict: Verdict.Kind?
    public var label: String?
    public var modelDecision: String?
    public var modelLabel: String?
    public var modelScore: Float?
    public var model: String?
    public var modelSha256: String?
    /// The photo the verdict is about, and its copy in the feedback folder.
    public var photo: String?
    public var feedback: String?
    /// Set on an undo line: the review it takes back.
    public var undoes: String?
}

/// The review desk of an output folder: verdicts journalled in `reviews.jsonl` (durably, before the
/// photo is copied) and photos filed into `feedback/<label>/`, a dataset `auge train` takes as it is.
/// On start, every journalled verdict whose copy is missing is copied, and every undone one removed:
/// a crash between the click and the copy loses nothing.
public final class ReviewDesk: Sendable {
    public let outputFolder: String
    public let journalPath: String
    public let feedbackFolder: String
    private let state = Mutex(State())

    private struct State {
        /// Effective verdicts by part id, and their order (for undo).
        var byPart: [String: ReviewRecord] = [:]
        var order: [String] = []
        var handle: FileHandle?
    }

    /// Paths in the journal are absolute (the output folder's real path), so that recovery works from any folder.
    public init(outputFolder: String) throws {
        self.outputFolder = OutputFiles(outputFolder: outputFolder).root
        journalPath = (self.outputFolder as NSString).appendingPathComponent("reviews.jsonl")
        feedbackFolder = (self.outputFolder as NSString).appendingPathComponent("feedback")
        var replayed = State()
        for record in try Self.readJournal(journalPath) {
            if let undone = record.undoes {
                if let part = replayed.order.first(where: { replayed.byPart[$0]?.reviewId == undone }) {
                    replayed.byPart[part] = nil
                    replayed.order.removeAll { $0 == part }
                }
                continue
            }
            guard let part = record.part else { continue }
            if replayed.byPart[part] != nil { replayed.order.removeAll { $0 == part } }
            replayed.byPart[part] = record
            replayed.order.append(part)
        }
        try recover(replayed)
        replayed.handle = try Self.openForAppend(journalPath)
        state.withLock { $0 = replayed }
    }

    /// The effective verdict for each part id (undone ones are gone).
    public var verdicts: [String: ReviewRecord] { state.withLock { $0.byPart } }

    public func verdict(for partID: String) -> ReviewRecord? { state.withLock { $0.byPart[partID] } }

    /// Journals the verdict and files the photo; a second verdict for a part replaces the first.
    @discardableResult
    public func give(_ verdict: Verdict, for part: Part, photo: String, who: String, now: Date = Date()) throws -> ReviewRecord {
        guard FileManager.default.fileExists(atPath: photo) else {
            throw StationError("the photo of part \(part.id) is no longer at \(photo)")
        }
        return try state.withLock { state in
            let folder = (feedbackFolder as NSString).appendingPathComponent(verdict.label)
            let taken = Set(state.byPart.values.compactMap(\.feedback))
            let name = (photo as NSString).lastPathComponent
            let target = uniqueNameCandidates(in: folder, for: name).first { !taken.contains($0) && !FileManager.default.fileExists(atPath: $0) }!
            let record = ReviewRecord(
                reviewId: UUID().uuidString.lowercased(), part: part.id, time: StationTime.format(now), who: who,
                verdict: verdict.kind, label: verdict.label, modelDecision: part.decision, modelLabel: part.label,
                modelScore: part.anomalyScore ?? part.score, model: part.model, modelSha256: part.modelSHA256,
                photo: photo, feedback: target)
            try append(record, state: &state)
            if let previous = state.byPart[part.id], let copy = previous.feedback { try? FileManager.default.removeItem(atPath: copy) }
            try Self.copyDurably(photo, to: target)
            state.order.removeAll { $0 == part.id }
            state.byPart[part.id] = record
            state.order.append(part.id)
            return record
        }
    }

    /// Takes back the latest effective verdict (its copy leaves the feedback folder); nil when there is none.
    @discardableResult
    public func undoLast(who: String, now: Date = Date()) throws -> ReviewRecord? {
        try state.withLock { state in
            guard let part = state.order.last, let last = state.byPart[part] else { return nil }
            let undo = ReviewRecord(reviewId: UUID().uuidString.lowercased(), time: StationTime.format(now), who: who, undoes: last.reviewId)
            try append(undo, state: &state)
            if let copy = last.feedback { try? FileManager.default.removeItem(atPath: copy) }
            state.order.removeLast()
            state.byPart[part] = nil
            return last
        }
    }

    private func append(_ record: ReviewRecord, state: inout State) throws {
        guard let handle = state.handle else { throw StationError("\(journalPath) is not open") }
        var line = try StationJSON.encoder.encode(record)
        line.append(UInt8(ascii: "\n"))
        do {
            try handle.write(contentsOf: line)
            try handle.synchronize()
        } catch {
            throw StationError("cannot write the verdict to \(journalPath): \(error.localizedDescription)")
        }
    }

    private func recover(_ replayed: State) throws {
        for record in replayed.byPart.values {
            guard let photo = record.photo, let copy = record.feedback, !FileManager.default.fileExists(atPath: copy) else { continue }
            if FileManager.default.fileExists(atPath: photo) { try Self.copyDurably(photo, to: copy) }
        }
        // Copies of undone verdicts that a crash left behind: every feedback file a journalled verdict
        // named but no effective verdict names.
        let effective = Set(replayed.byPart.values.compactMap(\.feedback))
        for record in try Self.readJournal(journalPath) where record.undoes == nil {
            if let copy = record.feedback, !effective.contains(copy) { try? FileManager.default.removeItem(atPath: copy) }
        }
    }

    /// Complete lines only: a torn last line (a crash while writing) is a verdict that was never given.
    private static func readJournal(_ path: String) throws -> [ReviewRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        var records: [ReviewRecord] = []
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (number, line) in lines.enumerated() where !line.isEmpty {
            guard number < lines.count - 1 else { break }
            do {
                records.append(try decoder.decode(ReviewRecord.self, from: Data(line)))
            } catch {
                throw StationError("\(path), line \(number + 1), is not a review record: \(error)")
            }
        }
        return records
    }

    private static func openForAppend(_ path: String) throws -> FileHandle {
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw StationError("cannot open \(path): \(String(cString: strerror(errno)))") }
        // A torn last line from a crash is cut off, so the next verdict starts on a line of its own.
        if let data = FileManager.default.contents(atPath: path), let last = data.last, last != UInt8(ascii: "\n") {
            let keep = data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            ftruncate(descriptor, off_t(keep))
        }
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    /// Copy to a temporary name, flush, rename: the feedback folder never holds half a photo.
    static func copyDurably(_ source: String, to target: String) throws {
        let folder = (target as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let temporary = (folder as NSString).appendingPathComponent(".\((target as NSString).lastPathComponent).auge-tmp")
            guard let data = FileManager.default.contents(atPath: source) else {
                throw StationError("cannot read \(source)")
            }
            try? FileManager.default.removeItem(atPath: temporary)
            guard FileManager.default.createFile(atPath: temporary, contents: data) else { throw StationError("cannot write \(temporary)") }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            try handle.synchronize()
            try handle.close()
            guard rename(temporary, target) == 0 else { throw StationError("cannot rename \(temporary) to \(target): \(String(cString: strerror(errno)))") }
            let directory = open(folder, O_RDONLY | O_DIRECTORY)
            if directory >= 0 { fsync(directory); close(directory) }
        } catch let error as StationError {
            throw error
        } catch {
            throw StationError("cannot copy \(source) to \(target): \(error.localizedDescription)")
        }
    }
}

public struct StationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
