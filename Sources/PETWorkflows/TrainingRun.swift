// `petgan train` and `petgan demo`: a training job with the progress bar, Ctrl-C handling and an
// optional memory budget (activation checkpointing chosen to fit).
import Foundation
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
        let trainer = try Trainer(config: cfg, resumeDirectory: o.resume, allowAnyShape: o.allowAnyShape)
        if let b = o.memoryBudget {
            let plan = try RecomputePlan.choose(trainer.model, batch: trainer.config.batch, budgetBytes: b)
            plan.apply(to: trainer.model)
            o.say("\(label): memory budget: \(plan)")
        }
        trainer.timeLimit = o.timeLimit
        let stepsPerEpoch = trainer.stepsPerEpoch, total = trainer.totalSteps
        let bar = ProgressReporter(label: label, total: total, startingAt: trainer.step, rateUnit: " it/s")
        trainer.onStep = { step, _, m, _ in
            let epoch = (step - 1) / stepsPerEpoch + 1, epochs = (total + stepsPerEpoch - 1) / stepsPerEpoch
            let losses = String(format: "D %.3f G %.3f", m.lossD, m.lossG) + (m.gradientPenalty != 0 ? String(format: " W %.3f", m.wasserstein) : "")
            bar.update(step, detail: "epoch \(epoch)/\(epochs) \(losses)")
        }
        trainer.onMessage = { msg in
            bar.breakLine()
            o.say("\(label): \(msg)")
        }
        o.say("\(label): run directory \(trainer.runDirectory)")
        let s = try trainer.run()
        bar.finish()
        o.say(String(format: "\(label): %d/%d steps in %.1f s (%.3f s per step)%@", s.steps, s.totalSteps, s.seconds, s.secondsPerStep,
                     s.interrupted ? " — interrupted, resume with --resume \(s.runDirectory)" : ""))
        o.say("\(label): checkpoint \(s.finalCheckpoint)")
        o.say("\(label): metrics \(s.runDirectory)/metrics.jsonl, loss curve \(s.runDirectory)/loss_curve.png, samples \(s.runDirectory)/samples/")
        return s
    }
}
