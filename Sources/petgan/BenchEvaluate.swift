import ArgumentParser
import Foundation
import PETBenchmarks
import PETTensor

struct BenchEvaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "petgan evaluate on two 200-subject 2 mm phantom cohorts (real vs a stand-in synthetic set; target < 10 min): wall and CPU seconds, seconds per stage, peak RSS.",
        discussion: """
        The cohorts (seeds 11 and 12) are built once into --data-dir and reused; building them is not \
        timed. One evaluation with default options is timed (a run takes minutes; run on an idle machine).
        """)

    @Option(help: "Subjects per cohort (the requirement: 200).")
    var count: Int = 200
    @Option(name: .customLong("data-dir"), help: "Folder keeping the benchmark cohorts between runs.")
    var dataDir: String = "bench-data"
    @Option(help: "Report folder of the timed evaluation.")
    var out: String = "bench-results/evaluate-report"
    @Option(help: "Folder with the templates (default: $PETGAN_TEMPLATES or Volumes/templates).")
    var templates: String?
    @OptionGroup var runtime: RuntimeOptions<BenchEvaluateBudget>
    @OptionGroup var output: JSONRowsOutput
    @Flag(help: "Print the evaluation's progress lines.")
    var verbose = false
    @Flag(name: .customLong("build-only"), help: "Build the benchmark cohorts into --data-dir (when missing) and stop, so the timed run can wait for an idle machine.")
    var buildOnly = false

    func validate() throws {
        guard count >= 6 else { throw ValidationError("--count must be at least 6 (two subjects per class)") }
    }

    func run() throws {
        try runReportingErrors {
            runtime.apply()
            var r = EvaluateBenchmark.Request()
            r.count = count; r.dataDirectory = dataDir; r.out = out; r.templatesDirectory = templates
            if let b = runtime.memoryBudget { r.memoryBudgetBytes = b.bytes }
            let verbose = self.verbose
            r.log = { line in if verbose || line.hasPrefix("building") { FileHandle.standardError.write(Data(("bench evaluate: " + line + "\n").utf8)) } }
            if buildOnly {
                for p in try EvaluateBenchmark.buildCohorts(r) { print("cohort: \(p)") }
                return
            }
            print("PETGAN \(PETGANVersion.string) evaluate benchmark: \(count) real + \(count) synthetic 2 mm volumes, \(Parallel.threads) threads, one timed run")
            let row = try EvaluateBenchmark.run(r)
            for line in EvaluateBenchmark.summary(row) { print(line) }
            try output.write([row])
        }
    }
}
