import ArgumentParser
import Foundation
import KennelData
import KennelEngine
import KennelImage

/// `kennel bench …`: measurements, one JSON line each with `--json`.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Kennel on this machine.", subcommands: [EngineBench.self, LoaderBench.self, QueueBench.self])
}

/// What every benchmark is run on.
struct BenchOptions: ParsableArguments {
    @Option(help: "One of: \(Preset.names.joined(separator: ", ")).")
    var preset: String

    @Option(name: .customLong("batch-size"), help: "Training batch size (default 64).")
    var batchSize = 64

    @Flag(help: "Print one JSON line instead of text.")
    var json = false

    mutating func validate() throws {
        guard Preset.names.contains(preset) else {
            throw ValidationError("unknown preset '\(preset)'; known presets: \(Preset.names.joined(separator: ", "))")
        }
        guard (1...4096).contains(batchSize) else { throw ValidationError("--batch-size must be 1…4096") }
    }
}

/// `kennel bench engine --preset P [--batch-size B] [--json]`.
struct EngineBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Time training steps, batch-1 latency and batch-64 throughput of a preset on synthetic data.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Least seconds of timed training steps (default 5).")
    var seconds = 5.0

    mutating func validate() throws {
        guard seconds > 0 else { throw ValidationError("--seconds must be > 0") }
    }

    func run() throws {
        let (preset, batchSize, json) = (options.preset, options.batchSize, options.json)
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
                \(result.reduced.sorted { $0.key < $1.key }.map { precision, inference in
                    String(format: "%@ inference      %.2f ms batch 1, %.1f images/s batch 64", precision,
                           inference.b1MedianMilliseconds, inference.b64ImagesPerSecond)
                }.joined(separator: "\n"))
                peak memory         \(String(format: "%.0f", result.peakRSSMegabytes)) MB
                """)
        }
    }
}

/// `kennel bench loader --preset P [--batch-size B] [--json]`: trains on a real shard (generated images imported
/// as usual) and measures how long each step waits for its batch.
struct LoaderBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loader", abstract: "Measure the time training waits for the batch loader.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Epochs to time over the generated dataset (default 3).")
    var epochs = 3

    mutating func validate() throws {
        guard (1...100).contains(epochs) else { throw ValidationError("--epochs must be 1…100") }
    }

    func run() throws {
        let (batchSize, json) = (options.batchSize, options.json)
        let preset = try Preset.named(options.preset)
        let (height, width, channels) = (preset.inputShape[0], preset.inputShape[1], preset.inputShape[2])
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kennel-loader-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var random = SeededRandom(seed: 3)
        for index in 0..<(batchSize * 4) {
            let folder = scratch.appendingPathComponent("images/n\(index % 2)-class\(index % 2)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let image = Image(width: width, height: height, channels: channels,
                              pixels: (0..<(width * height * channels)).map { _ in Float(random.next() % 256) })
            try Data(try ImageEncoder.png(image)).write(to: folder.appendingPathComponent("\(index).png"))
        }
        let preprocessing = try Preprocessing(width: width, height: height, color: channels == 1 ? .gray : .rgb)
        let summary = try ImageFolderImport.run(root: scratch.appendingPathComponent("images").path,
                                                preprocessing: preprocessing,
                                                shardPath: scratch.appendingPathComponent("bench.shard").path)
        let shard = try Shard(path: summary.shardPath)
        let loader = try BatchLoader(shard: shard, indices: shard.trainIndices, batchSize: batchSize, seed: 1,
                                     augmentation: Augmentation(flip: true, shift: 4))
        let model = try Model(preset: preset, classCount: shard.header.classes.count, seed: 1)
        func train(_ batch: Batch) throws {
            _ = try model.trainStep(Tensor(shape: [batch.count] + preset.inputShape, data: batch.images),
                                    labels: batch.labels)
        }
        // One untimed step first (allocations, OpenBLAS start-up).
        var warmUp = loader.batches(epoch: 0)
        if let first = warmUp.next() { try train(first) }
        var waited = 0.0, steps = 0
        let started = Date()
        for epoch in 1...epochs {
            var batches = loader.batches(epoch: epoch)
            while let batch = timed({ batches.next() }, into: &waited) {
                try train(batch)
                steps += 1
            }
        }
        let wall = Date().timeIntervalSince(started)
        let fraction = waited / wall
        if json {
            print(#"{"bench":"loader","preset":"\#(preset.name)","batch_size":\#(batchSize),"steps":\#(steps),"#
                  + #""step_ms":\#(String(format: "%.1f", wall / Double(steps) * 1000)),"#
                  + #""wait_ms_per_step":\#(String(format: "%.2f", waited / Double(steps) * 1000)),"#
                  + #""wait_fraction":\#(String(format: "%.4f", fraction))}"#)
        } else {
            print("\(steps) steps of \(preset.name) at batch \(batchSize): waited \(String(format: "%.2f", waited * 1000)) ms "
                  + "of \(String(format: "%.0f", wall * 1000)) ms (\(String(format: "%.2f", fraction * 100))%)")
        }
    }

    private func timed<Value>(_ body: () -> Value, into total: inout Double) -> Value {
        let started = Date()
        defer { total += Date().timeIntervalSince(started) }
        return body()
    }
}
