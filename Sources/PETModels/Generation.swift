import Foundation
import PETAutograd
import PETTensor
import PETTiling
import PETVolumes

extension Affine {
    /// The training grid's affine for a volume keeping every f-th voxel (voxel i ↦ original f·i).
    init(record: RunRecord, subsampledBy f: Int) {
        var m = record.data.affine
        for r in 0..<3 { for c in 0..<3 { m[r * 4 + c] *= Double(f) } }
        self.init(m)
    }
}

/// Output formats of `petgan generate`.
public enum GenerationFormat: String, CaseIterable, Codable {
    /// One .nii.gz per sample (+ JSON sidecar) in the training data's geometry and units.
    case nifti
    /// One HDF5 volume store holding every sample (PETVolumes layout, labels = classes).
    case h5
    /// One PNG per sample (three mid-slice views for 3D, the centre channel for 2D).
    case png
}

public struct GenerationRequest {
    /// A run directory (uses checkpoints/final.h5, else latest.h5) or a checkpoint file.
    public var checkpoint: String
    /// Classes to generate; empty: the run's class (unconditional) or every class (conditional).
    public var classes: [String] = []
    /// Seeds, one sample per seed per class.
    public var seeds: [UInt64]
    public var out: String
    public var format: GenerationFormat = .nifti
    /// 3D models: run the generator's convolutional part tile by tile (PETTiling) so that the counted
    /// memory stays within this many bytes; NIfTI output is streamed slab by slab. nil: untiled.
    public var memoryBudget: Int? = nil
    /// 3D models: an explicit output tile (D, H, W) instead of one chosen from the budget.
    public var tile: [Int]? = nil
    /// Sample the raw generator, not its moving average (when the run kept one).
    public var raw = false
    public init(checkpoint: String, seeds: [UInt64], out: String) { self.checkpoint = checkpoint; self.seeds = seeds; self.out = out }
}

/// A generated NIfTI sample: where, and what (class, label, seed) it is.
public struct GeneratedSample: Equatable {
    public var file: String
    public var className: String
    public var label: Int
    public var seed: UInt64
}

public struct GenerationSummary {
    public var files: [String]
    public var montage: String
    public var checkpoint: String
    public var checkpointSHA256: String
    public var classes: [String]
    public var samples: Int
    /// The finest tile plan tiled generation used (samples are planned one by one; nil when untiled).
    public var plan: TilePlan? = nil
    /// Which generator weights sampled: "moving average (…)" or "raw (…)".
    public var weights: String = ""
    /// One entry per NIfTI sample written (the BIDS derivative writer renames them).
    public var samplesWritten: [GeneratedSample] = []
    /// The model's dimensionality (3: volumes, 2: slice stacks).
    public var dims = 3
    public var checkpointStep = 0
    public var record: RunRecord? = nil
}

extension TiledGenerator {
    /// Tiled generation by `generator`'s blocks: what `generator.tiledInput` runs whole (the input
    /// block's projection, small: C0 × base grid; FastGAN: the low-resolution features its
    /// excitations read, and their gates; hagan3d: the trunk at 1/f) and `generator.tiledLayers` tile
    /// by tile (DCGAN layout: the input block's norm and activation and every upsampling block;
    /// hagan3d: the high-resolution head). The same module objects, so weights and running
    /// statistics are the model's.
    public convenience init(_ generator: Generator) throws {
        try self.init(layers: generator.tiledLayers)
    }
}

public enum Generation {
    /// The checkpoint file of a run directory: final.h5 when the run finished, else latest.h5.
    public static func checkpointFile(_ path: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CheckpointError.notACheckpoint(file: path, reason: "no such file or run directory")
        }
        guard isDir.boolValue else { return path }
        let final = ((path as NSString).appendingPathComponent("checkpoints") as NSString).appendingPathComponent("final.h5")
        if FileManager.default.fileExists(atPath: final) { return final }
        let latest = Trainer.latestCheckpoint(in: path)
        guard FileManager.default.fileExists(atPath: latest) else {
            throw CheckpointError.notACheckpoint(file: path, reason: "the run directory has no checkpoints/final.h5 or checkpoints/latest.h5")
        }
        return latest
    }

    /// Loads a trained model (weights and buffers) with its run record.
    public static func loadModel(_ file: String) throws -> (GANModel, RunRecord, Checkpoint) {
        // Metadata first (the config builds the model), then the weights read straight into the
        // model's own tensors: a large model is never held twice.
        let meta = try Checkpoint.load(from: file, optimizers: false, readTensors: false)
        let rec = try RunRecord.parse(meta.configJSON, file: file)
        var rng = PETRandom(seed: 0)
        let model = try GANModel(config: rec.config, geometry: rec.geometry, rng: &rng)
        let live = model.generator.liveState(prefix: "G").merging(model.discriminator.liveState(prefix: "D")) { a, _ in a }
        let c = try Checkpoint.load(from: file, optimizers: false, into: live)
        var m = model.manifest(optimizers: false, rngs: [])
        m.rngs = Set(c.rngs.keys)
        var check = c
        check.optimizers = [:]
        try check.check(against: m, file: file)
        try model.load(tensors: c.tensors)
        return (model, rec, c)
    }

    /// Generator outputs (N, C, image...) in [−1, 1] → volumes in the data's units and geometry.
    /// 3D: (D, H, W) volumes; 2D: (C, H, W) stacks of adjacent slices.
    public static func volumes(from t: Tensor, record: RunRecord) -> [Volume] {
        let n = t.shape[0]
        let per = t.count / max(1, n)
        let map = record.data.intensity
        let shape = record.geometry.dims == 3 ? Array(t.shape.dropFirst(2)) : Array(t.shape.dropFirst())
        return (0..<n).map { i in
            var values = [Float](repeating: 0, count: per)
            for j in 0..<per { values[j] = map.inverse(t.data[i * per + j]) }
            return Volume(shape: shape, data: values, affine: Affine(record.data.affine), space: record.data.mni ? .mni : .scanner)
        }
    }

    /// Display window shared by all samples: the training data's (DataInfo.displayWindow), so that
    /// samples look as bright as the real images they imitate; for records without one, from the
    /// value −1 maps to, up to the samples' 99.5th percentile.
    public static func window(_ vols: [Volume], record: RunRecord) -> (Float, Float) {
        if let w = record.data.displayWindow, w.count == 2, w[1] > w[0] { return (Float(w[0]), Float(w[1])) }
        var sample: [Float] = []
        for v in vols { let s = max(1, v.count / 20_000); for i in stride(from: 0, to: v.count, by: s) { sample.append(v.data[i]) } }
        let lo = record.data.intensity.inverse(-1)
        var hi = Float(Normalize.percentile(sample, 99.5))
        if !(hi > lo) { hi = lo + 1 }
        return (lo, hi)
    }

    /// A montage: 3D: one row per sample (axial | coronal | sagittal); 2D: a grid of centre channels.
    public static func montage(_ vols: [Volume], record: RunRecord, labels: [Int]) -> RGBImage {
        let w = window(vols, record: record)
        if record.geometry.dims == 3 {
            let side = vols.first?.shape.max() ?? 64
            let zoom = max(2, Int((160.0 / Double(side)).rounded(.up)))
            return Montage.render(vols, options: MontageOptions(colorMap: .inferno, zoom: zoom, window: w, gap: 2))
        }
        return tiles(vols, window: w)
    }

    /// 2D samples as a grid (up to 8 per row) of their centre channel, nearest-neighbour zoomed to ≥ 96 px.
    static func tiles(_ vols: [Volume], window: (Float, Float)) -> RGBImage {
        guard let first = vols.first else { return RGBImage(width: 1, height: 1) }
        let h = first.shape[1], w = first.shape[2]
        let zoom = max(1, Int((96.0 / Double(max(h, w))).rounded(.up)))
        let cols = min(8, vols.count), rows = (vols.count + cols - 1) / cols
        let gap = 2
        var img = RGBImage(width: cols * (w * zoom + gap) + gap, height: rows * (h * zoom + gap) + gap)
        let span = Double(window.1 - window.0)
        for (n, v) in vols.enumerated() {
            let c = v.shape[0] / 2
            let x0 = gap + (n % cols) * (w * zoom + gap), y0 = gap + (n / cols) * (h * zoom + gap)
            for y in 0..<(h * zoom) {
                for x in 0..<(w * zoom) {
                    let val = v.data[(c * h + y / zoom) * w + x / zoom]
                    img[x0 + x, y0 + y] = ColorMap.inferno.rgb((Double(val) - Double(window.0)) / span)
                }
            }
        }
        return img
    }

    /// `petgan generate`: samples from a checkpoint, written in the training data's geometry and units.
    public static func run(_ req: GenerationRequest, progress: ((Int, Int) -> Void)? = nil) throws -> GenerationSummary {
        let file = try checkpointFile(req.checkpoint)
        // Only the step of the checkpoint is kept: its tensors (copies of the weights) would count
        // against a memory budget for nothing.
        let (model, rec, checkpointStep) = try { () throws -> (GANModel, RunRecord, Int) in
            let (m, r, c) = try loadModel(file)
            return (m, r, c.step)
        }()
        let weights = model.chooseSamplingWeights(raw: req.raw)
        if ProcessInfo.processInfo.environment["PETGAN_DEBUG_MEMORY"] != nil {
            FileHandle.standardError.write(Data("generate: \(formatBytes(MemoryAccountant.shared.bytesInUse)) counted in use after loading the model\n".utf8))
        }
        let tiled = req.memoryBudget != nil || req.tile != nil || model.generator.rendersTiled
        if tiled && rec.geometry.dims != 3 {
            throw ConfigError.badValue(source: "--memory-budget", key: "memory_budget",
                                       reason: "tiled generation is for 3D models; this is a \(rec.geometry.dims)D model (its samples are single slices and need no tiling)")
        }
        let hash = try SHA256.hex(file: file)
        let names = rec.data.classNames
        let conditional = rec.geometry.conditionalClasses > 0
        var classes = req.classes
        if classes.isEmpty {
            classes = conditional ? names : [rec.config.classFilter.isEmpty ? "" : rec.config.classFilter]
        }
        var labels: [Int] = []
        for c in classes {
            if conditional {
                guard let i = names.firstIndex(of: c) else {
                    throw ConfigError.badValue(source: "--class", key: "class", reason: "the model knows the classes \(names.joined(separator: ", ")), not '\(c)'")
                }
                labels.append(i)
            } else {
                guard c == rec.config.classFilter || (c.isEmpty) else {
                    throw ConfigError.badValue(source: "--class", key: "class", reason: rec.config.classFilter.isEmpty
                        ? "this model is unconditional and was trained on every class; it cannot generate one class (train with --conditional or --class)"
                        : "this model was trained on \(rec.config.classFilter) only; it cannot generate \(c)")
                }
                labels.append(rec.config.classFilter.isEmpty ? 0 : names.firstIndex(of: c) ?? 0)
            }
        }
        do { try FileManager.default.createDirectory(atPath: req.out, withIntermediateDirectories: true) } catch {
            throw ConfigError.badValue(source: "--out", key: "out", reason: "cannot create \(req.out): \(error.localizedDescription)")
        }
        var jobs: [(cls: String, label: Int, seed: UInt64)] = []
        for (c, l) in zip(classes, labels) { for s in req.seeds { jobs.append((c, l, s)) } }
        var files: [String] = []
        var written: [GeneratedSample] = []
        var montageVols: [Volume] = [], montageLabels: [Int] = []
        var writer: VolumeStoreWriter? = nil
        let storePath = (req.out as NSString).appendingPathComponent("generated.h5")
        if req.format == .h5 {
            let shape = rec.geometry.dims == 3 ? rec.geometry.imageShape : rec.data.itemShape
            let vs = Affine(rec.data.affine).voxelSizes
            writer = try VolumeStoreWriter.create(storePath, volumeShape: shape, classNames: names, voxelSize: vs,
                                                  normalization: rec.data.normalization,
                                                  extraAttributes: ["kind": "petgan generated", "units": rec.data.units, "checkpoint_sha256": hash])
        }
        // One sample per generator call: batched GEMMs block differently, and a sample must be bitwise
        // a function of (checkpoint, class, seed) only.
        let chunk = 1
        var done = 0
        // Tiled: `tiledInput` runs whole (the projection, small: C0 × base grid; FastGAN: the low-
        // resolution features and gates of its excitations), everything after it tile by tile within
        // the budget; NIfTI output is streamed slab by slab, so no full volume is held.
        let generator = model.generator
        let tiledGen = tiled ? try TiledGenerator(generator) : nil
        if tiled { model.generator.eval() }
        defer { model.generator.train() }
        var plan: TilePlan? = nil
        for start in stride(from: 0, to: jobs.count, by: chunk) {
            let part = Array(jobs[start..<min(jobs.count, start + chunk)])
            // Each sample's z comes from its own seed, and the generator runs in evaluation mode, so a
            // sample depends only on (checkpoint, class, seed), never on the batch it was made in.
            let z = Tensor(shape: [part.count, rec.config.zDim])
            for (i, j) in part.enumerated() {
                var r = PETRandom(seed: j.seed)
                let zi = model.sampleNoise(1, rng: &r)
                (z.data + i * rec.config.zDim).update(from: zi.data, count: rec.config.zDim)
            }
            func provenance(_ j: (cls: String, label: Int, seed: UInt64)) -> [String: Any] {
                [
                    "command": "petgan generate", "kind": "generated", "model": rec.config.model.rawValue,
                    "preset": rec.config.preset, "class": j.cls, "label": j.label, "seed": Int(j.seed),
                    "checkpoint": file, "checkpoint_sha256": hash, "checkpoint_step": checkpointStep, "generator_weights": weights,
                    "training_data": rec.data.path, "units": rec.data.units, "normalization": rec.data.normalization,
                    "z_dim": rec.config.zDim, "z_distribution": rec.config.zDistribution.rawValue,
                    "layout": rec.geometry.dims == 3 ? "volume (D, H, W)" : "2D sample: (channels, H, W) = adjacent axial slices",
                ]
            }
            func stem(_ j: (cls: String, label: Int, seed: UInt64)) -> String { (j.cls.isEmpty ? "sample" : j.cls) + String(format: "_seed%05llu", j.seed) }
            func emit(_ v: Volume, _ j: (cls: String, label: Int, seed: UInt64)) throws {
                let stem = stem(j), provenance = provenance(j)
                switch req.format {
                case .nifti:
                    let p = (req.out as NSString).appendingPathComponent(stem + ".nii.gz")
                    try NIfTIFile.write(v, to: p, provenance: provenance)
                    files.append(p)
                    written.append(GeneratedSample(file: p, className: j.cls, label: j.label, seed: j.seed))
                    if rec.geometry.dims == 2 {
                        let png = (req.out as NSString).appendingPathComponent(stem + ".png")
                        try PNGFile.write(montage([v], record: rec, labels: [j.label]), to: png)
                        files.append(png)
                    }
                case .png:
                    let p = (req.out as NSString).appendingPathComponent(stem + ".png")
                    try PNGFile.write(montage([v], record: rec, labels: [j.label]), to: p)
                    let sidecar = (req.out as NSString).appendingPathComponent(stem + ".json")
                    try NIfTIFile.provenanceJSON(provenance).write(to: URL(fileURLWithPath: sidecar), options: .atomic)
                    files.append(p)
                case .h5:
                    try writer!.append(v, label: j.label, intensity: rec.data.intensity, sourceFile: stem)
                }
                if montageVols.count < 24 { montageVols.append(v); montageLabels.append(j.label) }
            }
            if let tg = tiledGen {
                let j = part[0]
                let x = try withNoGrad { try generator.tiledInput(model.generatorInput(z, labels: [j.label])) }.value
                let shape = rec.geometry.imageShape
                if req.format == .nifti {
                    // The preview for the montage is allocated before planning, so the plan counts it.
                    let f = previewFactor(shape)
                    let preview = try SubsampledVolumeSink(outputShape: [1, 1] + shape, factor: f)
                    let p = (req.out as NSString).appendingPathComponent(stem(j) + ".nii.gz")
                    let pl = try tg.plan(latentGrid: x.shape, memoryBudget: req.memoryBudget, tile: req.tile)
                    if plan == nil || pl.tileCount > plan!.tileCount { plan = pl }
                    let space: WorldSpace = rec.data.mni ? .mni : .scanner
                    let nifti = try NIfTISlabSink(paths: [p], shape: shape, affine: Affine(rec.data.affine), space: space, provenance: [provenance(j)])
                    let map = rec.data.intensity
                    try withMemoryBudget(req.memoryBudget) {
                        try tg.generate(x, plan: pl, into: MapSink(FanOutSink([nifti, preview]), transform: { map.inverse($0) }))
                    }
                    files.append(p)
                    written.append(GeneratedSample(file: p, className: j.cls, label: j.label, seed: j.seed))
                    if montageVols.count < 24 {
                        montageVols.append(Volume(shape: Array(preview.output.shape.suffix(3)), data: preview.output.array,
                                                  affine: Affine(record: rec, subsampledBy: f), space: space))
                        montageLabels.append(j.label)
                    }
                    done += 1
                    progress?(done, jobs.count)
                    continue
                }
                // h5 / png need the whole volume anyway: collected in memory (counted before planning).
                let sink = TensorSink(shape: [1, rec.geometry.channels] + shape)
                let pl = try tg.plan(latentGrid: x.shape, memoryBudget: req.memoryBudget, tile: req.tile)
                if plan == nil || pl.tileCount > plan!.tileCount { plan = pl }
                try withMemoryBudget(req.memoryBudget) { try tg.generate(x, plan: pl, into: sink) }
                try emit(volumes(from: sink.output, record: rec)[0], j)
            } else {
                let out = try model.sample(z, labels: part.map(\.label))
                for (v, j) in zip(volumes(from: out, record: rec), part) { try emit(v, j) }
            }
            done += part.count
            progress?(done, jobs.count)
        }
        if let w = writer { try w.commit(); files.append(storePath) }
        let montagePath = (req.out as NSString).appendingPathComponent("montage.png")
        if !montageVols.isEmpty { try PNGFile.write(montage(montageVols, record: rec, labels: montageLabels), to: montagePath) }
        var summary = GenerationSummary(files: files, montage: montagePath, checkpoint: file, checkpointSHA256: hash,
                                        classes: classes, samples: jobs.count, plan: plan, weights: weights)
        summary.samplesWritten = written
        summary.dims = rec.geometry.dims
        summary.checkpointStep = checkpointStep
        summary.record = rec
        return summary
    }

    /// Subsampling of the montage preview in tiled NIfTI generation: every voxel up to 96 per side
    /// (then the montage equals the untiled one), every f-th beyond (192×224×192 → 64×75×64).
    static func previewFactor(_ shape: [Int]) -> Int { max(1, ((shape.max() ?? 1) + 95) / 96) }

    /// Runs `body` with the shared accountant's budget set (counted allocations over it fail early),
    /// restoring the previous budget after.
    static func withMemoryBudget<T>(_ budget: Int?, _ body: () throws -> T) rethrows -> T {
        guard let b = budget else { return try body() }
        let saved = MemoryAccountant.shared.budgetBytes
        MemoryAccountant.shared.budgetBytes = b
        defer { MemoryAccountant.shared.budgetBytes = saved }
        return try body()
    }

    /// Parses "0-99", "3,5,8" or "7" into seeds.
    public static func parseSeeds(_ s: String) throws -> [UInt64] {
        var out: [UInt64] = []
        for part in s.split(separator: ",") {
            let p = part.trimmingCharacters(in: .whitespaces)
            if let dash = p.firstIndex(of: "-"), dash != p.startIndex {
                guard let a = UInt64(p[..<dash]), let b = UInt64(p[p.index(after: dash)...]), a <= b, b - a < 1_000_000 else {
                    throw ConfigError.badValue(source: "--seeds", key: "seeds", reason: "'\(p)' is not a range like 0-99")
                }
                out += Array(a...b)
            } else {
                guard let v = UInt64(p) else { throw ConfigError.badValue(source: "--seeds", key: "seeds", reason: "'\(p)' is not a seed") }
                out.append(v)
            }
        }
        guard !out.isEmpty else { throw ConfigError.badValue(source: "--seeds", key: "seeds", reason: "no seeds given") }
        return out
    }
}
