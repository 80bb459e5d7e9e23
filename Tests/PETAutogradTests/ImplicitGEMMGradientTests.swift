import XCTest
import PETTensor
@testable import PETAutograd

/// First- and second-order gradients of the conv family on the implicit-GEMM path, once per
/// micro-kernel this CPU has, and a WGAN-GP-like penalty (‖∂score/∂x‖² differentiated again)
/// whose parameter gradients must match the reference path's.
final class ImplicitGEMMGradientTests: XCTestCase {
    func withISA(_ isa: ConvISA, _ body: () throws -> Void) throws {
        guard isa.isSupported else { throw XCTSkip("this CPU has no \(isa.rawValue) (the \(isa.rawValue) kernel did not run)") }
        let saved = Conv3dImplicitGEMM.isa
        Conv3dImplicitGEMM.isa = isa
        defer { Conv3dImplicitGEMM.isa = saved }
        // This tile on every call, thin ones too.
        let narrow = Conv3dImplicitGEMM.narrowOutputsOnAVX2
        Conv3dImplicitGEMM.narrowOutputsOnAVX2 = false
        defer { Conv3dImplicitGEMM.narrowOutputsOnAVX2 = narrow }
        print("implicit-GEMM gradient tests: running the \(isa.rawValue) micro-kernel")
        try body()
    }

    func secondOrder(_ isa: ConvISA) throws {
        try withISA(isa) {
            var rng = PETRandom(seed: 78)
            func u(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor { Tensor.uniform(shape, low: lo, high: hi, rng: &rng) }
            let o = ConvOptions(path: .implicitGEMM)
            // ForcedPathGradientTests' conv family (stride 1, chains, transposed), on this path.
            let p = ConvParams(kernel: [3, 2, 3], padding: [1, 0, 1])
            try checkGradients("implicit-gemm \(isa): conv3d k3×2×3 with bias", [u([2, 2, 4, 3, 5]), u([3, 2, 3, 2, 3], -0.5, 0.5), u([3])]) {
                try conv3d($0[0], weight: $0[1], bias: $0[2], params: p, options: o)
            }
            let pc = ConvParams(k: 3, p: 1)
            try checkGradients("implicit-gemm \(isa): conv → tanh → conv", [u([1, 2, 3, 4, 3]), u([2, 2, 3, 3, 3], -0.4, 0.4), u([1, 2, 3, 3, 3], -0.4, 0.4)]) {
                try conv3d(conv3d($0[0], weight: $0[1], params: pc, options: o).tanh(), weight: $0[2], params: pc, options: o)
            }
            let pt = ConvParams(kernel: [2, 3, 2], padding: [0, 1, 1])
            try checkGradients("implicit-gemm \(isa): conv_transpose3d k2×3×2 with bias", [u([2, 3, 3, 2, 3]), u([3, 2, 2, 3, 2], -0.5, 0.5), u([2])]) {
                try convTranspose3d($0[0], weight: $0[1], bias: $0[2], params: pt, options: o)
            }
            try checkGradients("implicit-gemm \(isa): conv_transpose → sigmoid → conv", [u([1, 2, 3, 2, 3]), u([2, 2, 3, 3, 3], -0.5, 0.5), u([1, 2, 3, 3, 3], -0.5, 0.5)]) {
                try conv3d(convTranspose3d($0[0], weight: $0[1], params: pc, options: o).sigmoid(), weight: $0[2], params: pc, options: o)
            }
            try checkGradients("implicit-gemm \(isa): conv3d k4 s2 p1", [u([2, 3, 6, 5, 6]), u([4, 3, 4, 4, 4], -0.3, 0.3)]) {
                try conv3d($0[0], weight: $0[1], params: ConvParams(k: 4, s: 2, p: 1), options: o)
            }
            try checkGradients("implicit-gemm \(isa): conv_transpose3d k4 s2 p1", [u([2, 3, 3, 2, 3]), u([3, 2, 4, 4, 4], -0.3, 0.3)]) {
                try convTranspose3d($0[0], weight: $0[1], params: ConvParams(k: 4, s: 2, p: 1), options: o)
            }
        }
    }

    func penaltyGradients(_ path: ConvPath) throws -> (Float, [Tensor]) {
        var rng = PETRandom(seed: 79)
        let o = ConvOptions(path: path)
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

    /// The three weights' gradients of the penalty agree with the reference's to 1e-4 of their
    /// size (the first-order tolerance of ConvolutionTests; here four conv calls deep).
    func penaltyMatchesReference(_ isa: ConvISA) throws {
        let (pr, gr) = try penaltyGradients(.reference)
        try withISA(isa) {
            let (pf, gf) = try penaltyGradients(.implicitGEMM)
            XCTAssertEqual(pf, pr, accuracy: 1e-4 * abs(pr), "penalty \(isa)")
            for (i, (a, b)) in zip(gf, gr).enumerated() {
                XCTAssertLessThanOrEqual(a.relativeError(to: b), 1e-4, "penalty gradient of weight \(i), \(isa)")
                XCTAssertGreaterThan(b.maxAbsDifference(to: Tensor(shape: b.shape)), 0, "weight \(i) gets a gradient")
            }
        }
    }

    func testSecondOrderAVX512() throws { try secondOrder(.avx512) }
    func testSecondOrderAVX2() throws { try secondOrder(.avx2) }
    func testSecondOrderPlainC() throws { try secondOrder(.scalar) }
    func testPenaltyAVX512() throws { try penaltyMatchesReference(.avx512) }
    func testPenaltyAVX2() throws { try penaltyMatchesReference(.avx2) }
    func testPenaltyPlainC() throws { try penaltyMatchesReference(.scalar) }
}
