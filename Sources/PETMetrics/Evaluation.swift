// `petgan evaluate`: every metric of the evaluation on a real and a synthetic set, written to
// REPORT_DIR/metrics.json and REPORT_DIR/report.html with figures. Tiled analysis (issue 7): volumes
// are read in depth slabs (`VolumeSet.slabReader`) and every voxelwise metric is accumulated slab by
// slab (PSNR and MSE sums in voxel order, `StreamingSSIM`/`StreamingMSSSIM` with a 10-plane halo,
// regional sums, the joint histogram, 2D slices), so no whole volume is held: only block-averaged
// copies (≤ 32 voxels a side) for the classifiers and the voxels the montage figures show. The slab
// schedule does not change a single bit of the results (a test compares slab depth 2 with whole
// volumes).
//
// The driver is EvaluationRun.swift, the metrics are Metrics/*.swift (listed in EvaluationMetric.swift).
//
// Public API:
//   var o = EvaluationOptions(real: "data.h5", synthetic: "gen/", out: "report")
//   let result = try Evaluation.run(o)           // EvaluationResult, also written as metrics.json
//   result.result(of: C2STMetric.self)?.accuracy

import Foundation
import PETTensor
import PETTiling
import PETVolumes

public struct EvaluationOptions {
    public var real: String, synthetic: String, out: String
    public var classes: [String] = []
    public var seed: UInt64 = 1
    public var memoryBudget: Int? = nil
    public var templatesDirectory: String? = nil
    /// Synthetic samples paired with their nearest real sample (nil: all).
    public var maxPairs: Int? = nil
    /// Random pairs per class for MS-SSIM diversity.
    public var diversityPairs = 20
    public var classifierEpochs = 25
    /// Every classifier fit takes at least this many Adam steps (small sets get more epochs).
    public var classifierMinSteps = SmallCNN.FitOptions().minSteps
    public var augmentationSeeds: [UInt64] = [1, 2, 3]
    public var mmdPermutations = 200
    public var skipClassifiers = false
    /// A run directory or checkpoint whose critic scores both sets (tiled within `memoryBudget`).
    public var critic: String? = nil
    /// Depth planes per slab (rounded up to a multiple of the block-averaging factor; ≥ D: whole volumes).
    public var slabDepth = 16
    /// 2D samples against a volume store: where real slices are cut (MNI z range in mm and step),
    /// as `petgan phantom --slices axial --slice-range … --slice-step …` cut the 2D training data
    /// (nil: that command's defaults).
    public var sliceRangeMM: [Double]? = nil
    public var sliceStepMM: Double? = nil
    /// The store the model trained on (`evaluate --train`): the memorisation audit streams it.
    public var train: String? = nil
    /// A synthetic volume is a near-copy when it is closer to a training volume than this quantile of
    /// the held-out real volumes' nearest-training distances (nearest-rank).
    public var nearCopyQuantile = 0.05
    /// Resamples of every percentile-bootstrap interval.
    public var bootstrapResamples = Intervals.defaultResamples
    public var log: ((String) -> Void)? = nil
    public init(real: String, synthetic: String, out: String) { self.real = real; self.synthetic = synthetic; self.out = out }
}

public enum Evaluation {
    /// Evaluates `o.synthetic` against `o.real`: every metric of `metrics`, written to o.out as
    /// metrics.json and report.html (with figures/).
    public static func run(_ o: EvaluationOptions) throws -> EvaluationResult {
        let t0 = Date()
        // The budget is for the whole run: each store's chunk cache gets an eighth of it (a chunk row per
        // open slab reader is what streaming needs: 5.5 MB at 1 mm), the critic's tiles what is left.
        let storeBudget = o.memoryBudget.map { max(8 << 20, $0 / 4) }
        let real = try VolumeSet.open(o.real, memoryBudget: storeBudget)
        let synthAll = try VolumeSet.open(o.synthetic, memoryBudget: storeBudget)
        // 2D samples (the 2D model's (channels, H, W) slices) follow the 2D protocol.
        let inputs = real.holdsSlices || synthAll.holdsSlices ? try inputs2D(o, real: real, synthetic: synthAll) : try inputs3D(o, real: real, synthetic: synthAll)
        let run = try EvaluationRun(options: o, inputs: inputs, opened: (real, synthAll), classNames: real.classNames)
        try FileManager.default.createDirectory(atPath: o.out, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: run.figuresDirectory, withIntermediateDirectories: true)
        let unknownSynth = run.syntheticSet.labels.filter { $0 < 0 }.count
        if !run.isVolumes {
            let s = run.itemShape
            run.notes.append("2D samples (\(s[0]) channels of \(s[1])x\(s[2])): regional statistics need volumes and are not computed; the classifiers see each block-averaged sample as a \(s[0])x\(max(1, s[1] / run.blockFactor))x\(max(1, s[2] / run.blockFactor)) stack.")
        }
        let metrics = try Self.metrics.compactMap { try $0.make(for: run) as (any EvaluationMetric)? }
        let results = try run.drive(metrics)
        if unknownSynth > 0 {
            run.notes.append("\(unknownSynth) synthetic sample(s) have no class (no sidecar 'class'): paired against every real sample" + (run.isVolumes ? " and left out of per-class statistics." : "."))
        }

        let header: EvaluationHeader
        switch inputs {
        case let .volumes(r, s):
            header = EvaluationHeader(
                inputs: .init(real: .init(path: o.real, kind: r.kind.rawValue, count: r.count, units: r.units),
                              synthetic: .init(path: o.synthetic, kind: s.kind.rawValue, count: s.count, unlabelled: unknownSynth),
                              shapeDHW: r.shape, classes: run.classNames, classFilter: o.classes),
                seed: o.seed, streaming: .init(slabDepth: run.slabDepth), notes: run.notes)
        case let .samples2D(r, s):
            header = EvaluationHeader(
                inputs: .init(real: .init(path: o.real, kind: r.kind, count: r.count, units: r.units),
                              synthetic: .init(path: o.synthetic, kind: s.kind, count: s.count, unlabelled: unknownSynth),
                              layout: "2D samples (channels, H, W)", shapeCHW: r.itemShape, classes: run.classNames, classFilter: o.classes),
                seed: o.seed, notes: run.notes)
        }
        var result = EvaluationResult(header: header, blockAverages: BlockAverageInfo(factor: run.blockFactor, shape: run.blockShape, volumes: run.isVolumes),
                                      results: results.compactMap { r in r.1.map { (type: r.0, value: $0) } }, figures: run.figures)
        result.header.seconds = Date().timeIntervalSince(t0)
        result.header.peakRSSMB = Figures.peakRSSMegabytes()
        try writeAtomically(try result.jsonData(), to: (o.out as NSString).appendingPathComponent("metrics.json"))
        try writeAtomically(Data(Report.html(result).utf8), to: (o.out as NSString).appendingPathComponent("report.html"))
        run.log(String(format: "evaluation done in %.1f s", Date().timeIntervalSince(t0)))
        return result
    }

    /// The 3D protocol's sets: both on one grid, the synthetic classes aligned with the real ones.
    static func inputs3D(_ o: EvaluationOptions, real: VolumeSet, synthetic synthAll: VolumeSet) throws -> EvaluationInputs {
        guard real.shape == synthAll.shape else {
            throw MetricsError.mismatch(detail: "\(o.real) has volumes of shape \(real.shape) (D,H,W) but \(o.synthetic) has \(synthAll.shape); resample one onto the other's grid (petgan prepare)")
        }
        synthAll.alignClasses(to: real.classNames)
        let realSet = try real.restricted(toClasses: o.classes)
        let synth = try synthAll.restricted(toClasses: o.classes)
        guard realSet.count >= 2, synth.count >= 2 else {
            throw MetricsError.tooSmall(detail: "evaluation needs at least 2 real and 2 synthetic volumes (have \(realSet.count) and \(synth.count))")
        }
        return .volumes(real: realSet, synthetic: synth)
    }

    /// Writes to a temporary name and renames (never a half-written file).
    static func writeAtomically(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        do { try data.write(to: URL(fileURLWithPath: tmp)) } catch { throw MetricsError.writeFailed(path: path, reason: "\(error)") }
        if rename(tmp, path) != 0 { throw MetricsError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
    }
}

extension Evaluation {
    /// The joint intensity histogram (bins × bins, row = synthetic, column = real) over the voxels where
    /// either value is above 5% of the range [lo, lo + span]. Shared by the 3D and 2D protocols.
    static func addToJointHistogram(_ joint: inout [Double], bins: Int, real rv: [Float], synthetic sv: [Float], lo: Double, span: Double) {
        for i in 0..<sv.count {
            let a = Double(rv[i]), b = Double(sv[i])
            guard a - lo > 0.05 * span || b - lo > 0.05 * span else { continue }
            let ia = min(bins - 1, max(0, Int((a - lo) / span * Double(bins))))
            let ib = min(bins - 1, max(0, Int((b - lo) / span * Double(bins))))
            joint[ib * bins + ia] += 1
        }
    }

    /// Diversity (MS-SSIM among samples): `metric` over up to `maxPairs` distinct random pairs within
    /// each class (all samples when unlabelled or one class), seeded; mean, SD and pair count overall
    /// and per class. Shared by the 3D and 2D protocols.
    static func diversityPairs(labels: [Int], classNames: [String], maxPairs limit: Int, seed: UInt64,
                               metric: (Int, Int) throws -> Double) throws -> DiversitySummary {
        var rng = PETRandom(seed: seed)
        let nClasses = max(1, classNames.count)
        var values: [Double] = [], perClass: [String: DiversitySummary.ClassValues] = [:]
        let groups: [(String, [Int])] = labels.contains(where: { $0 < 0 }) || nClasses == 1
            ? [("all", Array(0..<labels.count))]
            : (0..<nClasses).map { c in (classNames[c], (0..<labels.count).filter { labels[$0] == c }) }
        for (name, members) in groups where members.count >= 2 {
            var vals: [Double] = []
            var seen = Set<[Int]>()
            let maxPairs = min(limit, members.count * (members.count - 1) / 2)
            var tries = 0
            while vals.count < maxPairs && tries < maxPairs * 20 {
                tries += 1
                let a = members[rng.int(below: members.count)], b = members[rng.int(below: members.count)]
                guard a != b, !seen.contains([min(a, b), max(a, b)]) else { continue }
                seen.insert([min(a, b), max(a, b)])
                vals.append(try metric(a, b))
            }
            perClass[name] = .init(mean: Statistics.mean(vals), sd: Summary(vals).sd, pairs: vals.count)
            values += vals
        }
        return DiversitySummary(mean: Statistics.mean(values), sd: Summary(values).sd, pairs: values.count, perClass: perClass, values: values)
    }
}
