import XCTest
@testable import PETMetrics
import PETTensor

/// Logistic regression, stratified folds and the corrected resampled t-interval of the cohort
/// difficulty measurement (issue 15 §4).
final class LogisticRegressionTests: XCTestCase {
    /// Two Gaussian classes in `p` dimensions whose means differ by `shift` along the first axis.
    func gaussianClasses(_ nPerClass: Int, p: Int, shift: Double, classes: Int = 2, seed: UInt64) -> ([[Double]], [Int]) {
        var rng = PETRandom(seed: seed)
        var x: [[Double]] = [], y: [Int] = []
        for c in 0..<classes {
            for _ in 0..<nPerClass {
                var row = (0..<p).map { _ in Double(rng.normal()) }
                row[c % p] += shift
                x.append(row); y.append(c)
            }
        }
        return (x, y)
    }

    func testSeparableDataAreClassifiedPerfectly() throws {
        // Classes 10 SD apart along one axis, plus pure-noise features: every held-out point right.
        let (x, y) = gaussianClasses(30, p: 5, shift: 10, seed: 1)
        let (tx, ty) = gaussianClasses(50, p: 5, shift: 10, seed: 2)
        var lr = LogisticRegression()
        try lr.fit(x, labels: y, classes: 2)
        let s = ClassificationScores(probabilities: lr.probabilities(tx), labels: ty)
        XCTAssertEqual(s.accuracy, 1); XCTAssertEqual(s.balancedAccuracy, 1); XCTAssertEqual(s.auc, 1)
        // The penalty keeps the optimum finite on separable data, and Newton reaches it.
        XCTAssertLessThan(lr.gradientNorm(x, labels: y), 1e-6)
        XCTAssertTrue(lr.coefficients.joined().allSatisfy { $0.isFinite })
    }

    func testOneFeatureOptimumByHand() throws {
        // x = ±1 (standardised: already mean 0, population SD 1), labels y = (x > 0), one point of each
        // class mislabelled: 3 of 4 right per side. By symmetry b = 0 and, with C = 1, w solves
        //   Σ_i (σ(w x_i) − y_i) x_i + w = 0  ⇔  8·(σ(w) − 3/4) + w = 0   (8 points, 2 mislabelled).
        let x: [[Double]] = [[1], [1], [1], [1], [-1], [-1], [-1], [-1]]
        let y = [1, 1, 1, 0, 0, 0, 0, 1]
        var lr = LogisticRegression(inverseRegularization: 1)
        try lr.fit(x, labels: y, classes: 2)
        // Bisection on the hand-derived equation.
        var lo = 0.0, hi = 5.0
        for _ in 0..<200 { let m = (lo + hi) / 2; if 8 * (1 / (1 + exp(-m)) - 0.75) + m < 0 { lo = m } else { hi = m } }
        XCTAssertEqual(lr.coefficients[0][0], lo, accuracy: 1e-9)
        XCTAssertEqual(lr.coefficients[0][1], 0, accuracy: 1e-9)
        XCTAssertEqual(lr.probabilities([[1]])[0][1], 1 / (1 + exp(-lo)), accuracy: 1e-9)
    }

    func testMultinomialFitIsOptimalAndSeparatesThreeClasses() throws {
        let (x, y) = gaussianClasses(25, p: 4, shift: 6, classes: 3, seed: 3)
        var lr = LogisticRegression()
        try lr.fit(x, labels: y, classes: 3)
        XCTAssertEqual(lr.coefficients.count, 3)
        XCTAssertLessThan(lr.gradientNorm(x, labels: y), 1e-6)
        let (tx, ty) = gaussianClasses(40, p: 4, shift: 6, classes: 3, seed: 4)
        XCTAssertGreaterThanOrEqual(ClassificationScores(probabilities: lr.probabilities(tx), labels: ty).balancedAccuracy, 0.95)
    }

    func testStandardisationUsesTheTrainingSetOnly() throws {
        // A feature on a scale of 1e6 with an offset gives the same predictions as its standardised copy.
        let (x, y) = gaussianClasses(20, p: 2, shift: 1.5, seed: 5)
        let scaled = x.map { [$0[0] * 1e6 + 3e7, $0[1] * 1e-3 - 4] }
        var a = LogisticRegression(), b = LogisticRegression()
        try a.fit(x, labels: y, classes: 2); try b.fit(scaled, labels: y, classes: 2)
        let (tx, _) = gaussianClasses(10, p: 2, shift: 1.5, seed: 6)
        let pa = a.probabilities(tx), pb = b.probabilities(tx.map { [$0[0] * 1e6 + 3e7, $0[1] * 1e-3 - 4] })
        for (u, v) in zip(pa, pb) { XCTAssertEqual(u[1], v[1], accuracy: 1e-9) }
    }

    func testBadInputsThrow() {
        var lr = LogisticRegression()
        XCTAssertThrowsError(try lr.fit([[1]], labels: [0], classes: 2))
        XCTAssertThrowsError(try lr.fit([[1], [2]], labels: [0, 2], classes: 2))
        XCTAssertThrowsError(try lr.fit([[1], [.nan]], labels: [0, 1], classes: 2))
        var bad = LogisticRegression(inverseRegularization: 0)
        XCTAssertThrowsError(try bad.fit([[1], [2]], labels: [0, 1], classes: 2))
    }
}

final class CrossValidationTests: XCTestCase {
    func testStratifiedFoldsAreBalancedCompleteAndSeeded() throws {
        let labels = [Int](repeating: 0, count: 23) + [Int](repeating: 1, count: 17) + [Int](repeating: 2, count: 11)
        let f = try StratifiedFolds.assign(labels: labels, folds: 5, seed: 9)
        XCTAssertEqual(f.count, labels.count)
        XCTAssertTrue(f.allSatisfy { (0..<5).contains($0) })
        for c in 0..<3 {
            let n = labels.filter { $0 == c }.count
            let perFold = (0..<5).map { k in labels.indices.filter { labels[$0] == c && f[$0] == k }.count }
            XCTAssertEqual(perFold.reduce(0, +), n)
            XCTAssertLessThanOrEqual(perFold.max()! - perFold.min()!, 1, "class \(c): \(perFold)")
        }
        let sizes = (0..<5).map { k in f.filter { $0 == k }.count }
        XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "\(sizes)")
        XCTAssertEqual(try StratifiedFolds.assign(labels: labels, folds: 5, seed: 9), f)
        XCTAssertNotEqual(try StratifiedFolds.assign(labels: labels, folds: 5, seed: 10), f)
        let plan = try CrossValidationPlan(parsing: "3x5", seed: 4)
        let a = try plan.assignments(labels: labels)
        XCTAssertEqual(a.count, 3)
        XCTAssertNotEqual(a[0], a[1]); XCTAssertEqual(a, try plan.assignments(labels: labels))
        XCTAssertThrowsError(try StratifiedFolds.assign(labels: [0, 0, 0, 1, 1], folds: 3, seed: 1), "class 1 has 2 < 3 members")
    }

    func testPlanParsing() throws {
        let p = try CrossValidationPlan(parsing: "5x5")
        XCTAssertEqual(p.repeats, 5); XCTAssertEqual(p.folds, 5)
        XCTAssertEqual(try CrossValidationPlan(parsing: "2×3").folds, 3)
        for bad in ["5", "5x", "x5", "0x5", "5x1", "axb", "5x5x5"] {
            XCTAssertThrowsError(try CrossValidationPlan(parsing: bad), bad)
        }
    }

    func testTQuantileMatchesTables() {
        // Student t 0.975 quantiles (any t table): df 1 12.706, df 4 2.776, df 24 2.064, df 1000 ≈ 1.962.
        XCTAssertEqual(Statistics.tQuantile(0.975, df: 1), 12.7062, accuracy: 1e-3)
        XCTAssertEqual(Statistics.tQuantile(0.975, df: 4), 2.7764, accuracy: 1e-3)
        XCTAssertEqual(Statistics.tQuantile(0.975, df: 24), 2.0639, accuracy: 1e-3)
        XCTAssertEqual(Statistics.tQuantile(0.025, df: 24), -2.0639, accuracy: 1e-3)
        XCTAssertEqual(Statistics.tQuantile(0.975, df: 1000), 1.9623, accuracy: 1e-3)
    }

    func testUncorrectedIntervalCoversAtTheNominalRateOnIndependentDraws() {
        // With testFraction 0 the interval is the plain t-interval: on independent normal draws it covers
        // the true mean about 95% of the time (2000 trials: binomial SD 0.5 points).
        var rng = PETRandom(seed: 11)
        var covered = 0
        let trials = 2000
        for _ in 0..<trials {
            let xs = (0..<25).map { _ in 0.8 + 0.05 * Double(rng.normal()) }
            let ci = CorrectedResampledT.interval(estimates: xs, testFraction: 0)
            if ci.low <= 0.8 && 0.8 <= ci.high { covered += 1 }
        }
        let rate = Double(covered) / Double(trials)
        XCTAssertEqual(rate, 0.95, accuracy: 0.015, "coverage \(rate)")
    }

    func testCorrectionWidensByTheNadeauBengioFactor() {
        let xs = [0.70, 0.75, 0.80, 0.72, 0.78, 0.74, 0.81, 0.69, 0.77, 0.76]
        let plain = CorrectedResampledT.interval(estimates: xs, testFraction: 0)
        let corrected = CorrectedResampledT.interval(estimates: xs, testFraction: 0.25)
        let factor = ((1.0 / 10 + 0.25) / (1.0 / 10)).squareRoot()
        XCTAssertEqual((corrected.high - corrected.low) / (plain.high - plain.low), factor, accuracy: 1e-12)
        XCTAssertEqual((corrected.high + corrected.low) / 2, Statistics.mean(xs), accuracy: 1e-12)
        XCTAssertTrue(CorrectedResampledT.interval(estimates: [0.5], testFraction: 0.25).low.isNaN)
    }

    func testCorrectedIntervalCoversAFixedRulesAccuracyOnRepeatedCV() throws {
        // A fixed rule (no training) with true accuracy 0.75 on fresh data sets of 40: the 5×5 fold
        // estimates vary only by the split, the data set's own luck is what the interval must absorb.
        // Nadeau & Bengio's correction is built for that; it must cover ≥ 90% (the plain one, ~50–60%).
        var rng = PETRandom(seed: 12)
        let plan = try CrossValidationPlan(parsing: "5x5", seed: 3)
        var coveredCorrected = 0, coveredPlain = 0
        let trials = 300
        for _ in 0..<trials {
            let labels = (0..<40).map { $0 % 2 }
            let right = labels.map { _ in rng.uniformDouble() < 0.75 }
            var estimates: [Double] = []
            for fold in try plan.assignments(labels: labels) {
                for k in 0..<plan.folds {
                    let test = labels.indices.filter { fold[$0] == k }
                    estimates.append(Double(test.filter { right[$0] }.count) / Double(test.count))
                }
            }
            let c = CorrectedResampledT.interval(estimates: estimates, testFraction: 0.25)
            let p = CorrectedResampledT.interval(estimates: estimates, testFraction: 0)
            if c.low <= 0.75 && 0.75 <= c.high { coveredCorrected += 1 }
            if p.low <= 0.75 && 0.75 <= p.high { coveredPlain += 1 }
        }
        XCTAssertGreaterThanOrEqual(Double(coveredCorrected) / Double(trials), 0.9, "corrected \(coveredCorrected)/\(trials)")
        XCTAssertLessThan(coveredPlain, coveredCorrected, "plain \(coveredPlain), corrected \(coveredCorrected)")
    }
}

final class CohortDifficultyTests: XCTestCase {
    /// Features of a synthetic cohort: `perClass` subjects of each class, `p` regions, class c's mean
    /// shifted by `shift`·c in region 0; volumes are tiny constant blocks (only the regression runs).
    func features(perClass: Int, classes: [String], p: Int, shift: Double, seed: UInt64) -> CohortFeatures {
        var f = CohortFeatures(classNames: classes, volumeShape: [4, 4, 4], groups: (0..<p).map { RegionGroup(name: "r\($0)", codes: [$0 + 1]) })
        var rng = PETRandom(seed: seed)
        for c in classes.indices {
            for i in 0..<perClass {
                var row = (0..<p).map { _ in 1 + 0.05 * Double(rng.normal()) }
                row[0] += shift * Double(c)
                f.labels.append(c); f.subjectIDs.append("s\(c)-\(i)"); f.regionalSUVR.append(row)
                f.blockAverages.append([Float](repeating: 1, count: 64))
            }
        }
        return f
    }

    func testStandardTasks() {
        XCTAssertEqual(DifficultyTask.standard(classNames: ["NC", "MCI", "AD"]).map(\.name), ["NC vs AD", "NC vs MCI", "3-class (NC/MCI/AD)"])
        XCTAssertEqual(DifficultyTask.standard(classNames: ["NC", "AD"]).map(\.classes), [["NC", "AD"]])
        XCTAssertEqual(DifficultyTask.standard(classNames: ["A", "B"]).map(\.name), ["A vs B"])
        XCTAssertTrue(DifficultyTask.standard(classNames: ["NC"]).isEmpty)
    }

    func testSeparableCohortScoresOneAndIdenticalClassesScoreChance() throws {
        var o = DifficultyOptions(plan: try CrossValidationPlan(parsing: "3x5", seed: 2))
        o.classifiers = [.logisticRegression]
        let easy = try CohortDifficulty.measure(features(perClass: 20, classes: ["NC", "MCI", "AD"], p: 6, shift: 1, seed: 1), options: o)
        XCTAssertEqual(easy.estimates.count, 3)
        for e in easy.estimates {
            XCTAssertEqual(e.foldBalancedAccuracy.count, 15)
            XCTAssertEqual(e.balancedAccuracy, 1, "\(e.task)")
            XCTAssertEqual(e.meanTest / e.meanTrain, 0.25, accuracy: 1e-12)
        }
        // No class difference at all: balanced accuracy near chance, the interval covering it.
        let null = try CohortDifficulty.measure(features(perClass: 30, classes: ["NC", "AD"], p: 6, shift: 0, seed: 2), options: o)
        let e = try XCTUnwrap(null.estimate(task: "NC vs AD", classifier: .logisticRegression))
        XCTAssertEqual(e.balancedAccuracy, 0.5, accuracy: 0.15)
        XCTAssertLessThanOrEqual(e.ci.low, 0.5); XCTAssertGreaterThanOrEqual(e.ci.high, 0.5)
        XCTAssertTrue(e.ci.low.isFinite && e.ci.high.isFinite)
        // Deterministic with the seed.
        let again = try CohortDifficulty.measure(features(perClass: 30, classes: ["NC", "AD"], p: 6, shift: 0, seed: 2), options: o)
        XCTAssertEqual(again.estimates[0].foldBalancedAccuracy, e.foldBalancedAccuracy)
    }
}
