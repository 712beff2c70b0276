import AugeImage
import AugeInspect
import ArgumentParser

// Library enums that appear as option values.
extension ColorMode: ExpressibleByArgument {}
extension ResizePolicy: ExpressibleByArgument {}
extension ResultFormat: ExpressibleByArgument {}
extension Sorter.Grouping: ExpressibleByArgument {}
