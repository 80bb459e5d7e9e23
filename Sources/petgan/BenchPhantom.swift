import ArgumentParser
import Foundation
import PETBenchmarks

struct BenchPhantom: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phantom",
        abstract: "Phantom cohort: time to synthesise one subject on the 4 mm, 2 mm (target < 1 s), 1.5 mm and 1 mm (target < 5 s) MNI grids, template preparation, peak RSS.")

    @Flag(help: "Fewer repetitions and only the 2 mm grid.")
    var quick = false
    @Option(help: "Grids to time: comma-separated subset of P4,P2,P1.5,P1.")
    var only: String?
    @OptionGroup var timing: TimingOptions
    @OptionGroup var threads: ThreadOptions
    @Option(help: "Folder with the templates (default: $PETGAN_TEMPLATES or Volumes/templates).")
    var templates: String?
    @OptionGroup var output: JSONRowsOutput

    func validate() throws {
        if let o = only {
            let known = Set(CohortBenchmark.cases.map(\.name))
            for n in nameSet(o) where !known.contains(n) {
                throw ValidationError("unknown grid '\(n)' in --only (use \(known.sorted().joined(separator: ", ")))")
            }
        }
    }

    func run() throws {
        try runReportingErrors {
            threads.apply()
            let rows = try CohortBenchmark.runPrinted(only: quick ? ["P2"] : only.map(nameSet),
                                                      timing: quick ? Timing(warmup: 1, reps: 3) : timing.timing, templates: templates)
            try output.write(rows)
        }
    }
}
