import XCTest
import PETTestFixtures
import PETTestSupport
import PETCohort
@testable import PETMetrics

/// `petgan evaluate --train` end to end on the small fixture cohort: the issue-17 numbers (seeded and
/// task Fréchet distances with intervals, class fidelity, memorisation audit, regional agreement,
/// intervals, the summary) land in metrics.json, finite, and in report.html; bad options fail clearly.
final class QualityMetricsCommandTests: XCTestCase {
    func testEvaluateWithTrainingStoreWritesQualityFields() throws {
        let exe = try petganBinary()
        let real = try Fixtures.smallCohort()
        let dir = try makeTempDir("cli-quality")
        let env = ["PETGAN_TEMPLATES": RepositoryPaths.templates]
        let train = dir + "/train.h5"
        try PhantomCohort.makeSmallCohort(at: train, count: 12, seed: 29, templatesDirectory: RepositoryPaths.templates)
        let delta: Float = 0.05
        _ = try Fixtures.writePerturbedNIfTI(from: real, to: dir + "/gen", offset: delta)

        // Bad input: one clear line naming the option and the file, non-zero exit, nothing written.
        let (s1, _, e1) = try Fixtures.run(exe, ["evaluate", "--real", real, "--synthetic", dir + "/gen", "--out", dir + "/bad", "--train", dir + "/nope.h5"], environment: env)
        XCTAssertEqual(s1, 1)
        let lines = e1.split(separator: "\n").filter { $0.contains("petgan: error:") }
        XCTAssertEqual(lines.count, 1, e1)
        XCTAssertTrue(lines.first.map { $0.contains("--train") && $0.contains(dir + "/nope.h5") } ?? false, e1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/bad/report.html"))
        let (s2, _, e2) = try Fixtures.run(exe, ["evaluate", "--real", real, "--synthetic", dir + "/gen", "--out", dir + "/bad", "--near-copy-quantile", "1.5"], environment: env)
        XCTAssertEqual(s2, 64); XCTAssertTrue(e2.contains("--near-copy-quantile"), e2)

        let out = dir + "/r"
        let (s3, o3, e3) = try Fixtures.run(exe, ["evaluate", "--real", real, "--synthetic", dir + "/gen", "--out", out, "--train", train,
                                                  "--epochs", "5", "--min-steps", "40", "--mmd-permutations", "10", "--diversity-pairs", "3",
                                                  "--augmentation-seeds", "1", "--bootstrap-resamples", "200"], environment: env)
        XCTAssertEqual(s3, 0, e3)
        XCTAssertTrue(o3.contains("FD seeded") && o3.contains("class fidelity") && o3.contains("nn_ratio"), o3)
        let m = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/metrics.json"))) as? [String: Any])

        // The summary: every learning-curve number present and finite.
        let summary = try XCTUnwrap(m["summary"] as? [String: Any])
        for k in ["fd_seeded", "fd_seeded_low", "fd_seeded_high", "fd_task", "class_fidelity", "class_fidelity_ceiling", "regional_abs_err", "nn_ratio", "mmd_voxels", "c2st_acc"] {
            let v = try XCTUnwrap(summary[k] as? Double, "summary.\(k) missing or null")
            XCTAssertTrue(v.isFinite, k)
        }
        // Synthetic = real + δ everywhere: every regional difference is δ, so the mean |error| is δ.
        XCTAssertEqual(summary["regional_abs_err"] as! Double, Double(delta), accuracy: 1e-4)
        let agreement = try XCTUnwrap((m["regional_agreement"] as? [String: Any])?["per_class"] as? [[String: Any]])
        XCTAssertEqual(agreement.count, 3)
        for c in agreement {
            XCTAssertEqual(c["bias"] as! Double, Double(delta), accuracy: 1e-4)
            XCTAssertEqual(c["upper_limit_of_agreement"] as! Double, Double(delta), accuracy: 1e-3)
            XCTAssertGreaterThan((c["regions"] as! [Any]).count, 60)
        }
        // The pinned extractor and its hash.
        let seeded = try XCTUnwrap((m["distribution"] as? [String: Any])?["fd_seeded"] as? [String: Any])
        XCTAssertEqual(seeded["extractor"] as? String, "petgan-seeded-fd-v1")
        XCTAssertEqual(seeded["weights_sha256"] as? String, SeededFeatureNetwork.v1.weightsSHA256)
        XCTAssertNotNil(((m["distribution"] as? [String: Any])?["features"] as? [String: Any])?["frechet_interval"] as? [String: Any])
        // Class fidelity: confusion matrix over the 12 labelled synthetic volumes, diagonal = fidelity · n.
        let cf = try XCTUnwrap(m["class_fidelity"] as? [String: Any])
        let confusion = try XCTUnwrap(cf["confusion"] as? [[Int]])
        XCTAssertEqual(confusion.flatMap { $0 }.reduce(0, +), 12)
        XCTAssertEqual(Double((0..<3).reduce(0) { $0 + confusion[$1][$1] }) / 12, cf["class_fidelity"] as! Double, accuracy: 1e-12)
        XCTAssertEqual((cf["per_class"] as? [Any])?.count, 3)
        // Memorisation and intervals.
        let mem = try XCTUnwrap(m["memorisation"] as? [String: Any])
        XCTAssertEqual(mem["n_train"] as? Int, 12)
        let intervals = try XCTUnwrap(m["intervals"] as? [String: Any])
        for k in ["psnr_2d", "ssim_2d", "psnr_3d", "ssim_3d", "msssim_synthetic", "msssim_real", "mmd_voxels"] {
            let i = try XCTUnwrap(intervals[k] as? [String: Any], k)
            let lo = try XCTUnwrap(i["low"] as? Double, k), hi = try XCTUnwrap(i["high"] as? Double, k)
            XCTAssertLessThanOrEqual(lo, hi, k)
        }
        // 12 volumes: below the minimum count, so the run says the intervals are rough.
        XCTAssertTrue((m["notes"] as? [String] ?? []).contains { $0.contains("fewer than 20 samples") })

        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        for section in ["<h2>Class fidelity</h2>", "<h2>Memorisation audit</h2>", "<h2>Seeded 3D Fréchet distance", "Bland–Altman", "[95% "] {
            XCTAssertTrue(html.contains(section), section)
        }
        XCTAssertFalse(html.contains("{{"), "figure placeholder left in the page")
    }
}
