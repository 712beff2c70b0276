import ArgumentParser
import AugeONNX

@main
struct Auge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auge",
        abstract: "Visual quality inspection for production lines: decide OK or which defect, on a small CPU.",
        version: augeVersion,
        subcommands: [Classify.self, Watch.self, Train.self, Eval.self, Info.self, Bench.self, Annotate.self, RunModel.self, Preview.self, Serve.self, Quantize.self])
}
