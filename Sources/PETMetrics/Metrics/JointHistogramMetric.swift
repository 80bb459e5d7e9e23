// The joint intensity histogram over every pair (cf. the paper's Fig. 9): x = nearest real value,
// y = synthetic value, over the real set's range; figures/joint_histogram.png.

import Foundation
import PETTensor
import PETVolumes

public final class JointHistogramMetric: EvaluationMetric {
    public struct Result: Codable {
        public var bins: Int
        /// [lo, hi] of both axes.
        public var range: [Double]
        public var x = "real (nearest)", y = "synthetic", figure = "figures/joint_histogram.png"
    }
    public static let placement = MetricPlacement.at(["distribution", "joint_histogram"])
    public static func make(for run: EvaluationRun) throws -> JointHistogramMetric? { JointHistogramMetric() }

    let bins = 96
    lazy var counts = [Double](repeating: 0, count: bins * bins)
    var lo = 0.0, span = 1.0

    public func beginPair(_ pair: EvaluationPair, run: EvaluationRun) throws {
        lo = Double(min(0, run.real.lo)); span = run.dataRange
    }

    public func addPairSlabs(real: [Float], synthetic: [Float], firstDepth: Int) throws {
        Evaluation.addToJointHistogram(&counts, bins: bins, real: real, synthetic: synthetic, lo: lo, span: span)
    }

    public func finish(_ run: EvaluationRun) throws -> Result? {
        try run.saveFigure(Figures.heatmap(counts, bins: bins, scale: 4), "joint_histogram.png")
        let lo = Double(min(0, run.real.lo))
        return Result(bins: bins, range: [lo, lo + run.dataRange])
    }
}
