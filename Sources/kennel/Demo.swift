import Dispatch
import Foundation
import KennelJobs
import KennelStore
import Logging
import Synchronization

/// What `make run` shows a newcomer: on an empty data directory, import Fashion-MNIST from the Debian package,
/// train `fashion-convnet` on it, and promote the best checkpoint as model `fashion`.
///
/// Each step is decided from the database (`advance`), at start and after every finished job, so a restart
/// part-way carries on where the demo stood. A marker file in the data directory says a demo is under way and
/// holds the id of the training job the demo submitted, so a job a user submits meanwhile is never taken for
/// the demo's; it is removed once the model is served.
final class Demo: Sendable {
    static let datasetName = "fashion"
    static let modelName = "fashion"
    /// Where Debian's dataset-fashion-mnist puts the IDX files.
    static let defaultSource = "/usr/share/datasets/fashion-mnist"

    let store: Store
    let jobs: JobQueue
    let models: ModelRegistry
    let marker: URL
    /// The directory of Fashion-MNIST's IDX files the demo imports.
    let source: String
    let logger = Logger(label: "kennel.demo")
    private let steps = DispatchQueue(label: "kennel.demo")
    private let stopped = Atomic(false)

    init(store: Store, jobs: JobQueue, models: ModelRegistry, dataDirectory: URL, source: String) {
        (self.store, self.jobs, self.models, self.source) = (store, jobs, models, source)
        marker = dataDirectory.appendingPathComponent("demo-in-progress")
    }

    /// Starts the demo on an empty database, or resumes one that was under way.
    func start() throws {
        let empty = try store.read { db in
            try db.fetch("SELECT 1 FROM datasets UNION ALL SELECT 1 FROM jobs LIMIT 1").isEmpty
        }
        let underway = FileManager.default.fileExists(atPath: marker.path)
        guard empty || underway else { return }
        guard FileManager.default.fileExists(atPath: source) else {
            logger.notice("demo skipped: \(source) is missing (apt-get install dataset-fashion-mnist)")
            return
        }
        if empty {
            try Data().write(to: marker)
            logger.notice("""
                demo: importing Fashion-MNIST, then training fashion-convnet and serving it as model \
                '\(Self.modelName)' (start with --no-demo to skip)
                """)
        }
        _ = jobs.bus.subscribe { [self] event in
            if case .state(_, let state) = event, state.isFinal { steps.async { self.advance() } }
        }
        steps.async { self.advance() }
    }

    /// Takes no further step; returns once a step under way has finished. Call before stopping the job queue.
    func stop() {
        stopped.store(true, ordering: .releasing)
        steps.sync {}
    }

    /// Takes the next step the database calls for; does nothing when a job of the demo is still on its way.
    private func advance() {
        guard !stopped.load(ordering: .acquiring), FileManager.default.fileExists(atPath: marker.path) else { return }
        do {
            let (dataset, all) = try store.read { db in
                (try db.record(DatasetRecord.self, "WHERE name = ?", Self.datasetName),
                 try db.records(JobRecord.self, "WHERE dataset = ? ORDER BY id", Self.datasetName))
            }
            let imports = all.filter { $0.kind == .import }
            let demoJob = Int64((try? String(contentsOf: marker, encoding: .utf8)) ?? "")
            if dataset == nil {
                if imports.contains(where: { !$0.state.isFinal }) { return }
                if imports.contains(where: { $0.state == .failed }) { return finish("the import failed; see GET /v1/jobs") }
                var spec = DatasetImportSpec(name: Self.datasetName, format: .idx, path: source)
                spec.width = 28
                spec.height = 28
                let job = try jobs.submit(spec)
                logger.notice("demo: importing Fashion-MNIST as dataset '\(Self.datasetName)' (job \(job.id ?? 0))")
                return
            }
            guard let training = all.first(where: { $0.id == demoJob && $0.kind == .train }) else {
                var spec = TrainingSpec(dataset: Self.datasetName, preset: "fashion-convnet", epochs: 2, batchSize: 64,
                                        optimizer: .init(name: .adam, learningRate: 0.001))
                spec.seed = 1
                let job = try jobs.submit(spec)
                try Data(String(job.id ?? 0).utf8).write(to: marker, options: .atomic)
                logger.notice("demo: training fashion-convnet as job \(job.id ?? 0); watch GET /v1/jobs/\(job.id ?? 0)/events")
                return
            }
            switch training.state {
            case .succeeded:
                let taken = try store.read { db in
                    try db.record(ModelRecord.self, "WHERE name = ?", Self.modelName) != nil
                }
                if taken { return finish("a model '\(Self.modelName)' was promoted meanwhile; the demo leaves it as it is") }
                let served = try models.promote(name: Self.modelName, job: training.id!)
                finish("""
                    model '\(served.name)' version \(served.version) is served: \
                    curl -T image.png localhost:8080/v1/models/\(served.name):classify
                    """)
            case .failed, .cancelled:
                finish("training job \(training.id ?? 0) ended \(training.state.rawValue); nothing promoted")
            case .queued, .running:
                return
            }
        } catch {
            finish("stopped: \(error)")
        }
    }

    private func finish(_ message: String) {
        try? FileManager.default.removeItem(at: marker)
        logger.notice("demo: \(message)")
    }
}
