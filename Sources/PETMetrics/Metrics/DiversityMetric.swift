// Diversity: MS-SSIM between random pairs of the same class, among synthetic samples and (as the
// reference) among real ones. Values near 1 among synthetic samples, above the real ones, mean mode
// collapse. Volumes are streamed (StreamingMSSSIM); 2D samples take the channel mean.

import Foundation
import PETTensor
import PETVolumes

/// Mean, SD and pair count of a pairwise measure overall and per class.
public struct DiversitySummary: Codable {
    public struct ClassValues: Codable { public var mean: Double, sd: Double, pairs: Int }
    public var mean: Double, sd: Double, pairs: Int
    public var perClass: [String: ClassValues]
    /// Every pair's value (for the interval; not written to metrics.json).
    public var values: [Double] = []
    enum CodingKeys: String, CodingKey { case mean, sd, pairs, perClass = "per_class" }
}

public final class DiversityMetric: EvaluationMetric {
    public struct Result: Codable {
        public var synthetic: DiversitySummary, real: DiversitySummary
        public var scales: Int
        enum CodingKeys: String, CodingKey { case synthetic = "msssim_synthetic", real = "msssim_real", scales = "msssim_scales" }
    }
    public static let placement = MetricPlacement.merged(into: ["distribution"])
    public static func make(for run: EvaluationRun) throws -> DiversityMetric? { DiversityMetric() }

    public func finish(_ run: EvaluationRun) throws -> Result? {
        let o = run.options, shape = run.itemShape, range = run.dataRange
        let scales = Evaluation.msssimScales(run.isVolumes ? shape : [shape[1], shape[2]])
        func diversity(_ set: EvaluationSet, seed: UInt64) throws -> DiversitySummary {
            try Evaluation.diversityPairs(labels: set.labels, classNames: run.classNames, maxPairs: o.diversityPairs, seed: seed) { a, b in
                guard run.isVolumes else {
                    var v: [[Float]] = []
                    try run.forEachSlab([(set, a), (set, b)]) { slabs, _ in v = slabs }
                    return try Evaluation.msssim2D(v[0], v[1], shape: shape, dataRange: range, scales: scales)
                }
                let m = try StreamingMSSSIM(shape: shape, dataRange: range, scales: scales)
                try run.forEachSlab([(set, a), (set, b)]) { slabs, _ in m.add(slabs[0], slabs[1]) }
                return try m.finish()
            }
        }
        run.log("MS-SSIM diversity (\(scales) scales)")
        let synthetic = try diversity(run.syntheticSet, seed: o.seed &+ 11)
        let real = try diversity(run.realSet, seed: o.seed &+ 12)
        return Result(synthetic: synthetic, real: real, scales: scales)
    }
}
