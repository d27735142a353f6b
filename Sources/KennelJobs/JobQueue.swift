import Dispatch
import Foundation
import KennelData
import KennelEngine
import KennelStore
import Logging
import Synchronization

/// Why the queue refused a request.
public enum JobQueueError: Error, Equatable, CustomStringConvertible {
    case unknownJob(Int64)
    case alreadyFinished(id: Int64, state: JobState)
    /// Only a failed or cancelled training job can be resumed.
    case notResumable(id: Int64, state: JobState, kind: JobKind)
    /// The job, or what it made, is still needed (running, or a model version was promoted from it).
    case inUse(String)

    public var description: String {
        switch self {
        case .unknownJob(let id): return "no job with id \(id)"
        case .alreadyFinished(let id, let state): return "job \(id) is already \(state.rawValue)"
        case .notResumable(let id, let state, let kind):
            return kind == .import ? "job \(id) is an import; submit the import again"
                : "job \(id) is \(state.rawValue); only a failed or cancelled training job can be resumed"
        case .inUse(let reason): return reason
        }
    }
}

/// Runs training and import jobs in submission order on background Dispatch queues, at most `concurrency` at once
/// (default 1: training uses every core). The database is the truth: every state change is written as it
/// happens, and at start-up a job found `running` (the process died under it) resumes from its newest valid
/// checkpoint, or from step 0 when it has none.
public final class JobQueue: Sendable {
    private let store: Store
    /// Where shards, checkpoints and the database live.
    public let dataDirectory: URL
    private let concurrency: Int
    /// How large a job's model may be; checked when it is submitted and again when it runs.
    private let modelLimits: ModelLimits
    /// Where import jobs record datasets, confined to the datasets root when there is one.
    public let catalog: DatasetCatalog
    private let logger: Logger
    private let scheduling = DispatchQueue(label: "kennel.jobs.scheduling")
    private let workers = DispatchQueue(label: "kennel.jobs.workers", qos: .userInitiated, attributes: .concurrent)
    private let idle = DispatchGroup()
    /// Metric, state and checkpoint events of every job this queue runs.
    public let bus: EventBus
    /// Scalars of every job this queue runs, on their way to the database.
    public let metrics: MetricsBuffer

    private struct State {
        var running: [Int64: Atomic<Bool>.Handle] = [:]
        /// Set by `stop`: running jobs end where they are and stay `running`, to resume at the next start.
        var stopping = false
    }

    private let state = Mutex(State())

    public init(store: Store, dataDirectory: URL, concurrency: Int = 1, bus: EventBus = EventBus(),
                modelLimits: ModelLimits = ModelLimits(), datasetsRoot: URL? = nil,
                logger: Logger = Logger(label: "kennel.jobs")) {
        self.store = store
        self.modelLimits = modelLimits
        catalog = DatasetCatalog(store: store, dataDirectory: dataDirectory, datasetsRoot: datasetsRoot)
        self.bus = bus
        metrics = MetricsBuffer(store: store, bus: bus, logger: logger)
        self.dataDirectory = dataDirectory
        self.concurrency = max(1, concurrency)
        self.logger = logger
    }

    /// Resumes interrupted jobs, then starts queued ones.
    public func start() {
        scheduling.async { self.schedule() }
    }

    /// Given back when a job finds the disk full, so its failure can still be recorded; taken again before the
    /// next job starts, when there is room.
    private var reserve: DiskReserve { DiskReserve(directory: dataDirectory) }

    /// Validates `spec` against its dataset, records the job as queued and schedules it.
    public func submit(_ spec: TrainingSpec) throws -> JobRecord {
        let completed = try Trainer(store: store, dataDirectory: dataDirectory, modelLimits: modelLimits).validate(spec)
        return try enqueue(.train, dataset: spec.dataset, spec: completed)
    }

    /// Validates an import, records it as a queued job of kind `import` and schedules it.
    public func submit(_ spec: DatasetImportSpec) throws -> JobRecord {
        try catalog.validate(spec)
        return try enqueue(.import, dataset: spec.name, spec: spec)
    }

    /// Records a validated job as queued, announces it and schedules it.
    private func enqueue(_ kind: JobKind, dataset: String, spec: some Encodable) throws -> JobRecord {
        let job = try JobLedger(store: store).submit(kind: kind, dataset: dataset, specJson: try ColumnJSON.text(spec))
        bus.publish(.state(job: job.id!, state: .queued))
        scheduling.async { self.schedule() }
        return job
    }

    /// Cancels a queued job at once, or a running one at its next step.
    @discardableResult
    public func cancel(_ id: Int64) throws -> JobRecord {
        let ledger = JobLedger(store: store)
        guard let job = try ledger.job(id) else { throw JobQueueError.unknownJob(id) }
        switch job.state {
        case .queued:
            return try move(id, to: .cancelled)
        case .running:
            state.withLock { $0.running[id]?.store(true) }
            return job
        case .succeeded, .failed, .cancelled:
            throw JobQueueError.alreadyFinished(id: id, state: job.state)
        }
    }

    /// Queues a failed or cancelled training job again; it continues from its newest valid checkpoint (for
    /// instance after a full disk was cleared), under the same id, each step recorded once.
    @discardableResult
    public func resume(_ id: Int64) throws -> JobRecord {
        let ledger = JobLedger(store: store)
        guard let job = try ledger.job(id) else { throw JobQueueError.unknownJob(id) }
        guard job.kind == .train, try ledger.requeue(id) else {
            throw JobQueueError.notResumable(id: id, state: job.state, kind: job.kind)
        }
        bus.publish(.state(job: id, state: .queued))
        scheduling.async { self.schedule() }
        return try ledger.job(id) ?? job
    }

    /// Deletes a finished job with its metrics and checkpoint files, to free space. Refused while it runs or
    /// is queued, and while a model version was promoted from it.
    public func delete(_ id: Int64) throws {
        let ledger = JobLedger(store: store)
        guard let job = try ledger.job(id) else { throw JobQueueError.unknownJob(id) }
        guard job.state.isFinal else {
            throw JobQueueError.inUse("job \(id) is \(job.state.rawValue); cancel it first")
        }
        let promoted = try store.read { db in
            try db.fetch("""
                SELECT m.name, m.version FROM models m JOIN checkpoints c ON c.id = m.checkpoint_id
                WHERE c.job_id = ? ORDER BY m.name, m.version LIMIT 1
                """, id).first
        }
        if let promoted {
            let name: String = try promoted.get("name"), version: Int = try promoted.get("version")
            throw JobQueueError.inUse("model '\(name)' version \(version) was promoted from job \(id) and needs its "
                                      + "checkpoint; the job cannot be deleted")
        }
        // Files first: on a full disk the database cannot commit until they are gone.
        try? FileManager.default.removeItem(at: CheckpointStore(store: store, dataDirectory: dataDirectory).directory
            .appendingPathComponent(String(id)))
        try store.write { db in try db.execute("DELETE FROM jobs WHERE id = ?", id) }
    }

    /// Blocks until no job is running or waiting to start in this process.
    public func waitUntilIdle() {
        scheduling.sync {}
        idle.wait()
    }

    /// Stops running jobs where they are (they stay `running`, without an owner, and resume at the next start
    /// without counting as a crash) and waits for them.
    public func stop() {
        let (flags, ids) = state.withLock { state -> ([Atomic<Bool>.Handle], [Int64]) in
            state.stopping = true
            return (Array(state.running.values), Array(state.running.keys))
        }
        flags.forEach { $0.store(true) }
        idle.wait()
        do {
            try JobLedger(store: store).release(ids)
        } catch {
            logger.error("cannot record that jobs \(ids) stopped cleanly: \(error)")
        }
    }

    /// Starts jobs while there is room: interrupted ones first (running, but their process is gone: a crash,
    /// or a clean stop that left no owner), then queued ones, each in id order.
    private func schedule() {
        let (room, stopping) = state.withLock { ($0.running.count < concurrency ? concurrency - $0.running.count : 0,
                                                 $0.stopping) }
        guard room > 0, !stopping else { return }
        reserve.restore()
        let candidates: [JobRecord]
        do {
            candidates = try store.read { db in
                // A running job whose process still runs (this one, or a foreground `kennel train`) is not
                // interrupted.
                let interrupted = try db.records(JobRecord.self, "WHERE state = 'running' ORDER BY id")
                    .filter { job in job.owner.map { !ProcessIdentity.isAlive($0) } ?? true }
                let queued = try db.records(JobRecord.self, "WHERE state = 'queued' ORDER BY id")
                return interrupted + queued
            }
        } catch {
            logger.error("cannot read the job queue: \(error)")
            return
        }
        // A job this process already runs may still read as queued (its worker has not claimed it yet): it takes
        // no room, so the jobs after it are not held back until the next scheduling.
        var started = 0
        for job in candidates where started < room {
            guard let id = job.id else { continue }
            let flag = Atomic<Bool>.Handle(false)
            let claimed = state.withLock { state -> Bool in
                guard state.running[id] == nil else { return false }
                state.running[id] = flag
                return true
            }
            guard claimed else { continue }
            started += 1
            idle.enter()
            workers.async {
                self.execute(job, cancelled: flag)
                self.state.withLock { _ = $0.running.removeValue(forKey: id) }
                // Start the next job before leaving the group, so `waitUntilIdle` never sees a gap between jobs.
                self.scheduling.sync { self.schedule() }
                self.idle.leave()
            }
        }
    }

    private func execute(_ job: JobRecord, cancelled: Atomic<Bool>.Handle) {
        guard let id = job.id else { return }
        do {
            if job.state == .running {
                guard let crashes = try JobLedger(store: store).reclaim(id, from: job.owner) else { return }
                if crashes >= 2 {
                    logger.error("job \(id) was running when the process died at \(crashes) starts in a row; failing it")
                    try move(id, to: .failed, error: "the job stopped the server twice: Kennel died while running "
                             + "it at \(crashes) starts in a row before it finished a step; check its layers and "
                             + "dataset, then submit it again")
                    return
                }
            }
            switch job.kind {
            case .train: try train(job, id: id, cancelled: cancelled)
            case .import: try importDataset(job, id: id, cancelled: cancelled)
            }
        } catch {
            let diskFull = DiskFull.matches(error)
            if diskFull { reserve.release() }
            let reason = diskFull ? DiskFull.message(at: dataDirectory, then: "POST /v1/jobs/\(id)/resume") : "\(error)"
            logger.error("job \(id) failed: \(reason)")
            recordFailure(id, reason)
        }
    }

    /// Marks job `id` failed. When even that cannot be written (the database's disk is full too) it is tried
    /// again every few seconds, so the job never stays `running` with nothing training it.
    private func recordFailure(_ id: Int64, _ reason: String) {
        do {
            try move(id, to: .failed, error: reason)
        } catch JobLedgerError.transitionNotAllowed {
            return
        } catch {
            logger.error("cannot record that job \(id) failed (\(error)); trying again in 5 s")
            scheduling.asyncAfter(deadline: .now() + 5) { [self] in
                guard !state.withLock({ $0.stopping }) else { return }
                recordFailure(id, reason)
            }
        }
    }

    private func train(_ job: JobRecord, id: Int64, cancelled: Atomic<Bool>.Handle) throws {
        let spec = try JSONDecoder().decode(TrainingSpec.self, from: Data(job.specJson.utf8))
        var resume: CheckpointRecord?
        let ledger = JobLedger(store: store)
        if job.state == .running {
            resume = try newestValidCheckpoint(of: id)
            try ledger.markResumed(id, from: resume?.id)
        } else {
            guard try ledger.claim(id) else { return }
            bus.publish(.state(job: id, state: .running))
            // A job queued again by `resume` continues from its newest checkpoint; a new one has none.
            if let newest = try newestValidCheckpoint(of: id) {
                resume = newest
                try ledger.markResumed(id, from: newest.id)
            }
        }
        // The first finished step shows the job does not kill the process: earlier deaths stop counting.
        var steppedSinceStart = false
        try run(id, spec: spec, resume: resume, isCancelled: { cancelled.load() }, progress: { _ in
            guard !steppedSinceStart else { return }
            steppedSinceStart = true
            try? ledger.clearCrashes(id)
        })
    }

    /// Trains `spec` as job `id` (already running in this process) and records how it ended.
    @discardableResult
    private func run(_ id: Int64, spec: TrainingSpec, resume: CheckpointRecord?, isCancelled: () -> Bool,
                     progress: (TrainingProgress) -> Void = { _ in }) throws -> TrainingOutcome {
        let trainer = Trainer(store: store, dataDirectory: dataDirectory, bus: bus, metrics: metrics,
                              modelLimits: modelLimits)
        let outcome = try trainer.run(job: id, spec: spec, resume: resume, isCancelled: isCancelled,
                                      progress: progress)
        if outcome.cancelled {
            if state.withLock({ $0.stopping }) { return outcome }
            try move(id, to: .cancelled)
        } else {
            try move(id, to: .succeeded)
        }
        return outcome
    }

    /// Runs `spec` on the calling thread (`kennel train`): validated, then recorded as running under this
    /// process in one step, so a queue starting meanwhile (a server) leaves it alone. A failure marks the job
    /// failed and is rethrown.
    public func runInForeground(_ spec: TrainingSpec, isCancelled: () -> Bool = { false },
                                progress: (TrainingProgress) -> Void = { _ in }) throws -> (JobRecord, TrainingOutcome) {
        let spec = try Trainer(store: store, dataDirectory: dataDirectory, modelLimits: modelLimits).validate(spec)
        let job = try JobLedger(store: store).submitRunning(kind: .train, dataset: spec.dataset,
                                                            specJson: try ColumnJSON.text(spec))
        let id = job.id!
        bus.publish(.state(job: id, state: .running))
        do {
            let outcome = try run(id, spec: spec, resume: nil, isCancelled: isCancelled, progress: progress)
            return (try JobLedger(store: store).job(id) ?? job, outcome)
        } catch {
            _ = try? move(id, to: .failed, error: "\(error)")
            throw error
        }
    }

    /// An import runs to the end (a shard is written in one pass); an interrupted one simply starts again.
    private func importDataset(_ job: JobRecord, id: Int64, cancelled: Atomic<Bool>.Handle) throws {
        let spec = try JSONDecoder().decode(DatasetImportSpec.self, from: Data(job.specJson.utf8))
        if job.state == .queued {
            guard try JobLedger(store: store).claim(id) else { return }
            bus.publish(.state(job: id, state: .running))
        }
        let ledger = JobLedger(store: store)
        do {
            _ = try catalog.importDataset(spec, isCancelled: { cancelled.load() }) { done, total in
                try? ledger.setProgress(id, total > 0 ? Double(done) / Double(total) : 1)
            }
        } catch DataError.cancelled {
            // A stopping server leaves the import running, to start again at the next start.
            if !state.withLock({ $0.stopping }) { try move(id, to: .cancelled) }
            return
        }
        try move(id, to: .succeeded)
    }

    /// A state change written to the database, then announced.
    @discardableResult
    private func move(_ id: Int64, to next: JobState, error: String? = nil) throws -> JobRecord {
        let job = try JobLedger(store: store).move(id, to: next, error: error)
        bus.publish(.state(job: id, state: next))
        return job
    }

    /// The newest checkpoint of `job` whose file matches its sha256; damaged ones are skipped.
    private func newestValidCheckpoint(of job: Int64) throws -> CheckpointRecord? {
        let checkpoints = CheckpointStore(store: store, dataDirectory: dataDirectory)
        let records = try store.read { db in
            try db.records(CheckpointRecord.self, "WHERE job_id = ? ORDER BY step DESC", job)
        }
        for record in records {
            do {
                _ = try checkpoints.load(record)
                return record
            } catch {
                logger.warning("job \(job): skipping checkpoint \(record.path): \(error)")
            }
        }
        return nil
    }
}

extension Atomic where Value == Bool {
    /// A shareable flag (Atomic itself cannot be copied into dictionaries or closures).
    final class Handle: Sendable {
        private let value: Atomic<Bool>
        init(_ initial: Bool) { value = Atomic(initial) }
        func load() -> Bool { value.load(ordering: .acquiring) }
        func store(_ newValue: Bool) { value.store(newValue, ordering: .releasing) }
    }
}
