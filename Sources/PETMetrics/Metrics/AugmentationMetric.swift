// Augmentation benefit: does adding the class-labelled synthetic samples to a real training set help a
// classifier on held-out real samples? NC vs AD (or the first and last class) and all classes.

import Foundation
import PETTensor
import PETVolumes

public final class AugmentationMetric: EvaluationMetric {
    public typealias Result = [AugmentationResult]
    public static let placement = MetricPlacement.at(["augmentation"])
    public static func make(for run: EvaluationRun) throws -> AugmentationMetric? { AugmentationMetric() }

    public func finish(_ run: EvaluationRun) throws -> [AugmentationResult]? {
        let o = run.options, classNames = run.classNames, nClasses = run.classCount
        guard !o.skipClassifiers else { return [] }
        let realLabels = run.realSet.labels, syntheticLabels = run.syntheticSet.labels
        let realClasses = Set(realLabels.filter { $0 >= 0 })
        guard realClasses.count >= 2 && syntheticLabels.filter({ $0 >= 0 }).count >= 2 else {
            run.notes.append("Augmentation benefit needs ≥ 2 real classes and class-labelled synthetic samples.")
            return []
        }
        var tasks: [[Int]] = []
        let nc = classNames.firstIndex(of: "NC") ?? classNames.firstIndex(of: "CN") ?? 0
        let ad = classNames.firstIndex(of: "AD") ?? (nClasses - 1)
        if realClasses.contains(nc) && realClasses.contains(ad) && nc != ad { tasks.append([nc, ad]) }
        if realClasses.count >= 3 { tasks.append(realClasses.sorted()) }
        var out: [AugmentationResult] = []
        for t in tasks {
            let name = t.map { classNames[$0] }.joined(separator: " vs ")
            run.log("augmentation benefit: \(name)")
            do {
                out.append(try TwoSampleTests.augmentation(real: run.real.blockAverages, realLabels: realLabels, synthetic: run.synthetic.blockAverages,
                                                           syntheticLabels: syntheticLabels, classes: t, classNames: classNames,
                                                           shape: run.blockShape, seeds: o.augmentationSeeds, epochs: o.classifierEpochs,
                                                           splitSeed: o.seed &+ 51, minSteps: o.classifierMinSteps))
            } catch { run.notes.append("augmentation \(name) skipped: \(error)") }
        }
        return out
    }
}
