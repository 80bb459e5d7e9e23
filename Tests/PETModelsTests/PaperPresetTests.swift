import Foundation
import XCTest
import PETTestSupport
@testable import PETModels
import PETTensor
import PETVolumes

/// `--preset paper2d` is Islam & Zhang (2020)'s recipe: every hyper-parameter the paper states, and
/// only data of the paper's shape (128×128×3 slices) unless told otherwise.
final class PaperPresetTests: XCTestCase {
    func testPaper2DPresetResolvesToThePapersRecipe() throws {
        let cfg = try TrainConfig.resolve(model: nil, preset: "paper2d", yamlFile: nil, overrides: ["data": "x.h5"])
        XCTAssertEqual(cfg.preset, "paper2d")
        XCTAssertEqual(cfg.model, .dcgan2d)
        XCTAssertEqual(cfg.epochs, 500)
        XCTAssertEqual(cfg.batch, 64)
        XCTAssertEqual(cfg.conditional, false)
        XCTAssertEqual(cfg.zDim, 100)
        XCTAssertEqual(cfg.zDistribution.rawValue, "uniform")
        XCTAssertEqual(cfg.gChannels, [1024, 512, 256, 128, 64])
        XCTAssertEqual(cfg.dChannels, [64, 128, 256, 512, 1024])
        XCTAssertEqual(cfg.criticNorm.rawValue, "batch")
        XCTAssertEqual(cfg.loss, .bce)
        XCTAssertEqual(cfg.optimizer.rawValue, "adam")
        XCTAssertEqual(cfg.lrG, 1e-4)
        XCTAssertEqual(cfg.lrD, 1e-4)
        XCTAssertEqual(cfg.beta1, 0.5)
        XCTAssertEqual(cfg.beta2, 0.999)
        XCTAssertEqual(cfg.nCritic, 1)
        XCTAssertEqual(cfg.initStd, 0.02)
        XCTAssertEqual(TrainConfig.presetItemShape("paper2d"), [3, 128, 128])
        XCTAssertNil(TrainConfig.presetItemShape(""))
        // The preset's values are defaults of the run: the command line still wins.
        let shorter = try TrainConfig.resolve(model: nil, preset: "paper2d", yamlFile: nil, overrides: ["data": "x.h5", "epochs": 3])
        XCTAssertEqual(shorter.epochs, 3)
        XCTAssertEqual(shorter.batch, 64)
    }

    func paperConfig(data: String, out: String) throws -> TrainConfig {
        try TrainConfig.resolve(model: nil, preset: "paper2d", yamlFile: nil, overrides: ["data": .string(data), "out": .string(out), "class": "HI"])
    }

    func testPaper2DPresetRefusesOtherSlicesUnlessAllowed() throws {
        let dir = try makeTempDir()
        for shape in [[3, 64, 64], [1, 128, 128]] {
            let data = dir + "/slices-\(shape.map(String.init).joined(separator: "x")).h5"
            try makeStore(data, shape: shape, count: 4)
            let out = dir + "/runs-\(shape[0])-\(shape[1])"
            XCTAssertThrowsError(try Trainer(config: paperConfig(data: data, out: out))) { e in
                guard case TrainError.dataShape = e else { return XCTFail("expected a data shape error, got \(e)") }
                let text = "\(e)"
                let items = "\(shape[1])×\(shape[2])×\(shape[0])"
                XCTAssertTrue(text.hasPrefix(data + ": "), text)
                XCTAssertTrue(text.contains("128×128×3") && text.contains("items are \(items)") && text.contains("--allow-any-shape"), text)
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a refused run leaves no run directory")
        }
        // Told otherwise: the paper's recipe on 64×64×3 slices (a 2×2 base grid).
        let data = dir + "/slices-3x64x64.h5"
        let t = try Trainer(config: paperConfig(data: data, out: dir + "/runs-allowed"), allowAnyShape: true)
        XCTAssertEqual(t.record.geometry.imageShape, [64, 64])
        XCTAssertEqual(t.record.geometry.channels, 3)
        XCTAssertEqual(t.config.epochs, 500)
    }

    func testPaper2DPresetAcceptsThePapersSlices() throws {
        let dir = try makeTempDir()
        let data = dir + "/slices.h5"
        try makeStore(data, shape: [3, 128, 128], count: 4)
        let t = try Trainer(config: paperConfig(data: data, out: dir + "/runs"))
        XCTAssertEqual(t.record.geometry.imageShape, [128, 128])
        XCTAssertEqual(t.record.geometry.channels, 3)
        XCTAssertEqual(t.record.geometry.baseGrid, [4, 4])
        // Without a preset any slice shape trains.
        let small = dir + "/small.h5"
        try makeStore(small, shape: [3, 32, 32], count: 4)
        XCTAssertNoThrow(try Trainer(config: tinyConfig(.dcgan2d, data: small, out: dir + "/runs-small")))
    }
}
