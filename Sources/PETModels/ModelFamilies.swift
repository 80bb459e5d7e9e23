import Foundation
import PETAutograd
import PETTensor

// What a model family is (dimensionality, adversarial objective, default settings) and the
// objectives of the built-in families. A new family is one file that defines its `ModelFamily`
// (and its objective when the loss is new), registered by a case of `ModelKind` (and `LossKind`)
// in Kinds.swift; see HingeGAN.swift.

/// A model family of `petgan train --model`.
public struct ModelFamily: Sendable {
    /// 2 (slices) or 3 (volumes).
    public let dims: Int
    public let loss: LossKind
    /// One line for help texts, e.g. "gradient penalty".
    public let summary: String
    /// The networks' layout.
    public let layout: NetworkLayout
    /// The family's built-in defaults over `TrainConfig()` (the model field is already set).
    let defaults: @Sendable (inout TrainConfig) -> Void

    public init(dims: Int, loss: LossKind, summary: String, layout: NetworkLayout = .dcgan,
                defaults: @escaping @Sendable (inout TrainConfig) -> Void) {
        self.dims = dims; self.loss = loss; self.summary = summary; self.layout = layout; self.defaults = defaults
    }
}

/// How a family's generator and discriminator are built.
public enum NetworkLayout: Sendable {
    /// Networks.swift: projection + strided transposed convolutions; strided convolutions + head.
    case dcgan
    /// FastGAN.swift: GLU up-sampling blocks with skip-layer excitation; a discriminator with
    /// self-supervised decoders.
    case fastgan
    /// HAGAN.swift: a shared low-resolution trunk with a low-resolution head (whole volume) and a
    /// high-resolution head (one slab per step); a critic for each.
    case hierarchical

    func makeNetworks(config: TrainConfig, geometry: NetworkGeometry, rng: inout PETRandom) throws -> (Generator, Discriminator) {
        switch self {
        case .dcgan:
            return (Generator(geometry: geometry, zDim: config.zDim, channels: config.gChannels, rng: &rng),
                    Discriminator(geometry: geometry, channels: config.dChannels, norm: config.criticNorm, rng: &rng))
        case .fastgan:
            return (try FastGANGenerator(geometry: geometry, zDim: config.zDim, channels: config.gChannels, excitations: config.skipExcitations, rng: &rng),
                    try FastGANDiscriminator(geometry: geometry, channels: config.dChannels, norm: config.criticNorm,
                                             reconstructionWeight: config.reconstructionWeightValue, rng: &rng))
        case .hierarchical:
            return try makeHierarchicalNetworks(config: config, geometry: geometry, rng: &rng)
        }
    }

    /// What a training step reads from the data and runs.
    var trainingScheme: TrainingScheme {
        switch self {
        case .dcgan, .fastgan: return WholeItemScheme()
        case .hierarchical: return HierarchicalScheme()
        }
    }
}

/// What one training step reads and runs: `prepare` reads the step's real data (critic batches
/// `batches`, positions in the data; drawing from `rng` what the reading needs) and returns the
/// step on it, which the trainer times apart from the reading.
protocol TrainingScheme {
    func prepare(_ model: GANModel, data: TrainingData, batches: [[Int]], rng: inout PETRandom) throws -> (inout PETRandom) throws -> StepMetrics
}

/// Whole items (every model but the hierarchical one).
struct WholeItemScheme: TrainingScheme {
    func prepare(_ model: GANModel, data: TrainingData, batches: [[Int]], rng: inout PETRandom) throws -> (inout PETRandom) throws -> StepMetrics {
        let real = try batches.map { try data.batch($0) }
        return { rng in try model.trainStep(real: real, rng: &rng) }
    }
}

/// The losses of one adversarial objective and what the training step does around them. The
/// defaults (below) are a critic whose fake batch is generated without a graph, scored by raw
/// values, with nothing added to its loss and nothing done after its update.
public protocol AdversarialObjective: Sendable {
    /// Critic (discriminator) loss from its outputs on a real and a generated batch; minimized.
    func criticLoss(real: Variable, fake: Variable) throws -> Variable
    /// Generator loss from the critic's outputs on a generated batch; minimized.
    func generatorLoss(fake: Variable) throws -> Variable
    /// The critic step generates its batch with the generator's graph and the generator step reuses
    /// it, as the reference DCGAN loop does (otherwise: generated without a graph, and the generator
    /// step draws a new batch).
    var generatorReusesCriticBatch: Bool { get }
    /// The critic outputs logits of "real": reported as mean sigmoid (else as mean score).
    var scoresAreLogits: Bool { get }
    /// Accuracy threshold on scores (nil: the midpoint of the mean real and fake scores, for critics
    /// whose scores have no fixed zero).
    var accuracyThreshold: Float? { get }
    /// A term added to the critic loss that needs the critic itself (WGAN-GP's gradient penalty).
    func criticPenalty(critic: (Variable) throws -> Variable, real: Tensor, fake: Tensor, config: TrainConfig,
                       rng: inout PETRandom) throws -> Variable?
    /// Done after every critic update (WGAN's weight clipping).
    func afterCriticUpdate(_ critic: Discriminator, config: TrainConfig)
    /// Why the critic may not use batch norm, or nil when it may.
    var batchNormCriticRefusal: String? { get }
    /// Bytes a critic step holds besides the critic's graphs on the real and fake batches, given the
    /// generator's graph and one whole critic graph (RecomputePlan's estimate).
    func criticStepExtraBytes(generatorGraph: Int, wholeCritic: Int) -> Int
    /// Loss-curve title and the name of the mean score gap's curve (nil: not drawn).
    var curveTitle: String { get }
    var scoreGapCurve: String? { get }
    /// What the critic's scores mean, for evaluation reports.
    var scoreDescription: String { get }
}

extension AdversarialObjective {
    public var generatorReusesCriticBatch: Bool { false }
    public var scoresAreLogits: Bool { false }
    public var accuracyThreshold: Float? { nil }
    public func criticPenalty(critic: (Variable) throws -> Variable, real: Tensor, fake: Tensor, config: TrainConfig,
                              rng: inout PETRandom) throws -> Variable? { nil }
    public func afterCriticUpdate(_ critic: Discriminator, config: TrainConfig) {}
    public var batchNormCriticRefusal: String? { nil }
    public func criticStepExtraBytes(generatorGraph: Int, wholeCritic: Int) -> Int { generatorReusesCriticBatch ? generatorGraph : 0 }
    public var scoreGapCurve: String? { nil }
}

/// Original GAN losses on logits, non-saturating generator loss.
public struct BCEObjective: AdversarialObjective {
    public init() {}
    public func criticLoss(real: Variable, fake: Variable) throws -> Variable {
        try Loss.bceWithLogits(real, target: 1) + Loss.bceWithLogits(fake, target: 0)
    }
    public func generatorLoss(fake: Variable) throws -> Variable { try Loss.bceWithLogits(fake, target: 1) }
    public var generatorReusesCriticBatch: Bool { true }
    public var scoresAreLogits: Bool { true }
    public var accuracyThreshold: Float? { 0 }
    public var curveTitle: String { "BCE LOSSES" }
    public var scoreDescription: String { "discriminator (scores are logits)" }
}

/// Wasserstein critic, with the gradient penalty (WGAN-GP) or with weight clipping (WGAN).
public struct WassersteinObjective: AdversarialObjective {
    public let penalty: Bool
    public init(penalty: Bool) { self.penalty = penalty }
    public func criticLoss(real: Variable, fake: Variable) throws -> Variable { try Loss.wassersteinCritic(real: real, fake: fake) }
    public func generatorLoss(fake: Variable) throws -> Variable { try Loss.wassersteinGenerator(fake: fake) }
    public func criticPenalty(critic: (Variable) throws -> Variable, real: Tensor, fake: Tensor, config: TrainConfig,
                              rng: inout PETRandom) throws -> Variable? {
        guard penalty else { return nil }
        return try Loss.gradientPenalty(critic: critic, real: real, fake: fake, lambda: Float(config.gpLambda), rng: &rng)
    }
    public func afterCriticUpdate(_ critic: Discriminator, config: TrainConfig) {
        if !penalty { Init.clipWeights(critic, to: Float(config.clip)) }
    }
    public var batchNormCriticRefusal: String? {
        "a Wasserstein critic must not use batch norm (the penalty is per sample); use layer, instance or none"
    }
    /// The penalty's double backward holds about three more whole-critic graphs.
    public func criticStepExtraBytes(generatorGraph: Int, wholeCritic: Int) -> Int { penalty ? 3 * wholeCritic : 0 }
    public var curveTitle: String { "WASSERSTEIN CRITIC" }
    public var scoreGapCurve: String? { "W ESTIMATE" }
    public var scoreDescription: String { "WGAN critic (scores unbounded; the gap estimates the Wasserstein distance)" }
}

extension ModelFamily {
    /// A reduced 2D DCGAN for 32×32 slices; --preset paper2d gives the paper's full size.
    public static let dcgan2d = ModelFamily(dims: 2, loss: .bce, summary: "2D DCGAN, BCE losses") { c in
        c.gChannels = [128, 64, 32]; c.dChannels = [32, 64, 128]
        c.criticNorm = .batch; c.optimizer = .adam; c.lrG = 2e-4; c.lrD = 2e-4; c.beta1 = 0.5; c.beta2 = 0.999
        c.nCritic = 1; c.batch = 64; c.zDistribution = .uniform
    }
    public static let dcgan3d = ModelFamily(dims: 3, loss: .bce, summary: "3D DCGAN, BCE losses") { c in
        c.criticNorm = .batch; c.optimizer = .adam; c.lrG = 2e-4; c.lrD = 2e-4; c.beta1 = 0.5; c.beta2 = 0.999
        c.nCritic = 1
    }
    public static let wgan3d = ModelFamily(dims: 3, loss: .wganClip, summary: "weight clipping, RMSprop") { c in
        c.criticNorm = .none; c.optimizer = .rmsprop; c.lrG = 5e-5; c.lrD = 5e-5; c.nCritic = 5; c.clip = 0.01
    }
    public static let wgangp3d = ModelFamily(dims: 3, loss: .wganGP, summary: "gradient penalty") { c in
        c.criticNorm = .layer; c.optimizer = .adam; c.lrG = 1e-4; c.lrD = 1e-4; c.beta1 = 0.5; c.beta2 = 0.9
        c.nCritic = 5; c.gpLambda = 10
    }
}
