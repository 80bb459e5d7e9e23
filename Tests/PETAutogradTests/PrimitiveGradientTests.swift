import XCTest
import PETTensor
@testable import PETAutograd

/// First- and second-order finite-difference checks of every primitive and composite op.
final class PrimitiveGradientTests: XCTestCase {
    var rng = PETRandom(seed: 2024)

    func u(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor { Tensor.uniform(shape, low: lo, high: hi, rng: &rng) }

    func testArithmeticWithBroadcasting() throws {
        try checkGradients("add", [u([2, 3]), u([2, 3])]) { try $0[0] + $0[1] }
        try checkGradients("add broadcast", [u([2, 3, 4]), u([3, 1])]) { try $0[0] + $0[1] }
        try checkGradients("sub broadcast", [u([4]), u([2, 3, 4])]) { try $0[0] - $0[1] }
        try checkGradients("mul", [u([2, 3]), u([2, 3])]) { try $0[0] * $0[1] }
        try checkGradients("mul broadcast (per-sample ε)", [u([3, 1, 1, 1]), u([3, 2, 2, 2])]) { try $0[0] * $0[1] }
        try checkGradients("div", [u([2, 3]), u([2, 3], 0.5, 2)]) { try $0[0] / $0[1] }
        try checkGradients("div broadcast", [u([2, 3]), u([1, 3], 0.5, 2)]) { try $0[0] / $0[1] }
        try checkGradients("scalar ops", [u([5])]) { (2 - ($0[0] * 3 + 1)) / 4 }
        try checkGradients("neg", [u([5])]) { -$0[0] }
        try checkGradients("square product", [u([2, 3])]) { try $0[0] * $0[0] * $0[0] }
    }

    func testPowSqrtExpLog() throws {
        try checkGradients("pow 2", [u([6])]) { $0[0].pow(2) }
        try checkGradients("pow 3", [u([6])]) { $0[0].pow(3) }
        try checkGradients("pow -0.5", [u([6], 0.5, 2)]) { $0[0].pow(-0.5) }
        try checkGradients("sqrt", [u([6], 0.5, 2)]) { $0[0].sqrt() }
        try checkGradients("exp", [u([6])]) { $0[0].exp() }
        try checkGradients("log", [u([6], 0.5, 2)]) { $0[0].log() }
    }

    func testActivations() throws {
        try checkGradients("tanh", [u([7], -2, 2)]) { $0[0].tanh() }
        try checkGradients("sigmoid", [u([7], -3, 3)]) { $0[0].sigmoid() }
        try checkGradients("softplus", [u([7], -3, 3)]) { $0[0].softplus() }
        try checkGradients("relu", [awayFromZero([8], rng: &rng)]) { $0[0].relu() }
        try checkGradients("leaky relu", [awayFromZero([8], rng: &rng)]) { $0[0].leakyReLU(0.2) }
        try checkGradients("abs", [awayFromZero([8], rng: &rng)]) { $0[0].abs() }
        // Composite whose second derivative flows through a piecewise-linear op.
        try checkGradients("leaky relu of product", [awayFromZero([6], rng: &rng), u([6], 0.5, 1)]) { try ($0[0] * $0[1]).leakyReLU(0.2) * $0[1] }
    }

    func testReductionsAndShapes() throws {
        try checkGradients("sum", [u([2, 3, 4])]) { try $0[0].sum() }
        try checkGradients("mean", [u([2, 3, 4])]) { try $0[0].mean() }
        try checkGradients("sum axes", [u([2, 3, 4])]) { try $0[0].sum(axes: [0, 2]) }
        try checkGradients("mean axes keepDims", [u([2, 3, 4])]) { try $0[0].mean(axes: [1], keepDims: true) }
        try checkGradients("reshape", [u([2, 3, 4])]) { try $0[0].reshaped([4, -1]) }
        try checkGradients("flatten", [u([2, 3, 2])]) { try $0[0].flattened() }
        try checkGradients("broadcast", [u([3, 1])]) { try $0[0].broadcast(to: [2, 3, 4]) }
        try checkGradients("concat channels", [u([2, 1, 3]), u([2, 2, 3])]) { try concat([$0[0], $0[1]], axis: 1) }
        try checkGradients("slice", [u([2, 4, 3])]) { try $0[0].slice(axis: 1, start: 1, length: 2) }
        try checkGradients("sum of squares per sample", [u([3, 2, 2])]) { try ($0[0] * $0[0]).reshaped([3, -1]).sum(axes: [1]).sqrt() }
    }

    func testMatmulAndLinear() throws {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = ta ? u([4, 3]) : u([3, 4]), b = tb ? u([2, 4]) : u([4, 2])
            try checkGradients("matmul ta=\(ta) tb=\(tb)", [a, b]) { try matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
        }
        // A product of matmuls: second derivatives flow through the matmul rules themselves.
        try checkGradients("matmul chain", [u([3, 4]), u([4, 4])]) { try matmul(matmul($0[0], $0[1]).tanh(), $0[1], transposeB: true) }
        try checkGradients("linear", [u([3, 4]), u([2, 4]), u([2])]) { try linear($0[0], weight: $0[1], bias: $0[2]) }
    }

    func testConv3d() throws {
        let p = ConvParams(k: 3, s: 2, p: 1)
        try checkGradients("conv3d s2 p1 with bias", [u([2, 2, 5, 4, 4]), u([3, 2, 3, 3, 3], -0.5, 0.5), u([3])]) {
            try conv3d($0[0], weight: $0[1], bias: $0[2], params: p)
        }
        let p2 = ConvParams(kernel: [2, 3, 2], stride: [1, 2, 1], padding: [0, 1, 1])
        try checkGradients("conv3d anisotropic", [u([1, 2, 3, 4, 3]), u([2, 2, 2, 3, 2], -0.5, 0.5)]) {
            try conv3d($0[0], weight: $0[1], params: p2)
        }
    }

    func testConvTranspose3d() throws {
        let p = ConvParams(k: 3, s: 2, p: 1, op: 1)
        try checkGradients("conv_transpose3d s2 p1 op1 with bias", [u([2, 3, 2, 2, 3]), u([3, 2, 3, 3, 3], -0.5, 0.5), u([2])]) {
            try convTranspose3d($0[0], weight: $0[1], bias: $0[2], params: p)
        }
    }

    func testConv2dAndTranspose2d() throws {
        try checkGradients("conv2d", [u([2, 2, 5, 5]), u([3, 2, 3, 3], -0.5, 0.5), u([3])]) {
            try conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
        try checkGradients("conv_transpose2d", [u([2, 3, 3, 3]), u([3, 2, 4, 4], -0.5, 0.5), u([2])]) {
            try convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
    }

    /// Chains where the gradient flowing into a conv depends on the inputs, so the second-order check
    /// exercises every branch of the conv gradient rules (including their gradient w.r.t. the
    /// upstream gradient).
    func testConvChainsSecondOrder() throws {
        let p = ConvParams(k: 3, s: 1, p: 1)
        try checkGradients("conv → tanh → conv", [u([1, 2, 3, 3, 3]), u([2, 2, 3, 3, 3], -0.4, 0.4), u([1, 2, 3, 3, 3], -0.4, 0.4)]) {
            try conv3d(conv3d($0[0], weight: $0[1], params: p).tanh(), weight: $0[2], params: p)
        }
        let pt = ConvParams(k: 2, s: 2, p: 0)
        try checkGradients("conv_transpose → sigmoid → conv", [u([1, 2, 2, 2, 2]), u([2, 2, 2, 2, 2], -0.5, 0.5), u([1, 2, 2, 2, 2], -0.5, 0.5)]) {
            try conv3d(convTranspose3d($0[0], weight: $0[1], params: pt).sigmoid(), weight: $0[2], params: pt)
        }
    }

    func testNormalizations() throws {
        let x = u([3, 2, 2, 2, 2], -2, 2)
        try checkGradients("batch norm (train)", [x, u([2], 0.5, 1.5), u([2])]) {
            try batchNorm($0[0], weight: $0[1], bias: $0[2], runningMean: nil, runningVar: nil, training: true)
        }
        let rm = u([2]), rv = u([2], 0.5, 1.5)
        try checkGradients("batch norm (eval)", [x, u([2], 0.5, 1.5), u([2])]) {
            try batchNorm($0[0], weight: $0[1], bias: $0[2], runningMean: rm, runningVar: rv, training: false)
        }
        try checkGradients("layer norm", [u([2, 2, 2, 3], -2, 2), u([2, 2, 3], 0.5, 1.5), u([2, 2, 3])]) {
            try layerNorm($0[0], normalizedShape: [2, 2, 3], weight: $0[1], bias: $0[2])
        }
        try checkGradients("instance norm", [u([2, 2, 2, 2, 2], -2, 2), u([2], 0.5, 1.5), u([2])]) {
            try instanceNorm($0[0], weight: $0[1], bias: $0[2])
        }
    }

    func testBatchNormActivationFused() throws {
        // Finite differences: β of ±3 keeps every pre-activation off the kink (x̂·γ is within ±2.5 here),
        // one channel on each side of it.
        let beta = Tensor(shape: [2], values: [3, -3])
        for slope: Float in [0, 0.2] {
            try checkGradients("batch norm + leaky relu \(slope)", [u([3, 2, 2, 2, 2], -2, 2), u([2], 0.5, 1.2), beta]) {
                try batchNormActivation($0[0], weight: $0[1], bias: $0[2], runningMean: nil, runningVar: nil, negativeSlope: slope)
            }
        }
        // Against the composite (batch norm, then the activation) on inputs with kinks: values, running
        // statistics, first- and second-order gradients, with and without the affine parameters.
        for (slope, affine) in [(Float(0), true), (0.2, true), (0.2, false)] {
            let x = u([3, 4, 3, 2, 5], -2, 2), w = u([4], 0.5, 1.5), b = u([4], -0.5, 0.5), probe = u([3, 4, 3, 2, 5])
            let rmF = Tensor(shape: [4]), rvF = Tensor(shape: [4], repeating: 1)
            let rmC = Tensor(shape: [4]), rvC = Tensor(shape: [4], repeating: 1)
            func run(fused: Bool) throws -> (Tensor, [Tensor], [Tensor]) {
                let xv = Variable(x.copy(), requiresGrad: true)
                let wv = affine ? Variable(w.copy(), requiresGrad: true) : nil
                let bv = affine ? Variable(b.copy(), requiresGrad: true) : nil
                let y = fused
                    ? try batchNormActivation(xv, weight: wv, bias: bv, runningMean: rmF, runningVar: rvF, negativeSlope: slope)
                    : try batchNorm(xv, weight: wv, bias: bv, runningMean: rmC, runningVar: rvC, training: true).leakyReLU(slope)
                let loss = try (y * Variable(probe)).sum()
                let params = [xv] + (affine ? [wv!, bv!] : [])
                let g1 = try grad([loss], params, createGraph: true)
                // Second order: d/d(params) of Σ (∂L/∂x)² (what a gradient penalty differentiates).
                let s = try (g1[0] * g1[0]).sum()
                let g2 = try grad([s], params)
                return (y.value, g1.map(\.value), g2.map(\.value))
            }
            let (yf, g1f, g2f) = try run(fused: true)
            let (yc, g1c, g2c) = try run(fused: false)
            XCTAssertLessThan(yf.relativeError(to: yc), 1e-5, "values, slope \(slope)")
            XCTAssertLessThan(rmF.relativeError(to: rmC), 1e-6); XCTAssertLessThan(rvF.relativeError(to: rvC), 1e-6)
            for (k, (a, c)) in zip(g1f, g1c).enumerated() { XCTAssertLessThan(a.relativeError(to: c), 1e-4, "first order \(k), slope \(slope)") }
            for (k, (a, c)) in zip(g2f, g2c).enumerated() { XCTAssertLessThan(a.relativeError(to: c), 1e-3, "second order \(k), slope \(slope)") }
            // The plain (not recorded) backward agrees with the recorded one.
            let xv = Variable(x.copy(), requiresGrad: true)
            let wv = affine ? Variable(w.copy(), requiresGrad: true) : nil
            let bv = affine ? Variable(b.copy(), requiresGrad: true) : nil
            let y = try batchNormActivation(xv, weight: wv, bias: bv, runningMean: nil, runningVar: nil, negativeSlope: slope)
            try (y * Variable(probe)).sum().backward()
            XCTAssertLessThan(xv.grad!.relativeError(to: g1f[0]), 1e-5)
            if affine { XCTAssertLessThan(wv!.grad!.relativeError(to: g1f[1]), 1e-5); XCTAssertLessThan(bv!.grad!.relativeError(to: g1f[2]), 1e-5) }
        }
        // Evaluation mode of the layer: the running-statistics affine, then the activation.
        let layer = BatchNorm3d(3)
        let xe = u([2, 3, 2, 2, 2], -2, 2)
        _ = try layer.forwardActivated(Variable(xe), negativeSlope: 0.2)
        layer.eval()
        let viaLayer = try layer.forwardActivated(Variable(xe), negativeSlope: 0.2)
        let composite = try layer(Variable(xe)).leakyReLU(0.2)
        XCTAssertTrue(viaLayer.value.bitwiseEqual(composite.value))
        XCTAssertThrowsError(try batchNormActivation(Variable(xe), weight: nil, bias: nil, runningMean: nil, runningVar: nil, negativeSlope: -0.1))
    }

    func testReshapeIsAView() throws {
        // The autograd reshape shares storage (2D convolutions run through it); gradients handed to
        // two leaves that share storage must still be independent tensors.
        let a = Variable(u([2, 3]), requiresGrad: true), b = Variable(u([6]), requiresGrad: true)
        let r = try a.reshaped([6])
        XCTAssertTrue(r.value.sharesStorage(with: a.value))
        XCTAssertFalse(try a.value.reshaped([6]).sharesStorage(with: a.value))
        let y = try r + b          // add hands the same gradient to both operands
        try y.sum().backward(retainGraph: true)
        try y.sum().backward()     // the second pass accumulates in place
        XCTAssertFalse(a.grad!.sharesStorage(with: b.grad!))
        XCTAssertEqual(a.grad!.array, [Float](repeating: 2, count: 6))
        XCTAssertEqual(b.grad!.array, [Float](repeating: 2, count: 6))
        // A view keeps its storage alive after the base is gone.
        var base: Tensor? = Tensor(shape: [4], values: [1, 2, 3, 4])
        let view = try base!.viewing(as: [2, 2])
        base = nil
        XCTAssertEqual(view.array, [1, 2, 3, 4])
    }

    func testFusedNormalizationPrimitives() throws {
        try checkGradients("channel affine", [u([2, 3, 2, 2]), u([3], 0.5, 1.5), u([3])]) {
            try channelAffine($0[0], scale: $0[1], shift: $0[2])
        }
        try checkGradients("channel dot", [u([2, 3, 2, 2]), u([2, 3, 2, 2])]) { try channelDot($0[0], $0[1]) }
        let rows = NormView(a: 3, b: 4, k: 1)
        try checkGradients("row affine (layer-norm parameters)", [u([3, 2, 2]), u([2, 2], 0.5, 1.5), u([2, 2])]) {
            try paramAffine($0[0], view: rows, paramShape: [2, 2], scale: $0[1], shift: $0[2])
        }
        try checkGradients("parameter sum", [u([3, 2, 2])]) { try paramSum($0[0], view: rows, paramShape: [2, 2]) }
        try checkGradients("parameter broadcast", [u([2, 2])]) { try paramBroadcast($0[0], view: rows, shape: [3, 2, 2]) }
        // Long rows take the parallel-over-rows path.
        try checkGradients("channel affine (long rows)", [u([1, 2, 130]), u([2], 0.5, 1.5), u([2])], secondOrder: false) {
            try channelAffine($0[0], scale: $0[1], shift: $0[2])
        }
        let lnx = u([2, 3, 4])
        let viaBroadcast = try (try standardize(Variable(lnx), axes: [1, 2], eps: 1e-5).y * Variable(Tensor(shape: [3, 4], repeating: 1.5))) + Variable(Tensor(shape: [3, 4], repeating: 0.25))
        let fusedLN = try layerNorm(Variable(lnx), normalizedShape: [3, 4], weight: Variable(Tensor(shape: [3, 4], repeating: 1.5)), bias: Variable(Tensor(shape: [3, 4], repeating: 0.25)))
        XCTAssertLessThan(fusedLN.value.relativeError(to: viaBroadcast.value), 1e-5)
        try checkGradients("standardize (batch view)", [u([3, 2, 2, 3], -2, 2)]) {
            try standardizeFused($0[0], view: NormView(a: 3, b: 2, k: 6), eps: 1e-5).y
        }
        // The fused kernel equals the composite definition, values and statistics.
        let x = u([3, 4, 2, 2, 2], -2, 2)
        let fused = try standardizeFused(Variable(x), view: NormView(a: 3, b: 4, k: 8), eps: 1e-5)
        let composite = try standardize(Variable(x), axes: [0, 2, 3, 4], eps: 1e-5)
        XCTAssertLessThan(fused.y.value.relativeError(to: composite.y.value), 1e-5)
        XCTAssertLessThan(fused.mean.relativeError(to: try composite.mean.reshaped([4]).value), 1e-5)
        XCTAssertLessThan(fused.variance.relativeError(to: try composite.variance.reshaped([4]).value), 1e-5)
    }

    func testLosses() throws {
        try checkGradients("bce with logits", [u([6], -4, 4)]) { try Loss.bceWithLogits($0[0], target: 0.9) }
        let t = Tensor(shape: [6], values: [1, 0, 1, 1, 0, 0])
        try checkGradients("bce with logits (targets)", [u([6], -4, 4)]) { try Loss.bceWithLogits($0[0], targets: t) }
        try checkGradients("mse", [u([2, 3]), u([2, 3])]) { try Loss.mse($0[0], $0[1]) }
        var r = PETRandom(seed: 5)
        let a = awayFromZero([2, 3], lo: 0.2, hi: 1, rng: &r)
        try checkGradients("l1", [a, Tensor(shape: [2, 3])]) { try Loss.l1($0[0], $0[1]) }
        try checkGradients("wasserstein", [u([4]), u([4])]) { try Loss.wassersteinCritic(real: $0[0], fake: $0[1]) + Loss.wassersteinGenerator(fake: $0[1]) }
        try checkGradients("hinge", [u([4], -0.8, 0.8), u([4], -0.8, 0.8)]) { try Loss.hingeCritic(real: $0[0], fake: $0[1]) + Loss.hingeGenerator(fake: $0[1]) }
    }

    /// The BCE formula stays finite for huge logits and equals the naive formula for moderate ones.
    func testBCEIsStable() throws {
        let big = try Loss.bceWithLogits(Variable(Tensor(shape: [2], values: [200, -200])), target: 1).scalar
        XCTAssertEqual(big, 100, accuracy: 1e-3)   // (0 + 200) / 2
        let x: Float = 0.7
        let naive = -Foundation.log(1 / (1 + Foundation.exp(-x)))
        XCTAssertEqual(try Loss.bceWithLogits(Variable(Tensor(shape: [1], values: [x])), target: 1).scalar, naive, accuracy: 1e-6)
    }
}
