import ArgumentParser
import Dispatch
import Foundation
import KennelEngine
import KennelJobs
import KennelStore
import Synchronization

/// `kennel train`: one training job in the foreground, recorded in the same database as the server's.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on an imported dataset (Ctrl-C cancels at the next step, keeping checkpoints).")

    @Option(help: "An imported dataset's name.")
    var dataset: String

    @Option(help: "One of: \(Preset.names.joined(separator: ", ")).")
    var preset: String?

    @Option(help: "A layer list as JSON (DESIGN.md), instead of --preset.")
    var layers: String?

    @Option(help: "Passes over the training split (default 10).")
    var epochs = 10

    @Option(name: .customLong("batch-size"), help: "Examples per step (default 64).")
    var batchSize = 64

    @Option(name: .customLong("learning-rate"), help: "Initial learning rate (default 0.001).")
    var learningRate: Float = 0.001

    @Option(help: "sgd, adam, adamw or rmsprop (default adam).")
    var optimizer = "adam"

    @Option(help: "Seed for initialization, shuffling and dropout (default 0).")
    var seed: UInt64 = 0

    @OptionGroup var storage: StorageOptions

    func run() throws {
        LogSetup.bootstrap()
        defer { LogSetup.flush() }
        guard let kind = OptimizerConfig.Kind(rawValue: optimizer) else {
            throw ValidationError("--optimizer must be sgd, adam, adamw or rmsprop")
        }
        let layerList = try layers.map { json in
            do {
                return try JSONDecoder().decode([LayerSpec].self, from: Data(json.utf8))
            } catch {
                throw ValidationError("--layers is not a valid layer list: \(error)")
            }
        }
        var spec = TrainingSpec(dataset: dataset, preset: preset, layers: layerList, epochs: epochs,
                                batchSize: batchSize, optimizer: OptimizerConfig(name: kind, learningRate: learningRate))
        spec.seed = seed
        let store = try storage.openStore()
        defer { try? store.close() }
        let queue = JobQueue(store: store, dataDirectory: URL(fileURLWithPath: storage.resolvedDataDirectory))

        let cancelled = Atomic(false)
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler { cancelled.store(true, ordering: .relaxed) }
        interrupt.resume()
        defer { interrupt.cancel() }

        let bar = ProgressBar(title: "training")
        let started = Date()
        let (job, outcome): (JobRecord, TrainingOutcome)
        do {
            (job, outcome) = try queue.runInForeground(spec, isCancelled: { cancelled.load(ordering: .relaxed) }) {
                bar.update($0.step, $0.totalSteps,
                           detail: "epoch \($0.epoch)/\($0.epochs) loss \(String(format: "%.4f", $0.loss)) "
                               + "accuracy \(String(format: "%.4f", $0.accuracy))")
            }
        } catch {
            bar.finish()
            throw CommandFailure("\(error)")
        }
        bar.finish()
        print("""
            job \(job.id!) \(outcome.cancelled ? "cancelled" : "succeeded"): best test accuracy \
            \(String(format: "%.4f", outcome.bestTestAccuracy)) after \(outcome.epochsRun) epoch(s), \
            \(outcome.steps) steps, \(String(format: "%.1f", Date().timeIntervalSince(started))) s\
            \(outcome.stoppedEarly ? " (stopped early)" : "")\
            \(outcome.bestCheckpoint.map { "; best checkpoint \($0.path)" } ?? "")
            """)
    }
}
