import XCTest
import PETTensor
@testable import PETAutograd

/// bf16 mode through the autograd: first-order gradients of a small critic and the WGAN-GP-like
/// penalty's double backward (‖∂score/∂x‖² differentiated again), against fp32 on the reference
/// path. Finite differences cannot check a bf16 function (rounding makes it piecewise constant), so
/// the check is agreement with fp32 within what bf16 operands can move a result:
///   one bf16 call perturbs each product by |η| ≤ 2^-7 + 2^-16 (BF16ConvolutionTests' bound); the
///   perturbations of independent roundings average out in the sums, leaving a relative RMS of about
///   2^-7/√3 ≈ 2^-7.8 per call, and along a graph of n bf16 calls they add at worst linearly:
///   relative error (max |Δ| / max |ref|) ≤ n·2^-8 is the tolerance (n counted per test, including
///   the backward calls). A missing or wrong term in a gradient is an O(1) relative error.
/// The same graphs in fp32 are checked to 1e-4 by ImplicitGEMMGradientTests; the bf16 result must
/// also differ from fp32 (the operands really were rounded).
final class BF16GradientTests: XCTestCase {
    override func tearDown() { Conv3dBF16.forcedTile = nil; ConvPrecision.current = .fp32 }

    func penaltyGradients(_ o: ConvOptions) throws -> (Float, [Tensor]) {
        var rng = PETRandom(seed: 79)
        let s2 = ConvParams(k: 4, s: 2, p: 1)
        let z = Variable(Tensor.uniform([2, 24, 3, 3, 3], low: -1, high: 1, rng: &rng))
        let wg = Variable(Tensor.normal([24, 20, 4, 4, 4], std: 0.1, rng: &rng), requiresGrad: true)
        let w1 = Variable(Tensor.normal([40, 20, 4, 4, 4], std: 0.1, rng: &rng), requiresGrad: true)
        let w2 = Variable(Tensor.normal([3, 40, 3, 3, 3], std: 0.1, rng: &rng), requiresGrad: true)
        let x = try convTranspose3d(z, weight: wg, params: s2, options: o).tanh()
        let score = try conv3d(conv3d(x, weight: w1, params: s2, options: o).tanh(), weight: w2, params: ConvParams(k: 3, p: 1), options: o).sum()
        let g = try grad(score, x, createGraph: true)
        let penalty = try (g * g).sum()
        try penalty.backward()
        return (penalty.scalar, [wg, w1, w2].map { $0.grad! })
    }

    /// Forward: 3 calls; ∂score/∂x: 2 input gradients; the penalty's backward through those and
    /// the generator: 2 conv + 2 weight gradients for the double backward's terms, 1 input
    /// gradient and 1 weight gradient back to wg, the weight gradients of w1, w2: 12 bf16 calls on
    /// the longest dependency at most (tolerance 12·2^-8 ≈ 0.047).
    static let penaltyCalls = 12

    func checkPenalty(_ o: ConvOptions, _ label: String) throws {
        let (pr, gr) = try penaltyGradients(ConvOptions(path: .reference, precision: .fp32))
        let (pb, gb) = try penaltyGradients(o)
        let tol = Float(Self.penaltyCalls) * 0x1p-8
        XCTAssertEqual(pb, pr, accuracy: tol * abs(pr), "penalty \(label)")
        for (i, (a, b)) in zip(gb, gr).enumerated() {
            let e = a.relativeError(to: b)
            print("bf16 penalty gradient of weight \(i) (\(label)): relative error \(e) (tolerance \(tol))")
            XCTAssertLessThanOrEqual(e, tol, "penalty gradient of weight \(i), \(label)")
            XCTAssertGreaterThan(a.maxAbsDifference(to: b), 0, "weight \(i): bf16 differs from fp32")
            XCTAssertGreaterThan(b.maxAbsDifference(to: Tensor(shape: b.shape)), 0, "weight \(i) gets a gradient")
        }
    }

    func testPenaltyWithVDPBF16PSTiles() throws {
        guard BF16Tile.avx512bf16.isSupported else { throw XCTSkip("this CPU has no AVX512_BF16 (the vdpbf16ps tile did not run)") }
        Conv3dBF16.forcedTile = .avx512bf16
        try checkPenalty(ConvOptions(precision: .bf16), "vdpbf16ps tiles")
    }
    func testPenaltyWithEmulatedTiles() throws {
        Conv3dBF16.forcedTile = .emulated
        try checkPenalty(ConvOptions(precision: .bf16), "plain C bf16 tiles")
    }
    func testPenaltyEmulatedOnIm2col() throws {
        try checkPenalty(ConvOptions(path: .im2col, precision: .bf16), "rounded operands, im2col")
    }
    func testPenaltyFollowsProcessPrecision() throws {
        // What `--precision bf16` does: options leave the precision to ConvPrecision.current.
        ConvPrecision.current = .bf16
        Conv3dBF16.forcedTile = .emulated
        try checkPenalty(ConvOptions(), "process precision")
    }

    /// First order: a conv → tanh → conv_transpose → conv chain with biases, every parameter's and
    /// the input's gradient; 3 forward + at most 3 backward calls on a dependency (tolerance 6·2^-8).
    func firstOrder(_ o: ConvOptions, _ label: String) throws {
        func run(_ o: ConvOptions) throws -> [Tensor] {
            var rng = PETRandom(seed: 80)
            func v(_ s: [Int], _ std: Float) -> Variable { Variable(Tensor.normal(s, std: std, rng: &rng), requiresGrad: true) }
            let x = v([2, 7, 9, 8, 7], 1), w1 = v([33, 7, 4, 4, 4], 0.1), b1 = v([33], 0.1)
            let w2 = v([33, 10, 3, 3, 3], 0.1), b2 = v([10], 0.1), w3 = v([5, 10, 3, 2, 3], 0.1)
            let h = try conv3d(x, weight: w1, bias: b1, params: ConvParams(k: 4, s: 2, p: 1), options: o).tanh()
            let t = try convTranspose3d(h, weight: w2, bias: b2, params: ConvParams(k: 3, s: 2, p: 1), options: o).sigmoid()
            let y = try conv3d(t, weight: w3, params: ConvParams(kernel: [3, 2, 3], padding: [1, 0, 1]), options: o)
            let r = Tensor.uniform(y.shape, low: -1, high: 1, rng: &rng)
            try (y * Variable(r)).sum().backward()
            return [x, w1, b1, w2, b2, w3].map { $0.grad! }
        }
        let ref = try run(ConvOptions(path: .reference, precision: .fp32))
        let got = try run(o)
        let tol = 6 * Float(0x1p-8)
        for (i, (a, b)) in zip(got, ref).enumerated() {
            XCTAssertLessThanOrEqual(a.relativeError(to: b), tol, "gradient \(i), \(label)")
            XCTAssertGreaterThan(a.maxAbsDifference(to: b), 0, "gradient \(i): bf16 differs from fp32")
        }
    }

    func testFirstOrderVDPBF16PSTiles() throws {
        guard BF16Tile.avx512bf16.isSupported else { throw XCTSkip("this CPU has no AVX512_BF16 (the vdpbf16ps tile did not run)") }
        Conv3dBF16.forcedTile = .avx512bf16
        try firstOrder(ConvOptions(precision: .bf16), "vdpbf16ps tiles")
    }
    func testFirstOrderEmulatedTiles() throws {
        Conv3dBF16.forcedTile = .emulated
        try firstOrder(ConvOptions(precision: .bf16), "plain C bf16 tiles")
    }
    func testFirstOrderEmulatedOnIm2col() throws { try firstOrder(ConvOptions(path: .im2col, precision: .bf16), "rounded operands, im2col") }
}
