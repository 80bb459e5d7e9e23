import Foundation
import PETAutograd
import PETTensor
import PETVolumes

// The hierarchical amortized GAN (`--model hagan3d`) after HA-GAN (Sun, Chen, Xu, Gong, Yu &
// Batmanghelich, "Hierarchical amortized GAN for 3D high resolution medical image synthesis", IEEE
// J Biomed Health Inform 26(8):3966–3975, 2022, doi 10.1109/JBHI.2022.3172976; official code
// github:batmanlab/HA-GAN), which trains 256³ volumes by rendering only a sub-volume at full
// resolution per step.
//
// Generator (L = g_channels.count up-samplings, f = lowres_factor = 2^h, grid = base × 2^L):
//   shared trunk   [z, one-hot class] → projection → bn0 → ReLU → the first L − h up-sampling blocks
//                  of the DCGAN generator (transposed conv k4 s2 p1 → batch norm → ReLU): features
//                  at 1/f of the grid;
//   low head       conv k3 p1 → tanh on the trunk's features: the whole volume at 1/f;
//   high head      the last h up-sampling blocks (the last → tanh) on the rows of the trunk's
//                  features a slab needs: a slab of `slab_depth` rows along the first spatial axis
//                  (axis 0 of the store's volumes) at full resolution. The rows needed are the
//                  slab's receptive field (its halo), walked back through the head's transposed
//                  convolutions; each block's output is cut to the rows the next one needs before its
//                  norm (so training-mode batch norm sees exact values only), the last to the slab.
//   Trunk + high head over every row is the DCGAN generator itself, so at the shared levels its
//   widths are those of wgangp3d with the same g_channels. Generation runs the trunk whole (small)
//   and the high head tile by tile through PETTiling (the halo is the tiled stack's own region
//   arithmetic), within --memory-budget; with no budget as one tile.
// Critics (d_channels, L_d = its count): the high critic is the DCGAN critic on
//   [slab, position, class channels], position a constant channel start/D; the low critic is the
//   DCGAN critic on [low-resolution whole, class channels] with the last L − h widths of d_channels
//   (those at the same resolutions). As in HA-GAN's Discriminator.forward, the score is the mean of
//   the two logits.
// Per step: one slab start k drawn from the run's noise stream (saved in checkpoints), uniform over
//   every row 0 ... D − depth as HA-GAN's train.py draws its crop index, slab rows [k, k + depth):
//   the real slab is read from the HDF5 store as a hyperslab, the real low-
//   resolution whole is the mean over f×f×f blocks (PyTorch avg_pool3d(x, f, f)).
// Loss: the original's non-saturating GAN loss (BCE on logits, HA-GAN's train.py: BCEWithLogitsLoss,
//   no gradient penalty) and its optimizer (Adam β = (0, 0.999), lr G 1e-4, D 4e-4); HA-GAN's
//   encoders (E, Sub_E, L1 reconstruction) are left out: its train.py freezes G while they train,
//   so they do not shape the generator (they embed real images). docs/training.md says more.

extension ModelFamily {
    public static let hagan3d = ModelFamily(dims: 3, loss: .bce, summary: "HA-GAN hierarchical: low-res whole + high-res slab, BCE", layout: .hierarchical) { c in
        c.criticNorm = .layer; c.optimizer = .adam; c.lrG = 1e-4; c.lrD = 4e-4; c.beta1 = 0; c.beta2 = 0.999
        c.nCritic = 1; c.lowresFactor = 4; c.slabDepth = 0
    }
}

/// The shapes of a hierarchical model on a grid: checked here, so every bad combination is one
/// `ConfigError` naming its setting.
public struct HAGANShape: Equatable, Sendable {
    /// f: the low-resolution grid is the grid / f.
    public let factor: Int
    /// h = log2(f): up-sampling blocks in the high-resolution head.
    public let highBlocks: Int
    /// Rows of a slab along the first spatial axis.
    public let slabDepth: Int
    public let grid: [Int]
    public var lowGrid: [Int] { grid.map { $0 / factor } }
    /// Positions a training slab may start at: every row from 0 to D − slab_depth. HA-GAN's train.py
    /// draws its crop index at any row, not on a tiling: a slab that only ever starts on multiples of
    /// its depth never shows a critic the rows across a slab boundary, and the generator learned
    /// seams there (bright stripes every slab_depth rows at 2 mm; docs/training.md).
    public var slabStarts: Int { grid[0] - slabDepth + 1 }
    public var slabGrid: [Int] { [slabDepth, grid[1], grid[2]] }

    public init(config c: TrainConfig, geometry g: NetworkGeometry) throws {
        let f = c.lowResolutionFactor, L = c.gChannels.count, grid = g.imageShape
        func shown(_ s: [Int]) -> String { s.map(String.init).joined(separator: "×") }
        guard g.dims == 3, grid.count == 3 else { throw ConfigError.invalid("hagan3d is a 3D model; its data must be volumes") }
        guard grid.allSatisfy({ $0 % f == 0 }) else {
            throw ConfigError.badValue(source: "config", key: "lowres_factor", reason: "the grid \(shown(grid)) is not divisible by the low-resolution factor \(f) on every axis; use a grid divisible by \(f) or another lowres_factor")
        }
        let h = f.trailingZeroBitCount
        guard h <= L else {
            throw ConfigError.badValue(source: "config", key: "lowres_factor", reason: "a low-resolution factor of \(f) needs \(h) up-sampling blocks in the high-resolution head, but g_channels has \(L); use lowres_factor ≤ \(1 << L)")
        }
        let D = grid[0], q = 1 << c.dChannels.count
        var depth = c.slabDepthValue
        if depth == 0 {
            // HA-GAN renders 1/8 of the volume: the smallest multiple of q from D/8 up.
            depth = stride(from: q, through: D, by: q).first { $0 * 8 >= D } ?? D
        }
        guard depth <= D else {
            throw ConfigError.badValue(source: "config", key: "slab_depth", reason: "a slab of \(depth) rows is larger than the grid's first axis (\(D) rows of \(shown(grid)))")
        }
        guard depth % q == 0 else {
            throw ConfigError.badValue(source: "config", key: "slab_depth", reason: "\(depth) is not a multiple of 2^\(c.dChannels.count) = \(q) (the high-resolution critic's strided layers, one per d_channels entry)")
        }
        factor = f; highBlocks = h; slabDepth = depth; self.grid = grid
    }

    /// The high-resolution critic's geometry: [slab, position] (+ class channels) on the slab grid.
    func highCriticGeometry(_ g: NetworkGeometry, layers: Int) -> NetworkGeometry {
        NetworkGeometry(dims: 3, channels: g.channels + 1, imageShape: slabGrid, layers: layers, conditionalClasses: g.conditionalClasses)
    }
}

/// Builds the generator and critics of `.hierarchical` (ModelFamilies.swift).
func makeHierarchicalNetworks(config c: TrainConfig, geometry g: NetworkGeometry, rng: inout PETRandom) throws -> (Generator, Discriminator) {
    let shape = try HAGANShape(config: c, geometry: g)
    return (HAGANGenerator(geometry: g, zDim: c.zDim, channels: c.gChannels, shape: shape, rng: &rng),
            HAGANDiscriminator(geometry: g, channels: c.dChannels, generatorLayers: c.gChannels.count, norm: c.criticNorm, shape: shape, rng: &rng))
}

/// The rows (first spatial axis) a transposed convolution's input needs for output rows `out`
/// (TiledStack's arithmetic, PyTorch semantics), clamped to an input of `n` rows.
func rowsNeeded(by layer: ConvTranspose3dLayer, for out: Span1D, inputRows n: Int) -> Span1D {
    let s = layer.params.stride[0], k = layer.params.kernel[0], p = layer.params.padding[0]
    func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
    let lo = -floorDiv(-(out.lo + p - k + 1), s), hi = floorDiv(out.hi - 1 + p, s) + 1
    return Span1D(max(0, lo), min(n, hi))
}

/// A half-open row interval [lo, hi).
public struct Span1D: Equatable, Sendable {
    public var lo: Int, hi: Int
    public init(_ lo: Int, _ hi: Int) { self.lo = lo; self.hi = hi }
    public var count: Int { hi - lo }
}

/// The HA-GAN generator (see the top of this file). `blocks` are the trunk's up-sampling blocks
/// then the high head's; their `outputShape`s are what a training step computes (the trunk whole,
/// the high head on the largest slab + halo), which the memory estimate reads.
public final class HAGANGenerator: Generator {
    public let shape: HAGANShape
    /// blocks[0 ..< trunkBlocks] are the trunk; the rest the high-resolution head.
    public let trunkBlocks: Int
    public let lowHead: NetworkBlock

    init(geometry g: NetworkGeometry, zDim: Int, channels: [Int], shape: HAGANShape, rng: inout PETRandom) {
        self.shape = shape
        let plain = Generator(geometry: g, zDim: zDim, channels: channels, rng: &rng)
        let T = channels.count - shape.highBlocks
        trunkBlocks = T
        let trunkChannels = T == 0 ? plain.input.outputShape[0] : plain.blocks[T - 1].outputShape[0]
        lowHead = NetworkBlock("low_head", Conv3dLayer(trunkChannels, g.channels, kernel: 3, padding: 1, bias: false, rng: &rng),
                               activation: Tanh(), outputShape: [g.channels] + shape.lowGrid)
        // Training extents of the high head's blocks: the most rows any slab needs at each level.
        var rows = [Int](repeating: 0, count: shape.highBlocks)
        let high = plain.blocks[T...].map { $0.layer as! ConvTranspose3dLayer }
        for start in 0..<shape.slabStarts {
            let spans = HAGANGenerator.spans(high, trunkRows: shape.lowGrid[0], rows: Span1D(start, start + shape.slabDepth))
            for j in 0..<shape.highBlocks { rows[j] = max(rows[j], spans[j + 1].count) }
        }
        let blocks = plain.blocks.enumerated().map { i, b -> NetworkBlock in
            guard i >= T else { return b }
            var s = b.outputShape
            s[1] = rows[i - T]
            return NetworkBlock(b.name, b.layer, norm: b.norm.map { (b.normName!, $0) }, activation: b.activation, outputShape: s)
        }
        super.init(geometry: g, zDim: zDim, input: plain.input, blocks: blocks)
    }

    /// State-dict names: "project", "bn0", "ups.i", "norms.i" (as the DCGAN generator), "low_head".
    public override var namedChildren: [(String, Module)] { ([input] + blocks + [lowHead]).familyOrderedLayers }

    var highLayers: [ConvTranspose3dLayer] { blocks[trunkBlocks...].map { $0.layer as! ConvTranspose3dLayer } }

    /// Rows of the trunk's features (first) and of every high block's output (the last: `rows`)
    /// that output rows `rows` need.
    static func spans(_ layers: [ConvTranspose3dLayer], trunkRows: Int, rows: Span1D) -> [Span1D] {
        var sizes = [trunkRows]
        for l in layers { sizes.append((sizes.last! - 1) * l.params.stride[0] - 2 * l.params.padding[0] + l.params.kernel[0] + l.params.outputPadding[0]) }
        var out = [Span1D](repeating: rows, count: layers.count + 1)
        for j in stride(from: layers.count - 1, through: 0, by: -1) { out[j] = rowsNeeded(by: layers[j], for: out[j + 1], inputRows: sizes[j]) }
        return out
    }

    /// z: (N, zDim + classes) → trunk features (N, C_T, grid / f).
    public func trunk(_ z: Variable) throws -> Variable {
        var x = try input(z)
        for i in 0..<trunkBlocks { x = try blocks[i].run(x, recompute: recomputeBlocks.contains(i), owner: "G") }
        return x
    }

    /// Trunk features → the whole volume at 1/f: (N, C, grid / f).
    public func lowResolution(_ features: Variable) throws -> Variable { try lowHead(features) }

    /// Trunk features → rows `rows` of the first spatial axis at full resolution (N, C, rows, H, W),
    /// from the features' rows those need (the halo), each block cut to what the next needs.
    public func highResolution(_ features: Variable, rows: Span1D) throws -> Variable {
        let spans = HAGANGenerator.spans(highLayers, trunkRows: features.shape[2], rows: rows)
        var x = spans[0].count == features.shape[2] ? features : try features.slice(axis: 2, start: spans[0].lo, length: spans[0].count)
        for j in 0..<(blocks.count - trunkBlocks) {
            let i = trunkBlocks + j, b = blocks[i]
            // With its padding p the layer's output row o' is the global row o' + lo·stride.
            let offset = spans[j + 1].lo - spans[j].lo * highLayers[j].params.stride[0], length = spans[j + 1].count
            let body: (Variable) throws -> Variable = { v in
                var y = try b.layer(v)
                if offset != 0 || length != y.shape[2] { y = try y.slice(axis: 2, start: offset, length: length) }
                return try b.normalizedAndActivated(y)
            }
            x = recomputeBlocks.contains(i) ? try checkpoint(x, parameters: b.parameters, name: "checkpoint(G.\(b.name))", body) : try body(x)
        }
        return x
    }

    /// The low-resolution whole and the slab of rows [start, start + slab_depth).
    public func hierarchical(_ z: Variable, slabStart: Int) throws -> (low: Variable, slab: Variable) {
        let f = try trunk(z)
        return (try lowResolution(f), try highResolution(f, rows: Span1D(slabStart, slabStart + shape.slabDepth)))
    }

    /// The whole volume at full resolution (the high head over every row): montages, untiled samples.
    public override func forward(_ z: Variable) throws -> Variable {
        let f = try trunk(z)
        return try highResolution(f, rows: Span1D(0, shape.grid[0]))
    }

    public override func tiledInput(_ z: Variable) throws -> Variable { try trunk(z) }
    public override var tiledLayers: [Module] { blocks[trunkBlocks...].flatMap(\.layers) }
    /// Always rendered through the tiled writer (one tile without a budget), so a volume does not
    /// depend on the budget it was made in.
    override var rendersTiled: Bool { true }

    override func traced(_ z: Variable) throws -> (Variable, [(String, [Int])]) {
        let (f, trunkTrace) = try ([input] + Array(blocks[..<trunkBlocks])).traced(z)
        let low = try lowHead(f)
        let (y, highTrace) = try Array(blocks[trunkBlocks...]).traced(f)
        return (y, trunkTrace + [("low_head (whole volume at 1/\(shape.factor))", low.shape)] + highTrace)
    }
}

/// The two HA-GAN critics: `low` judges the low-resolution whole, `high` a slab with its position.
public final class HAGANDiscriminator: Discriminator {
    public let low: Discriminator
    public let high: Discriminator
    public let shape: HAGANShape

    init(geometry g: NetworkGeometry, channels: [Int], generatorLayers L: Int, norm: CriticNorm, shape: HAGANShape, rng: inout PETRandom) {
        self.shape = shape
        let lowLayers = L - shape.highBlocks
        low = Discriminator(geometry: NetworkGeometry(dims: 3, channels: g.channels, imageShape: shape.lowGrid, layers: lowLayers, conditionalClasses: g.conditionalClasses),
                            channels: Array(channels.suffix(lowLayers)), norm: norm, rng: &rng)
        high = Discriminator(geometry: shape.highCriticGeometry(g, layers: channels.count), channels: channels, norm: norm, rng: &rng)
        super.init(geometry: g, norm: norm, blocks: low.blocks + high.blocks, head: high.head)
    }

    /// State-dict names: "low.downs.i", "low.norms.i", "low.head", "high.…".
    public override var namedChildren: [(String, Module)] { [("low", low as Module), ("high", high as Module)] }

    /// Indices into `blocks` (the low critic's, then the high critic's), passed on to each critic.
    public override var recomputeBlocks: Set<Int> {
        didSet {
            let n = low.blocks.count
            low.recomputeBlocks = recomputeBlocks.filter { $0 < n }
            high.recomputeBlocks = Set(recomputeBlocks.filter { $0 >= n }.map { $0 - n })
        }
    }

    /// A step's real input: the low-resolution whole and the slab (for the memory estimate).
    public override var realInputElements: Int {
        geometry.channels * (shape.lowGrid.reduce(1, *) + shape.slabGrid.reduce(1, *))
    }

    /// The constant position channel of slabs starting at `start`: start / D.
    func position(_ n: Int, slabStart: Int) -> Tensor {
        let t = Tensor(shape: [n, 1] + shape.slabGrid)
        t.data.update(repeating: Float(slabStart) / Float(shape.grid[0]), count: t.count)
        return t
    }

    /// The critics' logits (N, 1) of inputs already joined with their class channels.
    func logits(lowInput: Variable, highInput: Variable) throws -> (low: Variable, high: Variable) {
        (try low(lowInput), try high(highInput))
    }

    override func traced(_ x: Variable) throws -> (Variable, [(String, [Int])]) {
        let n = x.shape[0], k = geometry.conditionalClasses
        let (l, lt) = try (low.blocks + [low.head]).traced(Variable(Tensor(shape: [n, geometry.channels + k] + shape.lowGrid)))
        let (_, ht) = try (high.blocks + [high.head]).traced(Variable(Tensor(shape: [n, geometry.channels + 1 + k] + shape.slabGrid)))
        return (l, lt.map { ("low." + $0.0, $0.1) } + ht.map { ("high." + $0.0, $0.1) })
    }
}

/// One critic iteration's real data for a hierarchical model.
public struct HierarchicalBatch {
    /// (N, C, grid / f): the mean over f×f×f blocks of each item.
    public var lowResolution: Tensor
    /// (N, C, slab_depth, H, W): rows [slabStart, slabStart + slab_depth) of each item.
    public var slab: Tensor
    public var slabStart: Int
    public var labels: [Int]
}

extension GANModel {
    var hierarchicalNetworks: (HAGANGenerator, HAGANDiscriminator)? {
        guard let g = generator as? HAGANGenerator, let d = discriminator as? HAGANDiscriminator else { return nil }
        return (g, d)
    }

    /// Whether this is a hierarchical model (hagan3d: two critics, `hierarchicalScores` for evaluation).
    public var isHierarchical: Bool { hierarchicalNetworks != nil }

    /// The slab starts that cover the first axis for scoring a whole volume: 0, depth, 2·depth, …
    /// and, where those do not reach the last row, one more ending at it.
    public var scoringSlabStarts: [Int] {
        guard let (g, _) = hierarchicalNetworks else { return [] }
        let d = g.shape.slabDepth, rows = g.shape.grid[0]
        var starts = Array(stride(from: 0, through: rows - d, by: d))
        if starts.last! + d < rows { starts.append(rows - d) }
        return starts
    }

    /// Critic scores (N) of whole volumes `x` (N, C, D, H, W) in evaluation mode, for `evaluate
    /// --critic`: the low-resolution critic on the f×f×f block means (as training's real whole) and
    /// the slab critic on each slab of `scoringSlabStarts`, the score the mean over those slabs of
    /// HA-GAN's (low + high) / 2. No graph; one slab's activations at a time.
    public func hierarchicalScores(_ x: Tensor, labels: [Int]) throws -> [Float] {
        guard let (g, d) = hierarchicalNetworks else { preconditionFailure("hierarchicalScores of a \(config.model.rawValue) model") }
        let wasTraining = d.isTraining
        d.eval()
        defer { d.train(wasTraining) }
        let n = x.shape[0], starts = scoringSlabStarts
        var low = [Float](), high = [Float](repeating: 0, count: n)
        try withNoGrad {
            for (k, start) in starts.enumerated() {
                let b = hierarchicalBatch(whole: x, labels: labels, shape: g.shape, slabStart: start)
                if k == 0 { low = try d.low(discriminatorInput(Variable(b.lowResolution), labels: labels)).value.array }
                let pos = Variable(d.position(n, slabStart: start))
                let h = try d.high(discriminatorInput(concat([Variable(b.slab), pos], axis: 1), labels: labels)).value
                for i in 0..<n { high[i] += h.data[i] }
            }
        }
        // The mean over slabs of (low + high) / 2, the low-resolution logit computed once.
        return (0..<n).map { (low[$0] + high[$0] / Float(starts.count)) * 0.5 }
    }

    /// The slab of a step: its first row uniform in 0 ... D − slab_depth, from the run's noise stream.
    func drawSlabStart(_ shape: HAGANShape, rng: inout PETRandom) -> Int { rng.int(below: shape.slabStarts) }

    /// A hierarchical batch cut from whole volumes (callers that hold them; training reads slabs).
    func hierarchicalBatch(whole x: Tensor, labels: [Int], shape: HAGANShape, slabStart start: Int) -> HierarchicalBatch {
        let n = x.shape[0], c = x.shape[1], per = shape.grid.reduce(1, *), plane = shape.grid[1] * shape.grid[2]
        let low = Tensor(shape: [n, c] + shape.lowGrid), slab = Tensor(shape: [n, c] + shape.slabGrid)
        for i in 0..<(n * c) {
            LowResolution.averagePool(x.data + i * per, shape: shape.grid, factor: shape.factor, into: low.data + i * low.count / (n * c))
            (slab.data + i * shape.slabDepth * plane).update(from: x.data + i * per + start * plane, count: shape.slabDepth * plane)
        }
        return HierarchicalBatch(lowResolution: low, slab: slab, slabStart: start, labels: labels)
    }

    /// The mean of the two critics' logits (HA-GAN's Discriminator.forward) on a low-resolution
    /// whole and a slab at `slabStart`.
    func hierarchicalScore(low: Variable, slab: Variable, slabStart: Int, labels: [Int]) throws -> Variable {
        let (_, d) = hierarchicalNetworks!
        let pos = Variable(d.position(slab.shape[0], slabStart: slabStart))
        let l = try d.logits(lowInput: discriminatorInput(low, labels: labels),
                             highInput: discriminatorInput(concat([slab, pos], axis: 1), labels: labels))
        return try (l.low + l.high) * 0.5
    }

    /// `trainStep` for a hierarchical model: `nCritic` critic updates, one generator update on the
    /// last batch's slab.
    public func trainStep(hierarchical real: [HierarchicalBatch], rng: inout PETRandom) throws -> StepMetrics {
        precondition(!real.isEmpty)
        var m = StepMetrics()
        generator.train(); discriminator.train()
        var lastFake: (Variable, Variable)? = nil
        for b in real {
            let (dm, fake) = try hierarchicalCriticStep(b, rng: &rng)
            lastFake = fake
            m.lossD += dm.lossD; m.dReal += dm.dReal; m.dFake += dm.dFake; m.wasserstein += dm.wasserstein
            m.gradientPenalty += dm.gradientPenalty; m.accuracyD += dm.accuracyD; m.gradNormD = dm.gradNormD
            m.realSign += dm.realSign
        }
        let k = Double(real.count)
        m.lossD /= k; m.dReal /= k; m.dFake /= k; m.wasserstein /= k; m.gradientPenalty /= k; m.accuracyD /= k
        m.realSign /= k
        let g = try hierarchicalGeneratorStep(fake: objective.generatorReusesCriticBatch ? lastFake : nil, real[real.count - 1], rng: &rng)
        m.lossG = g.lossG
        m.gradNormG = g.gradNormG
        ema?.update()
        if let dp = dataParallel { m = try averaged(m, over: dp) }
        adaptAugmentation(&m, batches: real.count, samplesPerBatch: real[0].slab.shape[0])
        return m
    }

    /// The augmentation policy on each critic's input (DiffAugment, independently drawn per critic and
    /// per sample): no critic sees the low-resolution whole and the slab together, so each only needs
    /// real and generated inputs under the same policy, and the two need not move together. The slab
    /// is augmented before its position channel is joined, so the position stays exact.
    func augmentedPair(low: Variable, slab: Variable, rng: inout PETRandom) throws -> (Variable, Variable) {
        let l = try augmented(low, rng: &rng)
        return (l, try augmented(slab, rng: &rng))
    }

    func hierarchicalCriticStep(_ b: HierarchicalBatch, rng: inout PETRandom) throws -> (StepMetrics, (Variable, Variable)?) {
        let (g, _) = hierarchicalNetworks!
        var m = StepMetrics()
        let n = b.slab.shape[0]
        optD.zeroGrad()
        let z = batchNoise(n, rng: &rng)
        let reuse = objective.generatorReusesCriticBatch
        let fake = reuse ? try g.hierarchical(generatorInput(z, labels: b.labels), slabStart: b.slabStart)
            : try withNoGrad { try g.hierarchical(generatorInput(z, labels: b.labels), slabStart: b.slabStart) }
        let (lossD, dr, df, penalty) = try hierarchicalCriticLoss(b, fakeLow: reuse ? fake.low.detached() : fake.low,
                                                                  fakeSlab: reuse ? fake.slab.detached() : fake.slab, rng: &rng)
        m.gradientPenalty = penalty
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
        return (m, reuse ? (fake.low, fake.slab) : nil)
    }

    /// The critics' loss on batch `b` and a generated low-resolution whole and slab: the objective's
    /// loss on the mean score, plus each critic's own penalty (WGAN-GP) on its own input. Returns the
    /// loss, the real and generated scores and the penalties' sum.
    func hierarchicalCriticLoss(_ b: HierarchicalBatch, fakeLow: Variable, fakeSlab: Variable, rng: inout PETRandom) throws
        -> (loss: Variable, real: Variable, fake: Variable, penalty: Double) {
        let (_, d) = hierarchicalNetworks!
        let real = try augmentedPair(low: Variable(b.lowResolution), slab: Variable(b.slab), rng: &rng)
        let fake = try augmentedPair(low: fakeLow, slab: fakeSlab, rng: &rng)
        let dr = try hierarchicalScore(low: real.0, slab: real.1, slabStart: b.slabStart, labels: b.labels)
        let df = try hierarchicalScore(low: fake.0, slab: fake.1, slabStart: b.slabStart, labels: b.labels)
        var loss = try objective.criticLoss(real: dr, fake: df)
        let pos = Variable(d.position(b.slab.shape[0], slabStart: b.slabStart))
        let lowCritic: (Variable) throws -> Variable = { try d.low(self.discriminatorInput($0, labels: b.labels)) }
        let highCritic: (Variable) throws -> Variable = { try d.high(self.discriminatorInput(concat([$0, pos], axis: 1), labels: b.labels)) }
        // Each penalty interpolates between the inputs its critic saw (augmented when augmenting).
        let penalties = [try shardedPenalty(critic: lowCritic, real: real.0.value, fake: fake.0.value, rng: &rng),
                         try shardedPenalty(critic: highCritic, real: real.1.value, fake: fake.1.value, rng: &rng)].compactMap { $0 }
        var sum = 0.0
        for p in penalties {
            sum += Double(p.scalar)
            loss = try loss + p
        }
        return (loss, dr, df, sum)
    }

    func hierarchicalGeneratorStep(fake given: (Variable, Variable)?, _ b: HierarchicalBatch, rng: inout PETRandom) throws -> StepMetrics {
        let (g, _) = hierarchicalNetworks!
        var m = StepMetrics()
        optG.zeroGrad()
        let dParams = discriminator.parameters
        for p in dParams { p.requiringGrad(false) }
        defer { for p in dParams { p.requiringGrad(true) } }
        let fake = try given ?? g.hierarchical(generatorInput(batchNoise(b.slab.shape[0], rng: &rng), labels: b.labels), slabStart: b.slabStart)
        let seen = try augmentedPair(low: fake.0, slab: fake.1, rng: &rng)
        let lossG = try objective.generatorLoss(fake: hierarchicalScore(low: seen.0, slab: seen.1, slabStart: b.slabStart, labels: b.labels))
        try lossG.backward()
        try dataParallel?.averageGradients(generator.parameters)
        m.lossG = Double(lossG.scalar)
        m.gradNormG = gradNorm(generator.parameters)
        try optG.step()
        return m
    }
}

extension TrainingData {
    /// The low-resolution real of store item `item` (a (D/f, H/f, W/f) volume into `out`): the mean
    /// over f×f×f blocks of the store's normalised values (`LowResolution.averagePool`, PyTorch's
    /// avg_pool3d with kernel = stride = f). Read from the store's low-resolution copy when it has one
    /// of factor f (`phantom / prepare --low-res-copy F`, `volumes add-low-res`), so the full volume is
    /// never read in a step; otherwise pooled from the full volume. Both give the same bits.
    func readLowResolution(_ item: Int, factor f: Int, into out: UnsafeMutablePointer<Float>) throws {
        if store.lowResolution?.factor == f { return try store.readLowResolution(item, into: out) }
        let full = Tensor(shape: store.volumeShape, zeroed: false)
        try store.readPatch(item, origin: [0, 0, 0], size: store.volumeShape, into: full.data)
        LowResolution.averagePool(full.data, shape: store.volumeShape, factor: f, into: out)
    }

    /// Items `which` (positions in `indices`) as a hierarchical batch: each item's low-resolution
    /// whole and its slab rows [start, start + depth), the slab read as an HDF5 hyperslab.
    public func hierarchicalBatch(_ which: [Int], slabStart start: Int, shape: HAGANShape) throws -> HierarchicalBatch {
        let n = which.count, v = store.volumeShape
        let low = Tensor(shape: [n, 1] + shape.lowGrid, zeroed: false), slab = Tensor(shape: [n, 1] + shape.slabGrid, zeroed: false)
        let lowPer = shape.lowGrid.reduce(1, *), slabPer = shape.slabGrid.reduce(1, *)
        for (b, w) in which.enumerated() {
            try store.readPatch(indices[w], origin: [start, 0, 0], size: [shape.slabDepth, v[1], v[2]], into: slab.data + b * slabPer)
            try readLowResolution(indices[w], factor: shape.factor, into: low.data + b * lowPer)
        }
        return HierarchicalBatch(lowResolution: low, slab: slab, slabStart: start, labels: which.map { labels[$0] })
    }
}

/// A hierarchical model's step: one slab drawn from the noise stream, then each critic batch's
/// slab and low-resolution whole read from the store.
struct HierarchicalScheme: TrainingScheme {
    func prepare(_ model: GANModel, data: TrainingData, batches: [[Int]], rng: inout PETRandom) throws -> (inout PETRandom) throws -> StepMetrics {
        let (g, _) = model.hierarchicalNetworks!
        let start = model.drawSlabStart(g.shape, rng: &rng)
        let real = try batches.map { try data.hierarchicalBatch($0, slabStart: start, shape: g.shape) }
        return { rng in try model.trainStep(hierarchical: real, rng: &rng) }
    }
}
