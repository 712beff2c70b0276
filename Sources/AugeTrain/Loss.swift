import Foundation

/// Softmax followed by weighted cross-entropy, averaged with the class weights:
/// loss = sum_n w[y_n] * -log p_n[y_n] / sum_n w[y_n].
enum SoftmaxCrossEntropy {
    /// Softmax of each row of `logits` (batch x classes) into `probabilities`.
    static func softmax(_ logits: UnsafePointer<Float>, batch: Int, classes: Int, into probabilities: UnsafeMutablePointer<Float>) {
        for n in 0..<batch {
            let z = logits + n * classes, p = probabilities + n * classes
            var largest = -Float.infinity
            for j in 0..<classes { largest = max(largest, z[j]) }
            var total: Float = 0
            for j in 0..<classes {
                p[j] = exp(z[j] - largest)
                total += p[j]
            }
            for j in 0..<classes { p[j] /= total }
        }
    }

    /// Returns the loss; writes the probabilities and the gradient with respect to the logits.
    static func evaluate(
        logits: UnsafePointer<Float>, labels: [Int], classWeights: [Float], classes: Int,
        probabilities: UnsafeMutablePointer<Float>, logitGradient: UnsafeMutablePointer<Float>
    ) -> Float {
        let batch = labels.count
        softmax(logits, batch: batch, classes: classes, into: probabilities)
        let weightSum = labels.reduce(Float(0)) { $0 + classWeights[$1] }
        var loss: Float = 0
        for (n, label) in labels.enumerated() {
            let p = probabilities + n * classes, g = logitGradient + n * classes
            let w = classWeights[label] / weightSum
            loss -= w * log(max(p[label], 1e-12))
            for j in 0..<classes { g[j] = w * (p[j] - (j == label ? 1 : 0)) }
        }
        return loss
    }
}
