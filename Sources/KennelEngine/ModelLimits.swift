/// How large a model may be: checked layer by layer while a model is built, before anything is allocated, so an
/// absurd layer list is an `EngineError` naming the layer instead of an overflow trap or a failed allocation.
public struct ModelLimits: Sendable, Equatable, Codable {
    /// Largest `filters`, `units`, `kernel`, `size`, `stride` or `depth_radius` one layer may ask for.
    public var maxLayerSize: Int
    /// Trainable values in the whole model (weights and biases; the optimizer keeps up to three more per value).
    public var maxParameters: Int
    /// Values one example's activation may hold after any layer.
    public var maxActivationValues: Int

    public init(maxLayerSize: Int = 65_536, maxParameters: Int = 100_000_000, maxActivationValues: Int = 16 << 20) {
        self.maxLayerSize = maxLayerSize
        self.maxParameters = maxParameters
        self.maxActivationValues = maxActivationValues
    }

    enum CodingKeys: String, CodingKey {
        case maxLayerSize = "max_layer_size", maxParameters = "max_parameters"
        case maxActivationValues = "max_activation_values"
    }

    /// Checks a spec's sizes against `maxLayerSize`, and the parameters it adds on `input` to the `parameters`
    /// of the layers before it against `maxParameters`; returns the new total, or throws naming the field.
    func admit(_ spec: LayerSpec, input: [Int], after parameters: Int) throws -> Int {
        func inRange(_ value: Int?, _ field: String, from lowest: Int = 1) throws {
            guard let value else { return }
            guard (lowest...maxLayerSize).contains(value) else {
                throw EngineError.invalidHyperparameter(name: field, reason: "must be \(lowest)…\(maxLayerSize), got \(value)")
            }
        }
        try inRange(spec.filters, "filters")
        try inRange(spec.units, "units")
        try inRange(spec.depthRadius, "depth_radius", from: 0)
        for (window, field) in [(spec.kernel, "kernel"), (spec.size, "size"), (spec.stride, "stride")] {
            try inRange(window?.height, field)
            try inRange(window?.width, field)
        }
        let added = Self.parameters(of: spec, input: input)
        guard added <= maxParameters - parameters else {
            throw EngineError.invalidHyperparameter(
                name: "parameters", reason: "the model would hold \(added >= Int.max - 1 ? "too many" : "\(parameters + added)") "
                    + "parameters; the limit is \(maxParameters)")
        }
        return parameters + added
    }

    /// filters × (kernel taps + a bias), units × (inputs + a bias); Int.max − 1 when that does not fit an Int.
    private static func parameters(of spec: LayerSpec, input: [Int]) -> Int {
        switch spec.type.lowercased() {
        case "conv2d":
            let kernel = spec.kernel ?? 1
            return Self.product([spec.filters ?? 1, Self.product([kernel.height, kernel.width, input.last ?? 1]) + 1])
        case "dense":
            return Self.product([spec.units ?? 1, Self.product(input) + 1])
        case "batchnorm":
            return 2 * (input.last ?? 1)
        default:
            return 0
        }
    }

    /// The product of `factors`, or Int.max − 1 when it does not fit (more than any limit admits, with room to
    /// add the one above).
    static func product(_ factors: [Int]) -> Int {
        var result = 1
        for factor in factors {
            let (value, overflow) = result.multipliedReportingOverflow(by: factor)
            if overflow || value == Int.max { return Int.max - 1 }
            result = value
        }
        return result
    }

    /// Throws when one example's activation of `shape` would hold more than `maxActivationValues`.
    func check(output shape: [Int]) throws {
        let values = Self.product(shape)
        guard values <= maxActivationValues else {
            throw EngineError.invalidHyperparameter(
                name: "output", reason: "one example's output \(shape) would hold \(values) values; "
                    + "the limit is \(maxActivationValues)")
        }
    }
}
