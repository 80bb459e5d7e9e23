import Foundation
import XCTest
import PETTestSupport
@testable import PETModels
import PETAutograd
import PETTensor
import PETVolumes

final class ArchitectureTests: XCTestCase {
    /// Islam & Zhang (2020): G = FC(100 → 4·4·1024) + 5 ConvTranspose2d k5 s2 to 128×128×3;
    /// D = 5 Conv2d k5 s2 (3 → 64 → … → 1024) + FC(4·4·1024 → 1).
    func testPaper2DPresetHasThePaperLayerShapes() throws {
        let cfg = try TrainConfig.resolve(model: nil, preset: "paper2d", yamlFile: nil, overrides: ["data": "x.h5"])
        XCTAssertEqual(cfg.model, .dcgan2d)
        XCTAssertEqual(cfg.zDim, 100); XCTAssertEqual(cfg.zDistribution.rawValue, "uniform")
        XCTAssertEqual(cfg.lrG, 1e-4); XCTAssertEqual(cfg.lrD, 1e-4); XCTAssertEqual(cfg.beta1, 0.5); XCTAssertEqual(cfg.beta2, 0.999)
        XCTAssertEqual(cfg.batch, 64); XCTAssertEqual(cfg.loss, .bce); XCTAssertEqual(cfg.optimizer.rawValue, "adam"); XCTAssertEqual(cfg.initStd, 0.02)
        XCTAssertEqual(cfg.criticNorm.rawValue, "batch"); XCTAssertEqual(cfg.nCritic, 1)
        let g = NetworkGeometry(dims: 2, channels: 3, imageShape: [128, 128], layers: 5, conditionalClasses: 0)
        var rng = PETRandom(seed: 1)
        let m = try GANModel(config: cfg, geometry: g, rng: &rng)
        let gShapes = Dictionary(uniqueKeysWithValues: m.generator.namedParameters().map { ($0.0, $0.1.shape) })
        XCTAssertEqual(gShapes, [
            "project.fc.weight": [16384, 100],
            "bn0.weight": [1024], "bn0.bias": [1024],
            "ups.0.weight": [1024, 512, 5, 5], "ups.1.weight": [512, 256, 5, 5], "ups.2.weight": [256, 128, 5, 5],
            "ups.3.weight": [128, 64, 5, 5], "ups.4.weight": [64, 3, 5, 5],
            "norms.0.weight": [512], "norms.0.bias": [512], "norms.1.weight": [256], "norms.1.bias": [256],
            "norms.2.weight": [128], "norms.2.bias": [128], "norms.3.weight": [64], "norms.3.bias": [64],
        ])
        let dShapes = Dictionary(uniqueKeysWithValues: m.discriminator.namedParameters().map { ($0.0, $0.1.shape) })
        XCTAssertEqual(dShapes, [
            "downs.0.weight": [64, 3, 5, 5], "downs.1.weight": [128, 64, 5, 5], "downs.2.weight": [256, 128, 5, 5],
            "downs.3.weight": [512, 256, 5, 5], "downs.4.weight": [1024, 512, 5, 5],
            "norms.0.weight": [128], "norms.0.bias": [128], "norms.1.weight": [256], "norms.1.bias": [256],
            "norms.2.weight": [512], "norms.2.bias": [512], "norms.3.weight": [1024], "norms.3.bias": [1024],
            "head.fc.weight": [1, 16384], "head.fc.bias": [1],
        ])
        // No batch norm on the discriminator's input layer; each ConvTranspose2d is k5 s2 p2 op1.
        let trace = try m.layerTable()
        XCTAssertEqual(trace.map(\.0), ["G.project", "G.ups.0", "G.ups.1", "G.ups.2", "G.ups.3", "G.ups.4",
                                        "D.downs.0", "D.downs.1", "D.downs.2", "D.downs.3", "D.downs.4", "D.head"])
        XCTAssertEqual(trace.map(\.1), [[2, 1024, 4, 4], [2, 512, 8, 8], [2, 256, 16, 16], [2, 128, 32, 32], [2, 64, 64, 64], [2, 3, 128, 128],
                                        [2, 64, 64, 64], [2, 128, 32, 32], [2, 256, 16, 16], [2, 512, 8, 8], [2, 1024, 4, 4], [2, 1]])
        // Noise U[−1, 1]; weights N(0, 0.02).
        var r = PETRandom(seed: 2)
        let z = m.sampleNoise(64, rng: &r)
        XCTAssertEqual(z.shape, [64, 100])
        XCTAssertTrue(z.array.allSatisfy { $0 >= -1 && $0 <= 1 })
        XCTAssertLessThan(maxMagnitude(z.array), 1.0001); XCTAssertLessThan(finiteMinimum(z.array)!, -0.9); XCTAssertGreaterThan(finiteMaximum(z.array)!, 0.9)
        let w = m.generator.blocks[0].layer as! ConvTranspose2dLayer
        let std = sqrt(w.weight.value.array.map { Double($0 * $0) }.reduce(0, +) / Double(w.weight.count))
        XCTAssertEqual(std, 0.02, accuracy: 0.001)
        // tanh output in [−1, 1].
        let out = try m.sample(z.reshapedFirst(2), labels: [0, 0])
        XCTAssertEqual(out.shape, [2, 3, 128, 128])
        XCTAssertTrue(out.array.allSatisfy { $0 >= -1 && $0 <= 1 })
    }

    func test3DGeneratorWorksOnNonCubicGrids() throws {
        let cfg = try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: nil,
                                          overrides: ["data": "x.h5", "g_channels": "8,4", "d_channels": "4,8", "conditional": true])
        let g = NetworkGeometry(dims: 3, channels: 1, imageShape: [12, 16, 20], layers: 2, conditionalClasses: 3)
        XCTAssertEqual(g.baseGrid, [3, 4, 5])
        var rng = PETRandom(seed: 1)
        let m = try GANModel(config: cfg, geometry: g, rng: &rng)
        let t = try m.layerTable()
        XCTAssertEqual(t.map(\.1), [[2, 8, 3, 4, 5], [2, 4, 6, 8, 10], [2, 1, 12, 16, 20], [2, 4, 6, 8, 10], [2, 8, 3, 4, 5], [2, 1]])
        // Conditional: z joined with 3 class inputs, the critic sees 1 + 3 channels.
        XCTAssertEqual(m.generator.namedParameters().first { $0.0 == "project.weight" }?.1.shape, [cfg.zDim + 3, 8, 3, 4, 5])
        XCTAssertEqual(m.discriminator.namedParameters().first { $0.0 == "downs.0.weight" }?.1.shape, [4, 4, 4, 4, 4])
        // Layer norm (no batch norm) in the WGAN-GP critic.
        XCTAssertTrue(m.discriminator.blocks.compactMap(\.norm).allSatisfy { $0 is LayerNorm })

        let bad = NetworkGeometry(dims: 3, channels: 1, imageShape: [12, 18, 20], layers: 2, conditionalClasses: 0)
        XCTAssertThrowsError(try bad.validate()) { e in XCTAssertTrue("\(e)".contains("2^2"), "\(e)") }
    }

    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data(String(repeating: "a", count: 1000).utf8)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}

final class ConfigTests: XCTestCase {
    func testYAMLThenCommandLineOverridesAndResolvedConfigRoundTrips() throws {
        let dir = try makeTempDir()
        let yaml = (dir as NSString).appendingPathComponent("run.yaml")
        try """
        model: wgangp3d
        data: cohort.h5
        lr_g: 2e-4
        g_channels: [32, 16, 8]
        d_channels: [8, 16, 32]
        n_critic: 3
        conditional: true
        """.write(toFile: yaml, atomically: true, encoding: .utf8)
        let c = try TrainConfig.resolve(model: nil, preset: nil, yamlFile: yaml, overrides: ["n_critic": "2", "batch": 5])
        XCTAssertEqual(c.model, .wgangp3d)
        XCTAssertEqual(c.lrG, 2e-4)        // YAML (a string in YAML 1.1, converted)
        XCTAssertEqual(c.lrD, 1e-4)        // model default
        XCTAssertEqual(c.beta2, 0.9)       // WGAN-GP default
        XCTAssertEqual(c.nCritic, 2)       // command line beats YAML
        XCTAssertEqual(c.batch, 5)
        XCTAssertEqual(c.gChannels, [32, 16, 8])
        XCTAssertTrue(c.conditional)
        // The resolved YAML reads back to the same configuration.
        let resolved = (dir as NSString).appendingPathComponent("resolved.yaml")
        try c.yaml().write(toFile: resolved, atomically: true, encoding: .utf8)
        XCTAssertEqual(try TrainConfig.resolve(model: nil, preset: nil, yamlFile: resolved, overrides: [:]), c)
    }

    func testBadSettingsNameTheKeyAndFile() throws {
        let dir = try makeTempDir()
        let yaml = (dir as NSString).appendingPathComponent("bad.yaml")
        try "model: wgangp3d\nlearning_rate: 3\n".write(toFile: yaml, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainConfig.resolve(model: nil, preset: nil, yamlFile: yaml, overrides: [:])) { e in
            XCTAssertTrue("\(e)".contains("bad.yaml") && "\(e)".contains("learning_rate"), "\(e)")
        }
        XCTAssertThrowsError(try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: nil, overrides: ["batch": "many"])) { e in
            XCTAssertTrue("\(e)".contains("batch"), "\(e)")
        }
        XCTAssertThrowsError(try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: nil, overrides: ["critic_norm": "batch"])) { e in
            XCTAssertTrue("\(e)".contains("critic_norm"), "\(e)")
        }
        XCTAssertThrowsError(try TrainConfig.resolve(model: .dcgan3d, preset: "paper2d", yamlFile: nil, overrides: [:]))
        XCTAssertThrowsError(try TrainConfig.resolve(model: nil, preset: nil, yamlFile: dir + "/missing.yaml", overrides: [:])) { e in
            XCTAssertTrue("\(e)".contains("missing.yaml"), "\(e)")
        }
    }

    func testRunDirectoriesAreNumbered() throws {
        let dir = try makeTempDir()
        let a = try Trainer.makeRunDirectory(parent: dir, tag: "wgangp3d-AD")
        let b = try Trainer.makeRunDirectory(parent: dir, tag: "dcgan2d")
        XCTAssertTrue(a.hasSuffix("/00001-wgangp3d-AD"), a)
        XCTAssertTrue(b.hasSuffix("/00002-dcgan2d"), b)
    }
}

extension Tensor {
    /// The first n rows of a (N, F) tensor.
    func reshapedFirst(_ n: Int) -> Tensor {
        let per = count / shape[0]
        let t = Tensor(shape: [n] + Array(shape.dropFirst()))
        t.data.update(from: data, count: n * per)
        return t
    }
}
