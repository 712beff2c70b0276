import Foundation

/// Copies or moves inspected photos into `root/<decision>/` or `root/<label>/`, never overwriting:
/// a name clash gets a unique name (`part.jpg`, `part-1.jpg`, `part-2.jpg`, ...).
public struct Sorter: Sendable {
    public enum Grouping: String, Sendable, CaseIterable { case decision, label }

    public let root: String
    public let grouping: Grouping
    public let move: Bool

    public init(root: String, grouping: Grouping = .decision, move: Bool = false) {
        self.root = root
        self.grouping = grouping
        self.move = move
    }

    /// The folder a record goes to; errors always go to `error/`.
    public func folder(for record: InspectionRecord) -> String {
        let name: String
        switch grouping {
        case .decision: name = record.decision.rawValue
        case .label: name = record.decision == .error ? Decision.error.rawValue : (record.label ?? Decision.error.rawValue)
        }
        return (root as NSString).appendingPathComponent(name)
    }

    /// Paths the record's file may take, in order of preference: `folder/part.jpg`, `folder/part-1.jpg`, ...
    public func candidateTargets(for record: InspectionRecord) -> some Sequence<String> {
        uniqueNameCandidates(in: folder(for: record), for: (record.path as NSString).lastPathComponent)
    }

    /// Places the record's file and returns where it went.
    @discardableResult
    public func place(_ record: InspectionRecord) throws -> String {
        try FileManager.default.createDirectory(atPath: folder(for: record), withIntermediateDirectories: true)
        // The candidate sequence never ends, so a free name is always found.
        return try candidateTargets(for: record).first { try placeExclusively(record.path, at: $0) }!
    }

    /// Links (move: renames) without replacing an existing file; false when the name is taken.
    private func placeExclusively(_ source: String, at target: String) throws -> Bool {
        if move {
            // link + unlink never replaces an existing target, unlike rename; across file systems, copy then remove.
            if link(source, target) == 0 {
                unlink(source)
                return true
            }
            if errno == EEXIST { return false }
            guard errno == EXDEV || errno == EPERM || errno == ENOTSUP else { throw posixError(source, target) }
        }
        guard !FileManager.default.fileExists(atPath: target) else { return false }
        do {
            try FileManager.default.copyItem(atPath: source, toPath: target)
        } catch CocoaError.fileWriteFileExists {
            return false
        }
        if move { try FileManager.default.removeItem(atPath: source) }
        return true
    }

    private func posixError(_ source: String, _ target: String) -> Error {
        CocoaError(
            .fileWriteUnknown,
            userInfo: [
                NSLocalizedDescriptionKey:
                    "cannot move \(source) to \(target): \(String(validatingCString: strerror(errno)) ?? "error")"
            ])
    }
}
