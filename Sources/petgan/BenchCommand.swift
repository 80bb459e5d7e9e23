import ArgumentParser
import Foundation
import PETBenchmarks
import PETTensor

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks (median of repeated runs after a warm-up, with peak RSS).",
        subcommands: [BenchConv.self, BenchAutograd.self, BenchPhantom.self, BenchVolumes.self, BenchTrain.self, BenchMemory.self, BenchEvaluate.self])
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
    @Option(help: "Rows JSON from ../shared/bench/torch_peer.py --rows (repeatable): print PyTorch's figures and the speed ratio beside ours.")
    var peer: [String] = []

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
            var peerRows: [String: [String: Any]] = [:]
            for p in peer {
                guard let arr = try PeerFile.load(p) as? [[String: Any]] else {
                    throw PeerError("\(p): the --peer file is not a JSON array of rows (make it with torch_peer.py --rows FILE)")
                }
                for r in arr { if let n = r["name"] as? String { peerRows[n] = r } }
            }
            print("PETGAN \(PETGANVersion.string) conv benchmark: OpenBLAS core \(BLAS.coreName), \(Parallel.threads) threads, median of \(timing.reps) after \(timing.warmup) warm-up")
            print("machine: \(Machine.description)")
            print("weights: new each repetition, as in training: FFT rows pay their weight transforms (fft-weights) inside the timing; an f+b input gradient reuses its forward's spectra")
            print(pad("name", 7) + pad("op", 17) + pad("path", 14) + pad("input", 16) + lpad("ms fwd", 10) + lpad("ms f+b", 10) + lpad("GF/s f", 9) + lpad("GF/s f+b", 10) + lpad("RSS MB", 8))
            let sg = ConvBenchmark.sgemmCeiling(timing: timing)
            rows.append(sg)
            print(pad("SGEMM", 7) + pad("sgemm", 17) + pad(sg["path"] as! String, 14) + pad("2048x2048", 16) + lpad(f1(sg["ms_forward"]), 10)
                  + lpad("-", 10) + lpad(f1(sg["gflops_forward"]), 9) + lpad("-", 10) + lpad(f0(sg["peak_rss_mb"]), 8))
            for layer in ConvBenchmark.dcganLayers() + ConvBenchmark.bigKernelLayers() + [ConvBenchmark.memoryLayer()] {
                if quick && layer.name == ConvBenchmark.memoryLayer().name { continue }
                if let w = wanted, !w.contains(layer.name) { continue }
                for path in pathList {
                    if path == .fft && (layer.s != 1) { continue }   // FFT computes stride-1 convolutions only
                    KernelProfile.enabled = profile
                    KernelProfile.reset()
                    let row = try ConvBenchmark.run(layer, path: path, timing: timing)
                    if profile {
                        let calls = KernelProfile.callCounts()
                        print("   phases (ms and calls, all runs): " + KernelProfile.snapshot().sorted { $0.key < $1.key }
                            .map { "\($0.key) \(String(format: "%.1f", $0.value)) ×\(calls[$0.key] ?? 0)" }.joined(separator: ", "))
                    }
                    rows.append(row)
                    let inStr = "\(layer.batch)x\(layer.cin)x\(layer.inSize)³"
                    print(pad(layer.name, 7) + pad(row["op"] as! String, 17) + pad(row["path"] as! String, 14) + pad(inStr, 16)
                          + lpad(f1(row["ms_forward"]), 10) + lpad(f1(row["ms_forward_backward"]), 10)
                          + lpad(f1(row["gflops_forward"]), 9) + lpad(f1(row["gflops_forward_backward"]), 10) + lpad(f0(row["peak_rss_mb"]), 8))
                    if let pr = peerRows[layer.name], let tf = pr["ms_forward"] as? Double, let tfb = pr["ms_forward_backward"] as? Double,
                       let of = row["ms_forward"] as? Double, let ofb = row["ms_forward_backward"] as? Double {
                        print(pad("", 7) + pad("  PyTorch", 17) + pad((pr["path"] as? String) ?? "torch", 14) + pad("", 16) + lpad(f1(tf), 10) + lpad(f1(tfb), 10)
                              + "   speed vs PyTorch: fwd \(String(format: "%.2f", tf / of))x, f+b \(String(format: "%.2f", tfb / ofb))x")
                    }
                }
            }
            if let j = json { try writeJSONRows(rows, to: j); print("wrote \(j)") }
        }
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
func f1(_ v: Any?) -> String { String(format: "%.1f", (v as? Double) ?? .nan) }
func f0(_ v: Any?) -> String { String(format: "%.0f", (v as? Double) ?? .nan) }
