import ArgumentParser
import Foundation
import PETBenchmarks

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
    @OptionGroup var timing: TimingOptions
    @OptionGroup var threads: ThreadOptions
    @OptionGroup var output: JSONRowsOutput

    func validate() throws {
        guard size >= 16, size % 16 == 0 else { throw ValidationError("--size must be a positive multiple of 16 (four stride-2 layers, then a k=size/16 layer)") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    }

    func run() throws {
        try runReportingErrors {
            threads.apply()
            let row = try AutogradBenchmark.runPrinted(size: quick ? min(size, 32) : size, batch: batch,
                                                       timing: quick ? Timing(warmup: 1, reps: 3) : timing.timing)
            try output.write([row])
        }
    }
}
