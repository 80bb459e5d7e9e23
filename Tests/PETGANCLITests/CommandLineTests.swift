import XCTest
import PETTestFixtures
import PETTestSupport
import PETCohort
@testable import PETMetrics

/// The `petgan` commands: exit status and messages (the binary sits next to the test bundle).
final class CommandLineTests: XCTestCase {
    func testEvaluateAndTuringCommands() throws {
        let exe = try petganBinary()
        let real = try Fixtures.smallCohort()
        let dir = try makeTempDir("cli")
        let env = ["PETGAN_TEMPLATES": RepositoryPaths.templates]

        // Bad input: one clear line, non-zero exit, nothing written.
        let (s1, _, e1) = try Fixtures.run(exe, ["evaluate", "--real", real, "--synthetic", dir + "/nope", "--out", dir + "/r"], environment: env)
        XCTAssertEqual(s1, 1)
        XCTAssertTrue(e1.contains("petgan: error:") && e1.contains(dir + "/nope") && e1.contains("no such file"), e1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/r/report.html"))
        let (s2, _, e2) = try Fixtures.run(exe, ["evaluate", "--real", real, "--synthetic", real, "--out", dir + "/r", "--epochs", "0"], environment: env)
        XCTAssertNotEqual(s2, 0); XCTAssertTrue(e2.contains("--epochs"), e2)

        // A quick evaluation of the cohort against perturbed copies, classifiers skipped.
        _ = try Fixtures.writePerturbedNIfTI(from: real, to: dir + "/gen", offset: 0.1)
        let (s3, o3, e3) = try Fixtures.run(exe, ["evaluate", "--real", real, "--synthetic", dir + "/gen", "--out", dir + "/r", "--class", "AD",
                                                  "--skip-classifiers", "--mmd-permutations", "10", "--diversity-pairs", "2"], environment: env)
        XCTAssertEqual(s3, 0, e3)
        XCTAssertTrue(o3.contains("PSNR 2D") && o3.contains("report.html"), o3)
        XCTAssertTrue(e3.contains("ETA"), "progress with ETA on stderr")
        let m = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/r/metrics.json"))) as? [String: Any])
        XCTAssertEqual(((m["inputs"] as? [String: Any])?["real"] as? [String: Any])?["count"] as? Int, 4)   // only AD
        XCTAssertEqual((m["paper_protocol"] as? [String: Any])?["pairs"] as? Int, 4)

        // Turing kit and score.
        let (s4, o4, e4) = try Fixtures.run(exe, ["turing-kit", "--real", real, "--synthetic", dir + "/gen", "--count", "6", "--out", dir + "/kit"], environment: env)
        XCTAssertEqual(s4, 0, e4)
        XCTAssertTrue(o4.contains("form for readers"), o4)
        let key = try JSONDecoder().decode([TuringKeyItem].self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/kit/sealed/answer-key.json")))
        let kit = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/kit/kit.json"))) as? [String: Any])
        var answers: [String: String] = [:]
        for k in key { answers[k.item] = "synthetic" }
        try JSONSerialization.data(withJSONObject: ["kit_id": kit["kit_id"]!, "reader": "cli", "answers": answers]).write(to: URL(fileURLWithPath: dir + "/a.json"))
        let (s5, o5, e5) = try Fixtures.run(exe, ["turing-score", dir + "/kit", dir + "/a.json", "--json", dir + "/scores.json"])
        XCTAssertEqual(s5, 0, e5)
        XCTAssertTrue(o5.contains("Real as Synt") && o5.contains("50.0%") && o5.contains("3 (100.0%)"), o5)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/scores.json"))
        let (s6, _, e6) = try Fixtures.run(exe, ["turing-score", dir + "/kit", dir + "/missing.json"])
        XCTAssertEqual(s6, 1); XCTAssertTrue(e6.contains("missing.json"), e6)
    }

    func testEvaluateTwoDimensionalSamplesAndBenchOptions() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir("cli2d")
        let env = ["PETGAN_TEMPLATES": RepositoryPaths.templates]
        try ensureTemplates(required: TemplateFiles.all)
        let (s0, _, e0) = try Fixtures.run(exe, ["phantom", "--count", "6", "--shape", "48x56x48", "--voxel-size", "4", "--slices", "axial",
                                                 "--slice-shape", "32x32", "--out", dir + "/c.h5"], environment: env)
        XCTAssertEqual(s0, 0, e0)
        // The slice store as the "synthetic" set against its own volume store: the cut slices are the
        // store's items (up to the store's float rounding), so SSIM is 1 for every pair.
        let (s1, o1, e1) = try Fixtures.run(exe, ["evaluate", "--real", dir + "/c.h5", "--synthetic", dir + "/c_slices-axial.h5", "--out", dir + "/r",
                                                  "--slice-range=-24:56", "--slice-step", "8", "--skip-classifiers",
                                                  "--mmd-permutations", "5", "--diversity-pairs", "2"], environment: env)
        XCTAssertEqual(s1, 0, e1)
        XCTAssertTrue(o1.contains("2D samples, 66 pairs"), o1)
        let m = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/r/metrics.json"))) as? [String: Any])
        let paper = try XCTUnwrap(m["paper_protocol"] as? [String: Any])
        XCTAssertEqual((paper["ssim_2d"] as? [String: Any])?["mean"] as? Double ?? 0, 1, accuracy: 1e-5)
        // Other positions than the training data's: other real items, so no longer identical.
        let (s2, _, e2) = try Fixtures.run(exe, ["evaluate", "--real", dir + "/c.h5", "--synthetic", dir + "/c_slices-axial.h5", "--out", dir + "/r2",
                                                 "--slice-range=-20:52", "--skip-classifiers", "--mmd-permutations", "5", "--diversity-pairs", "2"], environment: env)
        XCTAssertEqual(s2, 0, e2)
        let m2 = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/r2/metrics.json"))) as? [String: Any])
        XCTAssertLessThan(((m2["paper_protocol"] as? [String: Any])?["ssim_2d"] as? [String: Any])?["mean"] as? Double ?? 1, 0.999)
        // Option checks name the option.
        let (s3, _, e3) = try Fixtures.run(exe, ["evaluate", "--real", dir + "/c.h5", "--synthetic", dir + "/c.h5", "--out", dir + "/r3", "--slice-range", "5"])
        XCTAssertNotEqual(s3, 0); XCTAssertTrue(e3.contains("--slice-range"), e3)
        let (s4, _, e4) = try Fixtures.run(exe, ["bench", "evaluate", "--count", "3"])
        XCTAssertNotEqual(s4, 0); XCTAssertTrue(e4.contains("--count"), e4)
    }
}
