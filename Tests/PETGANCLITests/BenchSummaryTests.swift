import Foundation
import XCTest
import PETBenchmarks
import PETTestFixtures
import PETTestSupport

/// `petgan bench summary`: the one table of a run-with-torch.sh sitting, computed from the
/// sitting's files only (the layer set's sum, the ratios, the targets), and one clear error for a
/// folder or file that is not a sitting's.
final class BenchSummaryTests: XCTestCase {
    /// A sitting where every layer of the set takes 10 ms in fp32 (12 in PyTorch) and 5 ms in bf16
    /// (6 in PyTorch's autocast), with a forced-path row that must not be read.
    func writeSitting(_ dir: String, withBigK: Bool) throws {
        var conv: [ConvRow] = [], bf16: [ConvRow] = []
        var torch: [String] = [], torchBF16: [String] = []
        for name in SittingSummary.layerSet + ["K3"] {
            var a = ConvRow(name: name, op: "conv3d", path: "auto(implicit-gemm)", batch: 4, input: [1], output: [1],
                            msForward: 3, msForwardBackward: 10, gflopsForward: .nan, gflopsForwardBackward: 90, peakRSSMB: 100)
            a.setPeak((gflops: 100, isa: "avx512f"))
            conv.append(a)
            conv.append(ConvRow(name: name, op: "conv3d", path: "im2col", batch: 4, input: [1], output: [1],
                                msForward: 999, msForwardBackward: 999, gflopsForward: 1, gflopsForwardBackward: 1, peakRSSMB: 100))
            bf16.append(ConvRow(name: name, op: "conv3d", path: "auto:bf16-tiles", batch: 4, input: [1], output: [1],
                                msForward: 2, msForwardBackward: 5, gflopsForward: 1, gflopsForwardBackward: 1, peakRSSMB: 100, precision: .bf16))
            let row = #"{"name": "\#(name)", "op": "conv3d", "path": "torch-onednn", "batch": 4, "ms_forward": 4.0, "ms_forward_backward": %@, "gflops_forward": NaN}"#
            if name == "K3" { if withBigK { try ("[" + row.replacingOccurrences(of: "%@", with: "15.0") + "]").write(toFile: dir + "/torch_bigk_rows.json", atomically: true, encoding: .utf8) } }
            else { torch.append(row.replacingOccurrences(of: "%@", with: "12.0")); torchBF16.append(row.replacingOccurrences(of: "%@", with: "6.0")) }
        }
        try writeJSONRows(conv, to: dir + "/conv.json")
        try writeJSONRows(bf16, to: dir + "/conv_bf16.json")
        try ("[" + torch.joined(separator: ",") + "]").write(toFile: dir + "/torch_layers_rows.json", atomically: true, encoding: .utf8)
        try ("[" + torchBF16.joined(separator: ",") + "]").write(toFile: dir + "/torch_layers_bf16_rows.json", atomically: true, encoding: .utf8)
        var t32 = TrainRow(name: "dcgan3d_64_b4", msStep: 800, gflops: 1, stepGflop: 1, batch: 4, threads: 2, peakRSSMB: 840)
        t32.peerMsStep = 1000; t32.timeRatio = 0.8
        var t16 = TrainRow(name: "dcgan3d_64_b4", msStep: 600, gflops: 1, stepGflop: 1, batch: 4, threads: 2, peakRSSMB: 900)
        t16.peerMsStep = 500; t16.timeRatio = 1.2; t16.shareBF16Tiles = 0.7
        try writeJSONRows([t32], to: dir + "/train.json")
        try writeJSONRows([t16], to: dir + "/train_bf16.json")
        try "cpu: test CPU\nisa: avx2\n".write(toFile: dir + "/machine.txt", atomically: true, encoding: .utf8)
    }

    func testTheTableIsComputedFromTheSittingsFiles() throws {
        let dir = try makeTempDir("benchsummary")
        try writeSitting(dir, withBigK: false)
        let (s, out, err) = try Fixtures.run(try petganBinary(), ["bench", "summary", "--dir", dir, "--out", dir + "/summary.md"])
        XCTAssertEqual(s, 0, err)
        let md = try String(contentsOfFile: dir + "/summary.md", encoding: .utf8)
        XCTAssertTrue(out.hasPrefix(md), out)
        // Ten layers: 100 ms against PyTorch's 120 (1.20×), bf16 50 against 60 (1.20×), 2.00× own fp32.
        XCTAssertTrue(md.contains("| layer set G1–G5, D1–D5 | 100.0 | | 120.0 | 1.20× | 50.0 | | 60.0 | 1.20× | 2.00× |"), md)
        XCTAssertTrue(md.contains("| D2 conv3d | 10.0 (implicit-gemm) | 90% | 12.0 | 1.20× | 5.0 (bf16-tiles) |"), md)
        XCTAssertFalse(md.contains("999"), "a forced path's row is not the automatic one:\n\(md)")
        XCTAssertTrue(md.contains("| dcgan3d_64_b4 | 800.0 | – | 840 | 1000.0 | 0.80× | 600.0 | – | 30% | 900 | 500.0 | 1.20× | 0.75× |"), md)
        // Targets: the layer set's 1.2× is met, 90% of peak is, bf16 at 0.75× own fp32 is not, RSS 900 > 846 is not.
        XCTAssertTrue(md.contains("| fp32: whole layer set ≥ 1.2× PyTorch's speed | 1.200× | yes |"), md)
        XCTAssertTrue(md.contains("| fp32: big layers (G2–G4, D2–D4) f+b ≥ 85% of the FMA peak | G2 90%, G3 90%, G4 90%, D2 90%, D3 90%, D4 90% | yes |"), md)
        XCTAssertTrue(md.contains("| bf16: dcgan3d_64_b4 step ≤ 0.65× its own fp32 time | 0.750× | no |"), md)
        XCTAssertTrue(md.contains("| peak RSS of dcgan3d_64_b4 ≤ 846 MB (before issue 16) | fp32 840, bf16 900 MB | no |"), md)
        XCTAssertTrue(md.contains("| fp32: wgangp3d_64_b4 step ≤ 0.80× PyTorch's time | – | not measured |"), md)
        // K3 without its bigk peer: not measured, and the absent files are named.
        XCTAssertTrue(md.contains("| fp32: K3 ≥ 1.0× PyTorch's speed | – | not measured |"), md)
        XCTAssertTrue(md.contains("Not in this sitting's folder: peak.json, torch_bigk_rows.json."), md)
    }

    func testAFolderOrFileThatIsNotASittingsIsOneError() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir("benchsummarybad")
        let (s1, _, e1) = try Fixtures.run(exe, ["bench", "summary", "--dir", dir + "/absent"])
        XCTAssertNotEqual(s1, 0)
        XCTAssertEqual(e1, "petgan: error: \(dir)/absent: no such folder (give the OUT folder of Benchmarks/run-with-torch.sh)\n")
        let (s2, _, e2) = try Fixtures.run(exe, ["bench", "summary", "--dir", dir])
        XCTAssertNotEqual(s2, 0)
        XCTAssertTrue(e2.hasPrefix("petgan: error: \(dir): no conv.json"), e2)
        try writeSitting(dir, withBigK: true)
        try "{\"rows\": 1}".write(toFile: dir + "/train.json", atomically: true, encoding: .utf8)
        let (s3, _, e3) = try Fixtures.run(exe, ["bench", "summary", "--dir", dir])
        XCTAssertNotEqual(s3, 0)
        XCTAssertTrue(e3.hasPrefix("petgan: error: \(dir)/train.json: not a JSON array of the rows"), e3)
        XCTAssertEqual(e3.split(separator: "\n").count, 1, e3)
    }
}
