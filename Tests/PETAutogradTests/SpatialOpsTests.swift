import XCTest
import PETTensor
@testable import PETAutograd

/// The spatial ops of FastGAN and differentiable augmentation (Ops/Spatial.swift) against plain
/// references on odd shapes, 2D and 3D, and their gradients (first and second order) against finite
/// differences; skip-layer excitation and GLU also inside a gradient penalty (second order through
/// them is what a critic with a penalty differentiates).
final class SpatialOpsTests: XCTestCase {
    var rng = PETRandom(seed: 1818)
    func u(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor { Tensor.uniform(shape, low: lo, high: hi, rng: &rng) }

    /// Every index of a row-major shape, as coordinates.
    func coordinates(_ shape: [Int]) -> [[Int]] {
        var out: [[Int]] = [[]]
        for s in shape { out = out.flatMap { c in (0..<s).map { c + [$0] } } }
        return out
    }
    func linear(_ c: [Int], _ shape: [Int]) -> Int { zip(c, shape).reduce(0) { $0 * $1.1 + $1.0 } }

    func testUpsampleAndPoolMatchPlainReferences() throws {
        for (shape, f) in [([2, 3, 3, 5, 2], [2, 3, 1]), ([3, 2, 5, 3], [3, 2]), ([1, 1, 1, 1, 1], [2, 2, 2])] {
            let x = u(shape)
            let up = try upsampleNearest(Variable(x), factor: f).value
            let outShape = Array(shape.prefix(2)) + zip(shape.dropFirst(2), f).map { $0 * $1 }
            XCTAssertEqual(up.shape, outShape)
            for c in coordinates(outShape) {
                let src = Array(c.prefix(2)) + zip(c.dropFirst(2), f).map { $0 / $1 }
                XCTAssertEqual(up.data[linear(c, outShape)], x.data[linear(src, shape)])
            }
            // Pooling the repeated map gives back f^d times the original; avg pool gives it back.
            let s = try sumPool(Variable(up), factor: f).value
            let a = try avgPool(Variable(up), factor: f).value
            let k = Float(f.reduce(1, *))
            for i in 0..<x.count {
                XCTAssertEqual(s.data[i], x.data[i] * k, accuracy: 1e-5 * max(1, abs(x.data[i] * k)))
                XCTAssertEqual(a.data[i], x.data[i], accuracy: 1e-5)
            }
        }
        // Sum pool of a general map: each output the sum of its block (plain loop).
        let shape = [2, 2, 4, 6, 3], f = [2, 3, 1]
        let x = u(shape)
        let y = try sumPool(Variable(x), factor: f).value
        let outShape = [2, 2, 2, 2, 3]
        var want = [Double](repeating: 0, count: outShape.reduce(1, *))
        for c in coordinates(shape) {
            let o = Array(c.prefix(2)) + zip(c.dropFirst(2), f).map { $0 / $1 }
            want[linear(o, outShape)] += Double(x.data[linear(c, shape)])
        }
        XCTAssertLessThanOrEqual(relativeError(y.array, want.map(Float.init)), 1e-6)
        XCTAssertThrowsError(try sumPool(Variable(u([1, 1, 5, 4])), factor: [2, 2]), "5 is not a multiple of 2")
    }

    func testGLUSwishTranslateFlipMatchPlainReferences() throws {
        let x = u([3, 4, 3, 5])
        let g = try glu(Variable(x)).value
        XCTAssertEqual(g.shape, [3, 2, 3, 5])
        for c in coordinates([3, 2, 3, 5]) {
            let a = x.data[linear(c, x.shape)], b = x.data[linear([c[0], c[1] + 2, c[2], c[3]], x.shape)]
            XCTAssertEqual(g.data[linear(c, g.shape)], a / (1 + exp(-b)), accuracy: 1e-6)
        }
        XCTAssertThrowsError(try glu(Variable(u([2, 3, 4]))), "an odd channel count has no halves")
        let sw = try swish(Variable(x)).value
        for i in 0..<x.count { XCTAssertEqual(sw.data[i], x.data[i] / (1 + exp(-x.data[i])), accuracy: 1e-6) }

        for shape in [[3, 2, 5, 4, 3], [2, 3, 7, 5]] {
            let v = u(shape)
            let n = shape[0], spatial = Array(shape.dropFirst(2))
            let shifts = (0..<n).map { _ in spatial.map { rng.int(below: 2 * $0 + 1) - $0 } }   // some beyond the side
            let t = try translated(Variable(v), shifts: shifts, fill: -1).value
            for c in coordinates(shape) {
                let src = zip(c.dropFirst(2), shifts[c[0]]).map { $0 - $1 }
                let inside = zip(src, spatial).allSatisfy { $0 >= 0 && $0 < $1 }
                let want = inside ? v.data[linear(Array(c.prefix(2)) + src, shape)] : -1
                XCTAssertEqual(t.data[linear(c, shape)], want)
            }
            let flags = (0..<n).map { $0 % 2 == 0 }
            let fl = try flipped(Variable(v), axis: shape.count - 1, samples: flags).value
            for c in coordinates(shape) {
                var src = c
                if flags[c[0]] { src[shape.count - 1] = shape.last! - 1 - c[shape.count - 1] }
                XCTAssertEqual(fl.data[linear(c, shape)], v.data[linear(src, shape)])
            }
        }
    }

    func testSpatialOpGradientsMatchFiniteDifferences() throws {
        try checkGradients("upsample nearest 3D", [u([2, 2, 2, 3, 1])]) { try upsampleNearest($0[0], factor: [2, 1, 3]) }
        try checkGradients("upsample nearest 2D", [u([1, 3, 3, 2])]) { try upsampleNearest($0[0], factor: [2, 2]) }
        try checkGradients("avg pool 3D", [u([2, 2, 4, 2, 3])]) { try avgPool($0[0], factor: [2, 2, 3]) }
        try checkGradients("glu", [u([2, 6, 3, 2])]) { try glu($0[0]) }
        try checkGradients("glu 3D", [u([2, 4, 2, 3, 2])]) { try glu($0[0]) }
        try checkGradients("swish", [u([3, 5])]) { try swish($0[0]) }
        let shifts = [[1, -2, 0], [0, 1, -1]]
        try checkGradients("translate (fill −1)", [u([2, 2, 3, 4, 3])]) { try translated($0[0], shifts: shifts, fill: -1) }
        try checkGradients("flip", [u([3, 2, 3, 5])]) { try flipped($0[0], axis: 3, samples: [true, false, true]) }
        // Nonlinear around the linear ops, so their second-order rules are exercised.
        try checkGradients("translate ∘ tanh, squared", [u([2, 1, 5, 4])]) { try translated($0[0].tanh(), shifts: [[2, -1], [-3, 0]], fill: -1).pow(2) }
        try checkGradients("upsample ∘ sigmoid · x", [u([1, 2, 2, 3])]) { v in try upsampleNearest(v[0].sigmoid(), factor: [2, 2]) * upsampleNearest(v[0], factor: [2, 2]) }
    }

    /// Skip-layer excitation in its inputs and both weights, 3D and 2D, first and second order.
    func testSkipLayerExcitationGradientsMatchFiniteDifferences() throws {
        // 3D: low (N 2, Cl 3, 4×2×2) pooled to a 2×1×2 grid gates high (Ch 2, 5×3×4).
        try checkGradients("skip-layer excitation 3D", [u([2, 3, 4, 2, 2]), u([2, 2, 5, 3, 4]), u([2, 3, 2, 1, 2]), u([2, 2, 1, 1, 1])],
                           step: 5e-3) { v in
            try SkipLayerExcitation.excite(low: v[0], high: v[1], squeeze: v[2], excite: v[3])
        }
        try checkGradients("skip-layer excitation 2D", [u([2, 2, 4, 4]), u([2, 3, 3, 5]), u([3, 2, 2, 2]), u([3, 3, 1, 1])], step: 5e-3) { v in
            try SkipLayerExcitation.excite(low: v[0], high: v[1], squeeze: v[2], excite: v[3])
        }
        // The module uses the same function with its own weights.
        var r = PETRandom(seed: 5)
        let sle = SkipLayerExcitation(lowChannels: 3, highChannels: 2, grid: [2, 1, 2], rng: &r)
        let low = Variable(u([2, 3, 4, 2, 2])), high = Variable(u([2, 2, 5, 3, 4]))
        let a = try sle(low: low, high: high).value
        let b = try SkipLayerExcitation.excite(low: low, high: high, squeeze: sle.squeeze, excite: sle.excite).value
        XCTAssertTrue(a.bitwiseEqual(b))
        XCTAssertEqual(try sle.gate(low).shape, [2, 2, 1, 1, 1])
    }

    /// A gradient penalty through a critic made of GLU and skip-layer excitation: the penalty's
    /// gradient in the critic's weights (a double backward through both) against finite differences.
    func testPenaltyThroughGLUAndExcitationMatchesFiniteDifferences() throws {
        let x = u([2, 2, 4, 4, 2])
        // critic(x; w) = Σ (sle(low = glu(conv(x)), high = glu(conv(x))) · w_out)
        func critic(_ x: Variable, _ w: [Variable]) throws -> Variable {
            let h = try glu(conv3d(x, weight: w[0], params: ConvParams(k: 3, s: 1, p: 1)))    // (2, 2, 4, 4, 2)
            let low = try avgPool(h, factor: [2, 2, 1])                                         // (2, 2, 2, 2, 2)
            let e = try SkipLayerExcitation.excite(low: low, high: h, squeeze: w[1], excite: w[2])
            return try (e * w[3]).sum(axes: [1, 2, 3, 4])
        }
        let weights = [u([4, 2, 3, 3, 3], -0.4, 0.4), u([2, 2, 2, 2, 2]), u([2, 2, 1, 1, 1]), u([1, 2, 4, 4, 2])]
        try checkGradients("penalty through GLU and skip-layer excitation", weights, secondOrder: true, step: 2e-3) { w in
            let xv = Variable(x.copy(), requiresGrad: true)
            let s = try critic(xv, w)
            let gx = try grad([s.sum()], [xv], createGraph: true)[0]
            return try (gx * gx).sum()
        }
    }
}
