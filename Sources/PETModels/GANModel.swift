import Foundation
import PETAutograd
import PETDistributed
import PETTensor
import PETVolumes

/// What one generator step measured (averaged over its critic iterations where it applies).
public struct StepMetrics: Codable, Equatable, Sendable {
    public var lossD: Double = 0
    public var lossG: Double = 0
    /// Logit discriminators (BCE): mean sigmoid(D(x)) on real and fake; critics: mean scores.
    public var dReal: Double = 0
    public var dFake: Double = 0
    /// mean D(real) − mean D(fake) of the critic (Wasserstein estimate; for BCE models the logit gap).
    public var wasserstein: Double = 0
    public var gradientPenalty: Double = 0
    /// L2 norms of the discriminator's (last critic iteration) and generator's parameter gradients.
    public var gradNormD: Double = 0
    public var gradNormG: Double = 0
    /// Fraction of real and fake samples the discriminator puts on the right side (BCE and hinge:
    /// score sign; Wasserstein: of the midpoint between the mean scores).
    public var accuracyD: Double = 0
    /// FastGAN: the discriminator's weighted reconstruction loss on real batches (part of lossD).
    public var reconstruction: Double = 0
    /// ADA's overfitting signal r = E[sign(D(real) − threshold)] over the step's real samples
    /// (threshold as for accuracyD), whether or not the run adapts its augmentation.
    public var realSign: Double = 0
    /// Adaptive augmentation (`adaptive` in --augment): the probability the next step applies each op with.
    public var augmentProbability: Double? = nil

    public var isFinite: Bool { [lossD, lossG, dReal, dFake, wasserstein, gradientPenalty, gradNormD, gradNormG].allSatisfy(\.isFinite) }
}

/// A GAN: generator, discriminator, their optimizers, and one training step.
public final class GANModel {
    public let config: TrainConfig
    public let geometry: NetworkGeometry
    public let generator: Generator
    public let discriminator: Discriminator
    public let optG: Optimizer
    public let optD: Optimizer
    /// The losses and step rules of the configuration's loss family.
    public let objective: AdversarialObjective
    /// The discriminator's differentiable augmentation (empty: none), applied to real and generated inputs.
    public let augmentation: AugmentPolicy
    /// The generator's moving average (nil when g_ema is 0).
    public private(set) var ema: GeneratorEMA?
    /// The augmentation's adaptive probability (nil unless the policy is `adaptive`).
    public private(set) var adaptiveAugmentation: AdaptiveAugmentation?
    /// Data-parallel training over MPI ranks (nil: this process alone, exactly as before). Each
    /// step's `real` batches are then this rank's share of the global batch (DataParallel.swift).
    public var dataParallel: DataParallel? {
        didSet {
            for net in [generator as Module, discriminator as Module] {
                if let dp = dataParallel { dp.attachBatchNorms(net) } else { detachBatchNorms(net) }
            }
        }
    }
    /// Under data parallelism: the lowest rank whose losses or gradients were NaN or infinite in the
    /// last step (before the reduction spread them), nil when every rank's were finite.
    public private(set) var nonFiniteRank: Int?

    /// Builds and initializes the networks from `config` (initialization drawn from `rng`).
    public init(config: TrainConfig, geometry: NetworkGeometry, rng: inout PETRandom) throws {
        try config.validate()
        try geometry.validate()
        guard geometry.layers == config.gChannels.count else {
            throw ConfigError.invalid("geometry has \(geometry.layers) layers but g_channels has \(config.gChannels.count)")
        }
        self.config = config
        self.geometry = geometry
        (generator, discriminator) = try config.model.family.layout.makeNetworks(config: config, geometry: geometry, rng: &rng)
        initializeWeights(generator, std: Float(config.initStd), rng: &rng)
        initializeWeights(discriminator, std: Float(config.initStd), rng: &rng)
        augmentation = config.augmentPolicy
        adaptiveAugmentation = augmentation.adaptiveTarget.map { AdaptiveAugmentation(target: $0, speedImages: config.augmentSpeedImages) }
        ema = config.generatorEMADecay > 0 ? GeneratorEMA(generator, decay: config.generatorEMADecay) : nil
        optG = config.optimizer.make(generator.namedParameters(prefix: "G"), learningRate: config.lrG, config: config)
        optD = config.optimizer.make(discriminator.namedParameters(prefix: "D"), learningRate: config.lrD, config: config)
        objective = config.loss.objective
    }

    // MARK: noise and conditioning

    /// (n, zDim) latent vectors: U[−1, 1] or N(0, 1) per the configuration.
    public func sampleNoise(_ n: Int, rng: inout PETRandom) -> Tensor {
        config.zDistribution.sample(n, config.zDim, rng: &rng)
    }

    /// Noise for a batch of `n` items: alone, `sampleNoise(n)`; under data parallelism, the rows of
    /// this rank's share of the global batch's noise (drawn whole on every rank, so the stream and
    /// the values do not depend on the number of ranks).
    func batchNoise(_ n: Int, rng: inout PETRandom) -> Tensor {
        guard let dp = dataParallel else { return sampleNoise(n, rng: &rng) }
        let all = sampleNoise(n * dp.size, rng: &rng)
        let zd = all.shape[1]
        let mine = Tensor(shape: [n, zd])
        mine.data.update(from: all.data + dp.rank * n * zd, count: n * zd)
        return mine
    }

    /// The objective's penalty with the random numbers the global batch would use: the rank's share
    /// of one uniform draw per global item (the gradient penalty's interpolation weights). A penalty
    /// that draws otherwise is refused rather than silently made N-dependent.
    func shardedPenalty(real x: Tensor, fake: Tensor, labels: [Int], rng: inout PETRandom) throws -> Variable? {
        try shardedPenalty(critic: { try self.discriminate($0, labels: labels) }, real: x, fake: fake, rng: &rng)
    }

    /// `shardedPenalty` of any critic (hagan3d's low-resolution and slab critics).
    func shardedPenalty(critic: (Variable) throws -> Variable, real x: Tensor, fake: Tensor, rng: inout PETRandom) throws -> Variable? {
        guard let dp = dataParallel else { return try objective.criticPenalty(critic: critic, real: x, fake: fake, config: config, rng: &rng) }
        let n = x.shape[0]
        func advanced(_ r: PETRandom, _ k: Int) -> PETRandom { var r = r; for _ in 0..<k { _ = r.next() }; return r }
        let atShare = advanced(rng, dp.rank * n)
        var r = atShare
        let p = try objective.criticPenalty(critic: critic, real: x, fake: fake, config: config, rng: &r)
        guard r != atShare else { return p }   // drew nothing
        guard r == advanced(atShare, n) else {
            throw ConfigError.invalid("the \(config.loss.rawValue) penalty draws other than one uniform number per item; data-parallel training cannot split it over ranks")
        }
        rng = advanced(rng, n * dp.size)
        return p
    }

    /// x (this rank's rows of a global batch) through the augmentation policy with the parameters the
    /// global batch would get in one process: every rank draws them for all N·size items from the
    /// same stream and keeps its own rows, as `batchNoise` does, so an augmented run does not depend
    /// on the number of ranks.
    func augmented(_ x: Variable, rng: inout PETRandom) throws -> Variable {
        guard !augmentation.isEmpty else { return x }
        let n = x.shape[0], spatial = Array(x.shape.dropFirst(2))
        let p = adaptiveAugmentation.map { Double($0.probability) }
        guard let dp = dataParallel, dp.size > 1 else { return try augmentation.apply(x, parameters: augmentation.draw(n: n, spatial: spatial, probability: p, rng: &rng)) }
        let all = augmentation.draw(n: n * dp.size, spatial: spatial, probability: p, rng: &rng)
        return try augmentation.apply(x, parameters: all.rows(dp.rank * n ..< (dp.rank + 1) * n))
    }

    /// The generator input: z joined with the one-hot class (conditional models).
    func generatorInput(_ z: Tensor, labels: [Int]) -> Variable {
        let k = geometry.conditionalClasses
        guard k > 0 else { return Variable(z) }
        let n = z.shape[0], zd = z.shape[1]
        let t = Tensor(shape: [n, zd + k])
        for i in 0..<n {
            (t.data + i * (zd + k)).update(from: z.data + i * zd, count: zd)
            t.data[i * (zd + k) + zd + labels[i]] = 1
        }
        return Variable(t)
    }

    /// The discriminator input: images joined with constant one-hot class channels (conditional models).
    func discriminatorInput(_ x: Variable, labels: [Int]) throws -> Variable {
        let k = geometry.conditionalClasses
        guard k > 0 else { return x }
        let n = x.shape[0], spatial = x.shape.dropFirst(2).reduce(1, *)
        let maps = Tensor(shape: [n, k] + Array(x.shape.dropFirst(2)))
        for i in 0..<n { (maps.data + (i * k + labels[i]) * spatial).update(repeating: 1, count: spatial) }
        return try concat([x, Variable(maps)], axis: 1)
    }

    public func generate(_ z: Tensor, labels: [Int]) throws -> Variable { try generator(generatorInput(z, labels: labels)) }

    public func discriminate(_ x: Variable, labels: [Int]) throws -> Variable { try discriminator(discriminatorInput(x, labels: labels)) }

    /// Samples in evaluation mode (batch-norm running statistics), without a graph; with the
    /// generator's moving average when the model keeps one, unless `raw`.
    public func sample(_ z: Tensor, labels: [Int], raw: Bool = false) throws -> Tensor {
        generator.eval()
        defer { generator.train() }
        let run = { try withNoGrad { try self.generate(z, labels: labels).value } }
        if let e = ema, !raw { return try e.withAverages(run) }
        return try run()
    }

    /// For a loaded model that samples: the moving average becomes the generator's weights (unless
    /// `raw`: the raw weights stay), and the average is dropped, so every way of sampling (tiled or
    /// not) uses the same weights. Returns which weights the generator now has.
    @discardableResult
    public func chooseSamplingWeights(raw: Bool) -> String {
        defer { ema = nil }
        guard let e = ema else { return "raw (the run kept no moving average)" }
        if raw { return "raw (--raw)" }
        e.install()
        return String(format: "moving average (g_ema %g)", e.decay)
    }

    // MARK: training

    /// One generator update, preceded by `nCritic` discriminator updates, one real batch each.
    /// `real[i]` is (N, C, image...) with its labels. Random numbers (noise, penalty interpolation)
    /// come from `rng`.
    public func trainStep(real: [(Tensor, [Int])], rng: inout PETRandom) throws -> StepMetrics {
        precondition(!real.isEmpty)
        if let (g, _) = hierarchicalNetworks {
            // Whole volumes given (benchmarks, data-parallel callers): cut to one slab per step (HAGAN.swift).
            let start = drawSlabStart(g.shape, rng: &rng)
            return try trainStep(hierarchical: real.map { hierarchicalBatch(whole: $0.0, labels: $0.1, shape: g.shape, slabStart: start) }, rng: &rng)
        }
        var m = StepMetrics()
        generator.train(); discriminator.train()
        var lastFake: Variable? = nil
        for (x, labels) in real {
            let (dm, fake) = try criticStep(real: x, labels: labels, rng: &rng)
            lastFake = fake
            m.lossD += dm.lossD; m.dReal += dm.dReal; m.dFake += dm.dFake; m.wasserstein += dm.wasserstein
            m.gradientPenalty += dm.gradientPenalty; m.accuracyD += dm.accuracyD; m.gradNormD = dm.gradNormD
            m.reconstruction += dm.reconstruction; m.realSign += dm.realSign
        }
        let k = Double(real.count)
        m.lossD /= k; m.dReal /= k; m.dFake /= k; m.wasserstein /= k; m.gradientPenalty /= k; m.accuracyD /= k
        m.reconstruction /= k; m.realSign /= k
        let (x, labels) = real[real.count - 1]
        let g = try generatorStep(fake: objective.generatorReusesCriticBatch ? lastFake : nil, batch: x.shape[0], labels: labels, rng: &rng)
        m.lossG = g.lossG
        m.gradNormG = g.gradNormG
        ema?.update()
        if let dp = dataParallel { m = try averaged(m, over: dp) }
        adaptAugmentation(&m, batches: real.count, samplesPerBatch: x.shape[0])
        return m
    }

    /// Feeds the step's (rank-averaged) r to the adaptive augmentation and notes its probability for
    /// the next step. Every rank holds the same averaged r, so every rank moves p the same way; r
    /// times the step's real samples is an integer (a sum of signs), recovered exactly by rounding
    /// whichever way the mean was formed, so the number of ranks does not change p.
    func adaptAugmentation(_ m: inout StepMetrics, batches: Int, samplesPerBatch n: Int) {
        guard adaptiveAugmentation != nil else { return }
        let samples = batches * n * (dataParallel?.size ?? 1)
        adaptiveAugmentation!.record(signs: Int((m.realSign * Double(samples)).rounded()), batches: batches, samples: samples)
        m.augmentProbability = Double(adaptiveAugmentation!.probability)
    }

    /// Loss and score metrics as means over the ranks (gradient norms are already of the averaged
    /// gradients); notes the first rank whose own values were not finite.
    func averaged(_ m: StepMetrics, over dp: DataParallel) throws -> StepMetrics {
        // This rank's own values: losses and scores are local here, the gradients were checked before
        // the reduction (after it every rank's norms hold the same NaN).
        let bad = dp.localNonFinite || ![m.lossD, m.lossG, m.dReal, m.dFake, m.wasserstein, m.gradientPenalty].allSatisfy(\.isFinite)
        dp.localNonFinite = false
        nonFiniteRank = try dp.group.firstRank(where: bad)
        let v = try dp.mean([m.lossD, m.lossG, m.dReal, m.dFake, m.wasserstein, m.gradientPenalty, m.accuracyD, m.realSign])
        var a = m
        (a.lossD, a.lossG, a.dReal, a.dFake, a.wasserstein, a.gradientPenalty, a.accuracyD) = (v[0], v[1], v[2], v[3], v[4], v[5], v[6])
        a.realSign = v[7]
        return a
    }

    /// One discriminator (critic) update on a real batch. Objectives whose generator step reuses the
    /// critic's batch (BCE, as the reference DCGAN loop does) return the generated batch with its
    /// graph; the others generate without a graph.
    public func criticStep(real x: Tensor, labels: [Int], rng: inout PETRandom) throws -> (StepMetrics, Variable?) {
        var m = StepMetrics()
        let n = x.shape[0]
        optD.zeroGrad()
        let realV = Variable(x)
        let z = batchNoise(n, rng: &rng)
        let reuse = objective.generatorReusesCriticBatch
        let fake = reuse ? try generate(z, labels: labels) : try withNoGrad { try generate(z, labels: labels) }
        // The same augmentation policy on both inputs, drawn independently (DiffAugment); the
        // generator's gradient flows through it in the generator step.
        let realIn = try augmented(realV, rng: &rng)
        let fakeIn = try augmented(reuse ? fake.detached() : fake, rng: &rng)
        let (dr, extra) = try discriminator.forwardReal(discriminatorInput(realIn, labels: labels), rng: &rng)
        let df = try discriminate(fakeIn, labels: labels)
        var lossD = try objective.criticLoss(real: dr, fake: df)
        if let e = extra {
            m.reconstruction = Double(e.scalar)
            lossD = try lossD + e
        }
        // The penalty interpolates between the inputs the critic saw (augmented when augmenting).
        if let penalty = try shardedPenalty(real: realIn.value, fake: fakeIn.value, labels: labels, rng: &rng) {
            m.gradientPenalty = Double(penalty.scalar)
            lossD = try lossD + penalty
        }
        if objective.scoresAreLogits {
            m.dReal = Double(mean(sigmoid: dr.value)); m.dFake = Double(mean(sigmoid: df.value))
        } else {
            m.dReal = Double(mean(dr.value)); m.dFake = Double(mean(df.value))
        }
        try lossD.backward()
        try dataParallel?.averageGradients(discriminator.parameters)
        m.lossD = Double(lossD.scalar)
        m.wasserstein = Double(mean(dr.value) - mean(df.value))
        m.accuracyD = accuracy(real: dr.value, fake: df.value, threshold: objective.accuracyThreshold)
        m.realSign = meanSign(real: dr.value, fake: df.value, threshold: objective.accuracyThreshold)
        m.gradNormD = gradNorm(discriminator.parameters)
        try optD.step()
        objective.afterCriticUpdate(discriminator, config: config)
        return (m, reuse ? fake : nil)
    }

    /// One generator update (the objective's generator loss). The discriminator's parameters
    /// are frozen meanwhile, so no weight gradients are computed for them.
    public func generatorStep(fake given: Variable?, batch n: Int, labels: [Int], rng: inout PETRandom) throws -> StepMetrics {
        var m = StepMetrics()
        optG.zeroGrad()
        let dParams = discriminator.parameters
        for p in dParams { p.requiringGrad(false) }
        defer { for p in dParams { p.requiringGrad(true) } }
        let fake = try given ?? generate(batchNoise(n, rng: &rng), labels: labels)
        let dg = try discriminate(augmented(fake, rng: &rng), labels: labels)
        let lossG = try objective.generatorLoss(fake: dg)
        try lossG.backward()
        try dataParallel?.averageGradients(generator.parameters)
        m.lossG = Double(lossG.scalar)
        m.gradNormG = gradNorm(generator.parameters)
        try optG.step()
        return m
    }

    // MARK: state

    /// Model parameters and buffers ("G.…", "D.…").
    public func tensors() -> [String: Tensor] {
        generator.stateDict(prefix: "G").merging(discriminator.stateDict(prefix: "D")) { a, _ in a }
            .merging(ema?.stateDict() ?? [:]) { a, _ in a }
            .merging(adaptiveAugmentation?.stateDict() ?? [:]) { a, _ in a }
    }

    public func load(tensors: [String: Tensor]) throws {
        try generator.loadStateDict(tensors, prefix: "G")
        try discriminator.loadStateDict(tensors, prefix: "D")
        try ema?.load(tensors)
        try adaptiveAugmentation?.load(tensors)
    }

    /// The names and shapes a checkpoint of this model must hold (optimizer state included when
    /// `optimizers` is true).
    public func manifest(optimizers: Bool, rngs: Set<String>) -> Checkpoint.Manifest {
        var m = Checkpoint.Manifest()
        // Shapes only: copying every tensor here cost a third of a large model's load peak.
        m.tensors = generator.stateShapes(prefix: "G").merging(discriminator.stateShapes(prefix: "D")) { a, _ in a }
            .merging(ema?.stateShapes() ?? [:]) { a, _ in a }
            .merging(adaptiveAugmentation == nil ? [:] : AdaptiveAugmentation.stateShapes) { a, _ in a }
        m.rngs = rngs
        _ = optimizers
        return m
    }

    /// A readable table of the layers: name, output shape and parameter shapes.
    public func layerTable() throws -> [(String, [Int])] {
        var gTrace: [(String, [Int])] = [], dTrace: [(String, [Int])] = []
        let n = 2
        var rng = PETRandom(seed: 0)
        generator.eval(); discriminator.eval()
        defer { generator.train(); discriminator.train() }
        try withNoGrad {
            let z = generatorInput(sampleNoise(n, rng: &rng), labels: [Int](repeating: 0, count: n))
            let x: Variable
            (x, gTrace) = try generator.traced(z)
            dTrace = try discriminator.traced(try discriminatorInput(x, labels: [Int](repeating: 0, count: n))).1
        }
        return gTrace.map { ("G." + $0.0, $0.1) } + dTrace.map { ("D." + $0.0, $0.1) }
    }
}

func mean(_ t: Tensor) -> Float {
    var s: Double = 0
    for i in 0..<t.count { s += Double(t.data[i]) }
    return Float(s / Double(max(1, t.count)))
}

func mean(sigmoid t: Tensor) -> Float {
    var s: Double = 0
    for i in 0..<t.count { s += 1 / (1 + Foundation.exp(-Double(t.data[i]))) }
    return Float(s / Double(max(1, t.count)))
}

/// Fraction classified correctly: by sign for BCE logits and hinge scores (threshold 0); Wasserstein
/// scores have no fixed zero, so there the threshold is the midpoint of the two mean scores.
func accuracy(real: Tensor, fake: Tensor, threshold: Float?) -> Double {
    let t = threshold ?? (mean(real) + mean(fake)) / 2
    var ok = 0
    for i in 0..<real.count where real.data[i] > t { ok += 1 }
    for i in 0..<fake.count where fake.data[i] < t { ok += 1 }
    return Double(ok) / Double(max(1, real.count + fake.count))
}

func gradNorm(_ params: [Variable]) -> Double {
    var s: Double = 0
    for p in params { if let g = p.grad { for i in 0..<g.count { s += Double(g.data[i]) * Double(g.data[i]) } } }
    return s.squareRoot()
}

func detachBatchNorms(_ module: Module) {
    if let bn = module as? BatchNorm { bn.replicaReducer = nil }
    for (_, child) in module.namedChildren { detachBatchNorms(child) }
}
