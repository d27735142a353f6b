import KennelTestSupport
import Testing
@testable import KennelEngine

/// Every op against TensorFlow 2.21's own outputs and gradients of sum(output · upstream).
struct ReferenceTests {
    static let layerCases = ReferenceCase.all.map(\.name).filter { name in
        ["conv2d", "maxpool", "avgpool", "globalavgpool", "dense", "relu", "sigmoid", "tanh", "leaky_relu", "lrn",
         "batchnorm"].contains { name.hasPrefix($0) }
    }

    /// The committed fixture is there and whole; a missing or damaged one fails here rather than leaving the
    /// parameterized tests below with no cases.
    @Test func referenceFixtureLoads() throws {
        let cases = try ReferenceCase.loaded.get()
        #expect(cases.count == 34)
        #expect(Self.layerCases.count == 21)
    }

    /// Builds the layer a case describes, loaded with the case's weights.
    private func layer(for reference: ReferenceCase) throws -> (Layer, [String: Parameter]) {
        let x = reference.inputs!["x"]!
        let input = Array(x.shape.dropFirst())
        var random = SeededRandom(seed: 1)
        let name = reference.name
        if name.hasPrefix("conv2d") {
            let k = Int(reference.attr("kernel")), s = Int(reference.attr("stride"))
            let conv = try ConvolutionLayer(
                name: "conv", input: input, filters: Int(reference.attr("filters")), kernel: (k, k), stride: (s, s),
                padding: reference.attrs!["padding"]!.text == "SAME" ? .same : .valid, initializer: .zeros,
                random: &random)
            conv.kernel.value = reference.inputs!["kernel"]!.tensor
            conv.bias.value = reference.inputs!["bias"]!.tensor
            return (conv, ["kernel": conv.kernel, "bias": conv.bias])
        }
        if name.hasPrefix("maxpool") || name.hasPrefix("avgpool") {
            let k = Int(reference.attr("size")), s = Int(reference.attr("stride"))
            return (try PoolingLayer(name: "pool", kind: name.hasPrefix("max") ? .max : .average, input: input,
                                     size: (k, k), stride: (s, s),
                                     padding: reference.attrs!["padding"]!.text == "SAME" ? .same : .valid), [:])
        }
        if name == "globalavgpool" { return (try GlobalAveragePoolingLayer(name: "gap", input: input), [:]) }
        if name == "dense" {
            let kernel = reference.inputs!["kernel"]!.tensor
            let dense = try DenseLayer(name: "dense", input: input, units: kernel.shape[1], initializer: .zeros,
                                       random: &random)
            dense.kernel.value = kernel
            dense.bias.value = reference.inputs!["bias"]!.tensor
            return (dense, ["kernel": dense.kernel, "bias": dense.bias])
        }
        if name.hasPrefix("lrn") {
            return (try LocalResponseNormalizationLayer(
                name: "lrn", input: input, depthRadius: Int(reference.attr("depth_radius")),
                bias: Float(reference.attr("bias")), alpha: Float(reference.attr("alpha")),
                beta: Float(reference.attr("beta"))), [:])
        }
        if name.hasPrefix("batchnorm") {
            let norm = try BatchNormalizationLayer(name: "bn", input: input, epsilon: Float(reference.attr("epsilon")))
            norm.gamma.value = reference.inputs!["gamma"]!.tensor
            norm.beta.value = reference.inputs!["beta"]!.tensor
            return (norm, ["gamma": norm.gamma, "beta": norm.beta])
        }
        let function: ActivationFunction = name == "relu" ? .relu : name == "sigmoid" ? .sigmoid
            : name == "tanh" ? .tanh : .leakyRelu(alpha: 0.2)
        return (ActivationLayer(name: name, function: function, input: input), [:])
    }

    @Test(arguments: layerCases)
    func layerMatchesTensorFlow(caseName: String) throws {
        let reference = try ReferenceCase.named(caseName)
        let (layer, parameters) = try layer(for: reference)
        let output = layer.forward(reference.inputs!["x"]!.tensor, training: true)
        let expected = try #require(reference.output?.array)
        #expect(output.shape == expected.shape)
        #expect(assertClose(output.data, expected.data, "\(caseName) output") == nil)
        let inputGradient = try #require(layer.backward(reference.upstream!.tensor, needsInputGradient: true))
        #expect(assertClose(inputGradient.data, reference.grads!["x"]!.data, "\(caseName) dx") == nil)
        for (key, parameter) in parameters {
            #expect(assertClose(parameter.gradient.data, reference.grads![key]!.data, "\(caseName) d\(key)") == nil)
        }
    }

    @Test func softmaxCrossEntropyMatchesTensorFlow() throws {
        let reference = try ReferenceCase.named("softmax_cross_entropy_mean")
        let labels = reference.inputs!["labels"]!.data.map { Int32($0) }
        let (loss, gradient, _) = SoftmaxCrossEntropy.evaluate(logits: reference.inputs!["logits"]!.tensor, labels: labels)
        #expect(assertClose([loss], reference.output!.array!.data, "loss") == nil)
        #expect(assertClose(gradient.data, reference.grads!["logits"]!.data, "dlogits") == nil)
    }

    @Test(arguments: ["optimizer_adam_lr0.01", "optimizer_sgd_momentum0.9_lr0.1", "optimizer_sgd_nesterov0.9_lr0.1",
                      "optimizer_rmsprop_lr0.01", "optimizer_adamw_lr0.01_wd0.1"])
    func optimizerStepsMatchKeras(caseName: String) throws {
        let reference = try ReferenceCase.named(caseName)
        let kind: OptimizerConfig.Kind = caseName.contains("adamw") ? .adamw : caseName.contains("adam") ? .adam
            : caseName.contains("rmsprop") ? .rmsprop : .sgd
        var config = OptimizerConfig(name: kind, learningRate: Float(reference.attr("learning_rate")))
        if kind == .sgd {
            config.momentum = Float(reference.attr("momentum"))
            config.nesterov = reference.attr("nesterov") == 1
        }
        if kind == .adamw { config.weightDecay = Float(reference.attr("weight_decay")) }
        let optimizer = try Optimizer(config)
        let parameter = Parameter(name: "w", value: reference.inputs!["w0"]!.tensor)
        let gradients = reference.inputs!["grads"]!.data
        let width = parameter.value.count
        for (step, expected) in try #require(reference.output?.steps).enumerated() {
            parameter.gradient = Tensor(shape: [width], data: Array(gradients[(step * width)..<((step + 1) * width)]))
            optimizer.apply(to: [parameter], learningRate: config.learningRate)
            #expect(assertClose(parameter.value.data, expected.data, "\(caseName) step \(step + 1)") == nil)
        }
    }

    @Test func exponentialDecayMatchesTensorFlow() throws {
        let reference = try ReferenceCase.named("exponential_decay")
        let steps = try #require(reference.output?.scheduleSteps)
        for (staircase, expected) in [(false, reference.output!.smooth!), (true, reference.output!.staircase!)] {
            let schedule = try LearningRateSchedule(
                initial: Float(reference.attr("initial")),
                kind: .exponentialDecay(decaySteps: Int(reference.attr("decay_steps")),
                                        decayRate: Float(reference.attr("decay_rate")), staircase: staircase))
            #expect(assertClose(steps.map(schedule.rate(at:)), expected.data, "staircase \(staircase)") == nil)
        }
    }
}
