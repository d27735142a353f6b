/// One entry of a JSON layer list (DESIGN.md "Engine"), such as
/// `{"type":"conv2d","filters":16,"kernel":3,"stride":1,"padding":"same","activation":"relu"}`.
/// `kernel`, `size` and `stride` take one number or `[height, width]`.
public struct LayerSpec: Codable, Equatable, Sendable {
    public var type: String
    public var filters: Int?
    public var kernel: WindowSize?
    public var stride: WindowSize?
    public var size: WindowSize?
    public var padding: Padding?
    public var activation: String?
    public var units: Int?
    public var rate: Float?
    /// For `activation` layers: which function.
    public var name: String?
    public var alpha: Float?
    public var momentum: Float?
    public var epsilon: Float?
    public var depthRadius: Int?
    public var bias: Float?
    public var beta: Float?
    public var initializer: String?
    public var stddev: Float?

    public init(type: String) { self.type = type }

    enum CodingKeys: String, CodingKey {
        case type, filters, kernel, stride, size, padding, activation, units, rate, name, alpha, momentum, epsilon
        case depthRadius = "depth_radius", bias, beta, initializer, stddev
    }

    /// The layer types a list may use.
    public static let types = ["conv2d", "maxpool", "avgpool", "globalavgpool", "dense", "flatten", "dropout",
                               "batchnorm", "lrn", "activation"]
}

/// A window extent: one number for square, or `[height, width]`.
public struct WindowSize: Codable, Equatable, Sendable, ExpressibleByIntegerLiteral {
    public var height: Int
    public var width: Int

    public init(_ height: Int, _ width: Int) {
        self.height = height
        self.width = width
    }

    public init(integerLiteral value: Int) { self.init(value, value) }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let side = try? container.decode(Int.self) {
            self.init(side, side)
            return
        }
        let pair = try container.decode([Int].self)
        guard pair.count == 2 else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a number or [height, width]")
        }
        self.init(pair[0], pair[1])
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if height == width { try container.encode(height) } else { try container.encode([height, width]) }
    }
}

/// A named layer list with its input shape: the presets of DESIGN.md.
public struct Preset: Sendable {
    public let name: String
    /// H×W×C of one example.
    public let inputShape: [Int]
    public let classCount: Int
    public let layers: [LayerSpec]

    public static let all: [Preset] = [dogsSeed, fashionConvnet, fashionBN, catsDogsSeed, cifarCNN]
    public static var names: [String] { all.map(\.name) }

    /// The preset called `name`, or `EngineError.unknownPreset`.
    public static func named(_ name: String) throws -> Preset {
        guard let preset = all.first(where: { $0.name == name }) else { throw EngineError.unknownPreset(name) }
        return preset
    }

    private static func conv(_ filters: Int, _ kernel: Int, stride: Int = 1) -> LayerSpec {
        var spec = LayerSpec(type: "conv2d")
        spec.filters = filters
        spec.kernel = WindowSize(kernel, kernel)
        spec.stride = WindowSize(stride, stride)
        spec.padding = .same
        spec.activation = "relu"
        return spec
    }

    /// A 3×3 convolution without activation, then batch normalization, then ReLU.
    private static func normalizedConv(_ filters: Int) -> [LayerSpec] {
        var convolution = conv(filters, 3)
        convolution.activation = nil
        var relu = LayerSpec(type: "activation")
        relu.name = "relu"
        return [convolution, LayerSpec(type: "batchnorm"), relu]
    }

    private static func maxpool(padding: Padding = .same) -> LayerSpec {
        var spec = LayerSpec(type: "maxpool")
        spec.size = 2
        spec.stride = 2
        spec.padding = padding
        return spec
    }

    private static func dense(_ units: Int, activation: String? = nil) -> LayerSpec {
        var spec = LayerSpec(type: "dense")
        spec.units = units
        spec.activation = activation
        return spec
    }

    private static func dropout(_ rate: Float) -> LayerSpec {
        var spec = LayerSpec(type: "dropout")
        spec.rate = rate
        return spec
    }

    /// Seed 004: the Stanford Dogs model on 250×151 grayscale.
    public static let dogsSeed = Preset(
        name: "dogs-seed", inputShape: [250, 151, 1], classCount: 120,
        layers: [conv(32, 5, stride: 2), maxpool(), conv(64, 5), maxpool(), LayerSpec(type: "flatten"),
                 dense(512, activation: "relu"), dropout(0.1), dense(120)])

    /// The Fashion-MNIST convnet.
    public static let fashionConvnet = Preset(
        name: "fashion-convnet", inputShape: [28, 28, 1], classCount: 10,
        layers: [conv(32, 5), maxpool(), conv(64, 5), maxpool(), LayerSpec(type: "flatten"),
                 dense(1024, activation: "relu"), dropout(0.4), dense(10)])

    /// Fashion-MNIST for accuracy: two blocks of two 3×3 convolutions, each followed by batch normalization and
    /// ReLU (so serving folds both into the convolution), max pooling and dropout, then a 256-unit dense layer.
    /// Its jobs train with flips, shifts and a cosine schedule unless they say otherwise (KennelJobs' recipe).
    public static let fashionBN = Preset(
        name: "fashion-bn", inputShape: [28, 28, 1], classCount: 10,
        layers: normalizedConv(32) + normalizedConv(32) + [maxpool(), dropout(0.25)]
            + normalizedConv(64) + normalizedConv(64) + [maxpool(), dropout(0.25)]
            + [LayerSpec(type: "flatten"), dense(256, activation: "relu"), dropout(0.4), dense(10)])

    /// Seed 001: cats vs dogs, three 3×3 conv + max-pool + ReLU blocks.
    public static let catsDogsSeed = Preset(
        name: "catsdogs-seed", inputShape: [128, 128, 3], classCount: 2,
        layers: [conv(32, 3), maxpool(), conv(32, 3), maxpool(), conv(64, 3), maxpool(), LayerSpec(type: "flatten"),
                 dense(128, activation: "relu"), dense(2)])

    /// Seed 003: CIFAR-10 (1,051,082 parameters).
    public static let cifarCNN = Preset(
        name: "cifar-cnn", inputShape: [32, 32, 3], classCount: 10,
        layers: [conv(64, 3), maxpool(), LayerSpec(type: "flatten"), dense(64, activation: "relu"), dense(10)])
}
