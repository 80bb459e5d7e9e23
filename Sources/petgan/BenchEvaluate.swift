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
    @Option(name: .customLong("memory-budget"), help: "HDF5 chunk-cache budget of the evaluation in MB (evaluate's default).")
    var memoryBudget: Int = 256
    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?
    @Option(help: "Write the result row (JSON) to this file.")
    var json: String?
    @Flag(help: "Print the evaluation's progress lines.")
    var verbose = false
    @Flag(name: .customLong("build-only"), help: "Build the benchmark cohorts into --data-dir (when missing) and stop, so the timed run can wait for an idle machine.")
    var buildOnly = false

    func validate() throws {
        guard count >= 6 else { throw ValidationError("--count must be at least 6 (two subjects per class)") }
        guard memoryBudget >= 8 else { throw ValidationError("--memory-budget must be at least 8 MB") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        try runReportingErrors {
            if let t = threads { Parallel.setThreads(t) }
            var r = EvaluateBenchmark.Request()
            r.count = count; r.dataDirectory = dataDir; r.out = out; r.templatesDirectory = templates; r.memoryBudgetMB = memoryBudget
            let verbose = self.verbose
            r.log = { line in if verbose || line.hasPrefix("building") { FileHandle.standardError.write(("bench evaluate: " + line + "\n").data(using: .utf8)!) } }
            if buildOnly {
                for p in try EvaluateBenchmark.buildCohorts(r) { print("cohort: \(p)") }
                return
            }
            print("PETGAN \(PETGANVersion.string) evaluate benchmark: \(count) real + \(count) synthetic 2 mm volumes, \(Parallel.threads) threads, one timed run")
            let row = try EvaluateBenchmark.run(r)
            let s = row["seconds"] as! Double
            print(String(format: "wall %.1f s (%d min %02d s; target 600 s), CPU %.1f s (%.0f%% of %d threads), peak RSS %.0f MB",
                         s, Int(s) / 60, Int(s) % 60, row["cpu_seconds"] as! Double, 100 * (row["cpu_share"] as! Double) / Double(Parallel.threads),
                         Parallel.threads, row["peak_rss_mb"] as! Double))
            for (k, v) in (row["stage_seconds"] as! [String: Double]).sorted(by: { $0.value > $1.value }) {
                print(String(format: "  %8.1f s  %@", v, k))
            }
            for a in row["augmentation"] as? [[String: Any]] ?? [] {
                func ms(_ k: String) -> String {
                    guard let d = a[k] as? [String: Any], let m = d["mean"] as? Double else { return "–" }
                    return String(format: "%.3f ± %.3f", m, d["sd"] as? Double ?? .nan)
                }
                print("  augmentation \(a["task"] as? String ?? ""): balanced accuracy real only \(ms("realOnly_balanced_accuracy")), real + synthetic \(ms("augmented_balanced_accuracy")); AUC \(ms("realOnly_auc")) vs \(ms("augmented_auc"))")
            }
            if let j = json { try writeJSONRows([row], to: j); print("wrote \(j)") }
        }
    }
}
