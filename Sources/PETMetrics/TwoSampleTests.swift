// Classifier two-sample test (Lopez-Paz & Oquab 2017; Han et al. 2018) and the augmentation benefit
// (Islam & Zhang 2020: a classifier trained on real + synthetic vs real only, same real test set).
//
// Public API:
//   try TwoSampleTests.c2st(real:, synthetic:, shape:, epochs:, seed:) -> C2STResult
//   try TwoSampleTests.augmentation(real:, realLabels:, synthetic:, syntheticLabels:, classes:, ...) -> AugmentationResult

import Foundation
import PETTensor

public struct C2STResult: Codable {
    /// Held-out accuracy of telling real from synthetic (0.5 = indistinguishable).
    public var accuracy: Double
    public var ciLow: Double, ciHigh: Double
    public var ciMethod: String
    public var correct: Int, nTest: Int, nTrain: Int
    public var auc: Double
    public var lossCurve: [Double]
    public var epochs: Int, seed: UInt64
}

public struct AugmentationRun: Codable {
    public var seed: UInt64
    public var realOnly: ClassificationScores
    public var augmented: ClassificationScores
    /// Training epochs and the last epoch's mean training loss of each fit: both should have
    /// converged, or a "gain" may only mean the larger training set got more Adam steps.
    public var realOnlyEpochs: Int, augmentedEpochs: Int
    public var realOnlyFinalLoss: Double, augmentedFinalLoss: Double
}

public struct AugmentationResult: Codable {
    public var task: String
    public var classes: [String]
    public var nTrainReal: Int, nTrainSynthetic: Int, nTest: Int
    public var runs: [AugmentationRun]
    public var realOnly: [String: Summary]
    public var augmented: [String: Summary]
    /// Mean accuracy gain in percentage points (augmented − real only).
    public var accuracyGainPoints: Double
}

public enum TwoSampleTests {
    /// Stratified split of indices: a `testFraction` of each label goes to the test side.
    static func split(labels: [Int], testFraction: Double, seed: UInt64) -> (train: [Int], test: [Int]) {
        var rng = PETRandom(seed: seed)
        var train: [Int] = [], test: [Int] = []
        for l in Set(labels).sorted() {
            var members = labels.indices.filter { labels[$0] == l }
            rng.shuffle(&members)
            let nt = max(1, min(members.count - 1, Int((Double(members.count) * testFraction).rounded())))
            test += members[0..<nt]; train += members[nt...]
        }
        return (train.sorted(), test.sorted())
    }

    /// Trains a SmallCNN to tell real (label 0) from synthetic (label 1) on half of a balanced set and
    /// reports accuracy on the other half with a Clopper–Pearson 95% interval.
    public static func c2st(real: [[Float]], synthetic: [[Float]], shape: [Int], epochs: Int = 25, seed: UInt64 = 1,
                            minSteps: Int = SmallCNN.FitOptions().minSteps) throws -> C2STResult {
        let n = min(real.count, synthetic.count)
        guard n >= 4 else { throw MetricsError.tooSmall(detail: "the two-sample test needs at least 4 real and 4 synthetic volumes (have \(real.count), \(synthetic.count))") }
        var rng = PETRandom(seed: seed)
        var ri = Array(0..<real.count), si = Array(0..<synthetic.count)
        rng.shuffle(&ri); rng.shuffle(&si)
        let xs = ri[0..<n].map { real[$0] } + si[0..<n].map { synthetic[$0] }
        let ys = [Int](repeating: 0, count: n) + [Int](repeating: 1, count: n)
        let (train, test) = split(labels: ys, testFraction: 0.5, seed: seed &+ 1)
        let model = SmallCNN(classes: 2, inputShape: shape, seed: seed &+ 2)
        let curve = try model.fit(train.map { xs[$0] }, labels: train.map { ys[$0] }, shape: shape,
                                  options: .init(epochs: epochs, seed: seed &+ 3, minSteps: minSteps))
        let p = try model.probabilities(test.map { xs[$0] }, shape: shape)
        let truth = test.map { ys[$0] }
        let scores = ClassificationScores(probabilities: p, labels: truth)
        let correct = Int((scores.accuracy * Double(test.count)).rounded())
        let ci = Statistics.clopperPearson(correct, test.count)
        return C2STResult(accuracy: scores.accuracy, ciLow: ci.low, ciHigh: ci.high, ciMethod: "Clopper-Pearson 95%",
                          correct: correct, nTest: test.count, nTrain: train.count, auc: scores.auc, lossCurve: curve,
                          epochs: epochs, seed: seed)
    }

    /// A class classifier trained on real only vs real + synthetic (labelled) samples of `classes`,
    /// evaluated on one fixed held-out real test set (30% of each class), once per seed.
    public static func augmentation(real: [[Float]], realLabels: [Int], synthetic: [[Float]], syntheticLabels: [Int],
                                    classes: [Int], classNames: [String], shape: [Int], seeds: [UInt64], epochs: Int = 25,
                                    splitSeed: UInt64 = 7, minSteps: Int = SmallCNN.FitOptions().minSteps) throws -> AugmentationResult {
        let map = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let rIdx = realLabels.indices.filter { map[realLabels[$0]] != nil }
        let sIdx = syntheticLabels.indices.filter { map[syntheticLabels[$0]] != nil }
        let rx = rIdx.map { real[$0] }, ry = rIdx.map { map[realLabels[$0]]! }
        let sx = sIdx.map { synthetic[$0] }, sy = sIdx.map { map[syntheticLabels[$0]]! }
        for c in 0..<classes.count where ry.filter({ $0 == c }).count < 3 {
            throw MetricsError.tooSmall(detail: "augmentation benefit needs at least 3 real volumes of class \(classNames[classes[c]])")
        }
        let (train, test) = split(labels: ry, testFraction: 0.3, seed: splitSeed)
        let trainX = train.map { rx[$0] }, trainY = train.map { ry[$0] }
        let testX = test.map { rx[$0] }, testY = test.map { ry[$0] }
        var runs: [AugmentationRun] = []
        for s in seeds {
            let a = SmallCNN(classes: classes.count, inputShape: shape, seed: s)
            let ca = try a.fit(trainX, labels: trainY, shape: shape, options: .init(epochs: epochs, seed: s &+ 100, minSteps: minSteps))
            let ra = ClassificationScores(probabilities: try a.probabilities(testX, shape: shape), labels: testY)
            let b = SmallCNN(classes: classes.count, inputShape: shape, seed: s)
            let cb = try b.fit(trainX + sx, labels: trainY + sy, shape: shape, options: .init(epochs: epochs, seed: s &+ 100, minSteps: minSteps))
            let rb = ClassificationScores(probabilities: try b.probabilities(testX, shape: shape), labels: testY)
            runs.append(AugmentationRun(seed: s, realOnly: ra, augmented: rb, realOnlyEpochs: ca.count, augmentedEpochs: cb.count,
                                        realOnlyFinalLoss: ca.last ?? .nan, augmentedFinalLoss: cb.last ?? .nan))
        }
        func summarize(_ f: (AugmentationRun) -> ClassificationScores) -> [String: Summary] {
            ["accuracy": Summary(runs.map { f($0).accuracy }), "balanced_accuracy": Summary(runs.map { f($0).balancedAccuracy }),
             "auc": Summary(runs.map { f($0).auc })]
        }
        let ro = summarize { $0.realOnly }, au = summarize { $0.augmented }
        return AugmentationResult(task: classes.map { classNames[$0] }.joined(separator: " vs "), classes: classes.map { classNames[$0] },
                                  nTrainReal: train.count, nTrainSynthetic: sx.count, nTest: test.count, runs: runs,
                                  realOnly: ro, augmented: au,
                                  accuracyGainPoints: 100 * ((au["accuracy"]?.mean ?? .nan) - (ro["accuracy"]?.mean ?? .nan)))
    }
}
