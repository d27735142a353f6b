import KennelEngine
import KennelHTTP
import KennelImage

/// Every bound the server enforces before work starts, in one place. Each has a `kennel serve` flag and a
/// `KENNEL_*` variable (the flag wins), and `GET /v1/limits` lists them with their current values.
public struct ServerLimits: Sendable, Equatable {
    /// HTTP connections held at once, and from one client address.
    public var connections = 4096
    public var connectionsPerAddress = 256
    /// Seconds a connection has to deliver one whole request, headers and body.
    public var requestDeadlineSeconds = 30
    public var maxBodyBytes = 32 << 20
    /// Pixels an image's header may announce.
    public var maxImagePixels = 40_000_000
    /// Bytes image decoding may hold at once across every request in flight.
    public var decodeBudgetBytes = 1 << 30
    /// Classification requests waiting or running at once; more are answered 429.
    public var classifyCapacity = 64
    /// Layer sizes, parameters and activation size of a model a job may ask for.
    public var model = ModelLimits()
    /// Bytes the served models loaded in this process may hold together (least recently used out past it).
    public var residentModelBytes = 1 << 30

    public init() {}

    /// One limit: its name in `GET /v1/limits`, flag, environment variable, unit factor of the flag's value,
    /// accepted flag values and where it lives.
    public struct Setting: Sendable {
        public let name, flag, environment, help: String
        /// Multiplies the flag's value (MiB flags hold bytes).
        public let unit: Int
        public let range: ClosedRange<Int>
        public let keyPath: WritableKeyPath<ServerLimits, Int> & Sendable
    }

    /// Every limit, in the order `GET /v1/limits` and `kennel serve --help` list them.
    public static let settings: [Setting] = [
        Setting(name: "connections", flag: "max-connections", environment: "KENNEL_MAX_CONNECTIONS",
                help: "HTTP connections held at once", unit: 1, range: 16...1_000_000, keyPath: \.connections),
        Setting(name: "connections_per_address", flag: "max-connections-per-address",
                environment: "KENNEL_MAX_CONNECTIONS_PER_ADDRESS", help: "connections from one client address",
                unit: 1, range: 1...1_000_000, keyPath: \.connectionsPerAddress),
        Setting(name: "request_deadline_seconds", flag: "request-deadline", environment: "KENNEL_REQUEST_DEADLINE",
                help: "seconds to deliver a whole request", unit: 1, range: 1...3600, keyPath: \.requestDeadlineSeconds),
        Setting(name: "max_body_bytes", flag: "max-body-mb", environment: "KENNEL_MAX_BODY_MB",
                help: "largest request body, MiB", unit: 1 << 20, range: 1...4096, keyPath: \.maxBodyBytes),
        Setting(name: "max_image_pixels", flag: "max-image-pixels", environment: "KENNEL_MAX_IMAGE_PIXELS",
                help: "pixels an image may have", unit: 1, range: 1...1_000_000_000, keyPath: \.maxImagePixels),
        Setting(name: "decode_budget_bytes", flag: "decode-budget-mb", environment: "KENNEL_DECODE_BUDGET_MB",
                help: "memory for decoding images in flight, MiB", unit: 1 << 20, range: 16...1_000_000,
                keyPath: \.decodeBudgetBytes),
        Setting(name: "classify_capacity", flag: "classify-capacity", environment: "KENNEL_CLASSIFY_CAPACITY",
                help: "classification requests waiting or running", unit: 1, range: 1...100_000,
                keyPath: \.classifyCapacity),
        Setting(name: "resident_model_bytes", flag: "max-resident-models-mb", environment: "KENNEL_MAX_RESIDENT_MODELS_MB",
                help: "memory of the served models kept loaded, MiB", unit: 1 << 20, range: 16...1_000_000,
                keyPath: \.residentModelBytes),
        Setting(name: "max_layer_size", flag: "max-layer-size", environment: "KENNEL_MAX_LAYER_SIZE",
                help: "filters, units, kernel, size, stride of one layer", unit: 1, range: 1...1_000_000,
                keyPath: \.model.maxLayerSize),
        Setting(name: "max_parameters", flag: "max-parameters", environment: "KENNEL_MAX_PARAMETERS",
                help: "trainable values in a model", unit: 1, range: 1...10_000_000_000, keyPath: \.model.maxParameters),
        Setting(name: "max_activation_values", flag: "max-activation-values",
                environment: "KENNEL_MAX_ACTIVATION_VALUES", help: "values of one example's activation",
                unit: 1, range: 1...1_000_000_000, keyPath: \.model.maxActivationValues),
    ]

    /// The HTTP server's share of the limits, over `base` (host, port, threads).
    public func http(_ base: HTTPServerConfiguration) -> HTTPServerConfiguration {
        var configuration = base
        configuration.connectionLimit = connections
        configuration.perAddressConnectionLimit = connectionsPerAddress
        configuration.requestDeadlineSeconds = requestDeadlineSeconds
        configuration.maxBodyBytes = maxBodyBytes
        return configuration
    }

    /// The image decoder requests share: header pixel cap and the decode budget.
    func decoder() -> ImageDecoder {
        ImageDecoder(maximumPixels: maxImagePixels, budget: DecodeBudget(capacity: decodeBudgetBytes))
    }
}

extension Router.Builder {
    /// `GET /v1/limits`: every limit with its value, flag and environment variable.
    mutating func addLimitsRoute(_ context: APIContext) {
        struct Entry: Encodable {
            let name: String
            let value: Int
            let flag, env, description: String
        }
        let entries = ServerLimits.settings.map { setting in
            Entry(name: setting.name, value: context.limits[keyPath: setting.keyPath], flag: "--" + setting.flag,
                  env: setting.environment, description: setting.help)
        }
        let answer = Response.json(entries)
        get("/v1/limits") { _ in answer }
    }
}
