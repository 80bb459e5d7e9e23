import Foundation
import PETTestSupport
import XCTest
@testable import PETModels
import PETAutograd
import PETTensor
import PETVolumes

/// A run written by PETGAN 0.1.0 before the training checkpoint moved to PETModels and the settings
/// became enums (Tests/Fixtures/checkpoint-0.1.0, README there): it still loads and resumes.
final class PreChangeCheckpointTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/checkpoint-0.1.0").path

    func testPreChangeRunLoadsAndResumes() throws {
        let saved = Parallel.threads
        Parallel.setThreads(1)
        defer { Parallel.setThreads(saved) }
        // The run's data path is relative ("data.h5"): work in a copy of the fixture folder.
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: dir + "/fx")
        let cwd = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir + "/fx"))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }

        let old = try Checkpoint.load(from: "run/checkpoints/latest.h5")
        XCTAssertEqual(old.version, "0.1.0")
        XCTAssertEqual(old.step, 2)
        XCTAssertEqual(Set(old.optimizers.keys), ["optG", "optD"])
        XCTAssertFalse(old.optimizers["optG"]!.tensors.isEmpty)
        let rec = try RunRecord.parse(old.configJSON, file: "latest.h5")
        XCTAssertEqual(rec.config.model, .wgangp3d)
        XCTAssertEqual(rec.config.optimizer, .adam)
        XCTAssertEqual(rec.config.criticNorm, .layer)
        XCTAssertEqual(rec.config.zDistribution, .normal)
        // Generation's path: the model rebuilt from the record, weights read with the manifest check.
        let (model, _, _) = try Generation.loadModel("run/checkpoints/latest.h5")
        XCTAssertTrue(model.tensors().allSatisfy { old.tensors[$0.key]?.bitwiseEqual($0.value) ?? false })

        // Resume: the restored state is the file's bitwise (moments, step counts, generators) ...
        var more = TrainConfig(); more.maxSteps = 4
        let resumed = try Trainer(config: more, resumeDirectory: "run")
        XCTAssertEqual(resumed.step, 2)
        checkpointsEqual(old, try resumed.checkpoint())
        let c = try resumed.run()
        XCTAssertEqual(c.steps, 4)
        XCTAssertTrue(c.lastMetrics!.isFinite)

        // ... and continuing it is what this code computes for the same run from scratch: bitwise on
        // the machine that wrote the fixture; within float rounding elsewhere (BLAS kernels differ by
        // CPU, which is not what this test is about).
        var cfg = rec.config
        cfg.maxSteps = 4
        cfg.out = dir + "/fresh"
        let fresh = try Trainer(config: cfg).run()
        let a = try Checkpoint.load(from: fresh.finalCheckpoint), b = try Checkpoint.load(from: c.finalCheckpoint)
        XCTAssertEqual(a.step, b.step)
        XCTAssertEqual(a.rngs, b.rngs, "random generator states")
        XCTAssertEqual(Set(a.tensors.keys), Set(b.tensors.keys))
        var all: [(String, Tensor, Tensor)] = a.tensors.map { ($0.key, $0.value, b.tensors[$0.key]!) }
        for (name, s) in a.optimizers {
            XCTAssertEqual(s.steps, b.optimizers[name]!.steps, name)
            XCTAssertEqual(Set(s.tensors.keys), Set(b.optimizers[name]!.tensors.keys), name)
            all += s.tensors.map { ("\(name).\($0.key)", $0.value, b.optimizers[name]!.tensors[$0.key]!) }
        }
        print("pre-change run resumed vs this code's fresh run: bitwise \(all.allSatisfy { $0.1.bitwiseEqual($0.2) })")
        for (name, x, y) in all {
            let scale = max(1e-6, maxMagnitude(x.array))
            let diff = maxMagnitude(zip(x.array, y.array).map { $0 - $1 })
            XCTAssertLessThanOrEqual(diff, 1e-4 * scale, name)
        }
    }
}
