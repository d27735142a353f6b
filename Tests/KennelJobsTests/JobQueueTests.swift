import Foundation
import KennelData
import KennelEngine
import KennelImage
import KennelStore
import KennelTestSupport
import Testing
@testable import KennelJobs

struct JobQueueTests {
    private func waitFor(_ condition: () throws -> Bool, seconds: Double = 20) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return false
    }

    @Test func jobsRunInOrderOneAtATime() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let queue = JobQueue(store: bench.store, dataDirectory: bench.dataDirectory)
        queue.start()
        let first = try queue.submit(bench.spec(epochs: 2))
        let second = try queue.submit(bench.spec(epochs: 1))
        queue.waitUntilIdle()
        let ledger = JobLedger(store: bench.store)
        let (a, b) = (try #require(try ledger.job(first.id!)), try #require(try ledger.job(second.id!)))
        #expect(a.state == .succeeded && b.state == .succeeded)
        #expect(a.finishedAt! <= b.startedAt!)
        #expect(a.progress == 1)
    }

    @Test func eventsAnnounceStatesMetricsAndCheckpoints() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let queue = JobQueue(store: bench.store, dataDirectory: bench.dataDirectory)
        let events = EventLog()
        let token = queue.bus.subscribe { events.append($0) }
        let other = queue.bus.subscribe(job: 999) { _ in Issue.record("an event for another job") }
        queue.start()
        let job = try queue.submit(bench.spec(epochs: 2))
        queue.waitUntilIdle()
        queue.bus.unsubscribe(token)
        queue.bus.unsubscribe(other)
        let seen = events.all
        let states = seen.compactMap { event -> JobState? in
            if case .state(let id, let state) = event, id == job.id { return state } else { return nil }
        }
        #expect(states == [.queued, .running, .succeeded])
        let tags = Set(seen.compactMap { event -> String? in if case .metric(let point) = event { return point.tag } else { return nil } })
        #expect(tags.isSuperset(of: ["train/loss", "train/accuracy", "test/accuracy", "test/top5_accuracy"]))
        #expect(seen.filter { if case .checkpoint = $0 { return true } else { return false } }.count == 2)
    }

    @Test func importJobsRunThroughTheSameQueue() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let queue = JobQueue(store: bench.store, dataDirectory: bench.dataDirectory)
        queue.start()
        var spec = DatasetImportSpec(name: "again", format: .imagefolder, path: bench.directory.path + "/images")
        spec.width = 8
        spec.height = 8
        let job = try queue.submit(spec)
        #expect(job.kind == .import && job.dataset == "again")
        queue.waitUntilIdle()
        #expect(try JobLedger(store: bench.store).job(job.id!)?.state == .succeeded)
        let dataset = try #require(try bench.store.read { try $0.record(DatasetRecord.self, "WHERE name = ?", "again") })
        #expect(dataset.trainCount == 18 && dataset.testCount == 6)
        #expect(throws: DatasetCatalogError.inUse("a dataset named 'again' already exists; pick another name, or "
                                                  + "DELETE /v1/datasets/again first")) {
            _ = try queue.submit(spec)
        }
        spec.name = "elsewhere"
        spec.path = "/nonexistent"
        #expect(throws: SpecError.self) { _ = try queue.submit(spec) }
    }

    @Test func foregroundRunsAreLeftAloneByAStartingQueue() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let queue = JobQueue(store: bench.store, dataDirectory: bench.dataDirectory)
        var sawOwner = false
        let (job, outcome) = try queue.runInForeground(bench.spec(epochs: 2), progress: { _ in
            sawOwner = sawOwner || (try? JobLedger(store: bench.store).job(1))??.owner != nil
        })
        #expect(job.state == .succeeded && job.owner == nil && outcome.epochsRun == 2)
        #expect(sawOwner)

        // A job running in a live process (this one) is not "interrupted"; once its owner is gone, it is.
        let ledger = JobLedger(store: bench.store)
        let live = try ledger.submitRunning(kind: .train, dataset: bench.dataset,
                                            specJson: String(decoding: try JSONEncoder().encode(bench.spec(epochs: 1)),
                                                             as: UTF8.self))
        let starting = JobQueue(store: bench.store, dataDirectory: bench.dataDirectory)
        starting.start()
        starting.waitUntilIdle()
        Thread.sleep(forTimeInterval: 0.2)
        #expect(try ledger.job(live.id!)?.state == .running)
        try bench.orphan(live.id!)
        let restarted = JobQueue(store: bench.store, dataDirectory: bench.dataDirectory)
        restarted.start()
        #expect(try waitFor { try ledger.job(live.id!)?.state == .succeeded })
        restarted.waitUntilIdle()
    }

    @Test func theConcurrencyLimitHoldsTheThirdJobBack() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let queue = JobQueue(store: bench.store, dataDirectory: bench.dataDirectory, concurrency: 2)
        queue.start()
        let first = try queue.submit(bench.spec(epochs: 1000))
        let second = try queue.submit(bench.spec(epochs: 1000))
        let third = try queue.submit(bench.spec(epochs: 1))
        let ledger = JobLedger(store: bench.store)
        #expect(try waitFor { try ledger.job(first.id!)?.state == .running && ledger.job(second.id!)?.state == .running })
        #expect(try ledger.job(third.id!)?.state == .queued)
        try queue.cancel(first.id!)
        try queue.cancel(second.id!)
        queue.waitUntilIdle()
        #expect(try ledger.job(third.id!)?.state == .succeeded)
    }

    @Test func cancellingQueuedRunningAndFinishedJobs() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let queue = JobQueue(store: bench.store, dataDirectory: bench.dataDirectory)
        queue.start()
        let long = try queue.submit(bench.spec(epochs: 500))
        let waiting = try queue.submit(bench.spec(epochs: 1))
        #expect(try queue.cancel(waiting.id!).state == .cancelled)
        let ledger = JobLedger(store: bench.store)
        #expect(try waitFor { try ledger.job(long.id!)?.state == .running })
        try queue.cancel(long.id!)
        queue.waitUntilIdle()
        #expect(try ledger.job(long.id!)?.state == .cancelled)
        #expect(throws: JobQueueError.alreadyFinished(id: waiting.id!, state: .cancelled)) { try queue.cancel(waiting.id!) }
        #expect(throws: JobQueueError.unknownJob(999)) { try queue.cancel(999) }
        #expect(throws: SpecError.self) {
            var bad = bench.spec()
            bad.epochs = 0
            _ = try queue.submit(bad)
        }
    }

    @Test func anInterruptedJobResumesFromItsNewestCheckpointWithStepsContinuing() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let spec = bench.spec(epochs: 4)
        let encoder = JSONEncoder()
        let ledger = JobLedger(store: bench.store)
        let job = try ledger.submit(kind: .train, dataset: bench.dataset,
                                    specJson: String(decoding: try encoder.encode(spec), as: UTF8.self))
        let id = try #require(job.id)
        try ledger.move(id, to: .running)
        // The "crash": training stops after two epochs' checkpoints and the row stays `running`.
        let stepsPerEpoch = 5  // 18 training images at batch 4
        var polls = 0
        _ = try bench.trainer.run(job: id, spec: spec, isCancelled: { polls += 1; return polls > 2 * stepsPerEpoch + 2 })
        let before = try bench.store.read { db in
            try db.records(CheckpointRecord.self, "WHERE job_id = ? ORDER BY step DESC", id)
        }
        #expect(before.first?.step == 2 * stepsPerEpoch)
        try bench.orphan(id)

        let queue = JobQueue(store: bench.store, dataDirectory: bench.dataDirectory)
        queue.start()
        #expect(try waitFor { try ledger.job(id)?.state == .succeeded })
        queue.waitUntilIdle()
        let resumed = try #require(try ledger.job(id))
        #expect(resumed.resumedFrom == before.first?.id)
        let steps = try bench.store.read { db in
            try db.values(Int.self, "SELECT step AS value FROM metrics WHERE job_id = ? AND tag = 'test/accuracy' ORDER BY step", id)
        }
        #expect(steps == [5, 10, 15, 20])
        let trainSteps = try bench.store.read { db in
            try db.values(Int.self, "SELECT step AS value FROM metrics WHERE job_id = ? AND tag = 'train/loss' ORDER BY step", id)
        }
        #expect(trainSteps == Array(1...20))
    }

    /// A job that was running at two deaths in a row, with no step finished between them, is failed at the
    /// next start instead of being run a third time (a job that kills the process would keep a server in a
    /// crash loop). A clean stop does not count, and a finished step clears the count.
    @Test func aJobRunningAtTwoCrashesInARowFailsInsteadOfLoopingTheServer() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let ledger = JobLedger(store: bench.store)
        func interruptedJob(crashes: Int, orphaned: Bool) throws -> Int64 {
            let spec = String(decoding: try JSONEncoder().encode(bench.spec(epochs: 1)), as: UTF8.self)
            let id = try #require(try ledger.submit(kind: .train, dataset: bench.dataset, specJson: spec).id)
            try ledger.move(id, to: .running)
            if orphaned { try bench.orphan(id) } else { try ledger.release([id]) }
            try bench.store.write { db in
                try db.execute("UPDATE jobs SET crashes = ? WHERE id = ?", crashes, id)
            }
            return id
        }
        let poison = try interruptedJob(crashes: 1, orphaned: true)
        let survivor = try interruptedJob(crashes: 0, orphaned: true)
        let stoppedCleanly = try interruptedJob(crashes: 1, orphaned: false)
        let queue = JobQueue(store: bench.store, dataDirectory: bench.dataDirectory)
        queue.start()
        // Every interrupted job is taken up at start, not only the first.
        #expect(try waitFor { try [poison, survivor, stoppedCleanly].allSatisfy { try ledger.job($0)?.state.isFinal == true } })
        queue.waitUntilIdle()
        let failed = try #require(try ledger.job(poison))
        #expect(failed.state == .failed)
        #expect(failed.error?.hasPrefix("the job stopped the server twice") == true)
        #expect(try ledger.job(survivor)?.state == .succeeded)
        #expect(try ledger.job(stoppedCleanly)?.state == .succeeded)
        let counts = try bench.store.read { db in
            try db.values(Int.self, "SELECT crashes AS value FROM jobs WHERE id IN (?, ?) ORDER BY id",
                          survivor, stoppedCleanly)
        }
        #expect(counts == [0, 0])
    }

    /// Two processes recovering the same interrupted job: only one takes it, and only once its owner is known
    /// dead (a process of this host that is gone) or its lease has lapsed.
    @Test func takingOverAnInterruptedJobIsAtomic() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let ledger = JobLedger(store: bench.store, leaseSeconds: 1)
        let id = try bench.newJob()
        try ledger.move(id, to: .running)
        #expect(try ledger.claimNext() == nil)
        try bench.orphan(id)
        #expect(try ledger.claimNext() == nil, "the dead owner's lease still runs")
        try ledger.expireLeasesOfDeadLocalOwners()
        let claim = try #require(try ledger.claimNext())
        #expect(claim.job.id == id && claim.interrupted && claim.crashes == 1)
        #expect(try ledger.claimNext() == nil)
        #expect(try ledger.renew(id) == .held(cancelRequested: false))
    }

    /// A lease that is not renewed lapses on the database's clock; the owner then finds it lost.
    @Test func aLapsedLeaseIsTakenOverAndLostByItsOwner() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let ledger = JobLedger(store: bench.store, leaseSeconds: 0.3)
        let id = try bench.newJob()
        let first = try #require(try ledger.claimNext())
        #expect(first.job.id == id && !first.interrupted && first.job.state == .running)
        #expect(try ledger.requestCancel(id))
        #expect(try ledger.renew(id) == .held(cancelRequested: true))
        Thread.sleep(forTimeInterval: 0.5)
        // Another process (here: the same ledger under another owner name) takes it over.
        try bench.store.write { try $0.execute("UPDATE jobs SET owner = 'elsewhere:1:1' WHERE id = ?", id) }
        let second = try #require(try ledger.claimNext())
        #expect(second.job.id == id && second.interrupted && second.crashes == 1)
        try bench.store.write { try $0.execute("UPDATE jobs SET owner = 'elsewhere:1:1' WHERE id = ?", id) }
        #expect(try ledger.renew(id) == .lost)
        #expect(throws: JobLedgerError.notOwner(id: id, owner: "elsewhere:1:1")) { try ledger.move(id, to: .succeeded) }
    }

    @Test func aDamagedNewestCheckpointIsSkippedOnResume() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let spec = bench.spec(epochs: 3)
        let ledger = JobLedger(store: bench.store)
        let id = try #require(try ledger.submit(kind: .train, dataset: bench.dataset,
                                                specJson: String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)).id)
        try ledger.move(id, to: .running)
        var polls = 0
        _ = try bench.trainer.run(job: id, spec: spec, isCancelled: { polls += 1; return polls > 12 })
        let records = try bench.store.read { db in
            try db.records(CheckpointRecord.self, "WHERE job_id = ? ORDER BY step DESC", id)
        }
        try #require(records.count == 2)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: records[0].path))
        bytes[20] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: records[0].path))
        try bench.orphan(id)
        let queue = JobQueue(store: bench.store, dataDirectory: bench.dataDirectory)
        queue.start()
        #expect(try waitFor { try ledger.job(id)?.state == .succeeded })
        queue.waitUntilIdle()
        #expect(try ledger.job(id)?.resumedFrom == records[1].id)
    }
}

/// Events collected from the publishing thread.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [JobEvent] = []
    func append(_ event: JobEvent) { lock.withLock { events.append(event) } }
    var all: [JobEvent] { lock.withLock { events } }
}

struct MetricsBufferTests {
    @Test func aFullBufferDropsTheOldestAndCountsEveryDroppedPoint() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let job = try bench.newJob()
        let buffer = MetricsBuffer(store: bench.store, capacity: 3)
        for step in 1...5 { buffer.record(job: job, tag: "train/loss", step: step, value: Double(step)) }
        #expect(buffer.dropped == 2)
        #expect(buffer.flush())
        let steps = try bench.store.read { db in
            try db.values(Int.self, "SELECT step AS value FROM metrics WHERE job_id = ? ORDER BY step", job)
        }
        #expect(steps == [3, 4, 5])
    }
}
