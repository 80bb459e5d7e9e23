import Foundation
import XCTest
import PETBenchmarks

/// The `--json` files of `petgan bench …` keep the keys scripts and docs read (they were
/// `[String: Any]` rows before the Codable row structs): every key, and null where a value is absent.
final class BenchRowKeysTests: XCTestCase {
    func keys<T: Encodable>(_ row: T) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: benchJSONEncoder().encode(row)) as? [String: Any])
    }

    func testRowsKeepTheirKeys() throws {
        let conv = ConvRow(name: "G3", op: "conv_transpose3d", path: "im2col", batch: 4, input: [256, 8, 8, 8], output: [128, 16, 16, 16],
                           msForward: 1, msForwardBackward: 3, weights: "new each repetition", gflopsForward: 2, gflopsForwardBackward: 2, peakRSSMB: 100)
        XCTAssertEqual(Set(try keys(conv).keys), ["name", "op", "path", "batch", "in", "out", "ms_forward", "ms_forward_backward", "weights",
                                                   "gflops_forward", "gflops_forward_backward", "peak_rss_mb"])
        var untiled = MemoryRow(grid: [64, 64, 64], tiled: false, budgetMB: nil, channels: [256, 128, 64, 32])
        untiled.seconds = 1
        let u = try keys(untiled)
        XCTAssertEqual(Set(u.keys), ["grid", "tiled", "budget_mb", "channels", "reps", "seconds", "peak_rss_mb", "counted_peak_mb", "checksum", "abs_checksum"])
        XCTAssertTrue(u["budget_mb"] is NSNull, "an untiled case's budget is null, as before")
        var train = TrainRow(name: "dcgan3d_64_b4", msStep: 10, gflops: 1, stepGflop: 1, batch: 4, threads: 2, peakRSSMB: 300)
        XCTAssertEqual(Set(try keys(train).keys), ["name", "ms_step", "gflops", "step_gflop", "batch", "threads", "peak_rss_mb"])
        train.peerFile = "p.json"; train.peerMsStep = 9; train.peerPeakRSSMB = 400; train.timeRatio = 1.1; train.machine = "cpu"
        XCTAssertEqual(Set(try keys(train).keys), ["name", "ms_step", "gflops", "step_gflop", "batch", "threads", "peak_rss_mb",
                                                   "peer_file", "peer_ms_step", "peer_peak_rss_mb", "time_ratio", "machine"])
        let tm = TrainMemoryRow(grid: [96, 112, 96], batch: 4, model: "dcgan3d", recompute: false, budgetMB: nil, gBlocks: [], dBlocks: [1],
                                estimatedMB: 1, estimatedWithoutMB: 2, seconds: 1, firstStepSeconds: 2, steps: 2, peakRSSMB: 3, countedPeakMB: 4,
                                lossD: 0.5, lossG: 0.7, checksum: 1)
        XCTAssertEqual(Set(try keys(tm).keys), ["kind", "grid", "batch", "model", "recompute", "budget_mb", "g_blocks", "d_blocks", "estimated_mb",
                                                "estimated_without_mb", "seconds", "first_step_seconds", "steps", "peak_rss_mb", "counted_peak_mb",
                                                "loss_d", "loss_g", "checksum"])
        // The sweep parent reads a child's ROW line back.
        let back = try JSONDecoder().decode(TrainMemoryRow.self, from: benchJSONEncoder(pretty: false).encode(tm))
        XCTAssertNil(back.budgetMB)
        XCTAssertEqual(back.dBlocks, [1])
    }
}
