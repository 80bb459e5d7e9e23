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
    @Option(help: "Result JSON of ../shared/bench/torch_peer.py --suite models --out FILE (repeatable, e.g. one per case): print PyTorch's step time and peak RSS from it and the time ratio beside ours. Without it only this run's figures are printed.")
    var peer: [String] = []

    func validate() throws {
        guard reps >= 1 else { throw ValidationError("--reps must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
    }

    func run() throws {
        try runReportingErrors {
            if let t = threads { Parallel.setThreads(t) }
            let timing = quick ? Timing(warmup: 1, reps: 2) : Timing(warmup: warmup, reps: reps)
            let wanted = only.map { $0.split(separator: ",").map(String.init) }
            // Peer figures only from files given here, read before anything is timed.
            var peerSteps: [String: (step: PeerFile.ModelStep, file: String)] = [:]
            var peerNotes: [String] = []
            for p in peer {
                let r = try PeerFile.modelSteps(p)
                for s in r.steps { peerSteps[s.name] = (s, p) }
                peerNotes.append("\(p): PyTorch \(r.torch), \(r.threads.map { "\($0) threads" } ?? "threads not recorded"), CPU capability \(r.capability)")
                if let t = r.threads, t != Parallel.threads {
                    peerNotes.append("warning: \(p) was measured with \(t) threads, this run uses \(Parallel.threads): the ratios compare unlike runs (pass --threads \(t))")
                }
            }
            print("PETGAN \(PETGANVersion.string) training-step benchmark: \(Parallel.threads) threads, median of \(timing.reps) after \(timing.warmup) warm-up")
            print("machine: \(Machine.description)")
            for n in peerNotes { print("peer \(n)") }
            var header = "name".padding(toLength: 16, withPad: " ", startingAt: 0) + "    ms/step    GFLOP    GFLOP/s   RSS MB"
            if !peer.isEmpty { header += "   torch ms  torch RSS  time ratio" }
            print(header)
            var rows: [BenchRow] = []
            var unmatched: [String] = []
            for c in TrainBenchmark.cases(quick: quick) where wanted.map({ w in w.contains { c.name.hasPrefix($0) } }) ?? true {
                var r = try TrainBenchmark.run(c, timing: timing)
                let ms = r["ms_step"] as! Double
                var line = c.name.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: " %10.1f %8.1f %10.1f %8.0f", ms, r["step_gflop"] as! Double,
                                                                                             r["gflops"] as! Double, r["peak_rss_mb"] as! Double)
                if let (ps, file) = peerSteps[c.name] {
                    // time ratio = our time / PyTorch's (below 1: PETGAN is faster).
                    line += String(format: " %10.1f", ps.ms) + lpad(ps.rssMB.map { String(format: "%.0f", $0) } ?? "-", 11) + String(format: " %10.2f×", ms / ps.ms)
                    r["peer_file"] = file
                    r["peer_ms_step"] = ps.ms
                    if let m = ps.rssMB { r["peer_peak_rss_mb"] = m.rounded() }
                    r["time_ratio"] = ((ms / ps.ms) * 1000).rounded() / 1000
                } else if !peer.isEmpty {
                    line += "          -          -           -"
                    unmatched.append(c.name)
                }
                r["machine"] = Machine.description
                rows.append(r)
                print(line)
            }
            if !unmatched.isEmpty { print("no peer figures for \(unmatched.joined(separator: ", ")) in the --peer files") }
            if let j = json { try writeJSONRows(rows, to: j); print("wrote \(j)") }
        }
    }
}
