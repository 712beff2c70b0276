import AugeImage
import AugeInspect
import ArgumentParser

// Library enums that appear as option values.
extension ColorMode: ExpressibleByArgument {}
extension ResizePolicy: ExpressibleByArgument {}
extension ResultFormat: ExpressibleByArgument {}
extension Sorter.Grouping: ExpressibleByArgument {}

/// A model input size on the command line: WxH, or N for N x N. One type, so every subcommand parses it
/// and reports a bad value the same way.
struct InputSize: ExpressibleByArgument {
    let width: Int
    let height: Int

    init?(argument: String) {
        guard let (width, height) = Preprocessing.parseSize(argument) else { return nil }
        (self.width, self.height) = (width, height)
    }

    var pair: (width: Int, height: Int) { (width, height) }
}

/// A region of interest on the command line: x,y,w,h in photo pixels, w and h positive.
extension Region: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}
