import XCTest
import PETTestFixtures
import PETTestSupport
@testable import PETMetrics
import PETTensor
import PETCohort

final class ClassifierTests: XCTestCase {
    let shape = [16, 16, 16]

    func sample(_ n: Int, seed: UInt64, bright: Bool = false, amplitude: Float = 1) -> [[Float]] {
        var rng = PETRandom(seed: seed)
        return (0..<n).map { i in
            var v = blobVolume(shape, seed: seed &* 1000 &+ UInt64(i), noise: 0.3).map { $0 * (amplitude + 0.2 * rng.normal()) }
            if bright { for d in 4..<8 { for h in 4..<8 { for w in 4..<8 { v[(d * 16 + h) * 16 + w] += 1.5 } } } }
            return v
        }
    }

    func testC2STOnIdenticalDistributionsIsChance() throws {
        let r = try TwoSampleTests.c2st(real: sample(30, seed: 1), synthetic: sample(30, seed: 2), shape: shape, epochs: 15, seed: 5)
        XCTAssertEqual(r.nTest, 30); XCTAssertEqual(r.nTrain, 30)
        XCTAssertLessThanOrEqual(r.ciLow, 0.5, "accuracy \(r.accuracy) on identical distributions")
        XCTAssertGreaterThanOrEqual(r.ciHigh, 0.5)
        XCTAssertLessThan(r.accuracy, 0.75)
    }

    func testC2STOnSeparableSetsIsNearPerfect() throws {
        let r = try TwoSampleTests.c2st(real: sample(30, seed: 3), synthetic: sample(30, seed: 4, bright: true), shape: shape, epochs: 15, seed: 5)
        XCTAssertGreaterThanOrEqual(r.accuracy, 0.9, "loss curve \(r.lossCurve)")
        XCTAssertGreaterThan(r.ciLow, 0.5)
        XCTAssertLessThan(r.lossCurve.last!, r.lossCurve.first!)
    }

    func testAugmentationRunsOnOneFixedTestSet() throws {
        // Two classes told apart by amplitude; synthetic copies from the same distributions.
        let real = sample(10, seed: 6, amplitude: 0.6) + sample(10, seed: 7, amplitude: 1.4)
        let labels = [Int](repeating: 0, count: 10) + [Int](repeating: 1, count: 10)
        let syn = sample(10, seed: 8, amplitude: 0.6) + sample(10, seed: 9, amplitude: 1.4)
        let r = try TwoSampleTests.augmentation(real: real, realLabels: labels, synthetic: syn, syntheticLabels: labels, classes: [0, 1],
                                                classNames: ["NC", "AD"], shape: shape, seeds: [1, 2], epochs: 12)
        XCTAssertEqual(r.nTest, 6); XCTAssertEqual(r.nTrainReal, 14); XCTAssertEqual(r.nTrainSynthetic, 20)
        XCTAssertEqual(r.runs.count, 2)
        XCTAssertEqual(r.task, "NC vs AD")
        XCTAssertGreaterThanOrEqual(r.augmented["accuracy"]!.mean, 0.8)
        XCTAssertEqual(r.accuracyGainPoints, 100 * (r.augmented["accuracy"]!.mean - r.realOnly["accuracy"]!.mean), accuracy: 1e-9)
        XCTAssertThrowsError(try TwoSampleTests.c2st(real: sample(2, seed: 1), synthetic: sample(2, seed: 2), shape: shape))
    }
}

/// Regression (issue 8): the 3-class real-only baseline of the augmentation benefit predicted one class
/// (global average pooling threw away where the hypometabolism is, and 150 Adam steps did not move it
/// off the class prior), which inflated the reported gain. On a phantom cohort whose classes differ in
/// known regions it must now learn: balanced accuracy well above chance (1/3) and every class predicted.
final class ClassifierPhantomTests: XCTestCase {
    nonisolated(unsafe) static var cohort: (xs: [[Float]], labels: [Int], shape: [Int])?

    /// The built-in cohort is now as hard as real FDG-PET (issue 15: 3-class about 0.55–0.70 with 60 per
    /// class at 2 mm), too hard for 20 per class at 4 mm to show whether the classifier learns. These
    /// tests ask that question, so their cohort has the typical disease pattern at twice its size.
    static func parameters() -> PhantomParameters {
        var p = PhantomParameters()
        p.effects[.disease] = 2
        p.effects[.variants] = 0
        return p
    }

    func phantomCohort() throws -> (xs: [[Float]], labels: [Int], shape: [Int]) {
        if let c = ClassifierPhantomTests.cohort { return c }
        try ensureTemplates(required: TemplateFiles.all)
        let p = try makeTempDir("classifier") + "/cohort.h5"
        defer { try? FileManager.default.removeItem(atPath: (p as NSString).deletingLastPathComponent) }
        // 20 subjects per class on the 4 mm grid, block-averaged as evaluate does (24×28×24).
        try PhantomCohort.makeSmallCohort(at: p, count: 60, seed: 5, templatesDirectory: RepositoryPaths.templates,
                                          parameters: ClassifierPhantomTests.parameters())
        let set = try VolumeSet.open(p)
        let f = Evaluation.smallFactor(set.shape)
        var xs: [[Float]] = [], shape: [Int] = []
        for i in 0..<set.count { let (s, ss) = ImageMetrics.downsample(try set.values(i), shape: set.shape, factor: f); xs.append(s); shape = ss }
        ClassifierPhantomTests.cohort = (xs, set.labels, shape)
        return (xs, set.labels, shape)
    }

    func testRealOnlyThreeClassBaselineLearnsOnPhantomCohort() throws {
        let c = try phantomCohort()
        XCTAssertEqual(Set(c.labels), [0, 1, 2])
        let (train, test) = TwoSampleTests.split(labels: c.labels, testFraction: 0.3, seed: 7)
        for seed: UInt64 in [1, 2] {
            let m = SmallCNN(classes: 3, inputShape: c.shape, seed: seed)
            let curve = try m.fit(train.map { c.xs[$0] }, labels: train.map { c.labels[$0] }, shape: c.shape, options: .init(seed: seed &+ 100))
            let p = try m.probabilities(test.map { c.xs[$0] }, shape: c.shape)
            let truth = test.map { c.labels[$0] }
            let scores = ClassificationScores(probabilities: p, labels: truth)
            let predicted = p.map { row in row.indices.max { row[$0] < row[$1] }! }
            let counts = (0..<3).map { k in predicted.filter { $0 == k }.count }
            XCTAssertEqual(counts.filter { $0 > 0 }.count, 3, "seed \(seed): predicted class counts \(counts) (truth \((0..<3).map { k in truth.filter { $0 == k }.count }))")
            XCTAssertGreaterThanOrEqual(scores.balancedAccuracy, 0.6, "seed \(seed): chance is 1/3; predicted counts \(counts), loss \(curve.first!) → \(curve.last!)")
            XCTAssertGreaterThanOrEqual(scores.auc, 0.75, "seed \(seed)")
            XCTAssertLessThan(curve.last!, 0.5 * curve.first!, "seed \(seed): the training loss must fall well below its start")
        }
    }

    func testAugmentationBaselineLearnsAndConverges() throws {
        // The augmentation experiment end to end: real only (the 60-subject cohort) vs real + a second,
        // independent phantom cohort as "synthetic". The baseline must be far above chance and its
        // fit converged, so a gain cannot come from a broken baseline.
        let c = try phantomCohort()
        let p = try makeTempDir("classifier-syn") + "/syn.h5"
        defer { try? FileManager.default.removeItem(atPath: (p as NSString).deletingLastPathComponent) }
        try PhantomCohort.makeSmallCohort(at: p, count: 30, seed: 6, templatesDirectory: RepositoryPaths.templates,
                                          parameters: ClassifierPhantomTests.parameters())
        let syn = try VolumeSet.open(p)
        let sx = try (0..<syn.count).map { ImageMetrics.downsample(try syn.values($0), shape: syn.shape, factor: Evaluation.smallFactor(syn.shape)).0 }
        let r = try TwoSampleTests.augmentation(real: c.xs, realLabels: c.labels, synthetic: sx, syntheticLabels: syn.labels,
                                                classes: [0, 1, 2], classNames: ["NC", "MCI", "AD"], shape: c.shape, seeds: [1, 2])
        XCTAssertEqual(r.nTrainReal, 42); XCTAssertEqual(r.nTrainSynthetic, 30); XCTAssertEqual(r.nTest, 18)
        XCTAssertGreaterThanOrEqual(r.realOnly["balanced_accuracy"]!.mean, 0.6, "\(r.runs.map { $0.realOnly })")
        XCTAssertGreaterThanOrEqual(r.augmented["balanced_accuracy"]!.mean, 0.6, "\(r.runs.map { $0.augmented })")
        for run in r.runs {
            XCTAssertLessThan(run.realOnlyFinalLoss, 0.5 * log(3.0), "seed \(run.seed): the real-only fit did not converge")
            XCTAssertLessThan(run.augmentedFinalLoss, 0.5 * log(3.0), "seed \(run.seed)")
            XCTAssertGreaterThanOrEqual(run.realOnlyEpochs, 25)
        }
    }
}
