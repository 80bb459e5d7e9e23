import Foundation
import PETAutograd
import PETTensor
import PETVolumes

/// Why a run stopped early.
public enum TrainError: Error, CustomStringConvertible {
    case nonFinite(step: Int, metrics: String, checkpoint: String?)
    case runDirectory(path: String, reason: String)
    case resume(path: String, reason: String)
    /// The data do not have the shape a preset's recipe is for.
    case dataShape(path: String, reason: String)

    public var description: String {
        switch self {
        case let .nonFinite(step, metrics, ckpt):
            return "training diverged: a loss or gradient is NaN or infinite at step \(step + 1) (\(metrics)); "
                + (ckpt.map { "the last good checkpoint is kept: \($0) (lower the learning rates and --resume from it)" } ?? "no checkpoint was written yet")
        case let .runDirectory(p, r): return "\(p): \(r)"
        case let .resume(p, r): return "cannot resume \(p): \(r)"
        case let .dataShape(p, r): return "\(p): \(r)"
        }
    }
}

/// SIGINT (Ctrl-C) handling: the first press asks the trainer to save a checkpoint and stop after the
/// current step; a second press exits at once.
public enum InterruptFlag {
    nonisolated(unsafe) static var requested: Int32 = 0
    public static var isRequested: Bool { requested != 0 }
    public static func request() { requested = 1 }
    public static func reset() { requested = 0 }

    public static func install() {
        signal(SIGINT) { _ in
            if InterruptFlag.requested != 0 { _exit(130) }
            InterruptFlag.requested = 1
            let msg = "\npetgan: interrupted: saving a checkpoint after this step (press Ctrl-C again to quit at once)\n"
            msg.withCString { _ = write(STDERR_FILENO, $0, strlen($0)) }
        }
    }
}

/// What a finished (or stopped) run reports.
public struct TrainSummary {
    public var runDirectory: String
    public var steps: Int
    public var totalSteps: Int
    public var epochs: Int
    public var seconds: Double
    public var secondsPerStep: Double
    public var interrupted: Bool
    public var lastMetrics: StepMetrics?
    public var finalCheckpoint: String
}

/// Trains a GAN from a resolved configuration into a numbered run directory.
///
/// Run directory: config.yaml (resolved), metrics.jsonl (one JSON object per generator step),
/// loss_curve.png, samples/epoch-NNNN.png (fixed-noise montage each epoch), checkpoints/latest.h5
/// (every `checkpoint_every` steps and at each epoch end) and final.h5, train.log.
///
/// Random streams (all from the seed, all saved in checkpoints): "init" builds the weights, "noise"
/// draws z and the penalty's interpolation weights, "data" shuffles the items at each epoch start.
/// Step s of epoch e uses items perm_e[(b·B + j) mod N] for its critic batches b, so a resumed run
/// reads exactly the batches the uninterrupted one would.
public final class Trainer {
    public let config: TrainConfig
    public let runDirectory: String
    public let data: TrainingData
    public let model: GANModel
    public let record: RunRecord
    public let stepsPerEpoch: Int
    public let totalSteps: Int
    public private(set) var step = 0
    var noiseRng: PETRandom
    var dataEpochStart: PETRandom
    var permutation: [Int] = []
    let fixedNoise: Tensor
    let fixedLabels: [Int]
    var log: FileHandle?
    /// Called after every step (the command prints the progress bar from it).
    public var onStep: ((Int, Int, StepMetrics, Double) -> Void)?
    /// Called for messages (checkpoints, epochs); also written to train.log.
    public var onMessage: ((String) -> Void)?
    /// Wall-clock budget in seconds: the run ends (normally, with final.h5) after the step that
    /// passes it. For demos; a time-limited run is not reproducible step for step.
    public var timeLimit: Double?
    /// Called between steps, after a step's checkpoint and plots (learning-curve evaluations run
    /// here); returning true ends the run normally after this step (final.h5 written).
    public var afterStep: ((Int) throws -> Bool)?
    /// Data-parallel training over MPI ranks (nil: this process alone). Rank 0 alone writes the run
    /// directory's files; every rank runs every step (DataParallel.swift).
    public let dataParallel: DataParallel?
    /// False on ranks other than 0 of a data-parallel job: they write nothing.
    public var writesOutputs: Bool { (dataParallel?.rank ?? 0) == 0 }

    /// Refuses data whose items are not the shape the configuration's preset was stated for
    /// (paper2d: 128×128×3 slices), unless `allowAnyShape`.
    public static func checkPresetShape(_ config: TrainConfig, data: TrainingData, allowAnyShape: Bool) throws {
        guard !allowAnyShape, let want = TrainConfig.presetItemShape(config.preset), data.itemShape != want else { return }
        // (C, H, W) shown as the paper writes it: H×W×C.
        func paper(_ s: [Int]) -> String { (s.dropFirst().map(String.init) + [String(s[0])]).joined(separator: "×") }
        throw TrainError.dataShape(path: data.info.path, reason: "preset \(config.preset) is the paper's recipe for \(paper(want)) slices, "
            + "but this store's items are \(paper(data.itemShape)); make \(paper(want)) slices (`petgan phantom --slices axial`, or "
            + "`petgan prepare ... --slices axial`; both default to 3 channels of 128×128), or pass --allow-any-shape to train the preset on these items")
    }

    /// Sets up a new run (numbered directory under `config.out`) or resumes `resumeDirectory`.
    /// A new run with a preset refuses data of another shape than the preset's (see
    /// `checkPresetShape`) unless `allowAnyShape`; a resumed run was checked when it started.
    /// Settings a resumed run may change when they are given again (nil: the run's own).
    public struct ResumeChanges {
        public var precision: ConvPrecision?
        public var syncBatchNorm: Bool?
        public init(precision: ConvPrecision? = nil, syncBatchNorm: Bool? = nil) {
            self.precision = precision; self.syncBatchNorm = syncBatchNorm
        }
    }

    /// The networks' geometry for `config` on `data` (its item shape and class count).
    public static func geometry(_ config: TrainConfig, data: TrainingData) throws -> NetworkGeometry {
        let g = NetworkGeometry(dims: config.model.isThreeD ? 3 : 2, channels: data.itemShape[0], imageShape: Array(data.itemShape.dropFirst()),
                                layers: config.gChannels.count, conditionalClasses: config.conditional ? data.info.classNames.count : 0)
        try g.validate()
        return g
    }

    public init(config c: TrainConfig, resumeDirectory: String? = nil, allowAnyShape: Bool = false, dataParallel: DataParallel? = nil,
                resumeChanges: ResumeChanges = ResumeChanges()) throws {
        self.dataParallel = dataParallel
        if c.threads > 0 { Parallel.setThreads(c.threads) } else if let dp = dataParallel { Parallel.setThreads(DataParallel.defaultThreads(dp.group)) }
        var config = c
        if let r = resumeDirectory {
            // The run's own configuration wins; only the length of the run may be extended.
            let ck = Trainer.latestCheckpoint(in: r)
            guard FileManager.default.fileExists(atPath: ck) else {
                throw TrainError.resume(path: r, reason: "no checkpoint at \(ck)")
            }
            if let dp = dataParallel {
                // Every rank must continue from the same file (a shared file system, not node-local copies).
                let hex = try SHA256.hex(file: ck)
                try dp.requireSame(Array(hex.utf8), what: "checkpoint \(ck)", detail: "SHA-256 \(hex.prefix(16))…")
            }
            let saved = try Checkpoint.load(from: ck)
            var rec = try RunRecord.parse(saved.configJSON, file: ck)
            rec.config.epochs = max(rec.config.epochs, c.epochs)
            if c.maxSteps > 0 { rec.config.maxSteps = c.maxSteps }
            if c.threads > 0 { rec.config.threads = c.threads }
            // Arithmetic and batch-norm reduction may be changed on resume (given again explicitly).
            if let p = resumeChanges.precision { rec.config.precision = p.rawValue }
            if let s = resumeChanges.syncBatchNorm { rec.config.syncBN = s }
            config = rec.config
        }
        self.config = config
        data = try TrainingData(path: config.data, model: config.model, classFilter: config.classFilter)
        if resumeDirectory == nil { try Trainer.checkPresetShape(config, data: data, allowAnyShape: allowAnyShape) }
        let geometry = try Trainer.geometry(config, data: data)
        var initRng = PETRandom(seed: config.seed)
        model = try GANModel(config: config, geometry: geometry, rng: &initRng)
        record = RunRecord(config: config, geometry: geometry, data: data.info)
        if let dp = dataParallel {
            if let why = dp.batchRefusal(config.batch) { throw DataParallelError.batch(why) }
            // FastGAN's decoder crops draw per item on each rank's own stream, so the training would
            // depend on the number of ranks: refused until those draws are sharded like the noise,
            // the augmentation's and the penalty's (GANModel.batchNoise, augmented, shardedPenalty).
            if dp.size > 1 && model.discriminator is FastGANDiscriminator {
                throw DataParallelError.unsupported("\(config.model.rawValue) is not supported under mpirun yet (its decoder's random crops are not split over ranks); train it in one process")
            }
            try Trainer.requireSameSetup(dp, config: config, data: data)
            dp.syncBatchNorm = config.synchronisedBatchNorm
            model.dataParallel = dp
        }
        stepsPerEpoch = max(1, data.count / (config.batch * config.nCritic))
        let all = config.epochs * stepsPerEpoch
        totalSteps = config.maxSteps > 0 ? min(all, config.maxSteps) : all
        noiseRng = PETRandom(seed: config.seed &+ 0x6E6F_6973_6500)
        dataEpochStart = PETRandom(seed: config.seed &+ 0x6461_7461_0000)
        dataRng = dataEpochStart
        var fixedRng = PETRandom(seed: config.seed &+ 0x6669_7865_6400)
        let nFixed = config.sampleCount
        fixedNoise = model.sampleNoise(nFixed, rng: &fixedRng)
        let classes = geometry.conditionalClasses
        let firstLabel = data.labels.first ?? 0
        fixedLabels = (0..<nFixed).map { classes > 0 ? $0 % classes : firstLabel }

        if let r = resumeDirectory {
            runDirectory = r
            try restore(from: Trainer.latestCheckpoint(in: r))
        } else if let dp = dataParallel, dp.rank != 0 {
            runDirectory = try dp.group.broadcast("")   // rank 0 numbered it
            return
        } else {
            runDirectory = try Trainer.makeRunDirectory(parent: config.out, tag: config.runTag)
            try config.yaml().write(toFile: (runDirectory as NSString).appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
            if let dp = dataParallel { _ = try dp.group.broadcast(runDirectory) }
        }
        guard writesOutputs else { return }
        try FileManager.default.createDirectory(atPath: path("checkpoints"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: path("samples"), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path("train.log")) { _ = FileManager.default.createFile(atPath: path("train.log"), contents: nil) }
        log = FileHandle(forWritingAtPath: path("train.log"))
        log?.seekToEndOfFile()
        try trimMetrics()
    }

    deinit { try? log?.close() }

    func path(_ name: String) -> String { (runDirectory as NSString).appendingPathComponent(name) }

    public static func latestCheckpoint(in run: String) -> String {
        ((run as NSString).appendingPathComponent("checkpoints") as NSString).appendingPathComponent("latest.h5")
    }

    /// Creates `parent/NNNNN-tag`, numbered one past the highest existing run.
    public static func makeRunDirectory(parent: String, tag: String) throws -> String {
        do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
            throw TrainError.runDirectory(path: parent, reason: "cannot create the runs folder: \(error.localizedDescription)")
        }
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        var n = (existing.compactMap { name -> Int? in
            let digits = name.prefix { $0.isNumber }
            return digits.count == 5 ? Int(digits) : nil
        }.max() ?? 0) + 1
        while true {
            let dir = (parent as NSString).appendingPathComponent(String(format: "%05d-", n) + tag)
            // mkdir fails if another process took the number first: try the next one.
            if mkdir(dir, 0o755) == 0 { return dir }
            if errno != EEXIST { throw TrainError.runDirectory(path: dir, reason: String(cString: strerror(errno))) }
            n += 1
        }
    }

    // MARK: checkpoints

    static let rngNames: Set<String> = ["noise", "data"]

    func checkpoint() throws -> Checkpoint {
        Checkpoint(tensors: model.tensors(),
                          optimizers: ["optG": model.optG.state(), "optD": model.optD.state()],
                          rngs: ["noise": noiseRng, "data": dataEpochStart],
                          epoch: step / stepsPerEpoch, step: step, configJSON: try record.json())
    }

    /// Writes checkpoints/latest.h5 (and a copy as `extra` when given).
    @discardableResult
    func saveCheckpoint(extra: String? = nil) throws -> String {
        let latest = Trainer.latestCheckpoint(in: runDirectory)
        if let dp = dataParallel {
            // Every rank holds the same weights (same averaged gradients); a rank that drifted
            // (an MPI library whose reduction differs by rank) is an error, not a silent fork.
            let digest = weightsDigest()
            try dp.requireSame(Array(digest.utf8), what: "weights at step \(step)", detail: "digest \(digest.prefix(16))…")
            guard writesOutputs else { return latest }
        }
        let c = try checkpoint()
        try c.save(to: latest)
        if let e = extra { try c.save(to: path("checkpoints/" + e)) }
        return latest
    }

    func restore(from file: String) throws {
        var m = model.manifest(optimizers: true, rngs: Trainer.rngNames)
        m.optimizers = [:]
        let c = try Checkpoint.load(from: file, expecting: nil)
        var tensorCheck = c
        tensorCheck.optimizers = [:]
        try tensorCheck.check(against: m, file: file)
        try model.load(tensors: c.tensors)
        for (name, opt) in [("optG", model.optG), ("optD", model.optD)] {
            guard let state = c.optimizers[name] else { throw TrainError.resume(path: file, reason: "optimizer \(name) is missing") }
            try opt.load(state)
        }
        guard let n = c.rngs["noise"], let d = c.rngs["data"] else { throw TrainError.resume(path: file, reason: "random generator states are missing") }
        noiseRng = n
        dataEpochStart = d
        step = c.step
        model.ema?.updates = c.step
        if step > 0 {
            // Rebuild the permutation of the epoch that was running.
            var r = dataEpochStart
            permutation = Array(0..<data.count)
            r.shuffle(&permutation)
            dataRng = r
        }
    }

    var dataRng = PETRandom(seed: 0)

    // MARK: metrics

    /// On resume, drops metric lines past the checkpoint's step (they will be recomputed).
    func trimMetrics() throws {
        let file = path("metrics.jsonl")
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return }
        let keep = text.split(separator: "\n").filter { line in
            guard let d = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let s = d["step"] as? Int else { return false }
            return s <= step
        }
        try (keep.joined(separator: "\n") + (keep.isEmpty ? "" : "\n")).write(toFile: file, atomically: true, encoding: .utf8)
    }

    func appendMetrics(_ m: StepMetrics, seconds: Double, itPerSecond: Double) {
        guard writesOutputs else { return }
        var row: [String: Any] = ["step": step, "epoch": (step - 1) / stepsPerEpoch + 1, "loss_d": m.lossD, "loss_g": m.lossG,
                                  "d_real": m.dReal, "d_fake": m.dFake, "wasserstein": m.wasserstein, "gp": m.gradientPenalty,
                                  "grad_norm_d": m.gradNormD, "grad_norm_g": m.gradNormG, "acc_d": m.accuracyD,
                                  "it_s": itPerSecond, "seconds": seconds]
        if model.discriminator is FastGANDiscriminator { row["recon"] = m.reconstruction }
        row["r_t"] = m.realSign
        if let p = m.augmentProbability { row["augment_p"] = p }
        let clean = row.mapValues { v -> Any in if let d = v as? Double, !d.isFinite { return String(d) }; return v }
        guard let data = try? JSONSerialization.data(withJSONObject: clean, options: [.sortedKeys]) else { return }
        let file = path("metrics.jsonl")
        if !FileManager.default.fileExists(atPath: file) { _ = FileManager.default.createFile(atPath: file, contents: nil) }
        if let h = FileHandle(forWritingAtPath: file) {
            h.seekToEndOfFile()
            h.write(data + Data("\n".utf8))
            try? h.close()
        }
    }

    func message(_ s: String) {
        guard writesOutputs else { return }
        let stamp = ISO8601DateFormatter().string(from: Date())
        log?.write(Data("[\(stamp)] \(s)\n".utf8))
        onMessage?(s)
    }

    // MARK: outputs

    /// The fixed-noise samples in data units, as volumes (3D) or (C, H, W) stacks (2D), generated one
    /// at a time (evaluation mode: each sample is its own), so the montage's generator activations are
    /// those of one sample, not `sample_count` (at 1 mm, 6 at once peaked 270 MB above one at a time).
    public func fixedSamples() throws -> [Volume] {
        let zd = fixedNoise.shape[1]
        return try (0..<fixedNoise.shape[0]).flatMap { i -> [Volume] in
            let z = Tensor(shape: [1, zd])
            z.data.update(from: fixedNoise.data + i * zd, count: zd)
            return Generation.volumes(from: try model.sample(z, labels: [fixedLabels[i]]), record: record)
        }
    }

    func writePlots(epochLabel: String?) throws {
        guard writesOutputs else { return }
        let vols = try fixedSamples()
        let img = Generation.montage(vols, record: record, labels: fixedLabels)
        if let e = epochLabel { try PNGFile.write(img, to: path("samples/\(e).png")) }
        try PNGFile.write(img, to: path("samples/latest.png"))
        let rows = MetricsFile.read(path("metrics.jsonl"))
        try PNGFile.write(LossPlot.render(rows, loss: config.loss), to: path("loss_curve.png"))
    }

    // MARK: the loop

    /// Runs until the last step, an interrupt (checkpoint saved, `interrupted` set) or a non-finite
    /// loss (throws `TrainError.nonFinite`, keeping the last good checkpoint).
    public func run() throws -> TrainSummary {
        let start = DispatchTime.now().uptimeNanoseconds
        let firstStep = step
        message("run \(runDirectory): \(config.model.rawValue)\(config.preset.isEmpty ? "" : " (preset \(config.preset))"), "
                + "\(data.count) items \(data.itemShape), \(stepsPerEpoch) steps per epoch, \(totalSteps) steps, "
                + "G \(model.generator.parameterCount) + D \(model.discriminator.parameterCount) parameters, seed \(config.seed)"
                + (model.augmentation.isEmpty ? "" : ", augment \(model.augmentation)")
                + (model.adaptiveAugmentation.map { String(format: " (probability %.3f, speed %g images)", $0.probability, $0.speedImages) } ?? "")
                + (model.ema.map { String(format: ", generator EMA %g", $0.decay) } ?? "")
                + (firstStep > 0 ? ", resumed at step \(firstStep)" : ""))
        var lastGood: String? = firstStep > 0 ? Trainer.latestCheckpoint(in: runDirectory) : nil
        var last: StepMetrics?
        var interrupted = false
        while step < totalSteps {
            if step % stepsPerEpoch == 0 {
                dataEpochStart = dataRng
                var r = dataEpochStart
                permutation = Array(0..<data.count)
                r.shuffle(&permutation)
                dataRng = r
            }
            let within = step % stepsPerEpoch
            var batches: [[Int]] = []
            for c in 0..<config.nCritic {
                let b = within * config.nCritic + c
                let which = (0..<config.batch).map { permutation[(b * config.batch + $0) % data.count] }
                // Data parallel: this rank reads only its share of the global batch.
                batches.append(dataParallel.map { Array(which[$0.share(of: which.count)]) } ?? which)
            }
            // The model's scheme reads what its step needs (whole items; hagan3d: slabs).
            let stepOnData = try config.model.family.layout.trainingScheme.prepare(model, data: data, batches: batches, rng: &noiseRng)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let m = try stepOnData(&noiseRng)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if !m.isFinite {
                var desc = String(format: "loss_d %.4g, loss_g %.4g, grad_norm_d %.4g, grad_norm_g %.4g", m.lossD, m.lossG, m.gradNormD, m.gradNormG)
                if let dp = dataParallel { desc += model.nonFiniteRank.map { ", first on rank \($0) of \(dp.size)" } ?? "" }
                message("stopped: non-finite values at step \(step + 1): \(desc)")
                throw TrainError.nonFinite(step: step, metrics: desc, checkpoint: lastGood)
            }
            step += 1
            last = m
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            appendMetrics(m, seconds: dt, itPerSecond: Double(step - firstStep) / max(elapsed, 1e-9))
            let epochEnd = step % stepsPerEpoch == 0
            if epochEnd || step % config.checkpointEvery == 0 || step == totalSteps {
                lastGood = try saveCheckpoint()
            }
            if epochEnd || step == totalSteps || (config.plotEvery > 0 && step % config.plotEvery == 0) {
                try writePlots(epochLabel: epochEnd ? String(format: "epoch-%04d", step / stepsPerEpoch) : nil)
                // Short epochs: report every k-th so the log stays readable (about one line per 50 steps).
                let k = max(1, 50 / stepsPerEpoch)
                if epochEnd && (step / stepsPerEpoch) % k == 0 {
                    message(String(format: "epoch %d done (step %d): loss_d %.4f loss_g %.4f", step / stepsPerEpoch, step, m.lossD, m.lossG))
                }
            }
            onStep?(step, totalSteps, m, Double(step - firstStep) / max(elapsed, 1e-9))
            var stopByCaller = try afterStep.map { try $0(step) } ?? false
            var timeUp = timeLimit.map { elapsed > $0 } ?? false
            var interrupt = InterruptFlag.isRequested
            if let dp = dataParallel {
                // Ranks must stop at the same step (or the others wait in the next collective forever).
                (stopByCaller, timeUp, interrupt) = (try dp.group.any(stopByCaller), try dp.group.any(timeUp), try dp.group.any(interrupt))
            }
            if stopByCaller, step < totalSteps {
                message("stopped by the caller at step \(step) of \(totalSteps)")
                break
            }
            if let limit = timeLimit, timeUp, step < totalSteps {
                message(String(format: "time budget of %.0f s reached at step %d of %d", limit, step, totalSteps))
                break
            }
            if interrupt {
                lastGood = try saveCheckpoint()
                interrupted = true
                message("interrupted at step \(step): checkpoint saved to \(lastGood ?? "?"); continue with --resume \(runDirectory)")
                break
            }
        }
        var final = Trainer.latestCheckpoint(in: runDirectory)
        if !interrupted {
            final = path("checkpoints/final.h5")
            try saveCheckpoint(extra: "final.h5")
            try writePlots(epochLabel: nil)
            message("finished: \(step) steps; final checkpoint \(final)")
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if let dp = dataParallel, step > firstStep {
            message(String(format: "data parallel: %.3f s of %.3f s per step in reductions (rank 0), %.2f MB of gradients reduced per step",
                           dp.communicationSeconds / Double(step - firstStep), seconds / Double(step - firstStep),
                           Double(dp.gradientBytesReduced) / Double(step - firstStep) / 1e6))
        }
        return TrainSummary(runDirectory: runDirectory, steps: step, totalSteps: totalSteps, epochs: (step + stepsPerEpoch - 1) / stepsPerEpoch,
                            seconds: seconds, secondsPerStep: seconds / Double(max(1, step - firstStep)), interrupted: interrupted,
                            lastMetrics: last, finalCheckpoint: final)
    }
}

extension Trainer {
    /// Refuses a job whose ranks resolved different settings or opened different data (compared by
    /// content: the data path may differ between nodes, and --threads is per rank).
    static func requireSameSetup(_ dp: DataParallel, config: TrainConfig, data: TrainingData) throws {
        var c = config
        c.threads = 0; c.data = ""; c.out = ""
        let settings = try c.yaml()
        try dp.requireSame(Array(SHA256.hex(Data(settings.utf8)).utf8), what: "settings", detail: "model \(config.model.rawValue), batch \(config.batch), seed \(config.seed)")
        var info = data.info
        info.path = ""
        var h = SHA256.Hasher()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys   // key order otherwise differs by process
        h.update(try encoder.encode(info))
        for v in data.indices + data.labels { withUnsafeBytes(of: Int64(v).littleEndian) { h.update($0) } }
        // The first and last items' values: the same shape and labels with other volumes are still other data.
        for w in (data.count > 1 ? [0, data.count - 1] : [0]) where data.count > 0 {   // an array: a Set's order differs by process
            let (t, _) = try data.batch([w])
            h.update(UnsafeRawBufferPointer(start: t.data, count: t.count * 4))
        }
        try dp.requireSame(Array(h.finish().utf8), what: "training data", detail: "\(data.info.path): \(data.count) items \(data.itemShape)")
    }

    /// SHA-256 of every parameter, in the networks' order. Not the buffers: with per-rank batch norm
    /// each rank's running statistics are its own (rank 0's are the ones saved).
    func weightsDigest() -> String {
        var h = SHA256.Hasher()
        for (name, p) in model.generator.namedParameters(prefix: "G") + model.discriminator.namedParameters(prefix: "D") {
            h.update(Array(name.utf8))
            h.update(UnsafeRawBufferPointer(start: p.value.data, count: p.value.count * 4))
        }
        return h.finish()
    }
}
