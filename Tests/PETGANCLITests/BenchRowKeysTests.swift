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
        // With the run's fp32 peak: two keys more, the fraction from the f+b figure (sgemm: its one figure).
        var withPeak = conv
        withPeak.setPeak((gflops: 4, isa: "avx512f"))
        let wp = try keys(withPeak)
        XCTAssertEqual(Set(wp.keys), Set(try keys(conv).keys).union(["peak_gflops", "fraction_of_peak"]))
        XCTAssertEqual(wp["fraction_of_peak"] as? Double, 0.5)
        var sgemm = ConvRow(name: "SGEMM", op: "sgemm", path: "openblas", batch: 1, input: [8, 8], output: [8, 8], msForward: 1, gflopsForward: 3, peakRSSMB: 1)
        sgemm.setPeak((gflops: 4, isa: "avx2+fma"))
        XCTAssertEqual(sgemm.fractionOfPeak, 0.75)
        withPeak.setPeak(nil)
        XCTAssertEqual(Set(try keys(withPeak).keys), Set(try keys(conv).keys), "no peak measured: no peak keys")
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
        train.peakGflops = 200; train.fractionOfPeak = 0.005
        XCTAssertEqual(Set(try keys(train).keys), ["name", "ms_step", "gflops", "step_gflop", "batch", "threads", "peak_rss_mb",
                                                   "peer_file", "peer_ms_step", "peer_peak_rss_mb", "time_ratio", "machine",
                                                   "peak_gflops", "fraction_of_peak"])
        // bench peak's row: every figure's key, null where the CPU lacks the instructions.
        var peak = PeakRow(cpu: "cpu", threads: 2, reps: 3, secondsPerRun: 0.2)
        peak.fp32GFlops = 100; peak.fp32ISA = "avx2+fma (FMA on ymm)"; peak.fp32AVX2GFlops = 100; peak.bf16Note = "not available on this CPU"
        let p = try keys(peak)
        XCTAssertEqual(Set(p.keys), ["cpu", "threads", "reps", "seconds_per_run", "fp32_gflops", "fp32_isa", "fp32_avx512_gflops", "fp32_avx2_gflops",
                                     "bf16_gflops", "bf16_isa", "bf16_note", "tile_avx512_gflops", "tile_avx2_gflops", "tile_bf16_gflops"])
        XCTAssertTrue(p["fp32_avx512_gflops"] is NSNull && p["bf16_gflops"] is NSNull && p["bf16_isa"] is NSNull, "\(p)")
        XCTAssertTrue(p["tile_avx512_gflops"] is NSNull && p["tile_avx2_gflops"] is NSNull && p["tile_bf16_gflops"] is NSNull, "\(p)")
        // bf16 rows: the precision and the step's time shares (keys only when set, as the peer keys).
        var bf16Conv = conv
        bf16Conv.precision = .bf16
        XCTAssertEqual(try keys(bf16Conv)["precision"] as? String, "bf16")
        var bf16Train = TrainRow(name: "dcgan3d_64_b4", msStep: 10, gflops: 1, stepGflop: 1, batch: 4, threads: 2, peakRSSMB: 300)
        bf16Train.precision = .bf16; bf16Train.shareBF16Tiles = 0.6; bf16Train.shareBF16Emulated = 0.1
        bf16Train.shareFP32Convolutions = 0; bf16Train.shareOutsideConvolutions = 0.3
        XCTAssertEqual(Set(try keys(bf16Train).keys), ["name", "ms_step", "gflops", "step_gflop", "batch", "threads", "peak_rss_mb", "precision",
                                                       "share_bf16_tiles", "share_bf16_emulated", "share_fp32_convolutions", "share_outside_convolutions"])
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
