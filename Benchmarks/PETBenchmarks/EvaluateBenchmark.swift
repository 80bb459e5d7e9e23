import Foundation
import PETCohort
import PETMetrics
import PETTensor

/// The evaluation benchmark (requirement: `petgan evaluate` on 200 real and 200 synthetic 2 mm
/// volumes in under 10 minutes on the 2-core reference machine, memory bounded): two independent
/// phantom cohorts (2 mm 96×112×96, seeds 11 and 12; the second stands in for a synthetic set),
/// built once into a data folder and reused, then one full evaluation with default options, timed as a
/// whole and per stage (from the evaluation's progress lines), with peak RSS. One run, not a median:
/// a run takes minutes and reads hundreds of MB, so repeating it would mostly measure the page cache.
public enum EvaluateBenchmark {
    public struct Request {
        public var count = 200
        public var niftiShape = [96, 112, 96]
        public var voxelSize = 2.0
        public var realSeed: UInt64 = 11, syntheticSeed: UInt64 = 12
        /// Where the cohorts are kept between runs.
        public var dataDirectory = "bench-data"
        /// Report folder of the timed evaluation.
        public var out = "bench-results/evaluate-report"
        public var templatesDirectory: String? = nil
        public var memoryBudgetBytes = 256 << 20
        public var log: (String) -> Void = { _ in }
        public init() {}
    }

    /// The cohort file for a seed (built when missing; a partial file never appears: the builder
    /// writes to a temporary name and renames).
    static func cohort(_ r: Request, seed: UInt64) throws -> (path: String, built: Double?) {
        let name = "phantom-\(r.count)-\(r.niftiShape.map(String.init).joined(separator: "x"))-\(r.voxelSize)mm-seed\(seed).h5"
        let path = (r.dataDirectory as NSString).appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: path) { return (path, nil) }
        try FileManager.default.createDirectory(atPath: r.dataDirectory, withIntermediateDirectories: true)
        r.log("building \(path) (\(r.count) subjects, once)")
        let plan = try CohortPlan(count: r.count, classNames: ["NC", "MCI", "AD"], proportions: nil, seed: seed)
        var req = CohortRequest(grid: .mni(niftiShape: r.niftiShape, voxelSize: r.voxelSize), plan: plan, outputPath: path)
        req.templatesDirectory = r.templatesDirectory
        let s = try PhantomCohort.build(req)
        return (path, s.seconds)
    }

    /// Builds the two cohorts when missing; returns their paths.
    public static func buildCohorts(_ r: Request) throws -> [String] {
        [try cohort(r, seed: r.realSeed).path, try cohort(r, seed: r.syntheticSeed).path]
    }

    public static func run(_ r: Request) throws -> EvaluateRow {
        let real = try cohort(r, seed: r.realSeed)
        let synthetic = try cohort(r, seed: r.syntheticSeed)
        var o = EvaluationOptions(real: real.path, synthetic: synthetic.path, out: r.out)
        o.memoryBudget = r.memoryBudgetBytes
        o.templatesDirectory = r.templatesDirectory
        // Stage boundaries: the first progress line of each stage (its words before the first number).
        var stages: [(String, Double)] = []
        let start = DispatchTime.now().uptimeNanoseconds
        o.log = { line in
            let t = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let words = line.split(separator: " ").prefix { !$0.contains(where: \.isNumber) }.joined(separator: " ")
            let label = words.hasSuffix(":") ? String(words.dropLast()) : words   // "reading real: 3/200 …"
            if stages.last?.0 != label { stages.append((label, t)) }
            r.log(line)
        }
        resetPeakResident()
        let cpu0 = cpuSeconds()
        let metrics = try Evaluation.run(o)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let cpu = cpuSeconds() - cpu0
        // Opening the sets and resampling the atlas come before the first line; the last line
        // ("evaluation done") ends the run.
        var stageSeconds: [String: Double] = ["open sets + atlas": r3(stages.first?.1 ?? seconds)]
        for (i, s) in stages.enumerated() where !s.0.hasPrefix("evaluation done") && !s.0.hasPrefix("atlas") {
            let end = i + 1 < stages.count ? stages[i + 1].1 : seconds
            stageSeconds[s.0, default: 0] += r3(end - s.1)
        }
        let paper = metrics.result(of: PaperProtocolMetric.self)
        func mean(_ s: Summary?) -> Double? { s.flatMap { $0.mean.isFinite ? $0.mean : nil } }
        // The augmentation benefit as reported (mean ± SD over seeds), to keep with the timing.
        var augmentation: [EvaluateRow.Augmentation] = []
        for a in metrics.result(of: AugmentationMetric.self) ?? [] {
            func scores(_ d: [String: Summary]) -> [String: EvaluateRow.MeanSD] {
                var out: [String: EvaluateRow.MeanSD] = [:]
                for k in ["balanced_accuracy", "auc", "accuracy"] {
                    let v = d[k]
                    out[k] = EvaluateRow.MeanSD(mean: v.flatMap { $0.mean.isFinite ? $0.mean : nil }, sd: v.flatMap { $0.sd.isFinite ? $0.sd : nil },
                                                n: v?.n, present: v != nil)
                }
                return out
            }
            augmentation.append(EvaluateRow.Augmentation(task: a.task, realOnly: scores(a.realOnly), augmented: scores(a.augmented)))
        }
        let c2st = metrics.result(of: C2STMetric.self)
        return EvaluateRow(name: "evaluate-\(r.count)x\(r.count)", real: real.path, synthetic: synthetic.path,
                           grid: r.niftiShape.map(String.init).joined(separator: "x"), voxelMM: r.voxelSize,
                           volumesReal: r.count, volumesSynthetic: r.count, threads: Parallel.threads,
                           seconds: r3(seconds), cpuSeconds: r3(cpu), cpuShare: r3(cpu / max(1e-9, seconds)),
                           peakRSSMB: r3(Double(peakResidentBytes()) / 1_048_576), targetSeconds: 600, stageSeconds: stageSeconds,
                           cohortBuildSeconds: [real.built, synthetic.built].map { $0.map(r3) ?? -1 },
                           psnr2D: mean(paper?.psnr2D), ssim2D: mean(paper?.ssim2D), psnr3D: mean(paper?.psnr3D), ssim3D: mean(paper?.ssim3D),
                           augmentation: augmentation, c2stAccuracy: c2st?.accuracy, report: r.out)
    }

    /// The printed summary of a run.
    public static func summary(_ row: EvaluateRow) -> [String] {
        let s = row.seconds
        var lines = [String(format: "wall %.1f s (%d min %02d s; target 600 s), CPU %.1f s (%.0f%% of %d threads), peak RSS %.0f MB",
                            s, Int(s) / 60, Int(s) % 60, row.cpuSeconds, 100 * row.cpuShare / Double(row.threads), row.threads, row.peakRSSMB)]
        for (k, v) in row.stageSeconds.sorted(by: { $0.value > $1.value }) { lines.append(String(format: "  %8.1f s  %@", v, k)) }
        for a in row.augmentation {
            func ms(_ d: [String: EvaluateRow.MeanSD], _ k: String) -> String {
                guard let m = d[k]?.mean else { return "–" }
                return String(format: "%.3f ± %.3f", m, d[k]?.sd ?? .nan)
            }
            lines.append("  augmentation \(a.task ?? ""): balanced accuracy real only \(ms(a.realOnly, "balanced_accuracy")), real + synthetic \(ms(a.augmented, "balanced_accuracy")); AUC \(ms(a.realOnly, "auc")) vs \(ms(a.augmented, "auc"))")
        }
        return lines
    }

    /// User + system CPU time of this process.
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }
}


/// The row of `bench evaluate`: timing, memory and the headline figures of one evaluation.
public struct EvaluateRow: Codable {
    /// A metric's mean ± SD over the augmentation seeds (null when the metric was not computed).
    public struct MeanSD: Codable {
        public var mean: Double?, sd: Double?, n: Int?
        /// False: the metric is absent from the evaluation (written as null).
        var present = true
        enum CodingKeys: String, CodingKey { case mean, sd, n }
        public init(mean: Double?, sd: Double?, n: Int?, present: Bool) { self.mean = mean; self.sd = sd; self.n = n; self.present = present }
    }
    /// One augmentation task; written flat as task, realOnly_<metric>, augmented_<metric>.
    public struct Augmentation: Codable {
        public var task: String?
        public var realOnly: [String: MeanSD]
        public var augmented: [String: MeanSD]

        struct Key: CodingKey {
            var stringValue: String
            init(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }
        public init(task: String?, realOnly: [String: MeanSD], augmented: [String: MeanSD]) {
            self.task = task; self.realOnly = realOnly; self.augmented = augmented
        }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            task = try c.decodeIfPresent(String.self, forKey: Key(stringValue: "task"))
            var r: [String: MeanSD] = [:], a: [String: MeanSD] = [:]
            for k in c.allKeys where k.stringValue != "task" {
                let v = try c.decodeIfPresent(MeanSD.self, forKey: k) ?? MeanSD(mean: nil, sd: nil, n: nil, present: false)
                if k.stringValue.hasPrefix("realOnly_") { r[String(k.stringValue.dropFirst(9))] = v }
                if k.stringValue.hasPrefix("augmented_") { a[String(k.stringValue.dropFirst(10))] = v }
            }
            realOnly = r; augmented = a
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            if let t = task { try c.encode(t, forKey: Key(stringValue: "task")) } else { try c.encodeNil(forKey: Key(stringValue: "task")) }
            for (side, scores) in [("realOnly", realOnly), ("augmented", augmented)] {
                for (k, v) in scores {
                    let key = Key(stringValue: "\(side)_\(k)")
                    if v.present { try c.encode(v, forKey: key) } else { try c.encodeNil(forKey: key) }
                }
            }
        }
    }

    public var name: String
    public var real: String, synthetic: String
    public var grid: String
    public var voxelMM: Double
    public var volumesReal: Int, volumesSynthetic: Int
    public var threads: Int
    public var seconds: Double, cpuSeconds: Double, cpuShare: Double
    public var peakRSSMB: Double
    public var targetSeconds: Double
    public var stageSeconds: [String: Double]
    /// Seconds each cohort took to build in this run (−1: reused).
    public var cohortBuildSeconds: [Double]
    @NullWhenAbsent public var psnr2D: Double?
    @NullWhenAbsent public var ssim2D: Double?
    @NullWhenAbsent public var psnr3D: Double?
    @NullWhenAbsent public var ssim3D: Double?
    public var augmentation: [Augmentation]
    @NullWhenAbsent public var c2stAccuracy: Double?
    public var report: String

    enum CodingKeys: String, CodingKey {
        case name, real, synthetic, grid, threads, seconds, augmentation, report
        case voxelMM = "voxel_mm", volumesReal = "volumes_real", volumesSynthetic = "volumes_synthetic"
        case cpuSeconds = "cpu_seconds", cpuShare = "cpu_share", peakRSSMB = "peak_rss_mb", targetSeconds = "target_seconds"
        case stageSeconds = "stage_seconds", cohortBuildSeconds = "cohort_build_seconds"
        case psnr2D = "psnr_2d", ssim2D = "ssim_2d", psnr3D = "psnr_3d", ssim3D = "ssim_3d", c2stAccuracy = "c2st_accuracy"
    }
}
