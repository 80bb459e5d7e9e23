// `petgan bench hierarchical` on tiny grids: every (model, grid) row well-formed, the cases that fit
// run with finite positive figures, the one over the limit is reported from its estimate, and the
// keys are the ones Benchmarks/README.md documents.
import Foundation
import PETBenchmarks
import PETTestSupport
import XCTest

final class BenchHierarchicalTests: XCTestCase {
    func number(_ row: [String: Any], _ key: String) -> Double { (row[key] as? NSNumber)?.doubleValue ?? .nan }

    func testTinySweepGivesWellFormedFiniteRowsAndReportsWhatDoesNotFit() throws {
        let dir = try makeTempDir("bench-hierarchical")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runProcess(try petganBinary(), [
            "bench", "hierarchical", "--models", "wgangp3d,dcgan3d", "--grids", "16x16x16:4,16x24x16:2,64x64x64:1",
            "--g-channels", "16,8", "--d-channels", "8,16", "--batch", "2", "--classes", "3", "--steps", "2",
            "--memory-limit", "300MB", "--threads", "1", "--json", dir + "/h.json"])
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/h.json"))) as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["model"] as? String }, ["wgangp3d", "wgangp3d", "wgangp3d", "dcgan3d", "dcgan3d", "dcgan3d"])
        XCTAssertEqual(rows.map { $0["grid"] as? [Int] ?? [] }, [[16, 16, 16], [16, 24, 16], [64, 64, 64], [16, 16, 16], [16, 24, 16], [64, 64, 64]])
        for row in rows {
            XCTAssertEqual(Set(row.keys), Set(HierarchicalRow.keys), "every key, null when absent: \(row)")
            XCTAssertEqual(row["kind"] as? String, "hierarchical")
            XCTAssertEqual(row["g_channels"] as? [Int], [16, 8]); XCTAssertEqual(row["d_channels"] as? [Int], [8, 16])
            XCTAssertEqual(number(row, "batch"), 2); XCTAssertEqual(number(row, "classes"), 3); XCTAssertEqual(number(row, "limit_mb"), 300)
            XCTAssertGreaterThan(number(row, "parameters"), 0)
            let est = number(row, "estimated_mb"), without = number(row, "estimated_without_mb")
            XCTAssertTrue(est.isFinite && est > 0 && without >= est, "\(row)")
            if (row["grid"] as? [Int]) == [64, 64, 64] {
                // The 16 × 16³ projection's weights, gradients and Adam moments (≈ 110 MB) over the
                // process baseline: more than 300 MB, reported, not run.
                XCTAssertEqual(row["fits"] as? Bool, false, "\(row)")
                XCTAssertGreaterThan(est, 300)
                XCTAssertTrue((row["note"] as? String)?.hasPrefix("does not fit in 300 MB: a step needs about") == true, "\(row)")
                XCTAssertTrue(row["seconds"] is NSNull && row["peak_rss_mb"] is NSNull && row["time_vs_reference"] is NSNull, "\(row)")
                XCTAssertEqual(number(row, "steps"), 0)
                continue
            }
            XCTAssertEqual(row["fits"] as? Bool, true, "\(row)")
            XCTAssertLessThanOrEqual(est, 300)
            XCTAssertTrue(row["note"] is NSNull, "\(row)")
            XCTAssertEqual(number(row, "steps"), 2)
            for k in ["seconds", "first_step_seconds", "peak_rss_mb", "counted_peak_mb", "time_vs_reference"] {
                let v = number(row, k)
                XCTAssertTrue(v.isFinite && v > 0, "\(k) = \(String(describing: row[k])) in \(row)")
            }
            XCTAssertTrue(number(row, "loss_d").isFinite && number(row, "loss_g").isFinite, "\(row)")
            XCTAssertEqual(number(row, "time_vs_reference"), number(row, "seconds") / number(rows[0], "seconds"), accuracy: 0.002 * number(row, "time_vs_reference") + 0.001)
        }
        XCTAssertEqual(number(rows[0], "time_vs_reference"), 1, "the reference is wgangp3d at the first grid")
        XCTAssertTrue(r.stdout.contains("does not fit in 300 MB"), r.stdout)
        XCTAssertTrue(r.stdout.contains("time against wgangp3d at 16×16×16"), r.stdout)
    }

    func testBadOptionsAreOneErrorLine() throws {
        for (args, option) in [(["--models", "wgangp3d,nosuch"], "--models"), (["--models", "dcgan2d"], "--models"),
                               (["--grids", "20x20x20:2"], "--grids"), (["--grids", "16x16x16"], "--grids"),
                               (["--model", "wgangp3d"], "--grid"), (["--g-channels", "8,8,8"], "--d-channels"),
                               (["--memory-limit", "lots"], "--memory-limit")] {
            let r = try runProcess(try petganBinary(), ["bench", "hierarchical"] + args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, r.stderr)
            XCTAssertTrue(lines.first?.hasPrefix("petgan: error: ") == true && lines.first?.contains(option) == true, "\(args): \(r.stderr)")
        }
    }

    /// Benchmarks/README.md lists every key of a row (scripts read them by key).
    func testEveryRowKeyIsDocumented() throws {
        let readme = try String(contentsOf: RepositoryPaths.root.appendingPathComponent("Benchmarks/README.md"), encoding: .utf8)
        let line = try XCTUnwrap(readme.split(separator: "\n").first { $0.hasPrefix("| `petgan bench hierarchical") }, "a bench hierarchical row in the table")
        for k in HierarchicalRow.keys { XCTAssertTrue(line.contains("`\(k)`"), "key \(k) documented in Benchmarks/README.md") }
    }
}
