// Distances in the feature space of a small CNN trained on the real set's classes (a random fixed
// network when the real set has one class): Fréchet distance (with the real set's half-vs-half
// distance as its scale) and MMD² on the features. Block-averaged samples.

import Foundation
import PETTensor
import PETVolumes

public final class FeatureDistanceMetric: EvaluationMetric {
    /// Empty (every field nil) when the classifiers are skipped.
    public struct Result: Codable {
        public var network: String?
        public var frechetDistance: Double?, frechetRealHalfVsHalf: Double?
        public var mmdFeatures: MMDResult?
        /// Percentile-bootstrap 95% interval of `frechetDistance` (the network fixed, both sets resampled).
        public var frechetInterval: Interval? = nil
        enum CodingKeys: String, CodingKey {
            case network, frechetDistance = "frechet_distance", frechetRealHalfVsHalf = "frechet_real_half_vs_half", mmdFeatures = "mmd_features",
                 frechetInterval = "frechet_interval"
        }
    }
    public static let placement = MetricPlacement.at(["distribution", "features"])
    public static func make(for run: EvaluationRun) throws -> FeatureDistanceMetric? { FeatureDistanceMetric() }

    public func finish(_ run: EvaluationRun) throws -> Result? {
        let o = run.options, classNames = run.classNames, shape = run.blockShape
        guard !o.skipClassifiers else {
            run.notes.append("Classifier-based metrics skipped (--skip-classifiers).")
            return Result()
        }
        let real = run.real.blockAverages, realLabels = run.realSet.labels
        let featureNet = SmallCNN(classes: max(2, run.classCount), inputShape: shape, seed: o.seed &+ 31)
        let network: String
        if Set(realLabels.filter { $0 >= 0 }).count >= 2 {
            run.log("training the feature network on the real classes")
            try featureNet.fit(real, labels: realLabels.map { max(0, $0) }, shape: shape,
                               options: .init(epochs: o.classifierEpochs, seed: o.seed &+ 32, minSteps: o.classifierMinSteps))
            network = "SmallCNN trained on the real set's classes (\(classNames.joined(separator: ", "))), \(SmallCNN.featureCount) features"
        } else {
            network = "SmallCNN with fixed random weights (seed \(o.seed &+ 31)): the real set has one class, so no class network could be trained"
            run.notes.append("Fréchet distance uses a random fixed network (one real class).")
        }
        let fr = try featureNet.features(real, shape: shape), fs = try featureNet.features(run.synthetic.blockAverages, shape: shape)
        let halves = DistributionMetrics.frechet(Array(fr.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)),
                                                 Array(fr.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)))
        return Result(network: network, frechetDistance: DistributionMetrics.frechet(fr, fs), frechetRealHalfVsHalf: halves,
                      mmdFeatures: DistributionMetrics.mmd(fr, fs, permutations: o.mmdPermutations, seed: o.seed &+ 22),
                      frechetInterval: Intervals.frechet(fr, fs, resamples: o.bootstrapResamples, seed: o.seed &+ 62))
    }
}
