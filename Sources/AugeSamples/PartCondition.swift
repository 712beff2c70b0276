/// What an inspection photo shows: an intact part or one kind of defect. The raw values are the
/// folder names of labelled sample sets.
public enum PartCondition: String, CaseIterable, Sendable {
    case ok
    case scratch
    case crack
    case dent
    case chip
    case stain
}
