/// The names already used in a graph, handing out fresh ones for the values and nodes that the
/// importer and the exporter add: `base`, else `base_2`, `base_3`, ...
struct NameTable {
    private var used: Set<String>

    init<Names: Sequence<String>>(_ names: Names) {
        used = Set(names)
    }

    mutating func unique(_ base: String) -> String {
        var name = base, suffix = 1
        while used.contains(name) {
            suffix += 1
            name = "\(base)_\(suffix)"
        }
        used.insert(name)
        return name
    }
}
