import AugeInspect
import AugeStation
import ArgumentParser
import Foundation

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Watch a hot folder: decide, log and sort every photo that lands in it, exactly once, until stopped.",
        discussion: """
            Each photo is moved to OUT/ok, OUT/defect, OUT/review or OUT/error (OUT/<label> with --by label) and \
            logged to OUT/results.jsonl (the classify keys plus id, time, moved_to, model, model_sha256 and threshold), durably. After a crash \
            or power cut, a restart completes the photo in hand: every file ends in exactly one place with exactly \
            one record. SIGINT/SIGTERM stop after the current photo (exit 0); SIGHUP, or a change of the model file, \
            reloads the model, which is checked first: a bad file is refused and the line keeps running.
            Producers should write NAME.tmp and rename it, or write and close the file (inotify sees the close). \
            On network shares (SMB/NFS) inotify sees nothing: use --poll.
            """)

    @Argument(help: "The hot folder the camera writes into.")
    var inbox: String

    @Option(help: "Where sorted photos and results.jsonl go.")
    var out: String

    @OptionGroup var model: ModelOptions

    @Option(help: "Poll every SECONDS instead of using inotify (for network shares).")
    var poll: Double?

    @Option(help: "Seconds a file's size and time must stay unchanged before polling mode takes it.")
    var settle: Double = 1

    @Option(help: "File-name pattern to ignore (repeatable); default: *.tmp *.part *.partial *.crdownload ~* .*")
    var ignore: [String] = []

    @Option(help: "Sort by decision or label.")
    var by: Sorter.Grouping = .decision

    @Flag(help: "Leave photos in the inbox and only log them.")
    var keep = false

    @Flag(help: "Also print each results line on standard output (e.g. | mosquitto_pub -l -t line1/results).")
    var jsonl = false

    @Flag(help: "Include every class's probability (key `scores`).")
    var scores = false

    @OptionGroup var explanation: ExplanationOptions

    @OptionGroup var station: StationOptions

    @Option(help: "Seconds between status lines on standard error.")
    var statusInterval: Double = 60

    @Option(help: "Engine threads (default: all cores); the watcher decides one photo at a time, in arrival order.")
    var threads: Int?

    func validate() throws {
        // A line runs the model made for its parts: the washer demo model is never taken by default here.
        guard model.model != nil else {
            throw ValidationError("auge watch needs --model MODEL.onnx: the model made for these parts (the washer demo model is Models/default.onnx, for trying Auge out)")
        }
        if let poll, poll <= 0 { throw ValidationError("--poll must be positive") }
        if settle < 0 { throw ValidationError("--settle must not be negative") }
    }

    func run() throws {
        try requireKernelSupport()
        var options = Watcher.Options(inbox: inbox, outputFolder: out)
        options.mode = poll.map { .polling(interval: $0, settle: settle) } ?? .inotify
        options.settle = settle
        if !ignore.isEmpty { options.ignorePatterns = ignore }
        options.grouping = by
        options.keep = keep
        options.includeScores = scores
        // The screen shows where the model saw the defect: with --http, heatmaps go to OUT/heatmaps unless told otherwise.
        var defaultExplanation = ExplanationSettings(heatmapFolder: (out as NSString).appendingPathComponent("heatmaps"))
        defaultExplanation.photoRoots = [inbox]
        options.explanation =
            explanation.settings(photoRoots: [inbox])
            ?? (station.http != nil && station.httpHeatmaps ? defaultExplanation : nil)
        options.statusInterval = statusInterval
        let threads = self.threads ?? ProcessInfo.processInfo.activeProcessorCount
        let modelPath = try model.model ?? ModelOptions.defaultModelPath()
        let modelOptions = model
        let watcher = try Watcher(
            options: options, modelPath: modelPath,
            loadModel: {
                let loaded = try modelOptions.load()
                return (try loaded.classifier(threads: threads), (loaded.path as NSString).lastPathComponent, loaded.sha256)
            },
            log: { log($0) },
            emit: { line in
                if jsonl { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
            })
        if station.http != nil {
            var stationOptions = LineStation.Options(outputFolder: out)
            stationOptions.modelPath = modelPath
            stationOptions.shifts = station.schedule
            stationOptions.watching = true
            let lineStation = try LineStation(options: stationOptions)
            watcher.observer = lineStation.watchStatus
            try station.start(lineStation)
        }
        try watcher.run()
    }
}
