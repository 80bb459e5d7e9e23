// Classifier two-sample test: a small CNN trained to tell block-averaged real from synthetic samples;
// its held-out accuracy (0.5 = indistinguishable) with a confidence interval.

import Foundation
import PETTensor
import PETVolumes

public final class C2STMetric: EvaluationMetric {
    public typealias Result = C2STResult
    public static let placement = MetricPlacement.at(["c2st"])
    public static func make(for run: EvaluationRun) throws -> C2STMetric? { run.options.skipClassifiers ? nil : C2STMetric() }

    public func finish(_ run: EvaluationRun) throws -> C2STResult? {
        let o = run.options
        run.log("classifier two-sample test")
        do {
            return try TwoSampleTests.c2st(real: run.real.blockAverages, synthetic: run.synthetic.blockAverages, shape: run.blockShape,
                                           epochs: o.classifierEpochs, seed: o.seed &+ 41, minSteps: o.classifierMinSteps)
        } catch {
            run.notes.append("C2ST skipped: \(error)")
            return nil
        }
    }
}
