import Foundation
import PETTensor

// GAN losses. All return a scalar (shape []) averaged over the batch.
public enum Loss {
    /// Binary cross-entropy on logits against a constant target (1 real, 0 fake, or a smoothed label),
    /// stable for any logit: mean(softplus(x) − x·t).
    public static func bceWithLogits(_ logits: Variable, target: Float) throws -> Variable {
        try (logits.softplus() - logits * target).mean()
    }

    /// Binary cross-entropy on logits against per-element targets of the same shape.
    public static func bceWithLogits(_ logits: Variable, targets: Tensor) throws -> Variable {
        guard targets.shape == logits.shape else {
            throw TensorError.shapeMismatch(op: "bce with logits", detail: "logits \(shapeString(logits.shape)) vs targets \(shapeString(targets.shape))")
        }
        return try (logits.softplus() - logits * Variable(targets)).mean()
    }

    /// Wasserstein critic loss: mean D(fake) − mean D(real) (minimized by the critic).
    public static func wassersteinCritic(real: Variable, fake: Variable) throws -> Variable {
        try fake.mean() - real.mean()
    }

    /// Wasserstein generator loss: −mean D(fake).
    public static func wassersteinGenerator(fake: Variable) throws -> Variable { -(try fake.mean()) }

    /// Hinge critic loss: mean relu(1 − D(real)) + mean relu(1 + D(fake)).
    public static func hingeCritic(real: Variable, fake: Variable) throws -> Variable {
        try (1 - real).relu().mean() + (1 + fake).relu().mean()
    }

    /// Hinge generator loss: −mean D(fake).
    public static func hingeGenerator(fake: Variable) throws -> Variable { -(try fake.mean()) }

    /// mean |a − b|
    public static func l1(_ a: Variable, _ b: Variable) throws -> Variable {
        guard a.shape == b.shape else { throw TensorError.shapeMismatch(op: "l1 loss", detail: "\(shapeString(a.shape)) vs \(shapeString(b.shape))") }
        return try (a - b).abs().mean()
    }

    /// mean (a − b)²
    public static func mse(_ a: Variable, _ b: Variable) throws -> Variable {
        guard a.shape == b.shape else { throw TensorError.shapeMismatch(op: "mse loss", detail: "\(shapeString(a.shape)) vs \(shapeString(b.shape))") }
        let d = try a - b
        return try (d * d).mean()
    }

    /// WGAN-GP gradient penalty (Gulrajani et al. 2017): x̂ = ε·real + (1 − ε)·fake with one ε ~ U[0,1)
    /// per sample drawn from `rng`, penalty λ · mean_n (‖∂D(x̂)/∂x̂‖₂ − 1)². The returned value is
    /// differentiable with respect to the critic's parameters (double backward).
    public static func gradientPenalty(critic: (Variable) throws -> Variable, real: Tensor, fake: Tensor,
                                       lambda: Float = 10, rng: inout PETRandom) throws -> Variable {
        guard real.shape == fake.shape, real.rank >= 2 else {
            throw TensorError.shapeMismatch(op: "gradient penalty", detail: "real \(shapeString(real.shape)) vs fake \(shapeString(fake.shape))")
        }
        let n = real.shape[0]
        var epsShape = [Int](repeating: 1, count: real.rank)
        epsShape[0] = n
        let eps = Tensor(shape: epsShape)
        for i in 0..<n { eps.data[i] = rng.uniform01() }
        return try gradientPenalty(critic: critic, real: real, fake: fake, epsilon: eps, lambda: lambda)
    }

    /// The penalty with given interpolation weights ε of shape (N, 1, ...).
    public static func gradientPenalty(critic: (Variable) throws -> Variable, real: Tensor, fake: Tensor,
                                       epsilon: Tensor, lambda: Float = 10) throws -> Variable {
        guard real.shape == fake.shape, real.rank >= 1 else {
            throw TensorError.shapeMismatch(op: "gradient penalty", detail: "real \(shapeString(real.shape)) vs fake \(shapeString(fake.shape))")
        }
        let n = real.shape[0]
        guard epsilon.shape == [n] + [Int](repeating: 1, count: real.rank - 1) else {
            throw TensorError.shapeMismatch(op: "gradient penalty", detail: "interpolation weights \(shapeString(epsilon.shape)) for a batch \(shapeString(real.shape)); expected one per sample")
        }
        // x̂ = fake + ε (real − fake), a new leaf (no gradient flows to the generator through it).
        let e = try broadcastKernel(epsilon, to: real.shape)
        let xhat = binaryKernel(binaryKernel(real, fake, .sub), e, .mul)
        addInPlace(xhat, fake)
        let x = Variable(xhat, requiresGrad: true)
        let score = try critic(x)
        let g = try grad(score.sum(), x, createGraph: true)
        let norms = try (g * g).reshaped([n, -1]).sum(axes: [1]).sqrt()
        let d = norms - 1
        return try (d * d).mean() * lambda
    }
}
