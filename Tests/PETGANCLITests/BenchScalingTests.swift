// `petgan bench scaling` with tiny settings: every kind of row, finite positive figures, and the
// keys Benchmarks/README.md documents. It runs Open MPI's mpirun (scripts/setup.sh installs it); a
// missing mpirun fails the test.
import Foundation
import PETBenchmarks
import PETCohort
import PETTestFixtures
import PETTestSupport
import XCTest

final class BenchScalingTests: XCTestCase {
    func requireMPIRun() throws {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin"]
        guard path.contains(where: { FileManager.default.isExecutableFile(atPath: $0 + "/mpirun") }) else {
            throw TestSupportError("mpirun not found: Open MPI (openmpi-bin, libopenmpi-dev) is installed by scripts/setup.sh")
        }
    }

    func positive(_ row: [String: Any], _ key: String, file: StaticString = #filePath, line: UInt = #line) -> Double {
        let v = (row[key] as? NSNumber)?.doubleValue ?? .nan
        XCTAssertTrue(v.isFinite && v > 0, "\(key) = \(String(describing: row[key])) in \(row)", file: file, line: line)
        return v
    }

    func testTinyScalingRunGivesEveryRowWithFinitePositiveFigures() throws {
        try requireMPIRun()
        try ensureTemplates(required: TemplateFiles.all)
        let dir = try makeTempDir("bench-scaling")
        let r = try runProcess(try petganBinary(), [
            "bench", "scaling", "--grid", "24x28x24", "--voxel-size", "8", "--subjects", "4", "--batch", "4", "--steps", "2",
            "--set", "g_channels=16,8", "--set", "d_channels=8,16", "--set", "sample_count=2",
            "--max-bytes", "64KB", "--compute-seconds", "1.5", "--strong-batch", "8",
            "--templates", RepositoryPaths.templates, "--work-dir", dir + "/work", "--json", dir + "/scaling.json"])
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/scaling.json"))) as? [[String: Any]])
        func of(_ kind: String) -> [[String: Any]] { rows.filter { $0["kind"] as? String == kind } }

        // (a) the two layouts, efficiency relative to 1 × 2.
        let tp = of("throughput")
        XCTAssertEqual(tp.map { $0["name"] as? String }, ["1x2", "2x1"])
        for row in tp {
            let s = positive(row, "seconds_per_step"), sps = positive(row, "steps_per_second")
            XCTAssertEqual(sps, 1 / s, accuracy: 0.01 * sps + 0.001)
            _ = positive(row, "efficiency")
        }
        XCTAssertEqual((tp[0]["efficiency"] as? NSNumber)?.doubleValue, 1)
        let e2 = positive(tp[1], "efficiency"), s1 = positive(tp[0], "seconds_per_step"), s2 = positive(tp[1], "seconds_per_step")
        XCTAssertEqual(e2, s1 / s2, accuracy: 0.002)

        // (b) 8 B … 64 KB (×8 steps, the maximum included) and the fit.
        let ar = of("allreduce")
        XCTAssertEqual(ar.map { ($0["bytes"] as? NSNumber)?.intValue ?? -1 }, [8, 64, 512, 4096, 32768, 65536])
        for row in ar { _ = positive(row, "seconds"); _ = positive(row, "gb_per_second") }
        let fit = try XCTUnwrap(of("allreduce_fit").first)
        _ = positive(fit, "gb_per_second"); _ = positive(fit, "latency_seconds")

        // (c) gradient bytes from the built models' parameter counts.
        let gb = of("gradient_bytes")
        XCTAssertEqual(Set(gb.compactMap { $0["name"] as? String }),
                       ["dcgan2d_paper_128x128x3", "dcgan3d_64", "dcgan3d_4mm_48x56x48", "dcgan3d_2mm_96x112x96", "dcgan3d_1mm_192x224x192"])
        for row in gb {
            let g = positive(row, "generator_parameters"), d = positive(row, "discriminator_parameters"), k = positive(row, "critic_steps")
            XCTAssertEqual(positive(row, "bytes"), 4 * (g + k * d), "\(row)")
            _ = positive(row, "buckets")
        }
        // The 4 mm defaults: the parameter counts docs/SCALING.md quotes from a 2-rank run's log.
        let fourMM = try XCTUnwrap(gb.first { $0["name"] as? String == "dcgan3d_4mm_48x56x48" })
        XCTAssertEqual((fourMM["generator_parameters"] as? NSNumber)?.intValue, 1_777_888)
        XCTAssertEqual((fourMM["discriminator_parameters"] as? NSNumber)?.intValue, 181_184)

        // (d) weak scaling at 2, 8, 32, 128 nodes × 10 and 100 Gbit/s; strong scaling 1 … 8 ranks.
        let weak = of("weak_scaling")
        XCTAssertEqual(Set(weak.compactMap { ($0["nodes"] as? NSNumber)?.intValue }), [2, 8, 32, 128])
        XCTAssertEqual(Set(weak.compactMap { ($0["gbit_per_second"] as? NSNumber)?.doubleValue }), [10, 100])
        for row in weak {
            let e = positive(row, "efficiency"), c = positive(row, "compute_seconds"), t = positive(row, "allreduce_seconds")
            XCTAssertEqual(c, 1.5)
            XCTAssertEqual(e, c / (c + t), accuracy: 1e-9)
            XCTAssertEqual((row["per_rank_batch"] as? NSNumber)?.doubleValue, 4)
        }
        let strong = of("strong_scaling")
        XCTAssertEqual(strong.count, 2 * 4, "1, 2, 4, 8 ranks at two bandwidths")
        XCTAssertEqual(Set(strong.compactMap { ($0["per_rank_batch"] as? NSNumber)?.doubleValue }), [8, 4, 2, 1])
        for row in strong where (row["nodes"] as? NSNumber)?.intValue ?? 0 > 1 {
            let e = positive(row, "efficiency")
            XCTAssertLessThan(e, 1)
        }
        XCTAssertTrue(r.stdout.contains("weak scaling at 32 nodes, 2 mm DCGAN, per-rank batch 4, 100 Gbit/s: efficiency"), r.stdout)
        XCTAssertTrue(r.stdout.contains("where it stops"), r.stdout)
    }

    func testMissingLauncherIsOneErrorLine() throws {
        let r = try runProcess(try petganBinary(), ["bench", "scaling", "--steps", "1"], environment: ["PETGAN_MPIRUN": "/nonexistent/mpirun"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("petgan: error: ") && r.stderr.contains("PETGAN_MPIRUN") && r.stderr.contains("mpirun"), r.stderr)
        let probe = try runProcess(try petganBinary(), ["bench", "allreduce-probe"])
        XCTAssertEqual(probe.status, 1, probe.stderr)
        XCTAssertTrue(probe.stderr.contains("petgan: error: ") && probe.stderr.contains("mpirun -np 2"), probe.stderr)
    }

    /// Benchmarks/README.md lists every key of a scaling row (scripts read them by key).
    func testEveryRowKeyIsDocumented() throws {
        var row = ScalingRow(kind: .weakScaling, name: "x")
        row.ranks = 1; row.threads = 1; row.secondsPerStep = 1; row.stepsPerSecond = 1; row.efficiency = 1; row.bytes = 1; row.seconds = 1
        row.gbPerSecond = 1; row.latencySeconds = 1; row.generatorParameters = 1; row.discriminatorParameters = 1; row.criticSteps = 1
        row.buckets = 1; row.nodes = 1; row.gbitPerSecond = 1; row.perRankBatch = 1; row.globalBatch = 1; row.computeSeconds = 1; row.allreduceSeconds = 1
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: benchJSONEncoder().encode(row)) as? [String: Any])
        XCTAssertEqual(obj.count, 21)
        XCTAssertEqual(try JSONDecoder().decode(ScalingRow.self, from: benchJSONEncoder().encode(row)), row)
        let readme = try String(contentsOf: RepositoryPaths.root.appendingPathComponent("Benchmarks/README.md"), encoding: .utf8)
        let line = try XCTUnwrap(readme.split(separator: "\n").first { $0.hasPrefix("| `petgan bench scaling") }, "a bench scaling row in the table")
        for k in obj.keys { XCTAssertTrue(line.contains("`\(k)`"), "key \(k) documented in Benchmarks/README.md") }
    }
}
