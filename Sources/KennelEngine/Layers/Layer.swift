/// A named tensor the model learns or keeps (`conv1.kernel`, `bn1.moving_mean`), with the gradient of the
/// last backward pass.
public final class Parameter {
    /// `layer.tensor`, the name checkpoints store it under.
    public let name: String
    public var value: Tensor
    public var gradient: Tensor
    /// False for state the optimizer must not touch (BatchNorm's moving statistics).
    public let trainable: Bool
    /// True for kernels, the only tensors L2 weight decay applies to.
    public let isKernel: Bool

    public init(name: String, value: Tensor, trainable: Bool = true, isKernel: Bool = false) {
        self.name = name
        self.value = value
        self.gradient = Tensor(zeros: value.shape)
        self.trainable = trainable
        self.isKernel = isKernel
    }
}

/// One layer of a sequential model: a forward pass and its backward pass side by side.
///
/// Shapes are per example (H, W, C or F); tensors passed in carry the batch as their first dimension. In
/// training mode `forward` keeps what `backward` needs; `backward` sets each parameter's gradient and returns
/// the gradient with respect to the input (nil when `needsInputGradient` is false, as for the first layer).
public protocol Layer: AnyObject {
    var name: String { get }
    /// What the layer is, for summaries (`conv2d 5×5/2 same`).
    var description: String { get }
    var inputShape: [Int] { get }
    var outputShape: [Int] { get }
    /// Learned tensors and kept state, in checkpoint order.
    var parameters: [Parameter] { get }
    func forward(_ input: consuming Tensor, training: Bool) -> Tensor
    func backward(_ outputGradient: consuming Tensor, needsInputGradient: Bool) -> Tensor?
}

extension Layer {
    public var parameters: [Parameter] { [] }
    /// Trainable values in this layer (Keras's "Param #" counts these plus kept state).
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
}
