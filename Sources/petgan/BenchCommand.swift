import ArgumentParser
import Foundation
import PETBenchmarks
import PETTensor

/// `petgan bench …`: the benchmark commands. Each parses its options and runs one PETBenchmarks
/// suite; the suites print their tables and return Codable rows (written with --json).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks (median of repeated runs after a warm-up, with peak RSS).",
        subcommands: [BenchPeak.self, BenchConv.self, BenchAutograd.self, BenchPhantom.self, BenchVolumes.self, BenchTrain.self, BenchMemory.self, BenchEvaluate.self, BenchQuality.self, BenchScaling.self, BenchHierarchical.self, BenchSummary.self, BenchAllreduceProbe.self])
}

/// --reps and --warmup of the timed benchmarks.
struct TimingOptions: ParsableArguments {
    @Option(help: "Timed repetitions per case (median reported).")
    var reps: Int = 5
    @Option(help: "Untimed warm-up runs per case.")
    var warmup: Int = 1

    func validate() throws {
        guard reps >= 1 else { throw ValidationError("--reps must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
    }
    var timing: Timing { Timing(warmup: warmup, reps: reps) }
}

extension ConvPath: ExpressibleByArgument {}

/// `--paths auto,im2col,fft`: the convolution paths to time (auto is the automatic choice).
struct ConvPathList: CustomStringConvertible {
    var paths: [ConvPath?]
    let text: String
    static func parse(_ text: String) throws -> ConvPathList {
        var paths: [ConvPath?] = []
        for p in text.split(separator: ",") {
            if p == "auto" { paths.append(nil); continue }
            guard let c = ConvPath(rawValue: String(p)) else { throw ArgumentFormatError("unknown path '\(p)' (use auto, \(ConvPath.allCases.map(\.rawValue).joined(separator: ", ")))") }
            paths.append(c)
        }
        return ConvPathList(paths: paths, text: text)
    }
    var description: String { text }
}

/// A comma-separated list of names ("G3,D2,K7").
func nameSet(_ text: String) -> Set<String> { Set(text.split(separator: ",").map(String.init)) }

struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Convolution kernels: the 64³ 3D DCGAN layer set (batch 4), stride-1 k3/k5/k7 conv3d, and the sgemm ceiling.")

    @Flag(help: "Fewer repetitions and only the automatic path (a smoke run, e.g. for `make demo`).")
    var quick = false
    @OptionGroup var output: JSONRowsOutput
    @Option(help: "Paths to time: comma-separated subset of auto,im2col,fft,winograd,implicit-gemm,reference (reference is very slow; default: auto,im2col,fft,implicit-gemm; the implicit-GEMM ISA follows PETGAN_CONV_ISA).", transform: { try ConvPathList.parse($0) })
    var paths = ConvPathList(paths: [nil, .im2col, .fft, .implicitGEMM], text: "auto,im2col,fft,implicit-gemm")
    @Option(help: "Row names to run (comma-separated, e.g. G3,D2,K7); default all.")
    var only: String?
    @OptionGroup var timing: TimingOptions
    @OptionGroup var threads: ThreadOptions
    @OptionGroup var precision: PrecisionOptions
    @Flag(help: "Print the time spent per kernel phase (sgemm, vol2col, col2vol, fft …) for each row.")
    var profile = false
    @Option(help: "Rows JSON from ../shared/bench/torch_peer.py --rows (repeatable): print PyTorch's figures and the speed ratio beside ours.")
    var peer: [String] = []

    func run() throws {
        try runReportingErrors {
            threads.apply()
            var suite = ConvSuite()
            suite.quick = quick
            suite.paths = paths.paths
            suite.only = only.map(nameSet)
            suite.timing = timing.timing
            suite.profile = profile
            suite.peerFiles = peer
            suite.precision = precision.value
            try output.write(try suite.run())
        }
    }
}
