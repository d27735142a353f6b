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
/// happens. Several processes (workers) may run one database's jobs: each claims jobs through the ledger, holds
/// a lease on each job it runs and renews it every second, and takes over a running job whose lease lapsed (its
/// process died), resuming it from its newest valid checkpoint, or from step 0 when it has none.
///
/// A process that cannot renew a lease (it lost the database, or the job was taken over) stops that job at its
/// next step, before the lease can lapse, and records nothing more for it: no two processes ever train one job.
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

    private let ledger: JobLedger
    /// How often leases are renewed and the database is asked for jobs other processes queued.
    private static let tickInterval: DispatchTimeInterval = .seconds(1)

    private struct State {
        var running: [Int64: RunningJob] = [:]
        /// Set by `start`: this process takes jobs from the database (a worker), not only records them.
        var started = false
        /// The once-a-second tick (lease renewal, polling) is scheduled.
        var ticking = false
        /// Set by `stop`: running jobs end where they are and stay `running`, to resume at the next start.
        var stopping = false
    }

    private let state = Mutex(State())

    /// `leaseSeconds`: how long another process waits after this one stopped renewing a job's lease before it
    /// takes the job over.
    public init(store: Store, dataDirectory: URL, concurrency: Int = 1, bus: EventBus = EventBus(),
                modelLimits: ModelLimits = ModelLimits(), datasetsRoot: URL? = nil,
                leaseSeconds: Double = JobLedger.defaultLeaseSeconds, logger: Logger = Logger(label: "kennel.jobs")) {
        self.store = store
        ledger = JobLedger(store: store, leaseSeconds: leaseSeconds)
        self.modelLimits = modelLimits
        catalog = DatasetCatalog(store: store, dataDirectory: dataDirectory, datasetsRoot: datasetsRoot)
        self.bus = bus
        metrics = MetricsBuffer(store: store, bus: bus, logger: logger)
        self.dataDirectory = dataDirectory
        self.concurrency = max(1, concurrency)
        self.logger = logger
    }

    /// Makes this process a worker: it resumes interrupted jobs, then starts queued ones, and from then on asks
    /// the database every second for jobs that other processes queued or left behind.
    public func start() {
        state.withLock { $0.started = true }
        startTicking()
        scheduling.async {
            // Once, at start: later, a dead owner's lease simply lapses.
            do {
                try self.ledger.expireLeasesOfDeadLocalOwners()
            } catch {
                self.logger.error("cannot look for jobs of processes that died: \(error)")
            }
            self.schedule()
        }
    }

    /// Starts the once-a-second tick unless it runs: it renews the leases of running jobs and, in a worker,
    /// schedules.
    private func startTicking() {
        let start = state.withLock { state -> Bool in
            defer { state.ticking = true }
            return !state.ticking
        }
        if start { scheduling.asyncAfter(deadline: .now() + Self.tickInterval) { [weak self] in self?.tick() } }
    }

    private func tick() {
        let (stopping, started) = state.withLock { ($0.stopping, $0.started) }
        guard !stopping else { return }
        renewLeases()
        if started { schedule() }
        // Weakly: a queue nobody holds any more (and did not stop) ticks no longer.
        scheduling.asyncAfter(deadline: .now() + Self.tickInterval) { [weak self] in self?.tick() }
    }

    /// Renews the lease of every job this process runs. A lost lease, or a lease that could not be renewed in
    /// time (the database is unreachable), stops the job; a cancellation requested elsewhere cancels it.
    private func renewLeases() {
        for (id, job) in state.withLock({ $0.running }) {
            do {
                switch try ledger.renew(id) {
                case .held(let cancelRequested):
                    job.lease.renewed()
                    if cancelRequested { job.cancelled.store(true) }
                case .lost:
                    job.lease.lose()
                    logger.error("job \(id): its lease was taken over by another process; stopping it here")
                }
            } catch {
                logger.warning("job \(id): cannot renew its lease (\(error)); the job stops if this lasts")
            }
        }
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
        let specJson = try ColumnJSON.text(spec)
        // Recorded and announced on the scheduling queue, where this process claims jobs: the once-a-second tick
        // (or a worker done with its job) cannot claim it and announce it running before it is announced queued.
        let job = try scheduling.sync {
            let job = try ledger.submit(kind: kind, dataset: dataset, specJson: specJson)
            bus.publish(.state(job: job.id!, state: .queued))
            return job
        }
        scheduling.async { self.schedule() }
        return job
    }

    /// Cancels a queued job at once, or a running one at its next step.
    @discardableResult
    public func cancel(_ id: Int64) throws -> JobRecord {
        guard let job = try ledger.job(id) else { throw JobQueueError.unknownJob(id) }
        switch job.state {
        case .queued:
            return try move(id, to: .cancelled)
        case .running:
            // A job this process runs stops at its next step; one another process runs, when that process next
            // renews its lease (within a second).
            if let running = state.withLock({ $0.running[id] }) {
                running.cancelled.store(true)
            } else {
                _ = try ledger.requestCancel(id)
            }
            return job
        case .succeeded, .failed, .cancelled:
            throw JobQueueError.alreadyFinished(id: id, state: job.state)
        }
    }

    /// Queues a failed or cancelled training job again; it continues from its newest valid checkpoint (for
    /// instance after a full disk was cleared), under the same id, each step recorded once.
    @discardableResult
    public func resume(_ id: Int64) throws -> JobRecord {
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
        let running = state.withLock { state -> [Int64: RunningJob] in
            state.stopping = true
            return state.running
        }
        running.values.forEach { $0.cancelled.store(true) }
        idle.wait()
        do {
            try ledger.release(Array(running.keys))
        } catch {
            logger.error("cannot record that jobs \(Array(running.keys)) stopped cleanly: \(error)")
        }
    }

    /// Claims and starts jobs while there is room: interrupted ones first (running, but their lease lapsed: the
    /// process died, or stopped cleanly), then queued ones, each in id order. Only a started queue (a worker)
    /// takes jobs.
    private func schedule() {
        var room = state.withLock { state -> Int in
            guard state.started, !state.stopping else { return 0 }
            return max(0, concurrency - state.running.count)
        }
        guard room > 0 else { return }
        reserve.restore()
        do {
            while room > 0, let claim = try ledger.claimNext() {
                guard let id = claim.job.id else { continue }
                let running = RunningJob(leaseSeconds: ledger.leaseSeconds)
                let fresh = state.withLock { state -> Bool in
                    guard state.running[id] == nil else { return false }
                    state.running[id] = running
                    return true
                }
                // A job this process already runs came back: its lease lapsed under it (the database was away);
                // the running copy stops on its own, and the job is claimed afresh at a later tick.
                guard fresh else { continue }
                room -= 1
                logger.info("job \(id): claimed by \(ProcessIdentity.current)\(claim.interrupted ? " (taken over)" : "")")
                idle.enter()
                workers.async {
                    self.execute(claim, running: running)
                    self.state.withLock { _ = $0.running.removeValue(forKey: id) }
                    // Start the next job before leaving the group, so `waitUntilIdle` never sees a gap between jobs.
                    self.scheduling.sync { self.schedule() }
                    self.idle.leave()
                }
            }
        } catch {
            logger.error("cannot take jobs from the database: \(error)")
        }
    }

    private func execute(_ claim: JobLedger.Claim, running: RunningJob) {
        let job = claim.job
        guard let id = job.id else { return }
        do {
            if claim.interrupted, claim.crashes >= 2 {
                logger.error("job \(id) was running when its process died \(claim.crashes) times in a row; failing it")
                try move(id, to: .failed, error: "the job stopped the server twice: Kennel died while running "
                         + "it at \(claim.crashes) starts in a row before it finished a step; check its layers and "
                         + "dataset, then submit it again")
                return
            }
            if !claim.interrupted { bus.publish(.state(job: id, state: .running)) }
            switch job.kind {
            case .train: try train(job, id: id, running: running)
            case .import: try importDataset(job, id: id, running: running)
            }
        } catch where running.lease.isLost {
            logger.warning("job \(id) stopped here after losing its lease: \(error)")
        } catch StoreError.unavailable(let reason) {
            // Not the job's fault: it is left running, its lease lapses, and a worker (this one, when the database
            // is back) resumes it from its newest checkpoint.
            logger.error("""
                job \(id) stops here: the database is unavailable (\(reason)); it resumes from its newest checkpoint \
                once the database is back
                """)
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
        } catch JobLedgerError.transitionNotAllowed, JobLedgerError.notOwner {
            return
        } catch {
            logger.error("cannot record that job \(id) failed (\(error)); trying again in 5 s")
            scheduling.asyncAfter(deadline: .now() + 5) { [self] in
                guard !state.withLock({ $0.stopping }) else { return }
                recordFailure(id, reason)
            }
        }
    }

    /// Trains a claimed job: from its newest valid checkpoint when it was interrupted or queued again by
    /// `resume`; from step 0 when it is new.
    private func train(_ job: JobRecord, id: Int64, running: RunningJob) throws {
        let spec = try JSONDecoder().decode(TrainingSpec.self, from: Data(job.specJson.utf8))
        let resume = try newestValidCheckpoint(of: id)
        if resume != nil || job.resumedFrom != nil { try ledger.markResumed(id, from: resume?.id) }
        // The first finished step shows the job does not kill the process: earlier deaths stop counting.
        var steppedSinceStart = false
        try run(id, spec: spec, resume: resume, running: running, progress: { _ in
            guard !steppedSinceStart else { return }
            steppedSinceStart = true
            try? ledger.clearCrashes(id)
        })
    }

    /// Trains `spec` as job `id` (running, held by this process) and records how it ended, unless the lease was
    /// lost meanwhile: then the job is another process's to finish.
    @discardableResult
    private func run(_ id: Int64, spec: TrainingSpec, resume: CheckpointRecord?, running: RunningJob,
                     progress: (TrainingProgress) -> Void = { _ in }) throws -> TrainingOutcome {
        let trainer = Trainer(store: store, dataDirectory: dataDirectory, bus: bus, metrics: metrics,
                              modelLimits: modelLimits)
        let outcome = try trainer.run(job: id, spec: spec, resume: resume, isCancelled: { running.shouldStop },
                                      progress: progress)
        if outcome.cancelled {
            if running.lease.isLost {
                logger.warning("job \(id) stopped here: its lease was lost; the process that holds it resumes it")
                return outcome
            }
            if state.withLock({ $0.stopping }) { return outcome }
            try move(id, to: .cancelled)
        } else {
            try move(id, to: .succeeded)
        }
        return outcome
    }

    /// Runs `spec` on the calling thread (`kennel train`): validated, then recorded as running under this
    /// process in one step (with a lease this queue renews), so a queue starting meanwhile (a server) leaves it
    /// alone. A failure marks the job failed and is rethrown.
    public func runInForeground(_ spec: TrainingSpec, isCancelled: @escaping @Sendable () -> Bool = { false },
                                progress: (TrainingProgress) -> Void = { _ in }) throws -> (JobRecord, TrainingOutcome) {
        let spec = try Trainer(store: store, dataDirectory: dataDirectory, modelLimits: modelLimits).validate(spec)
        let job = try ledger.submitRunning(kind: .train, dataset: spec.dataset, specJson: try ColumnJSON.text(spec))
        let id = job.id!
        let running = RunningJob(leaseSeconds: ledger.leaseSeconds, alsoStopWhen: isCancelled)
        state.withLock { $0.running[id] = running }
        defer { state.withLock { _ = $0.running.removeValue(forKey: id) } }
        startTicking()
        bus.publish(.state(job: id, state: .running))
        do {
            let outcome = try run(id, spec: spec, resume: nil, running: running, progress: progress)
            return (try ledger.job(id) ?? job, outcome)
        } catch {
            _ = try? move(id, to: .failed, error: "\(error)")
            throw error
        }
    }

    /// An import runs to the end (a shard is written in one pass); an interrupted one simply starts again.
    private func importDataset(_ job: JobRecord, id: Int64, running: RunningJob) throws {
        let spec = try JSONDecoder().decode(DatasetImportSpec.self, from: Data(job.specJson.utf8))
        do {
            _ = try catalog.importDataset(spec, isCancelled: { running.shouldStop }) { done, total in
                try? ledger.setProgress(id, total > 0 ? Double(done) / Double(total) : 1)
            }
        } catch DataError.cancelled {
            // A stopping server leaves the import running, to start again at the next start; a lost lease leaves
            // it to the process that holds it.
            if !state.withLock({ $0.stopping }) && !running.lease.isLost { try move(id, to: .cancelled) }
            return
        }
        try move(id, to: .succeeded)
    }

    /// A state change written to the database, then announced.
    @discardableResult
    private func move(_ id: Int64, to next: JobState, error: String? = nil) throws -> JobRecord {
        let job = try ledger.move(id, to: next, error: error)
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

/// A job this process runs: what tells its trainer to stop at the next step.
final class RunningJob: Sendable {
    /// Set by a cancellation (here or, through the lease, from another process) and by `stop`.
    let cancelled = Atomic<Bool>.Handle(false)
    let lease: LeaseDeadline
    private let alsoStopWhen: @Sendable () -> Bool

    init(leaseSeconds: Double, alsoStopWhen: @escaping @Sendable () -> Bool = { false }) {
        lease = LeaseDeadline(leaseSeconds: leaseSeconds)
        self.alsoStopWhen = alsoStopWhen
    }

    /// Cancelled, stopping, or no longer sure of its lease.
    var shouldStop: Bool { cancelled.load() || lease.isLost || alsoStopWhen() }
}

/// When this process must stop counting on a job's lease: two thirds of the lease after the last renewal, by the
/// local monotonic clock. The database lets another process take the job only a whole lease after that renewal,
/// so the job has stopped here (at its next step) well before anyone else can start it.
final class LeaseDeadline: Sendable {
    private let validNanoseconds: UInt64
    private let validUntil: Atomic<UInt64>
    private let lost = Atomic<Bool>(false)

    init(leaseSeconds: Double) {
        validNanoseconds = UInt64(leaseSeconds * 2 / 3 * 1e9)
        validUntil = Atomic(DispatchTime.now().uptimeNanoseconds + validNanoseconds)
    }

    func renewed() {
        validUntil.store(DispatchTime.now().uptimeNanoseconds + validNanoseconds, ordering: .releasing)
    }

    func lose() { lost.store(true, ordering: .releasing) }

    /// True once the lease was lost, or not renewed in time; stays true.
    var isLost: Bool {
        if lost.load(ordering: .acquiring) { return true }
        guard DispatchTime.now().uptimeNanoseconds > validUntil.load(ordering: .acquiring) else { return false }
        lose()
        return true
    }
}
