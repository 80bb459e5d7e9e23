import ArgumentParser
import Foundation
import PETBenchmarks

struct BenchPeak: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peak",
        abstract: "The machine's fp32 FMA peak per ISA path (AVX-512, AVX2+FMA) and bf16 dot-product peak (AVX512_BF16) on the threads in use: what `bench conv` / `bench train` rows report their fraction of.")

    @OptionGroup var threads: ThreadOptions
    @OptionGroup var output: JSONRowsOutput

    func run() throws {
        try runReportingErrors {
            threads.apply()
            try output.write([PeakProbe.runPrinted()])
        }
    }
}
