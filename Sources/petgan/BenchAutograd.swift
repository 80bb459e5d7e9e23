import ArgumentParser
import Foundation
import PETBenchmarks
import PETTensor

struct BenchAutograd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autograd",
        abstract: "Autograd overhead: forward + backward of the 3D DCGAN discriminator (batch 4, 64³) through the autograd vs bare kernel calls.")

    @Flag(help: "A short smoke run (32³, fewer repetitions).")
    var quick = false
    @Option(help: "Cubic input size (a multiple of 16).")
    var size: Int = 64
    @Option(help: "Batch size.")
    var batch: Int = 4
    @Option(help: "Timed repetitions per case (median reported).")
    var reps: Int = 5
    @Option(help: "Untimed warm-up runs per case.")
    var warmup: Int = 1
    @Option(help: "Worker threads for our loops and OpenBLAS (default: all cores).")
    var threads: Int?
    @Option(help: "Write the result as a JSON row to this file.")
    var json: String?

    func validate() throws {
        guard size >= 16, size % 16 == 0 else { throw ValidationError("--size must be a positive multiple of 16 (four stride-2 layers, then a k=size/16 layer)") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard reps >= 1 else { throw ValidationError("--reps must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
    }

    func run() throws {
        try runReportingErrors {
            if let t = threads { Parallel.setThreads(t) }
            let timing = quick ? Timing(warmup: 1, reps: 3) : Timing(warmup: warmup, reps: reps)
            let s = quick ? min(size, 32) : size
            print("PETGAN \(PETGANVersion.string) autograd benchmark: DCGAN discriminator \(batch)x1x\(s)³, \(Parallel.threads) threads, median of \(timing.reps) after \(timing.warmup) warm-up")
            let r = try AutogradBenchmark.run(size: s, batch: batch, timing: timing)
            print(String(format: "forward:            bare %9.1f ms   autograd (no grad) %9.1f ms", r.msBareForward, r.msAutogradForward))
            print(String(format: "forward + backward: bare %9.1f ms   autograd           %9.1f ms   overhead %+.1f%%", r.msBare, r.msAutograd, r.overheadPercent))
            print(String(format: "weight gradients agree to %.1e (relative); peak RSS %.0f MB", r.gradientRelativeError, r.peakRSSMB))
            if let j = json { try writeJSONRows([r.row], to: j); print("wrote \(j)") }
        }
    }
}
