import XCTest
import PETTensor
@testable import PETMetrics

/// 95% intervals (Intervals.swift): hand-computed cases and coverage over 200 simulated draws.
final class IntervalTests: XCTestCase {
    func testBootstrapAndStudentAgainstHandValues() {
        // A constant set: every resampled mean is the constant.
        let c = Intervals.bootstrapMean([2.5, 2.5, 2.5, 2.5], resamples: 200, seed: 1)
        XCTAssertEqual(c.low, 2.5); XCTAssertEqual(c.high, 2.5)
        XCTAssertTrue(c.tooFewSamples); XCTAssertEqual(c.n, 4)
        // {0, 1}: a resampled mean is 0, 1/2 or 1 with probabilities 1/4, 1/2, 1/4, so the 2.5th and
        // 97.5th percentiles of 2000 resamples are 0 and 1.
        let b = Intervals.bootstrapMean([0, 1], resamples: 2000, seed: 3)
        XCTAssertEqual(b.low, 0); XCTAssertEqual(b.high, 1)
        XCTAssertTrue(b.method.contains("2000 resamples") && b.method.contains("seed 3"), b.method)
        // Student t on 1…5: mean 3, SE √(2.5/5), t(0.975, 4) = 2.776445 (scipy.stats.t.ppf).
        let t = Intervals.studentMean([1, 2, 3, 4, 5])
        XCTAssertEqual(Intervals.studentQuantile(0.975, df: 4), 2.776445105, accuracy: 1e-6)
        XCTAssertEqual(t.low, 3 - 2.776445105 * (0.5).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(t.high, 3 + 2.776445105 * (0.5).squareRoot(), accuracy: 1e-6)
        // Clopper–Pearson 7/10 (scipy.stats.binomtest(7, 10).proportion_ci(method='exact')): 0.3475–0.9333.
        let p = Intervals.clopperPearson(7, 10)
        XCTAssertEqual(p.low, 0.34754, accuracy: 1e-4); XCTAssertEqual(p.high, 0.93326, accuracy: 1e-4)
        XCTAssertFalse(Interval(low: 0, high: 1, method: "", n: Intervals.minimumCount).tooFewSamples)
        XCTAssertTrue(Interval(low: 0, high: 1, method: "", n: Intervals.minimumCount - 1).tooFewSamples)
    }

    /// Coverage of the true value over 200 simulated draws must lie in [0.90, 0.99].
    func coverage(_ draws: Int = 200, seed: UInt64, _ one: (inout PETRandom, Int) -> Bool) -> Double {
        var rng = PETRandom(seed: seed)
        var hit = 0
        for d in 0..<draws where one(&rng, d) { hit += 1 }
        return Double(hit) / Double(draws)
    }

    func testIntervalsCoverTheTrueValue() {
        // The bootstrap mean interval at n = 20 (the minimum count): normal values, mean 3, SD 2.
        let boot = coverage(seed: 11) { rng, d in
            let v = (0..<20).map { _ in 3 + 2 * Double(rng.normal()) }
            return Intervals.bootstrapMean(v, resamples: 1000, seed: UInt64(d)).contains(3)
        }
        // Skewed values (exponential, mean 1) at n = 40: PSNR/SSIM/MS-SSIM means are not normal.
        let skewed = coverage(seed: 12) { rng, d in
            let v = (0..<40).map { _ in -Foundation.log(max(1e-12, rng.uniformDouble())) }
            return Intervals.bootstrapMean(v, resamples: 1000, seed: UInt64(d)).contains(1)
        }
        // Class fidelity: Clopper–Pearson on Binomial(40, 0.7).
        let cp = coverage(seed: 13) { rng, _ in
            let k = (0..<40).filter { _ in rng.uniformDouble() < 0.7 }.count
            return Intervals.clopperPearson(k, 40).contains(0.7)
        }
        // The Bland–Altman bias (Student t) over 30 regions.
        let st = coverage(seed: 14) { rng, _ in
            Intervals.studentMean((0..<30).map { _ in 0.1 + 0.05 * Double(rng.normal()) }).contains(0.1)
        }
        // Fréchet distance: a nonzero FD between two 3-D Gaussians (means 1 apart, variances 1 and 2.25):
        // FD = 1 + (1 − 1.5)² · 3 = 1.75; 60 samples each. The bootstrap here is of a biased estimator
        // (E FD̂ > FD at finite n), so this is the case the threshold of 20 does not guarantee.
        let fdTrue = 1 + 3 * 0.25
        let fd = coverage(seed: 15) { rng, d in
            let x = (0..<60).map { _ in (0..<3).map { _ in rng.normal() } }
            let y = (0..<60).map { _ in (0..<3).map { k in (k == 0 ? 1 : 0) + 1.5 * rng.normal() } }
            return Intervals.frechet(x, y, resamples: 300, seed: UInt64(d)).contains(fdTrue)
        }
        print(String(format: "coverage over 200 draws: bootstrap mean n=20 %.3f, skewed n=40 %.3f, Clopper-Pearson %.3f, Student t %.3f, FD (n=60, d=3) %.3f", boot, skewed, cp, st, fd))
        for (name, c) in [("bootstrap mean", boot), ("skewed mean", skewed), ("Clopper-Pearson", cp), ("Student t", st)] {
            XCTAssertGreaterThanOrEqual(c, 0.90, name); XCTAssertLessThanOrEqual(c, 0.99, name)
        }
        XCTAssertGreaterThanOrEqual(fd, 0.80, "FD bootstrap coverage \(fd)")
    }

    /// Why 20 (measured, printed): the percentile bootstrap of a mean undercovers at small n.
    func testSmallSampleUndercoverageMeasured() {
        var measured: [Int: Double] = [:]
        for n in [5, 10, 20] {
            measured[n] = coverage(1000, seed: 21 + UInt64(n)) { rng, d in
                Intervals.bootstrapMean((0..<n).map { _ in Double(rng.normal()) }, resamples: 1000, seed: UInt64(d)).contains(0)
            }
        }
        print("bootstrap mean coverage (normal values, 1000 draws): " + [5, 10, 20].map { String(format: "n=%d %.3f", $0, measured[$0]!) }.joined(separator: ", "))
        XCTAssertLessThan(measured[5]!, 0.90)
        XCTAssertGreaterThanOrEqual(measured[20]!, 0.90)
        XCTAssertGreaterThan(measured[20]!, measured[5]! + 0.04)
    }

    func testFastFrechetEqualsReference() {
        var rng = PETRandom(seed: 5)
        for (n1, n2, d) in [(5, 7, 11), (9, 4, 6), (30, 25, 8), (13, 13, 13)] {
            let x = (0..<n1).map { _ in (0..<d).map { _ in rng.normal() } }
            let y = (0..<n2).map { _ in (0..<d).map { k in 0.3 * Float(k % 3) + 1.4 * rng.normal() } }
            let ref = DistributionMetrics.frechet(x, y), fast = DistributionMetrics.frechetFast(x, y)
            XCTAssertEqual(fast, ref, accuracy: 1e-6 * max(1, ref), "n1 \(n1) n2 \(n2) d \(d)")
        }
        let x = (0..<6).map { _ in (0..<4).map { _ in rng.normal() } }
        XCTAssertEqual(DistributionMetrics.frechetFast(x, x), 0, accuracy: 1e-9)
    }

    func testMMDStatisticEqualsReferenceAndHedgesBlandAltmanByHand() {
        var rng = PETRandom(seed: 9)
        let x = (0..<7).map { _ in (0..<5).map { _ in rng.normal() } }
        let y = (0..<6).map { _ in (0..<5).map { _ in 0.5 + rng.normal() } }
        let k = IntervalsMetric.pooledKernel(x, y)
        let stat = IntervalsMetric.mmdStatistic(k, total: 13, Array(0..<7), Array(7..<13))
        XCTAssertEqual(stat, DistributionMetrics.mmd(x, y, permutations: 0).mmd2, accuracy: 1e-12)
        let iv = IntervalsMetric.mmdInterval(x, y, resamples: 200, seed: 1)
        XCTAssertTrue(iv.low.isFinite && iv.high.isFinite && iv.low < iv.high)

        // Hedges' g: means 1.0 and 1.3, SDs 0.2 and 0.3, n 10 and 12: pooled SD √((9·0.04 + 11·0.09)/20),
        // J = 1 − 3/(4·22 − 9).
        let g = RegionalAgreementMetric.hedges(real: Summary(mean: 1.0, sd: 0.2, n: 10), synthetic: Summary(mean: 1.3, sd: 0.3, n: 12))
        let pooled = ((9 * 0.04 + 11 * 0.09) / 20.0).squareRoot(), j = 1 - 3.0 / 79
        XCTAssertEqual(g.g, j * 0.3 / pooled, accuracy: 1e-12)
        let se = (22.0 / 120 + g.g * g.g / 44).squareRoot()
        XCTAssertEqual(g.high - g.low, 2 * 1.959963984540054 * se, accuracy: 1e-12)
        // Bland–Altman of (1, 2, 3) vs (1.1, 2.3, 2.9): differences 0.1, 0.3, −0.1: bias 0.1, SD 0.2.
        let ba = RegionalAgreementMetric.blandAltman([1, 2, 3], [1.1, 2.3, 2.9])
        XCTAssertEqual(ba.bias, 0.1, accuracy: 1e-12); XCTAssertEqual(ba.sd, 0.2, accuracy: 1e-12)
        XCTAssertEqual(ba.low, 0.1 - 1.96 * 0.2, accuracy: 1e-12); XCTAssertEqual(ba.high, 0.1 + 1.96 * 0.2, accuracy: 1e-12)
    }
}

extension Summary {
    init(mean: Double, sd: Double, n: Int) { self.init([]); self.mean = mean; self.sd = sd; self.n = n }
}
