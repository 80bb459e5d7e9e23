import Foundation
import XCTest
@testable import PETModels
import PETAutograd
import PETTensor

/// FastGAN in `train --memory-budget`'s estimate (RecomputePlan.swift): the discriminator's decoders
/// run on every real batch and keep their graphs for backward; the estimate counts them.
final class FastGANMemoryTests: XCTestCase {
    /// A discriminator whose last block is wide (its whole-image decoder starts from 192 channels),
    /// so that the decoders hold most of a critic step's activations: the counted peak of two measured
    /// training steps (MemoryAccountant: every live tensor and kernel buffer; the second has the Adam
    /// moments) is covered by the estimate (less its allowance for uncounted process memory), and
    /// would not be without the decoders. Deterministic on any machine: im2col everywhere (its column
    /// buffers are the largest of the paths' scratch, what the estimate's kernel allowance covers),
    /// two threads, and no idle buffers cached (the estimate models live memory).
    func testEstimateCoversAMeasuredStepWithTheDecoders() throws {
        var cfg = TrainConfig.defaults(for: .fastgan3d)
        cfg.gChannels = [8, 4, 4]; cfg.dChannels = [4, 8, 192]; cfg.zDim = 16; cfg.data = "test"; cfg.conditional = true
        let g = NetworkGeometry(dims: 3, channels: 1, imageShape: [32, 40, 32], layers: 3, conditionalClasses: 2)
        let batch = 4
        let savedThreads = Parallel.threads, savedCache = ScratchPool.shared.cacheLimitBytes
        Parallel.setThreads(2)
        ScratchPool.shared.cacheLimitBytes = 0
        defer { Parallel.setThreads(savedThreads); ScratchPool.shared.cacheLimitBytes = savedCache }
        ScratchPool.shared.trim()
        let before = MemoryAccountant.shared.bytesInUse
        var rng = PETRandom(seed: 21)
        let m = try GANModel(config: cfg, geometry: g, rng: &rng)
        for c in convLayers(m.generator) + convLayers(m.discriminator) { c.options.path = .im2col }
        let real = Tensor.uniform([batch, 1] + g.imageShape, low: -1, high: 1, rng: &rng)
        var noise = PETRandom(seed: 22)
        var measured = 0
        for _ in 0..<2 {
            MemoryAccountant.shared.resetPeak()
            let metrics = try m.trainStep(real: [(real, [0, 1, 0, 1])], rng: &noise)
            XCTAssertTrue(metrics.lossD.isFinite && metrics.reconstruction.isFinite && metrics.reconstruction > 0, "\(metrics)")
            measured = max(measured, MemoryAccountant.shared.peakBytes - before)
        }
        let decoders = batch * m.discriminator.realPassExtraBytesPerSample
        let estimate = RecomputePlan.estimate(m, batch: batch, plan: RecomputePlan()) - RecomputePlan.processBaseline
        XCTAssertGreaterThan(decoders, 0)
        XCTAssertGreaterThanOrEqual(estimate, measured, "estimate \(formatBytes(estimate)) (decoders \(formatBytes(decoders))) vs measured \(formatBytes(measured))")
        XCTAssertLessThan(estimate - decoders, measured, "the decoders must matter here, or the test shows nothing")
        // Every block recomputed: the decoders are still there (they are never recomputed).
        let all = RecomputePlan.all(m, batch: batch)
        XCTAssertGreaterThanOrEqual(all.estimatedBytes - RecomputePlan.processBaseline, decoders)
    }

    func convLayers(_ m: Module) -> [Conv3dLayer] {
        (m as? Conv3dLayer).map { [$0] } ?? m.namedChildren.flatMap { convLayers($0.1) }
    }

    /// Other discriminators keep nothing besides their blocks (their estimates are unchanged:
    /// NetworkBlockTests.testMemoryEstimateAndPlansAreUnchanged).
    func testOtherCriticsAddNothing() throws {
        for kind in [ModelKind.dcgan3d, .wgangp3d, .dcgan2d] {
            var cfg = TrainConfig.defaults(for: kind)
            cfg.gChannels = [8, 4]; cfg.dChannels = [4, 8]; cfg.zDim = 8; cfg.data = "test"
            let dims = kind == .dcgan2d ? 2 : 3
            let g = NetworkGeometry(dims: dims, channels: 1, imageShape: [Int](repeating: 16, count: dims), layers: 2, conditionalClasses: 0)
            var rng = PETRandom(seed: 1)
            XCTAssertEqual(try GANModel(config: cfg, geometry: g, rng: &rng).discriminator.realPassExtraBytesPerSample, 0, "\(kind)")
        }
    }
}
