import Foundation
import KennelData
import KennelEngine
import KennelImage
import KennelKeras
import KennelONNX
import KennelStore
import Logging
import Metrics
import Synchronization

/// Why the registry refused a request.
public enum RegistryError: Error, Equatable, CustomStringConvertible {
    case invalidName(String)
    case jobHasNoCheckpoint(Int64)
    case unknownCheckpoint(Int64)
    case checkpointOfAnotherJob(checkpoint: Int64, job: Int64)
    case unknownModel(String)
    case unknownVersion(String, Int)
    case labelCount(given: Int, classes: Int)
    case nothingToRollBackTo(String)
    case changedMeanwhile(String)
    case costsAccuracy(Precision, fp32: Double, reduced: Double)
    case noTestSplit(dataset: String)

    public var description: String {
        switch self {
        case .invalidName(let name): return "model name '\(name)' must be 1–100 letters, digits, '.', '_' or '-'"
        case .jobHasNoCheckpoint(let job): return "job \(job) has no checkpoint yet"
        case .unknownCheckpoint(let id): return "no checkpoint with id \(id)"
        case .checkpointOfAnotherJob(let checkpoint, let job): return "checkpoint \(checkpoint) does not belong to job \(job)"
        case .unknownModel(let name): return "no model named '\(name)'"
        case .unknownVersion(let name, let version): return "model '\(name)' has no version \(version)"
        case .labelCount(let given, let classes): return "\(given) labels for a model of \(classes) classes"
        case .nothingToRollBackTo(let name): return "model '\(name)' has no earlier version to serve"
        case .changedMeanwhile(let name):
            return "model '\(name)' was promoted or rolled back by another request meanwhile; look again and retry"
        case .costsAccuracy(let precision, let fp32, let reduced):
            return String(format: "in %@ this checkpoint reaches %.2f%% test accuracy against %.2f%% in fp32, a drop of "
                          + "%.2f points (at most %.1f allowed); promote it in fp32%@", precision.rawValue,
                          reduced * 100, fp32 * 100, (fp32 - reduced) * 100, ModelRegistry.allowedAccuracyDrop * 100,
                          precision == .int8 ? " or bf16" : "")
        case .noTestSplit(let dataset):
            return "dataset '\(dataset)' has no test split to measure a reduced precision on; promote in fp32"
        }
    }
}

/// Class probabilities of a batch: `classes` values per input, inputs in order.
public struct Probabilities: Sendable {
    public let values: [Float]
    public let classes: Int
    /// How long decoding the images took, how long they waited for their forward pass, and how long it took.
    public let decodeSeconds: Double
    public let waitSeconds: Double
    public let computeSeconds: Double

    init(_ prediction: BatchingPredictor.Prediction, decodeSeconds: Double) {
        values = prediction.probabilities
        classes = prediction.classes
        self.decodeSeconds = decodeSeconds
        waitSeconds = prediction.waitSeconds
        computeSeconds = prediction.computeSeconds
    }

    /// The probabilities of input `index`.
    public func row(_ index: Int) -> ArraySlice<Float> { values[(index * classes)..<((index + 1) * classes)] }
}

/// One image of several could not be decoded.
public struct BatchImageError: Error, CustomStringConvertible {
    /// The image's position in the request, from 0.
    public let index: Int
    public let error: ImageError

    public var description: String { "image \(index): \(error.description)" }
}

/// A model version loaded and ready to classify.
public final class ServedModel: Sendable {
    public let name: String
    public let version: Int
    public let labels: [String]
    public let classIds: [String]
    public let preprocessing: Preprocessing
    /// The number format the frozen graph computes in.
    public let precision: Precision
    /// The first convolution's kernel (kh×kw×in×out), for the filter grid; nil when the model has none.
    public let firstKernel: Tensor?
    /// Runs the frozen model, batching concurrent requests (stages keep per-call state, so passes are serial).
    private let predictor: BatchingPredictor
    /// Memory the frozen model holds.
    public let residentBytes: Int
    /// The model's input is pixel × `inputScale` + `inputOffset`.
    public let inputScale: Float
    public let inputOffset: Float
    /// The most images one request may run as one pass: 128 MB of input.
    public var maximumImagesPerPass: Int {
        max(1, (32 << 20) / (preprocessing.height * preprocessing.width * preprocessing.channels))
    }

    init(name: String, version: Int, loaded: sending LoadedCheckpoint, precision: Precision, calibration: Calibration?,
         classIds: [String], statistics: ClassifyStatistics) throws {
        self.name = name
        self.version = version
        labels = loaded.header.labels
        self.classIds = classIds.count == labels.count ? classIds : labels
        let settings = loaded.header.preprocessing
        preprocessing = try Preprocessing(width: Int(settings["width"] ?? "") ?? loaded.header.inputShape[1],
                                          height: Int(settings["height"] ?? "") ?? loaded.header.inputShape[0],
                                          color: ColorMode(rawValue: settings["color"] ?? "") ?? .gray,
                                          resize: ResizeMode(rawValue: settings["resize"] ?? "") ?? .pad)
        // Kennel's own models take pixels / 255; an imported one, what its Keras Rescaling made of them.
        inputScale = Float(settings["scale"] ?? "") ?? 1 / 255
        inputOffset = Float(settings["offset"] ?? "") ?? 0
        firstKernel = loaded.model.layers.lazy.compactMap { $0 as? ConvolutionLayer }.first?.kernel.value
        let graph = try InferenceGraph(freezing: loaded.model, precision: precision, calibration: calibration)
        self.precision = precision
        residentBytes = graph.residentBytes
        predictor = BatchingPredictor(model: graph, label: name, statistics: statistics)
    }

    /// One prediction: class index, label, class id and probability.
    public struct Prediction: Sendable, Equatable, Codable {
        public let index: Int
        public let label: String
        public let classId: String
        public let probability: Float
    }

    /// A classification with where its time went.
    public struct Classification: Sendable {
        public let predictions: [Prediction]
        public let decodeMilliseconds: Double
        /// Waiting for the model while other requests' forward passes ran.
        public let queueMilliseconds: Double
        /// The forward pass this image was part of.
        public let inferMilliseconds: Double
    }

    /// The `topK` most probable classes (clamped to 1…class count) for encoded image bytes, prepared exactly as at
    /// training time.
    public func classify(_ bytes: [UInt8], topK: Int = 5, decoder: ImageDecoder = ImageDecoder()) throws -> Classification {
        try waitingFor { completion in try classify([bytes], topK: topK, decoder: decoder, completion: completion) }()[0]
    }

    /// The same for several images in one forward pass, without waiting: queues them (one image is decoded here,
    /// throwing what its decoding throws; several on the model's thread, failing the answer) and hands
    /// `completion`, on the model's thread, a closure that builds the classifications in image order, to be called
    /// wherever the answer is sent (it sorts the classes; the model's next pass should not wait for that).
    public func classify(_ images: [[UInt8]], topK: Int = 5, decoder: ImageDecoder = ImageDecoder(),
                         completion: @escaping @Sendable (@escaping @Sendable () throws -> [Classification]) -> Void)
        throws {
        try probabilities(decoding: images, decoder: decoder) { result in
            completion { [self] in classifications(try result.get(), topK: topK) }
        }
    }

    /// Each input's `topK` classes, with where the time went.
    public func classifications(_ probabilities: Probabilities, topK: Int) -> [Classification] {
        (0..<(probabilities.values.count / probabilities.classes)).map { index in
            Classification(predictions: top(topK, of: probabilities.row(index)),
                           decodeMilliseconds: probabilities.decodeSeconds * 1000,
                           queueMilliseconds: probabilities.waitSeconds * 1000,
                           inferMilliseconds: probabilities.computeSeconds * 1000)
        }
    }

    /// The model input for encoded images: each decoded and prepared as at training time, across the calling
    /// thread's OpenMP team (on the model's thread: the team its passes run on), scaled as the model takes pixels
    /// and laid back to back. A failing image throws `BatchImageError` naming it when there are several.
    public func input(decoding images: [[UInt8]], decoder: ImageDecoder) throws -> [Float] {
        let size = preprocessing.height * preprocessing.width * preprocessing.channels
        let (scale, offset) = (inputScale, inputOffset)
        guard images.count > 1 else {
            return try preprocessing.prepare(images[0], decoder: decoder).map { Float($0) * scale + offset }
        }
        var input = [Float](repeating: 0, count: images.count * size)
        let failures = Mutex([Int: any Error]())
        input.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let buffer = buffer
            Parallel.forEach(images.count) { index in
                do {
                    let pixels = try preprocessing.prepare(images[index], decoder: decoder)
                    for (offsetInImage, pixel) in pixels.enumerated() {
                        buffer[index * size + offsetInImage] = Float(pixel) * scale + offset
                    }
                } catch {
                    failures.withLock { $0[index] = error }
                }
            }
        }
        if let (index, error) = failures.withLock({ $0.min { $0.key < $1.key } }) {
            guard let error = error as? ImageError else { throw error }
            throw BatchImageError(index: index, error: error)
        }
        return input
    }

    /// Class probabilities for `count` inputs in the model's input shape, back to back, in one forward pass;
    /// `completion` gets them on the model's thread.
    public func probabilities(_ input: [Float], count: Int,
                              completion: @escaping @Sendable (Result<Probabilities, any Error>) -> Void) throws {
        try predictor.predict(input, rows: count) { result in
            completion(result.map { Probabilities($0, decodeSeconds: 0) })
        }
    }

    /// Class probabilities for encoded images in one forward pass; `completion` gets them on the model's thread.
    /// One image is decoded here (throwing what its decoding throws), before it queues; several are decoded on the
    /// model's thread just before their pass, and an image that cannot be decoded fails the answer.
    public func probabilities(decoding images: [[UInt8]], decoder: ImageDecoder,
                              completion: @escaping @Sendable (Result<Probabilities, any Error>) -> Void) throws {
        guard images.count > 1 else {
            let started = DispatchTime.now().uptimeNanoseconds
            let input = try input(decoding: images, decoder: decoder)
            let decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            return try predictor.predict(input, rows: 1) { result in
                completion(result.map { Probabilities($0, decodeSeconds: decodeSeconds) })
            }
        }
        predictor.predict(rows: images.count, making: { [self] in try input(decoding: images, decoder: decoder) }) { result in
            completion(result.map { Probabilities($0, decodeSeconds: $0.prepareSeconds) })
        }
    }

    /// The `k` most probable classes of one row of probabilities (k clamped to 1…class count), most probable first.
    public func top(_ k: Int, of probabilities: ArraySlice<Float>) -> [Prediction] {
        let base = probabilities.startIndex
        return probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }
            .prefix(max(1, min(k, labels.count)))
            .map { Prediction(index: $0 - base, label: labels[$0 - base], classId: classIds[$0 - base],
                              probability: probabilities[$0]) }
    }

    /// Runs one prediction on a blank image so the first request does not pay for first-touch allocations.
    func warmUp() throws {
        _ = try predictor.predict([Float](repeating: 0, count: preprocessing.height * preprocessing.width
                                                                * preprocessing.channels))
    }
}

/// The served models loaded in this process, least recently used first out when they exceed the budget.
struct ResidentModels {
    private(set) var models: [String: ServedModel] = [:]
    private var lastUse: [String: UInt64] = [:]
    private var clock: UInt64 = 0
    /// Names dropped to make room; they load again on their next request.
    private(set) var evicted: Set<String> = []

    subscript(name: String) -> ServedModel? { models[name] }

    /// Marks `name` as just used.
    mutating func touch(_ name: String) {
        guard models[name] != nil else { return }
        clock += 1
        lastUse[name] = clock
    }

    /// Keeps `model` (replacing its name's other version), then drops the least recently used others while the
    /// total exceeds `budget`. The newcomer always stays, even alone over the budget. Returns the dropped names.
    mutating func insert(_ model: ServedModel, budget: Int) -> [String] {
        models[model.name] = model
        evicted.remove(model.name)
        touch(model.name)
        var dropped: [String] = []
        while models.values.reduce(0, { $0 + $1.residentBytes }) > budget,
              let oldest = lastUse.filter({ $0.key != model.name }).min(by: { $0.value < $1.value })?.key {
            remove(oldest)
            evicted.insert(oldest)
            dropped.append(oldest)
        }
        return dropped
    }

    mutating func remove(_ name: String) {
        models[name] = nil
        lastUse[name] = nil
    }

    /// Forgets `name` entirely (it is no longer served).
    mutating func forget(_ name: String) {
        remove(name)
        evicted.remove(name)
    }
}

/// Named models with numbered versions, each pointing at a checkpoint; one version per name is served. Loaded
/// models are cached per name, within a memory budget (least recently used out, loaded again on demand), and
/// swapped in one step when another version is promoted.
public final class ModelRegistry: Sendable {
    private let store: Store
    private let checkpoints: CheckpointStore
    private let cache = Mutex(ResidentModels())
    /// Bytes the loaded models may hold together.
    public let residentBudget: Int
    /// Batch sizes, queue waits and forward-pass times of every served model.
    private let statistics: ClassifyStatistics

    /// `metrics` receives classification batch sizes and timings (the server passes its Prometheus factory).
    public init(store: Store, dataDirectory: URL, metrics: any MetricsFactory = MetricsSystem.factory,
                residentBudget: Int = 1 << 30) {
        self.residentBudget = residentBudget
        statistics = ClassifyStatistics(factory: metrics)
        self.store = store
        checkpoints = CheckpointStore(store: store, dataDirectory: dataDirectory)
    }

    /// How many points of test accuracy (as a fraction) a reduced precision may cost before its promotion is
    /// refused.
    public static let allowedAccuracyDrop = 0.005

    /// Adds a version of `name` from `job` (its best checkpoint by test accuracy unless `checkpoint` is given):
    /// loads and warms it first, then records and serves it in one transaction and swaps it in, so requests in
    /// flight finish on the version they started with and none meets a half-loaded one. In bf16 or int8 the
    /// version's accuracy on the job's test split is measured first, beside the same checkpoint's in fp32 (int8
    /// calibrated on a sample of the train split), and the promotion is refused when it drops more than
    /// `allowedAccuracyDrop`.
    @discardableResult
    public func promote(name: String, job: Int64, checkpoint: Int64? = nil, precision: Precision = .fp32,
                        origin: String = "trained") throws -> ServedModel {
        try Self.checkName(name)
        let record = try chosenCheckpoint(job: job, checkpoint: checkpoint)
        let loaded = try Checkpoint.decode(try checkpoints.load(record))
        let labels = try ColumnJSON.text(loaded.header.labels)
        let measured = precision == .fp32 ? nil : try measure(loaded.model, in: precision, job: job)
        let version = try store.read { db in try Self.newestVersion(of: name, in: db) + 1 }
        let served = try ServedModel(name: name, version: version, loaded: loaded, precision: precision,
                                     calibration: measured?.calibration, classIds: try datasetClassIds(job: job),
                                     statistics: statistics)
        try served.warmUp()
        try store.write { db in
            guard try Self.newestVersion(of: name, in: db) + 1 == version else { throw RegistryError.changedMeanwhile(name) }
            let model = ModelRecord(name: name, version: version, checkpointId: record.id!, labelsJson: labels,
                                    precision: precision.rawValue, testAccuracy: measured?.accuracy,
                                    fp32TestAccuracy: measured?.fp32Accuracy,
                                    calibrationJson: try measured?.calibration.map(ColumnJSON.text), origin: origin)
            try db.insert(model)
            try Self.serve(name: name, version: version, in: db)
        }
        keep(served)
        return served
    }

    /// Adds and serves a version of `name` made from a Keras file (Keras 3 `.keras` or legacy `.h5`): the network
    /// becomes the checkpoint of a finished import job (spec: the file's name and kind), which is promoted as a
    /// trained one would be, with the file's kind as its origin. `labels` name the classes (default "0", "1", …);
    /// the input keeps the model's size, gray for one channel, RGB for three, images padded to fit, and pixels
    /// scaled as the model's leading Rescaling says (unscaled without one, as Keras would feed them).
    public func importKeras(name: String, file bytes: [UInt8], filename: String, labels: [String]? = nil) throws
        -> ServedModel {
        try Self.checkName(name)
        let keras = try KerasModel(bytes: bytes)
        let classes = keras.model.classCount
        let labels = labels ?? (0..<classes).map(String.init)
        guard labels.count == classes else { throw RegistryError.labelCount(given: labels.count, classes: classes) }
        let shape = keras.model.inputShape
        let preprocessing = ["width": String(shape[1]), "height": String(shape[0]),
                             "color": (shape[2] == 1 ? ColorMode.gray : .rgb).rawValue, "resize": ResizeMode.pad.rawValue,
                             "scale": String(keras.inputScale), "offset": String(keras.inputOffset)]
        let checkpoint = try Checkpoint.encode(keras.model, labels: labels, preprocessing: preprocessing)
        let ledger = JobLedger(store: store)
        let spec = try ColumnJSON.text(["model_file": filename, "format": keras.format, "model": name])
        let job = try ledger.submitRunning(kind: .import, dataset: "", specJson: spec).id!
        do {
            let record = try checkpoints.save(checkpoint, job: job, step: 0, epoch: 0, metricsJson: "{}")
            try ledger.move(job, to: .succeeded)
            return try promote(name: name, job: job, checkpoint: record.id, origin: keras.format)
        } catch {
            _ = try? ledger.move(job, to: .failed, error: "\(error)")
            throw error
        }
    }

    /// Refuses a model name that is not 1–100 letters, digits, '.', '_' or '-'.
    private static func checkName(_ name: String) throws {
        guard name.range(of: #"^[A-Za-z0-9._-]{1,100}$"#, options: .regularExpression) != nil else {
            throw RegistryError.invalidName(name)
        }
    }

    /// Test-split accuracy of `model` frozen in `precision` and in fp32, and the calibration int8 was quantized
    /// with (taken on the first 512 images of the train split in a fixed shuffled order).
    private func measure(_ model: Model, in precision: Precision, job: Int64) throws
        -> (accuracy: Double, fp32Accuracy: Double, calibration: Calibration?) {
        let dataset = try store.read { db in
            try db.scalar(String.self, "SELECT dataset AS value FROM jobs WHERE id = ?", job)
        } ?? ""
        let shard = try store.shard(ofDataset: dataset)
        guard !shard.testIndices.isEmpty else { throw RegistryError.noTestSplit(dataset: dataset) }
        let reference = try InferenceGraph(freezing: model)
        var calibration: Calibration?
        if precision == .int8 {
            let sample = try BatchLoader(shard: shard, indices: shard.trainIndices, batchSize: 64, seed: 0)
            calibration = try reference.calibration(over: sample.batches(epoch: 0).prefix(8).lazy.map {
                Tensor(shape: [$0.count] + model.inputShape, data: $0.images)
            })
        }
        let reduced = try InferenceGraph(freezing: model, precision: precision, calibration: calibration)
        func accuracy(_ graph: InferenceGraph) throws -> Double {
            try Evaluation(classes: model.classCount, inputShape: model.inputShape, shard: shard, batchSize: 64,
                           logits: graph.logits).exactAccuracy
        }
        let (fp32, measured) = (try accuracy(reference), try accuracy(reduced))
        guard fp32 - measured <= Self.allowedAccuracyDrop else {
            throw RegistryError.costsAccuracy(precision, fp32: fp32, reduced: measured)
        }
        return (measured, fp32, calibration)
    }

    /// Keeps a loaded model resident, evicting the least recently used others past the budget.
    private func keep(_ model: ServedModel) {
        _ = cache.withLock { $0.insert(model, budget: residentBudget) }
    }

    /// Stops serving `name`: its versions stay recorded (promote one again to serve it), requests get 404.
    public func unserve(name: String) throws {
        try store.write { db in
            guard try db.execute("DELETE FROM served_models WHERE name = ?", name) == 1 else {
                throw RegistryError.unknownModel(name)
            }
            try db.notify(Self.servedChannel, name)
        }
        cache.withLock { $0.forget(name) }
    }

    /// Where promotions, rollbacks and unserving are announced to the other processes of a deployment.
    public static let servedChannel = "kennel_served_models"

    /// Follows what other processes serve (API replicas sharing a PostgreSQL database): when one promotes, rolls
    /// back or stops serving a model, this process loads and warms the version now served before swapping it in,
    /// as its own promotions do, so requests meanwhile keep the old version and none fails. After a missed
    /// notification every model is checked. Does nothing on SQLite.
    public func followOtherProcesses(logger: Logger = Logger(label: "kennel.models")) throws {
        try store.engine.listen(Self.servedChannel) { name in
            let names = name.map { [$0] } ?? self.everyName()
            for name in names {
                do {
                    try self.catchUp(name)
                } catch {
                    logger.error("cannot serve what another process promoted for '\(name)': \(error)")
                }
            }
        }
    }

    /// Every name served, or resident here: what to check after notifications may have been missed.
    private func everyName() -> [String] {
        let served = (try? store.read { try $0.values(String.self, "SELECT name AS value FROM served_models") }) ?? []
        return Array(Set(served).union(cache.withLock { $0.models.keys }))
    }

    /// Brings `name` in line with the database: the served version loaded and warmed, then swapped in; a name no
    /// longer served forgotten. A model let go to keep within the budget stays unloaded until it is asked for.
    private func catchUp(_ name: String) throws {
        guard let version = try store.read({ try Self.servedVersion(of: name, in: $0) }) else {
            cache.withLock { $0.forget(name) }
            return
        }
        let (resident, evicted) = cache.withLock { ($0[name]?.version, $0.evicted.contains(name)) }
        guard resident != version, !evicted else { return }
        let served = try load(name: name, version: version)
        try served.warmUp()
        keep(served)
    }

    /// Serves the version before the one served now, loaded and warmed before the swap like a promotion.
    @discardableResult
    public func rollback(name: String) throws -> ServedModel {
        let (current, previous) = try store.read { db -> (Int, Int) in
            guard let current = try Self.servedVersion(of: name, in: db) else { throw RegistryError.unknownModel(name) }
            guard let previous = try db.scalar(Int.self, "SELECT MAX(version) AS value FROM models WHERE name = ? AND version < ?",
                                               name, current) else {
                throw RegistryError.nothingToRollBackTo(name)
            }
            return (current, previous)
        }
        let served = try load(name: name, version: previous)
        try served.warmUp()
        try store.write { db in
            guard try Self.servedVersion(of: name, in: db) == current else { throw RegistryError.changedMeanwhile(name) }
            try Self.serve(name: name, version: previous, in: db)
        }
        keep(served)
        return served
    }

    private static func newestVersion(of name: String, in db: any SQLSession) throws -> Int {
        try db.scalar(Int.self, "SELECT MAX(version) AS value FROM models WHERE name = ?", name) ?? 0
    }

    /// The version of `name` the database says is served, if any.
    public static func servedVersion(of name: String, in db: any SQLSession) throws -> Int? {
        try db.scalar(Int.self, "SELECT version AS value FROM served_models WHERE name = ?", name)
    }

    /// Where one served model stands in this process.
    public struct Readiness: Sendable, Equatable {
        public let name: String
        public let version: Int
        /// Loaded and warmed now.
        public let ready: Bool
        /// Not resident because the memory budget made room for others; it loads on its next request.
        public let onDemand: Bool
    }

    /// Every served model name, and whether it is loaded and warmed in this process or left to load on demand.
    public func readiness() throws -> [Readiness] {
        let served = try store.read { db in
            try db.fetch("SELECT name, version FROM served_models ORDER BY name")
        }
        let resident = cache.withLock { $0 }
        return try served.map { row in
            let name: String = try row.get("name"), version: Int = try row.get("version")
            let ready = resident[name]?.version == version
            return Readiness(name: name, version: version, ready: ready, onDemand: !ready && resident.evicted.contains(name))
        }
    }

    /// Loads and warms every served model (at server start, off the request path).
    public func warmAll() {
        for entry in (try? readiness()) ?? [] where !entry.ready {
            if let model = try? served(entry.name) { try? model.warmUp() }
        }
    }

    /// The served version of `name` if it is loaded in this process now (never touching the disk), marked used.
    public func resident(_ name: String) -> ServedModel? {
        cache.withLock { resident in
            resident.touch(name)
            return resident[name]
        }
    }

    /// The served version of `name`, loaded on first use and kept while the memory budget allows.
    public func served(_ name: String) throws -> ServedModel {
        if let cached = resident(name) { return cached }
        guard let version = try store.read({ try Self.servedVersion(of: name, in: $0) }) else {
            throw RegistryError.unknownModel(name)
        }
        let served = try load(name: name, version: version)
        return cache.withLock { resident in
            if let raced = resident[name] { return raced }
            _ = resident.insert(served, budget: residentBudget)
            return served
        }
    }

    private func load(name: String, version: Int) throws -> ServedModel {
        let (model, loaded, job) = try checkpoint(of: name, version: version)
        let calibration = try model.calibrationJson.map {
            try JSONDecoder().decode(Calibration.self, from: Data($0.utf8))
        }
        return try ServedModel(name: model.name, version: model.version, loaded: loaded,
                               precision: Precision(rawValue: model.precision) ?? .fp32, calibration: calibration,
                               classIds: try datasetClassIds(job: job), statistics: statistics)
    }

    /// A version of `name` (the served one when `version` is nil) as an ONNX model: its checkpoint's inference graph
    /// in fp32 (whatever precision the version is served in), with the labels, the preprocessing, the name, version,
    /// origin and serving precision in `metadata_props`.
    public func onnx(of name: String, version: Int? = nil) throws -> (model: ModelRecord, bytes: [UInt8]) {
        let (model, loaded, _) = try checkpoint(of: name, version: version)
        let bytes = try ONNXExport.serialized(loaded.model, labels: loaded.header.labels,
                                              preprocessing: loaded.header.preprocessing,
                                              metadata: ["name": model.name, "version": String(model.version),
                                                         "origin": model.origin, "precision": model.precision])
        return (model, bytes)
    }

    /// A version of `name` (the served one when `version` is nil) with its checkpoint loaded (its sha256 checked)
    /// and the job that trained it.
    public func checkpoint(of name: String, version: Int? = nil) throws
        -> (model: ModelRecord, loaded: LoadedCheckpoint, job: Int64) {
        let (model, record) = try store.read { db -> (ModelRecord, CheckpointRecord) in
            guard let chosen = try version ?? Self.servedVersion(of: name, in: db) else {
                throw RegistryError.unknownModel(name)
            }
            guard let model = try db.record(ModelRecord.self, "WHERE name = ? AND version = ?", name, chosen) else {
                let known = try db.scalar(Int.self, "SELECT COUNT(*) AS value FROM models WHERE name = ?", name) ?? 0
                throw known > 0 ? RegistryError.unknownVersion(name, chosen) : RegistryError.unknownModel(name)
            }
            guard let record = try db.record(CheckpointRecord.self, "WHERE id = ?", model.checkpointId) else {
                throw RegistryError.unknownCheckpoint(model.checkpointId)
            }
            return (model, record)
        }
        return (model, try Checkpoint.decode(try checkpoints.load(record)), record.jobId)
    }

    private static func serve(name: String, version: Int, in db: any SQLSession) throws {
        try db.execute("""
            INSERT INTO served_models (name, version, promoted_at) VALUES (?, ?, ?)
            ON CONFLICT(name) DO UPDATE SET version = excluded.version, promoted_at = excluded.promoted_at
            """, name, version, Date())
        try db.notify(Self.servedChannel, name)
    }

    /// The job's chosen checkpoint: the one asked for, or the best by test accuracy (earliest on a tie).
    private func chosenCheckpoint(job: Int64, checkpoint: Int64?) throws -> CheckpointRecord {
        try store.read { db in
            if let checkpoint {
                guard let record = try db.record(CheckpointRecord.self, "WHERE id = ?", checkpoint) else {
                    throw RegistryError.unknownCheckpoint(checkpoint)
                }
                guard record.jobId == job else { throw RegistryError.checkpointOfAnotherJob(checkpoint: checkpoint, job: job) }
                return record
            }
            let all = try db.records(CheckpointRecord.self, "WHERE job_id = ? ORDER BY step", job)
            func accuracy(_ record: CheckpointRecord) -> Double { record.recordedTestMetrics?.accuracy ?? -1 }
            // The earliest checkpoint with the highest accuracy, as the trainer counts "best".
            guard let best = all.max(by: { accuracy($0) < accuracy($1) }) else { throw RegistryError.jobHasNoCheckpoint(job) }
            return best
        }
    }

    /// Class ids (folder names) of the job's dataset, for answers that name both label and class.
    private func datasetClassIds(job: Int64) throws -> [String] {
        try store.read { db in
            guard let json = try db.scalar(String.self, """
                SELECT d.classes_json AS value FROM jobs j JOIN datasets d ON d.name = j.dataset WHERE j.id = ?
                """, job) else { return [] }
            let classes = (try? JSONDecoder().decode([ShardClass].self, from: Data(json.utf8))) ?? []
            return classes.map(\.id)
        }
    }
}
