import XCTest
import PETTensor
@testable import PETAutograd

/// Adam and RMSprop against steps computed by hand (Double) from torch.optim's update rules.
final class OptimizerTests: XCTestCase {
    func param(_ v: [Float]) -> Variable { Variable(Tensor(shape: [v.count], values: v), requiresGrad: true) }

    func testAdamFirstStepMovesByLearningRate() throws {
        let p = param([1, -2])
        let adam = Adam([("p", p)], learningRate: 0.1)
        p.grad = Tensor(shape: [2], values: [0.5, -1])
        try adam.step()
        // Bias-corrected m̂ = g, v̂ = g²: the first step is lr·g/(|g| + ε).
        XCTAssertEqual(p.value[0], 0.9, accuracy: 1e-6)
        XCTAssertEqual(p.value[1], -1.9, accuracy: 1e-6)
    }

    func testAdamMatchesHandComputedSteps() throws {
        for wd in [0.0, 0.01] {
            let p = param([1, -2, 0.3])
            let adam = Adam([("p", p)], learningRate: 0.05, beta1: 0.5, beta2: 0.999, eps: 1e-8, weightDecay: wd)
            let grads: [[Double]] = [[0.5, -1, 0.2], [0.25, 0.5, -0.1], [-0.4, 0.3, 0.05]]
            var pd: [Double] = [1, -2, 0.3], m = [0.0, 0, 0], v = [0.0, 0, 0]
            for (t, g) in grads.enumerated() {
                p.grad = Tensor(shape: [3], values: g.map(Float.init))
                try adam.step()
                let step = Double(t + 1)
                for i in 0..<3 {
                    let gi = g[i] + wd * pd[i]
                    m[i] = 0.5 * m[i] + 0.5 * gi
                    v[i] = 0.999 * v[i] + 0.001 * gi * gi
                    let mhat = m[i] / (1 - Foundation.pow(0.5, step)), vhat = v[i] / (1 - Foundation.pow(0.999, step))
                    pd[i] -= 0.05 * mhat / (vhat.squareRoot() + 1e-8)
                }
                for i in 0..<3 { XCTAssertEqual(Double(p.value[i]), pd[i], accuracy: 1e-6, "wd \(wd) step \(t + 1) element \(i)") }
            }
            let st = adam.state()
            XCTAssertEqual(st.steps, ["p": 3])
            for i in 0..<3 {
                XCTAssertEqual(Double(st.tensors["p.exp_avg"]![i]), m[i], accuracy: 1e-6)
                XCTAssertEqual(Double(st.tensors["p.exp_avg_sq"]![i]), v[i], accuracy: 1e-7)
            }
        }
    }

    func testRMSpropMatchesHandComputedSteps() throws {
        for (momentum, centered) in [(0.0, false), (0.9, false), (0.0, true), (0.5, true)] {
            let p = param([1, -0.5])
            let opt = RMSprop([("p", p)], learningRate: 0.01, alpha: 0.99, eps: 1e-8, momentum: momentum, centered: centered)
            var pd: [Double] = [1, -0.5], sq = [0.0, 0], buf = [0.0, 0], ga = [0.0, 0]
            for g in [[0.5, -0.2], [0.5, 0.3], [-0.1, 0.4]] {
                p.grad = Tensor(shape: [2], values: g.map(Float.init))
                try opt.step()
                for i in 0..<2 {
                    sq[i] = 0.99 * sq[i] + 0.01 * g[i] * g[i]
                    var avg = sq[i].squareRoot() + 1e-8
                    if centered { ga[i] = 0.99 * ga[i] + 0.01 * g[i]; avg = (sq[i] - ga[i] * ga[i]).squareRoot() + 1e-8 }
                    if momentum > 0 { buf[i] = momentum * buf[i] + g[i] / avg; pd[i] -= 0.01 * buf[i] } else { pd[i] -= 0.01 * g[i] / avg }
                }
                for i in 0..<2 { XCTAssertEqual(Double(p.value[i]), pd[i], accuracy: 2e-6, "momentum \(momentum) centered \(centered)") }
            }
        }
        // First plain step by hand: v = 0.01·0.25, p = 1 − 0.01·0.5/0.05 = 0.9.
        let q = param([1])
        let opt = RMSprop([("q", q)], learningRate: 0.01)
        q.grad = Tensor(shape: [1], values: [0.5])
        try opt.step()
        XCTAssertEqual(q.value[0], 0.9, accuracy: 1e-6)
    }

    func testParametersWithoutGradientAreSkipped() throws {
        let a = param([1]), b = param([2])
        let adam = Adam([("a", a), ("b", b)], learningRate: 0.1)
        a.grad = Tensor(shape: [1], values: [1])
        try adam.step()
        XCTAssertEqual(b.value[0], 2)
        XCTAssertEqual(adam.state().steps, ["a": 1])
        adam.zeroGrad()
        XCTAssertNil(a.grad)
    }

    func testStateRoundTripAndMismatch() throws {
        let a = param([1, 2]), b = param([3])
        let adam = Adam([("a", a), ("b", b)], learningRate: 0.1)
        a.grad = Tensor(shape: [2], values: [1, -1]); b.grad = Tensor(shape: [1], values: [2])
        try adam.step(); try adam.step()
        let st = adam.state()
        let a2 = param([1, 2]), b2 = param([3])
        let other = Adam([("a", a2), ("b", b2)], learningRate: 0.1)
        try other.load(st)
        XCTAssertEqual(other.state().steps, st.steps)
        XCTAssertTrue(other.state().tensors["a.exp_avg_sq"]!.bitwiseEqual(st.tensors["a.exp_avg_sq"]!))
        var bad = st
        bad.tensors["a.exp_avg"] = Tensor(shape: [5])
        bad.tensors["b.exp_avg_sq"] = nil
        XCTAssertThrowsError(try other.load(bad)) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("a.exp_avg") && s.contains("[5]") && s.contains("missing: b.exp_avg_sq"), s)
        }
    }
}
