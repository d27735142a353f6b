import Dispatch
import Foundation
import KennelImage

/// A file left out of an import, and why.
public struct SkippedFile: Codable, Equatable, Sendable {
    public let path: String
    public let reason: String
}

/// What an import produced.
public struct ImportSummary: Sendable {
    public let shardPath: String
    public let header: ShardHeader
    public let skipped: [SkippedFile]
    public let seconds: Double

    public var imported: Int { header.trainCount + header.testCount }
    public var imagesPerSecond: Double { seconds > 0 ? Double(imported) / seconds : 0 }
}

/// Reports progress as (examples done, examples in total); called from the importing thread.
public typealias ImportProgress = @Sendable (_ done: Int, _ total: Int) -> Void

/// What an image-folder import may read: files within `root` (after resolving symlinks) when it is set, and
/// no file larger than `maxFileBytes`.
public struct ImportBounds: Sendable {
    /// Every class folder and file must resolve below this directory; nil reads wherever entries point.
    public var root: String?
    public var maxFileBytes: Int

    public init(root: String? = nil, maxFileBytes: Int = 256 << 20) {
        self.root = root.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().standardizedFileURL.path }
        self.maxFileBytes = maxFileBytes
    }

    /// The entry's real path, or why it is left out.
    func admit(_ path: String) -> Result<String, ImageFolderImport.Failure> {
        guard let resolved = realpath(path, nil) else {
            return .failure(.init(description: "cannot resolve the path (a broken symbolic link?)"))
        }
        defer { free(resolved) }
        let real = String(cString: resolved)
        if let root, real != root, !real.hasPrefix(root.hasSuffix("/") ? root : root + "/") {
            return .failure(.init(description: "resolves to \(real), outside the datasets root \(root)"))
        }
        return .success(real)
    }
}

/// Imports an image-folder tree (`ROOT/<class id>/<images>`, as ImageNet and Stanford Dogs): class id = folder
/// name, label = the part after its first `-`; per class, files in sorted order with every fifth (index % 5
/// == 0) held out for test. Images are decoded and prepared on every core; undecodable files are skipped and
/// listed, never fatal.
public enum ImageFolderImport {
    /// Entries that resolve outside `bounds.root` (symbolic links out of the datasets root) are skipped and
    /// listed, never read; so are files over `bounds.maxFileBytes` or without an image signature, which are
    /// recognised from their first bytes. `isCancelled` is polled between blocks of images.
    public static func run(root: String, preprocessing: Preprocessing, shardPath: String,
                           decoder: ImageDecoder = ImageDecoder(), bounds: ImportBounds = ImportBounds(),
                           isCancelled: @Sendable () -> Bool = { false },
                           progress: ImportProgress = { _, _ in }) throws -> ImportSummary {
        let started = Date()
        let directory = try resolvedDirectory(root)
        var skipped: [SkippedFile] = []
        func admitted(_ path: String) -> String? {
            switch bounds.admit(path) {
            case .success(let real): return real
            case .failure(let reason):
                skipped.append(SkippedFile(path: path, reason: reason.description))
                return nil
            }
        }
        let classIds = try visibleEntries(of: directory).filter { isDirectory(directory + "/" + $0) }.sorted()
            .filter { admitted(directory + "/" + $0) != nil }
        guard !classIds.isEmpty else { throw DataError.noClasses(path: root) }

        var classes: [ShardClass] = []
        var train: [(path: String, label: Int32)] = [], test: [(path: String, label: Int32)] = []
        for (index, id) in classIds.enumerated() {
            let folder = directory + "/" + id
            // Files are read through their resolved paths, the ones just checked.
            let files = Dictionary(uniqueKeysWithValues: try visibleEntries(of: folder)
                .filter { !isDirectory(folder + "/" + $0) }
                .compactMap { name in admitted(folder + "/" + name).map { (name, $0) } })
            let split = DatasetSplit.split(Array(files.keys))
            train += split.train.map { (files[$0]!, Int32(index)) }
            test += split.test.map { (files[$0]!, Int32(index)) }
            let label = id.firstIndex(of: "-").map { String(id[id.index(after: $0)...]) } ?? id
            classes.append(ShardClass(id: id, label: label.isEmpty ? id : label))
        }

        let writer = try ShardWriter(path: shardPath, exampleBytes: preprocessing.exampleBytes,
                                     examples: train.count + test.count)
        var counts = (train: 0, test: 0)
        do {
            let work = train.map { ($0.path, $0.label, true) } + test.map { ($0.path, $0.label, false) }
            let block = 64 * ProcessInfo.processInfo.activeProcessorCount
            for start in stride(from: 0, to: work.count, by: block) {
                if isCancelled() { throw DataError.cancelled }
                let slice = Array(work[start..<min(start + block, work.count)])
                let prepared = prepareInParallel(slice.map(\.0), preprocessing: preprocessing, decoder: decoder,
                                                 maxFileBytes: bounds.maxFileBytes)
                for ((path, label, isTrain), result) in zip(slice, prepared) {
                    switch result {
                    case .success(let pixels):
                        try writer.append(pixels, label: label)
                        if isTrain {
                            classes[Int(label)].trainCount += 1
                            counts.train += 1
                        } else {
                            classes[Int(label)].testCount += 1
                            counts.test += 1
                        }
                    case .failure(let reason):
                        skipped.append(SkippedFile(path: path, reason: reason.description))
                    }
                }
                progress(min(start + block, work.count), work.count)
            }
            guard counts.train + counts.test > 0 else { throw DataError.noImages(path: root) }
            let header = try writer.finish { checksum in
                ShardHeader(preprocessing: preprocessing, classes: classes, trainCount: counts.train,
                            testCount: counts.test, checksum: checksum)
            }
            return ImportSummary(shardPath: shardPath, header: header, skipped: skipped,
                                 seconds: Date().timeIntervalSince(started))
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// A decode failure kept as text (the skipped list stores reasons).
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads and prepares every file on all cores, keeping the order.
    private static func prepareInParallel(_ paths: [String], preprocessing: Preprocessing, decoder: ImageDecoder,
                                          maxFileBytes: Int) -> [Result<[UInt8], Failure>] {
        let results = ResultSlots<[UInt8]>(count: paths.count)
        DispatchQueue.concurrentPerform(iterations: paths.count) { index in
            let outcome: Result<[UInt8], Failure>
            do {
                let bytes = try readImageFile(paths[index], maxBytes: maxFileBytes)
                outcome = .success(try preprocessing.prepare(bytes, decoder: decoder))
            } catch let error as ImageError {
                outcome = .failure(Failure(description: error.description))
            } catch let error as Failure {
                outcome = .failure(error)
            } catch {
                outcome = .failure(Failure(description: "cannot read the file: \(error.localizedDescription)"))
            }
            results.set(index, outcome)
        }
        return results.values
    }

    /// The file's bytes, once its size and first bytes show it can be an image: a large file that is not one
    /// costs a few bytes of reading, not its size in memory.
    private static func readImageFile(_ path: String, maxBytes: Int) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let size = Int(try handle.seekToEnd())
        guard size <= maxBytes else {
            throw Failure(description: "the file is \(size) bytes, more than the \(maxBytes) an image file may be")
        }
        try handle.seek(toOffset: 0)
        let head = [UInt8](try handle.read(upToCount: 8) ?? Data())
        guard ImageFormat.sniff(head) != nil else {
            throw ImageError.notAnImage("the data starts with neither the JPEG nor the PNG signature")
        }
        return head + [UInt8](try handle.readToEnd() ?? Data())
    }

    static func resolvedDirectory(_ path: String) throws -> String {
        guard let resolved = realpath(path, nil) else { throw DataError.notFound(path: path) }
        defer { free(resolved) }
        let directory = String(cString: resolved)
        guard isDirectory(directory) else { throw DataError.notADirectory(path: path) }
        return directory
    }

    private static func visibleEntries(of directory: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }
        } catch {
            throw DataError.unreadable(path: directory, reason: error.localizedDescription)
        }
    }

    private static func isDirectory(_ path: String) -> Bool {
        var flag: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
    }
}

/// Per-index results written by parallel workers (each index once).
final class ResultSlots<Value>: @unchecked Sendable {
    private var slots: [Result<Value, ImageFolderImport.Failure>?]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Result<Value, ImageFolderImport.Failure>) {
        lock.withLock { slots[index] = value }
    }

    var values: [Result<Value, ImageFolderImport.Failure>] { lock.withLock { slots.map { $0! } } }
}

/// Imports MNIST-style IDX files (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
/// `t10k-…`) from a directory, keeping the files' own train/test split.
public enum IDXImport {
    /// Fashion-MNIST's class names, used when the directory is that dataset.
    public static let fashionNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                      "Sneaker", "Bag", "Ankle boot"]

    /// `labelNames` (one per class) wins; otherwise Fashion-MNIST's names when the path names that dataset,
    /// else the class numbers. `preprocessing` defaults to the files' own size in gray.
    public static func run(directory: String, preprocessing requested: Preprocessing? = nil,
                           labelNames: [String]? = nil, shardPath: String, isCancelled: @Sendable () -> Bool = { false },
                           progress: ImportProgress = { _, _ in }) throws -> ImportSummary {
        let started = Date()
        let root = try ImageFolderImport.resolvedDirectory(directory)
        func load(_ stem: String) throws -> IDXFile {
            for name in [stem + ".gz", stem] where FileManager.default.fileExists(atPath: root + "/" + name) {
                return try IDXFile(path: root + "/" + name)
            }
            throw DataError.notFound(path: root + "/" + stem + "[.gz]")
        }
        let parts = [("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                     ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
        let files = try parts.map { (try load($0.0), try load($0.1)) }
        let (trainImages, trainLabels) = files[0]
        guard trainImages.dimensions.count == 3 else {
            throw DataError.invalidIDX(path: root, reason: "images must be N×H×W, got \(trainImages.dimensions)")
        }
        let (height, width) = (trainImages.dimensions[1], trainImages.dimensions[2])
        for (images, labels) in files {
            guard images.dimensions.count == 3, images.dimensions[1] == height, images.dimensions[2] == width,
                  labels.dimensions == [images.dimensions[0]] else {
                throw DataError.invalidIDX(path: root, reason: "image and label files disagree (\(images.dimensions) vs \(labels.dimensions))")
            }
        }
        let classCount = Int((trainLabels.values + files[1].1.values).max() ?? 0) + 1
        let names: [String]
        if let labelNames {
            guard labelNames.count >= classCount else {
                throw DataError.invalidSetting(name: "labels", reason: "\(labelNames.count) names for \(classCount) classes")
            }
            names = Array(labelNames.prefix(classCount))
        } else if root.lowercased().contains("fashion") && classCount == fashionNames.count {
            names = fashionNames
        } else {
            names = (0..<classCount).map(String.init)
        }
        var classes = names.enumerated().map { ShardClass(id: String($0.offset), label: $0.element) }
        let preprocessing = try requested ?? Preprocessing(width: width, height: height, color: .gray)

        let total = files.reduce(0) { $0 + $1.0.dimensions[0] }
        let writer = try ShardWriter(path: shardPath, exampleBytes: preprocessing.exampleBytes, examples: total)
        do {
            var done = 0
            for (split, (images, labels)) in files.enumerated() {
                let size = height * width
                for index in 0..<images.dimensions[0] {
                    if index % 1000 == 0, isCancelled() { throw DataError.cancelled }
                    let pixels = Array(images.values[(index * size)..<((index + 1) * size)])
                    let prepared = preprocessing.width == width && preprocessing.height == height
                        && preprocessing.color == .gray
                        ? pixels
                        : preprocessing.prepare(Image(width: width, height: height, channels: 1, bytes: pixels))
                    let label = Int(labels.values[index])
                    try writer.append(prepared, label: Int32(label))
                    if split == 0 { classes[label].trainCount += 1 } else { classes[label].testCount += 1 }
                    done += 1
                    if done % 5000 == 0 || done == total { progress(done, total) }
                }
            }
            let header = try writer.finish { checksum in
                ShardHeader(preprocessing: preprocessing, classes: classes, trainCount: files[0].0.dimensions[0],
                            testCount: files[1].0.dimensions[0], checksum: checksum)
            }
            return ImportSummary(shardPath: shardPath, header: header, skipped: [],
                                 seconds: Date().timeIntervalSince(started))
        } catch {
            writer.abandon()
            throw error
        }
    }
}
