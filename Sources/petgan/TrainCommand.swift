import ArgumentParser
import Foundation
import PETDistributed
import PETModels
import PETTensor
import PETWorkflows

/// `petgan train`: trains a GAN on a volume store (3D) or slice store (2D) into a numbered run directory.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a GAN (\(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")); per class or class-conditional).",
        discussion: """
        Settings are resolved as: the model's defaults, then --preset, then the YAML --config file, then \
        the options given here (and --set key=value for any other setting). The resolved configuration is \
        written to <run>/config.yaml; --dry-run prints it (with the layer shapes) and exits. A run writes \
        metrics.jsonl, loss_curve.png, samples/epoch-NNNN.png (fixed noise), checkpoints/latest.h5 and \
        final.h5 and train.log. Ctrl-C saves a checkpoint and stops; --resume RUN_DIR continues exactly \
        (bitwise with one thread). Under `mpirun -np N` (or `srun`) the ranks train one model on equal \
        shares of each global --batch (--threads per rank; docs/SCALING.md). YAML keys: \(TrainConfig.keys.joined(separator: ", ")).
        """)

    @Option(help: "Training data: a PETVolumes HDF5 store (3D volumes; for dcgan2d a slice store from `petgan phantom --slices axial`).")
    var data: String?
    @Option(help: "Model: \(ModelKind.helpList).")
    var model: ModelKind?
    @Option(help: "Preset: paper2d (Islam & Zhang 2020: the paper's layer shapes and hyper-parameters, 500 epochs; needs 128×128×3 slices).")
    var preset: String?
    @Flag(name: .customLong("allow-any-shape"), help: "Train a preset on items of another shape than the one its paper used (paper2d: 128×128×3).")
    var allowAnyShape = false
    @Flag(help: "One model for every class: one-hot class joined to z and given to the discriminator as class channels.")
    var conditional = false
    @Option(name: .customLong("class"), help: "Train on one class only (the paper's one model per class), e.g. AD.")
    var classFilter: String?
    @Option(help: "Epochs (passes over the training items by the discriminator).")
    var epochs: Int?
    @Option(help: "Batch size.")
    var batch: Int?
    @Option(name: .customLong("max-steps"), help: "Stop after this many generator steps (0: all epochs).")
    var maxSteps: Int?
    @Option(help: "Folder for the numbered run directories.")
    var out: String?
    @Option(help: "YAML file with any settings (see the key list above).")
    var config: String?
    @Option(help: "Continue the run in this directory from its checkpoints/latest.h5 (its own configuration; --epochs / --max-steps may extend it).")
    var resume: String?
    @Option(help: "Seed of the run's random streams (initialization, noise, data order).")
    var seed: UInt64?
    @OptionGroup var runtime: RuntimeOptions<TrainBudget>
    @OptionGroup var precision: PrecisionOptions
    @Option(name: .customLong("set"), help: "Override any setting, key=value (repeatable), e.g. --set lr_g=2e-4 --set g_channels=64,32,16.")
    var settings: [String] = []
    @Option(name: .customLong("eval-every"), help: "Learning curve: every N generator steps (and at step 0 and the last step) generate samples from fixed seeds and evaluate them against --eval-data; rows in <run>/quality.jsonl, curve in <run>/quality_curve.png (evaluation time is reported in each row and not counted as training time). Kept in <run>/learning_curve.json: --resume continues the curve without it.")
    var evalEvery: Int?
    @Option(name: .customLong("eval-data"), help: "Held-out real volume store for --eval-every (same grid as the training data, not used for training).")
    var evalData: String?
    @Option(help: "Folder with the templates for the learning curve's regional statistics (default: $PETGAN_TEMPLATES or Volumes/templates).")
    var templates: String?
    @Option(help: "Differentiable augmentation of the discriminator's real and generated inputs (DiffAugment-style, every model): a comma list of translation[=0.125] (fraction of a side), cutout[=0.5] (box side fraction), intensity[=0.2] (uptake scale ±), flip-lr[=0.5] (probability; off unless asked: hemispheric asymmetry matters in AD); translation and cutout fill with the background −1. Add adaptive[=0.6] to apply each op per sample with a probability adjusted from the discriminator's overfitting signal r_t = E[sign(D(real))] towards that target (ADA; --set augment_speed=IMAGES, default 5000: real images for the probability to go from 0 to 1; r_t and augment_p in metrics.jsonl). 'none' turns it off.")
    var augment: String?
    @Option(name: .customLong("g-ema"), help: "Keep an exponential moving average of the generator's weights with this decay (e.g. 0.999; ramp-up min(decay, (1+t)/(10+t)); 0: none; fastgan models default to 0.999). generate and the quality figures sample it; generate --raw samples the raw weights.")
    var gEMA: Double?
    @Flag(name: .customLong("sync-bn"), help: "Under mpirun/srun: batch-norm statistics over the whole global batch (every rank's items) rather than each rank's share; then the number of ranks does not change the training. Kept in the run's configuration: --resume continues with it.")
    var syncBN = false
    @Flag(name: .customLong("dry-run"), help: "Print the resolved configuration and the layer shapes, then exit.")
    var dryRun = false

    func validate() throws {
        if let e = epochs, e < 1 { throw ValidationError("--epochs must be at least 1") }
        if let b = batch, b < 1 { throw ValidationError("--batch must be at least 1") }
        if conditional && classFilter != nil { throw ValidationError("--conditional trains one model for every class; --class trains one class: choose one") }
        if resume == nil && data == nil && config == nil { throw ValidationError("--data is required (or --config with a data setting, or --resume RUN_DIR)") }
        if let n = evalEvery, n < 1 { throw ValidationError("--eval-every must be at least 1 (generator steps between evaluations)") }
        if evalEvery != nil && evalData == nil { throw ValidationError("--eval-every needs --eval-data HELD_OUT.h5 (the held-out real store the samples are compared with)") }
        if evalData != nil && evalEvery == nil { throw ValidationError("--eval-data is only used with --eval-every N") }
        if let e = evalData, !FileManager.default.fileExists(atPath: e) { throw ValidationError("--eval-data: \(e) does not exist") }
        for s in settings where !s.contains("=") { throw ValidationError("--set expects key=value (got '\(s)')") }
        if resume != nil {
            // A resumed run keeps its own settings (its config.yaml); these would be ignored silently.
            let fixed: [(String, Bool)] = [("--data", data != nil), ("--model", model != nil), ("--preset", preset != nil), ("--conditional", conditional),
                                           ("--class", classFilter != nil), ("--batch", batch != nil), ("--out", out != nil), ("--config", config != nil),
                                           ("--seed", seed != nil), ("--augment", augment != nil), ("--g-ema", gEMA != nil), ("--set", !settings.isEmpty),
                                           ("--allow-any-shape", allowAnyShape), ("--dry-run", dryRun)]
            let given = fixed.filter(\.1).map(\.0)
            if !given.isEmpty {
                throw ValidationError("--resume continues a run with its own settings (RUN_DIR/config.yaml), so \(given.joined(separator: ", ")) cannot be given with it; "
                                      + "a resumed run takes --epochs, --max-steps, --threads, --memory-budget, --precision, --sync-bn and the learning-curve options. Start a new run to change the others.")
            }
        }
    }

    func overrides() -> [String: SettingValue] {
        var o: [String: SettingValue] = [:]
        if let d = data { o["data"] = .string(d) }
        if conditional { o["conditional"] = true }
        if let c = classFilter { o["class"] = .string(c) }
        if let e = epochs { o["epochs"] = .int(e) }
        if let b = batch { o["batch"] = .int(b) }
        if let m = maxSteps { o["max_steps"] = .int(m) }
        if let p = out { o["out"] = .string(p) }
        if let s = seed { o["seed"] = .uint(s) }
        if let t = runtime.threads { o["threads"] = .int(t) }
        if let a = augment { o["augment"] = .string(a) }
        if let e = gEMA { o["g_ema"] = .double(e) }
        if let p = precision.precision { o["precision"] = .string(p.rawValue) }
        if syncBN { o["sync_bn"] = true }
        for s in settings {
            let parts = s.split(separator: "=", maxSplits: 1).map(String.init)
            o[parts[0].trimmingCharacters(in: .whitespaces)] = .string(parts.count > 1 ? parts[1] : "")
        }
        return o
    }

    func run() throws {
        try runReportingErrors {
            precision.apply()
            let cfg: TrainConfig
            if resume != nil {
                var c = TrainConfig()
                c.epochs = epochs ?? 0
                c.maxSteps = maxSteps ?? 0
                c.threads = runtime.threads ?? 0
                cfg = c
            } else {
                cfg = try TrainConfig.resolve(model: model, preset: preset, yamlFile: config, overrides: overrides())
            }
            if dryRun {
                print(try cfg.yaml(), terminator: "")
                if FileManager.default.fileExists(atPath: cfg.data) {
                    let d = try TrainingData(path: cfg.data, model: cfg.model, classFilter: cfg.classFilter)
                    try Trainer.checkPresetShape(cfg, data: d, allowAnyShape: allowAnyShape)
                    try printLayers(cfg, data: d)
                } else if !cfg.data.isEmpty {
                    print("# (data \(cfg.data) not found: layer shapes need the data's grid)")
                }
                return
            }
            // Ctrl-C: the checkpoint is saved; status 130 tells scripts the run did not finish.
            var o = TrainingRunOptions()
            o.resume = resume
            o.memoryBudget = runtime.memoryBudget?.bytes
            o.allowAnyShape = allowAnyShape
            o.qualityHeldOut = evalData
            o.qualityEvery = evalEvery ?? 0
            o.templatesDirectory = templates
            o.syncBatchNorm = syncBN
            o.resumeChanges = Trainer.ResumeChanges(precision: precision.precision, syncBatchNorm: syncBN ? true : nil)
            if try endingTheJobOnFailure({ try TrainingRun.run(cfg, options: o) }).interrupted { throw ExitCode(130) }
        }
    }

    /// Under MPI, a failure must end every rank, not leave the others waiting in a collective. Errors
    /// every rank meets alike (refused start-up, divergence) end the job cleanly with rank 0's message;
    /// any other error names this rank and aborts the job (mpirun / srun stop the other ranks).
    func endingTheJobOnFailure<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch {
            guard let group = ProcessGroup.current else { throw error }
            let collective = error is DataParallelError || { if case TrainError.nonFinite = error { return true }; return false }()
            if collective {
                let mine: Bool = { if case let DataParallelError.mismatch(_, r, _, _) = error { return r == group.rank }; return false }()
                if group.isRoot || mine {
                    FileHandle.standardError.write("petgan: error: \(group.isRoot ? "" : "rank \(group.rank): ")\(error)\n".data(using: .utf8)!)
                }
                group.finalize()
                throw ExitCode(1)
            }
            FileHandle.standardError.write("petgan: error: rank \(group.rank) of \(group.size) failed, ending the job: \(error)\n".data(using: .utf8)!)
            group.abort(code: 1)
        }
    }

    func printLayers(_ cfg: TrainConfig, data d: TrainingData) throws {
        let g = NetworkGeometry(dims: cfg.model.isThreeD ? 3 : 2, channels: d.itemShape[0], imageShape: Array(d.itemShape.dropFirst()),
                                layers: cfg.gChannels.count, conditionalClasses: cfg.conditional ? d.info.classNames.count : 0)
        var rng = PETRandom(seed: cfg.seed)
        let m = try GANModel(config: cfg, geometry: g, rng: &rng)
        print("# data: \(d.count) items of shape \(d.itemShape), classes \(d.info.classNames.joined(separator: ", "))")
        print("# steps per epoch: \(max(1, d.count / (cfg.batch * cfg.nCritic)))")
        print("# layer outputs (batch 2):")
        for (name, shape) in try m.layerTable() { print("#   \(name): \(shape.map(String.init).joined(separator: "×"))") }
        print("# parameters: G \(m.generator.parameterCount), D \(m.discriminator.parameterCount)")
    }
}
