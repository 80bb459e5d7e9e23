// 95% intervals of the numbers other metrics computed without one (they finish first; this metric
// reads their results): the PSNR and SSIM means (2D and 3D) over pairs and the MS-SSIM diversity means
// over pairs — percentile bootstrap of the mean; voxel MMD² — percentile bootstrap of both sets with the
// kernel and bandwidth of the full-sample estimate (within-set pairs of one original volume left out,
// as the unbiased estimate leaves out i = j). The Fréchet distances, class fidelity and nn_ratio carry
// their own intervals; C2ST has its Clopper–Pearson interval. Seeds: the run's seed + 81…86.

import Foundation
import PETTensor
import PETVolumes

public final class IntervalsMetric: EvaluationMetric {
    public struct Result: Codable {
        public var method: String
        public var resamples: Int
        public var minimumCount: Int
        public var psnr2D: Interval?, ssim2D: Interval?, psnr3D: Interval?, ssim3D: Interval?
        public var msssimSynthetic: Interval?, msssimReal: Interval?
        public var mmdVoxels: Interval?
        /// Intervals flagged as resting on fewer than `minimumCount` samples.
        public var tooFewSamples: [String]
        enum CodingKeys: String, CodingKey {
            case method, resamples, psnr2D = "psnr_2d", ssim2D = "ssim_2d", psnr3D = "psnr_3d", ssim3D = "ssim_3d",
                 msssimSynthetic = "msssim_synthetic", msssimReal = "msssim_real", mmdVoxels = "mmd_voxels",
                 minimumCount = "minimum_count", tooFewSamples = "too_few_samples"
        }
    }
    public static let placement = MetricPlacement.at(["intervals"])
    public static func make(for run: EvaluationRun) throws -> IntervalsMetric? { IntervalsMetric() }

    /// The Gaussian kernel matrix of the pooled rows x + y with the median-distance bandwidth
    /// (DistributionMetrics.mmd's kernel).
    static func pooledKernel(_ x: [[Float]], _ y: [[Float]]) -> [Double] {
        let total = x.count + y.count
        let d2 = DistributionMetrics.pairwiseSquared(x + y)
        var off: [Double] = []
        for i in 0..<total { for j in (i + 1)..<total { off.append(d2[i * total + j]) } }
        var sigma2 = Statistics.percentile(off, 50)
        if !(sigma2 > 0) { sigma2 = 1 }
        return d2.map { Foundation.exp(-$0 / (2 * sigma2)) }
    }

    /// Unbiased MMD² of the pooled rows `a` (first set) and `b` (second set) of kernel `k` (total × total):
    /// within-set pairs of one original row left out (i = j for the full sample).
    static func mmdStatistic(_ k: [Double], total: Int, _ a: [Int], _ b: [Int]) -> Double {
        func within(_ s: [Int]) -> Double {
            var sum = 0.0, count = 0
            for i in 0..<s.count { for j in 0..<s.count where s[i] != s[j] { sum += k[s[i] * total + s[j]]; count += 1 } }
            return count > 0 ? sum / Double(count) : .nan
        }
        var cross = 0.0
        for i in a { for j in b { cross += k[i * total + j] } }
        return within(a) + within(b) - 2 * cross / Double(a.count * b.count)
    }

    /// Percentile bootstrap of the unbiased Gaussian-kernel MMD² with the full-sample bandwidth.
    public static func mmdInterval(_ x: [[Float]], _ y: [[Float]], resamples: Int, seed: UInt64) -> Interval {
        let n = x.count, m = y.count, total = n + m
        guard n >= 2, m >= 2 else { return Interval(low: .nan, high: .nan, method: "percentile bootstrap", n: min(n, m)) }
        let k = pooledKernel(x, y)
        return Intervals.bootstrap(sizes: [n, m], resamples: resamples, seed: seed) { idx in
            mmdStatistic(k, total: total, idx[0], idx[1].map { $0 + n })
        }
    }

    public func finish(_ run: EvaluationRun) throws -> Result? {
        let o = run.options, resamples = o.bootstrapResamples
        var out = Result(method: "percentile bootstrap (resample with replacement, 2.5th and 97.5th percentiles of the resampled statistic), 95%",
                         resamples: resamples, minimumCount: Intervals.minimumCount, tooFewSamples: [])
        if let p = run.finishedResult(of: PaperProtocolMetric.self) {
            let list = p.pairList
            out.psnr2D = Intervals.bootstrapMean(list.map(\.psnr2D), resamples: resamples, seed: o.seed &+ 81)
            out.ssim2D = Intervals.bootstrapMean(list.map(\.ssim2D), resamples: resamples, seed: o.seed &+ 82)
            if run.isVolumes {
                out.psnr3D = Intervals.bootstrapMean(list.compactMap(\.psnr3D), resamples: resamples, seed: o.seed &+ 83)
                out.ssim3D = Intervals.bootstrapMean(list.compactMap(\.ssim3D), resamples: resamples, seed: o.seed &+ 84)
            }
        }
        if let d = run.finishedResult(of: DiversityMetric.self) {
            out.msssimSynthetic = Intervals.bootstrapMean(d.synthetic.values, resamples: resamples, seed: o.seed &+ 85)
            out.msssimReal = Intervals.bootstrapMean(d.real.values, resamples: resamples, seed: o.seed &+ 86)
        }
        out.mmdVoxels = Self.mmdInterval(run.real.blockAverages, run.synthetic.blockAverages, resamples: resamples, seed: o.seed &+ 87)
        let named: [(String, Interval?)] = [("psnr_2d", out.psnr2D), ("ssim_2d", out.ssim2D), ("psnr_3d", out.psnr3D), ("ssim_3d", out.ssim3D),
                                            ("msssim_synthetic", out.msssimSynthetic), ("msssim_real", out.msssimReal), ("mmd_voxels", out.mmdVoxels),
                                            ("fd_seeded", run.finishedResult(of: SeededFrechetMetric.self)?.interval),
                                            ("fd_task", run.finishedResult(of: FeatureDistanceMetric.self)?.frechetInterval),
                                            ("class_fidelity", run.finishedResult(of: ClassFidelityMetric.self)?.interval),
                                            ("nn_ratio", run.finishedResult(of: MemorisationMetric.self)?.voxels.nnRatioInterval)]
        out.tooFewSamples = named.compactMap { name, i in i.map { $0.tooFewSamples ? name : nil } ?? nil }
        if !out.tooFewSamples.isEmpty {
            run.notes.append("Intervals of \(out.tooFewSamples.joined(separator: ", ")) rest on fewer than \(Intervals.minimumCount) samples (pairs, volumes or trials): \(Intervals.smallSampleNote).")
        }
        return out
    }
}
