import ArgumentParser
import Foundation
import KennelEngine

/// `kennel bench …`: measurements, one JSON line each with `--json`.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Kennel on this machine.", subcommands: [EngineBench.self])
}

/// `kennel bench engine --preset P [--batch-size B] [--json]`.
struct EngineBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Time training steps, batch-1 latency and batch-64 throughput of a preset on synthetic data.")

    @Option(help: "One of: \(Preset.names.joined(separator: ", ")).")
    var preset: String

    @Option(name: .customLong("batch-size"), help: "Training batch size (default 64).")
    var batchSize = 64

    @Option(help: "Least seconds of timed training steps (default 5).")
    var seconds = 5.0

    @Flag(help: "Print one JSON line instead of a table.")
    var json = false

    mutating func validate() throws {
        guard Preset.names.contains(preset) else {
            throw ValidationError("unknown preset '\(preset)'; known presets: \(Preset.names.joined(separator: ", "))")
        }
        guard (1...4096).contains(batchSize) else { throw ValidationError("--batch-size must be 1…4096") }
        guard seconds > 0 else { throw ValidationError("--seconds must be > 0") }
    }

    func run() throws {
        let benchmark = try EngineBenchmark(preset: try Preset.named(preset), batchSize: batchSize, trainSeconds: seconds)
        let result = try benchmark.run { message in
            if !json { FileHandle.standardError.write(Data((message + "\n").utf8)) }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print("""
                preset              \(result.preset) (batch \(result.batchSize), \(result.trainSteps) timed steps)
                training            \(String(format: "%.1f", result.trainImagesPerSecond)) images/s
                inference batch 1   \(String(format: "%.2f", result.inferB1MedianMilliseconds)) ms median
                inference batch 64  \(String(format: "%.1f", result.inferB64ImagesPerSecond)) images/s
                peak memory         \(String(format: "%.0f", result.peakRSSMegabytes)) MB
                """)
        }
    }
}
