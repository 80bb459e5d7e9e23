import Foundation
import XCTest
@testable import PETModels
import PETAutograd
import PETTensor

/// The named choices of a run (Kinds.swift): spellings, messages and what each case builds.
final class KindsTests: XCTestCase {
    /// The raw values are the YAML / command-line / run-record spellings; changing one would orphan
    /// every settings file and checkpoint that uses it.
    func testSpellingsAreTheSettingsValues() {
        XCTAssertEqual(ModelKind.allCases.map(\.rawValue), ["dcgan2d", "dcgan3d", "wgan3d", "wgangp3d", "hinge3d", "fastgan2d", "fastgan3d", "hagan3d"])
        XCTAssertEqual(AugmentOp.allCases.map(\.rawValue), ["intensity", "flip-lr", "translation", "cutout"])
        XCTAssertEqual(LossKind.allCases.map(\.rawValue), ["bce", "wgan-gp", "wgan-clip", "hinge"])
        XCTAssertEqual(OptimizerKind.allCases.map(\.rawValue), ["adam", "rmsprop"])
        XCTAssertEqual(CriticNorm.allCases.map(\.rawValue), ["batch", "layer", "instance", "none"])
        XCTAssertEqual(ZDistribution.allCases.map(\.rawValue), ["uniform", "normal"])
        XCTAssertEqual(CriticNorm.choiceList, "batch, layer, instance or none")
        XCTAssertEqual(ZDistribution.choiceList, "uniform or normal")
        XCTAssertEqual(ModelKind.helpList.components(separatedBy: " (").count, ModelKind.allCases.count + 1, ModelKind.helpList)
    }

    /// A run record stored as strings (as every checkpoint's config JSON is) decodes to the cases and
    /// encodes back to the same strings.
    func testConfigJSONKeepsItsStrings() throws {
        var c = TrainConfig.defaults(for: .wgan3d)
        c.zDistribution = .uniform
        let json = try c.json()
        for s in [#""model":"wgan3d""#, #""critic_norm":"none""#, #""optimizer":"rmsprop""#, #""z_distribution":"uniform""#] {
            XCTAssertTrue(json.contains(s), "\(s) in \(json)")
        }
        XCTAssertEqual(try JSONDecoder().decode(TrainConfig.self, from: Data(json.utf8)), c)
    }

    /// A choice outside the list names the source, the setting and every allowed value.
    func testUnknownChoicesNameTheAllowedValues() {
        for (key, value, allowed) in [("critic_norm", "group", "batch, layer, instance or none"), ("optimizer", "sgd", "adam or rmsprop"),
                                      ("z_distribution", "gaussian", "uniform or normal"), ("loss", "lsgan", "bce, wgan-gp, wgan-clip or hinge")] {
            XCTAssertThrowsError(try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: nil, overrides: [key: .string(value)])) { e in
                XCTAssertEqual("\(e)", "command line: setting '\(key)': must be \(allowed), got '\(value)'")
            }
        }
    }

    /// `loss` is the family's own unless set; set, it picks the objective; a run record written
    /// before the setting existed (no `loss` key) reads as the family's.
    func testLossSettingOverridesTheFamilysLoss() throws {
        for m in ModelKind.allCases {
            XCTAssertEqual(try TrainConfig.resolve(model: m, preset: nil, yamlFile: nil, overrides: [:]).loss, m.family.loss, m.rawValue)
        }
        let c = try TrainConfig.resolve(model: .hagan3d, preset: nil, yamlFile: nil, overrides: ["loss": "wgan-gp"])
        XCTAssertEqual(c.loss, .wganGP)
        XCTAssertTrue(c.loss.objective is WassersteinObjective)
        var record = try c.settings()
        XCTAssertEqual(record["loss"], "wgan-gp")
        record["loss"] = nil
        let old = try JSONDecoder().decode(TrainConfig.self, from: JSONEncoder().encode(record))
        XCTAssertEqual(old.loss, .bce, "hagan3d's own loss")
        // A loss whose penalty refuses a batch-norm critic names the loss among the settings involved.
        XCTAssertThrowsError(try TrainConfig.resolve(model: .dcgan3d, preset: nil, yamlFile: nil, overrides: ["loss": "wgan-gp", "critic_norm": "batch"])) { e in
            XCTAssertTrue("\(e)".contains("critic_norm"), "\(e)")
        }
    }

    /// Every model's defaults are a valid configuration whose model builds, with the optimizer, the
    /// critic normalization and the objective the enums say.
    func testEveryModelKindBuildsFromItsDefaults() throws {
        for kind in ModelKind.allCases {
            var c = TrainConfig.defaults(for: kind)
            c.gChannels = [8, 4]; c.dChannels = [4, 8]; c.zDim = 4
            XCTAssertNoThrow(try c.validate(), kind.rawValue)
            XCTAssertEqual(kind.isThreeD, kind.family.dims == 3)
            let g = NetworkGeometry(dims: kind.family.dims, channels: 1, imageShape: kind.isThreeD ? [8, 8, 8] : [8, 8], layers: 2, conditionalClasses: 0)
            var rng = PETRandom(seed: 1)
            let m = try GANModel(config: c, geometry: g, rng: &rng)
            switch c.optimizer {
            case .adam: XCTAssertTrue(m.optD is Adam, kind.rawValue)
            case .rmsprop: XCTAssertTrue(m.optD is RMSprop, kind.rawValue)
            }
            XCTAssertEqual(m.discriminator.norm, c.criticNorm)
            XCTAssertEqual(type(of: m.objective) == type(of: kind.loss.objective), true, kind.rawValue)
            var r = PETRandom(seed: 2)
            let z = m.sampleNoise(64, rng: &r)
            switch c.zDistribution {
            case .uniform: XCTAssertLessThanOrEqual(maxMagnitude(z.array), 1, kind.rawValue)
            case .normal: XCTAssertGreaterThan(maxMagnitude(z.array), 1, kind.rawValue)
            }
        }
        // Batch norm is refused exactly for the objectives that say so.
        for kind in ModelKind.allCases {
            var c = TrainConfig.defaults(for: kind)
            c.criticNorm = .batch
            if kind.loss.objective.batchNormCriticRefusal == nil { XCTAssertNoThrow(try c.validate(), kind.rawValue) } else {
                XCTAssertThrowsError(try c.validate(), kind.rawValue)
            }
        }
    }
}
