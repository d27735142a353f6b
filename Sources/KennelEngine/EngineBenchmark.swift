import Foundation

/// Times a preset on synthetic data of its shape: training steps, batch-1 inference latency and batch-64
/// inference throughput (`kennel bench engine`).
public struct EngineBenchmark: Sendable {
    /// The figures `kennel bench engine --json` prints (DESIGN.md's field names).
    public struct Result: Codable, Sendable {
        public let preset: String
        public let batchSize: Int
        public let trainSteps: Int
        public let trainImagesPerSecond: Double
        public let inferB1MedianMilliseconds: Double
        public let inferB64ImagesPerSecond: Double
        /// The same two inference figures in bf16 and int8 (the float32 ones are above).
        public let reduced: [String: Inference]
        public let peakRSSMegabytes: Double

        enum CodingKeys: String, CodingKey {
            case preset, batchSize = "batch_size", trainSteps = "train_steps"
            case trainImagesPerSecond = "train_images_per_s", inferB1MedianMilliseconds = "infer_b1_median_ms"
            case inferB64ImagesPerSecond = "infer_b64_images_per_s", reduced, peakRSSMegabytes = "peak_rss_mb"
        }
    }

    /// Batch-1 median latency and batch-64 throughput of one frozen graph.
    public struct Inference: Codable, Sendable {
        public let b1MedianMilliseconds: Double
        public let b64ImagesPerSecond: Double

        enum CodingKeys: String, CodingKey {
            case b1MedianMilliseconds = "infer_b1_median_ms", b64ImagesPerSecond = "infer_b64_images_per_s"
        }
    }

    public let preset: Preset
    public let batchSize: Int
    /// Least time spent timing training steps (after the warm-up).
    public let trainSeconds: Double

    public init(preset: Preset, batchSize: Int, trainSeconds: Double = 5) throws {
        guard (1...4096).contains(batchSize) else {
            throw EngineError.invalidHyperparameter(name: "batch_size", reason: "must be 1…4096, got \(batchSize)")
        }
        self.preset = preset
        self.batchSize = batchSize
        self.trainSeconds = trainSeconds
    }

    public func run(progress: (String) -> Void = { _ in }) throws -> Result {
        let model = try Model(preset: preset, seed: 1)
        var random = SeededRandom(seed: 2)
        func images(_ count: Int) -> Tensor {
            Tensor(shape: [count] + preset.inputShape) { _ in random.nextUnit() }
        }
        let batch = images(batchSize)
        let labels = (0..<batchSize).map { _ in Int32(random.next() % UInt64(preset.classCount)) }

        progress("warming up \(preset.name) at batch \(batchSize)")
        for _ in 0..<2 { _ = try model.trainStep(batch, labels: labels) }
        var steps = 0
        let trainStart = Date()
        while steps < 3 || Date().timeIntervalSince(trainStart) < trainSeconds {
            _ = try model.trainStep(batch, labels: labels)
            steps += 1
        }
        let trainElapsed = Date().timeIntervalSince(trainStart)
        progress("trained \(steps) steps in \(String(format: "%.1f", trainElapsed)) s")

        // Inference is timed as serving runs it: on the frozen graph, in each precision (int8 calibrated on a few
        // synthetic batches).
        let graph = try InferenceGraph(freezing: model)
        let calibration = try graph.calibration(over: (0..<4).map { _ in images(16) })
        var timings: [Precision: Inference] = [:]
        for precision in Precision.allCases {
            progress("timing \(precision.rawValue) inference")
            let frozen = precision == .fp32 ? graph
                : try InferenceGraph(freezing: model, precision: precision, calibration: calibration)
            timings[precision] = try Self.timeInference(frozen, single: images(1), wide: images(64))
        }
        let fp32 = timings[.fp32]!
        return Result(preset: preset.name, batchSize: batchSize, trainSteps: steps,
                      trainImagesPerSecond: Double(steps * batchSize) / trainElapsed,
                      inferB1MedianMilliseconds: fp32.b1MedianMilliseconds,
                      inferB64ImagesPerSecond: fp32.b64ImagesPerSecond,
                      reduced: Dictionary(uniqueKeysWithValues: timings.filter { $0.key != .fp32 }
                          .map { ($0.key.rawValue, $0.value) }),
                      peakRSSMegabytes: Self.peakResidentMegabytes())
    }

    /// The median of 50 batch-1 passes (after 5 unmeasured) and the throughput of batch-64 passes over 2 s.
    private static func timeInference(_ graph: InferenceGraph, single: Tensor, wide: Tensor) throws -> Inference {
        for _ in 0..<5 { _ = try graph.predict(single) }
        var latencies: [Double] = []
        for _ in 0..<50 {
            let start = Date()
            _ = try graph.predict(single)
            latencies.append(Date().timeIntervalSince(start) * 1000)
        }
        latencies.sort()
        _ = try graph.predict(wide)
        var calls = 0
        let inferStart = Date()
        while calls < 5 || Date().timeIntervalSince(inferStart) < 2 {
            _ = try graph.predict(wide)
            calls += 1
        }
        return Inference(b1MedianMilliseconds: (latencies[24] + latencies[25]) / 2,
                         b64ImagesPerSecond: Double(calls * 64) / Date().timeIntervalSince(inferStart))
    }

    /// The process's peak resident set (VmHWM), in MB; 0 where /proc is missing.
    public static func peakResidentMegabytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return 0 }
        return kilobytes / 1024
    }
}
