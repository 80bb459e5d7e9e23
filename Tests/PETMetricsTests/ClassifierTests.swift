import XCTest
@testable import PETMetrics
import PETTensor

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
