import ArgumentParser
import Dispatch
import Foundation
import KennelJobs
import KennelStore
import Synchronization

/// `kennel bench queue [--jobs N] [--workers W] [--database URL] [--json]`: how fast workers claim jobs from the
/// shared queue. N empty jobs are queued; W workers, each with its own connections, claim them (`claimNext`, the
/// claim every worker makes) and mark them done until none is left. Reports claims per second and claim latency,
/// and checks that no job was claimed twice and none was lost. The jobs are deleted afterwards; run it against a
/// database of its own.
struct QueueBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "Measure claiming jobs from the job queue by several workers at once.")

    @OptionGroup var storage: StorageOptions

    @Option(help: "Jobs to queue (default 2000).")
    var jobs = 2000

    @Option(help: "Workers claiming at once, each with its own connections (default 4).")
    var workers = 4

    @Flag(help: "Print one JSON line instead of text.")
    var json = false

    mutating func validate() throws {
        guard (1...1_000_000).contains(jobs) else { throw ValidationError("--jobs must be 1…1000000") }
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be 1…64") }
    }

    func run() throws {
        let store = try storage.openStore()
        defer { try? store.close() }
        let marker = "bench-queue-\(UUID().uuidString.prefix(8))"
        let ledger = JobLedger(store: store)
        let submitStart = ContinuousClock.now
        var submitted = Set<Int64>()
        for _ in 0..<jobs {
            submitted.insert(try ledger.submit(kind: .import, dataset: marker, specJson: "{}").id!)
        }
        let submitSeconds = Self.seconds(ContinuousClock.now - submitStart)

        let claims = Mutex((ids: [Int64](), latencies: [Double](), errors: [String]()))
        let stores = try (0..<workers).map { _ in try storage.openStore() }
        let start = ContinuousClock.now
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let ledger = JobLedger(store: stores[worker])
            var ids: [Int64] = [], latencies: [Double] = []
            do {
                while true {
                    let asked = ContinuousClock.now
                    guard let claim = try ledger.claimNext() else { break }
                    latencies.append(Self.seconds(ContinuousClock.now - asked) * 1000)
                    ids.append(claim.job.id!)
                    try ledger.move(claim.job.id!, to: .succeeded)
                }
            } catch {
                claims.withLock { $0.errors.append("\(error)") }
            }
            claims.withLock { $0.ids += ids; $0.latencies += latencies }
        }
        let claimSeconds = Self.seconds(ContinuousClock.now - start)
        stores.forEach { try? $0.close() }

        let (ids, latencies, errors) = claims.withLock { ($0.ids, $0.latencies.sorted(), $0.errors) }
        let claimedTwice = ids.count - Set(ids).count
        let lost = submitted.subtracting(ids).count
        let unfinished = try store.read { db in
            try db.scalar(Int.self, "SELECT COUNT(*) AS value FROM jobs WHERE dataset = ? AND state != 'succeeded'", marker)
        } ?? 0
        try store.write { try $0.execute("DELETE FROM jobs WHERE dataset = ?", marker) }
        let percentile = { (p: Double) in latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        let result = Result(engine: try storage.location().engineName, jobs: jobs,
                            workers: workers, submitPerSecond: Double(jobs) / submitSeconds,
                            claimsPerSecond: Double(ids.count) / claimSeconds, claimP50Ms: percentile(0.5),
                            claimP99Ms: percentile(0.99), claimedTwice: claimedTwice, lost: lost,
                            unfinished: unfinished, errors: errors)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print("""
                \(result.engine): \(jobs) jobs, \(workers) workers
                submitted           \(Int(result.submitPerSecond)) jobs/s
                claimed and done    \(Int(result.claimsPerSecond)) jobs/s, claim p50 \(String(format: "%.2f", result.claimP50Ms)) ms, \
                p99 \(String(format: "%.2f", result.claimP99Ms)) ms
                claimed twice       \(claimedTwice)
                lost                \(lost) (not finished: \(unfinished))
                """)
            errors.forEach { print("error: \($0)") }
        }
        guard claimedTwice == 0, lost == 0, unfinished == 0, errors.isEmpty else {
            throw ValidationError("the queue lost or repeated jobs (see above)")
        }
    }

    private struct Result: Encodable {
        let engine: String
        let jobs: Int
        let workers: Int
        let submitPerSecond: Double
        let claimsPerSecond: Double
        let claimP50Ms: Double
        let claimP99Ms: Double
        let claimedTwice: Int
        let lost: Int
        let unfinished: Int
        let errors: [String]
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
