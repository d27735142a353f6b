import ArgumentParser

/// The `kennel` command: trains convolutional image classifiers and serves them over HTTP.
@main
struct Kennel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kennel",
        abstract: "Train convolutional image classifiers and serve them over HTTP.",
        subcommands: [Serve.self, Import.self, Train.self, Classify.self, Jobs.self, Models.self, Export.self, Bench.self])
}
