import Foundation
import PETAutograd
import PETTensor

// The hinge-loss GAN (`--model hinge3d`), the loss of SAGAN (Zhang et al. 2019) and BigGAN (Brock et
// al. 2019) as their PyTorch implementations write it:
//   D: mean(relu(1 − D(x))) + mean(relu(1 + D(G(z))))      G: −mean(D(G(z)))
// The whole variant is this file plus its cases in Kinds.swift (ModelKind.hinge3d, LossKind.hinge).

/// Hinge critic: real scores pushed above +1, generated ones below −1; the generator raises the
/// critic's score of its samples. The critic sees a batch generated without a graph.
public struct HingeObjective: AdversarialObjective {
    public init() {}
    public func criticLoss(real: Variable, fake: Variable) throws -> Variable { try Loss.hingeCritic(real: real, fake: fake) }
    public func generatorLoss(fake: Variable) throws -> Variable { try Loss.hingeGenerator(fake: fake) }
    /// The margins are at ±1 around 0, so the sign of a score is the critic's decision.
    public var accuracyThreshold: Float? { 0 }
    public var curveTitle: String { "HINGE LOSSES" }
    public var scoreGapCurve: String? { "SCORE GAP" }
    public var scoreDescription: String { "hinge critic (scores unbounded; trained towards +1 on real and −1 on synthetic)" }
}

extension ModelFamily {
    /// SAGAN's recipe: Adam β = (0, 0.9), two time-scale learning rates (G 1e-4, D 4e-4), one critic
    /// update per generator update; layer norm in the critic (PETGAN has no spectral norm).
    public static let hinge3d = ModelFamily(dims: 3, loss: .hinge, summary: "hinge loss, SAGAN/BigGAN") { c in
        c.criticNorm = .layer; c.optimizer = .adam; c.lrG = 1e-4; c.lrD = 4e-4; c.beta1 = 0; c.beta2 = 0.9
        c.nCritic = 1
    }
}
