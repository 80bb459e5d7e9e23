import ArgumentParser
import Foundation
import PETBenchmarks

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training steps with torch_peer.py's model shapes: 3D DCGAN 64³ b4, WGAN-GP critic 64³ b4, 2D paper model 128² b64; and conditional FastGAN 3D 64³ b8 and 2D 256² b8 (peer: Benchmarks/torch_fastgan.py).")

    @Flag(help: "A smoke run (32³ 3D models, 2D batch 8, fewer repetitions).")
    var quick = false
    @Option(help: "Cases to run (comma-separated name prefixes: dcgan3d, wgangp3d, dcgan2d, fastgan3d, fastgan2d); default all.")
    var only: String?
    @Option(help: "Timed repetitions per case (median reported).")
    var reps: Int = 3
    @Option(help: "Untimed warm-up runs per case.")
    var warmup: Int = 1
    @OptionGroup var threads: ThreadOptions
    @OptionGroup var precision: PrecisionOptions
    @OptionGroup var output: JSONRowsOutput
    @Option(help: "Result JSON of ../shared/bench/torch_peer.py --suite models --out FILE (repeatable, e.g. one per case): print PyTorch's step time and peak RSS from it and the time ratio beside ours. Without it only this run's figures are printed.")
    var peer: [String] = []
    @Option(name: .customLong("layer-shapes"), help: "Write the cases' layer output shapes (batch 2) and parameter shapes as JSON to this file and exit without timing (Benchmarks/check_torch_fastgan.sh compares them with torch_fastgan.py --shapes).")
    var layerShapes: String?

    func validate() throws {
        guard reps >= 1 else { throw ValidationError("--reps must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
    }

    func run() throws {
        try runReportingErrors {
            threads.apply()
            let names = only.map { $0.split(separator: ",").map(String.init) }
            if let file = layerShapes {
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys]
                let data = try e.encode(try TrainBenchmark.layerShapes(quick: quick, only: names))
                do { try data.write(to: URL(fileURLWithPath: file), options: .atomic) } catch {
                    throw ValidationError("--layer-shapes \(file): cannot write (\(error.localizedDescription))")
                }
                print("wrote \(file)")
                return
            }
            let rows = try TrainBenchmark.runPrinted(quick: quick, only: names,
                                                     timing: Timing(warmup: warmup, reps: reps), peerFiles: peer,
                                                     precision: precision.value)
            try output.write(rows)
        }
    }
}
