// The pinned, offline 3D Fréchet distance (fd_seeded): Fréchet distance between Gaussians fitted to the
// real and the synthetic set in the feature space of `SeededFeatureNetwork` (fixed seeded weights, no
// training, no download), on the block-averaged volumes, both standardized with the real set's voxel
// mean and SD. Written with the extractor's version and weight hash, the real half-vs-half value (the
// floor a finite sample reaches) and a percentile-bootstrap 95% interval. Volumes only.

import Foundation
import PETTensor
import PETVolumes

public final class SeededFrechetMetric: EvaluationMetric {
    public struct Result: Codable {
        public var extractor: String, weightsSHA256: String
        public var featureCount: Int
        /// (D, H, W) the network saw: the evaluation's block averages.
        public var inputShape: [Int]
        public var inputMean: Double, inputSD: Double
        public var nReal: Int, nSynthetic: Int
        public var frechetDistance: Double
        public var interval: Interval
        /// Even- vs odd-indexed real volumes: what two samples of one distribution score at this size.
        public var frechetRealHalfVsHalf: Double
        enum CodingKeys: String, CodingKey {
            case extractor, interval
            case weightsSHA256 = "weights_sha256", featureCount = "feature_count", inputShape = "input_shape_dhw",
                 inputMean = "input_mean", inputSD = "input_sd", nReal = "n_real", nSynthetic = "n_synthetic",
                 frechetDistance = "frechet_distance", frechetRealHalfVsHalf = "frechet_real_half_vs_half"
        }
    }
    public static let placement = MetricPlacement.at(["distribution", "fd_seeded"])
    public static func make(for run: EvaluationRun) throws -> SeededFrechetMetric? { run.isVolumes ? SeededFrechetMetric() : nil }

    /// The real set's voxel mean and SD over its block averages (the network's input standardization).
    static func standardization(_ real: [[Float]]) -> (Float, Float) {
        var s = 0.0, s2 = 0.0, c = 0.0
        for x in real { for v in x { s += Double(v); s2 += Double(v) * Double(v) }; c += Double(x.count) }
        let m = s / max(1, c)
        return (Float(m), Float(max(1e-6, (s2 / max(1, c) - m * m).squareRoot())))
    }

    /// Seeded features of the run's block-averaged real and synthetic sets.
    static func features(_ run: EvaluationRun) throws -> (real: [[Float]], synthetic: [[Float]], mean: Float, sd: Float) {
        let (m, sd) = standardization(run.real.blockAverages)
        let net = SeededFeatureNetwork.v1
        return (try net.features(run.real.blockAverages, shape: run.blockShape, mean: m, sd: sd),
                try net.features(run.synthetic.blockAverages, shape: run.blockShape, mean: m, sd: sd), m, sd)
    }

    public func finish(_ run: EvaluationRun) throws -> Result? {
        run.log("seeded Fréchet distance (\(SeededFeatureNetwork.version))")
        let f = try Self.features(run)
        let fd = DistributionMetrics.frechet(f.real, f.synthetic)
        let halves = DistributionMetrics.frechet(f.real.enumerated().filter { $0.offset % 2 == 0 }.map(\.element),
                                                 f.real.enumerated().filter { $0.offset % 2 == 1 }.map(\.element))
        let interval = Intervals.frechet(f.real, f.synthetic, resamples: run.options.bootstrapResamples, seed: run.options.seed &+ 61)
        return Result(extractor: SeededFeatureNetwork.version, weightsSHA256: SeededFeatureNetwork.v1.weightsSHA256,
                      featureCount: SeededFeatureNetwork.featureCount, inputShape: run.blockShape,
                      inputMean: Double(f.mean), inputSD: Double(f.sd), nReal: f.real.count, nSynthetic: f.synthetic.count,
                      frechetDistance: fd, interval: interval, frechetRealHalfVsHalf: halves)
    }

    public static func reportSection(_ r: Result) -> String? {
        var h = "<h2>Seeded 3D Fréchet distance (pinned extractor)</h2>"
        h += "<p>FD = <b>\(Report.num(r.frechetDistance, 4))</b> (95% \(Report.interval(r.interval, 4))); real half vs half \(Report.num(r.frechetRealHalfVsHalf, 4)). Extractor <code>\(Report.esc(r.extractor))</code>: a fixed random 3D CNN (weights from PETGAN's seeded generator, SHA-256 <code>\(Report.esc(r.weightsSHA256))</code>), \(r.featureCount) features, on \(r.inputShape.map(String.init).joined(separator: "×")) block averages standardized with the real set's voxel mean \(Report.num(r.inputMean, 4)) and SD \(Report.num(r.inputSD, 4)); \(r.nReal) real and \(r.nSynthetic) synthetic volumes. Comparable across runs and models on the same grid and real set; not comparable with 2D ImageNet FID or MedicalNet 3D FID.</p>"
        return h
    }
}

extension Intervals {
    /// Percentile bootstrap of the Fréchet distance: both sets resampled independently.
    public static func frechet(_ x: [[Float]], _ y: [[Float]], resamples: Int = defaultResamples, seed: UInt64) -> Interval {
        bootstrap(sizes: [x.count, y.count], resamples: resamples, seed: seed) { idx in
            DistributionMetrics.frechetFast(idx[0].map { x[$0] }, idx[1].map { y[$0] })
        }
    }
}
