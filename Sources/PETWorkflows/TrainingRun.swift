// `petgan train` and `petgan demo`: a training job with the progress bar, Ctrl-C handling and an
// optional memory budget (activation checkpointing chosen to fit).
import Foundation
import PETMetrics
import PETModels
import PETTensor
import PETVolumes

public struct TrainingRunOptions {
    /// A run directory to continue from its checkpoints/latest.h5.
    public var resume: String? = nil
    /// Printed before every line ("train", "wgangp3d" …).
    public var label = "train"
    /// Stop after the step that passes this many seconds.
    public var timeLimit: Double? = nil
    /// Train within this memory: blocks are recomputed in backward until the estimated peak fits.
    public var memoryBudget: Int? = nil
    public var allowAnyShape = false
    /// A learning curve during training: evaluated on this held-out store every `qualityEvery`
    /// generator steps (and at step 0 and the last step) into <run>/quality.jsonl and quality_curve.png.
    public var qualityHeldOut: String? = nil
    public var qualityEvery = 0
    public var templatesDirectory: String? = nil
    /// Under mpirun / srun: batch-norm statistics over every rank's items (`--sync-bn`) instead of each rank's own.
    public var syncBatchNorm = false
    /// `--resume` with `--precision` / `--sync-bn` given again: they replace the run's own.
    public var resumeChanges = Trainer.ResumeChanges()
    /// Where the job's lines go (stdout in the tool).
    public var say: (String) -> Void = { print($0); fflush(stdout) }
    public init() {}
}

public enum TrainingRun {
    /// Runs a training job with the progress bar on stderr. A Ctrl-C saves a checkpoint and ends
    /// the run early (`interrupted`).
    @discardableResult
    public static func run(_ cfg: TrainConfig, options o: TrainingRunOptions = TrainingRunOptions()) throws -> TrainSummary {
        InterruptFlag.reset()
        InterruptFlag.install()
        let label = o.label
        // Under mpirun / srun every rank runs this job on its share of each batch; only rank 0 speaks.
        let parallel = try DataParallel.job(syncBatchNorm: o.syncBatchNorm)
        var o = o
        if let dp = parallel, dp.rank != 0 { o.say = { _ in } }
        var cfg = cfg
        var slabNote: String? = nil
        if o.resume == nil, let b = o.memoryBudget, cfg.model.family.layout == .hierarchical, cfg.slabDepthValue == 0 {
            // hagan3d's automatic slab: smaller only when recomputing every block does not fit.
            let data = try TrainingData(path: cfg.data, model: cfg.model, classFilter: cfg.classFilter)
            if let d = try RecomputePlan.slabDepth(config: cfg, geometry: Trainer.geometry(cfg, data: data), batch: cfg.batch / (parallel?.size ?? 1), budgetBytes: b) {
                cfg.slabDepth = d
                slabNote = "memory budget: slab_depth \(d) (the default slab does not fit \(formatBytes(b)) even with every block recomputed; set slab_depth to choose another)"
            }
        }
        let trainer = try Trainer(config: cfg, resumeDirectory: o.resume, allowAnyShape: o.allowAnyShape, dataParallel: parallel,
                                  resumeChanges: o.resumeChanges)
        // The run's own precision (a resumed bf16 run stays bf16 unless --precision is given again).
        ConvPrecision.current = trainer.config.convPrecision
        if let dp = parallel {
            o.say("\(label): data parallel: \(dp.size) ranks × \(Parallel.threads) threads, \(trainer.config.batch / dp.size) of each batch of \(trainer.config.batch) per rank, "
                  + "batch norm \(dp.syncBatchNorm ? "synchronised over the ranks (--sync-bn)" : "per rank")")
        }
        let rankBatch = trainer.config.batch / (parallel?.size ?? 1)
        var memoryPlan: RecomputePlan? = nil
        if let n = slabNote { o.say("\(label): \(n)") }
        if let b = o.memoryBudget {
            let plan = try RecomputePlan.choose(trainer.model, batch: rankBatch, budgetBytes: b)
            plan.apply(to: trainer.model)
            o.say("\(label): memory budget: \(plan)")
            memoryPlan = plan
        }
        trainer.timeLimit = o.timeLimit
        let stepsPerEpoch = trainer.stepsPerEpoch, total = trainer.totalSteps
        let bar = ProgressReporter(label: label, total: total, startingAt: trainer.step, rateUnit: " it/s")
        if trainer.writesOutputs { trainer.onStep = { step, _, m, _ in
            let epoch = (step - 1) / stepsPerEpoch + 1, epochs = (total + stepsPerEpoch - 1) / stepsPerEpoch
            let losses = String(format: "D %.3f G %.3f", m.lossD, m.lossG) + (m.gradientPenalty != 0 ? String(format: " W %.3f", m.wasserstein) : "")
                + (m.augmentProbability.map { String(format: " aug p %.3f", $0) } ?? "")
            bar.update(step, detail: "epoch \(epoch)/\(epochs) \(losses)")
        } }
        trainer.onMessage = { msg in
            bar.breakLine()
            o.say("\(label): \(msg)")
        }
        o.say("\(label): run directory \(trainer.runDirectory)")
        if trainer.writesOutputs {
            let file = (trainer.runDirectory as NSString).appendingPathComponent(LearningCurveSettings.fileName)
            if o.resume != nil, o.qualityHeldOut == nil, let saved = try LearningCurveSettings.load(file) {
                // A resumed run keeps its learning curve without the options given again.
                o.qualityHeldOut = saved.heldOut
                o.qualityEvery = saved.every
                if o.templatesDirectory == nil { o.templatesDirectory = saved.templates }
                o.say("\(label): learning curve continues every \(saved.every) steps against \(saved.heldOut) (\(file); --eval-every / --eval-data replace it)")
            }
            if let held = o.qualityHeldOut {
                try LearningCurveSettings(heldOut: absolutePath(held), every: max(1, o.qualityEvery), templates: o.templatesDirectory.map(absolutePath)).save(file)
            }
        }
        if let held = o.qualityHeldOut, trainer.writesOutputs {
            let recorder = try qualityRecorder(trainer, heldOut: held, options: o)
            let every = max(1, o.qualityEvery), total = trainer.totalSteps
            func evaluate(_ step: Int) throws {
                bar.breakLine()
                let r = try recorder.record(model: trainer.model, step: step)
                o.say("\(label): quality at step \(step): " + QualityRecorder.summary(r))
            }
            if trainer.step == 0 && recorder.rows.isEmpty {
                try evaluate(0)
                bar.restartClock(at: 0)
            }
            trainer.afterStep = { step in
                if step % every == 0 || step == total { try evaluate(step) }
                return false
            }
        }
        if var plan = memoryPlan {
            // Measured from here: the step-0 quality evaluation above is not part of a step.
            _ = resetPeakResident()
            // The estimate models a step's tensors; the first step measures the process. Above the
            // budget, choose again with the estimate scaled by what was measured (recomputation changes
            // no result, so the plan may change mid-run).
            let first = trainer.step + 1, inner = trainer.afterStep
            trainer.afterStep = { step in
                if step == first {
                    let peak = peakResidentBytes()
                    do {
                        if let more = try plan.recalibrated(trainer.model, batch: rankBatch, measuredPeakBytes: peak) {
                            more.apply(to: trainer.model)
                            trainer.onMessage?("memory budget: step \(step) peaked at \(formatBytes(peak)) resident, over the budget; chose again: \(more)")
                            plan = more
                        } else {
                            trainer.onMessage?("memory budget: step \(step) peaked at \(formatBytes(peak)) resident, within \(formatBytes(plan.budgetBytes ?? 0))")
                        }
                    } catch {
                        bar.breakLine()
                        FileHandle.standardError.write(Data("petgan: warning: step \(step) peaked at \(formatBytes(peak)) resident, over --memory-budget, and recomputing more cannot fit it: \(error)\n".utf8))
                    }
                }
                return try inner?(step) ?? false
            }
        }
        let s = try trainer.run()
        if trainer.writesOutputs { bar.finish() }
        o.say(String(format: "\(label): %d/%d steps in %.1f s (%.3f s per step)%@", s.steps, s.totalSteps, s.seconds, s.secondsPerStep,
                     s.interrupted ? " — interrupted, resume with --resume \(s.runDirectory)" : ""))
        o.say("\(label): checkpoint \(s.finalCheckpoint)")
        o.say("\(label): metrics \(s.runDirectory)/metrics.jsonl, loss curve \(s.runDirectory)/loss_curve.png, samples \(s.runDirectory)/samples/")
        if o.qualityHeldOut != nil { o.say("\(label): learning curve \(s.runDirectory)/quality.jsonl, \(s.runDirectory)/quality_curve.png") }
        return s
    }

    static func absolutePath(_ p: String) -> String {
        p.hasPrefix("/") ? p : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(p)
    }

    /// The run's learning-curve recorder. A resumed run keeps the rows up to its checkpoint's step
    /// (later ones are recomputed, as metrics.jsonl's are) and continues their clock: training time
    /// between the last kept row and the interruption is not counted.
    static func qualityRecorder(_ trainer: Trainer, heldOut: String, options o: TrainingRunOptions) throws -> QualityRecorder {
        var po = QualityProbe.Options(heldOut: heldOut, out: (trainer.runDirectory as NSString).appendingPathComponent("quality"))
        po.seed = trainer.config.seed
        po.memoryBudget = o.memoryBudget
        po.templatesDirectory = o.templatesDirectory
        po.train = trainer.config.data
        let probe = try QualityProbe(po, record: trainer.record)
        let file = (trainer.runDirectory as NSString).appendingPathComponent("quality.jsonl")
        var previous: [QualityRow] = []
        if FileManager.default.fileExists(atPath: file) {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            if !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                previous = try QualityRows.read(file).filter { $0.step <= trainer.step }
            }
        }
        return QualityRecorder(probe: probe, jsonl: file, curve: (trainer.runDirectory as NSString).appendingPathComponent("quality_curve.png"),
                               previous: previous)
    }
}

/// A run's learning-curve options (`--eval-every`, `--eval-data`, `--templates`), kept in the run
/// directory so that `--resume` continues the curve without them (paths absolute: a resume may run
/// from another directory).
public struct LearningCurveSettings: Codable, Equatable {
    public static let fileName = "learning_curve.json"
    public var heldOut: String
    public var every: Int
    public var templates: String?

    enum CodingKeys: String, CodingKey { case heldOut = "held_out", every, templates }

    /// The saved settings, nil when the run has none; a file that cannot be used is an error naming it.
    public static func load(_ file: String) throws -> LearningCurveSettings? {
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        let s: LearningCurveSettings
        do { s = try JSONDecoder().decode(LearningCurveSettings.self, from: Data(contentsOf: URL(fileURLWithPath: file))) } catch {
            throw TrainError.runDirectory(path: file, reason: "not the run's learning-curve settings (\(error)); give --eval-every N --eval-data HELD_OUT.h5 again, or delete the file to resume without a curve")
        }
        guard s.every >= 1 else { throw TrainError.runDirectory(path: file, reason: "every must be at least 1, got \(s.every)") }
        guard FileManager.default.fileExists(atPath: s.heldOut) else {
            throw TrainError.runDirectory(path: file, reason: "the learning curve's held-out store \(s.heldOut) no longer exists; give --eval-data with --eval-every to continue the curve, or delete the file to resume without one")
        }
        return s
    }

    /// Written to a temporary name and renamed.
    public func save(_ file: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try e.encode(self).write(to: URL(fileURLWithPath: file), options: .atomic)
    }
}
