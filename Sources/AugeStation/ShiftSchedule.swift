import Foundation

/// The times of day (local) at which shifts start, e.g. 06:00, 14:00 and 22:00: the screen counts the
/// parts of the shift in progress.
public struct ShiftSchedule: Sendable, Equatable {
    /// Minutes after midnight, sorted.
    public let starts: [Int]

    public static let threeShifts = try! ShiftSchedule("06:00,14:00,22:00")

    /// `text`: comma-separated HH:MM.
    public init(_ text: String) throws {
        var starts: [Int] = []
        for item in text.split(separator: ",") {
            let fields = item.trimmingCharacters(in: .whitespaces).split(separator: ":")
            guard fields.count == 2, let hour = Int(fields[0]), let minute = Int(fields[1]),
                (0..<24).contains(hour), (0..<60).contains(minute)
            else {
                throw StationError("a shift start must read HH:MM (e.g. 06:00,14:00,22:00), got \"\(item)\"")
            }
            starts.append(hour * 60 + minute)
        }
        guard !starts.isEmpty else { throw StationError("give at least one shift start (HH:MM)") }
        self.starts = Array(Set(starts)).sorted()
    }

    /// When the shift that `now` falls in began.
    public func currentStart(now: Date, calendar: Calendar = .current) -> Date {
        let midnight = calendar.startOfDay(for: now)
        let minutes = Int(now.timeIntervalSince(midnight) / 60)
        if let today = starts.last(where: { $0 <= minutes }) {
            return calendar.date(byAdding: .minute, value: today, to: midnight)!
        }
        let yesterday = calendar.date(byAdding: .day, value: -1, to: midnight)!
        return calendar.date(byAdding: .minute, value: starts.last!, to: yesterday)!
    }
}
