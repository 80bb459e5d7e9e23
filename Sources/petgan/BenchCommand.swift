import ArgumentParser
import Foundation
import PETBenchmarks
import PETTensor

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks (median of repeated runs after a warm-up, with peak RSS).",
        subcommands: [BenchConv.self, BenchAutograd.self, BenchPhantom.self, BenchVolumes.self])
}

struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Convolution kernels: the 64³ 3D DCGAN layer set (batch 4), stride-1 k3/k5/k7 conv3d, and the sgemm ceiling.")

    @Flag(help: "Fewer repetitions and only the automatic path (a smoke run, e.g. for `make demo`).")
    var quick = false
    @Option(help: "Write one JSON object per row to this file.")
    var json: String?
    @Option(help: "Paths to time: comma-separated subset of auto,im2col,fft,reference (reference is very slow).")
    var paths: String = "auto,im2col,fft"
    @Option(help: "Row names to run (comma-separated, e.g. G3,D2,K7); default all.")
    var only: String?
    @Option(help: "Timed repetitions per case (median reported).")
    var reps: Int = 5
    @Option(help: "Untimed warm-up runs per case.")
    var warmup: Int = 1
    @Option(help: "Worker threads for our loops and OpenBLAS (default: all cores).")
    var threads: Int?
    @Flag(help: "Print the time spent per kernel phase (sgemm, vol2col, col2vol, fft …) for each row.")
    var profile = false

    func validate() throws {
        guard reps >= 1 else { throw ValidationError("--reps must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        for p in paths.split(separator: ",") where p != "auto" && ConvPath(rawValue: String(p)) == nil {
            throw ValidationError("unknown path '\(p)' in --paths (use auto, im2col, fft, reference)")
        }
    }

    func run() throws {
        try runReportingErrors {
            if let t = threads { Parallel.setThreads(t) }
            let timing = quick ? Timing(warmup: 1, reps: 3) : Timing(warmup: warmup, reps: reps)
            let pathList: [ConvPath?] = quick ? [nil] : paths.split(separator: ",").map { $0 == "auto" ? nil : ConvPath(rawValue: String($0)) }
            let wanted = only.map { Set($0.split(separator: ",").map(String.init)) }
            var rows: [BenchRow] = []
            print("PETGAN \(PETGANVersion.string) conv benchmark: OpenBLAS core \(BLAS.coreName), \(Parallel.threads) threads, median of \(timing.reps) after \(timing.warmup) warm-up")
            print(String(format: "%-6@ %-17@ %-12@ %-18@ %10@ %10@ %9@ %9@ %8@", "name", "op", "path", "in", "ms fwd", "ms f+b", "GF/s f", "GF/s f+b", "RSS MB"))
            let sg = ConvBenchmark.sgemmCeiling(timing: timing)
            rows.append(sg)
            print(String(format: "%-6@ %-17@ %-12@ %-18@ %10.1f %10@ %9.1f %9@ %8.0f", "SGEMM", "sgemm 2048²", sg["path"] as! String, "2048x2048",
                         sg["ms_forward"] as! Double, "-", sg["gflops_forward"] as! Double, "-", sg["peak_rss_mb"] as! Double))
            for layer in ConvBenchmark.dcganLayers() + ConvBenchmark.bigKernelLayers() {
                if let w = wanted, !w.contains(layer.name) { continue }
                for path in pathList {
                    if path == .fft && (layer.s != 1) { continue }   // FFT computes stride-1 convolutions only
                    KernelProfile.enabled = profile
                    KernelProfile.reset()
                    let row = try ConvBenchmark.run(layer, path: path, timing: timing)
                    if profile {
                        print("   phases (ms, all runs): " + KernelProfile.snapshot().sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1f", $0.value))" }.joined(separator: ", "))
                    }
                    rows.append(row)
                    let inStr = "\(layer.batch)x\(layer.cin)x\(layer.inSize)³"
                    print(String(format: "%-6@ %-17@ %-12@ %-18@ %10.1f %10.1f %9.1f %9.1f %8.0f", layer.name, row["op"] as! String, row["path"] as! String, inStr,
                                 row["ms_forward"] as! Double, row["ms_forward_backward"] as! Double,
                                 row["gflops_forward"] as! Double, row["gflops_forward_backward"] as! Double, row["peak_rss_mb"] as! Double))
                }
            }
            if let j = json { try writeJSONRows(rows, to: j); print("wrote \(j)") }
        }
    }
}
