import AugeStation
import ArgumentParser
import Foundation

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the line station for an output folder without watching: browse, review and download its results.",
        discussion: """
            OUT is the output folder of `auge watch` (or of a classify run that wrote OUT/results.jsonl, with photos \
            sorted into OUT by --sort-into OUT). Records appended by a watcher in another process appear live. \
            Verdicts go to OUT/reviews.jsonl and the photos to OUT/feedback/<label>/, a dataset for `auge train`. \
            Stops on SIGINT or SIGTERM (exit 0).
            """)

    @Argument(help: "The output folder (holding results.jsonl).")
    var out: String

    @Option(help: ArgumentHelp("The model file the records were decided by, for the model page and the labels a verdict offers.", valueName: "model.onnx"))
    var model: String?

    @OptionGroup var station: StationOptions

    func validate() throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: out, isDirectory: &isFolder), isFolder.boolValue else {
            throw ValidationError("the output folder \(out) does not exist")
        }
        if let model, !FileManager.default.fileExists(atPath: model) { throw ValidationError("the model file \(model) does not exist") }
    }

    func run() throws {
        var options = LineStation.Options(outputFolder: out)
        options.modelPath = model
        options.shifts = station.schedule
        let lineStation = try LineStation(options: options)
        var serving = station
        if serving.http == nil { serving.http = "127.0.0.1:8080" }
        try serving.start(lineStation)
        for stop in [SIGINT, SIGTERM] { signal(stop, SIG_IGN) }
        let stops = [SIGINT, SIGTERM].map { stop in
            let source = DispatchSource.makeSignalSource(signal: stop)
            source.setEventHandler { Foundation.exit(0) }
            source.resume()
            return source
        }
        withExtendedLifetime(stops) { dispatchMain() }
    }
}
