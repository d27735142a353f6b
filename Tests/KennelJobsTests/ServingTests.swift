import Dispatch
import Foundation
import KennelEngine
import KennelStore
import KennelTestSupport
import MetricsTestKit
import Synchronization
import Testing
@testable import KennelJobs

struct BatchingPredictorTests {
    private func model(seed: UInt64 = 5) throws -> Model {
        var conv = LayerSpec(type: "conv2d")
        conv.filters = 3
        conv.kernel = 3
        conv.padding = .same
        var dense = LayerSpec(type: "dense")
        dense.units = 4
        return try Model(layers: [conv, LayerSpec(type: "flatten"), dense], inputShape: [6, 6, 1], classCount: 4,
                         seed: seed)
    }

    private func input(_ index: Int) -> [Float] { (0..<36).map { Float(($0 * 7 + index * 11) % 13) / 13 } }

    @Test func concurrentCallersGetTheirOwnAnswersFromSharedPasses() throws {
        let reference = try model()
        let metrics = TestMetrics()
        let predictor = BatchingPredictor(model: try InferenceGraph(freezing: try model()), maximumBatch: 8,
                                          statistics: ClassifyStatistics(factory: metrics))
        let count = 64
        let answers = Mutex([Int: [Float]]())
        DispatchQueue.concurrentPerform(iterations: count) { index in
            let result = try? predictor.predict(input(index))
            answers.withLock { $0[index] = result?.probabilities }
        }
        for index in 0..<count {
            let expected = try reference.predict(Tensor(shape: [1, 6, 6, 1], data: input(index))).data
            let got = try #require(answers.withLock { $0[index] })
            #expect(zip(got, expected).allSatisfy { abs($0 - $1) < 1e-5 }, "caller \(index) got another's answer")
        }
        // Every image was in exactly one pass; no pass exceeded the maximum.
        let batches = try metrics.expectRecorder(ClassifyStatistics.batchSizeLabel).values
        #expect(batches.reduce(0, +) == Double(count) && batches.allSatisfy { (1...8).contains($0) })
        #expect(try metrics.expectTimer("kennel_classify_queue_wait_seconds").values.count == count)
        #expect(try metrics.expectTimer("kennel_classify_compute_seconds").values.count == batches.count)
    }

    @Test func aLoneCallerRunsAtOnceAsABatchOfOne() throws {
        let metrics = TestMetrics()
        let predictor = BatchingPredictor(model: try InferenceGraph(freezing: try model()), statistics: ClassifyStatistics(factory: metrics))
        for index in 0..<3 { _ = try predictor.predict(input(index)) }
        #expect(try metrics.expectRecorder(ClassifyStatistics.batchSizeLabel).values == [1, 1, 1])
    }

    @Test func aWrongSizedInputIsRefusedAndTheNextCallerStillServed() throws {
        let predictor = BatchingPredictor(model: try InferenceGraph(freezing: try model()), statistics: ClassifyStatistics(factory: TestMetrics()))
        #expect(throws: (any Error).self) { try predictor.predict([1, 2, 3]) }
        #expect(try predictor.predict(input(0)).probabilities.count == 4)
    }
}

struct FilterGridTests {
    @Test func eachFilterIsStretchedToTheFullRangeInItsOwnTile() {
        // Two 2×2 filters over one channel: HWIO layout, filter index fastest.
        let kernel = Tensor(shape: [2, 2, 1, 2], data: [0, 10, 1, 20, 2, 30, 3, 40])
        let image = FilterGrid.image(kernel: kernel, scale: 2, gap: 1)
        #expect(image.channels == 1)
        #expect(image.width == 2 * 4 + 3 && image.height == 4 + 2)
        // First tile: weights 0…3 → 0 at the top-left, 255 at the bottom-right.
        #expect(image[1, 1, 0] == 0 && image[4, 4, 0] == 255)
        // Second tile starts after one gap and 4 pixels; its smallest weight (10) is at its top-left.
        #expect(image[1, 6, 0] == 0 && image[4, 9, 0] == 255)
        #expect(image[0, 0, 0] == 128)
    }

    @Test func threeChannelKernelsDrawInColor() {
        let kernel = Tensor(shape: [1, 1, 3, 4], data: (0..<12).map(Float.init))
        let image = FilterGrid.image(kernel: kernel, scale: 1, gap: 0)
        #expect(image.channels == 3 && image.width == 2 && image.height == 2)
    }
}

struct MetricsBufferFlushTests {
    @Test func pendingPointsAreVisibleUntilFlushedAndFlushIfDueWaitsItsInterval() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let job = try bench.newJob()
        let buffer = MetricsBuffer(store: bench.store, flushInterval: .seconds(3600))
        buffer.record(job: job, tag: "train/loss", step: 1, value: 0.5)
        buffer.record(job: job + 1, tag: "train/loss", step: 1, value: 0.7)
        #expect(buffer.pending(job: job).map(\.value) == [0.5])
        #expect(!buffer.flushIfDue())
        #expect(try bench.store.read { try $0.scalar(Int.self, "SELECT COUNT(*) AS value FROM metrics") } == 0)
        let eager = MetricsBuffer(store: bench.store, flushInterval: .zero)
        eager.record(job: job, tag: "train/loss", step: 2, value: 0.4)
        #expect(eager.flushIfDue())
        #expect(eager.pending(job: job).isEmpty)
        #expect(try bench.store.read { try $0.scalar(Int.self, "SELECT COUNT(*) AS value FROM metrics") } == 1)
    }
}

struct DatasetRootTests {
    @Test func pathsAreResolvedBeforeTheyAreCheckedAgainstTheRoot() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = directory.url.appendingPathComponent("datasets")
        let outside = directory.url.appendingPathComponent("private")
        for folder in [root.appendingPathComponent("dogs"), outside] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("escape"), withDestinationURL: outside)
        #expect(try DatasetCatalog.resolve(root.path + "/dogs", under: root) == root.path + "/dogs")
        #expect(try DatasetCatalog.resolve("dogs", under: root) == root.path + "/dogs")
        for path in [outside.path, root.path + "/../private", root.path + "/escape", "escape", "/etc"] {
            let error = #expect(throws: SpecError.self) { try DatasetCatalog.resolve(path, under: root) }
            #expect(error?.field == "path")
        }
    }
}

extension BatchingPredictorTests {
    /// Dropping a predictor with images still queued answers every one of them before its thread ends.
    @Test func aDroppedPredictorAnswersWhatIsQueued() throws {
        let answered = Atomic(0)
        var predictor: BatchingPredictor? = BatchingPredictor(model: try InferenceGraph(freezing: try model()),
                                                              maximumBatch: 4,
                                                              statistics: ClassifyStatistics(factory: TestMetrics()))
        for index in 0..<100 {
            try predictor!.predict(input(index)) { result in
                if case .success(let prediction) = result, prediction.probabilities.count == 4 {
                    answered.add(1, ordering: .relaxed)
                }
            }
        }
        predictor = nil
        let deadline = Date().addingTimeInterval(10)
        while answered.load(ordering: .relaxed) < 100 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(answered.load(ordering: .relaxed) == 100)
    }

    /// Each predictor has its thread, and it ends with the predictor (a promotion or an eviction drops one); the
    /// passes run on the one `InferenceThread`, whose OpenMP workers serve every model.
    @Test func eachPredictorsThreadEndsWithIt() throws {
        func threads() -> Int {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return tasks.filter {
                (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8)) == "infer zz9\n"
            }.count
        }
        var predictors = try (0..<10).map { _ in
            BatchingPredictor(model: try InferenceGraph(freezing: try model()), label: "zz9",
                              statistics: ClassifyStatistics(factory: TestMetrics()))
        }
        for predictor in predictors { _ = try predictor.predict(input(0)) }
        #expect(threads() >= 10)
        predictors.removeAll()
        let deadline = Date().addingTimeInterval(5)
        while threads() > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(threads() == 0)
    }
}
