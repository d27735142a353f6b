import Foundation

/// How the learning rate changes over training.
public enum ScheduleKind: Codable, Equatable, Sendable {
    case constant
    /// lr · rate^(step / decaySteps), the exponent floored when `staircase` (TensorFlow's exponential_decay).
    case exponentialDecay(decaySteps: Int, decayRate: Float, staircase: Bool)
    /// lr · factor^⌊step / every⌋.
    case step(every: Int, factor: Float)
    /// Cosine from lr down to lr·alpha over `decaySteps`, then flat.
    case cosine(decaySteps: Int, alpha: Float)
    /// lr scaled by `factor` whenever the watched metric has not improved by `minDelta` for `patience` epochs.
    case reduceOnPlateau(factor: Float, patience: Int, minDelta: Float, minLearningRate: Float)
}

/// A learning-rate schedule with its state (for reduce-on-plateau), saved in checkpoints.
public struct LearningRateSchedule: Codable, Equatable, Sendable {
    public let initial: Float
    public let kind: ScheduleKind
    /// Reduce-on-plateau's current multiplier, best metric and epochs without improvement.
    public private(set) var plateauScale: Float = 1
    public private(set) var best: Float?
    public private(set) var epochsWithoutImprovement = 0

    public init(initial: Float, kind: ScheduleKind = .constant) throws {
        guard initial > 0 && initial.isFinite else {
            throw EngineError.invalidHyperparameter(name: "learning_rate", reason: "must be > 0, got \(initial)")
        }
        switch kind {
        case .constant: break
        case .exponentialDecay(let steps, let rate, _):
            guard steps > 0, rate > 0 else {
                throw EngineError.invalidHyperparameter(name: "schedule", reason: "decay_steps and decay_rate must be > 0")
            }
        case .step(let every, let factor):
            guard every > 0, factor > 0 else {
                throw EngineError.invalidHyperparameter(name: "schedule", reason: "every and factor must be > 0")
            }
        case .cosine(let steps, let alpha):
            guard steps > 0, (0...1).contains(alpha) else {
                throw EngineError.invalidHyperparameter(name: "schedule", reason: "decay_steps > 0 and alpha in [0, 1]")
            }
        case .reduceOnPlateau(let factor, let patience, let minDelta, let minimum):
            guard factor > 0 && factor < 1, patience >= 0, minDelta >= 0, minimum >= 0 else {
                throw EngineError.invalidHyperparameter(
                    name: "schedule", reason: "factor in (0, 1), patience ≥ 0, min_delta ≥ 0, min_lr ≥ 0")
            }
        }
        self.initial = initial
        self.kind = kind
    }

    /// The rate for optimizer step `step` (0-based).
    public func rate(at step: Int) -> Float {
        let s = Float(step)
        switch kind {
        case .constant:
            return initial
        case .exponentialDecay(let steps, let rate, let staircase):
            let exponent = staircase ? (s / Float(steps)).rounded(.down) : s / Float(steps)
            return initial * Foundation.pow(rate, exponent)
        case .step(let every, let factor):
            return initial * Foundation.pow(factor, Float(step / every))
        case .cosine(let steps, let alpha):
            let progress = min(s, Float(steps)) / Float(steps)
            return initial * ((1 - alpha) * 0.5 * (1 + Foundation.cos(Float.pi * progress)) + alpha)
        case .reduceOnPlateau(_, _, _, let minimum):
            return max(initial * plateauScale, minimum)
        }
    }

    /// Tells reduce-on-plateau the epoch's metric (higher is better, e.g. test accuracy); other kinds ignore it.
    public mutating func observe(epochMetric value: Float) {
        guard case .reduceOnPlateau(let factor, let patience, let minDelta, _) = kind else { return }
        if let best, value <= best + minDelta {
            epochsWithoutImprovement += 1
            if epochsWithoutImprovement > patience {
                plateauScale *= factor
                epochsWithoutImprovement = 0
            }
        } else {
            best = value
            epochsWithoutImprovement = 0
        }
    }
}
