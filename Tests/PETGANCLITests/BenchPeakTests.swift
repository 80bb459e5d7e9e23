import Foundation
import XCTest
import PETTestFixtures
import PETTestSupport

/// `petgan bench peak` and the "% of peak" of `bench conv` / `bench train` rows: the figures are
/// what this run measured (no speed threshold here: speed targets live in the benchmarks).
final class BenchPeakTests: XCTestCase {
    func rows(_ path: String) throws -> [[String: Any]] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [[String: Any]])
    }

    /// The CPU's feature flags as the kernel reports them.
    func cpuFlags() throws -> Set<String> {
        let info = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let line = try XCTUnwrap(info.split(separator: "\n").first { $0.hasPrefix("flags") })
        return Set(line.split(separator: ":", maxSplits: 1)[1].split(separator: " ").map(String.init))
    }

    func assertPositive(_ v: Any?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let g = v as? Double
        XCTAssertTrue(g.map { $0.isFinite && $0 > 0 } ?? false, "\(what): \(String(describing: v))", file: file, line: line)
    }

    /// One row: a finite positive fp32 figure for every ISA path /proc/cpuinfo has and null for the
    /// others; bf16 positive where the CPU has avx512_bf16, otherwise null with the note saying so.
    func testPeakRowMatchesTheCPUsFeatures() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir("benchpeak")
        let (s, out, err) = try Fixtures.run(exe, ["bench", "peak", "--threads", "2", "--json", dir + "/peak.json"])
        XCTAssertEqual(s, 0, err)
        XCTAssertTrue(out.contains("machine: ") && out.contains("ISA: "), out)
        let all = try rows(dir + "/peak.json")
        XCTAssertEqual(all.count, 1)
        let row = all[0]
        XCTAssertEqual(row["threads"] as? Int, 2)
        let flags = try cpuFlags()
        let hasAVX512 = flags.contains("avx512f"), hasAVX2 = flags.contains("avx2") && flags.contains("fma")
        if hasAVX512 { assertPositive(row["fp32_avx512_gflops"], "avx512") } else { XCTAssertTrue(row["fp32_avx512_gflops"] is NSNull, "\(row)") }
        if hasAVX2 { assertPositive(row["fp32_avx2_gflops"], "avx2") } else { XCTAssertTrue(row["fp32_avx2_gflops"] is NSNull, "\(row)") }
        // The implicit-GEMM micro-kernel rows follow the same features.
        if hasAVX512 { assertPositive(row["tile_avx512_gflops"], "tile avx512") } else { XCTAssertTrue(row["tile_avx512_gflops"] is NSNull, "\(row)") }
        if hasAVX2 { assertPositive(row["tile_avx2_gflops"], "tile avx2") } else { XCTAssertTrue(row["tile_avx2_gflops"] is NSNull, "\(row)") }
        if hasAVX512 && flags.contains("avx512_bf16") { assertPositive(row["tile_bf16_gflops"], "tile bf16") } else { XCTAssertTrue(row["tile_bf16_gflops"] is NSNull, "\(row)") }
        if hasAVX512 || hasAVX2 {
            assertPositive(row["fp32_gflops"], "fp32 peak")
            // The best ISA's figure is the peak the other benchmarks divide by.
            XCTAssertEqual(row["fp32_gflops"] as? Double, row[hasAVX512 ? "fp32_avx512_gflops" : "fp32_avx2_gflops"] as? Double)
            XCTAssertTrue((row["fp32_isa"] as? String)?.hasPrefix(hasAVX512 ? "avx512f" : "avx2") == true, "\(row)")
        }
        if hasAVX512 && flags.contains("avx512_bf16") {
            assertPositive(row["bf16_gflops"], "bf16")
            XCTAssertTrue(row["bf16_note"] is NSNull, "\(row)")
        } else {
            XCTAssertTrue(row["bf16_gflops"] is NSNull, "no avx512_bf16 in /proc/cpuinfo: \(row)")
            XCTAssertEqual(row["bf16_note"] as? String, "not available on this CPU")
            XCTAssertTrue(out.contains("not available on this CPU"), out)
        }
    }

    /// Conv and train rows carry the peak measured at the start of their run and their GF/s over it
    /// (f+b for a layer, the one figure for sgemm, the step's GF/s for training). On a CPU the probe
    /// has no kernel for, both are absent (checked, not skipped).
    func testConvAndTrainRowsReportTheirFractionOfPeak() throws {
        let flags = try cpuFlags()
        let probed = flags.contains("avx2") || flags.contains("avx512f")
        let exe = try petganBinary()
        let dir = try makeTempDir("benchpeakconv")
        let (s, out, err) = try Fixtures.run(exe, ["bench", "conv", "--only", "D5", "--paths", "im2col", "--reps", "1", "--warmup", "0",
                                                   "--threads", "2", "--json", dir + "/conv.json"])
        XCTAssertEqual(s, 0, err)
        let conv = try rows(dir + "/conv.json")
        XCTAssertEqual(conv.map { $0["name"] as? String }, ["SGEMM", "D5"])
        guard probed else {
            for row in conv { XCTAssertTrue(row["peak_gflops"] == nil && row["fraction_of_peak"] == nil, "no peak, no fraction: \(row)") }
            return
        }
        XCTAssertTrue(out.contains("fp32 FMA peak: ") && out.contains("% peak"), out)
        for row in conv {
            let peak = try XCTUnwrap(row["peak_gflops"] as? Double, "\(row)")
            assertPositive(peak, "peak")
            let gflops = try XCTUnwrap((row["gflops_forward_backward"] ?? row["gflops_forward"]) as? Double, "\(row)")
            XCTAssertEqual(try XCTUnwrap(row["fraction_of_peak"] as? Double, "\(row)"), gflops / peak, accuracy: 0.0015, "\(row)")
        }
        XCTAssertEqual(conv[0]["peak_gflops"] as? Double, conv[1]["peak_gflops"] as? Double, "one peak per run")

        let (s2, _, e2) = try Fixtures.run(exe, ["bench", "train", "--quick", "--only", "dcgan3d", "--reps", "1", "--warmup", "0",
                                                 "--threads", "2", "--json", dir + "/train.json"])
        XCTAssertEqual(s2, 0, e2)
        let train = try XCTUnwrap(try rows(dir + "/train.json").first)
        let peak = try XCTUnwrap(train["peak_gflops"] as? Double, "\(train)")
        assertPositive(peak, "peak")
        XCTAssertEqual(try XCTUnwrap(train["fraction_of_peak"] as? Double), try XCTUnwrap(train["gflops"] as? Double) / peak, accuracy: 0.0015)
    }

    func testBadThreadsIsOneErrorLine() throws {
        let r = try runProcess(try petganBinary(), ["bench", "peak", "--threads", "0"])
        XCTAssertEqual(r.status, 64, r.stderr)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr)
        XCTAssertTrue(lines.first?.hasPrefix("petgan: error:") == true && lines.first?.contains("--threads") == true, r.stderr)
    }
}
