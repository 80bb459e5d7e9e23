import Foundation
import PETAutograd
import PETTensor

// Memory-budgeted training (`petgan train --memory-budget 4GB`): which generator and discriminator
// blocks run with activation checkpointing (PETAutograd's `checkpoint`: recomputed in backward
// instead of kept), chosen from an estimate of a training step's peak memory. Checkpointing changes
// no result (first-order gradients are bitwise equal; tests check it), only memory and time.
//
// The estimate, per phase of a step (batch N; bytes of float32 activations):
//   fixed       weights, their gradients and two Adam moments (4 × parameters), one real batch;
//   a block     keeps `keptTensorsForBackward` tensors of its output size (NetworkBlock: its layer's
//               output and what its norm and activation keep: 2 for transposed conv → batch norm +
//               ReLU fused, conv → LeakyReLU, conv → batch norm + LeakyReLU fused; 4 with layer or
//               instance norm), 1 when recomputed (its output). Every block of a network is counted at
//               the network's largest count (a critic's first block, which has no norm, like the
//               others), as the estimate always has: budgets keep choosing the plans they chose;
//   critic      two D graphs (real, fake) plus, for BCE, the G graph of the fake (the generator
//               update reuses it); WGAN-GP adds the penalty's D graph and its recorded gradient graph
//               (≈ 3 D graphs kept whole: recomputation saves nothing inside a double backward);
//               the real pass adds what the discriminator keeps besides its blocks
//               (`realPassExtraBytesPerSample`: FastGAN's two decoders and their targets, never
//               recomputed);
//   generator   one G graph and one D graph;
//   transient   the backward's gradient of the largest activation (×2; FastGAN's decoders' count), the kernels' column
//               buffers (≤ 64 MB), and the internals of the largest recomputed block while it is
//               backpropagated (they exist again then);
//   process     what a process has resident besides counted buffers (processBaseline).
// It is meant to rank choices and to refuse budgets that cannot work, not to promise a peak: the
// benchmark (`petgan bench memory --train`) reports the measured peak RSS next to it.

/// Which blocks recompute their activations in backward, and the estimated peak.
public struct RecomputePlan: CustomStringConvertible, Sendable {
    public var generatorBlocks: Set<Int> = []
    public var discriminatorBlocks: Set<Int> = []
    /// Estimated peak bytes of a training step with this plan, and with no recomputation.
    public var estimatedBytes: Int = 0
    public var estimatedBytesWithout: Int = 0
    public var budgetBytes: Int? = nil
    /// Measured peak over estimate that `estimatedBytes` includes (1: the estimate as modelled;
    /// above 1 after `recalibrated` saw a step peak higher than estimated).
    public var calibration: Double = 1

    public init() {}

    public var description: String {
        func list(_ s: Set<Int>) -> String { s.isEmpty ? "none" : s.sorted().map(String.init).joined(separator: ",") }
        return "recompute G blocks \(list(generatorBlocks)), D blocks \(list(discriminatorBlocks)); estimated step peak "
            + "\(formatBytes(estimatedBytes)) (\(formatBytes(estimatedBytesWithout)) without)"
            + (calibration > 1 ? String(format: ", the estimate scaled ×%.2f as measured", calibration) : "")
            + (budgetBytes.map { ", budget \(formatBytes($0))" } ?? "")
    }

    /// Sets the model's networks to this plan.
    public func apply(to model: GANModel) {
        model.generator.recomputeBlocks = generatorBlocks
        model.discriminator.recomputeBlocks = discriminatorBlocks
    }

    /// Every block of both networks recomputed (the least memory).
    public static func all(_ model: GANModel, batch: Int) -> RecomputePlan {
        var p = RecomputePlan()
        p.generatorBlocks = Set(model.generator.blocks.indices)
        p.discriminatorBlocks = Set(model.discriminator.blocks.indices)
        p.estimatedBytes = estimate(model, batch: batch, plan: p)
        p.estimatedBytesWithout = estimate(model, batch: batch, plan: RecomputePlan())
        return p
    }

    /// The fewest blocks (largest savings first) whose estimate fits `budgetBytes`. Throws
    /// `ConfigError` naming the budget that would work when even recomputing every block does not fit.
    public static func choose(_ model: GANModel, batch: Int, budgetBytes: Int, calibration: Double = 1) throws -> RecomputePlan {
        var p = RecomputePlan()
        p.budgetBytes = budgetBytes
        p.calibration = max(1, calibration)
        let estimate = { (p: RecomputePlan) in Int((Double(RecomputePlan.estimate(model, batch: batch, plan: p)) * p.calibration).rounded(.up)) }
        p.estimatedBytesWithout = estimate(p)
        p.estimatedBytes = p.estimatedBytesWithout
        let sizes = blockSizes(model, batch: batch)
        var candidates: [(g: Bool, i: Int, saving: Int)] = []
        for (i, s) in sizes.g.enumerated() { candidates.append((true, i, (sizes.gKept - 1) * s)) }
        for (i, s) in sizes.d.enumerated() { candidates.append((false, i, (sizes.dKept - 1) * s)) }
        candidates.sort { $0.saving > $1.saving }
        for c in candidates where p.estimatedBytes > budgetBytes {
            if c.g { p.generatorBlocks.insert(c.i) } else { p.discriminatorBlocks.insert(c.i) }
            p.estimatedBytes = estimate(p)
        }
        guard p.estimatedBytes <= budgetBytes else {
            let mb = Int((Double(p.estimatedBytes) / 1_048_576).rounded(.up))
            throw ConfigError.badValue(source: "--memory-budget", key: "memory_budget",
                reason: "the memory budget of \(formatBytes(budgetBytes)) is too small to train this model at batch \(batch): even with every block "
                    + "recomputed a step needs about \(formatBytes(p.estimatedBytes)); a budget of at least \(formatBytes(p.estimatedBytes)) "
                    + "would work (--memory-budget \(mb)MB), or lower --batch")
        }
        return p
    }

    /// The slab depth for a new hagan3d run with `slab_depth: 0` (automatic) under `budgetBytes`: nil
    /// when the default slab fits, recomputing blocks if need be (recomputation changes no result);
    /// otherwise the deepest smaller slab (a multiple of 2^len(d_channels)) with which recomputing
    /// every block fits, or nil when none does (then `choose` refuses the budget, naming one that
    /// would work). A smaller slab is another model (the slab critic's input), so it is chosen only
    /// when the budget leaves no other way, and written into the run's config.
    public static func slabDepth(config: TrainConfig, geometry: NetworkGeometry, batch: Int, budgetBytes: Int) throws -> Int? {
        guard config.model.family.layout == .hierarchical, config.slabDepthValue == 0 else { return nil }
        func fits(_ depth: Int) throws -> Bool {
            var c = config
            c.slabDepth = depth
            var rng = PETRandom(seed: 0)
            return all(try GANModel(config: c, geometry: geometry, rng: &rng), batch: batch).estimatedBytes <= budgetBytes
        }
        let q = 1 << config.dChannels.count
        let standard = try HAGANShape(config: config, geometry: geometry).slabDepth
        if try fits(standard) { return nil }
        return try stride(from: standard - q, through: q, by: -q).first { try fits($0) }
    }

    /// After a step measured at `measuredPeakBytes` (the process's peak resident memory) under this
    /// plan: nil when that is within the budget; otherwise the plan chosen again with the estimate
    /// scaled by measured / estimated (what the estimate missed at this size: kernel scratch, library
    /// caches, the process), which recomputes more blocks. Throws `choose`'s error, with the measured
    /// scale, when even every block recomputed would not fit.
    public func recalibrated(_ model: GANModel, batch: Int, measuredPeakBytes: Int) throws -> RecomputePlan? {
        guard let budget = budgetBytes, measuredPeakBytes > budget, estimatedBytes > 0 else { return nil }
        let scale = calibration * Double(measuredPeakBytes) / Double(estimatedBytes)
        return try RecomputePlan.choose(model, batch: batch, budgetBytes: budget, calibration: scale)
    }

    /// Output bytes of each G and D block at batch `n`, and how many tensors of its output size a
    /// block of each network keeps for backward (see the comment at the top of this file).
    static func blockSizes(_ model: GANModel, batch n: Int) -> (g: [Int], d: [Int], gKept: Int, dKept: Int) {
        func bytes(_ blocks: [NetworkBlock]) -> [Int] { blocks.map { n * $0.outputShape.reduce(1, *) * 4 } }
        func kept(_ blocks: [NetworkBlock]) -> Int { blocks.map(\.keptTensorsForBackward).max() ?? 0 }
        let g = model.generator.blocks, d = model.discriminator.blocks
        return (bytes(g), bytes(d), kept(g), kept(d))
    }

    /// Estimated peak bytes of one training step (see the comment at the top of this file).
    public static func estimate(_ model: GANModel, batch n: Int, plan: RecomputePlan) -> Int {
        let sizes = blockSizes(model, batch: n)
        let params = (model.generator.parameterCount + model.discriminator.parameterCount) * 4
        let image = n * model.discriminator.realInputElements * 4
        let fixed = 4 * params + image
        var gGraph = 0, dGraph = 0, dWhole = 0
        for (i, s) in sizes.g.enumerated() { gGraph += plan.generatorBlocks.contains(i) ? s : sizes.gKept * s }
        for (i, s) in sizes.d.enumerated() {
            dGraph += plan.discriminatorBlocks.contains(i) ? s : sizes.dKept * s
            dWhole += sizes.dKept * s
        }
        dGraph += image; dWhole += image
        var critic = 2 * dGraph + image + n * model.discriminator.realPassExtraBytesPerSample
        critic += model.objective.criticStepExtraBytes(generatorGraph: gGraph, wholeCritic: dWhole)
        let generator = gGraph + dGraph
        let largest = (sizes.g + sizes.d + [image, n * model.discriminator.realPassLargestBytesPerSample]).max() ?? 0
        // While a recomputed block is backpropagated its internals exist again (and their gradients).
        let rerun = max(plan.generatorBlocks.map { sizes.gKept * sizes.g[$0] }.max() ?? 0,
                        plan.discriminatorBlocks.map { sizes.dKept * sizes.d[$0] }.max() ?? 0)
        return fixed + max(critic, generator) + 2 * largest + rerun + (64 << 20) + processBaseline
    }

    /// Resident memory a training process has besides counted buffers (code, Swift runtime, HDF5,
    /// OpenBLAS and FFTW workspaces): measured peak RSS minus counted peak in `bench memory --train`
    /// was 74–107 MB at 96×112×96 and 128×144×128 (160 MB leaves room for other libraries' versions);
    /// budgets are checked against peak RSS.
    static let processBaseline = 160 << 20
}
