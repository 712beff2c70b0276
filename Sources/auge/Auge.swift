import ArgumentParser

@main
struct Auge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auge",
        abstract: "Visual quality inspection: classify, watch, train, evaluate and benchmark.")
}
