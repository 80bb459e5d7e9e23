import Foundation
import PETTestSupport
import XCTest
@testable import PETModels
import PETAutograd
import PETTensor
import PETVolumes

/// The hinge-loss variant (HingeGAN.swift, `--model hinge3d`): its losses are SAGAN's / BigGAN's,
/// and it trains (its bitwise resume is in TrainingTests, which runs every `ModelKind`).
final class HingeGANTests: XCTestCase {
    static var store = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        HingeGANTests.store = try testStore3D("hinge")
    }

    /// D: mean(relu(1 − D(x))) + mean(relu(1 + D(G(z)))), G: −mean(D(G(z))), computed here in Double.
    func testHingeLossesAreSAGANs() throws {
        var rng = PETRandom(seed: 21)
        let real = Tensor.uniform([6, 1], low: -2, high: 2, rng: &rng), fake = Tensor.uniform([6, 1], low: -2, high: 2, rng: &rng)
        let objective = LossKind.hinge.objective
        let d = try objective.criticLoss(real: Variable(real), fake: Variable(fake))
        let g = try objective.generatorLoss(fake: Variable(fake))
        let r = real.array.map(Double.init), f = fake.array.map(Double.init)
        let wantD = r.map { max(0, 1 - $0) }.reduce(0, +) / 6 + f.map { max(0, 1 + $0) }.reduce(0, +) / 6
        XCTAssertEqual(Double(d.scalar), wantD, accuracy: 1e-6)
        XCTAssertEqual(Double(g.scalar), -f.reduce(0, +) / 6, accuracy: 1e-6)
        XCTAssertFalse(objective.generatorReusesCriticBatch, "the generator step draws its own batch, as SAGAN's loop does")
        XCTAssertEqual(objective.accuracyThreshold, 0)
    }

    /// SAGAN's recipe as the defaults; accepted by name from YAML spelling and the command line.
    func testHingeDefaults() throws {
        let c = try TrainConfig.resolve(model: nil, preset: nil, yamlFile: nil, overrides: ["model": "hinge3d", "data": "x.h5"])
        XCTAssertEqual(c.model, .hinge3d)
        XCTAssertEqual(c.loss, .hinge)
        XCTAssertTrue(c.model.isThreeD)
        XCTAssertEqual(c.optimizer, .adam); XCTAssertEqual(c.beta1, 0); XCTAssertEqual(c.beta2, 0.9)
        XCTAssertEqual(c.lrG, 1e-4); XCTAssertEqual(c.lrD, 4e-4); XCTAssertEqual(c.nCritic, 1)
        XCTAssertEqual(c.criticNorm, .layer)
    }

    /// A few steps: losses finite (the critic's hinge loss ≥ 0), both networks change, outputs written.
    func testHingeModelTrainsAFewSteps() throws {
        let cfg = try tinyConfig(.hinge3d, data: HingeGANTests.store, out: try makeTempDir(), extra: ["max_steps": 3])
        let t = try Trainer(config: cfg)
        let before = t.model.tensors()
        let s = try t.run()
        XCTAssertEqual(s.steps, 3)
        XCTAssertTrue(s.lastMetrics!.isFinite)
        let after = t.model.tensors()
        for prefix in ["G.", "D."] {
            let changed = before.keys.filter { $0.hasPrefix(prefix) && $0.hasSuffix("weight") }.filter { !before[$0]!.bitwiseEqual(after[$0]!) }
            XCTAssertFalse(changed.isEmpty, "no \(prefix) weight changed")
        }
        let rows = MetricsFile.read(s.runDirectory + "/metrics.jsonl")
        XCTAssertEqual(rows.map { $0["step"]! }, [1, 2, 3])
        for r in rows {
            XCTAssertGreaterThanOrEqual(r["loss_d"]!, 0, "a hinge critic loss is a sum of ReLUs")
            XCTAssertTrue(r["loss_g"]!.isFinite)
            XCTAssertEqual(r["gp"]!, 0, "no penalty")
        }
        for f in ["config.yaml", "loss_curve.png", "samples/latest.png", "checkpoints/final.h5"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: s.runDirectory + "/" + f), "\(f) missing")
        }
        XCTAssertTrue(try String(contentsOfFile: s.runDirectory + "/config.yaml", encoding: .utf8).contains("model: \"hinge3d\""))
    }
}
