import Foundation
import KennelStore
import KennelTestSupport
import Testing
@testable import KennelJobs

/// The job life cycle as the store records it, on each engine.
struct JobLedgerTests {
    private func withLedger(_ engine: Engine, _ body: (JobLedger) throws -> Void) throws {
        let scratch = try ScratchDatabase(engine)
        defer { scratch.remove() }
        let store = try scratch.open()
        defer { try? store.close() }
        try body(JobLedger(store: store))
    }

    @Test(arguments: Engine.allCases)
    func jobsMoveThroughTheirLifeCycleWithTimestamps(engine: Engine) throws {
        try withLedger(engine) { ledger in
            let job = try ledger.submit(kind: .train, dataset: "fashion", specJson: "{}")
            let id = try #require(job.id)
            #expect(job.state == .queued)
            let running = try ledger.move(id, to: .running)
            #expect(running.startedAt != nil)
            #expect(running.finishedAt == nil)
            let done = try ledger.move(id, to: .succeeded)
            #expect(done.finishedAt != nil)
            #expect(done.progress == 1)
            #expect(try ledger.job(id) == done)
        }
    }

    @Test(arguments: Engine.allCases)
    func movesOutsideTheLifeCycleAreRefusedAndChangeNothing(engine: Engine) throws {
        try withLedger(engine) { ledger in
            let id = try #require(try ledger.submit(kind: .train, dataset: "d", specJson: "{}").id)
            try ledger.move(id, to: .cancelled)
            #expect(throws: JobLedgerError.transitionNotAllowed(id: id, from: .cancelled, to: .running)) {
                try ledger.move(id, to: .running)
            }
            #expect(try ledger.job(id)?.state == .cancelled)
            #expect(throws: JobLedgerError.unknownJob(12345)) { try ledger.move(12345, to: .running) }
        }
    }

    @Test(arguments: Engine.allCases)
    func failuresKeepTheirMessage(engine: Engine) throws {
        try withLedger(engine) { ledger in
            let id = try #require(try ledger.submit(kind: .import, dataset: "dogs", specJson: "{}").id)
            try ledger.move(id, to: .running)
            let failed = try ledger.move(id, to: .failed, error: "loss became NaN at step 17")
            #expect(failed.error == "loss became NaN at step 17")
        }
    }

    @Test func finalStatesHaveNoWayOut() {
        for state in JobState.allCases where state.isFinal {
            #expect(JobState.allCases.allSatisfy { !state.canMove(to: $0) })
        }
    }
}
