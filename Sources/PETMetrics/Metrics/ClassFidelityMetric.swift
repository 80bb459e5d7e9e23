// Class fidelity of a conditional model: the baseline classifier (SmallCNN, the augmentation test's
// network) trained on real volumes only labels every synthetic volume; the fraction labelled as the
// class it was generated for, per class and overall, with the confusion matrix (rows: requested class,
// columns: predicted). The classifier is validated on held-out real volumes (30% of each class, never
// trained on): its accuracy there is the ceiling a perfect generator would reach. Intervals:
// Clopper–Pearson 95%. Needs ≥ 2 real classes with ≥ 3 volumes each and labelled synthetic volumes.

import Foundation
import PETTensor
import PETVolumes

public final class ClassFidelityMetric: EvaluationMetric {
    public struct ClassRow: Codable {
        public var className: String
        /// Synthetic volumes requested as this class, and how many the classifier gave this class.
        public var requested: Int, correct: Int
        public var accuracy: Double, interval: Interval
        /// Held-out real volumes of this class and the classifier's recall on them.
        public var heldOutReal: Int, heldOutRealAccuracy: Double
        enum CodingKeys: String, CodingKey {
            case requested, correct, accuracy, interval, className = "class", heldOutReal = "held_out_real", heldOutRealAccuracy = "held_out_real_accuracy"
        }
    }
    public struct Result: Codable {
        public var classifier: String
        public var classes: [String]
        public var nTrainReal: Int, nHeldOutReal: Int, nSynthetic: Int
        /// Accuracy on the held-out real volumes: the ceiling.
        public var ceilingAccuracy: Double, ceilingInterval: Interval
        /// Fraction of synthetic volumes labelled as their requested class.
        public var classFidelity: Double, interval: Interval
        /// classFidelity / ceilingAccuracy (1: as recognizable as real volumes).
        public var relativeToCeiling: Double
        public var perClass: [ClassRow]
        /// confusion[requested][predicted] counts over the synthetic volumes.
        public var confusion: [[Int]]
        /// Same layout over the held-out real volumes.
        public var confusionHeldOutReal: [[Int]]
        enum CodingKeys: String, CodingKey {
            case classifier, classes, interval, confusion
            case nTrainReal = "n_train_real", nHeldOutReal = "n_held_out_real", nSynthetic = "n_synthetic",
                 ceilingAccuracy = "ceiling_accuracy", ceilingInterval = "ceiling_interval", classFidelity = "class_fidelity",
                 relativeToCeiling = "relative_to_ceiling", perClass = "per_class", confusionHeldOutReal = "confusion_held_out_real"
        }
    }
    public static let placement = MetricPlacement.at(["class_fidelity"])

    public static func make(for run: EvaluationRun) throws -> ClassFidelityMetric? {
        guard !run.options.skipClassifiers, run.classCount >= 2 else { return nil }
        return ClassFidelityMetric()
    }

    public func finish(_ run: EvaluationRun) throws -> Result? {
        let o = run.options, k = run.classCount, shape = run.blockShape
        let realLabels = run.realSet.labels, synLabels = run.syntheticSet.labels
        let present = (0..<k).filter { c in realLabels.filter { $0 == c }.count >= 3 }
        guard present.count == k else {
            run.notes.append("Class fidelity skipped: every class needs at least 3 real volumes (the classifier is validated on held-out ones).")
            return nil
        }
        let labelled = synLabels.indices.filter { synLabels[$0] >= 0 && synLabels[$0] < k }
        guard !labelled.isEmpty else {
            run.notes.append("Class fidelity skipped: the synthetic volumes carry no class (unconditional model).")
            return nil
        }
        run.log("class fidelity: baseline classifier on real volumes only")
        let (train, test) = TwoSampleTests.split(labels: realLabels, testFraction: 0.3, seed: o.seed &+ 51)
        let net = SmallCNN(classes: k, inputShape: shape, seed: o.seed &+ 52)
        let real = run.real.blockAverages
        try net.fit(train.map { real[$0] }, labels: train.map { realLabels[$0] }, shape: shape,
                    options: .init(epochs: o.classifierEpochs, seed: o.seed &+ 53, minSteps: o.classifierMinSteps))
        func predict(_ xs: [[Float]]) throws -> [Int] {
            try net.probabilities(xs, shape: shape).map { row in row.indices.max { row[$0] < row[$1] }! }
        }
        let testPred = try predict(test.map { real[$0] })
        let synPred = try predict(labelled.map { run.synthetic.blockAverages[$0] })
        var confusion = Array(repeating: [Int](repeating: 0, count: k), count: k), confusionReal = confusion
        for (i, s) in labelled.enumerated() { confusion[synLabels[s]][synPred[i]] += 1 }
        for (i, r) in test.enumerated() { confusionReal[realLabels[r]][testPred[i]] += 1 }
        let correct = (0..<k).reduce(0) { $0 + confusion[$1][$1] }
        let correctReal = (0..<k).reduce(0) { $0 + confusionReal[$1][$1] }
        let rows = (0..<k).map { c -> ClassRow in
            let n = confusion[c].reduce(0, +), nr = confusionReal[c].reduce(0, +)
            return ClassRow(className: run.classNames[c], requested: n, correct: confusion[c][c],
                            accuracy: n > 0 ? Double(confusion[c][c]) / Double(n) : .nan, interval: Intervals.clopperPearson(confusion[c][c], n),
                            heldOutReal: nr, heldOutRealAccuracy: nr > 0 ? Double(confusionReal[c][c]) / Double(nr) : .nan)
        }
        let fidelity = Double(correct) / Double(labelled.count), ceiling = Double(correctReal) / Double(test.count)
        if labelled.count < synLabels.count {
            run.notes.append("Class fidelity: \(synLabels.count - labelled.count) unlabelled synthetic volume(s) left out.")
        }
        return Result(classifier: "SmallCNN (\(SmallCNN.featureCount)-feature hidden layer) trained on \(train.count) real volumes (70% of each class, seed \(o.seed &+ 51)), block-averaged \(shape.map(String.init).joined(separator: "×"))",
                      classes: run.classNames, nTrainReal: train.count, nHeldOutReal: test.count, nSynthetic: labelled.count,
                      ceilingAccuracy: ceiling, ceilingInterval: Intervals.clopperPearson(correctReal, test.count),
                      classFidelity: fidelity, interval: Intervals.clopperPearson(correct, labelled.count),
                      relativeToCeiling: ceiling > 0 ? fidelity / ceiling : .nan, perClass: rows,
                      confusion: confusion, confusionHeldOutReal: confusionReal)
    }

    public static func reportSection(_ r: Result) -> String? {
        var h = "<h2>Class fidelity</h2>"
        h += "<p>\(Report.esc(r.classifier)) labels each of the \(r.nSynthetic) synthetic volumes. Class fidelity (fraction labelled as the requested class): <b>\(Report.num(r.classFidelity, 3))</b> (95% \(Report.interval(r.interval, 3))). Ceiling — the same classifier on \(r.nHeldOutReal) held-out real volumes: \(Report.num(r.ceilingAccuracy, 3)) (95% \(Report.interval(r.ceilingInterval, 3))); relative to the ceiling \(Report.num(r.relativeToCeiling, 3)). Chance is \(Report.num(1 / Double(max(1, r.classes.count)), 3)).</p>"
        h += "<table><thead><tr><th>requested class</th><th>synthetic</th><th>labelled as requested</th><th>95% interval</th><th>held-out real recall (n)</th></tr></thead><tbody>"
        for c in r.perClass {
            h += "<tr><td>\(Report.esc(c.className))</td><td>\(c.requested)</td><td>\(Report.num(c.accuracy, 3))</td><td>\(Report.interval(c.interval, 3))</td><td>\(Report.num(c.heldOutRealAccuracy, 3)) (\(c.heldOutReal))</td></tr>"
        }
        h += "</tbody></table>"
        for (title, m) in [("synthetic volumes", r.confusion), ("held-out real volumes", r.confusionHeldOutReal)] {
            h += "<table><thead><tr><th>\(Report.esc(title)): requested ↓ / predicted →</th>" + r.classes.map { "<th>\(Report.esc($0))</th>" }.joined() + "</tr></thead><tbody>"
            for (i, row) in m.enumerated() {
                h += "<tr><th>\(Report.esc(r.classes[i]))</th>" + row.enumerated().map { j, v in "<td\(i == j ? " style=\"font-weight:bold\"" : "")>\(v)</td>" }.joined() + "</tr>"
            }
            h += "</tbody></table>"
        }
        return h
    }
}
