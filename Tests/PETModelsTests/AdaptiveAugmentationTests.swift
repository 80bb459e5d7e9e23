import Foundation
import PETTestSupport
import XCTest
@testable import PETModels
import PETAutograd
import PETTensor
import PETVolumes

/// Adaptive augmentation strength (`--augment …,adaptive`, AdaptiveAugmentation.swift): parsing, the
/// per-sample application probability, the ADA rule, and the wiring into training and checkpoints.
/// Its bitwise resume is in TrainingTests.testResumeEqualsUninterruptedRunBitwise.
final class AdaptiveAugmentationTests: XCTestCase {
    static var store3D = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        AdaptiveAugmentationTests.store3D = try testStore3D("ada")
    }

    func testParsing() throws {
        let p = try AugmentPolicy.parse("translation,adaptive,cutout")
        XCTAssertEqual(p.adaptiveTarget, 0.6, "ADA's target")
        XCTAssertEqual(p.description, "translation=0.125,cutout=0.5,adaptive=0.6")
        XCTAssertEqual(try AugmentPolicy.parse(p.description), p, "the canonical spelling reads back")
        XCTAssertEqual(try AugmentPolicy.parse("intensity, adaptive=0.75").adaptiveTarget, 0.75)
        XCTAssertNil(try AugmentPolicy.parse("intensity").adaptiveTarget)
        for (bad, why) in [("adaptive", "none is listed"), ("translation,adaptive=1", "between 0 and 1"), ("cutout,adaptive=0", "between 0 and 1"),
                           ("cutout,adaptive=x", "between 0 and 1"), ("cutout,adaptive,adaptive=0.5", "more than once")] {
            XCTAssertThrowsError(try AugmentPolicy.parse(bad), bad) { e in
                XCTAssertTrue("\(e)".hasPrefix("--augment: setting 'augment'") && "\(e)".contains(why), "\(bad): \(e)")
            }
        }
        XCTAssertThrowsError(try TrainConfig.resolve(model: .hinge3d, preset: nil, yamlFile: nil, overrides: ["data": "x.h5", "augment": "cutout,adaptive", "augment_speed": 0])) { e in
            XCTAssertTrue("\(e)".contains("augment_speed") && "\(e)".contains("≥ 1"), "\(e)")
        }
    }

    /// With probability p each op keeps its drawn parameters for a sample with probability p and is
    /// otherwise the identity; p = 0 is the identity on every sample, p = 1 keeps every draw.
    func testProbabilityAppliesEachOpPerSample() throws {
        let policy = try AugmentPolicy.parse("intensity,flip-lr=1,translation,cutout,adaptive")
        let spatial = [10, 12, 10], n = 2000
        var rng = PETRandom(seed: 12)
        let none = policy.draw(n: n, spatial: spatial, probability: 0, rng: &rng)
        XCTAssertTrue(none.scales!.allSatisfy { $0 == 1 } && none.flips!.allSatisfy { !$0 })
        XCTAssertTrue(none.shifts!.allSatisfy { $0 == [0, 0, 0] } && none.boxes!.allSatisfy { $0.allSatisfy { $0.1 <= $0.0 } })
        let all = policy.draw(n: n, spatial: spatial, probability: 1, rng: &rng)
        XCTAssertTrue(all.flips!.allSatisfy { $0 }, "flip-lr=1 flips every sample at p = 1")
        XCTAssertTrue(all.boxes!.allSatisfy { $0.allSatisfy { $0.1 > $0.0 } }, "every sample gets its box")
        XCTAssertTrue(all.scales!.allSatisfy { $0 != 1 })
        let half = policy.draw(n: n, spatial: spatial, probability: 0.3, rng: &rng)
        // Independent per op: each op's share is near 0.3 (binomial sd ≈ 0.01), and ops are not tied together.
        let scaled = half.scales!.map { $0 != 1 }, flipped = half.flips!, boxed = half.boxes!.map { $0.allSatisfy { $0.1 > $0.0 } }
        for (name, applied) in [("intensity", scaled), ("flip", flipped), ("cutout", boxed)] {
            let share = Double(applied.filter { $0 }.count) / Double(n)
            XCTAssertEqual(share, 0.3, accuracy: 0.05, name)
        }
        let both = zip(scaled, flipped).filter { $0 && $1 }.count
        XCTAssertEqual(Double(both) / Double(n), 0.09, accuracy: 0.03, "intensity and flip are drawn independently")
        // Where an op is the identity, the augmented sample is the input (the ops' reference is in FastGANTests).
        let x = Tensor.uniform([4, 1] + spatial, low: -1, high: 1, rng: &rng)
        let y = try policy.apply(Variable(x), parameters: policy.draw(n: 4, spatial: spatial, probability: 0, rng: &rng)).value
        XCTAssertLessThanOrEqual(maxAbsDifference(y.array, x.array), 1e-6)
        // Without a probability the draw is what it always was (no extra numbers taken from the stream).
        var a = PETRandom(seed: 3), b = PETRandom(seed: 3)
        XCTAssertEqual(policy.draw(n: 8, spatial: spatial, rng: &a), try AugmentPolicy.parse("intensity,flip-lr=1,translation,cutout").draw(n: 8, spatial: spatial, rng: &b))
        XCTAssertEqual(a, b)
    }

    /// ADA's rule: nothing moves before 4 critic batches; then p += sign(r̄ − target) · images / speed,
    /// clamped to [0, 1], with r̄ = Σ signs / Σ samples; the state round-trips through a tensor.
    func testUpdateRule() throws {
        var a = AdaptiveAugmentation(target: 0.6, speedImages: 100)
        a.record(signs: 8, batches: 1, samples: 8)
        a.record(signs: 8, batches: 2, samples: 16)
        XCTAssertEqual(a.probability, 0, "3 batches: no adjustment yet")
        XCTAssertNil(a.lastSignal)
        a.record(signs: 6, batches: 1, samples: 8)
        // r̄ = (8·1 + 16·0.5 + 8·0.75) / 32 = 0.6875 > 0.6: up by 32/100.
        XCTAssertEqual(a.lastSignal!, 0.6875, accuracy: 1e-7)
        XCTAssertEqual(a.probability, 0.32, accuracy: 1e-6)
        var saved = a
        a.record(signs: 72, batches: 4, samples: 80)
        XCTAssertEqual(a.probability, 1, "clamped at 1 (0.32 + 0.8)")
        a.record(signs: -6, batches: 4, samples: 30)
        XCTAssertEqual(a.probability, 0.7, accuracy: 1e-6)
        a.record(signs: 10, batches: 5, samples: 100)
        XCTAssertEqual(a.probability, 0, "clamped at 0")
        // Mid-interval state survives a checkpoint.
        saved.record(signs: 8, batches: 2, samples: 8)
        var loaded = AdaptiveAugmentation(target: 0.6, speedImages: 100)
        try loaded.load(saved.stateDict())
        loaded.record(signs: 8, batches: 2, samples: 8)
        saved.record(signs: 8, batches: 2, samples: 8)
        XCTAssertEqual(loaded.probability, saved.probability)
        XCTAssertEqual(loaded.probability, 0.32 + 0.16, accuracy: 1e-6)
        let broken = Tensor(shape: [4], values: [1.5, 0, 0, 0])
        XCTAssertThrowsError(try loaded.load([AdaptiveAugmentation.stateName: broken])) { e in XCTAssertTrue("\(e)".contains("probability"), "\(e)") }
        XCTAssertThrowsError(try loaded.load([AdaptiveAugmentation.stateName: Tensor(shape: [4], values: [.nan, 0, 0, 0])]))
    }

    /// A short adaptive run: every step logs r_t (in [−1, 1]) and augment_p, and augment_p is the ADA
    /// rule replayed from the logged r_t; the state is in the checkpoint; the model's augmentation is
    /// the identity at p = 0 and not at p = 1.
    func testTrainingAdaptsAndLogsTheProbability() throws {
        let saved = Parallel.threads
        Parallel.setThreads(1)
        defer { Parallel.setThreads(saved) }
        for (model, target, nCritic, conditional) in [(ModelKind.hinge3d, 0.2, 1, false), (.wgangp3d, 0.1, 2, true)] {
            let speed = 40.0, batch = 4
            let cfg = try tinyConfig(model, data: AdaptiveAugmentationTests.store3D, out: try makeTempDir(),
                                     extra: ["max_steps": 12, "n_critic": .int(nCritic), "conditional": .bool(conditional),
                                             "augment": .string("translation,cutout,intensity,adaptive=\(target)"), "augment_speed": .double(speed)])
            let t = try Trainer(config: cfg)
            let s = try t.run()
            let rows = MetricsFile.read(s.runDirectory + "/metrics.jsonl")
            XCTAssertEqual(rows.count, 12)
            let k = Double(cfg.nCritic)
            var p = 0.0, sum = 0.0, images = 0.0, batches = 0.0, moved = false
            for r in rows {
                let rt = try XCTUnwrap(r["r_t"]), logged = try XCTUnwrap(r["augment_p"])
                XCTAssertTrue(rt >= -1 && rt <= 1, "\(model): r_t \(rt)")
                sum += rt * k * Double(batch); images += k * Double(batch); batches += k
                if batches >= 4 {
                    let rbar = sum / images
                    p = min(1, max(0, p + (rbar > target ? 1 : (rbar < target ? -1 : 0)) * images / speed))
                    (sum, images, batches) = (0, 0, 0)
                }
                XCTAssertEqual(logged, p, accuracy: 1e-5, "\(model) step \(r["step"]!)")
                if logged > 0 { moved = true }
            }
            XCTAssertTrue(moved, "\(model): the probability never left 0 (r_t: \(rows.map { $0["r_t"]! }))")
            let ck = try Checkpoint.load(from: s.finalCheckpoint)
            XCTAssertEqual(Double(try XCTUnwrap(ck.tensors[AdaptiveAugmentation.stateName]).data[0]), p, accuracy: 1e-6)
            XCTAssertTrue(try String(contentsOfFile: s.runDirectory + "/train.log", encoding: .utf8).contains("adaptive=\(target)"))
        }
        // The probability is what the model's augmentation uses.
        let cfg = try tinyConfig(.hinge3d, data: AdaptiveAugmentationTests.store3D, out: try makeTempDir(), extra: ["augment": "translation,cutout,adaptive"])
        let m = try Trainer(config: cfg).model
        var rng = PETRandom(seed: 2)
        let x = Tensor.uniform([4, 1, 8, 12, 8], low: -1, high: 1, rng: &rng)
        XCTAssertTrue(try m.augmented(Variable(x), rng: &rng).value.bitwiseEqual(x), "p = 0: no sample is augmented")
        var state = m.tensors()
        state[AdaptiveAugmentation.stateName] = Tensor(shape: [4], values: [1, 0, 0, 0])
        try m.load(tensors: state)
        XCTAssertEqual(m.adaptiveAugmentation?.probability, 1)
        let y = try m.augmented(Variable(x), rng: &rng).value
        XCTAssertGreaterThan(y.array.filter { $0 == -1 }.count, 4 * 8 * 12 * 8 / 10, "p = 1: every sample has its cutout box")
    }
}
