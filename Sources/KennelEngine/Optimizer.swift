import Foundation

/// Which update rule, with Keras's hyperparameter names and defaults.
public struct OptimizerConfig: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case sgd, adam, adamw, rmsprop

        /// Keras's default `learning_rate` for this optimizer.
        public var defaultLearningRate: Float { self == .sgd ? 0.01 : 0.001 }
    }

    public var name: Kind
    public var learningRate: Float
    /// SGD momentum (0 = plain SGD) and Nesterov's variant.
    public var momentum: Float = 0
    public var nesterov = false
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-7
    /// RMSProp's decay of the squared-gradient average.
    public var rho: Float = 0.9
    /// AdamW's decoupled weight decay (applied to every trainable tensor, as Keras does).
    public var weightDecay: Float = 0
    /// L2 penalty λ·Σw² on kernels only (adds 2λw to their gradients).
    public var l2: Float = 0
    /// Gradients are rescaled so their global norm is at most this.
    public var clipNorm: Float?

    public init(name: Kind, learningRate: Float) {
        self.name = name
        self.learningRate = learningRate
        if name == .adamw { weightDecay = 0.004 }
    }

    enum CodingKeys: String, CodingKey {
        case name, learningRate = "learning_rate", momentum, nesterov, beta1 = "beta_1", beta2 = "beta_2", epsilon, rho
        case weightDecay = "weight_decay", l2, clipNorm = "clip_norm"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(Kind.self, forKey: .name)
        self.init(name: name, learningRate: try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? name.defaultLearningRate)
        momentum = try c.decodeIfPresent(Float.self, forKey: .momentum) ?? momentum
        nesterov = try c.decodeIfPresent(Bool.self, forKey: .nesterov) ?? nesterov
        beta1 = try c.decodeIfPresent(Float.self, forKey: .beta1) ?? beta1
        beta2 = try c.decodeIfPresent(Float.self, forKey: .beta2) ?? beta2
        epsilon = try c.decodeIfPresent(Float.self, forKey: .epsilon) ?? epsilon
        rho = try c.decodeIfPresent(Float.self, forKey: .rho) ?? rho
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? weightDecay
        l2 = try c.decodeIfPresent(Float.self, forKey: .l2) ?? l2
        clipNorm = try c.decodeIfPresent(Float.self, forKey: .clipNorm)
    }

    /// Refuses values no training could use, naming the field.
    public func validate() throws {
        func require(_ ok: Bool, _ field: String, _ reason: String) throws {
            if !ok { throw EngineError.invalidHyperparameter(name: "optimizer.\(field)", reason: reason) }
        }
        try require(learningRate > 0 && learningRate.isFinite, "learning_rate", "must be > 0, got \(learningRate)")
        try require(momentum >= 0 && momentum < 1, "momentum", "must be in [0, 1), got \(momentum)")
        try require(beta1 >= 0 && beta1 < 1, "beta_1", "must be in [0, 1), got \(beta1)")
        try require(beta2 >= 0 && beta2 < 1, "beta_2", "must be in [0, 1), got \(beta2)")
        try require(epsilon > 0, "epsilon", "must be > 0, got \(epsilon)")
        try require(rho >= 0 && rho < 1, "rho", "must be in [0, 1), got \(rho)")
        try require(weightDecay >= 0, "weight_decay", "must be ≥ 0, got \(weightDecay)")
        try require(l2 >= 0, "l2", "must be ≥ 0, got \(l2)")
        if let clipNorm { try require(clipNorm > 0, "clip_norm", "must be > 0, got \(clipNorm)") }
        try require(!nesterov || momentum > 0, "nesterov", "needs momentum > 0")
    }
}

/// Applies one update rule to a model's trainable parameters, keeping its per-parameter moments ("slots").
public final class Optimizer {
    public let config: OptimizerConfig
    /// Updates applied so far (Keras's `iterations`).
    public internal(set) var iterations = 0
    /// Per trainable parameter: SGD momentum [velocity]; Adam [m, v]; RMSProp [mean square].
    public internal(set) var slots: [[Tensor]] = []

    public init(_ config: OptimizerConfig) throws {
        try config.validate()
        self.config = config
    }

    /// Names of the slot tensors, in the order `slots` holds them.
    public var slotNames: [String] {
        switch config.name {
        case .sgd: return config.momentum > 0 ? ["momentum"] : []
        case .adam, .adamw: return ["m", "v"]
        case .rmsprop: return ["velocity"]
        }
    }

    /// Updates `parameters` from their gradients with `learningRate` (the schedule's value for this step).
    public func apply(to parameters: [Parameter], learningRate lr: Float) {
        let trainable = parameters.filter(\.trainable)
        if slots.isEmpty {
            slots = trainable.map { parameter in slotNames.map { _ in Tensor(zeros: parameter.value.shape) } }
        }
        if config.l2 > 0 {
            for parameter in trainable where parameter.isKernel {
                Self.transform(parameter) { w, g, range in
                    for i in range { g[i] += 2 * self.config.l2 * w[i] }
                }
            }
        }
        if let clip = config.clipNorm {
            let norm = trainable.reduce(Float(0)) { sum, p in
                sum + p.gradient.data.withUnsafeBufferPointer { g in g.reduce(0) { $0 + $1 * $1 } }
            }.squareRoot()
            if norm > clip {
                let scale = clip / norm
                for parameter in trainable {
                    Self.transform(parameter) { _, g, range in for i in range { g[i] *= scale } }
                }
            }
        }
        iterations += 1
        let t = Float(iterations)
        for (index, parameter) in trainable.enumerated() {
            update(parameter, slots: &slots[index], lr: lr, t: t)
        }
    }

    /// Runs `body(weights, gradients, range)` over disjoint ranges of a parameter, in parallel when large.
    private static func transform(_ parameter: Parameter,
                                  _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Range<Int>) -> Void) {
        parameter.value.data.withUnsafeMutableBufferPointer { w in
            parameter.gradient.data.withUnsafeMutableBufferPointer { g in
                let pointers = SlotPointers(w: w.baseAddress!, g: g.baseAddress!, first: nil, second: nil)
                Elementwise.forRanges(w.count) { range in body(pointers.w, pointers.g, range) }
            }
        }
    }

    private func update(_ parameter: Parameter, slots: inout [Tensor], lr: Float, t: Float) {
        let c = config
        // Move the slots out so they are uniquely referenced and update in place, not copied.
        var first = slots.isEmpty ? Tensor(zeros: [0]) : slots[0]
        var second = slots.count > 1 ? slots[1] : Tensor(zeros: [0])
        slots = []
        defer { slots = [first, second].prefix(slotNames.count).map { $0 } }
        let alpha = lr * (1 - Foundation.pow(c.beta2, t)).squareRoot() / (1 - Foundation.pow(c.beta1, t))
        parameter.value.data.withUnsafeMutableBufferPointer { w in
            parameter.gradient.data.withUnsafeMutableBufferPointer { g in
                first.data.withUnsafeMutableBufferPointer { s0 in
                    second.data.withUnsafeMutableBufferPointer { s1 in
                        let p = SlotPointers(w: w.baseAddress!, g: g.baseAddress!, first: s0.baseAddress,
                                             second: s1.baseAddress)
                        Elementwise.forRanges(w.count) { range in
                            let (w, g) = (p.w, p.g)
                            switch c.name {
                            case .sgd:
                                guard c.momentum > 0, let m = p.first else {
                                    for i in range { w[i] -= lr * g[i] }
                                    return
                                }
                                for i in range {
                                    m[i] = c.momentum * m[i] - lr * g[i]
                                    w[i] += c.nesterov ? c.momentum * m[i] - lr * g[i] : m[i]
                                }
                            case .adam, .adamw:
                                Self.adam(w: w + range.lowerBound, g: g + range.lowerBound,
                                          m: p.first! + range.lowerBound, v: p.second! + range.lowerBound,
                                          count: range.count, alpha: alpha,
                                          decay: c.name == .adamw ? c.weightDecay * lr : 0, config: c)
                            case .rmsprop:
                                let v = p.first!
                                for i in range {
                                    v[i] = c.rho * v[i] + (1 - c.rho) * g[i] * g[i]
                                    w[i] -= lr * g[i] / (v[i] + c.epsilon).squareRoot()
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension Optimizer {
    /// Adam's (and AdamW's) update over one range, 16 lanes at a time.
    fileprivate static func adam(w: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>,
                                 m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count: Int,
                                 alpha: Float, decay: Float, config c: OptimizerConfig) {
        typealias Vector = SIMD16<Float>
        let (wr, gr, mr, vr) = (UnsafeMutableRawPointer(w), UnsafeRawPointer(g), UnsafeMutableRawPointer(m),
                                UnsafeMutableRawPointer(v))
        let (keep1, keep2) = (1 - c.beta1, 1 - c.beta2)
        var i = 0
        while i + 16 <= count {
            let offset = i * 4
            var wv = wr.loadUnaligned(fromByteOffset: offset, as: Vector.self)
            let gv = gr.loadUnaligned(fromByteOffset: offset, as: Vector.self)
            var mv = mr.loadUnaligned(fromByteOffset: offset, as: Vector.self)
            var vv = vr.loadUnaligned(fromByteOffset: offset, as: Vector.self)
            wv -= wv * decay
            mv += (gv - mv) * keep1
            vv += (gv * gv - vv) * keep2
            wv -= alpha * mv / (vv.squareRoot() + c.epsilon)
            wr.storeBytes(of: wv, toByteOffset: offset, as: Vector.self)
            mr.storeBytes(of: mv, toByteOffset: offset, as: Vector.self)
            vr.storeBytes(of: vv, toByteOffset: offset, as: Vector.self)
            i += 16
        }
        while i < count {
            w[i] -= w[i] * decay
            m[i] += (g[i] - m[i]) * keep1
            v[i] += (g[i] * g[i] - v[i]) * keep2
            w[i] -= alpha * m[i] / (v[i].squareRoot() + c.epsilon)
            i += 1
        }
    }
}

/// A parameter's buffers carried into the parallel parts of an update (each part owns its own range).
private struct SlotPointers: @unchecked Sendable {
    let w: UnsafeMutablePointer<Float>
    let g: UnsafeMutablePointer<Float>
    let first: UnsafeMutablePointer<Float>?
    let second: UnsafeMutablePointer<Float>?
}
