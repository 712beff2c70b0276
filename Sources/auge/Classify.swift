import AugeImage
import AugeInspect
import ArgumentParser
import Foundation

/// `auge classify`: classify photos and folders, print or save one record per photo.
struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify photos (files and folders, recursively): label, score and decision for each.",
        discussion: """
            Exit status: 0 every photo got a decision; 3 some photos could not be read (their records say why); \
            2 --fail-on-defect and some part was a defect or went to review; 1 the model could not be loaded or \
            another fatal error; 64 bad command-line usage.
            """)

    @Argument(help: "Photos and folders to classify.")
    var paths: [String]

    @OptionGroup var model: ModelOptions

    @Option(help: "Output format: table, csv, jsonl or json (default: table on a terminal, jsonl otherwise).")
    var format: ResultFormat?

    @Option(name: .shortAndLong, help: "Write the results to this file instead of standard output.")
    var output: String?

    @Flag(help: "Include every class's probability (key `scores`).")
    var scores = false

    @Flag(help: "Exit with status 2 when any part is a defect or goes to review.")
    var failOnDefect = false

    @Option(help: "Copy each photo into DIR/<decision>/ (or DIR/<label>/ with --by label), never overwriting.")
    var sortInto: String?

    @Flag(help: "With --sort-into: move instead of copy.")
    var move = false

    @Option(help: "With --sort-into: group by decision or label.")
    var by: Sorter.Grouping = .decision

    @OptionGroup var parallel: WorkerOptions

    @OptionGroup var explanation: ExplanationOptions

    @Flag(help: "No progress bar.")
    var quiet = false

    func validate() throws {
        if move && sortInto == nil { throw ValidationError("--move needs --sort-into DIR") }
        if let format, let output, let named = ResultFormat(fileExtensionOf: output), named != format {
            throw ValidationError("--format \(format.rawValue) does not match -o \(output), which names \(named.rawValue): leave out --format, or rename the file")
        }
    }

    func run() throws {
        try requireKernelSupport()
        let inspection = try model.load()
        let walk = FileWalk().collect(paths)
        for problem in walk.problems { log("auge: \(problem.path): \(problem.reason)") }
        if walk.files.isEmpty && walk.problems.isEmpty {
            log("auge: no photos found in \(paths.joined(separator: " "))")
        }

        let sink = try OutputSink(path: output)
        let format = self.format ?? output.flatMap(ResultFormat.init(fileExtensionOf:)) ?? (sink.isTerminal ? .table : .jsonl)
        let formatter = ResultFormatter(
            format: format, scoreLabels: scores ? inspection.policy.labels : nil, labels: inspection.policy.labels,
            explained: explanation.asked, anomaly: inspection.policy.kind.hasAnomalyHead)
        let sorter = sortInto.map { Sorter(root: $0, grouping: by, move: move) }
        let progress = ProgressBar(total: walk.files.count, enabled: !quiet && isatty(STDERR_FILENO) == 1 && !sink.isTerminal)
        var summary = RunSummary()

        let pipeline = InspectionPipeline(lanes: try parallel.lanes(for: inspection, photos: walk.files.count))
        pipeline.includeScores = scores
        pipeline.explanation = explanation.settings(
            photoRoots: paths.filter { path in
                var isFolder: ObjCBool = false
                return FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
            })
        if let header = formatter.header { sink.write(header) }
        pipeline.run(walk.files) { record in
            sink.write(formatter.line(record, isFirst: summary.count == 0))
            summary.add(record)
            if let sorter {
                do { try sorter.place(record) } catch { log("auge: \(record.path): could not sort: \(error)"); summary.sortFailures += 1 }
            }
            progress.advance()
        }
        if let footer = formatter.footer { sink.write(footer) }
        progress.finish()
        log(summary.report(skipped: walk.skipped.count, problems: walk.problems.count))

        if summary.errors > 0 || !walk.problems.isEmpty { throw ExitCode(3) }
        if failOnDefect && (summary.decisions[.defect, default: 0] + summary.decisions[.review, default: 0]) > 0 { throw ExitCode(2) }
    }
}
