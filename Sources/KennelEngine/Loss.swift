import Foundation

/// Mean softmax cross-entropy from logits with integer labels, computed with log-sum-exp so large logits
/// neither overflow nor lose precision.
public enum SoftmaxCrossEntropy {
    /// The mean loss over the batch, the gradient with respect to the logits, and how many rows the
    /// largest logit got right.
    public static func evaluate(logits: Tensor, labels: [Int32]) -> (loss: Float, gradient: Tensor, correct: Int) {
        let batch = logits.batch, classes = logits.itemCount
        precondition(labels.count == batch, "\(labels.count) labels for a batch of \(batch)")
        var gradient = Tensor(zeros: logits.shape)
        var total: Double = 0
        var correct = 0
        logits.data.withUnsafeBufferPointer { z in
            gradient.data.withUnsafeMutableBufferPointer { g in
                for row in 0..<batch {
                    let base = row * classes
                    var largest = z[base], best = 0
                    for k in 1..<classes where z[base + k] > largest { largest = z[base + k]; best = k }
                    var sum: Float = 0
                    for k in 0..<classes {
                        let e = Foundation.exp(z[base + k] - largest)
                        g[base + k] = e
                        sum += e
                    }
                    let label = Int(labels[row])
                    total += Double(Foundation.log(sum) + largest - z[base + label])
                    let scale = 1 / (sum * Float(batch))
                    for k in 0..<classes { g[base + k] *= scale }
                    g[base + label] -= 1 / Float(batch)
                    if best == label { correct += 1 }
                }
            }
        }
        return (Float(total / Double(batch)), gradient, correct)
    }

    /// Row-wise softmax of logits: class probabilities.
    public static func probabilities(_ logits: Tensor) -> Tensor {
        var result = logits
        let classes = logits.itemCount
        result.data.withUnsafeMutableBufferPointer { p in
            for base in stride(from: 0, to: p.count, by: classes) {
                var largest = p[base]
                for k in 1..<classes { largest = max(largest, p[base + k]) }
                var sum: Float = 0
                for k in 0..<classes { p[base + k] = Foundation.exp(p[base + k] - largest); sum += p[base + k] }
                for k in 0..<classes { p[base + k] /= sum }
            }
        }
        return result
    }
}
