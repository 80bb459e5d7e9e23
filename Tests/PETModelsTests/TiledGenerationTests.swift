import Foundation
import XCTest
import PETTestSupport
@testable import PETModels
import PETAutograd
import PETTensor
import PETTiling
import PETVolumes

/// `petgan generate --memory-budget`: the generator's convolutional part tile by tile (PETTiling),
/// against the untiled path of the same checkpoint.
final class TiledGenerationTests: XCTestCase {
    override func tearDown() { MemoryAccountant.shared.budgetBytes = nil }

    /// A trained tiny conditional WGAN-GP: tiled NIfTI (explicit tiles that do not divide the grid,
    /// and a budget-chosen tile) equals the untiled NIfTI within 1e-5 of the generator's output
    /// units, with the same shape, affine, provenance sidecar and data range semantics.
    func testTiledGenerationFromCheckpointEqualsUntiled() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = dir + "/vol.h5"
        try makeStore(store, shape: [8, 12, 8])
        let s = try Trainer(config: tinyConfig(.wgangp3d, data: store, out: dir + "/runs", extra: ["max_steps": 2, "n_critic": 1, "conditional": true])).run()
        var plain = GenerationRequest(checkpoint: s.runDirectory, seeds: [4, 5], out: dir + "/untiled")
        plain.classes = ["HI", "LO"]
        let u = try Generation.run(plain)
        XCTAssertNil(u.plan)
        // The store's map is y = SUVR · 2/3 − 1: 1e-5 of the generator's output is 1.5e-5 SUVR.
        let tolerance: Float = 1e-5 * 1.5

        // The budget case must really tile: the tightest budget that works (what a too-small budget's
        // error names, in bytes) leaves room for the smallest tiles only, never the whole grid.
        var probe = plain
        probe.out = dir + "/probe"
        probe.memoryBudget = 4096
        var tightest: Int?
        XCTAssertThrowsError(try Generation.run(probe)) { e in
            guard case TilingError.budgetTooSmall(_, let need, _) = e else { return XCTFail("\(e)") }
            tightest = need
        }
        let budget = try XCTUnwrap(tightest)
        for (name, tile, budget) in [("tiles", [3, 5, 3] as [Int]?, nil as Int?), ("budget", nil, budget)] {
            var req = plain
            req.out = dir + "/" + name
            req.tile = tile
            req.memoryBudget = budget
            let t = try Generation.run(req)
            let plan = try XCTUnwrap(t.plan, name)
            if tile != nil { XCTAssertEqual(plan.tileCounts, [3, 3, 3], name) }
            if let b = budget {
                XCTAssertGreaterThan(plan.tileCount, 1, "\(name): a budget of \(b) bytes must tile the 8×12×8 grid")
                XCTAssertLessThanOrEqual(plan.estimatedBytes, b, name)
            }
            XCTAssertEqual(t.files.map { ($0 as NSString).lastPathComponent }, u.files.map { ($0 as NSString).lastPathComponent })
            for (a, b) in zip(t.files, u.files) {
                let va = try NIfTIFile.read(a), vb = try NIfTIFile.read(b)
                XCTAssertEqual(va.shape, [8, 12, 8])
                XCTAssertEqual(va.shape, vb.shape)
                XCTAssertEqual(va.affine.maxAbsDifference(vb.affine), 0, "the training grid's affine")
                XCTAssertEqual(va.space, vb.space)
                let diff = maxAbsDifference(va.data, vb.data)
                XCTAssertLessThanOrEqual(diff, tolerance, "\(name) \(a)")
                // Provenance: the same sidecar (checkpoint hash, class, seed, units, version).
                let sa = try Data(contentsOf: URL(fileURLWithPath: NIfTIFile.sidecarPath(a)))
                let sb = try Data(contentsOf: URL(fileURLWithPath: NIfTIFile.sidecarPath(b)))
                XCTAssertEqual(sa, sb, "sidecars of \(a)")
                // SUVR units: tanh ∈ [−1, 1] maps back into [0, 3].
                XCTAssertGreaterThanOrEqual(va.finiteRange.min, -1e-4)
                XCTAssertLessThanOrEqual(va.finiteRange.max, 3 + 1e-4)
            }
            XCTAssertTrue(FileManager.default.fileExists(atPath: t.montage))
            // A grid this small is previewed at full resolution: the same montage size as untiled.
            XCTAssertEqual(try PNGFile.read(t.montage).width, try PNGFile.read(u.montage).width)
        }

        // h5 output through the tiled path: the same volumes as the untiled store.
        var h5u = plain, h5t = plain
        h5u.out = dir + "/h5u"; h5u.format = .h5
        h5t.out = dir + "/h5t"; h5t.format = .h5; h5t.tile = [5, 5, 5]
        let su = try VolumeStore.open(try Generation.run(h5u).files.last!), st = try VolumeStore.open(try Generation.run(h5t).files.last!)
        XCTAssertEqual(st.count, su.count)
        for i in 0..<su.count {
            let d = maxAbsDifference(try st.readVolume(i).data, try su.readVolume(i).data)
            XCTAssertLessThanOrEqual(d, tolerance)
        }
    }

    /// A budget too small for even the smallest tile fails before anything is written, with a typed
    /// error naming a budget that would work; that budget then works.
    func testTooSmallBudgetNamesOneThatWorks() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = dir + "/vol.h5"
        try makeStore(store, shape: [8, 12, 8])
        let s = try Trainer(config: tinyConfig(.dcgan3d, data: store, out: dir + "/runs", extra: ["max_steps": 1])).run()
        var req = GenerationRequest(checkpoint: s.runDirectory, seeds: [1], out: dir + "/small")
        req.memoryBudget = 4096
        var suggestion: String?
        XCTAssertThrowsError(try Generation.run(req)) { e in
            guard case TilingError.budgetTooSmall(let b, let need, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(b, 4096)
            XCTAssertGreaterThan(need, 4096)
            let text = "\(e)"
            XCTAssertTrue(text.contains("too small"), text)
            if let r = text.range(of: "--memory-budget ") { suggestion = String(text[r.upperBound...].prefix { $0 != ")" }) }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/small").filter { $0.contains(".nii") }, [], "nothing half-written")
        let text = try XCTUnwrap(suggestion)
        req.memoryBudget = try XCTUnwrap(parseByteSize(text), text)
        req.out = dir + "/ok"
        let g = try Generation.run(req)
        XCTAssertEqual(g.files.count, 1)
        XCTAssertEqual(try NIfTIFile.read(g.files[0]).shape, [8, 12, 8])

        // 2D models have no tiled path: a clear error, not a silent untiled run.
        let store2 = dir + "/slices.h5"
        try makeStore(store2, shape: [3, 16, 16], count: 8)
        let s2 = try Trainer(config: tinyConfig(.dcgan2d, data: store2, out: dir + "/runs2", extra: ["max_steps": 1, "class": "HI"])).run()
        var r2 = GenerationRequest(checkpoint: s2.runDirectory, seeds: [0], out: dir + "/2d")
        r2.memoryBudget = 512 << 20
        XCTAssertThrowsError(try Generation.run(r2)) { e in XCTAssertTrue("\(e)".contains("3D models"), "\(e)") }
    }

    /// The whole-brain 1 mm grid (192×224×192, base 12×14×12 × 2^4): the generator's own layers run
    /// tiled within a budget far below the untiled activations equal its untiled forward.
    func testWholeBrainGridGeneratorTiledEqualsUntiled() throws {
        let g = NetworkGeometry(dims: 3, channels: 1, imageShape: [192, 224, 192], layers: 4, conditionalClasses: 0)
        var rng = PETRandom(seed: 5)
        let gen = Generator(geometry: g, zDim: 8, channels: [16, 8, 4, 2], rng: &rng)
        initializeWeights(gen, std: 0.2, rng: &rng)
        gen.eval()
        let z = Variable(Tensor.normal([1, 8], rng: &rng))
        let want = try withNoGrad { try gen(z) }.value
        XCTAssertEqual(want.shape, [1, 1, 192, 224, 192])
        let x = try withNoGrad { try gen.input.layer(z) }.value
        XCTAssertEqual(x.shape, [1, 16, 12, 14, 12])
        let tg = try TiledGenerator(gen)
        ScratchPool.shared.trim()
        let budget = MemoryAccountant.shared.bytesInUse + (24 << 20)
        let plan = try tg.plan(latentGrid: x.shape, memoryBudget: budget)
        XCTAssertGreaterThan(plan.tileCount, 1, "\(plan)")
        let sink = TensorSink(shape: plan.outputShape)
        // The collecting sink is the test's, not the plan's: count the budget from after it.
        let counted = budget + sink.output.count * 4
        MemoryAccountant.shared.budgetBytes = counted
        MemoryAccountant.shared.resetPeak()
        try tg.generate(x, plan: plan, into: sink)
        XCTAssertLessThanOrEqual(MemoryAccountant.shared.peakBytes, counted)
        MemoryAccountant.shared.budgetBytes = nil
        XCTAssertLessThanOrEqual(sink.output.maxAbsDifference(to: want), 1e-5)
        XCTAssertGreaterThan(sink.output.maxAbsDifference(to: Tensor(shape: want.shape)), 0.01, "a non-trivial output")
    }
}

/// Tiled analysis: the critic's trunk tile by tile equals the untiled critic in evaluation mode.
final class TiledCriticTests: XCTestCase {
    func model(norm: String, conditional: Int, grid: [Int]) throws -> GANModel {
        // A Wasserstein critic refuses batch norm: the batch-norm critic is a DCGAN discriminator.
        var cfg = TrainConfig.defaults(for: norm == "batch" ? .dcgan3d : .wgangp3d)
        cfg.gChannels = [8, 4, 4]; cfg.dChannels = [4, 6, 8]; cfg.zDim = 8; cfg.criticNorm = try XCTUnwrap(CriticNorm(rawValue: norm)); cfg.data = "test"
        let g = NetworkGeometry(dims: 3, channels: 1, imageShape: grid, layers: 3, conditionalClasses: conditional)
        var rng = PETRandom(seed: 9)
        let m = try GANModel(config: cfg, geometry: g, rng: &rng)
        // Non-trivial running statistics and affine parameters (the defaults would hide mistakes).
        for (_, b) in m.discriminator.namedBuffers() { for i in 0..<b.value.count { b.value.data[i] = b.value.data[i] + rng.uniform(0.1, 0.5) } }
        for p in m.discriminator.parameters { for i in 0..<p.count { p.value.data[i] += rng.uniform(-0.1, 0.1) } }
        return m
    }

    func testTiledCriticEqualsUntiled() throws {
        for (norm, k) in [("batch", 0), ("none", 2)] {
            let m = try model(norm: norm, conditional: k, grid: [24, 40, 16])
            var rng = PETRandom(seed: 4)
            let x = Tensor.uniform([2, 1, 24, 40, 16], low: -1, high: 1, rng: &rng)
            let labels = k > 0 ? [1, 0] : [0, 0]
            m.discriminator.eval()
            let want = try withNoGrad { try m.discriminate(Variable(x), labels: labels) }.value
            m.discriminator.train()
            for tile in [[1, 2, 1], [2, 3, 2], [3, 5, 2]] {
                let (got, plan) = try TiledCritic.scores(m, images: x, labels: labels, tile: tile)
                XCTAssertEqual(plan.tileCount, [[1, 2, 1]: 18, [2, 3, 2]: 4, [3, 5, 2]: 1][tile], "trunk output 3×5×2")
                XCTAssertEqual(got.shape, [2, 1])
                XCTAssertLessThanOrEqual(got.maxAbsDifference(to: want), 1e-5, "\(norm) tile \(tile): \(got.array) vs \(want.array)")
            }
            XCTAssertTrue(m.discriminator.isTraining, "the mode is restored")
            XCTAssertNotEqual(want.array[0], want.array[1])
        }
        let layer = try model(norm: "layer", conditional: 0, grid: [16, 16, 16])
        XCTAssertThrowsError(try TiledCritic.scores(layer, images: Tensor(shape: [1, 1, 16, 16, 16]), labels: [0], tile: [1, 1, 1])) { e in
            guard case TilingError.unsupportedLayer = e else { return XCTFail("\(e)") }
        }
    }
}

/// Memory-budgeted training: a GAN step with every block recomputed (activation checkpointing)
/// gives the same gradients, running statistics and updated weights as keeping the activations.
final class RecomputeTrainingTests: XCTestCase {
    func step(_ kind: ModelKind, recompute: Bool) throws -> GANModel {
        var cfg = TrainConfig.defaults(for: kind)
        cfg.gChannels = [8, 6, 4]; cfg.dChannels = [4, 6, 8]; cfg.zDim = 8; cfg.nCritic = 1; cfg.data = "test"
        let g = NetworkGeometry(dims: 3, channels: 1, imageShape: [16, 24, 16], layers: 3, conditionalClasses: 0)
        var rng = PETRandom(seed: 21)
        let m = try GANModel(config: cfg, geometry: g, rng: &rng)
        if recompute { RecomputePlan.all(m, batch: 3).apply(to: m) }
        let real = Tensor.uniform([3, 1, 16, 24, 16], low: -1, high: 1, rng: &rng)
        var noise = PETRandom(seed: 5)
        for _ in 0..<2 { _ = try m.trainStep(real: [(real, [0, 0, 0])], rng: &noise) }
        return m
    }

    func testFirstOrderStepIsBitwiseEqual() throws {
        // DCGAN: batch norm in both networks (running statistics must move once), BCE, first order.
        let a = try step(.dcgan3d, recompute: false), b = try step(.dcgan3d, recompute: true)
        XCTAssertEqual(b.generator.recomputeBlocks.count, 3)
        for ((n, x), (_, y)) in zip(a.generator.namedParameters() + a.discriminator.namedParameters(), b.generator.namedParameters() + b.discriminator.namedParameters()) {
            XCTAssertTrue(x.value.bitwiseEqual(y.value), "\(n): \(x.value.maxAbsDifference(to: y.value))")
            XCTAssertTrue(x.grad!.bitwiseEqual(y.grad!), "gradient of \(n)")
        }
        for ((n, x), (_, y)) in zip(a.generator.namedBuffers() + a.discriminator.namedBuffers(), b.generator.namedBuffers() + b.discriminator.namedBuffers()) {
            XCTAssertTrue(x.value.bitwiseEqual(y.value), "buffer \(n)")
        }
    }

    func testGradientPenaltyStepMatches() throws {
        // WGAN-GP: the penalty's double backward goes through the recomputed critic blocks.
        let a = try step(.wgangp3d, recompute: false), b = try step(.wgangp3d, recompute: true)
        XCTAssertEqual(b.discriminator.recomputeBlocks.count, 3)
        for ((n, x), (_, y)) in zip(a.generator.namedParameters() + a.discriminator.namedParameters(), b.generator.namedParameters() + b.discriminator.namedParameters()) {
            let gx = x.grad!, gy = y.grad!
            let size = gx.maxAbsDifference(to: Tensor(shape: gx.shape))
            XCTAssertGreaterThan(size, 0, n)
            XCTAssertLessThanOrEqual(gx.maxAbsDifference(to: gy), 1e-5 * size, "gradient of \(n)")
        }
    }
}
