// `petgan train --model hagan3d` and `petgan generate` on its run, as a user runs them: a tiny
// conditional run on the 4 mm phantom cohort, whole volumes generated slab by slab within a budget,
// and bad settings refused with one `petgan: error:` line.
import Foundation
import PETTestFixtures
import PETTestSupport
import PETVolumes
import XCTest

final class HAGANCommandTests: XCTestCase {
    func trainArgs(data: String, out: String, extra: [String] = []) -> [String] {
        ["train", "--data", data, "--model", "hagan3d", "--conditional", "--batch", "2", "--max-steps", "2", "--seed", "3",
         "--threads", "1", "--out", out, "--set", "g_channels=8,6,4", "--set", "d_channels=4,6,8", "--set", "sample_count=2", "--set", "z_dim=8"] + extra
    }

    func testTrainAndGenerateWholeVolumesWithinABudget() throws {
        let data = try Fixtures.smallCohort()
        let dir = try makeTempDir("hagan-cli")
        let exe = try petganBinary()
        let t = try runProcess(exe, trainArgs(data: data, out: dir + "/runs", extra: ["--memory-budget", "2GB"]))
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertTrue(t.stdout.contains("memory budget") || t.stderr.contains("memory budget"), t.stdout + t.stderr)
        let run = dir + "/runs/" + (try FileManager.default.contentsOfDirectory(atPath: dir + "/runs").sorted()[0])
        let yaml = try String(contentsOfFile: run + "/config.yaml", encoding: .utf8)
        XCTAssertTrue(yaml.contains("model: \"hagan3d\"") && yaml.contains("lowres_factor: 4") && yaml.contains("slab_depth: 0"), yaml)
        let whole = try runProcess(exe, ["generate", "--checkpoint", run, "--seeds", "1", "--class", "AD", "--out", dir + "/whole", "--threads", "1"])
        XCTAssertEqual(whole.status, 0, whole.stderr)
        let tiled = try runProcess(exe, ["generate", "--checkpoint", run, "--seeds", "1", "--class", "AD", "--out", dir + "/tiled", "--threads", "1",
                                         "--memory-budget", "40MB"])
        XCTAssertEqual(tiled.status, 0, tiled.stderr)
        let name = "AD_seed00001.nii.gz"
        let a = try NIfTIFile.read(dir + "/whole/" + name), b = try NIfTIFile.read(dir + "/tiled/" + name)
        let real = try VolumeStore.open(data)
        XCTAssertEqual(a.shape, real.volumeShape)
        XCTAssertEqual(a.affine, real.affine(0))
        XCTAssertEqual(a.data.map(\.bitPattern), b.data.map(\.bitPattern), "a budget changes how, not what, is generated")
    }

    func testBadSlabAndFactorSettingsAreOneErrorLine() throws {
        let data = try Fixtures.smallCohort()   // 48×56×48
        let exe = try petganBinary()
        for (set, words) in [("slab_depth=20", ["slab_depth", "not a multiple"]), ("slab_depth=64", ["slab_depth", "larger than"]),
                             ("lowres_factor=16", ["lowres_factor", "not divisible"]), ("lowres_factor=6", ["lowres_factor", "power of two"])] {
            let r = try runProcess(exe, trainArgs(data: data, out: try makeTempDir("hagan-bad"), extra: ["--set", set]))
            XCTAssertNotEqual(r.status, 0, set)
            XCTAssertFalse(r.signalled, set)
            XCTAssertEqual(r.errorLines.count, 1, "\(set): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(set): one line only: \(r.stderr)")
            for w in words { XCTAssertTrue(r.stderr.contains(w), "\(set): \(r.stderr)") }
        }
    }
}
