import XCTest
import PETTensor
@testable import PETAutograd

/// The conv family's first- and second-order gradients with each kernel path forced (the double
/// backward of WGAN-GP runs whichever path the dispatcher picks, so every path must be right), and
/// the gradient check itself failing on NaN.
final class ForcedPathGradientTests: XCTestCase {
    var rng = PETRandom(seed: 77)

    func u(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor { Tensor.uniform(shape, low: lo, high: hi, rng: &rng) }

    /// Stride-1 convolutions (every path computes them), conv → tanh → conv chains (the gradient
    /// flowing into the second conv depends on the inputs), and transposed convolutions.
    func checkConvFamily(_ path: ConvPath) throws {
        let o = ConvOptions(path: path)
        let p = ConvParams(kernel: [3, 2, 3], padding: [1, 0, 1])
        try checkGradients("\(path): conv3d k3×2×3 with bias", [u([2, 2, 4, 3, 5]), u([3, 2, 3, 2, 3], -0.5, 0.5), u([3])]) {
            try conv3d($0[0], weight: $0[1], bias: $0[2], params: p, options: o)
        }
        let pc = ConvParams(k: 3, p: 1)
        try checkGradients("\(path): conv → tanh → conv", [u([1, 2, 3, 4, 3]), u([2, 2, 3, 3, 3], -0.4, 0.4), u([1, 2, 3, 3, 3], -0.4, 0.4)]) {
            try conv3d(conv3d($0[0], weight: $0[1], params: pc, options: o).tanh(), weight: $0[2], params: pc, options: o)
        }
        let pt = ConvParams(kernel: [2, 3, 2], padding: [0, 1, 1])
        try checkGradients("\(path): conv_transpose3d k2×3×2 with bias", [u([2, 3, 3, 2, 3]), u([3, 2, 2, 3, 2], -0.5, 0.5), u([2])]) {
            try convTranspose3d($0[0], weight: $0[1], bias: $0[2], params: pt, options: o)
        }
        try checkGradients("\(path): conv_transpose → sigmoid → conv", [u([1, 2, 3, 2, 3]), u([2, 2, 3, 3, 3], -0.5, 0.5), u([1, 2, 3, 3, 3], -0.5, 0.5)]) {
            try conv3d(convTranspose3d($0[0], weight: $0[1], params: pc, options: o).sigmoid(), weight: $0[2], params: pc, options: o)
        }
    }

    func testSecondOrderWithReferenceKernels() throws { try checkConvFamily(.reference) }

    func testSecondOrderWithIm2col() throws {
        try checkConvFamily(.im2col)
        // Strided convolutions too (the discriminator's and generator's layers).
        let o = ConvOptions(path: .im2col)
        try checkGradients("im2col: conv3d s2", [u([2, 2, 5, 4, 4]), u([3, 2, 3, 3, 3], -0.5, 0.5)]) {
            try conv3d($0[0], weight: $0[1], params: ConvParams(k: 3, s: 2, p: 1), options: o)
        }
        try checkGradients("im2col: conv_transpose3d s2 op1", [u([2, 3, 2, 2, 3]), u([3, 2, 3, 3, 3], -0.5, 0.5)]) {
            try convTranspose3d($0[0], weight: $0[1], params: ConvParams(k: 3, s: 2, p: 1, op: 1), options: o)
        }
    }

    func testSecondOrderWithFFT() throws {
        let before = Conv3dFFT.callCounts
        try checkConvFamily(.fft)
        let after = Conv3dFFT.callCounts
        // Every call of these stride-1 shapes must have been computed by FFT: first order, finite
        // differences and the double backward alike.
        XCTAssertGreaterThan(after.ran - before.ran, 100, "the FFT path did not run")
        XCTAssertEqual(after.fellBack, before.fellBack, "FFT calls fell back to im2col")
    }

    /// Winograd computes stride-1 3×3×3 kernels only, so its family uses those (padding 0 and 1,
    /// odd sizes that leave clipped edge tiles); every call must have run on Winograd.
    func testSecondOrderWithWinograd() throws {
        let before = Conv3dWinograd.callCounts
        let o = ConvOptions(path: .winograd)
        let p1 = ConvParams(k: 3, p: 1), p0 = ConvParams(k: 3)
        let pm = ConvParams(kernel: [3, 3, 3], padding: [1, 0, 1])
        try checkGradients("winograd: conv3d k3 p[1,0,1] with bias", [u([2, 2, 4, 3, 5]), u([3, 2, 3, 3, 3], -0.5, 0.5), u([3])]) {
            try conv3d($0[0], weight: $0[1], bias: $0[2], params: pm, options: o)
        }
        try checkGradients("winograd: conv → tanh → conv", [u([1, 2, 3, 4, 3]), u([2, 2, 3, 3, 3], -0.4, 0.4), u([1, 2, 3, 3, 3], -0.4, 0.4)]) {
            try conv3d(conv3d($0[0], weight: $0[1], params: p1, options: o).tanh(), weight: $0[2], params: p1, options: o)
        }
        try checkGradients("winograd: conv3d p0 → tanh → conv", [u([1, 2, 5, 4, 5]), u([2, 2, 3, 3, 3], -0.4, 0.4), u([1, 2, 3, 3, 3], -0.4, 0.4)]) {
            try conv3d(conv3d($0[0], weight: $0[1], params: p0, options: o).tanh(), weight: $0[2], params: p1, options: o)
        }
        try checkGradients("winograd: conv_transpose3d k3 p1 with bias", [u([2, 3, 3, 2, 3]), u([3, 2, 3, 3, 3], -0.5, 0.5), u([2])]) {
            try convTranspose3d($0[0], weight: $0[1], bias: $0[2], params: p1, options: o)
        }
        try checkGradients("winograd: conv_transpose → sigmoid → conv", [u([1, 2, 3, 2, 3]), u([2, 2, 3, 3, 3], -0.5, 0.5), u([1, 2, 3, 3, 3], -0.5, 0.5)]) {
            try conv3d(convTranspose3d($0[0], weight: $0[1], params: p1, options: o).sigmoid(), weight: $0[2], params: p1, options: o)
        }
        let after = Conv3dWinograd.callCounts
        XCTAssertGreaterThan(after.ran - before.ran, 100, "the Winograd path did not run")
        XCTAssertEqual(after.fellBack, before.fellBack, "Winograd calls fell back to im2col")
    }

    /// The gradient check fails on a function whose gradient is NaN (it once scored NaN as 0).
    func testGradientCheckFailsOnNaN() throws {
        let nan = Tensor(shape: [4], repeating: .nan)
        let r = try checkGradients("x · NaN", [u([4])], recordFailures: false) { try $0[0] * Variable(nan) }
        XCTAssertFalse(r.firstOrderError <= 1e-3, "first order: \(r.firstOrderError)")
        XCTAssertFalse((r.secondOrderError ?? 0) <= 2e-3, "second order: \(String(describing: r.secondOrderError))")
        XCTAssertFalse(scaledError([.nan, 0], [0, 0]) <= 1e-3)
        XCTAssertFalse(scaledError([0, 0], [0, .nan]) <= 1e-3)
        XCTAssertFalse(scaledError([1, .infinity], [1, 2]) <= 1e-3)
        // A correct gradient still passes with the same machinery.
        let ok = try checkGradients("x · 2", [u([4])]) { $0[0] * 2 }
        XCTAssertLessThanOrEqual(ok.firstOrderError, 1e-3)
    }
}
