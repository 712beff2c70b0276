import Foundation

/// The update rule. Both decouple weight decay from the gradient (applied to weights only).
public enum OptimizerKind: String, Codable, Sendable, CaseIterable {
    /// Adam with decoupled weight decay (Loshchilov and Hutter).
    case adamw
    /// Stochastic gradient descent with (heavy-ball) momentum.
    case sgd
}

public struct OptimizerSettings: Codable, Sendable, Equatable {
    public var kind: OptimizerKind
    public var learningRate: Float
    public var weightDecay: Float
    /// Adam's beta1, or SGD's momentum.
    public var momentum: Float
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8

    public init(kind: OptimizerKind = .adamw, learningRate: Float = 3e-3, weightDecay: Float = 1e-4, momentum: Float = 0.9) {
        self.kind = kind
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.momentum = momentum
    }
}

/// Applies one update per step to every parameter, from the gradients `backward` left in them.
struct Optimizer {
    var settings: OptimizerSettings
    /// Steps taken so far (Adam's bias correction needs it; checkpoints keep it).
    var step = 0

    mutating func update(_ parameters: [Parameter], learningRate: Float) {
        step += 1
        let s = settings
        let correction1 = 1 - pow(s.momentum, Float(step)), correction2 = 1 - pow(s.beta2, Float(step))
        for parameter in parameters {
            let learningRate = learningRate * parameter.learningRateScale
            let w = parameter.value.pointer, g = parameter.gradient.pointer
            let m = parameter.firstMoment.pointer, v = parameter.secondMoment.pointer
            let decay = parameter.decays ? 1 - learningRate * s.weightDecay : 1
            switch s.kind {
            case .adamw:
                let stepSize = learningRate / correction1
                for i in 0..<parameter.count {
                    m[i] = s.momentum * m[i] + (1 - s.momentum) * g[i]
                    v[i] = s.beta2 * v[i] + (1 - s.beta2) * g[i] * g[i]
                    w[i] = w[i] * decay - stepSize * m[i] / ((v[i] / correction2).squareRoot() + s.epsilon)
                }
            case .sgd:
                for i in 0..<parameter.count {
                    m[i] = s.momentum * m[i] + g[i]
                    w[i] = w[i] * decay - learningRate * m[i]
                }
            }
        }
    }
}

/// Linear warm-up from 0 to the peak rate, then cosine decay to `floor` times the peak.
public struct LearningRateSchedule: Sendable, Equatable {
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var floor: Float = 0.01

    public init(peak: Float, warmupSteps: Int, totalSteps: Int) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = max(totalSteps, 1)
    }

    public func rate(atStep step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let progress = Float(step - warmupSteps) / Float(max(1, totalSteps - warmupSteps))
        let cosine = 0.5 * (1 + cos(Float.pi * min(1, progress)))
        return peak * (floor + (1 - floor) * cosine)
    }
}
