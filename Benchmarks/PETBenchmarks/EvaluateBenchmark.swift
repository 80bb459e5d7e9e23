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
        public var memoryBudgetMB = 256
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

    public static func run(_ r: Request) throws -> BenchRow {
        let real = try cohort(r, seed: r.realSeed)
        let synthetic = try cohort(r, seed: r.syntheticSeed)
        var o = EvaluationOptions(real: real.path, synthetic: synthetic.path, out: r.out)
        o.memoryBudget = r.memoryBudgetMB << 20
        o.templatesDirectory = r.templatesDirectory
        // Stage boundaries: the first progress line of each stage (its words before the first number).
        var stages: [(String, Double)] = []
        let start = DispatchTime.now().uptimeNanoseconds
        o.log = { line in
            let t = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let label = line.split(separator: " ").prefix { !$0.contains(where: \.isNumber) }.joined(separator: " ")
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
        func mean(_ s: Summary?) -> Any { s.map { $0.mean.isFinite ? $0.mean as Any : NSNull() } ?? NSNull() }
        // The augmentation benefit as reported (mean ± SD over seeds), to keep with the timing.
        var augmentation: [[String: Any]] = []
        for a in metrics.result(of: AugmentationMetric.self) ?? [] {
            var row: [String: Any] = ["task": a.task]
            for (side, d) in [("realOnly", a.realOnly), ("augmented", a.augmented)] {
                for k in ["balanced_accuracy", "auc", "accuracy"] {
                    row["\(side)_\(k)"] = d[k].map { ["mean": $0.mean.isFinite ? $0.mean as Any : NSNull(), "sd": $0.sd.isFinite ? $0.sd as Any : NSNull(), "n": $0.n] as Any } ?? NSNull()
                }
            }
            augmentation.append(row)
        }
        let c2st = metrics.result(of: C2STMetric.self)
        return ["name": "evaluate-\(r.count)x\(r.count)", "real": real.path, "synthetic": synthetic.path,
                "grid": r.niftiShape.map(String.init).joined(separator: "x"), "voxel_mm": r.voxelSize,
                "volumes_real": r.count, "volumes_synthetic": r.count, "threads": Parallel.threads,
                "seconds": r3(seconds), "cpu_seconds": r3(cpu), "cpu_share": r3(cpu / max(1e-9, seconds)),
                "peak_rss_mb": r3(Double(peakResidentBytes()) / 1_048_576),
                "target_seconds": 600, "stage_seconds": stageSeconds,
                "cohort_build_seconds": [real.built, synthetic.built].map { $0.map(r3) ?? -1 },
                "psnr_2d": mean(paper?.psnr2D), "ssim_2d": mean(paper?.ssim2D), "psnr_3d": mean(paper?.psnr3D), "ssim_3d": mean(paper?.ssim3D),
                "augmentation": augmentation, "c2st_accuracy": c2st.map { $0.accuracy as Any } ?? NSNull(), "report": r.out]
    }

    /// User + system CPU time of this process.
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }
}

private func r3(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }
