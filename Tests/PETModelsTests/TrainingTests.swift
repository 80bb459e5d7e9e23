import Foundation
import XCTest
import PETTestSupport
@testable import PETModels
import PETAutograd
import PETTensor
import PETVolumes

final class TrainingTests: XCTestCase {
    static var store3D = ""
    static var store2D = ""

    // Made once per process, by the first test that runs; a failure fails that test (a `try!` in a
    // class set-up would take the whole bundle down).
    override func setUpWithError() throws {
        try super.setUpWithError()
        let dir = NSTemporaryDirectory() + "petgan-models-stores-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        TrainingTests.store3D = dir + "/vol.h5"; TrainingTests.store2D = dir + "/slices.h5"
        if !FileManager.default.fileExists(atPath: TrainingTests.store3D) { try makeStore(TrainingTests.store3D, shape: [8, 12, 8]) }
        if !FileManager.default.fileExists(atPath: TrainingTests.store2D) { try makeStore(TrainingTests.store2D, shape: [3, 16, 16], count: 16) }
    }

    /// A few steps of every model family (and the conditional variants): losses finite, both
    /// networks' parameters change, outputs written.
    func testEveryModelTrainsAFewSteps() throws {
        let cases: [(ModelKind, [String: SettingValue])] = [
            (.dcgan2d, [:]), (.dcgan2d, ["conditional": true]), (.dcgan2d, ["class": "HI"]),
            (.dcgan3d, [:]), (.wgan3d, ["n_critic": 2]), (.wgangp3d, ["n_critic": 2]), (.wgangp3d, ["n_critic": 2, "conditional": true, "critic_norm": "instance"]),
        ]
        for (model, extra) in cases {
            let out = try makeTempDir()
            let data = model.isThreeD ? TrainingTests.store3D : TrainingTests.store2D
            var o = extra; o["max_steps"] = 3
            let cfg = try tinyConfig(model, data: data, out: out, extra: o)
            let t = try Trainer(config: cfg)
            let before = t.model.tensors()
            let s = try t.run()
            let label = "\(model.rawValue) \(extra)"
            XCTAssertEqual(s.steps, 3, label)
            XCTAssertTrue(s.lastMetrics!.isFinite, label)
            let after = t.model.tensors()
            for prefix in ["G.", "D."] {
                let changed = before.keys.filter { $0.hasPrefix(prefix) && $0.hasSuffix("weight") }.filter { !before[$0]!.bitwiseEqual(after[$0]!) }
                XCTAssertFalse(changed.isEmpty, "\(label): no \(prefix) weight changed")
            }
            if model == .wgan3d {
                let maxAbs = maxMagnitude(t.model.discriminator.parameters.flatMap { $0.value.array })
                XCTAssertLessThanOrEqual(maxAbs, Float(cfg.clip), "weights are clipped")
            }
            let rows = MetricsFile.read(s.runDirectory + "/metrics.jsonl")
            XCTAssertEqual(rows.map { $0["step"]! }, [1, 2, 3], label)
            for f in ["config.yaml", "loss_curve.png", "samples/latest.png", "checkpoints/final.h5", "checkpoints/latest.h5", "train.log"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: s.runDirectory + "/" + f), "\(label): \(f) missing")
            }
            if model == .wgangp3d { XCTAssertGreaterThan(rows.last!["gp"]!, 0, "the penalty is computed") }
        }
    }

    /// The discriminator learns to tell real from generated: its accuracy moves away from chance.
    func testDiscriminatorAccuracyMovesAwayFromChance() throws {
        let out = try makeTempDir()
        let cfg = try tinyConfig(.dcgan3d, data: TrainingTests.store3D, out: out, extra: ["max_steps": 12, "lr_d": 1e-3])
        let s = try Trainer(config: cfg).run()
        let rows = MetricsFile.read(s.runDirectory + "/metrics.jsonl")
        let late = rows.suffix(4).map { $0["acc_d"]! }.reduce(0, +) / 4
        XCTAssertGreaterThan(late, 0.75, "discriminator accuracy \(late) stays near chance")
        let dReal = rows.suffix(4).map { $0["d_real"]! }.reduce(0, +) / 4, dFake = rows.suffix(4).map { $0["d_fake"]! }.reduce(0, +) / 4
        XCTAssertGreaterThan(dReal, dFake)
    }

    /// Generated montages use the training data's display window (in raw units), the one the demo
    /// shows real volumes in, not a window stretched over the samples themselves.
    func testGeneratedMontageUsesTheTrainingDataWindow() throws {
        let out = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let s = try Trainer(config: tinyConfig(.dcgan3d, data: TrainingTests.store3D, out: out, extra: ["max_steps": 1])).run()
        let (_, rec, _) = try Generation.loadModel(try Generation.checkpointFile(s.runDirectory))
        let want = try XCTUnwrap(try DataInfo.displayWindow(try VolumeStore.open(TrainingTests.store3D), item: 0))
        XCTAssertEqual(rec.data.displayWindow, [Double(want.0), Double(want.1)])
        // The store's map is y = SUVR · 2/3 − 1: the window starts at SUVR 0; its top is the first
        // item's 99.5th percentile, within the blob's peak (1.2 SUVR for class LO, plus noise).
        XCTAssertEqual(want.0, 0, accuracy: 1e-6)
        XCTAssertGreaterThan(want.1, 0.5); XCTAssertLessThan(want.1, 1.6)
        let bright = Volume(shape: [8, 12, 8], data: [Float](repeating: 3, count: 8 * 12 * 8))
        let w = Generation.window([bright], record: rec)
        XCTAssertEqual(w.0, want.0); XCTAssertEqual(w.1, want.1)
    }

    /// A run stopped after 2 steps and resumed to 5 equals an uninterrupted 5-step run bitwise
    /// (weights, buffers, optimizer moments and steps, random generators), with one thread, for every
    /// model family (every `ModelKind`, so a new one is covered with no edit): Adam (dcgan2d,
    /// dcgan3d, wgangp3d, hinge3d, fastgan2d, fastgan3d, hagan3d) and RMSprop with weight clipping (wgan3d).
    func testResumeEqualsUninterruptedRunBitwise() throws {
        let saved = Parallel.threads
        Parallel.setThreads(1)
        defer { Parallel.setThreads(saved) }
        let extras: [ModelKind: [[String: SettingValue]]] = [
            // Adaptive augmentation: stopped at step 2, its interval of 4 critic batches is half done
            // (hinge3d) or just complete (wgangp3d, n_critic 2).
            .wgangp3d: [["conditional": true, "n_critic": 2], ["n_critic": 2, "augment": "translation,cutout,adaptive=0.1", "augment_speed": 20]],
            .wgan3d: [["n_critic": 2]],
            .hinge3d: [[:], ["conditional": true, "n_critic": 2], ["augment": "cutout,intensity,adaptive=0.2", "augment_speed": 20]],
            // Augmentation and the generator's moving average are part of the resumed state too.
            .dcgan3d: [[:], ["augment": "translation,cutout,intensity,flip-lr", "g_ema": 0.99]],
            .fastgan3d: [["conditional": true, "augment": "translation,cutout,intensity"]],
            // The slab drawn per step comes from the saved noise stream; the moving average covers both heads.
            .hagan3d: [[:], ["conditional": true, "lowres_factor": 2, "slab_depth": 4, "g_ema": 0.99],
                       ["loss": "wgan-gp", "n_critic": 2, "lowres_factor": 2, "slab_depth": 4, "augment": "translation,cutout,intensity"]],
        ]
        let cases = ModelKind.allCases.flatMap { m in (extras[m] ?? [[:]]).map { (m, $0) } }
        for (model, extra) in cases {
            let data = model.isThreeD ? TrainingTests.store3D : TrainingTests.store2D
            // 12 items / (batch 4 · n_critic 2) = 1 step per epoch for the 3D case: resuming crosses epochs.
            let full = try Trainer(config: tinyConfig(model, data: data, out: try makeTempDir(), extra: extra.merging(["max_steps": 5]) { a, _ in a }))
            let a = try full.run()
            let part = try Trainer(config: tinyConfig(model, data: data, out: try makeTempDir(), extra: extra.merging(["max_steps": 2]) { a, _ in a }))
            let b = try part.run()
            var more = TrainConfig(); more.maxSteps = 5; more.epochs = 1
            let resumed = try Trainer(config: more, resumeDirectory: b.runDirectory)
            XCTAssertEqual(resumed.step, 2)
            let c = try resumed.run()
            XCTAssertEqual(c.steps, 5)
            checkpointsEqual(try Checkpoint.load(from: a.finalCheckpoint), try Checkpoint.load(from: c.finalCheckpoint))
            let ma = MetricsFile.read(a.runDirectory + "/metrics.jsonl"), mc = MetricsFile.read(c.runDirectory + "/metrics.jsonl")
            XCTAssertEqual(ma.map { $0["loss_d"]! }, mc.map { $0["loss_d"]! }, "\(model): metrics differ")
        }
    }

    /// An interrupt (what Ctrl-C sets) saves a checkpoint after the current step and stops cleanly;
    /// resuming finishes the run exactly.
    func testInterruptSavesACheckpointAndResumes() throws {
        let saved = Parallel.threads
        Parallel.setThreads(1)
        defer { Parallel.setThreads(saved); InterruptFlag.reset() }
        let full = try Trainer(config: tinyConfig(.wgangp3d, data: TrainingTests.store3D, out: try makeTempDir(), extra: ["max_steps": 4, "n_critic": 1]))
        let a = try full.run()
        let t = try Trainer(config: tinyConfig(.wgangp3d, data: TrainingTests.store3D, out: try makeTempDir(), extra: ["max_steps": 4, "n_critic": 1]))
        t.onStep = { step, _, _, _ in if step == 2 { InterruptFlag.request() } }
        let b = try t.run()
        InterruptFlag.reset()
        XCTAssertTrue(b.interrupted)
        XCTAssertEqual(b.steps, 2)
        XCTAssertEqual(try Checkpoint.load(from: Trainer.latestCheckpoint(in: b.runDirectory)).step, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: b.runDirectory + "/checkpoints/final.h5"))
        var cont = TrainConfig(); cont.epochs = 1
        let c = try Trainer(config: cont, resumeDirectory: b.runDirectory).run()
        XCTAssertEqual(c.steps, 4)
        checkpointsEqual(try Checkpoint.load(from: a.finalCheckpoint), try Checkpoint.load(from: c.finalCheckpoint))
    }

    /// A NaN stops the run with a clear error and keeps the last good checkpoint untouched.
    func testNonFiniteLossStopsAndKeepsLastGoodCheckpoint() throws {
        // 12 items / batch 4 = 3 steps per epoch: checkpoints at steps 2 and 3; a NaN weight put in
        // after step 3 makes step 4 diverge.
        let t = try Trainer(config: tinyConfig(.dcgan3d, data: TrainingTests.store3D, out: try makeTempDir(), extra: ["max_steps": 6, "checkpoint_every": 2]))
        t.onStep = { step, _, _, _ in
            if step == 3 { t.model.generator.parameters[0].value.data[0] = .nan }
        }
        XCTAssertThrowsError(try t.run()) { e in
            let msg = "\(e)"
            XCTAssertTrue(msg.contains("NaN") && msg.contains("step 4") && msg.contains("latest.h5"), msg)
        }
        let kept = try Checkpoint.load(from: Trainer.latestCheckpoint(in: t.runDirectory))
        XCTAssertEqual(kept.step, 3)
        XCTAssertTrue(kept.tensors.values.allSatisfy { $0.array.allSatisfy(\.isFinite) })
    }
}

final class GenerationTests: XCTestCase {
    /// Generated NIfTI: the training grid's affine and shape, intensities in the data's units, a
    /// sidecar with provenance; nibabel opens it with the same geometry; samples depend only on the seed.
    func testGeneratedNIfTIHasTrainingGeometryAndProvenance() throws {
        let dir = try makeTempDir()
        let store = dir + "/vol.h5"
        try makeStore(store, shape: [8, 12, 8])
        let s = try Trainer(config: tinyConfig(.wgangp3d, data: store, out: dir + "/runs", extra: ["max_steps": 2, "n_critic": 1, "conditional": true])).run()
        var req = GenerationRequest(checkpoint: s.runDirectory, seeds: [4, 5], out: dir + "/gen")
        req.classes = ["HI"]
        let g = try Generation.run(req)
        XCTAssertEqual(g.samples, 2)
        XCTAssertEqual(g.files.count, 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: g.montage))
        let ref = try VolumeStore.open(store).readVolume(0)
        let v = try NIfTIFile.read(g.files[0])
        XCTAssertEqual(v.shape, [8, 12, 8])
        XCTAssertLessThan(v.affine.maxAbsDifference(ref.affine), 1e-6)
        // tanh ∈ [−1, 1] maps back to SUVR ∈ [0, 3] with the store's map (scale 2/3, offset −1).
        let r = v.finiteRange
        XCTAssertGreaterThanOrEqual(r.min, -1e-4); XCTAssertLessThanOrEqual(r.max, 3 + 1e-4)
        XCTAssertGreaterThan(r.max - r.min, 0)
        let side = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: NIfTIFile.sidecarPath(g.files[0])))) as! [String: Any]
        XCTAssertEqual(side["checkpoint_sha256"] as? String, try SHA256.hex(file: g.checkpoint))
        XCTAssertEqual(side["class"] as? String, "HI")
        XCTAssertEqual(side["seed"] as? Int, 4)
        XCTAssertEqual(side["model"] as? String, "wgangp3d")
        XCTAssertEqual(side["petgan_version"] as? String, PETGANVersion.string)
        // Same seed → same sample, whatever else is generated with it.
        var again = GenerationRequest(checkpoint: s.runDirectory, seeds: [9, 4], out: dir + "/gen2")
        again.classes = ["HI"]
        let g2 = try Generation.run(again)
        XCTAssertEqual(try NIfTIFile.read(g2.files[1]).data, v.data)
        // Another class from the same seed differs.
        var other = GenerationRequest(checkpoint: s.runDirectory, seeds: [4], out: dir + "/gen3")
        other.classes = ["LO"]
        XCTAssertNotEqual(try NIfTIFile.read(try Generation.run(other).files[0]).data, v.data)
        XCTAssertThrowsError(try { var bad = GenerationRequest(checkpoint: s.runDirectory, seeds: [1], out: dir + "/gen4"); bad.classes = ["XX"]; _ = try Generation.run(bad) }()) { e in
            XCTAssertTrue("\(e)".contains("XX"), "\(e)")
        }

        let out = try runPython("""
        import json, nibabel as nib, numpy as np
        img = nib.load('\(g.files[0])')
        print(json.dumps({"shape": list(img.shape), "affine": img.affine.tolist(), "zooms": [float(z) for z in img.header.get_zooms()],
                          "max": float(np.asarray(img.dataobj).max()), "units": img.header.get_xyzt_units()[0]}))
        """).stdout
        let j = try JSONSerialization.jsonObject(with: Data((out.split(separator: "\n").last ?? "").utf8)) as! [String: Any]
        XCTAssertEqual(j["shape"] as? [Int], [8, 12, 8])   // NIfTI x, y, z of the (D, H, W) = (8, 12, 8) grid
        let aff = (j["affine"] as! [[Double]]).flatMap { $0 }
        for (x, y) in zip(aff, ref.affine.m) { XCTAssertEqual(x, y, accuracy: 1e-5) }
        XCTAssertEqual(j["zooms"] as? [Double], [4, 4, 4])
        XCTAssertEqual(j["units"] as? String, "mm")
        XCTAssertEqual(j["max"] as! Double, Double(r.max), accuracy: 1e-4)
    }

    func testTwoDimensionalGenerationWritesPNGAndNIfTISlices() throws {
        let dir = try makeTempDir()
        let store = dir + "/slices.h5"
        try makeStore(store, shape: [3, 16, 16], count: 8)
        let s = try Trainer(config: tinyConfig(.dcgan2d, data: store, out: dir + "/runs", extra: ["max_steps": 2, "class": "HI"])).run()
        let g = try Generation.run(GenerationRequest(checkpoint: s.runDirectory, seeds: [0, 1, 2], out: dir + "/gen"))
        XCTAssertEqual(g.files.filter { $0.hasSuffix(".nii.gz") }.count, 3)
        XCTAssertEqual(g.files.filter { $0.hasSuffix(".png") }.count, 3)
        XCTAssertEqual(try NIfTIFile.read(g.files[0]).shape, [3, 16, 16])
        XCTAssertEqual(g.classes, ["HI"])
        XCTAssertThrowsError(try { var r = GenerationRequest(checkpoint: s.runDirectory, seeds: [0], out: dir + "/x"); r.classes = ["LO"]; _ = try Generation.run(r) }())
        var h5 = GenerationRequest(checkpoint: s.runDirectory, seeds: [0, 1], out: dir + "/genh5")
        h5.format = .h5
        let gh = try Generation.run(h5)
        let st = try VolumeStore.open(gh.files.last!)
        XCTAssertEqual(st.count, 2)
        XCTAssertEqual(st.labels, [1, 1])
    }

    func testSeedRanges() throws {
        XCTAssertEqual(try Generation.parseSeeds("0-3,7"), [0, 1, 2, 3, 7])
        XCTAssertThrowsError(try Generation.parseSeeds("5-2"))
        XCTAssertThrowsError(try Generation.parseSeeds("x"))
    }
}
