import Foundation
import PETTensor

/// RMSprop like torch.optim.RMSprop (WGAN with clipping: lr 5e-5):
///   g ← g + wd·p;  v ← α·v + (1−α)·g²;  avg = √v + ε  (centered: √(v − ḡ²) + ε with ḡ ← α·ḡ + (1−α)·g)
///   momentum > 0: b ← μ·b + g/avg, p ← p − lr·b;  else p ← p − lr·g/avg
public final class RMSprop: Optimizer {
    public let alpha: Double, eps: Double, weightDecay: Double, momentum: Double, centered: Bool
    public init(_ parameters: [(String, Variable)], learningRate: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8,
                weightDecay: Double = 0, momentum: Double = 0, centered: Bool = false) {
        self.alpha = alpha; self.eps = eps; self.weightDecay = weightDecay; self.momentum = momentum; self.centered = centered
        super.init(parameters, learningRate: learningRate, slotNames: ["square_avg", "momentum_buffer", "grad_avg"])
    }

    override func slotIsUsed(_ s: Int) -> Bool { s == 0 || (s == 1 && momentum > 0) || (s == 2 && centered) }

    override func update(_ p: Tensor, grad: Tensor, slots: [Tensor?], step: Int) {
        let v = slots[0]!.data, pp = p.data, gp = grad.data
        let buf = slots[1]?.data, gavg = slots[2]?.data
        let a = Float(alpha), w = Float(1 - alpha), e = Float(eps), wd = Float(weightDecay), mu = Float(momentum), lr = Float(learningRate)
        Parallel.forRanges(p.count, minChunk: 1 << 15) { r in
            for i in r {
                var g = gp[i]
                if wd != 0 { g += wd * pp[i] }
                v[i] = v[i] * a + w * g * g
                var avg: Float
                if let ga = gavg {
                    // torch: grad_avg.lerp_(grad, 1 − α); avg = (v − ḡ²).sqrt() + ε
                    ga[i] = w >= 0.5 ? g - (g - ga[i]) * (1 - w) : ga[i] + w * (g - ga[i])
                    avg = (v[i] - ga[i] * ga[i]).squareRoot() + e
                } else {
                    avg = v[i].squareRoot() + e
                }
                if let b = buf {
                    b[i] = b[i] * mu + g / avg
                    pp[i] += -lr * b[i]
                } else {
                    pp[i] += (-lr * g) / avg
                }
            }
        }
    }
}
