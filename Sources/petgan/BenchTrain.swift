import ArgumentParser
import Foundation
import PETBenchmarks
import PETTensor

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training steps with torch_peer.py's model shapes: 3D DCGAN 64³ b4, WGAN-GP critic 64³ b4, 2D paper model 128² b64.")

    @Flag(help: "A smoke run (32³ 3D models, 2D batch 8, fewer repetitions).")
    var quick = false
    @Option(help: "Cases to run (comma-separated name prefixes: dcgan3d, wgangp3d, dcgan2d); default all.")
    var only: String?
    @Option(help: "Timed repetitions per case (median reported).")
    var reps: Int = 3
    @Option(help: "Untimed warm-up runs per case.")
    var warmup: Int = 1
    @Option(help: "Worker threads for our loops and OpenBLAS (default: all cores).")
    var threads: Int?
    @Option(help: "Write one JSON object per row to this file.")
    var json: String?

    func validate() throws {
        guard reps >= 1 else { throw ValidationError("--reps must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
    }

    func run() throws {
        try runReportingErrors {
            if let t = threads { Parallel.setThreads(t) }
            let timing = quick ? Timing(warmup: 1, reps: 2) : Timing(warmup: warmup, reps: reps)
            let wanted = only.map { $0.split(separator: ",").map(String.init) }
            print("PETGAN \(PETGANVersion.string) training-step benchmark: \(Parallel.threads) threads, median of \(timing.reps) after \(timing.warmup) warm-up")
            print("name".padding(toLength: 16, withPad: " ", startingAt: 0) + "    ms/step    GFLOP    GFLOP/s   RSS MB")
            var rows: [BenchRow] = []
            for c in TrainBenchmark.cases(quick: quick) where wanted.map({ w in w.contains { c.name.hasPrefix($0) } }) ?? true {
                let r = try TrainBenchmark.run(c, timing: timing)
                rows.append(r)
                print(c.name.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: " %10.1f %8.1f %10.1f %8.0f", r["ms_step"] as! Double, r["step_gflop"] as! Double,
                             r["gflops"] as! Double, r["peak_rss_mb"] as! Double))
            }
            print("PyTorch 2.13 CPU, 2 threads (issue 6): dcgan3d_64_b4 ≈ 2730 ms (peak RSS ≈ 1.1 GB), wgangp3d_64_b4 ≈ 2930 ms, dcgan2d_b64 ≈ 9630 ms")
            if let j = json { try writeJSONRows(rows, to: j); print("wrote \(j)") }
        }
    }
}
