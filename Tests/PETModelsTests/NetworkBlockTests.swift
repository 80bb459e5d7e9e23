import Foundation
import PETTestSupport
import XCTest
@testable import PETModels
import PETAutograd
import PETTensor
import PETTiling
import PETVolumes

/// Networks as lists of blocks: the state-dict names, the initialization order, checkpoints written
/// before the change and the memory estimate are what they were.
final class NetworkBlockTests: XCTestCase {
    /// State-dict names in the order reflection gave them before the networks were lists of blocks
    /// (family by family): initialization draws its random numbers in this order.
    func testStateNamesAndTheirOrderAreThoseOfStoredProperties() throws {
        var cfg = TrainConfig.defaults(for: .dcgan3d)
        cfg.gChannels = [8, 6, 4]; cfg.dChannels = [4, 6, 8]; cfg.zDim = 8; cfg.data = "test"
        let g = NetworkGeometry(dims: 3, channels: 1, imageShape: [16, 24, 16], layers: 3, conditionalClasses: 0)
        var rng = PETRandom(seed: 1)
        let m = try GANModel(config: cfg, geometry: g, rng: &rng)
        XCTAssertEqual(m.generator.namedParameters().map(\.0), [
            "project.weight", "bn0.weight", "bn0.bias", "ups.0.weight", "ups.1.weight", "ups.2.weight",
            "norms.0.weight", "norms.0.bias", "norms.1.weight", "norms.1.bias",
        ])
        XCTAssertEqual(m.generator.namedBuffers().map(\.0), [
            "bn0.running_mean", "bn0.running_var", "norms.0.running_mean", "norms.0.running_var", "norms.1.running_mean", "norms.1.running_var",
        ])
        XCTAssertEqual(m.discriminator.namedParameters().map(\.0), [
            "downs.0.weight", "downs.1.weight", "downs.2.weight", "norms.0.weight", "norms.0.bias", "norms.1.weight", "norms.1.bias", "head.weight",
        ])
        // Each block's kept tensors come from its norm and activation.
        XCTAssertEqual(m.generator.blocks.map(\.keptTensorsForBackward), [2, 2, 2])
        XCTAssertEqual(m.discriminator.blocks.map(\.keptTensorsForBackward), [2, 2, 2])
        cfg = TrainConfig.defaults(for: .wgangp3d)
        cfg.gChannels = [8, 6, 4]; cfg.dChannels = [4, 6, 8]; cfg.zDim = 8; cfg.data = "test"
        let w = try GANModel(config: cfg, geometry: g, rng: &rng)
        XCTAssertEqual(w.discriminator.blocks.map(\.keptTensorsForBackward), [2, 4, 4])
        // The tiled trunk is the blocks' layers in forward order; layer norm refuses at its index.
        XCTAssertThrowsError(try TiledStack(w.discriminator.blocks.flatMap(\.layers))) { e in
            guard case TilingError.unsupportedLayer(let i, let n, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(i, 3); XCTAssertEqual(n, "LayerNorm")
        }
    }

    /// `RecomputePlan`'s estimate, in bytes, and the plans it chooses, as the hand-kept per-block
    /// counts gave them (values computed from the formula at the top of RecomputePlan.swift before
    /// the counts came from the blocks).
    func testMemoryEstimateAndPlansAreUnchanged() throws {
        struct Case { var kind: ModelKind; var norm: CriticNorm; var dims: Int; var channels: Int; var image: [Int]
            var g: [Int]; var d: [Int]; var classes: Int; var batch: Int
            var parameters: (Int, Int); var none: Int; var all: Int; var plans: [(budget: Int, g: [Int], d: [Int], estimate: Int)] }
        let cases = [
            Case(kind: .dcgan3d, norm: .batch, dims: 3, channels: 1, image: [16, 24, 16], g: [8, 6, 4], d: [4, 6, 8], classes: 0, batch: 3,
                 parameters: (5668, 4988), none: 235_908_608, all: 235_848_704, plans: []),
            Case(kind: .wgangp3d, norm: .layer, dims: 3, channels: 1, image: [16, 24, 16], g: [8, 6, 4], d: [4, 6, 8], classes: 2, batch: 3,
                 parameters: (5860, 6816), none: 236_645_952, all: 236_523_840,
                 plans: [(236_554_368, [1, 2], [0, 1], 236_530_752), (236_584_896, [], [0], 236_572_224)]),
            Case(kind: .wgan3d, norm: .instance, dims: 3, channels: 1, image: [16, 24, 16], g: [8, 6, 4], d: [4, 6, 8], classes: 0, batch: 3,
                 parameters: (5668, 4960), none: 235_852_864, all: 235_730_752,
                 plans: [(235_761_280, [1, 2], [0, 1], 235_737_664), (235_791_808, [2], [0], 235_779_136), (235_822_336, [], [0], 235_797_568)]),
            Case(kind: .dcgan2d, norm: .none, dims: 2, channels: 3, image: [32, 32], g: [16, 8, 4], d: [4, 8, 16], classes: 0, batch: 5,
                 parameters: (6404, 4557), none: 235_752_720, all: 235_711_760, plans: []),
        ]
        for c in cases {
            var cfg = TrainConfig.defaults(for: c.kind)
            cfg.gChannels = c.g; cfg.dChannels = c.d; cfg.zDim = 8; cfg.criticNorm = c.norm; cfg.data = "test"
            let geo = NetworkGeometry(dims: c.dims, channels: c.channels, imageShape: c.image, layers: c.g.count, conditionalClasses: c.classes)
            var rng = PETRandom(seed: 2)
            let m = try GANModel(config: cfg, geometry: geo, rng: &rng)
            let name = "\(c.kind) \(c.norm)"
            XCTAssertEqual(m.generator.parameterCount, c.parameters.0, name)
            XCTAssertEqual(m.discriminator.parameterCount, c.parameters.1, name)
            XCTAssertEqual(RecomputePlan.estimate(m, batch: c.batch, plan: RecomputePlan()), c.none, name)
            let all = RecomputePlan.all(m, batch: c.batch)
            XCTAssertEqual(all.estimatedBytes, c.all, name)
            XCTAssertEqual(all.estimatedBytesWithout, c.none, name)
            for p in c.plans {
                let chosen = try RecomputePlan.choose(m, batch: c.batch, budgetBytes: p.budget)
                XCTAssertEqual(chosen.generatorBlocks.sorted(), p.g, "\(name) at \(p.budget)")
                XCTAssertEqual(chosen.discriminatorBlocks.sorted(), p.d, "\(name) at \(p.budget)")
                XCTAssertEqual(chosen.estimatedBytes, p.estimate, "\(name) at \(p.budget)")
            }
        }
    }

    /// Runs written by the code before networks were lists of blocks (Tests/Fixtures/pre-blocks,
    /// made by that build's `petgan train … --max-steps 1 --threads 1` on a 16³ phantom store, on a
    /// machine whose OpenBLAS ran its Haswell kernels). What does not depend on the BLAS kernels is
    /// checked bitwise on every machine:
    ///   - the checkpoint loads for generation;
    ///   - one step from the same seed today has the same state: tensor and optimizer names, shapes,
    ///     step counts and random streams (noise, data order);
    ///   - the same initialization draws and optimizer update: today's initial weights, stepped by
    ///     today's optimizer with the old run's gradient, are the old weights and moments (Adam's
    ///     first step keeps the gradient exactly: m = g − g·(1 − β1) = g/2 with β1 = ½);
    ///   - resuming the old file to step 3 equals resuming a checkpoint written today with the same
    ///     values, and today's resume equals an uninterrupted run.
    /// The gradients themselves (the ops) are compared with their references elsewhere; here they
    /// would be bitwise only on the fixture's BLAS kernels (SkylakeX's, Prescott's round otherwise).
    func testRunsWrittenBeforeBlocksLoadAndResumeBitwise() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/pre-blocks").path
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        // The runs name their data by the absolute path it had when they were made.
        let dataDir = "/tmp/petgan-fixture-pre-blocks"
        let store = dataDir + "/store.h5"
        let fm = FileManager.default
        try fm.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let fixtureStore = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/store.h5"))
        if (try? Data(contentsOf: URL(fileURLWithPath: store))) != fixtureStore {
            try fixtureStore.write(to: URL(fileURLWithPath: store), options: .atomic)
        }
        for (kind, run) in [("dcgan3d", "00001-dcgan3d"), ("wgangp3d", "00001-wgangp3d-cond")] {
            let old = fixtures + "/\(kind)/\(run)/checkpoints/latest.h5"
            let oldCheckpoint = try Checkpoint.load(from: old)
            let (loaded, rec, _) = try Generation.loadModel(old)
            XCTAssertEqual(loaded.tensors().count, oldCheckpoint.tensors.count, kind)
            for (k, t) in loaded.tensors() { XCTAssertTrue(oldCheckpoint.tensors[k]?.bitwiseEqual(t) ?? false, "\(kind) \(k) loaded") }
            let dir = try makeTempDir("pre-blocks-\(kind)")
            defer { try? fm.removeItem(atPath: dir) }

            // Today's step 1 from the same configuration: the same state, value for value where no
            // float arithmetic is involved.
            var fresh = rec.config
            fresh.out = dir + "/fresh"
            let one = try Trainer(config: fresh).run()
            let today = try Checkpoint.load(from: one.finalCheckpoint)
            XCTAssertEqual(today.tensors.mapValues(\.shape), oldCheckpoint.tensors.mapValues(\.shape), kind)
            XCTAssertEqual(today.step, oldCheckpoint.step, kind)
            XCTAssertEqual(today.rngs, oldCheckpoint.rngs, "\(kind): noise and data streams")
            XCTAssertEqual(Set(today.optimizers.keys), Set(oldCheckpoint.optimizers.keys), kind)
            for (name, st) in today.optimizers {
                let o = try XCTUnwrap(oldCheckpoint.optimizers[name])
                XCTAssertEqual(st.steps, o.steps, "\(kind) \(name) step counts")
                XCTAssertEqual(st.tensors.mapValues(\.shape), o.tensors.mapValues(\.shape), "\(kind) \(name) moments")
            }

            // The initialization and the update: step today's initial weights with the old gradient.
            var initial = rec.config
            initial.out = dir + "/initial"
            let start = try Trainer(config: initial).model
            var checked = 0
            for (name, opt) in [("optG", start.optG), ("optD", start.optD)] {
                let o = try XCTUnwrap(oldCheckpoint.optimizers[name])
                for (param, v) in opt.parameters where o.steps[param] == 1 {
                    let firstMoment = try XCTUnwrap(o.tensors[param + ".exp_avg"], "\(kind) \(param): Adam's first moment")
                    let p = Variable(v.value.copy(), requiresGrad: true)
                    p.grad = Tensor(shape: firstMoment.shape, values: firstMoment.array.map { 2 * $0 })
                    let single = rec.config.optimizer.make([(param, p)], learningRate: name == "optG" ? rec.config.lrG : rec.config.lrD, config: rec.config)
                    try single.step()
                    XCTAssertTrue(p.value.bitwiseEqual(try XCTUnwrap(oldCheckpoint.tensors[param])), "\(kind) \(param): initial weights + update")
                    XCTAssertEqual(OptimizerState(tensors: o.tensors.filter { $0.key.hasPrefix(param + ".") }, steps: [param: 1]), single.state(),
                                   "\(kind) \(param): moments")
                    checked += 1
                }
            }
            // The generator's parameters take one update in step 1 (the critic takes n_critic).
            XCTAssertGreaterThanOrEqual(checked, start.optG.parameters.count, kind)

            // Resume: the old file against today's checkpoint holding the old values.
            let copy = dir + "/" + run
            try fm.copyItem(atPath: fixtures + "/\(kind)/\(run)", toPath: copy)
            let hybridRun = dir + "/hybrid"
            try fm.copyItem(atPath: one.runDirectory, toPath: hybridRun)
            var hybrid = today
            hybrid.tensors = oldCheckpoint.tensors
            hybrid.optimizers = oldCheckpoint.optimizers
            try hybrid.save(to: hybridRun + "/checkpoints/latest.h5")
            var more = TrainConfig(); more.maxSteps = 3; more.epochs = 1
            let resumedOld = try Trainer(config: more, resumeDirectory: copy)
            XCTAssertEqual(resumedOld.step, 1, kind)
            let a = try resumedOld.run()
            XCTAssertEqual(a.steps, 3, kind)
            let b = try Trainer(config: more, resumeDirectory: hybridRun).run()
            checkpointsEqual(try Checkpoint.load(from: a.finalCheckpoint), try Checkpoint.load(from: b.finalCheckpoint))
            // Today's resume from today's step 1 equals an uninterrupted run (same machine, same kernels).
            let c = try Trainer(config: more, resumeDirectory: one.runDirectory).run()
            fresh.out = dir + "/whole"; fresh.maxSteps = 3
            let whole = try Trainer(config: fresh).run()
            checkpointsEqual(try Checkpoint.load(from: whole.finalCheckpoint), try Checkpoint.load(from: c.finalCheckpoint))
        }
    }
}
