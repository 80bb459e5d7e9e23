import Foundation
import PETAutograd
import PETTensor

// The choices of a training run, as enums. Their raw values are the spellings of the YAML settings,
// the command line and the run records inside checkpoints (so records written as strings read back).
// Each enum has one exhaustive `switch` that says what a case means; a new case makes the compiler
// point at exactly that switch. Everything else asks the enum (or the objective it maps to).

/// A setting whose value is one of a fixed set of names.
public protocol SettingChoice: RawRepresentable, CaseIterable, Codable, Sendable where RawValue == String {}

extension SettingChoice {
    /// "a or b", "a, b, c or d": the allowed values in declaration order, for error messages.
    public static var choiceList: String {
        let names = allCases.map(\.rawValue)
        return names.count <= 1 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
    }
}

/// The model families of `petgan train --model`.
public enum ModelKind: String, SettingChoice {
    /// 2D DCGAN (Islam & Zhang 2020 layout): FC + strided ConvTranspose2d k5, BCE losses.
    case dcgan2d
    /// 3D DCGAN: projection + ConvTranspose3d k4 s2 p1, batch norm, BCE losses.
    case dcgan3d
    /// 3D WGAN with weight clipping and RMSprop (Arjovsky et al. 2017; Han et al. 2018).
    case wgan3d
    /// 3D WGAN-GP (Gulrajani et al. 2017): gradient penalty with exact double backward.
    case wgangp3d
    /// 3D GAN with the hinge loss (SAGAN / BigGAN); HingeGAN.swift.
    case hinge3d
    /// 2D / 3D conditional FastGAN (Liu et al. 2021, as Werner et al. 2022 used it); FastGAN.swift.
    case fastgan2d
    case fastgan3d
    /// 3D hierarchical GAN (Sun et al. 2022, HA-GAN): low-resolution whole + high-resolution slab; HAGAN.swift.
    case hagan3d

    /// What the family is: dimensionality, loss and default settings (ModelFamilies.swift and one
    /// file per added variant).
    public var family: ModelFamily {
        switch self {
        case .dcgan2d: return .dcgan2d
        case .dcgan3d: return .dcgan3d
        case .wgan3d: return .wgan3d
        case .wgangp3d: return .wgangp3d
        case .hinge3d: return .hinge3d
        case .fastgan2d: return .fastgan2d
        case .fastgan3d: return .fastgan3d
        case .hagan3d: return .hagan3d
        }
    }

    public var isThreeD: Bool { family.dims == 3 }
    public var loss: LossKind { family.loss }

    /// "dcgan2d (…), dcgan3d (…) or …": every model with its one-line summary, for help texts.
    public static var helpList: String {
        let items = allCases.map { "\($0.rawValue) (\($0.family.summary))" }
        return items.dropLast().joined(separator: ", ") + " or " + items.last!
    }
}

/// Adversarial objectives.
public enum LossKind: String, SettingChoice {
    /// Original GAN losses, non-saturating generator loss (BCE on logits).
    case bce
    /// Wasserstein critic with gradient penalty.
    case wganGP = "wgan-gp"
    /// Wasserstein critic with weight clipping.
    case wganClip = "wgan-clip"
    /// Hinge critic loss (SAGAN / BigGAN); HingeGAN.swift.
    case hinge

    /// The critic and generator losses and what the training step does around them.
    public var objective: AdversarialObjective {
        switch self {
        case .bce: return BCEObjective()
        case .wganGP: return WassersteinObjective(penalty: true)
        case .wganClip: return WassersteinObjective(penalty: false)
        case .hinge: return HingeObjective()
        }
    }
}

/// The optimizer of both networks.
public enum OptimizerKind: String, SettingChoice {
    case adam
    case rmsprop

    /// The optimizer for `parameters` with this run's hyper-parameters.
    public func make(_ parameters: [(String, Variable)], learningRate: Double, config: TrainConfig) -> Optimizer {
        switch self {
        case .adam: return Adam(parameters, learningRate: learningRate, beta1: config.beta1, beta2: config.beta2)
        case .rmsprop: return RMSprop(parameters, learningRate: learningRate, alpha: config.rmsAlpha)
        }
    }
}

/// The discriminator's normalization after every strided convolution but the first.
public enum CriticNorm: String, SettingChoice {
    case batch
    case layer
    case instance
    /// No normalization (identity).
    case none
}

/// The distribution of the latent vectors z.
public enum ZDistribution: String, SettingChoice {
    /// U[−1, 1] (the paper).
    case uniform
    /// N(0, 1).
    case normal

    /// (n, dim) latent vectors.
    public func sample(_ n: Int, _ dim: Int, rng: inout PETRandom) -> Tensor {
        switch self {
        case .uniform: return Tensor.uniform([n, dim], low: -1, high: 1, rng: &rng)
        case .normal: return Tensor.normal([n, dim], rng: &rng)
        }
    }
}
