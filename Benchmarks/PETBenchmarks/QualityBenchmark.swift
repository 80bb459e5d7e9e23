import Foundation
import PETCohort
import PETMetrics
import PETModels
import PETTensor
import PETVolumes

/// `petgan bench quality`: the learning curve of a model on a fixed built-in cohort. The phantom
/// cohort (fixed seed, equal classes) is built once into the data folder (or a given store is used)
/// and split per class: every 4th subject of each class (indices 3, 7, 11 … within the class) is held
/// out, the rest trains. The model trains for the budget (training minutes, evaluation excluded, or
/// generator steps); at step 0, every K training minutes and at the end the training clock stops,
/// samples are generated from fixed seeds (as many per class as the held-out set has) and
/// `Evaluation.run` compares them with the held-out set. Rows: `QualityRow`.
public enum QualityBenchmark {
    public struct Request {
        public var model: ModelKind = .wgangp3d
        public var conditional = true
        /// YAML settings file and key=value settings over the benchmark's defaults.
        public var configFile: String? = nil
        public var settings: [String: SettingValue] = [:]
        /// The cohort: NIfTI order x×y×z and voxel size of the built-in one, or a given store.
        public var niftiShape = QualityBenchmark.defaultShape
        public var voxelSize = QualityBenchmark.defaultVoxelSize
        public var subjects = 240
        public var cohortSeed: UInt64 = 31
        public var cohortStore: String? = nil
        public var dataDirectory = "bench-data"
        /// Folder of the numbered run directories.
        public var runsDirectory = "bench-results/quality-runs"
        /// Training budget: minutes of training (evaluation excluded) or generator steps (one of them).
        public var budgetMinutes: Double? = QualityBenchmark.defaultBudgetMinutes
        public var budgetSteps: Int? = nil
        /// Evaluate every this many training minutes (nil: budget / 5; with a step budget also at the end).
        public var evalEveryMinutes: Double? = nil
        /// Generated volumes per class (nil: as many as the held-out set has).
        public var samplesPerClass: Int? = nil
        public var seed: UInt64 = 1
        public var templatesDirectory: String? = nil
        public var memoryBudgetBytes: Int? = nil
        /// The learning-curve PNG (nil: <run>/quality_curve.png).
        public var plot: String? = nil
        public var say: (String) -> Void = { print($0); fflush(stdout) }
        public var log: ((String) -> Void)? = nil
        public init() {}
    }

    /// The default: 8 mm MNI grid (24×28×24 voxels), widths G 64-32 / D 32-64, batch 8, 30 training
    /// minutes (≈ 2600 generator steps on an idle 2-core Zen 5 at 0.69 s a step): the conditional
    /// WGAN-GP's C2ST first fell below 1.00 (0.95, 95% CI 0.86–0.99) at step 1750 on the realistic
    /// cohort, and stayed at 1.00 through 15 minutes (1310 steps). At 4 mm (48×56×48, G 64-32-16) a
    /// step takes 2.4 s; docs/EVALUATION.md, "Learning curves", has the trials and the baselines.
    public static let defaultShape = [24, 28, 24]
    public static let defaultVoxelSize = 8.0
    public static let defaultBudgetMinutes = 30.0
    public static let defaultSettings: [String: SettingValue] = ["g_channels": "64,32", "d_channels": "32,64", "batch": 8]
    /// 1 in `heldOutEvery` subjects of each class is held out.
    public static let heldOutEvery = 4

    /// Splits `store` per class into `train` and `heldOut` stores (every `heldOutEvery`-th subject of
    /// each class, counting from the class's 4th, is held out). Values and intensity maps are copied
    /// as stored.
    public static func split(_ store: String, train: String, heldOut: String) throws -> (train: Int, heldOut: Int) {
        let s = try VolumeStore.open(store)
        var seen: [Int: Int] = [:]
        var heldIdx: [Int] = [], trainIdx: [Int] = []
        for i in 0..<s.count {
            let k = seen[s.labels[i], default: 0]
            seen[s.labels[i]] = k + 1
            if k % heldOutEvery == heldOutEvery - 1 { heldIdx.append(i) } else { trainIdx.append(i) }
        }
        guard heldIdx.count >= 2, trainIdx.count >= 2 else {
            throw BenchmarkError("\(store): \(s.count) volumes are too few to hold out 1 in \(heldOutEvery) per class (need at least \(2 * heldOutEvery))")
        }
        let vs = s.voxelSize.count == 3 ? (s.voxelSize[0], s.voxelSize[1], s.voxelSize[2]) : (1.0, 1.0, 1.0)
        for (path, idx, part) in [(train, trainIdx, "training"), (heldOut, heldIdx, "held-out")] {
            let w = try VolumeStoreWriter.create(path, volumeShape: s.volumeShape, classNames: s.classNames, voxelSize: vs,
                                                 normalization: s.normalization, space: s.space,
                                                 extraAttributes: ["kind": "\(part) split of \(store) (1 in \(heldOutEvery) per class held out)"])
            for i in idx {
                try w.append(try s.readVolume(i), label: s.labels[i], intensity: s.intensity(i),
                             sourceFile: i < s.sourceFiles.count ? s.sourceFiles[i] : "volume \(i)")
            }
            try w.commit()
        }
        return (trainIdx.count, heldIdx.count)
    }

    /// The training and held-out stores (built and split when missing).
    public static func cohort(_ r: Request) throws -> (train: String, heldOut: String, source: String) {
        try FileManager.default.createDirectory(atPath: r.dataDirectory, withIntermediateDirectories: true)
        let source: String
        if let c = r.cohortStore {
            guard FileManager.default.fileExists(atPath: c) else { throw BenchmarkError("--cohort: \(c) does not exist") }
            source = c
        } else {
            let name = "quality-cohort-\(r.subjects)-\(r.niftiShape.map(String.init).joined(separator: "x"))-\(r.voxelSize)mm-seed\(r.cohortSeed).h5"
            source = (r.dataDirectory as NSString).appendingPathComponent(name)
            if !FileManager.default.fileExists(atPath: source) {
                r.say("bench quality: building \(source) (\(r.subjects) subjects, equal classes, seed \(r.cohortSeed); once)")
                let plan = try CohortPlan(count: r.subjects, classNames: ["NC", "MCI", "AD"], proportions: nil, seed: r.cohortSeed)
                var req = CohortRequest(grid: .mni(niftiShape: r.niftiShape, voxelSize: r.voxelSize), plan: plan, outputPath: source)
                req.templatesDirectory = r.templatesDirectory
                let s = try PhantomCohort.build(req)
                r.say(String(format: "bench quality: cohort built in %.1f s", s.seconds))
            }
        }
        let stem = ((source as NSString).lastPathComponent as NSString).deletingPathExtension
        let train = (r.dataDirectory as NSString).appendingPathComponent(stem + "-train.h5")
        let held = (r.dataDirectory as NSString).appendingPathComponent(stem + "-heldout.h5")
        if !FileManager.default.fileExists(atPath: train) || !FileManager.default.fileExists(atPath: held) {
            let n = try split(source, train: train, heldOut: held)
            r.say("bench quality: split \(source): \(n.train) training, \(n.heldOut) held-out volumes")
        }
        return (train, held, source)
    }

    /// Trains for the budget with evaluations; the rows in order.
    public static func run(_ r: Request) throws -> (rows: [QualityRow], runDirectory: String, plot: String) {
        guard (r.budgetMinutes == nil) != (r.budgetSteps == nil) else { throw BenchmarkError("give one budget: --budget-minutes or --budget-steps") }
        let data = try cohort(r)
        var overrides = defaultSettings
        for (k, v) in r.settings { overrides[k] = v }
        overrides["data"] = .string(data.train)
        overrides["out"] = .string(r.runsDirectory)
        overrides["conditional"] = .bool(r.conditional)
        overrides["seed"] = .uint(r.seed)
        overrides["epochs"] = 1_000_000
        if let s = r.budgetSteps { overrides["max_steps"] = .int(s) }
        let cfg = try TrainConfig.resolve(model: r.model, preset: nil, yamlFile: r.configFile, overrides: overrides)
        let trainer = try Trainer(config: cfg)
        if let b = r.memoryBudgetBytes {
            let plan = try RecomputePlan.choose(trainer.model, batch: trainer.config.batch, budgetBytes: b)
            plan.apply(to: trainer.model)
        }
        var po = QualityProbe.Options(heldOut: data.heldOut, out: (trainer.runDirectory as NSString).appendingPathComponent("quality"))
        po.samplesPerClass = r.samplesPerClass
        po.seed = r.seed
        po.templatesDirectory = r.templatesDirectory
        po.train = data.train
        po.memoryBudget = r.memoryBudgetBytes
        po.log = r.log
        let probe = try QualityProbe(po, record: trainer.record)
        let plot = r.plot ?? (trainer.runDirectory as NSString).appendingPathComponent("quality_curve.png")
        let recorder = QualityRecorder(probe: probe, jsonl: (trainer.runDirectory as NSString).appendingPathComponent("quality.jsonl"), curve: plot)
        r.say("PETGAN \(PETGANVersion.string) quality benchmark: \(Parallel.threads) threads; machine: \(Machine.description)")
        r.say("bench quality: \(cfg.model.rawValue)\(cfg.conditional ? " conditional" : ""), G \(cfg.gChannels.map(String.init).joined(separator: "-")), "
              + "D \(cfg.dChannels.map(String.init).joined(separator: "-")), batch \(cfg.batch), n_critic \(cfg.nCritic), "
              + "G \(trainer.model.generator.parameterCount) + D \(trainer.model.discriminator.parameterCount) parameters; "
              + "\(trainer.data.count) training volumes \(trainer.data.itemShape.dropFirst().map(String.init).joined(separator: "×")), "
              + "\(probe.heldOutCount) held-out, \(probe.jobs.count) samples per evaluation (seeds \(po.firstSeed)…)")
        let budgetText = r.budgetMinutes.map { String(format: "%.1f training minutes", $0) } ?? "\(r.budgetSteps!) generator steps"
        let every = r.evalEveryMinutes ?? (r.budgetMinutes.map { $0 / 5 } ?? .infinity)
        r.say("bench quality: budget \(budgetText), evaluation every \(every.isFinite ? String(format: "%.2f", every) + " training minutes" : "(end only)"); run \(trainer.runDirectory)")
        func evaluate(_ step: Int) throws {
            let row = try recorder.record(model: trainer.model, step: step)
            r.say("bench quality: step \(step): " + QualityRecorder.summary(row))
        }
        try evaluate(0)
        var nextEval = every * 60
        var lastEvaluated = 0
        trainer.afterStep = { step in
            let t = recorder.trainingSeconds
            let done = r.budgetMinutes.map { t >= $0 * 60 } ?? (step >= r.budgetSteps!)
            if done || t >= nextEval {
                try evaluate(step)
                lastEvaluated = step
                while nextEval <= t { nextEval += every * 60 }
            }
            return done
        }
        _ = try trainer.run()
        // A step budget smaller than one epoch's bookkeeping can end the loop without the hook's last call.
        if lastEvaluated != trainer.step { try evaluate(trainer.step) }
        return (recorder.rows, trainer.runDirectory, plot)
    }

    /// `--compare`: overlays runs' rows (JSON arrays or quality.jsonl files) into one PNG; the
    /// table of last and best values.
    public static func compare(_ files: [String], out: String, x: QualityAxis) throws -> [String] {
        guard files.count >= 1 else { throw BenchmarkError("--compare needs at least one rows file") }
        let runs = try files.map { f in (name: (f as NSString).lastPathComponent, rows: try QualityRows.read(f)) }
        try QualityCurve.write(runs, x: x, to: out)
        return QualityCurve.table(runs, x: x) + ["wrote \(out)"]
    }
}
