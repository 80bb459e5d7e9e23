// Settings a run must keep across `--resume` without being given again: the convolution precision
// (`--precision bf16`) and `--sync-bn`. Regression: both were command-line only, so a resumed bf16
// run silently continued in fp32.
import Foundation
import PETModels
import PETTestFixtures
import PETTestSupport
import XCTest

final class ResumeSettingsTests: XCTestCase {
    func trainArgs(data: String, out: String, steps: Int, extra: [String] = []) -> [String] {
        ["train", "--data", data, "--model", "dcgan3d", "--batch", "4", "--max-steps", String(steps), "--seed", "3",
         "--threads", "1", "--out", out, "--set", "g_channels=16,8", "--set", "d_channels=8,16", "--set", "sample_count=2"] + extra
    }

    func savedConfig(_ run: String) throws -> TrainConfig {
        try RunRecord.parse(try Checkpoint.load(from: run + "/checkpoints/latest.h5").configJSON, file: run).config
    }

    func testPrecisionAndSyncBatchNormAreKeptOnResume() throws {
        let data = try Fixtures.smallCohort()
        let dir = try makeTempDir("resume-settings")
        let exe = try petganBinary()
        let first = try runProcess(exe, trainArgs(data: data, out: dir, steps: 1, extra: ["--precision", "bf16", "--sync-bn"]))
        XCTAssertEqual(first.status, 0, first.stderr)
        let runs = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(runs.count, 1)
        let run = dir + "/" + runs[0]
        let yaml = try String(contentsOfFile: run + "/config.yaml", encoding: .utf8)
        XCTAssertTrue(yaml.contains("precision: \"bf16\""), yaml)
        XCTAssertTrue(yaml.contains("sync_bn: true"), yaml)
        // Resumed without the options: the run's own settings continue.
        let resumed = try runProcess(exe, ["train", "--resume", run, "--max-steps", "2", "--threads", "1"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        var c = try savedConfig(run)
        XCTAssertEqual(c.convPrecision, .bf16)
        XCTAssertTrue(c.synchronisedBatchNorm)
        // Given again on resume, the precision switches from there on.
        let switched = try runProcess(exe, ["train", "--resume", run, "--max-steps", "3", "--threads", "1", "--precision", "fp32"])
        XCTAssertEqual(switched.status, 0, switched.stderr)
        c = try savedConfig(run)
        XCTAssertEqual(c.convPrecision, .fp32)
        // A run record without the keys (older runs) reads as fp32, per-rank batch norm.
        XCTAssertEqual(TrainConfig().convPrecision, .fp32)
        XCTAssertFalse(TrainConfig().synchronisedBatchNorm)
    }

    /// Regression: settings a resumed run cannot change (it keeps its config.yaml) were accepted and
    /// silently ignored (`--resume RUN --augment translation,adaptive` trained without augmentation).
    func testSettingsAResumeCannotChangeAreOneError() throws {
        let data = try Fixtures.smallCohort()
        let dir = try makeTempDir("resume-settings-fixed")
        let exe = try petganBinary()
        XCTAssertEqual(try runProcess(exe, trainArgs(data: data, out: dir, steps: 1)).status, 0)
        let run = dir + "/" + (try FileManager.default.contentsOfDirectory(atPath: dir).sorted()[0])
        for extra in [["--augment", "translation,adaptive"], ["--set", "lr_g=1e-3"], ["--batch", "2", "--g-ema", "0.9"], ["--data", data]] {
            let r = try runProcess(exe, ["train", "--resume", run, "--max-steps", "2", "--threads", "1"] + extra)
            XCTAssertNotEqual(r.status, 0, "\(extra)")
            XCTAssertEqual(r.errorLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("cannot be given with it") && r.stderr.contains(extra[0]), r.stderr)
        }
        XCTAssertEqual(try Checkpoint.load(from: run + "/checkpoints/latest.h5").step, 1, "nothing ran")
    }

    func testUnknownPrecisionSettingIsOneError() throws {
        let data = try Fixtures.smallCohort()
        let dir = try makeTempDir("resume-settings-bad")
        let r = try runProcess(try petganBinary(), trainArgs(data: data, out: dir, steps: 1, extra: ["--set", "precision=fp16"]))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.errorLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("precision") && r.stderr.contains("fp16"), r.stderr)
    }
}
