import ArgumentParser
import Foundation
import PETBenchmarks
import PETMetrics
import PETModels
import PETTensor

extension QualityAxis: ExpressibleByArgument {}

struct BenchQuality: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality",
        abstract: "Learning curve: train a model on a fixed phantom cohort for a budget and evaluate generated samples against a held-out set every K training minutes.",
        discussion: """
        The cohort (default: 240 subjects, equal NC/MCI/AD, seed 31, 8 mm MNI grid 24×28×24) is built once \
        into --data-dir, or --cohort STORE is used; every 4th subject of each class is held out, the rest \
        trains. At step 0, every --eval-every-minutes of training time and at the end, samples from fixed \
        seeds (as many per class as the held-out set has) are evaluated with `petgan evaluate`'s metrics; \
        evaluation time is excluded from the training clock and reported per row. Rows (--json): minutes, \
        step, cpu_seconds, eval_seconds, c2st_acc with its interval, mmd, regional_abs_err, fd_task, … \
        (null where this version's evaluation has no such figure). --compare A.json B.json … --out \
        curves.png overlays runs (bench quality --json files or a run's quality.jsonl).
        """)

    @Option(help: "Model: \(ModelKind.helpList).")
    var model: ModelKind = .wgangp3d
    @Flag(name: .customLong("unconditional"), help: "Train an unconditional model on every class (default: class-conditional).")
    var unconditional = false
    @Option(help: "Built-in cohort grid, NIfTI order x×y×z (default 24x28x24; the generator needs each side divisible by 2^layers).", transform: { try GridSides.parse($0) })
    var grid: GridSides?
    @Option(name: .customLong("voxel-size"), help: "Built-in cohort voxel size in mm.")
    var voxelSize: Double = QualityBenchmark.defaultVoxelSize
    @Option(help: "Subjects of the built-in cohort (1 in 4 per class held out).")
    var subjects: Int = 240
    @Option(help: "Use this volume store as the cohort (split 1 in 4 per class into --data-dir) instead of the built-in one.")
    var cohort: String?
    @Option(name: .customLong("data-dir"), help: "Folder keeping the cohort and its split between runs.")
    var dataDir: String = "bench-data"
    @Option(name: .customLong("runs-dir"), help: "Folder of the numbered run directories.")
    var runsDir: String = "bench-results/quality-runs"
    @Option(name: .customLong("budget-minutes"), help: "Training budget in training minutes (evaluation excluded; default \(QualityBenchmark.defaultBudgetMinutes)).")
    var budgetMinutes: Double?
    @Option(name: .customLong("budget-steps"), help: "Training budget in generator steps (instead of minutes).")
    var budgetSteps: Int?
    @Option(name: .customLong("eval-every-minutes"), help: "Evaluate every K training minutes (default: budget / 5; with --budget-steps: at the end only).")
    var evalEveryMinutes: Double?
    @Option(name: .customLong("samples-per-class"), help: "Generated volumes per class and evaluation (default: as many as the held-out set has).")
    var samplesPerClass: Int?
    @Option(help: "Seed of the run (initialization, noise, data order) and of the evaluation.")
    var seed: UInt64 = 1
    @Option(help: "YAML file with training settings (over the benchmark's defaults: G 64-32, D 32-64, batch 8).")
    var config: String?
    @Option(name: .customLong("set"), help: "Override a training setting, key=value (repeatable), e.g. --set g_channels=128,64,32.")
    var settings: [String] = []
    @Option(help: "Folder with the templates (default: $PETGAN_TEMPLATES or Volumes/templates).")
    var templates: String?
    @Option(help: "The learning-curve PNG (default: <run>/quality_curve.png; with --compare: --out).")
    var plot: String?
    @OptionGroup var runtime: RuntimeOptions<TrainBudget>
    @OptionGroup var output: JSONRowsOutput
    @Flag(help: "Print the evaluations' progress lines.")
    var verbose = false

    @Option(parsing: .upToNextOption, help: "Overlay these runs' rows (bench quality --json files or quality.jsonl) instead of training.")
    var compare: [String] = []
    @Option(help: "With --compare: the PNG to write (default curves.png).")
    var out: String?
    @Option(help: "With --compare: the x axis (minutes, steps, cpu).")
    var x: QualityAxis = .minutes

    func validate() throws {
        if !compare.isEmpty {
            if let o = out, !o.lowercased().hasSuffix(".png") { throw ValidationError("--out: \(o) is not a .png file name") }
            return
        }
        if out != nil { throw ValidationError("--out is the --compare PNG; the learning curve of a run is --plot (runs go to --runs-dir)") }
        if budgetMinutes != nil && budgetSteps != nil { throw ValidationError("--budget-minutes and --budget-steps: give one budget") }
        if let b = budgetMinutes, !(b > 0) { throw ValidationError("--budget-minutes must be positive") }
        if let b = budgetSteps, b < 1 { throw ValidationError("--budget-steps must be at least 1") }
        if let k = evalEveryMinutes, !(k > 0) { throw ValidationError("--eval-every-minutes must be positive") }
        if let n = samplesPerClass, n < 1 { throw ValidationError("--samples-per-class must be at least 1") }
        if !(voxelSize > 0) { throw ValidationError("--voxel-size must be positive") }
        if subjects < 2 * QualityBenchmark.heldOutEvery * 3 { throw ValidationError("--subjects must be at least \(2 * QualityBenchmark.heldOutEvery * 3) (2 held-out subjects per class)") }
        if let c = cohort, !FileManager.default.fileExists(atPath: c) { throw ValidationError("--cohort: \(c) does not exist") }
        for s in settings where !s.contains("=") { throw ValidationError("--set expects key=value (got '\(s)')") }
    }

    func run() throws {
        try runReportingErrors {
            runtime.apply()
            if !compare.isEmpty {
                for line in try QualityBenchmark.compare(compare, out: out ?? plot ?? "curves.png", x: x) { print(line) }
                return
            }
            var r = QualityBenchmark.Request()
            r.model = model
            r.conditional = !unconditional
            r.configFile = config
            for s in settings {
                let parts = s.split(separator: "=", maxSplits: 1).map(String.init)
                r.settings[parts[0].trimmingCharacters(in: .whitespaces)] = .string(parts.count > 1 ? parts[1] : "")
            }
            if let t = runtime.threads { r.settings["threads"] = .int(t) }
            if let g = grid { r.niftiShape = g.sides }
            r.voxelSize = voxelSize
            r.subjects = subjects
            r.cohortStore = cohort
            r.dataDirectory = dataDir
            r.runsDirectory = runsDir
            if budgetSteps != nil { r.budgetMinutes = nil; r.budgetSteps = budgetSteps }
            if let b = budgetMinutes { r.budgetMinutes = b }
            r.evalEveryMinutes = evalEveryMinutes
            r.samplesPerClass = samplesPerClass
            r.seed = seed
            r.templatesDirectory = templates
            r.memoryBudgetBytes = runtime.memoryBudget?.bytes
            r.plot = plot
            if verbose { r.log = { FileHandle.standardError.write(Data(("bench quality: " + $0 + "\n").utf8)) } }
            let result = try QualityBenchmark.run(r)
            for line in QualityCurve.table([("run", result.rows)], x: .minutes) { print(line) }
            print("rows \(result.runDirectory)/quality.jsonl, curve \(result.plot)")
            try output.write(result.rows)
        }
    }
}
