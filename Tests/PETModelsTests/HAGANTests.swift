import Foundation
import XCTest
import PETTestSupport
@testable import PETModels
import PETAutograd
import PETTensor
import PETTiling
import PETVolumes

/// hagan3d (HAGAN.swift): slabs against the whole volume, gradients through the shared trunk,
/// the memory plan, training steps, resume, and the settings it refuses.
final class HAGANTests: XCTestCase {
    override func tearDown() { MemoryAccountant.shared.budgetBytes = nil }

    /// A tiny conditional model on an odd, non-cubic grid: base 3×5×3, L = 2, f = 2, 3 slabs of 4 rows.
    func tinyModel(grid: [Int] = [12, 20, 12], extra: [String: SettingValue] = [:], seed: UInt64 = 5) throws -> GANModel {
        var o: [String: SettingValue] = ["data": "test", "g_channels": "6,4", "d_channels": "4,6", "z_dim": 5, "lowres_factor": 2, "slab_depth": 4, "conditional": true]
        for (k, v) in extra { o[k] = v }
        let cfg = try TrainConfig.resolve(model: .hagan3d, preset: nil, yamlFile: nil, overrides: o)
        let geo = NetworkGeometry(dims: 3, channels: 1, imageShape: grid, layers: cfg.gChannels.count, conditionalClasses: 2)
        var rng = PETRandom(seed: seed)
        return try GANModel(config: cfg, geometry: geo, rng: &rng)
    }

    /// Batch-norm running statistics away from (0, 1), so evaluation mode is not the identity.
    func perturbRunningStatistics(_ m: Module, rng: inout PETRandom) {
        if let bn = m as? BatchNorm {
            for i in 0..<bn.runningMean.value.count {
                bn.runningMean.value.data[i] = rng.uniform(-0.5, 0.5)
                bn.runningVar.value.data[i] = rng.uniform(0.5, 1.5)
            }
        }
        for (_, c) in m.namedChildren { perturbRunningStatistics(c, rng: &rng) }
    }

    /// The high-resolution head run slab by slab (slab + halo features, cut) and stitched equals it
    /// run on every row at once, bitwise, in training code (autograd) and in the tiled writer; and
    /// the tiled writer's slabs equal its one-tile output bitwise (what `generate` relies on: a
    /// volume does not depend on the budget it was made in).
    func testSlabsStitchedEqualWholeVolumeBitwise() throws {
        let m = try tinyModel()
        let g = try XCTUnwrap(m.generator as? HAGANGenerator)
        var rng = PETRandom(seed: 11)
        perturbRunningStatistics(g, rng: &rng)
        g.eval()
        let z = m.generatorInput(m.sampleNoise(2, rng: &rng), labels: [1, 0])
        let features = try withNoGrad { try g.trunk(z) }
        XCTAssertEqual(features.shape, [2, 4, 6, 10, 6])
        let whole = try withNoGrad { try g.highResolution(features, rows: Span1D(0, 12)) }.value
        XCTAssertEqual(whole.shape, [2, 1, 12, 20, 12])
        XCTAssertTrue(whole.bitwiseEqual(try withNoGrad { try g.forward(z) }.value), "forward is the head on every row")
        // Every start a training step may draw (0 ... D − depth, not only multiples of the depth).
        XCTAssertEqual(g.shape.slabStarts, 9)
        for start in 0..<g.shape.slabStarts {
            let slab = try withNoGrad { try g.highResolution(features, rows: Span1D(start, start + 4)) }.value
            XCTAssertEqual(slab.shape, [2, 1, 4, 20, 12])
            var same = true
            for n in 0..<2 { for i in 0..<(4 * 20 * 12) where slab.data[n * 4 * 240 + i].bitPattern != whole.data[n * 12 * 240 + start * 240 + i].bitPattern { same = false } }
            XCTAssertTrue(same, "the slab at \(start) differs from rows \(start)..<\(start + 4) of the whole volume")
        }
        // The tiled writer (Generation.swift's path): slabs of 4 rows and odd boxes against one tile.
        let tg = try TiledGenerator(g)
        let one = TensorSink(shape: [2, 1, 12, 20, 12])
        try tg.generate(features.value, plan: try tg.plan(latentGrid: features.shape), into: one)
        for tile in [[4, 20, 12], [5, 7, 12], [3, 20, 5]] {
            let tiled = TensorSink(shape: [2, 1, 12, 20, 12])
            let plan = try tg.plan(latentGrid: features.shape, tile: tile)
            XCTAssertGreaterThan(plan.tileCount, 1)
            try tg.generate(features.value, plan: plan, into: tiled)
            XCTAssertTrue(tiled.output.bitwiseEqual(one.output), "tiles \(tile) differ from one tile")
        }
        XCTAssertLessThanOrEqual(maxAbsDifference(one.output, whole), 1e-5, "tiled writer against the autograd head")
    }

    /// The gradient reaching the shared trunk's output (its features) from each head alone and from
    /// both, against central differences of L = Σ r·head(features) (accumulated in Double), element
    /// by element as `checkGradients` does (h 1e-2, error ≤ 1e-3 of the largest gradient), in
    /// training mode (batch statistics over the slab's rows + halo). Rows outside the slab's halo get
    /// no gradient from the high head. The trunk's own weights then get the sum of both heads'
    /// gradients (its layers' backward rules are checked in PETAutogradTests).
    func testGradientsThroughTheSharedTrunkMatchFiniteDifferences() throws {
        let m = try tinyModel(grid: [16, 12, 8], extra: ["slab_depth": 4])
        let g = try XCTUnwrap(m.generator as? HAGANGenerator)
        g.train()
        var rng = PETRandom(seed: 21)
        let z = m.generatorInput(m.sampleNoise(2, rng: &rng), labels: [0, 1])
        let features = try withNoGrad { try g.trunk(z) }.value
        XCTAssertEqual(features.shape, [2, 4, 8, 6, 4])
        let rows = Span1D(8, 12)   // trunk rows 4..<6 plus a halo row each side
        let lowShape = try withNoGrad { try g.lowResolution(Variable(features)) }.shape
        let highShape = try withNoGrad { try g.highResolution(Variable(features), rows: rows) }.shape
        let rLow = Tensor.uniform(lowShape, low: -1, high: 1, rng: &rng), rHigh = Tensor.uniform(highShape, low: -1, high: 1, rng: &rng)
        func dot(_ a: Tensor, _ b: Tensor) -> Double { (0..<a.count).reduce(0.0) { $0 + Double(a.data[$1]) * Double(b.data[$1]) } }
        let plane = 6 * 4
        for (wLow, wHigh) in [(Float(1), Float(0)), (0, 1), (1, 1)] {
            let f = Variable(features.copy(), requiresGrad: true)
            try ((g.lowResolution(f) * Variable(rLow)).sum() * wLow + (g.highResolution(f, rows: rows) * Variable(rHigh)).sum() * wHigh).backward()
            let analytic = try XCTUnwrap(f.grad).array
            let scale = max(1, analytic.map { abs($0) }.max()!)
            XCTAssertGreaterThan(analytic.map { abs($0) }.max()!, 1e-2, "low \(wLow) high \(wHigh): the heads reach the trunk")
            let x = features.copy()
            func value() throws -> Double {
                let v = Variable(x)
                return try withNoGrad { Double(wLow) * dot(try g.lowResolution(v).value, rLow) + Double(wHigh) * dot(try g.highResolution(v, rows: rows).value, rHigh) }
            }
            let h: Float = 1e-2
            var worst: Float = 0
            // Random elements, and one in each trunk row (inside and outside the halo).
            let picks = (0..<16).map { _ in rng.int(below: x.count) } + (0..<8).map { r in (r * plane + rng.int(below: plane)) + 4 * 8 * plane }
            for i in picks {
                let saved = x.data[i]
                x.data[i] = saved + h; let plus = try value()
                x.data[i] = saved - h; let minus = try value()
                x.data[i] = saved
                worst = max(worst, abs(Float((plus - minus) / Double(2 * h)) - analytic[i]) / scale)
            }
            XCTAssertLessThanOrEqual(worst, 1e-3, "low \(wLow) high \(wHigh): the features' gradient differs from finite differences")
            if wLow == 0 {
                for n in 0..<2 { for c in 0..<4 { for r in 0..<8 where r < 3 || r > 6 {
                    let base = ((n * 4 + c) * 8 + r) * plane
                    XCTAssertEqual(maxMagnitude(Array(analytic[base..<(base + plane)])), 0, "row \(r) is outside the slab's halo")
                } } }
            }
        }
        // The trunk's weights: the gradient from both heads is the sum of each head's.
        func trunkGradients(_ wLow: Float, _ wHigh: Float) throws -> [[Float]] {
            for q in g.parameters { q.grad = nil }
            let (l, hi) = try g.hierarchical(z, slabStart: 8)
            try ((l * Variable(rLow)).sum() * wLow + (hi * Variable(rHigh)).sum() * wHigh).backward()
            return [g.input.layer.parameters[0], g.blocks[0].layer.parameters[0]].map { $0.grad!.array }
        }
        let both = try trunkGradients(1, 1), low = try trunkGradients(1, 0), high = try trunkGradients(0, 1)
        for k in 0..<2 {
            let scale = max(1, both[k].map { abs($0) }.max()!)
            let err = zip(both[k], zip(low[k], high[k])).map { abs($0 - ($1.0 + $1.1)) }.max()!
            XCTAssertLessThanOrEqual(err / scale, 1e-5, "trunk parameter \(k)")
            XCTAssertGreaterThan(low[k].map { abs($0) }.max()!, 0); XCTAssertGreaterThan(high[k].map { abs($0) }.max()!, 0)
        }
        // The low head's weight gets no gradient from the high head.
        XCTAssertEqual(maxMagnitude(g.lowHead.layer.parameters[0].grad?.array ?? [0]), 0)
    }

    /// The critics' loss with `loss: wgan-gp` (each critic's own penalty on its own input, a double
    /// backward through both critics and the position and class channels): its gradient with respect
    /// to critic weights against central differences of the same loss (same interpolation draws),
    /// element by element, without the penalty (λ 0) and with it (λ 10). The critics are piecewise
    /// smooth (leaky ReLU): a step can cross a kink (measured: −0.187 at h 1e-3 where autograd and
    /// h 1e-4 give −0.1965), and float32 noise grows as h shrinks (~1e-4 of the largest gradient at
    /// h 1e-4), so each element is taken at the better of h 1e-3 and 1e-4; a wrong rule is wrong at
    /// both. Taps that only ever meet zero padding get 0 from both.
    func testHierarchicalCriticLossWithPenaltyMatchesFiniteDifferences() throws {
        for lambda in [0.0, 10.0] {
            let m = try tinyModel(extra: ["loss": "wgan-gp", "gp_lambda": .double(lambda)])
            var rng = PETRandom(seed: 31)
            let shape = try XCTUnwrap((m.generator as? HAGANGenerator)?.shape)
            let b = HierarchicalBatch(lowResolution: Tensor.uniform([2, 1] + shape.lowGrid, low: -1, high: 1, rng: &rng),
                                      slab: Tensor.uniform([2, 1] + shape.slabGrid, low: -1, high: 1, rng: &rng), slabStart: 3, labels: [1, 0])
            let fakeLow = Variable(Tensor.uniform([2, 1] + shape.lowGrid, low: -1, high: 1, rng: &rng))
            let fakeSlab = Variable(Tensor.uniform([2, 1] + shape.slabGrid, low: -1, high: 1, rng: &rng))
            let draws = PETRandom(seed: 77)
            func loss() throws -> (Variable, Double) {
                var r = draws
                let l = try m.hierarchicalCriticLoss(b, fakeLow: fakeLow, fakeSlab: fakeSlab, rng: &r)
                return (l.loss, l.penalty)
            }
            let params = m.discriminator.parameters
            for p in params { p.grad = nil }
            let (l0, penalty) = try loss()
            try l0.backward()
            if lambda > 0 { XCTAssertGreaterThan(penalty, 0) } else { XCTAssertEqual(penalty, 0) }
            let analytic = params.map { $0.grad?.array ?? [Float](repeating: 0, count: $0.value.count) }
            let scale = analytic.flatMap { $0 }.map { abs($0) }.max()!
            XCTAssertTrue(scale.isFinite && scale > 1e-2, "λ \(lambda): gradients \(scale)")
            var worst: Float = 0, checked = 0
            for (k, p) in params.enumerated() {
                for _ in 0..<4 {
                    let i = rng.int(below: p.value.count)
                    let saved = p.value.data[i]
                    var best = Float.infinity
                    for h: Float in [1e-3, 1e-4] {
                        p.value.data[i] = saved + h; let plus = Double(try loss().0.scalar)
                        p.value.data[i] = saved - h; let minus = Double(try loss().0.scalar)
                        p.value.data[i] = saved
                        best = min(best, abs(Float((plus - minus) / Double(2 * h)) - analytic[k][i]) / scale)
                    }
                    worst = max(worst, best.isNaN ? .infinity : best)
                    checked += 1
                }
            }
            print("hierarchical critic loss, λ \(lambda): worst |fd − autograd| / max |grad| = \(worst) over \(checked) weights, max |grad| \(scale)")
            XCTAssertLessThanOrEqual(worst, 2e-3, "λ \(lambda)")
        }
    }

    /// `--augment` (DiffAugment) on hagan3d: each critic's real and generated inputs pass through the
    /// same policy with their own per-sample draws, in a fixed order (real whole, real slab, generated
    /// whole, generated slab), the slab before its position channel, and each penalty interpolates
    /// what its critic saw. Checked against the loss assembled by hand from those draws; the policy
    /// changes the loss; the draws of real and generated inputs differ.
    func testEachCriticSeesRealAndGeneratedInputsThroughTheSamePolicy() throws {
        let m = try tinyModel(extra: ["loss": "wgan-gp", "augment": "translation,cutout,intensity"])
        let plain = try tinyModel(extra: ["loss": "wgan-gp"])
        var rng = PETRandom(seed: 8)
        let shape = try XCTUnwrap((m.generator as? HAGANGenerator)?.shape)
        let b = HierarchicalBatch(lowResolution: Tensor.uniform([3, 1] + shape.lowGrid, low: -1, high: 1, rng: &rng),
                                  slab: Tensor.uniform([3, 1] + shape.slabGrid, low: -1, high: 1, rng: &rng), slabStart: 5, labels: [1, 0, 1])
        let fakeLow = Variable(Tensor.uniform([3, 1] + shape.lowGrid, low: -1, high: 1, rng: &rng))
        let fakeSlab = Variable(Tensor.uniform([3, 1] + shape.slabGrid, low: -1, high: 1, rng: &rng))
        var r1 = PETRandom(seed: 40)
        let got = try m.hierarchicalCriticLoss(b, fakeLow: fakeLow, fakeSlab: fakeSlab, rng: &r1)
        // By hand, from the same stream.
        let p = m.augmentation
        XCTAssertEqual(p.description, "intensity=0.2,translation=0.125,cutout=0.5")
        var r2 = PETRandom(seed: 40)
        let draws = [shape.lowGrid, shape.slabGrid, shape.lowGrid, shape.slabGrid].map { p.draw(n: 3, spatial: $0, rng: &r2) }
        XCTAssertNotEqual(draws[0], draws[2], "real and generated wholes drew the same parameters")
        XCTAssertNotEqual(draws[1], draws[3], "real and generated slabs drew the same parameters")
        let realLow = try p.apply(Variable(b.lowResolution), parameters: draws[0]), realSlab = try p.apply(Variable(b.slab), parameters: draws[1])
        let genLow = try p.apply(fakeLow, parameters: draws[2]), genSlab = try p.apply(fakeSlab, parameters: draws[3])
        let (_, d) = try XCTUnwrap(m.hierarchicalNetworks)
        let dr = try m.hierarchicalScore(low: realLow, slab: realSlab, slabStart: 5, labels: b.labels)
        let df = try m.hierarchicalScore(low: genLow, slab: genSlab, slabStart: 5, labels: b.labels)
        var want = try m.objective.criticLoss(real: dr, fake: df)
        let pos = Variable(d.position(3, slabStart: 5))
        let low: (Variable) throws -> Variable = { try d.low(m.discriminatorInput($0, labels: b.labels)) }
        let high: (Variable) throws -> Variable = { try d.high(m.discriminatorInput(concat([$0, pos], axis: 1), labels: b.labels)) }
        for (critic, real, fake) in [(low, realLow, genLow), (high, realSlab, genSlab)] {
            want = try want + XCTUnwrap(m.objective.criticPenalty(critic: critic, real: real.value, fake: fake.value, config: m.config, rng: &r2))
        }
        XCTAssertTrue(got.loss.scalar.isFinite)
        XCTAssertEqual(got.loss.scalar.bitPattern, want.scalar.bitPattern, "\(got.loss.scalar) against \(want.scalar)")
        XCTAssertEqual(r1, r2, "the loss drew other random numbers than the hand assembly")
        // Without the policy the same weights give another loss (the policy acted).
        var r3 = PETRandom(seed: 40)
        let unaugmented = try plain.hierarchicalCriticLoss(b, fakeLow: fakeLow, fakeSlab: fakeSlab, rng: &r3)
        XCTAssertTrue(unaugmented.loss.scalar.isFinite)
        XCTAssertNotEqual(unaugmented.loss.scalar, got.loss.scalar)
    }

    /// `evaluate --critic`'s score of a whole volume: the mean over the covering slabs of the training
    /// score (low + slab logits) / 2, in evaluation mode; on an axis the slabs do not divide, the last
    /// slab ends at the last row.
    func testWholeVolumeScoresAreTheMeanOverCoveringSlabs() throws {
        for (grid, depth, starts) in [([12, 20, 12], 4, [0, 4, 8]), ([20, 20, 12], 8, [0, 8, 12])] {
            let m = try tinyModel(grid: grid, extra: ["slab_depth": .int(depth)])
            XCTAssertEqual(m.scoringSlabStarts, starts)
            var rng = PETRandom(seed: 12)
            perturbRunningStatistics(m.discriminator, rng: &rng)
            let x = Tensor.uniform([2, 1] + grid, low: -1, high: 1, rng: &rng)
            let got = try m.hierarchicalScores(x, labels: [1, 0])
            XCTAssertTrue(m.discriminator.isTraining, "scoring left the critics in evaluation mode")
            m.discriminator.eval()
            let g = try XCTUnwrap(m.generator as? HAGANGenerator)
            var want = [Double](repeating: 0, count: 2)
            for s in starts {
                let b = m.hierarchicalBatch(whole: x, labels: [1, 0], shape: g.shape, slabStart: s)
                let v = try withNoGrad { try m.hierarchicalScore(low: Variable(b.lowResolution), slab: Variable(b.slab), slabStart: s, labels: [1, 0]) }.value
                for i in 0..<2 { want[i] += Double(v.data[i]) / Double(starts.count) }
            }
            m.discriminator.train()
            for i in 0..<2 {
                XCTAssertTrue(got[i].isFinite)
                XCTAssertEqual(Double(got[i]), want[i], accuracy: 1e-5 * max(1, abs(want[i])), "\(grid) item \(i)")
            }
            XCTAssertNotEqual(got[0], got[1])
        }
    }

    /// A step's slab starts at any row 0 ... D − depth (HA-GAN's crop index), not only on multiples
    /// of the depth: the aligned draw never showed a critic the rows across a slab boundary, and a
    /// 2 mm run learned bright seams every slab_depth rows (regression test for that fix).
    func testSlabStartsCoverEveryRowNotOnlyMultiplesOfTheDepth() throws {
        let m = try tinyModel()
        let g = try XCTUnwrap(m.generator as? HAGANGenerator)
        var rng = PETRandom(seed: 3)
        let starts = (0..<400).map { _ in m.drawSlabStart(g.shape, rng: &rng) }
        XCTAssertEqual(Set(starts), Set(0...8), "every start of a 4-row slab in 12 rows")
        // The training extents of the high head cover the worst start (the memory estimate reads them).
        let features = try withNoGrad { try g.trunk(m.generatorInput(m.sampleNoise(1, rng: &rng), labels: [0])) }
        for start in 0...8 {
            let spans = HAGANGenerator.spans(g.highLayers, trunkRows: features.shape[2], rows: Span1D(start, start + 4))
            for j in 1..<spans.count { XCTAssertLessThanOrEqual(spans[j].count, g.blocks[g.trunkBlocks + j - 1].outputShape[1], "start \(start) level \(j)") }
        }
    }

    /// A memory budget between the plan with every block recomputed and none picks some blocks; the
    /// step with that plan gives the same losses and weights (recomputation changes no result), and
    /// the counted peak of the step stays below the estimate; too small a budget names one that works.
    func testMemoryPlanIsHonoured() throws {
        let saved = Parallel.threads
        Parallel.setThreads(1)
        defer { Parallel.setThreads(saved) }
        func model() throws -> GANModel { try tinyModel(grid: [16, 24, 16], extra: ["g_channels": "8,6,4", "d_channels": "4,6,8", "slab_depth": 8]) }
        let free = try model(), planned = try model()
        let all = RecomputePlan.all(planned, batch: 2)
        XCTAssertLessThan(all.estimatedBytes, all.estimatedBytesWithout)
        let budget = (all.estimatedBytes + all.estimatedBytesWithout) / 2
        let plan = try RecomputePlan.choose(planned, batch: 2, budgetBytes: budget)
        XCTAssertFalse(plan.generatorBlocks.isEmpty && plan.discriminatorBlocks.isEmpty, "\(plan)")
        XCTAssertLessThanOrEqual(plan.estimatedBytes, budget)
        plan.apply(to: planned)
        let d = try XCTUnwrap(planned.discriminator as? HAGANDiscriminator)
        XCTAssertEqual(d.low.recomputeBlocks.count + d.high.recomputeBlocks.count, plan.discriminatorBlocks.count)
        var data = PETRandom(seed: 4)
        let x = Tensor.uniform([2, 1, 16, 24, 16], low: -1, high: 1, rng: &data)
        var r1 = PETRandom(seed: 9), r2 = PETRandom(seed: 9)
        let a = try free.trainStep(real: [(x, [0, 1])], rng: &r1)
        MemoryAccountant.shared.resetPeak()
        let before = MemoryAccountant.shared.bytesInUse
        let b = try planned.trainStep(real: [(x, [0, 1])], rng: &r2)
        XCTAssertLessThanOrEqual(MemoryAccountant.shared.peakBytes - before, plan.estimatedBytes)
        XCTAssertEqual(a, b)
        for (k, t) in free.tensors() { XCTAssertTrue(planned.tensors()[k]!.bitwiseEqual(t), k) }
        XCTAssertThrowsError(try RecomputePlan.choose(planned, batch: 2, budgetBytes: all.estimatedBytes - 1)) { e in
            XCTAssertTrue("\(e)".contains("would work (--memory-budget"), "\(e)")
        }
    }

    /// `train --memory-budget` after its first step: a measured peak within the budget keeps the plan;
    /// one over it chooses again with the estimate scaled by measured / estimated (more blocks
    /// recomputed, the scaled estimate within the budget); one that recomputing everything cannot fit
    /// is refused naming a budget that would work.
    func testAStepMeasuredOverTheBudgetRecomputesMore() throws {
        // A grid where activations, not the estimate's fixed terms, decide (estimates only: no step runs).
        let m = try tinyModel(grid: [96, 112, 96], extra: ["g_channels": "64,32,16", "d_channels": "16,32,64", "slab_depth": 16])
        let all = RecomputePlan.all(m, batch: 4)
        let budget = all.estimatedBytesWithout + 1
        let plan = try RecomputePlan.choose(m, batch: 4, budgetBytes: budget)
        XCTAssertTrue(plan.generatorBlocks.isEmpty && plan.discriminatorBlocks.isEmpty, "\(plan)")
        XCTAssertNil(try plan.recalibrated(m, batch: 4, measuredPeakBytes: budget))
        // Measured over the estimate by half of what recomputing everything saves: the scaled
        // estimate fits with some recomputation.
        let saving = Double(all.estimatedBytesWithout) / Double(all.estimatedBytes)
        XCTAssertGreaterThan(saving, 1.05, "recomputation should matter on this grid")
        let factor = 1 + (saving - 1) / 2
        let over = Int(Double(plan.estimatedBytes) * factor)
        let more = try XCTUnwrap(plan.recalibrated(m, batch: 4, measuredPeakBytes: over))
        XCTAssertFalse(more.generatorBlocks.isEmpty && more.discriminatorBlocks.isEmpty, "\(more)")
        XCTAssertEqual(more.calibration, Double(over) / Double(plan.estimatedBytes), accuracy: 1e-12)
        XCTAssertLessThanOrEqual(more.estimatedBytes, budget)
        XCTAssertEqual(more.estimatedBytes, Int((Double(RecomputePlan.estimate(m, batch: 4, plan: more)) * more.calibration).rounded(.up)))
        XCTAssertTrue(more.description.contains(String(format: "scaled ×%.2f as measured", more.calibration)), more.description)
        // Measured at twice the saving: even every block recomputed does not fit; the error names what would.
        XCTAssertThrowsError(try plan.recalibrated(m, batch: 4, measuredPeakBytes: Int(Double(plan.estimatedBytes) * saving * 2))) { e in
            XCTAssertTrue("\(e)".contains("would work (--memory-budget"), "\(e)")
        }
    }

    /// `train --memory-budget` with the automatic slab (`slab_depth: 0`): the default slab whenever
    /// recomputation makes it fit; the deepest smaller multiple of 2^len(d_channels) only when even
    /// recomputing every block does not; nil (the budget refused by `choose`) when nothing fits, and
    /// for an explicit slab_depth.
    func testAnAutomaticSlabShrinksOnlyWhenRecomputingEverythingDoesNotFit() throws {
        let grid = [96, 112, 96]
        let base: [String: SettingValue] = ["data": "test", "g_channels": "64,32,16", "d_channels": "16,32,64", "z_dim": 5, "lowres_factor": 2, "conditional": true]
        let cfg = try TrainConfig.resolve(model: .hagan3d, preset: nil, yamlFile: nil, overrides: base.merging(["slab_depth": 0]) { $1 })
        let geo = NetworkGeometry(dims: 3, channels: 1, imageShape: grid, layers: 3, conditionalClasses: 2)
        XCTAssertEqual(try HAGANShape(config: cfg, geometry: geo).slabDepth, 16)
        func allRecomputed(_ depth: Int) throws -> Int {
            RecomputePlan.all(try tinyModel(grid: grid, extra: base.merging(["slab_depth": .int(depth)]) { $1 }), batch: 4).estimatedBytes
        }
        let at16 = try allRecomputed(16), at8 = try allRecomputed(8)
        XCTAssertLessThan(at8, at16)
        let none = RecomputePlan.estimate(try tinyModel(grid: grid, extra: base.merging(["slab_depth": 16]) { $1 }), batch: 4, plan: RecomputePlan())
        for budget in [none + 1, at16] {
            XCTAssertNil(try RecomputePlan.slabDepth(config: cfg, geometry: geo, batch: 4, budgetBytes: budget), "budget \(budget)")
        }
        XCTAssertEqual(try RecomputePlan.slabDepth(config: cfg, geometry: geo, batch: 4, budgetBytes: at16 - 1), 8)
        XCTAssertEqual(try RecomputePlan.slabDepth(config: cfg, geometry: geo, batch: 4, budgetBytes: at8), 8)
        XCTAssertNil(try RecomputePlan.slabDepth(config: cfg, geometry: geo, batch: 4, budgetBytes: at8 - 1))
        var explicit = cfg
        explicit.slabDepth = 16
        XCTAssertNil(try RecomputePlan.slabDepth(config: explicit, geometry: geo, batch: 4, budgetBytes: at8))
    }

    /// A few steps on the test store: losses finite and moving, every part's weights change (trunk,
    /// both heads, both critics), the slab position drawn per step; outputs written.
    func testAFewStepsMoveTheLossesAndEveryPart() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeStore(dir + "/vol.h5", shape: [8, 12, 8])
        let cfg = try tinyConfig(.hagan3d, data: dir + "/vol.h5", out: dir + "/runs", extra: ["max_steps": 6, "conditional": true, "lowres_factor": 2, "slab_depth": 4])
        let t = try Trainer(config: cfg)
        let before = t.model.tensors()
        let s = try t.run()
        XCTAssertEqual(s.steps, 6)
        XCTAssertTrue(s.lastMetrics!.isFinite)
        let after = t.model.tensors()
        for name in ["G.project.weight", "G.ups.0.weight", "G.ups.1.weight", "G.low_head.weight", "D.low.downs.0.weight", "D.low.head.weight",
                     "D.high.downs.0.weight", "D.high.downs.1.weight", "D.high.head.weight"] {
            let b = try XCTUnwrap(before[name], "\(name) missing from \(before.keys.sorted())")
            XCTAssertFalse(b.bitwiseEqual(after[name]!), "\(name) did not change")
        }
        let rows = MetricsFile.read(s.runDirectory + "/metrics.jsonl")
        XCTAssertEqual(rows.count, 6)
        XCTAssertGreaterThan(Set(rows.map { $0["loss_d"]! }).count, 1, "the critic loss moves")
        XCTAssertGreaterThan(Set(rows.map { $0["loss_g"]! }).count, 1, "the generator loss moves")
        for f in ["loss_curve.png", "samples/latest.png", "checkpoints/final.h5"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: s.runDirectory + "/" + f), f)
        }
        // Generation: the NIfTI with a small budget (several tiles) equals the one without, bitwise.
        var plain = GenerationRequest(checkpoint: s.runDirectory, seeds: [4], out: dir + "/whole")
        plain.classes = ["HI"]
        let u = try Generation.run(plain)
        var tiled = plain
        tiled.out = dir + "/tiled"; tiled.tile = [4, 12, 8]
        let v = try Generation.run(tiled)
        XCTAssertGreaterThan(v.plan?.tileCount ?? 0, 1)
        let a = try NIfTIFile.read(u.files[0]), b = try NIfTIFile.read(v.files[0])
        XCTAssertEqual(a.shape, [8, 12, 8])
        XCTAssertEqual(a.data.map(\.bitPattern), b.data.map(\.bitPattern))
        XCTAssertEqual(a.affine, Affine(t.record.data.affine))
    }

    /// The low-resolution real is PyTorch's avg_pool3d(x, f, f): block means, here against a hand sum,
    /// and the loader reads the same bits from a store's low-resolution copy as it pools from a store
    /// without one (so `--low-res-copy` changes the I/O of a run, not its numbers).
    func testLowResolutionRealIsTheBlockMeanWithOrWithoutTheStoreCopy() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shape = [8, 12, 6]
        try makeStore(dir + "/plain.h5", shape: shape, count: 3)
        try FileManager.default.copyItem(atPath: dir + "/plain.h5", toPath: dir + "/copy.h5")
        _ = try LowResolution.addCopy(to: dir + "/copy.h5", factor: 2)
        let plain = try TrainingData(path: dir + "/plain.h5", model: .hagan3d, classFilter: "")
        let copy = try TrainingData(path: dir + "/copy.h5", model: .hagan3d, classFilter: "")
        XCTAssertNil(plain.store.lowResolution)
        XCTAssertEqual(copy.store.lowResolution?.factor, 2)
        for item in 0..<3 {
            var a = [Float](repeating: .nan, count: 72), b = [Float](repeating: .nan, count: 72)
            try plain.readLowResolution(item, factor: 2, into: &a)
            try copy.readLowResolution(item, factor: 2, into: &b)
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "item \(item): copy and pooled differ")
            let x = try plain.store.readPatch(item, origin: [0, 0, 0], size: shape)
            for z in 0..<4 { for y in 0..<6 { for w in 0..<3 {
                var s: Float = 0
                for dz in 0..<2 { for dy in 0..<2 { for dx in 0..<2 { s += x[((2 * z + dz) * 12 + 2 * y + dy) * 6 + 2 * w + dx] } } }
                XCTAssertEqual(a[(z * 6 + y) * 3 + w], s / 8, "item \(item) block (\(z), \(y), \(w))")
            } } }
        }
    }

    /// Settings that do not fit the grid: one ConfigError naming the setting and the reason.
    func testBadSettingsAreRefusedByName() throws {
        let cases: [([Int], [String: SettingValue], String, String)] = [
            ([12, 20, 12], ["slab_depth": 16], "slab_depth", "larger than"),
            ([12, 20, 12], ["slab_depth": 6], "slab_depth", "not a multiple"),
            ([12, 20, 12], ["lowres_factor": 8], "lowres_factor", "not divisible"),
            ([16, 24, 16], ["lowres_factor": 8], "lowres_factor", "g_channels has 2"),
        ]
        for (grid, extra, key, reason) in cases {
            XCTAssertThrowsError(try tinyModel(grid: grid, extra: extra), "\(extra)") { e in
                guard case let ConfigError.badValue(_, k, r) = e else { return XCTFail("\(e)") }
                XCTAssertEqual(k, key); XCTAssertTrue(r.contains(reason), r)
            }
        }
        XCTAssertThrowsError(try tinyModel(extra: ["lowres_factor": 3]))
        // The default slab: about 1/8 of the first axis, a multiple of 2^L_d.
        XCTAssertEqual(try tinyModel(grid: [192, 224, 192], extra: ["g_channels": "8,6,4", "d_channels": "4,6,8", "slab_depth": 0, "lowres_factor": 4]).generator
            .mirrorShape.slabDepth, 24)
    }
}

private extension Generator {
    var mirrorShape: HAGANShape { (self as! HAGANGenerator).shape }
}

func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    guard a.shape == b.shape else { return .infinity }
    var m: Float = 0
    for i in 0..<a.count { let d = abs(a.data[i] - b.data[i]); if !(d <= m) { m = d.isNaN ? .infinity : d } }
    return m
}
