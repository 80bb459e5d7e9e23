import XCTest
@testable import PETTensor

/// Every comparison helper must fail on a non-finite value in either operand: `max` drops NaN, so a
/// fold with it once scored a kernel that returns NaN everywhere as a perfect match.
final class ComparisonTests: XCTestCase {
    let bad: [Float] = [.nan, .infinity, -.infinity]

    func testMaxAbsDifferenceFailsOnNonFinite() {
        XCTAssertEqual(maxAbsDifference([1, 2, 3] as [Float], [1, 2.5, 3]), 0.5)
        for v in bad {
            for pos in 0..<3 {
                var a: [Float] = [1, 2, 3]
                a[pos] = v
                XCTAssertFalse(maxAbsDifference(a, [1, 2, 3]) <= 1e30, "\(v) at \(pos) in the first operand")
                XCTAssertFalse(maxAbsDifference([1, 2, 3], a) <= 1e30, "\(v) at \(pos) in the second operand")
                XCTAssertFalse(maxAbsDifference(a, a) <= 1e30, "\(v) at \(pos) in both")
            }
        }
        XCTAssertFalse(maxAbsDifference([1, 2] as [Float], [1, 2, 3]) <= 1e30, "lengths differ")
        XCTAssertEqual(maxAbsDifference([1, .nan] as [Double], [1, 2]), .infinity)
    }

    func testRelativeErrorFailsOnNonFinite() {
        XCTAssertEqual(relativeError([1, 2, 4] as [Float], [1, 2, 5]), 0.2, accuracy: 1e-7)
        XCTAssertEqual(relativeError([1, 2, 4] as [Float], [1, 2, 5], floor: 10), 0.1, accuracy: 1e-7)
        for v in bad {
            XCTAssertFalse(relativeError([v, 2] as [Float], [1, 2]) <= 1e30, "\(v) in the first operand")
            XCTAssertFalse(relativeError([1, 2] as [Float], [1, v]) <= 1e30, "\(v) in the second operand")
        }
        // An all-NaN result against a real reference: the case the old fold passed.
        XCTAssertFalse(relativeError([Float](repeating: .nan, count: 100), (0..<100).map(Float.init)) <= 1e-4)
    }

    func testTensorComparisonsFailOnNonFinite() {
        var rng = PETRandom(seed: 5)
        let ref = Tensor.uniform([2, 3, 4, 5, 6], low: -1, high: 1, rng: &rng)
        XCTAssertEqual(ref.relativeError(to: ref), 0)
        XCTAssertEqual(ref.maxAbsDifference(to: ref), 0)
        for v in bad {
            let broken = ref.copy()
            broken.data[broken.count / 2] = v
            XCTAssertFalse(broken.relativeError(to: ref) <= 1e-4, "\(v) in the result")
            XCTAssertFalse(ref.relativeError(to: broken) <= 1e-4, "\(v) in the reference")
            XCTAssertFalse(broken.maxAbsDifference(to: ref) <= 1e-5, "\(v) in the result")
            XCTAssertFalse(ref.maxAbsDifference(to: broken) <= 1e-5, "\(v) in the reference")
        }
        let allNaN = Tensor(shape: ref.shape, repeating: .nan)
        XCTAssertFalse(allNaN.relativeError(to: ref) <= 1e-4)
        XCTAssertFalse(allNaN.maxAbsDifference(to: ref) <= 1e-5)
    }

    func testExtremaFailOnNonFinite() {
        XCTAssertEqual(maxMagnitude([1, -3, 2] as [Float]), 3)
        XCTAssertEqual(finiteMaximum([1, -3, 2] as [Float]), 2)
        XCTAssertEqual(finiteMinimum([1, -3, 2] as [Float]), -3)
        XCTAssertNil(finiteMaximum([Float]()))
        for v in bad {
            // NaN after the first element is what `[Float].max()` silently drops.
            XCTAssertFalse(maxMagnitude([1, v, 2] as [Float]) <= 1e30, "\(v)")
            XCTAssertFalse(finiteMaximum([1, v, 2] as [Float])! <= 1e30, "\(v)")
            XCTAssertFalse(finiteMinimum([1, v, 2] as [Float])! >= -1e30, "\(v)")
        }
    }
}
