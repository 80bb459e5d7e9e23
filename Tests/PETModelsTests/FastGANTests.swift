import Foundation
import PETTestSupport
import XCTest
@testable import PETModels
import PETAutograd
import PETTensor
import PETVolumes

/// The conditional FastGAN (FastGAN.swift), differentiable augmentation (Augmentation.swift) and the
/// generator's moving average (GeneratorEMA.swift). Their bitwise resume is in TrainingTests (every
/// `ModelKind`, and dcgan3d with augmentation and EMA); op gradients in PETAutogradTests/SpatialOpsTests.
final class FastGANTests: XCTestCase {
    static var store3D = ""
    static var store2D = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        let dir = NSTemporaryDirectory() + "petgan-fastgan-stores-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        FastGANTests.store3D = dir + "/vol.h5"; FastGANTests.store2D = dir + "/slices.h5"
        if !FileManager.default.fileExists(atPath: FastGANTests.store3D) { try makeStore(FastGANTests.store3D, shape: [8, 12, 8]) }
        if !FileManager.default.fileExists(atPath: FastGANTests.store2D) { try makeStore(FastGANTests.store2D, shape: [3, 16, 16], count: 16) }
    }

    func model(_ kind: ModelKind, image: [Int], channels: Int, extra: [String: SettingValue]) throws -> GANModel {
        var o: [String: SettingValue] = ["data": "x.h5", "g_channels": "16,8,8", "d_channels": "8,16,16", "z_dim": 10]
        for (k, v) in extra { o[k] = v }
        let c = try TrainConfig.resolve(model: kind, preset: nil, yamlFile: nil, overrides: o)
        var rng = PETRandom(seed: 4)
        return try GANModel(config: c, geometry: NetworkGeometry(dims: image.count, channels: channels, imageShape: image, layers: 3, conditionalClasses: 2), rng: &rng)
    }

    /// Every layer's output shape, 3D: 32³ images, base grid 4³, one excitation (f0 gates f3).
    func testLayerShapes3D() throws {
        let m = try model(.fastgan3d, image: [32, 32, 32], channels: 1, extra: [:])
        let table = try m.layerTable()
        let want: [(String, [Int])] = [
            ("G.project", [2, 16, 4, 4, 4]), ("G.ups.0", [2, 8, 8, 8, 8]), ("G.ups.1", [2, 8, 16, 16, 16]), ("G.ups.2", [2, 8, 32, 32, 32]),
            ("G.sle.0 (f0 gates f3)", [2, 8, 32, 32, 32]), ("G.out", [2, 1, 32, 32, 32]),
            ("D.downs.0", [2, 8, 16, 16, 16]), ("D.downs.1", [2, 16, 8, 8, 8]), ("D.downs.2", [2, 16, 4, 4, 4]), ("D.head", [2, 1]),
            ("D.dec_whole (from downs.2)", [2, 1, 16, 16, 16]), ("D.dec_part (a corner of downs.1)", [2, 1, 16, 16, 16]),
        ]
        XCTAssertEqual(table.map(\.0), want.map(\.0))
        XCTAssertEqual(table.map(\.1), want.map(\.1))
        let g = Dictionary(uniqueKeysWithValues: m.generator.namedParameters().map { ($0.0, $0.1.shape) })
        XCTAssertEqual(g["project.weight"], [12, 32, 4, 4, 4], "z 10 + 2 classes → 2·16 channels on the base grid (GLU halves them)")
        XCTAssertEqual(g["ups.0.conv.weight"], [16, 16, 3, 3, 3], "conv k3 to 2·8 channels")
        XCTAssertEqual(g["norms.0.weight"], [16])
        XCTAssertEqual(g["out.weight"], [1, 8, 3, 3, 3])
        XCTAssertEqual(g["sle.0.squeeze"], [8, 16, 4, 4, 4], "the low map pooled to the base grid, reduced by a base-grid kernel")
        XCTAssertEqual(g["sle.0.excite"], [8, 8, 1, 1, 1])
        let d = Dictionary(uniqueKeysWithValues: m.discriminator.namedParameters().map { ($0.0, $0.1.shape) })
        XCTAssertEqual(d["downs.0.weight"], [8, 3, 4, 4, 4], "image + 2 constant class channels")
        XCTAssertEqual(d["head.weight"], [1, 16, 4, 4, 4])
        XCTAssertEqual(d["dec_whole.ups.0.conv.weight"], [16, 16, 3, 3, 3])
        XCTAssertEqual(d["dec_part.out.weight"], [1, 8, 3, 3, 3])
        XCTAssertTrue(m.discriminator.norm == .batch && m.discriminator.blocks[1].norm is BatchNorm3d, "FastGAN's discriminator uses batch norm")
        XCTAssertEqual(m.config.loss, .hinge)
        XCTAssertEqual(m.config.generatorEMADecay, 0.999, "FastGAN samples a 0.999 moving average")
    }

    /// 2D: 32² slices of 3 channels, two excitations (f0 gates f3 and f2).
    func testLayerShapes2D() throws {
        let m = try model(.fastgan2d, image: [32, 32], channels: 3, extra: ["sle": 2])
        let table = try m.layerTable()
        let want: [(String, [Int])] = [
            ("G.project", [2, 16, 4, 4]), ("G.ups.0", [2, 8, 8, 8]), ("G.ups.1", [2, 8, 16, 16]), ("G.sle.1 (f0 gates f2)", [2, 8, 16, 16]),
            ("G.ups.2", [2, 8, 32, 32]), ("G.sle.0 (f0 gates f3)", [2, 8, 32, 32]), ("G.out", [2, 3, 32, 32]),
            ("D.downs.0", [2, 8, 16, 16]), ("D.downs.1", [2, 16, 8, 8]), ("D.downs.2", [2, 16, 4, 4]), ("D.head", [2, 1]),
            ("D.dec_whole (from downs.2)", [2, 3, 16, 16]), ("D.dec_part (a corner of downs.1)", [2, 3, 16, 16]),
        ]
        XCTAssertEqual(table.map(\.0), want.map(\.0))
        XCTAssertEqual(table.map(\.1), want.map(\.1))
        XCTAssertEqual(fastGANExcitationPairs(layers: 6, count: 3).map { [$0.low, $0.high] }, [[2, 6], [1, 5], [0, 4]], "4 doublings apart, as FastGAN's 8→128, 16→256")
        XCTAssertThrowsError(try model(.fastgan2d, image: [32, 32], channels: 3, extra: ["sle": 4]), "3 up-sampling blocks allow 3 excitations")
        XCTAssertThrowsError(try model(.fastgan2d, image: [32, 32], channels: 3, extra: ["sle": 9]))
    }

    /// A few steps of both variants, conditional, with augmentation: losses finite and moving, the
    /// reconstruction term positive, every part of both networks (excitation and decoders too) updated.
    func testFastGANTrainsAFewSteps() throws {
        for kind in [ModelKind.fastgan3d, .fastgan2d] {
            let data = kind.isThreeD ? FastGANTests.store3D : FastGANTests.store2D
            let cfg = try tinyConfig(kind, data: data, out: try makeTempDir(),
                                     extra: ["max_steps": 4, "conditional": true, "augment": "translation,cutout,intensity"])
            let t = try Trainer(config: cfg)
            let before = t.model.tensors()
            let s = try t.run()
            XCTAssertEqual(s.steps, 4)
            XCTAssertTrue(s.lastMetrics!.isFinite)
            let after = t.model.tensors()
            // 2D: the projection and head are fully connected layers ("fc").
            let dense = kind.isThreeD ? "" : ".fc"
            for name in ["G.project\(dense).weight", "G.sle.0.squeeze", "G.out.weight", "D.downs.0.weight", "D.head\(dense).weight", "D.dec_whole.out.weight", "D.dec_part.ups.0.conv.weight"] {
                XCTAssertFalse(try XCTUnwrap(before[name], name).bitwiseEqual(after[name]!), "\(kind): \(name) did not change")
            }
            XCTAssertNotNil(after["GEMA.out.weight"], "the moving average is checkpointed")
            let rows = MetricsFile.read(s.runDirectory + "/metrics.jsonl")
            XCTAssertEqual(rows.map { $0["step"]! }, [1, 2, 3, 4])
            XCTAssertGreaterThan(Set(rows.map { $0["loss_d"]! }).count, 1, "\(kind): the critic loss does not move")
            XCTAssertGreaterThan(Set(rows.map { $0["loss_g"]! }).count, 1, "\(kind): the generator loss does not move")
            for r in rows {
                XCTAssertGreaterThan(r["recon"]!, 0, "the reconstruction loss is part of the critic loss")
                XCTAssertGreaterThan(r["loss_d"]!, r["recon"]! - 1e-9, "hinge ≥ 0 plus the reconstruction")
            }
            XCTAssertTrue(try String(contentsOfFile: s.runDirectory + "/train.log", encoding: .utf8).contains("augment intensity=0.2,translation=0.125,cutout=0.5"))
        }
    }

    /// The reconstruction loss: MSE of the whole-image decoder against the half-resolution image plus
    /// MSE of the crop decoder against the same corner of the image, recomputed here by hand.
    func testReconstructionLossIsTheStatedMSE() throws {
        let m = try model(.fastgan3d, image: [16, 16, 16], channels: 1, extra: ["reconstruction_weight": 0.5])
        let d = try XCTUnwrap(m.discriminator as? FastGANDiscriminator)
        var rng = PETRandom(seed: 8)
        let x = Variable(Tensor.uniform([2, 3, 16, 16, 16], low: -1, high: 1, rng: &rng))
        var r1 = PETRandom(seed: 9), r2 = r1
        let (_, loss) = try d.forwardReal(x, rng: &r1)
        let part = r2.int(below: 8)
        var f = x, feats: [Variable] = []
        for b in d.blocks { f = try b(f); feats.append(f) }
        let image = try x.slice(axis: 1, start: 0, length: 1)
        let whole = try d.decoderWhole(feats[2]).value, crop = try d.decoderPart(FastGANDiscriminator.corner(feats[1], part: part)).value
        let half = try avgPool(image, factor: [2, 2, 2]).value, corner = try FastGANDiscriminator.corner(image, part: part).value
        XCTAssertEqual(corner.shape, [2, 1, 8, 8, 8])
        func mse(_ a: Tensor, _ b: Tensor) -> Double { zip(a.array, b.array).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +) / Double(a.count) }
        XCTAssertEqual(Double(try XCTUnwrap(loss).scalar), 0.5 * (mse(whole, half) + mse(crop, corner)), accuracy: 1e-5)
        // The corner is the one `part` names: bit a set = the upper half of spatial axis a.
        let c5 = try FastGANDiscriminator.corner(Variable(Tensor(shape: [1, 1, 2, 2, 2], values: (0..<8).map(Float.init))), part: 5).value
        XCTAssertEqual(c5.array, [5], "part 5 = upper D (bit 0) and upper W (bit 2): index (1, 0, 1)")
    }

    // MARK: augmentation

    /// Plain reference of one policy on one sample (loops over coordinates).
    func reference(_ x: Tensor, _ d: AugmentPolicy.Draw) -> [Float] {
        let shape = x.shape, n = shape[0], c = shape[1], spatial = Array(shape.dropFirst(2)), per = spatial.reduce(1, *)
        var out = [Float](repeating: 0, count: x.count)
        for s in 0..<n {
            for ch in 0..<c {
                forEachPosition(spatial) { idx, p in
                    // Output voxel p: inside a cutout box → −1; else the translated source (−1 outside)…
                    if let b = d.boxes?[s], zip(p, b).allSatisfy({ $0 >= $1.0 && $0 < $1.1 }) { out[(s * c + ch) * per + idx] = -1; return }
                    var q = p
                    if let sh = d.shifts?[s] { q = zip(p, sh).map { $0 - $1 } }
                    guard zip(q, spatial).allSatisfy({ $0 >= 0 && $0 < $1 }) else { out[(s * c + ch) * per + idx] = -1; return }
                    // … of the flipped, intensity-scaled input.
                    if d.flips?[s] == true { q[q.count - 1] = spatial.last! - 1 - q[q.count - 1] }
                    let lin = q.enumerated().reduce(0) { $0 * spatial[$1.offset] + $1.element }
                    var v = x.data[(s * c + ch) * per + lin]
                    if let sc = d.scales?[s] { v = (v + 1) * sc - 1 }
                    out[(s * c + ch) * per + idx] = v
                }
            }
        }
        return out
    }

    func testAugmentationOpsMatchPlainReferences() throws {
        let policy = try AugmentPolicy.parse("cutout=0.4, translation=0.3,flip-lr=0.5,intensity=0.25")
        XCTAssertEqual(policy.description, "intensity=0.25,flip-lr=0.5,translation=0.3,cutout=0.4", "one canonical order")
        var rng = PETRandom(seed: 31)
        for shape in [[6, 2, 5, 7, 6], [6, 3, 9, 7]] {
            let x = Tensor.uniform(shape, low: -1, high: 1, rng: &rng)
            let d = policy.draw(n: shape[0], spatial: Array(shape.dropFirst(2)), rng: &rng)
            let y = try policy.apply(Variable(x), parameters: d).value
            XCTAssertLessThanOrEqual(maxAbsDifference(y.array, reference(x, d)), 1e-6, "\(shape)")
            for op in AugmentOp.allCases {
                // Each op alone, too.
                let single = try AugmentPolicy.parse(op.rawValue)
                let ds = single.draw(n: shape[0], spatial: Array(shape.dropFirst(2)), rng: &rng)
                XCTAssertLessThanOrEqual(maxAbsDifference(try single.apply(Variable(x), parameters: ds).value.array, reference(x, ds)), 1e-6, "\(op) \(shape)")
            }
        }
        // Background stays background under every op; translation and cutout fill with it.
        let bg = Tensor(shape: [4, 1, 6, 6, 6], values: [Float](repeating: -1, count: 4 * 216))
        XCTAssertEqual(Set(try policy.apply(Variable(bg), rng: &rng).value.array), [-1])
        for bad in ["translate", "cutout=2", "intensity=x", "cutout,cutout", "flip-lr=-0.1"] {
            XCTAssertThrowsError(try AugmentPolicy.parse(bad), bad) { e in XCTAssertTrue("\(e)".hasPrefix("--augment: setting 'augment'"), "\(e)") }
        }
        XCTAssertTrue(try AugmentPolicy.parse("none").isEmpty)
        XCTAssertNil(try AugmentPolicy.parse("translation").strengths[.flipLR], "flip is off unless asked for")
    }

    /// Parameters are a function of the seed, drawn per sample (samples of a batch differ) and anew
    /// on every call (a real and a generated batch get different draws of one policy).
    func testAugmentationIsSeededAndPerSample() throws {
        let policy = try AugmentPolicy.parse("translation,cutout,intensity,flip-lr")
        var a = PETRandom(seed: 5), b = PETRandom(seed: 5)
        let da = policy.draw(n: 16, spatial: [12, 14, 12], rng: &a), db = policy.draw(n: 16, spatial: [12, 14, 12], rng: &b)
        XCTAssertEqual(da, db)
        XCTAssertGreaterThan(Set(da.shifts!.map { $0.description }).count, 4)
        XCTAssertGreaterThan(Set(da.scales!).count, 8)
        XCTAssertTrue(da.flips!.contains(true) && da.flips!.contains(false))
        XCTAssertTrue(da.scales!.allSatisfy { $0 >= 0.8 && $0 <= 1.2 })
        XCTAssertTrue(da.shifts!.allSatisfy { s in zip(s, [12, 14, 12]).allSatisfy { abs($0) <= Int(Double($1) * 0.125 + 0.5) } })
        let next = policy.draw(n: 16, spatial: [12, 14, 12], rng: &a)
        XCTAssertNotEqual(next, da)
    }

    /// Differentiable: the gradient of ⟨r, aug(x)⟩ in x equals central differences (the policy is
    /// affine in x, so they agree to rounding), for every op, 3D and 2D.
    func testAugmentationIsDifferentiable() throws {
        var rng = PETRandom(seed: 12)
        for text in ["intensity", "flip-lr=1", "translation=0.3", "cutout=0.5", "translation,cutout,intensity,flip-lr"] {
            let policy = try AugmentPolicy.parse(text)
            for shape in [[3, 2, 5, 4, 6], [2, 3, 7, 5]] {
                let x = Tensor.uniform(shape, low: -1, high: 1, rng: &rng), r = Tensor.uniform(shape, low: -1, high: 1, rng: &rng)
                let d = policy.draw(n: shape[0], spatial: Array(shape.dropFirst(2)), rng: &rng)
                let xv = Variable(x, requiresGrad: true)
                try (policy.apply(xv, parameters: d) * Variable(r)).sum().backward()
                let g = try XCTUnwrap(xv.grad)
                func value(_ t: Tensor) throws -> Double {
                    zip(try policy.apply(Variable(t), parameters: d).value.array, r.array).map { Double($0) * Double($1) }.reduce(0, +)
                }
                for _ in 0..<24 {
                    let i = rng.int(below: x.count)
                    let p = x.copy(), m = x.copy()
                    p.data[i] += 0.25; m.data[i] -= 0.25
                    XCTAssertEqual(Double(g.data[i]), (try value(p) - value(m)) / 0.5, accuracy: 1e-4, "\(text) \(shape) element \(i)")
                }
            }
        }
    }

    /// The same policy reaches both of the critic's inputs: a critic step's scores equal the scores of
    /// a replica computed by hand with the augmentation drawn for the real batch, then the generated one.
    func testCriticSeesRealAndGeneratedThroughTheSamePolicy() throws {
        let cfg = try tinyConfig(.hinge3d, data: FastGANTests.store3D, out: try makeTempDir(), extra: ["augment": "translation=0.25,cutout,intensity"])
        let t1 = try Trainer(config: cfg), t2 = try Trainer(config: cfg)
        let (x, labels) = try t1.data.batch([0, 1, 2, 3])
        var r1 = PETRandom(seed: 40), r2 = r1
        let (m, _) = try t1.model.criticStep(real: x, labels: labels, rng: &r1)
        let replica = t2.model
        replica.generator.train(); replica.discriminator.train()
        let z = replica.sampleNoise(4, rng: &r2)
        let fake = try withNoGrad { try replica.generate(z, labels: labels) }
        let policy = try AugmentPolicy.parse("translation=0.25,cutout,intensity")
        let realIn = try policy.apply(Variable(x), rng: &r2), fakeIn = try policy.apply(fake, rng: &r2)
        let dr = try withNoGrad { try replica.discriminate(realIn, labels: labels) }, df = try withNoGrad { try replica.discriminate(fakeIn, labels: labels) }
        XCTAssertEqual(m.dReal, Double(mean(dr.value)), accuracy: 1e-6)
        XCTAssertEqual(m.dFake, Double(mean(df.value)), accuracy: 1e-6)
        XCTAssertEqual(r1.next(), r2.next(), "the step drew exactly the two batches' parameters")
        // Without augmenting the generated batch the replica's fake score would differ.
        let plain = try withNoGrad { try replica.discriminate(fake, labels: labels) }
        XCTAssertNotEqual(Double(mean(plain.value)), m.dFake)
        // The generator is trained through the augmentation.
        let g = try t1.model.generatorStep(fake: nil, batch: 4, labels: labels, rng: &r1)
        XCTAssertGreaterThan(g.gradNormG, 0)
        XCTAssertTrue(g.gradNormG.isFinite)
    }

    // MARK: generator EMA

    /// θ̄ after each update equals β_t·θ̄ + (1 − β_t)·θ with β_t = min(β, (1 + t)/(10 + t)), computed here.
    func testEMAUpdateMatchesHandComputation() throws {
        let cfg = try tinyConfig(.dcgan3d, data: FastGANTests.store3D, out: try makeTempDir(), extra: ["g_ema": 0.9])
        let t = try Trainer(config: cfg)
        let ema = try XCTUnwrap(t.model.ema)
        let params = t.model.generator.parameters
        var expected = params.map { $0.value.array.map(Double.init) }
        XCTAssertEqual(zip(ema.averages, params).filter { !$0.0.bitwiseEqual($0.1.value) }.count, 0, "starts at the initial weights")
        var rng = PETRandom(seed: 2)
        for step in 0..<3 {
            let beta = min(0.9, (1 + Double(step)) / (10 + Double(step)))
            XCTAssertEqual(ema.currentDecay, beta)
            _ = try t.model.trainStep(real: [try t.data.batch([0, 1, 2, 3])], rng: &rng)
            for (k, p) in params.enumerated() {
                let raw = p.value.array
                for i in 0..<raw.count { expected[k][i] = Double(Float(beta * Double(Float(expected[k][i])) + (1 - beta) * Double(raw[i]))) }
                XCTAssertEqual(ema.averages[k].array, expected[k].map { Float($0) }, "parameter \(k) after update \(step + 1)")
            }
        }
        ema.updates = 10_000
        XCTAssertEqual(ema.currentDecay, 0.9, "the ramp ends at the configured decay")
        // Sampling uses the averages unless raw, and leaves the raw weights in place.
        let z = t.model.sampleNoise(2, rng: &rng)
        let raw1 = try t.model.sample(z, labels: [0, 0], raw: true), avg = try t.model.sample(z, labels: [0, 0])
        XCTAssertFalse(raw1.bitwiseEqual(avg))
        XCTAssertTrue(try t.model.sample(z, labels: [0, 0], raw: true).bitwiseEqual(raw1))
        let byHand = try ema.withAverages { try t.model.sample(z, labels: [0, 0], raw: true) }
        XCTAssertTrue(byHand.bitwiseEqual(avg))
    }

    /// The averages round-trip through checkpoints; generate samples them by default, the raw
    /// generator with --raw; a run without EMA keeps none and samples raw.
    func testEMARoundTripsThroughCheckpointsAndGeneration() throws {
        let cfg = try tinyConfig(.fastgan3d, data: FastGANTests.store3D, out: try makeTempDir(), extra: ["max_steps": 3, "g_ema": 0.99, "conditional": true])
        let t = try Trainer(config: cfg)
        let s = try t.run()
        let (loaded, _, c) = try Generation.loadModel(s.finalCheckpoint)
        let a = try XCTUnwrap(t.model.ema), b = try XCTUnwrap(loaded.ema)
        XCTAssertEqual(a.names, b.names)
        for (x, y) in zip(a.averages, b.averages) { XCTAssertTrue(x.bitwiseEqual(y)) }
        XCTAssertEqual(Set(c.tensors.keys.filter { $0.hasPrefix("GEMA.") }).count, t.model.generator.parameters.count)
        let z = t.model.sampleNoise(2, rng: &t.noiseRng)
        let want = try t.model.sample(z, labels: [0, 1]), wantRaw = try t.model.sample(z, labels: [0, 1], raw: true)
        XCTAssertTrue(try loaded.sample(z, labels: [0, 1]).bitwiseEqual(want))
        XCTAssertTrue(try loaded.sample(z, labels: [0, 1], raw: true).bitwiseEqual(wantRaw))
        var req = GenerationRequest(checkpoint: s.runDirectory, seeds: [3], out: try makeTempDir())
        req.format = .h5
        let avgRun = try Generation.run(req)
        XCTAssertTrue(avgRun.weights.hasPrefix("moving average"), avgRun.weights)
        req.raw = true; req.out = try makeTempDir()
        let rawRun = try Generation.run(req)
        XCTAssertEqual(rawRun.weights, "raw (--raw)")
        let va = try VolumeStore.open(avgRun.files.last!).readVolume(0), vr = try VolumeStore.open(rawRun.files.last!).readVolume(0)
        XCTAssertNotEqual(va.data, vr.data, "--raw samples other weights")
        // Without EMA: nothing extra in the checkpoint, raw sampling.
        let plain = try Trainer(config: tinyConfig(.dcgan3d, data: FastGANTests.store3D, out: try makeTempDir(), extra: ["max_steps": 1])).run()
        let (pm, _, pc) = try Generation.loadModel(plain.finalCheckpoint)
        XCTAssertNil(pm.ema)
        XCTAssertTrue(pc.tensors.keys.allSatisfy { !$0.hasPrefix("GEMA.") })
        XCTAssertEqual(pm.chooseSamplingWeights(raw: false), "raw (the run kept no moving average)")
    }

    /// Run records written before these settings existed decode with them off.
    func testRecordsWithoutTheNewSettingsDecode() throws {
        var d = try TrainConfig.defaults(for: .wgangp3d).settings()
        for k in ["augment", "g_ema", "sle", "reconstruction_weight"] { XCTAssertNotNil(d.removeValue(forKey: k), k) }
        let c = try JSONDecoder().decode(TrainConfig.self, from: JSONEncoder().encode(d))
        XCTAssertTrue(c.augmentPolicy.isEmpty)
        XCTAssertEqual(c.generatorEMADecay, 0)
        XCTAssertEqual(c.skipExcitations, 1)
        XCTAssertThrowsError(try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: nil, overrides: ["g_ema": 1.0])) { e in
            XCTAssertTrue("\(e)".contains("g_ema"), "\(e)")
        }
        XCTAssertThrowsError(try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: nil, overrides: ["augment": "rotate"])) { e in
            XCTAssertTrue("\(e)".contains("unknown augmentation 'rotate'"), "\(e)")
        }
    }
}
