import Foundation
import KennelEngine
import ZIPFoundation

/// Why a Keras file could not be imported; each names what to change.
public enum KerasImportError: Error, Equatable, CustomStringConvertible {
    /// Not a Keras file, or a damaged one.
    case unreadable(String)
    /// A layer type Kennel does not have.
    case unsupportedLayer(type: String, name: String)
    /// A layer Kennel has, configured in a way it does not compute (dilation, channels_first, another activation…).
    case unsupportedSetting(layer: String, String)
    /// The weights file does not match the configuration.
    case weightsMismatch(layer: String, String)

    public var description: String {
        switch self {
        case .unreadable(let reason): "not a readable Keras model: \(reason)"
        case .unsupportedLayer(let type, let name):
            "layer '\(name)' is a \(type), which Kennel does not have; Kennel imports "
                + KerasModel.supportedLayers.joined(separator: ", ")
        case .unsupportedSetting(let layer, let reason): "layer '\(layer)': \(reason)"
        case .weightsMismatch(let layer, let reason): "layer '\(layer)': \(reason)"
        }
    }
}

/// A Keras model read from a Keras 3 `.keras` archive (`config.json` and `model.weights.h5` in a zip) or a legacy
/// `.h5` file, as a Kennel model with the same weights. A chain of the layers Kennel has is imported; a leading
/// `Rescaling` becomes the input scale and offset; a final softmax is what serving applies anyway.
public struct KerasModel {
    /// The layer types an import may hold.
    public static let supportedLayers = ["InputLayer", "Rescaling (first)", "Conv2D", "MaxPooling2D",
                                         "AveragePooling2D", "GlobalAveragePooling2D", "Dense", "Flatten", "Dropout",
                                         "BatchNormalization", "Activation", "ReLU", "LeakyReLU", "Softmax (last)"]

    /// The Keras model's name.
    public let name: String
    /// `keras` or `h5`: the file's kind, recorded as the version's origin.
    public let format: String
    public let model: Model
    /// What the model's input is made of: pixel × scale + offset (the leading Rescaling's; 1 and 0 without one).
    public let inputScale: Float
    public let inputOffset: Float

    /// Reads the file's bytes (either kind, told apart by their signature).
    public init(bytes: [UInt8]) throws {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("kennel-keras-\(UUID().uuidString).h5")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let config: [String: Any], weights: (String, HDF5File) throws -> [Tensor]
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            let archive: Archive
            do { archive = try Archive(data: Data(bytes), accessMode: .read) } catch {
                throw KerasImportError.unreadable("the zip archive cannot be read")
            }
            config = try Self.object(try Self.extract("config.json", from: archive))
            try Data(try Self.extract("model.weights.h5", from: archive)).write(to: scratch)
            format = "keras"
            // Keras 3: each layer's variables in order under layers/<name>/vars/0, 1, …
            weights = { layer, file in
                var tensors: [Tensor] = []
                while file.exists("layers/\(layer)/vars/\(tensors.count)") {
                    tensors.append(try file.tensor("layers/\(layer)/vars/\(tensors.count)"))
                }
                return tensors
            }
        } else if bytes.starts(with: [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]) {
            try Data(bytes).write(to: scratch)
            format = "h5"
            // Legacy: the layer group's weight_names attribute lists its datasets in order.
            weights = { layer, file in
                try (file.strings("weight_names", of: "model_weights/\(layer)") ?? []).map {
                    try file.tensor("model_weights/\(layer)/\($0)")
                }
            }
            config = [:]
        } else {
            throw KerasImportError.unreadable("neither a .keras archive (zip) nor an .h5 file (HDF5)")
        }
        let file = try HDF5File(path: scratch.path)
        let root: [String: Any]
        if format == "h5" {
            guard let text = file.strings("model_config")?.first else {
                throw KerasImportError.unreadable("the .h5 file holds weights only (no model_config); save the whole model")
            }
            root = try Self.object(Array(text.utf8))
        } else {
            root = config
        }
        let chain = try LayerChain(root)
        name = chain.name
        inputScale = chain.inputScale
        inputOffset = chain.inputOffset
        model = try Model(layers: chain.specs, inputShape: chain.inputShape, classCount: chain.classCount)
        try Self.assign(chain.weighted, to: model) { try weights($0, file) }
    }

    /// Copies each weighted Keras layer's variables into the Kennel layer made from it, checking every shape.
    private static func assign(_ weighted: [LayerChain.Weighted], to model: Model,
                               read: (String) throws -> [Tensor]) throws {
        let targets = model.layers.filter { !$0.parameters.isEmpty }
        guard targets.count == weighted.count else {
            throw KerasImportError.weightsMismatch(layer: model.layers.first?.name ?? "", "layer count differs")
        }
        for (source, layer) in zip(weighted, targets) {
            var tensors = try read(source.name)
            // Fill what Keras leaves out: a bias when use_bias is false, gamma/beta without scale/center.
            switch source.kind {
            case .kernelAndBias(let hasBias):
                if !hasBias { tensors.append(Tensor(zeros: layer.parameters[1].value.shape)) }
            case .normalization(let scale, let center):
                let channels = layer.parameters[0].value.shape
                if !scale { tensors.insert(Tensor(shape: channels, data: .init(repeating: 1, count: channels[0])), at: 0) }
                if !center { tensors.insert(Tensor(zeros: channels), at: 1) }
            }
            guard tensors.count == layer.parameters.count else {
                throw KerasImportError.weightsMismatch(layer: source.name, "\(tensors.count) weight arrays in the file, "
                                                       + "\(layer.parameters.count) expected")
            }
            for (tensor, parameter) in zip(tensors, layer.parameters) {
                guard tensor.shape == parameter.value.shape else {
                    throw KerasImportError.weightsMismatch(layer: source.name, "weights of shape \(tensor.shape) where "
                                                           + "the configuration needs \(parameter.value.shape)")
                }
                parameter.value = tensor
            }
        }
    }

    private static func extract(_ path: String, from archive: Archive) throws -> [UInt8] {
        guard let entry = archive[path] else { throw KerasImportError.unreadable("the archive has no \(path)") }
        guard entry.uncompressedSize <= 4 << 30 else { throw KerasImportError.unreadable("\(path) is too large") }
        var bytes: [UInt8] = []
        do {
            _ = try archive.extract(entry, skipCRC32: false) { bytes.append(contentsOf: $0) }
        } catch {
            throw KerasImportError.unreadable("\(path) in the archive is damaged")
        }
        return bytes
    }

    private static func object(_ bytes: [UInt8]) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw KerasImportError.unreadable("the model configuration is not a JSON object")
        }
        return object
    }
}

/// A Keras configuration read as a chain of Kennel layer specs.
private struct LayerChain {
    /// A Keras layer with variables, in the order the Kennel model's weighted layers come.
    struct Weighted {
        enum Kind {
            case kernelAndBias(hasBias: Bool)
            case normalization(scale: Bool, center: Bool)
        }
        let name: String
        let kind: Kind
    }

    var name = "keras"
    var inputShape: [Int] = []
    var inputScale: Float = 1
    var inputOffset: Float = 0
    var specs: [LayerSpec] = []
    var weighted: [Weighted] = []
    var classCount = 0

    init(_ root: [String: Any]) throws {
        let kind = root["class_name"] as? String ?? ""
        guard ["Sequential", "Functional", "Model"].contains(kind), let config = root["config"] as? [String: Any],
              let layers = config["layers"] as? [[String: Any]] else {
            throw KerasImportError.unreadable("the configuration is a '\(kind)', not a Sequential or functional model")
        }
        name = config["name"] as? String ?? name
        if let shape = (config["build_input_shape"] as? [Any]) { inputShape = Self.shape(shape) }
        var previous: String?
        var endsInSoftmax = false
        for (index, layer) in layers.enumerated() {
            let type = layer["class_name"] as? String ?? "?"
            let settings = layer["config"] as? [String: Any] ?? [:]
            let layerName = settings["name"] as? String ?? layer["name"] as? String ?? "layer \(index)"
            if kind != "Sequential", let previous, Self.inputs(of: layer) != [previous] {
                throw KerasImportError.unsupportedSetting(layer: layerName, "Kennel imports a chain of layers, each "
                                                          + "taking the previous one's output")
            }
            previous = layerName
            if let shape = (settings["batch_shape"] ?? settings["batch_input_shape"]) as? [Any] {
                inputShape = Self.shape(shape)
            }
            guard !endsInSoftmax else {
                throw KerasImportError.unsupportedSetting(layer: layerName, "a softmax must be the last layer")
            }
            func setting<T>(_ key: String, _ fallback: T) -> T { settings[key] as? T ?? fallback }
            func unsupported(_ reason: String) -> KerasImportError { .unsupportedSetting(layer: layerName, reason) }
            func activation(_ name: String?) throws -> String? {
                switch name ?? "linear" {
                case "linear": return nil
                case "relu", "sigmoid", "tanh": return name
                case "softmax":
                    endsInSoftmax = true
                    return nil
                default:
                    throw unsupported("activation '\(name ?? "")'; Kennel has relu, leaky_relu, sigmoid, tanh, and "
                                      + "softmax as the last layer")
                }
            }
            func channelsLast() throws {
                guard setting("data_format", "channels_last") == "channels_last" else {
                    throw unsupported("data_format must be channels_last")
                }
            }
            var spec: LayerSpec?
            switch type {
            case "InputLayer":
                continue
            case "Rescaling":
                guard specs.isEmpty, let scale = settings["scale"] as? Double, let offset = settings["offset"] as? Double
                else { throw unsupported("a Rescaling by one scale and offset is imported only as the first layer") }
                (inputScale, inputOffset) = (Float(scale), Float(offset))
                continue
            case "Conv2D":
                try channelsLast()
                guard Self.pair(settings["dilation_rate"]) ?? [1, 1] == [1, 1], setting("groups", 1) == 1 else {
                    throw unsupported("dilated or grouped convolutions are not supported")
                }
                var conv = LayerSpec(type: "conv2d")
                conv.filters = setting("filters", 0)
                conv.kernel = try Self.window(settings["kernel_size"], layerName)
                conv.stride = try Self.window(settings["strides"] ?? [1, 1], layerName)
                conv.padding = try Self.padding(settings["padding"], layerName)
                conv.activation = try activation(settings["activation"] as? String)
                weighted.append(Weighted(name: layerName, kind: .kernelAndBias(hasBias: setting("use_bias", true))))
                spec = conv
            case "MaxPooling2D", "AveragePooling2D":
                try channelsLast()
                var pool = LayerSpec(type: type == "MaxPooling2D" ? "maxpool" : "avgpool")
                pool.size = try Self.window(settings["pool_size"], layerName)
                let strides = settings["strides"].flatMap { $0 is NSNull ? nil : $0 }
                pool.stride = try strides.map { try Self.window($0, layerName) } ?? pool.size
                pool.padding = try Self.padding(settings["padding"], layerName)
                spec = pool
            case "GlobalAveragePooling2D":
                try channelsLast()
                guard !setting("keepdims", false) else { throw unsupported("keepdims must be false") }
                spec = LayerSpec(type: "globalavgpool")
            case "Flatten":
                try channelsLast()
                spec = LayerSpec(type: "flatten")
            case "Dense":
                var dense = LayerSpec(type: "dense")
                dense.units = setting("units", 0)
                dense.activation = try activation(settings["activation"] as? String)
                weighted.append(Weighted(name: layerName, kind: .kernelAndBias(hasBias: setting("use_bias", true))))
                classCount = dense.units ?? 0
                spec = dense
            case "Dropout":
                var dropout = LayerSpec(type: "dropout")
                dropout.rate = Float(setting("rate", 0.0))
                spec = dropout
            case "BatchNormalization":
                let axis = (settings["axis"] as? Int) ?? (settings["axis"] as? [Int])?.first ?? -1
                guard axis == -1 || axis == inputShape.count - 1 || axis == 3 else {
                    throw unsupported("batch normalization must be over the last (channel) axis")
                }
                var normalization = LayerSpec(type: "batchnorm")
                normalization.epsilon = Float(setting("epsilon", 1e-3))
                normalization.momentum = Float(setting("momentum", 0.99))
                weighted.append(Weighted(name: layerName, kind: .normalization(scale: setting("scale", true),
                                                                               center: setting("center", true))))
                spec = normalization
            case "Activation", "ReLU", "LeakyReLU", "Softmax":
                var function: String?
                var alpha: Float?
                switch type {
                case "Activation": function = try activation(settings["activation"] as? String)
                case "Softmax": function = try activation("softmax")
                case "ReLU":
                    guard settings["max_value"] == nil || settings["max_value"] is NSNull,
                          setting("negative_slope", 0.0) == 0, setting("threshold", 0.0) == 0 else {
                        throw unsupported("only a plain ReLU (no max_value, slope or threshold) is supported")
                    }
                    function = "relu"
                default:
                    function = "leaky_relu"
                    alpha = Float((settings["negative_slope"] ?? settings["alpha"]) as? Double ?? 0.3)
                }
                guard let function else { continue }
                var layer = LayerSpec(type: "activation")
                layer.name = function
                layer.alpha = alpha
                spec = layer
            default:
                throw KerasImportError.unsupportedLayer(type: type, name: layerName)
            }
            if let spec { specs.append(spec) }
        }
        guard inputShape.count == 3 else {
            throw KerasImportError.unreadable("the model's input shape is not height × width × channels: \(inputShape)")
        }
        guard classCount >= 2, specs.last?.type == "dense" else {
            throw KerasImportError.unreadable("the model must end in a Dense layer of at least 2 classes")
        }
    }

    /// The names of the layers feeding `layer` in a functional model (Keras 3 `keras_history`, or Keras 2 lists).
    private static func inputs(of layer: [String: Any]) -> [String] {
        var names: [String] = []
        func visit(_ value: Any) {
            if let object = value as? [String: Any] {
                if let history = (object["config"] as? [String: Any])?["keras_history"] as? [Any],
                   let name = history.first as? String {
                    names.append(name)
                } else {
                    object.values.forEach(visit)
                }
            } else if let list = value as? [Any] {
                if let name = list.first as? String, list.count >= 3 { names.append(name) } else { list.forEach(visit) }
            }
        }
        visit(layer["inbound_nodes"] ?? [])
        return names
    }

    private static func shape(_ values: [Any]) -> [Int] { values.dropFirst().map { $0 as? Int ?? -1 } }

    private static func pair(_ value: Any?) -> [Int]? {
        if let number = value as? Int { return [number, number] }
        return value as? [Int]
    }

    private static func window(_ value: Any?, _ layer: String) throws -> WindowSize {
        guard let pair = pair(value), pair.count == 2 else {
            throw KerasImportError.unsupportedSetting(layer: layer, "expected a size of two numbers")
        }
        return WindowSize(pair[0], pair[1])
    }

    private static func padding(_ value: Any?, _ layer: String) throws -> Padding {
        switch value as? String ?? "valid" {
        case "valid": return .valid
        case "same": return .same
        case let other: throw KerasImportError.unsupportedSetting(layer: layer, "padding '\(other)' is not supported")
        }
    }
}
