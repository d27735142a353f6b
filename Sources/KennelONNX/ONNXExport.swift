import Foundation
import KennelEngine
import SwiftProtobuf

/// Why a model could not be written as ONNX.
public enum ONNXExportError: Error, Equatable, CustomStringConvertible {
    case unsupportedLayer(String)

    public var description: String {
        switch self {
        case .unsupportedLayer(let layer): "layer '\(layer)' has no ONNX equivalent Kennel writes"
        }
    }
}

/// Writes a model's inference graph as an ONNX model (opset 17): what every runtime reads.
///
/// The graph takes `input`, `[N, H, W, C]` float pixels scaled to 0…1 as Kennel's preprocessing leaves them, and
/// gives `probabilities`, `[N, classes]`. Inside it computes in NCHW, the layout ONNX's operators define: one
/// Transpose after the input, and one back to NHWC before a Flatten, so the flattened order (and with it every dense
/// kernel) is Kennel's. Dropout is left out (identity at inference); batch normalization stays a node of its own.
/// The labels and the preprocessing go in `metadata_props`.
public enum ONNXExport {
    public static let opset: Int64 = 17

    /// The serialized `ModelProto` for `model`. `metadata` adds entries to `metadata_props` (name, version, …).
    public static func serialized(_ model: Model, labels: [String], preprocessing: [String: String],
                                  metadata: [String: String] = [:]) throws -> [UInt8] {
        var builder = GraphBuilder()
        let shape = model.inputShape
        var current = builder.node("Transpose", ["input"], ["perm": .ints([0, 3, 1, 2])])
        var spatial = true
        for layer in model.layers {
            switch layer {
            case let convolution as ConvolutionLayer:
                let geometry = convolution.geometry
                let kernel = convolution.kernel.value  // [kh, kw, in, out] → ONNX's [out, in, kh, kw]
                let weights = builder.initializer("\(convolution.name).kernel",
                                                  transposed(kernel, [3, 2, 0, 1]), shape: [3, 2, 0, 1].map { kernel.shape[$0] })
                let bias = builder.initializer("\(convolution.name).bias", convolution.bias.value.data,
                                               shape: convolution.bias.value.shape)
                current = builder.node("Conv", [current, weights, bias], [
                    "kernel_shape": .ints([geometry.kernelHeight, geometry.kernelWidth]),
                    "strides": .ints([geometry.strideY, geometry.strideX]),
                    "pads": .ints(pads(geometry)),
                ])
            case let pooling as PoolingLayer:
                let geometry = pooling.geometry
                current = builder.node(pooling.kind == .max ? "MaxPool" : "AveragePool", [current], [
                    "kernel_shape": .ints([geometry.kernelHeight, geometry.kernelWidth]),
                    "strides": .ints([geometry.strideY, geometry.strideX]),
                    "pads": .ints(pads(geometry)),
                ])
            case is GlobalAveragePoolingLayer:
                current = builder.node("GlobalAveragePool", [current])
                current = builder.node("Flatten", [current], ["axis": .int(1)])
                spatial = false
            case is FlattenLayer:
                if spatial { current = builder.node("Transpose", [current], ["perm": .ints([0, 2, 3, 1])]) }
                current = builder.node("Flatten", [current], ["axis": .int(1)])
                spatial = false
            case let dense as DenseLayer:
                let weights = builder.initializer("\(dense.name).kernel", dense.kernel.value.data, shape: dense.kernel.value.shape)
                let bias = builder.initializer("\(dense.name).bias", dense.bias.value.data, shape: dense.bias.value.shape)
                current = builder.node("Gemm", [current, weights, bias])
            case let normalization as BatchNormalizationLayer:
                let inputs = [normalization.gamma, normalization.beta, normalization.movingMean, normalization.movingVariance]
                    .map { builder.initializer($0.name, $0.value.data, shape: $0.value.shape) }
                current = builder.node("BatchNormalization", [current] + inputs,
                                       ["epsilon": .float(normalization.epsilon)])
            case let lrn as LocalResponseNormalizationLayer:
                // TensorFlow sums squares over 2r+1 channels times alpha; ONNX averages them over `size` first.
                let size = 2 * lrn.depthRadius + 1
                current = builder.node("LRN", [current], ["size": .int(size), "alpha": .float(lrn.alpha * Float(size)),
                                                          "beta": .float(lrn.beta), "bias": .float(lrn.bias)])
            case let activation as ActivationLayer:
                switch activation.function {
                case .relu: current = builder.node("Relu", [current])
                case .leakyRelu(let alpha): current = builder.node("LeakyRelu", [current], ["alpha": .float(alpha)])
                case .sigmoid: current = builder.node("Sigmoid", [current])
                case .tanh: current = builder.node("Tanh", [current])
                }
            case is DropoutLayer:
                continue
            default:
                throw ONNXExportError.unsupportedLayer(layer.description)
            }
        }
        builder.node("Softmax", [current], ["axis": .int(-1)], output: "probabilities")

        var graph = builder.graph
        graph.name = metadata["name"] ?? "kennel"
        graph.input = [valueInfo("input", dimensions: [nil] + shape)]
        graph.output = [valueInfo("probabilities", dimensions: [nil, model.classCount])]
        var proto = Onnx_ModelProto()
        proto.irVersion = 8
        proto.producerName = "kennel"
        proto.graph = graph
        var operatorSet = Onnx_OperatorSetIdProto()
        operatorSet.domain = ""
        operatorSet.version = opset
        proto.opsetImport = [operatorSet]
        let labelsJSON = String(decoding: try JSONEncoder().encode(labels), as: UTF8.self)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let preprocessingJSON = String(decoding: try encoder.encode(preprocessing), as: UTF8.self)
        let properties = metadata.merging(["labels": labelsJSON, "preprocessing": preprocessingJSON,
                                           "input_scale": "pixels / 255, NHWC"]) { _, fixed in fixed }
        proto.metadataProps = properties.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        return [UInt8](try proto.serializedBytes() as Data)
    }

    /// ONNX's pads, `[top, left, bottom, right]`; the bottom and right are whatever the output size needs.
    private static func pads(_ geometry: WindowGeometry) -> [Int] {
        let bottom = max((geometry.outputHeight - 1) * geometry.strideY + geometry.kernelHeight
                         - geometry.inputHeight - geometry.padTop, 0)
        let right = max((geometry.outputWidth - 1) * geometry.strideX + geometry.kernelWidth
                        - geometry.inputWidth - geometry.padLeft, 0)
        return [geometry.padTop, geometry.padLeft, bottom, right]
    }

    /// `tensor`'s values with its axes permuted (`axes[i]` is the source axis of output axis i).
    private static func transposed(_ tensor: Tensor, _ axes: [Int]) -> [Float] {
        let shape = tensor.shape
        let outputShape = axes.map { shape[$0] }
        var sourceStrides = [Int](repeating: 1, count: shape.count)
        for axis in stride(from: shape.count - 2, through: 0, by: -1) { sourceStrides[axis] = sourceStrides[axis + 1] * shape[axis + 1] }
        let strides = axes.map { sourceStrides[$0] }
        var output = [Float](repeating: 0, count: tensor.data.count)
        var index = [Int](repeating: 0, count: shape.count)
        for position in output.indices {
            output[position] = tensor.data[zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 }]
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < outputShape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return output
    }

    /// A float tensor's value info; nil dimensions are the batch, named `N`.
    private static func valueInfo(_ name: String, dimensions: [Int?]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = dimensions.map { size in
            var dimension = Onnx_TensorShapeProto.Dimension()
            if let size { dimension.dimValue = Int64(size) } else { dimension.dimParam = "N" }
            return dimension
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }
}

/// A node's attribute value.
private enum Attribute {
    case int(Int)
    case ints([Int])
    case float(Float)
}

/// Gathers nodes and weights, naming each node's output after the node.
private struct GraphBuilder {
    var graph = Onnx_GraphProto()

    /// Adds a node of `operation` and returns its output's name.
    @discardableResult
    mutating func node(_ operation: String, _ inputs: [String], _ attributes: [String: Attribute] = [:],
                       output: String? = nil) -> String {
        var node = Onnx_NodeProto()
        node.opType = operation
        node.name = "\(operation.lowercased())_\(graph.node.count)"
        node.input = inputs
        node.output = [output ?? node.name]
        node.attribute = attributes.sorted { $0.key < $1.key }.map { name, value in
            var attribute = Onnx_AttributeProto()
            attribute.name = name
            switch value {
            case .int(let number):
                attribute.type = .int
                attribute.i = Int64(number)
            case .ints(let numbers):
                attribute.type = .ints
                attribute.ints = numbers.map(Int64.init)
            case .float(let number):
                attribute.type = .float
                attribute.f = number
            }
            return attribute
        }
        graph.node.append(node)
        return node.output[0]
    }

    /// Adds a float weight tensor (raw little-endian data) and returns its name.
    mutating func initializer(_ name: String, _ values: [Float], shape: [Int]) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.dims = shape.map(Int64.init)
        tensor.rawData = values.withUnsafeBytes { Data($0) }
        graph.initializer.append(tensor)
        return name
    }
}
