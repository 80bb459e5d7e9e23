import Foundation
import XCTest
import PETTestFixtures
import PETTestSupport

/// `petgan bench conv` / `bench train`: the figures they print are what this run measured (with the
/// work training does), and peer figures come only from the files given.
final class BenchCommandTests: XCTestCase {

    func rows(_ path: String) throws -> [[String: Any]] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [[String: Any]])
    }

    /// Before: the benchmark's weights never changed, so the FFT path's spectra cache (keyed by the
    /// weight values) made one weight transform for the whole row. Now every repetition has new
    /// weights: the probe, the forward and the f+b forward each transform (the f+b input gradient
    /// reuses its forward's spectra), as a training step does.
    func testFFTRowsPayTheirWeightTransformsEveryRepetition() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir("benchconv")
        let (s, out, err) = try Fixtures.run(exe, ["bench", "conv", "--only", "K3", "--paths", "fft", "--reps", "1", "--warmup", "0",
                                                   "--profile", "--threads", "2", "--json", dir + "/conv.json"])
        XCTAssertEqual(s, 0, err)
        XCTAssertTrue(out.contains("weights: new each repetition"), out)
        XCTAssertTrue(out.contains("machine: ") && out.contains("ISA: "), out)
        let phases = try XCTUnwrap(out.split(separator: "\n").first { $0.contains("phases (") }, out)
        let m = try XCTUnwrap(phases.range(of: #"fft-weights [0-9.]+ ×([0-9]+)"#, options: .regularExpression), String(phases))
        let calls = Int(phases[m].split(separator: "×").last!)
        XCTAssertEqual(calls, 3, "probe + 1 forward + 1 forward-backward, each with new weights: \(phases)")
        let k3 = try XCTUnwrap(try rows(dir + "/conv.json").first { $0["name"] as? String == "K3" })
        XCTAssertEqual(k3["path"] as? String, "fft")
        XCTAssertEqual(k3["weights"] as? String, "new each repetition")
    }

    /// No built-in PyTorch figures: without --peer only our rows; with a torch_peer.py models result
    /// (NaN FLOP count as Python writes it) its step time, RSS and the time ratio; a file of another
    /// suite is one clear error naming it.
    func testBenchTrainPrintsPeerFiguresOnlyFromPeerFiles() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir("benchtrain")
        let (s1, o1, e1) = try Fixtures.run(exe, ["bench", "train", "--quick", "--only", "dcgan3d", "--threads", "2"])
        XCTAssertEqual(s1, 0, e1)
        XCTAssertTrue(o1.contains("dcgan3d_32_b4"), o1)
        XCTAssertFalse(o1.lowercased().contains("torch"), "no PyTorch figure without --peer:\n\(o1)")

        let peer = dir + "/torch_models_dcgan3d_32_b4.json"
        try """
        {"suite": "models", "args": {"threads": 2}, "versions": {"torch": "2.13.0+cpu", "cpu_capability": "AVX512"},
         "results": [{"name": "dcgan3d_32_b4", "size": 32, "batch": 4, "step_gflop": NaN,
                      "step": {"median_ms": 1234.5, "min_ms": 1200.0, "reps": 5, "samples_ms": [1234.5]},
                      "gflops": NaN, "ru_maxrss_mib_so_far": 321.0}],
         "wall_s": 10.0, "ru_maxrss_mib": 432.0}
        """.write(toFile: peer, atomically: true, encoding: .utf8)
        let (s2, o2, e2) = try Fixtures.run(exe, ["bench", "train", "--quick", "--only", "dcgan3d", "--threads", "2",
                                                  "--peer", peer, "--json", dir + "/train.json"])
        XCTAssertEqual(s2, 0, e2)
        XCTAssertTrue(o2.contains("time ratio") && o2.contains("1234.5") && o2.contains("PyTorch 2.13.0+cpu"), o2)
        let row = try XCTUnwrap(try rows(dir + "/train.json").first)
        let ms = try XCTUnwrap(row["ms_step"] as? Double)
        XCTAssertEqual(row["peer_ms_step"] as? Double, 1234.5)
        XCTAssertEqual(row["peer_peak_rss_mb"] as? Double, 432)   // one case per file: the process's own peak
        XCTAssertEqual(try XCTUnwrap(row["time_ratio"] as? Double), ms / 1234.5, accuracy: 0.001)

        let layers = dir + "/layers.json"
        try #"{"suite": "layers", "results": []}"#.write(toFile: layers, atomically: true, encoding: .utf8)
        let (s3, _, e3) = try Fixtures.run(exe, ["bench", "train", "--quick", "--only", "dcgan3d", "--peer", layers])
        XCTAssertEqual(s3, 1)
        XCTAssertTrue(e3.contains("petgan: error: \(layers)") && e3.contains("--suite models"), e3)
    }
}
