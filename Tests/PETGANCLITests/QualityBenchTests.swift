import Foundation
import XCTest
import PETBenchmarks
import PETCohort
import PETMetrics
import PETTestFixtures
import PETTestSupport

/// Learning curves: `petgan bench quality` (train for a budget, evaluate on a held-out split),
/// `--compare`, and `petgan train --eval-every` (rows in <run>/quality.jsonl, appended on resume).
final class QualityBenchTests: XCTestCase {
    func jsonRows(_ path: String) throws -> [[String: Any]] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [[String: Any]], path)
    }

    func jsonlRows(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func number(_ row: [String: Any], _ key: String, file: StaticString = #filePath, line: UInt = #line) throws -> Double {
        let v = try XCTUnwrap(row[key] as? Double, "\(key) in \(row)", file: file, line: line)
        XCTAssertTrue(v.isFinite, "\(key) = \(v)", file: file, line: line)
        return v
    }

    func isPNG(_ path: String) -> Bool {
        guard let d = FileManager.default.contents(atPath: path), d.count > 8 else { return false }
        return Array(d.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    }

    /// Every row: the clock fields finite and increasing, the evaluation's figures present (finite
    /// numbers; null only where this version's evaluation has no such figure), every field's key.
    func checkRows(_ rows: [[String: Any]], file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertGreaterThanOrEqual(rows.count, 2, file: file, line: line)
        var previous: (step: Double, minutes: Double, cpu: Double)? = nil
        for r in rows {
            let step = try number(r, "step"), minutes = try number(r, "minutes"), cpu = try number(r, "cpu_seconds")
            XCTAssertGreaterThan(try number(r, "eval_seconds"), 0, file: file, line: line)
            XCTAssertGreaterThan(try number(r, "eval_cpu_seconds"), 0, file: file, line: line)
            XCTAssertGreaterThanOrEqual(try number(r, "samples"), 2, file: file, line: line)
            XCTAssertGreaterThanOrEqual(try number(r, "held_out"), 2, file: file, line: line)
            if let p = previous {
                XCTAssertGreaterThan(step, p.step, "steps increase: \(rows)", file: file, line: line)
                XCTAssertGreaterThan(minutes, p.minutes, "training minutes increase: \(rows)", file: file, line: line)
                XCTAssertGreaterThan(cpu, p.cpu, "training CPU seconds increase", file: file, line: line)
            }
            previous = (step, minutes, cpu)
            let acc = try number(r, "c2st_acc"), lo = try number(r, "c2st_ci_low"), hi = try number(r, "c2st_ci_high")
            XCTAssertTrue(acc >= 0 && acc <= 1 && lo <= acc && acc <= hi, "c2st \(lo) \(acc) \(hi)", file: file, line: line)
            XCTAssertGreaterThanOrEqual(try number(r, "regional_abs_err"), 0, file: file, line: line)
            _ = try number(r, "mmd")
            _ = try number(r, "fd_task")
            for f in QualityField.allCases {
                XCTAssertTrue(r.keys.contains(f.rawValue), "key \(f.rawValue) written (null when absent): \(r)", file: file, line: line)
                if let v = r[f.rawValue], !(v is NSNull) { XCTAssertTrue((v as? Double)?.isFinite == true, "\(f.rawValue) = \(v)", file: file, line: line) }
            }
        }
        XCTAssertEqual(rows.first.map { try? number($0, "step") }, 0, "the first row is the untrained model (step 0)", file: file, line: line)
    }

    func testBenchQualityOnATinyGridWritesIncreasingRowsAndACurve() throws {
        try ensureTemplates(required: TemplateFiles.all)
        let dir = try makeTempDir("benchquality")
        let r = try runProcess(try petganBinary(), [
            "bench", "quality", "--grid", "24x28x24", "--voxel-size", "8", "--subjects", "24", "--budget-steps", "3",
            "--set", "g_channels=8,4", "--set", "d_channels=4,8", "--set", "batch=2", "--set", "n_critic=1", "--threads", "2",
            "--templates", RepositoryPaths.templates, "--data-dir", dir + "/data", "--runs-dir", dir + "/runs",
            "--json", dir + "/q.json", "--plot", dir + "/q.png"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("18 training, 6 held-out volumes"), "1 in 4 per class held out:\n\(r.stdout)")
        XCTAssertTrue(r.stdout.contains("machine: "), r.stdout)
        let rows = try jsonRows(dir + "/q.json")
        try checkRows(rows)
        XCTAssertEqual(try number(rows.last!, "step"), 3, "the last row is at the step budget")
        XCTAssertEqual(rows.map { $0["samples"] as? Double }, rows.map { _ in 6 }, "as many samples per class as held out (2 × 3 classes)")
        XCTAssertTrue(isPNG(dir + "/q.png"))
        // The run's own rows are the same as the --json file's.
        let run = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: dir + "/runs").first)
        XCTAssertEqual(try jsonlRows(dir + "/runs/\(run)/quality.jsonl").count, rows.count)
    }

    func testCompareOverlaysRunsAndRejectsAMalformedFile() throws {
        let dir = try makeTempDir("benchqualitycompare")
        func row(_ step: Int, _ minutes: Double, _ acc: Double?) -> QualityRow {
            var m: [QualityField: Double] = [.mmd: 0.1 / Double(step + 1)]
            if let a = acc { m[.c2stAcc] = a; m[.c2stCILow] = a - 0.1; m[.c2stCIHigh] = min(1, a + 0.1) }
            return QualityRow(minutes: minutes, step: step, cpuSeconds: minutes * 100, evalSeconds: 2, evalCPUSeconds: 3, samples: 6, heldOut: 6,
                              report: "", metrics: m)
        }
        try writeJSONRows([row(0, 0, 1), row(10, 1, 0.9), row(20, 2, 0.8)], to: dir + "/a.json")
        // A run's quality.jsonl is read too (one object a line), nulls included.
        try QualityRows.writeJSONL([row(0, 0, 1), row(15, 1.5, nil), row(30, 3, 0.7)], to: dir + "/b.jsonl")
        let r = try runProcess(try petganBinary(), ["bench", "quality", "--compare", dir + "/a.json", dir + "/b.jsonl", "--out", dir + "/c.png", "--x", "steps"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(isPNG(dir + "/c.png"))
        let lines = r.stdout.split(separator: "\n").map(String.init)
        // Run 2's C2ST: last 0.7 at step 30, best (lowest) 0.7; run 1's: last 0.8 at 20.
        XCTAssertTrue(lines.contains { $0.contains("c2st_acc") && $0.contains("0.8") && $0.contains("20") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.contains("c2st_acc") && $0.contains("0.7") && $0.contains("30") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.contains("2 b.jsonl") }, r.stdout)

        try #"[{"step": "seven", "minutes": 1}]"#.write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        let b = try runProcess(try petganBinary(), ["bench", "quality", "--compare", dir + "/a.json", dir + "/bad.json", "--out", dir + "/d.png"])
        XCTAssertEqual(b.status, 1)
        let err = b.stderr.split(separator: "\n")
        XCTAssertEqual(err.count, 1, b.stderr)
        XCTAssertTrue(err.first?.hasPrefix("petgan: error: \(dir)/bad.json: not a file of learning-curve rows") == true, b.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/d.png"), "no figure from a failed comparison")
    }

    func testTrainEvalEveryWritesRowsAndAResumedRunAppends() throws {
        let cohort = try Fixtures.smallCohort()
        let dir = try makeTempDir("trainevalevery")
        try PhantomCohort.makeSmallCohort(at: dir + "/held.h5", count: 6, seed: 97, templatesDirectory: RepositoryPaths.templates)
        let exe = try petganBinary()
        let common = ["--eval-every", "1", "--eval-data", dir + "/held.h5", "--templates", RepositoryPaths.templates, "--threads", "2"]
        let t = try runProcess(exe, ["train", "--data", cohort, "--model", "wgangp3d", "--conditional", "--max-steps", "2", "--batch", "2",
                                     "--set", "n_critic=1", "--set", "g_channels=8,4,2", "--set", "d_channels=2,4,8", "--set", "sample_count=2",
                                     "--out", dir + "/runs"] + common)
        XCTAssertEqual(t.status, 0, t.stdout + t.stderr)
        let run = try XCTUnwrap(t.stdout.split(separator: "\n").first { $0.hasPrefix("train: run directory ") }, t.stdout)
            .replacingOccurrences(of: "train: run directory ", with: "")
        XCTAssertTrue(t.stdout.contains("train: quality at step 2: "), t.stdout)
        let first = try jsonlRows(run + "/quality.jsonl")
        try checkRows(first)
        XCTAssertEqual(first.map { $0["step"] as? Double }, [0, 1, 2])
        XCTAssertTrue(isPNG(run + "/quality_curve.png"))

        let resumed = try runProcess(exe, ["train", "--resume", run, "--max-steps", "3"] + common)
        XCTAssertEqual(resumed.status, 0, resumed.stdout + resumed.stderr)
        let all = try jsonlRows(run + "/quality.jsonl")
        try checkRows(all)
        XCTAssertEqual(all.map { $0["step"] as? Double }, [0, 1, 2, 3], "a resumed run appends")
        XCTAssertEqual(all.prefix(3).map { $0["c2st_acc"] as? Double }, first.map { $0["c2st_acc"] as? Double }, "earlier rows kept as they were")

        // Resumed without the options, the run continues its own curve (run/learning_curve.json).
        let again = try runProcess(exe, ["train", "--resume", run, "--max-steps", "4", "--threads", "2"])
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        XCTAssertTrue(again.stdout.contains("learning curve continues every 1 steps against \(dir)/held.h5"), again.stdout)
        XCTAssertEqual(try jsonlRows(run + "/quality.jsonl").map { $0["step"] as? Double }, [0, 1, 2, 3, 4], "the curve goes on")
        // Its held-out store gone: one error naming the file and what to do, nothing trained.
        try FileManager.default.moveItem(atPath: dir + "/held.h5", toPath: dir + "/held-moved.h5")
        let gone = try runProcess(exe, ["train", "--resume", run, "--max-steps", "5", "--threads", "2"])
        XCTAssertNotEqual(gone.status, 0)
        let err = gone.stderr.split(separator: "\n").filter { $0.hasPrefix("petgan: ") }
        XCTAssertEqual(err.count, 1, gone.stderr)
        XCTAssertTrue(err.first?.hasPrefix("petgan: error: \(run)/learning_curve.json: the learning curve's held-out store \(dir)/held.h5 no longer exists") == true, gone.stderr)
        XCTAssertEqual(try jsonlRows(run + "/quality.jsonl").count, 5)
    }

    func testBadLearningCurveOptionsAreOneErrorLine() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir("qualitybadoptions")
        func oneLine(_ args: [String], naming option: String, status: Int32 = 64, file: StaticString = #filePath, line: UInt = #line) throws {
            let r = try runProcess(exe, args)
            XCTAssertEqual(r.status, status, "\(args): \(r.stderr)", file: file, line: line)
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(args): \(r.stderr)", file: file, line: line)
            XCTAssertTrue(lines.first?.hasPrefix("petgan: error:") == true && lines.first?.contains(option) == true, "\(args): \(r.stderr)", file: file, line: line)
        }
        try oneLine(["bench", "quality", "--budget-minutes", "0"], naming: "--budget-minutes")
        try oneLine(["bench", "quality", "--budget-steps", "0"], naming: "--budget-steps")
        try oneLine(["bench", "quality", "--budget-steps", "3", "--budget-minutes", "2"], naming: "--budget-steps")
        try oneLine(["bench", "quality", "--eval-every-minutes", "-1"], naming: "--eval-every-minutes")
        try oneLine(["bench", "quality", "--cohort", dir + "/missing.h5"], naming: "--cohort")
        try oneLine(["bench", "quality", "--compare", dir + "/missing.json"], naming: "missing.json", status: 1)
        try oneLine(["train", "--data", dir + "/d.h5", "--eval-every", "5"], naming: "--eval-every")
        try oneLine(["train", "--data", dir + "/d.h5", "--eval-every", "0", "--eval-data", dir + "/h.h5"], naming: "--eval-every")
        try oneLine(["train", "--data", dir + "/d.h5", "--eval-every", "5", "--eval-data", dir + "/missing.h5"], naming: "--eval-data")
        // A held-out store of another grid than the training data: refused before any training step.
        let cohort = try Fixtures.smallCohort()
        try PhantomCohort.makeSmallCohort(at: dir + "/coarse.h5", count: 6, seed: 5, niftiShape: [24, 28, 24], voxelSize: 8,
                                          templatesDirectory: RepositoryPaths.templates)
        let r = try runProcess(exe, ["train", "--data", cohort, "--max-steps", "1", "--batch", "2", "--set", "g_channels=8,4,2", "--set", "d_channels=2,4,8",
                                     "--out", dir + "/runs", "--eval-every", "1", "--eval-data", dir + "/coarse.h5", "--threads", "2"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("petgan: error: ") && r.stderr.contains("coarse.h5") && r.stderr.contains("shape"), r.stderr)
        XCTAssertFalse(r.stdout.contains("steps in"), "no training before the check: \(r.stdout)")
    }

    /// Benchmarks/README.md lists every key of a quality row (scripts read them by key).
    func testEveryRowKeyIsDocumented() throws {
        let row = QualityRow(minutes: 1, step: 2, cpuSeconds: 3, evalSeconds: 4, evalCPUSeconds: 5, samples: 6, heldOut: 7, report: "r", metrics: [.mmd: 0.5])
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: benchJSONEncoder().encode(row)) as? [String: Any])
        XCTAssertEqual(obj.count, 8 + QualityField.allCases.count)
        XCTAssertTrue(obj["c2st_acc"] is NSNull && obj["fd_seeded"] is NSNull, "absent figures are null: \(obj)")
        XCTAssertEqual(obj["mmd"] as? Double, 0.5)
        let back = try JSONDecoder().decode(QualityRow.self, from: benchJSONEncoder().encode(row))
        XCTAssertEqual(back, row)
        let readme = try String(contentsOf: RepositoryPaths.root.appendingPathComponent("Benchmarks/README.md"), encoding: .utf8)
        let line = try XCTUnwrap(readme.split(separator: "\n").first { $0.hasPrefix("| `petgan bench quality") }, "a bench quality row in the table")
        for k in obj.keys { XCTAssertTrue(line.contains("`\(k)`"), "key \(k) documented in Benchmarks/README.md") }
    }
}
