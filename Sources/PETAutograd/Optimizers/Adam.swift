import Foundation
import PETTensor

/// Adam (Kingma & Ba), step for step like torch.optim.Adam (amsgrad off): with t the parameter's step,
///   g ← g + wd·p;  m ← m + (1−β1)(g − m);  v ← β2·v + (1−β2)·g²
///   p ← p − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + ε)
/// Scalars in Double like Python's, tensors in Float. DCGAN: lr 2e-4, β1 0.5.
public final class Adam: Optimizer {
    public var beta1: Double, beta2: Double, eps: Double, weightDecay: Double
    public init(_ parameters: [(String, Variable)], learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                eps: Double = 1e-8, weightDecay: Double = 0) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        super.init(parameters, learningRate: learningRate, slotNames: ["exp_avg", "exp_avg_sq"])
    }

    override func update(_ p: Tensor, grad: Tensor, slots: [Tensor?], step: Int) {
        let m = slots[0]!.data, v = slots[1]!.data, pp = p.data, gp = grad.data
        let bc1 = 1 - Foundation.pow(beta1, Double(step)), bc2 = 1 - Foundation.pow(beta2, Double(step))
        let stepSize = Float(learningRate / bc1), bc2Sqrt = Float(bc2.squareRoot())
        let w1 = Float(1 - beta1), b2 = Float(beta2), w2 = Float(1 - beta2), e = Float(eps), wd = Float(weightDecay)
        let lerpHigh = (1 - beta1) >= 0.5
        Parallel.forRanges(p.count, minChunk: 1 << 15) { r in
            for i in r {
                var g = gp[i]
                if wd != 0 { g += wd * pp[i] }
                // torch's lerp: start + w·(end − start) for w < 0.5, else end − (end − start)·(1 − w)
                m[i] = lerpHigh ? g - (g - m[i]) * (1 - w1) : m[i] + w1 * (g - m[i])
                v[i] = v[i] * b2 + w2 * g * g
                let denom = v[i].squareRoot() / bc2Sqrt + e
                pp[i] += (-stepSize * m[i]) / denom   // torch addcdiv: (value·t1)/t2
            }
        }
    }
}
