import Foundation
import Synchronization

/// The parts of an output folder's results.jsonl, read as the file grows (by a watcher in this process
/// or another). Only complete lines are taken: a line still being written waits for its newline.
public final class PartLog: Sendable {
    public let path: String
    private let state = Mutex(State())

    private struct State {
        var parts: [Part] = []
        var index: [String: Int] = [:]
        var offset: UInt64 = 0
        var partialLine: [UInt8] = []
        var lineNumber = 0
        var unreadable = 0
        var fileIdentity: UInt64?
    }

    public init(path: String) {
        self.path = path
    }

    /// Reads what was appended since the last call and returns the new parts, oldest first.
    /// A file replaced or cut shorter (a new run in the same folder) is read again from its start.
    @discardableResult
    public func refresh() -> [Part] {
        state.withLock { state in
            guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
            defer { try? handle.close() }
            var info = stat()
            guard fstat(handle.fileDescriptor, &info) == 0 else { return [] }
            if state.fileIdentity != UInt64(info.st_ino) || UInt64(info.st_size) < state.offset {
                state = State()
                state.fileIdentity = UInt64(info.st_ino)
            }
            guard UInt64(info.st_size) > state.offset else { return [] }
            try? handle.seek(toOffset: state.offset)
            guard let data = try? handle.readToEnd(), !data.isEmpty else { return [] }
            state.offset += UInt64(data.count)
            var bytes = state.partialLine
            bytes.append(contentsOf: data)
            var added: [Part] = []
            var lineStart = 0
            for (i, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
                let line = String(decoding: bytes[lineStart..<i], as: UTF8.self)
                lineStart = i + 1
                guard !line.isEmpty else { continue }
                state.lineNumber += 1
                guard let part = Part(line: line, number: state.lineNumber) else {
                    state.unreadable += 1
                    continue
                }
                state.index[part.id] = state.parts.count
                state.parts.append(part)
                added.append(part)
            }
            state.partialLine = Array(bytes[lineStart...])
            return added
        }
    }

    public var count: Int { state.withLock { $0.parts.count } }
    /// Lines that are not records (a foreign file, or damage): counted and skipped.
    public var unreadableLines: Int { state.withLock { $0.unreadable } }

    public func part(id: String) -> Part? {
        state.withLock { state in state.index[id].map { state.parts[$0] } }
    }

    /// Parts that match, newest first; `before` continues a listing after that part's id.
    public func parts(matching query: PartQuery, limit: Int = .max, before: String? = nil) -> [Part] {
        state.withLock { state in
            var end = state.parts.count
            if let before, let position = state.index[before] { end = position }
            var found: [Part] = []
            var i = end - 1
            while i >= 0, found.count < limit {
                let part = state.parts[i]
                if let from = query.from, let time = part.time, time < from { break }
                if query.matches(part) { found.append(part) }
                i -= 1
            }
            return found
        }
    }

    /// Oldest first: the review queue's order.
    public func oldestFirst(matching query: PartQuery, where keep: (Part) -> Bool, limit: Int) -> [Part] {
        state.withLock { state in
            var found: [Part] = []
            for part in state.parts where query.matches(part) && keep(part) {
                found.append(part)
                if found.count == limit { break }
            }
            return found
        }
    }

    /// Counts per decision and per label of the parts at or after `since` (all parts for nil).
    public func counts(since: Double?) -> PartCounts {
        state.withLock { state in
            var counts = PartCounts()
            for part in state.parts.reversed() {
                if let since, (part.time ?? -.infinity) < since { break }
                counts.add(part)
            }
            return counts
        }
    }

    /// Parts per minute over the last `window` seconds before `now`.
    public func rate(now: Double, window: Double = 60) -> Double {
        state.withLock { state in
            var count = 0
            for part in state.parts.reversed() {
                guard let time = part.time, time >= now - window else { break }
                count += 1
            }
            return Double(count) * 60 / window
        }
    }

    /// The processing times (`ms`) of the last `count` parts, for percentiles.
    public func recentProcessingTimes(_ count: Int) -> [Double] {
        state.withLock { state in state.parts.suffix(count).compactMap(\.ms) }
    }
}

/// A history search: every field that is set must match.
public struct PartQuery: Sendable {
    public var from: Double?
    public var to: Double?
    public var decisions: Set<String>?
    public var label: String?

    public init(from: Double? = nil, to: Double? = nil, decisions: Set<String>? = nil, label: String? = nil) {
        self.from = from
        self.to = to
        self.decisions = decisions
        self.label = label
    }

    func matches(_ part: Part) -> Bool {
        if let from, (part.time ?? -.infinity) < from { return false }
        if let to, (part.time ?? .infinity) >= to { return false }
        if let decisions, !decisions.contains(part.decision) { return false }
        if let label, part.label != label { return false }
        return true
    }
}

public struct PartCounts: Sendable, Encodable, Equatable {
    public var total = 0
    public var decisions: [String: Int] = [:]
    public var labels: [String: Int] = [:]

    mutating func add(_ part: Part) {
        total += 1
        decisions[part.decision, default: 0] += 1
        if let label = part.label { labels[label, default: 0] += 1 }
    }
}
