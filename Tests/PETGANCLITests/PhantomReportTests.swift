import XCTest
import PETTestFixtures
import PETTestSupport
import PETMetrics

/// `petgan phantom --report`: a tiny cohort end to end (4 mm, 2×2-fold), the files and their fields,
/// `--from`, and bad options.
final class PhantomReportTests: XCTestCase {
    func testPhantomReportWritesTheFilesWithFiniteFigures() throws {
        let exe = try petganBinary()
        try ensureTemplates(required: ["atlas-AAL2_dseg.nii.gz", "atlas-AAL2_dseg.tsv"])
        let dir = try makeTempDir("phantom-report")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = ["PETGAN_TEMPLATES": RepositoryPaths.templates]
        let literature = RepositoryPaths.root.appendingPathComponent("docs/phantom.md").path
        let (s, o, e) = try Fixtures.run(exe, ["phantom", "--count", "12", "--classes", "NC,MCI,AD", "--proportions", "1,1,1", "--seed", "4",
                                               "--shape", "48x56x48", "--voxel-size", "4", "--report", dir + "/r", "--report-cv", "2x2",
                                               "--report-cnn-min-steps", "10", "--literature", literature], environment: env)
        XCTAssertEqual(s, 0, e)
        XCTAssertTrue(e.contains("ETA"), "progress with ETA on stderr: \(e)")
        XCTAssertTrue(o.contains("report: wrote"), o)
        for name in ["report.md", "report.html", "report.json", "montage.png", "cohort.h5"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/r/" + name), name)
        }
        let report = try JSONDecoder().decode(CohortReport.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/r/report.json")))
        XCTAssertEqual(report.cohort.subjects, 12)
        XCTAssertEqual(report.cohort.classCounts, ["NC": 4, "MCI": 4, "AD": 4])
        XCTAssertEqual(report.cohort.seed, 4)
        XCTAssertEqual(report.difficulty.plan.repeats, 2); XCTAssertEqual(report.difficulty.plan.folds, 2)
        XCTAssertEqual(Set(report.difficulty.estimates.map(\.task)), ["NC vs AD", "NC vs MCI", "3-class (NC/MCI/AD)"])
        XCTAssertEqual(report.difficulty.estimates.count, 6, "3 tasks × 2 classifiers")
        for est in report.difficulty.estimates {
            XCTAssertEqual(est.foldBalancedAccuracy.count, 4, "\(est.task) \(est.classifier)")
            XCTAssertTrue(est.foldBalancedAccuracy.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 }, "\(est.foldBalancedAccuracy)")
            XCTAssertTrue(est.balancedAccuracy.isFinite && est.ci.low.isFinite && est.ci.high.isFinite, "\(est)")
            XCTAssertLessThanOrEqual(est.ci.low, est.balancedAccuracy); XCTAssertGreaterThanOrEqual(est.ci.high, est.balancedAccuracy)
        }
        XCTAssertFalse(report.regional.isEmpty)
        XCTAssertNotNil(report.literatureSource)
        for row in report.regional {
            XCTAssertNotNil(row.literature, row.region)
            XCTAssertEqual(row.classes.map(\.className), ["NC", "MCI", "AD"])
            for c in row.classes {
                XCTAssertTrue(c.mean.isFinite && c.mean > 0 && c.sd.isFinite, "\(row.region) \(c)")
                if c.className != "NC" {
                    XCTAssertTrue((c.cohenD ?? .nan).isFinite && (c.zAgainstNC ?? .nan).isFinite && (c.changePercent ?? .nan).isFinite, "\(row.region) \(c)")
                }
            }
        }
        let html = try String(contentsOfFile: dir + "/r/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("data:image/png;base64,") && html.contains("<svg") && html.contains("Regional table"))
        XCTAssertFalse(html.contains("src=\"http"), "self-contained")
        let md = try String(contentsOfFile: dir + "/r/report.md", encoding: .utf8)
        XCTAssertTrue(md.contains("## Classification difficulty") && md.contains("NC vs AD") && md.contains("](montage.png)"), md)

        // --from: the same store again, the regression only (fast), into another folder.
        let (s2, _, e2) = try Fixtures.run(exe, ["phantom", "--report", dir + "/r2", "--from", dir + "/r/cohort.h5", "--report-cv", "2x2",
                                                 "--report-classifiers", "logistic", "--literature", literature], environment: env)
        XCTAssertEqual(s2, 0, e2)
        let again = try JSONDecoder().decode(CohortReport.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/r2/report.json")))
        XCTAssertEqual(again.difficulty.estimates.map(\.classifier), [.logisticRegression, .logisticRegression, .logisticRegression])
        XCTAssertEqual(again.cohort.seed, 4, "the seed is read back from the store's plan")
        // Same data, same folds, same regression: the same figures.
        let lr = report.difficulty.estimates.filter { $0.classifier == .logisticRegression }
        XCTAssertEqual(again.difficulty.estimates.map(\.foldBalancedAccuracy), lr.map(\.foldBalancedAccuracy))
    }

    func testBadReportOptionsAreOneErrorLine() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir("phantom-report-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (args, needle) in [(["--report", dir + "/r", "--report-cv", "5"], "--report-cv"),
                               (["--report", dir + "/r", "--report-cv", "5x1"], "--report-cv"),
                               (["--report", dir + "/r", "--report-classifiers", "svm"], "--report-classifiers"),
                               (["--from", dir + "/x.h5"], "--from"),
                               (["--report", dir + "/r", "--from", dir + "/missing.h5"], "--from")] {
            let (s, _, e) = try Fixtures.run(exe, ["phantom"] + args)
            XCTAssertEqual(s, 64, "\(args): \(e)")
            let lines = e.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(args): \(e)")
            XCTAssertTrue(e.hasPrefix("petgan: error:") && e.contains(needle), "\(args): \(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/r"))
    }
}
