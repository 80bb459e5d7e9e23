import XCTest
@testable import PETMetrics

/// Reference values computed once with scipy 1.17.1 (scipy.special.betainc, scipy.stats.t/f/norm,
/// f_oneway, ttest_ind(equal_var=False), binomtest(...).proportion_ci) and written here.
final class StatisticsTests: XCTestCase {
    func testRegularizedIncompleteBetaMatchesScipy() {
        XCTAssertEqual(Statistics.regularizedBeta(0.3, 2, 5), 0.5798250000000003, accuracy: 1e-13)
        XCTAssertEqual(Statistics.regularizedBeta(0.9, 0.5, 0.5), 0.7951672353008665, accuracy: 1e-13)
        XCTAssertEqual(Statistics.regularizedBeta(0.01, 10, 3) / 6.480550000000001e-19, 1, accuracy: 1e-10)
        XCTAssertEqual(Statistics.regularizedBeta(0.45, 30, 40), 0.6447480085585666, accuracy: 1e-12)
        XCTAssertEqual(Statistics.regularizedBeta(0, 2, 3), 0)
        XCTAssertEqual(Statistics.regularizedBeta(1, 2, 3), 1)
    }

    func testStudentTAndFTailsMatchScipy() {
        XCTAssertEqual(Statistics.tTwoSidedP(2.0, df: 10), 0.07338803477074037, accuracy: 1e-12)
        XCTAssertEqual(Statistics.tTwoSidedP(-1.5, df: 3.7), 0.2135981692020135, accuracy: 1e-12)
        XCTAssertEqual(Statistics.tTwoSidedP(0.2, df: 100), 0.8418867362024508, accuracy: 1e-12)
        XCTAssertEqual(Statistics.tCDF(-1.2, df: 5), 0.14194552835305124, accuracy: 1e-12)
        XCTAssertEqual(Statistics.fSurvival(3.5, d1: 2, d2: 27), 0.04450875394640024, accuracy: 1e-12)
        XCTAssertEqual(Statistics.fSurvival(0.8, d1: 4, d2: 10), 0.5520002370263972, accuracy: 1e-12)
    }

    func testOneWayAnovaHandComputedCase() {
        // Means 2, 5, 8.5; grand mean 5.5; SSB = 3·3.5² + 3·0.5² + 4·3² = 73.5; SSW = 2 + 2 + 5 = 9;
        // F = (73.5/2) / (9/7) = 28.5833…; p from scipy.stats.f_oneway.
        let r = Statistics.anova([[1, 2, 3], [4, 5, 6], [7, 8, 9, 10]])
        XCTAssertEqual(r.f, 73.5 / 2 / (9.0 / 7), accuracy: 1e-12)
        XCTAssertEqual(r.dfBetween, 2); XCTAssertEqual(r.dfWithin, 7)
        XCTAssertEqual(r.p, 0.00042880512084260387, accuracy: 1e-14)
    }

    func testWelchMatchesScipy() {
        let r = Statistics.welch([1, 2, 3, 4, 5], [2, 4, 6, 8, 10, 12])
        XCTAssertEqual(r.t, -2.3763541031440183, accuracy: 1e-12)
        XCTAssertEqual(r.df, 6.972255729794934, accuracy: 1e-10)
        XCTAssertEqual(r.p, 0.04928433820673053, accuracy: 1e-12)
    }

    func testBinomialIntervalsMatchScipy() {
        let cp = Statistics.clopperPearson(7, 20)
        XCTAssertEqual(cp.low, 0.1539092047845412, accuracy: 1e-10)
        XCTAssertEqual(cp.high, 0.5921885345328283, accuracy: 1e-10)
        let cp0 = Statistics.clopperPearson(0, 10)
        XCTAssertEqual(cp0.low, 0); XCTAssertEqual(cp0.high, 0.30849710781876294, accuracy: 1e-10)
        let w = Statistics.wilson(7, 20)
        XCTAssertEqual(w.low, 0.1811918241010821, accuracy: 1e-10)
        XCTAssertEqual(w.high, 0.5671457233147637, accuracy: 1e-10)
        XCTAssertEqual(Statistics.normalQuantile(0.975), 1.959963984540054, accuracy: 1e-12)
        XCTAssertEqual(Statistics.normalQuantile(0.001), -3.090232306167813, accuracy: 1e-12)
    }

    func testAUCCountsPairsAndTies() {
        // Positive scores 0.35, 0.8 vs negative 0.1, 0.4: 3 of 4 pairs ordered correctly.
        XCTAssertEqual(Statistics.auc(scores: [0.1, 0.4, 0.35, 0.8], positive: [false, false, true, true]), 0.75, accuracy: 1e-15)
        XCTAssertEqual(Statistics.auc(scores: [1, 1, 1, 1], positive: [false, true, false, true]), 0.5, accuracy: 1e-15)
        XCTAssertEqual(Statistics.auc(scores: [0, 1], positive: [false, true]), 1)
        let s = ClassificationScores(probabilities: [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], labels: [0, 1, 1, 0])
        XCTAssertEqual(s.accuracy, 0.5); XCTAssertEqual(s.balancedAccuracy, 0.5)
        XCTAssertEqual(s.auc, 0.75, accuracy: 1e-12)   // class-1 scores 0.8, 0.4 vs 0.1, 0.7 → 3 of 4 pairs ordered
    }
}
