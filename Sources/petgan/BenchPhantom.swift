import ArgumentParser
import Foundation
import PETBenchmarks
import PETTensor

struct BenchPhantom: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phantom",
        abstract: "Phantom cohort: time to synthesise one subject on the 4 mm, 2 mm (target < 1 s) and 1.5 mm MNI grids, template preparation, peak RSS.")

    @Flag(help: "Fewer repetitions and only the 2 mm grid.")
    var quick = false
    @Option(help: "Grids to time: comma-separated subset of P4,P2,P1.5.")
    var only: String?
    @Option(help: "Timed repetitions per case (median reported).")
    var reps: Int = 5
    @Option(help: "Untimed warm-up runs per case.")
    var warmup: Int = 1
    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?
    @Option(help: "Folder with the templates (default: $PETGAN_TEMPLATES or Volumes/templates).")
    var templates: String?
    @Option(help: "Write one JSON object per row to this file.")
    var json: String?

    func validate() throws {
        guard reps >= 1 else { throw ValidationError("--reps must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        if let o = only {
            let known = Set(CohortBenchmark.cases.map(\.name))
            for n in o.split(separator: ",") where !known.contains(String(n)) {
                throw ValidationError("unknown grid '\(n)' in --only (use \(known.sorted().joined(separator: ", ")))")
            }
        }
    }

    func run() throws {
        try runReportingErrors {
            if let t = threads { Parallel.setThreads(t) }
            let timing = quick ? Timing(warmup: 1, reps: 3) : Timing(warmup: warmup, reps: reps)
            let wanted = quick ? Set(["P2"]) : (only.map { Set($0.split(separator: ",").map(String.init)) } ?? Set(CohortBenchmark.cases.map(\.name)))
            print("PETGAN \(PETGANVersion.string) phantom benchmark: \(Parallel.threads) threads, median of \(timing.reps) subjects after \(timing.warmup) warm-up")
            print(String(format: "%-5@ %-12@ %6@ %12@ %14@ %12@ %8@", "name", "grid", "mm", "ms/subject", "ms templates", "template MB", "RSS MB"))
            var rows: [BenchRow] = []
            for c in CohortBenchmark.cases where wanted.contains(c.name) {
                let r = try CohortBenchmark.run(c, timing: timing, templates: templates)
                rows.append(r)
                print(String(format: "%-5@ %-12@ %6.1f %12.1f %14.1f %12.1f %8.0f", c.name, r["grid"] as! String, c.voxelSize,
                             r["ms_per_subject"] as! Double, r["ms_templates_once"] as! Double, r["template_mb"] as! Double, r["peak_rss_mb"] as! Double))
            }
            if let j = json { try writeJSONRows(rows, to: j); print("wrote \(j)") }
        }
    }
}
