import XCTest
@testable import PETTensor

/// Every fast path against the reference on random shapes (odd, non-cubic, strides 1–2, padding 0–3,
/// kernels 1–7, batch 1 and 3), for both ops and all their gradients; the reference itself against
/// central finite differences and the adjoint identity.
final class ConvolutionTests: XCTestCase {
    struct Case: CustomStringConvertible {
        var n, ci, co: Int
        var size: [Int]     // conv input (D, H, W)
        var params: ConvParams
        var description: String { "n\(n) ci\(ci) co\(co) in\(size) \(params)" }
    }

    /// Random conv3d cases whose kernel fits the padded input.
    static func randomCases(count: Int, seed: UInt64, maxKernel: Int = 7, stride1Only: Bool = false) -> [Case] {
        var rng = PETRandom(seed: seed)
        var cases: [Case] = []
        while cases.count < count {
            let n = rng.int(below: 2) == 0 ? 1 : 3
            let ci = 1 + rng.int(below: 4), co = 1 + rng.int(below: 4)
            var k = [Int](), s = [Int](), p = [Int](), size = [Int]()
            for _ in 0..<3 {
                let kk = 1 + rng.int(below: maxKernel)
                let pp = rng.int(below: 4)
                let ss = stride1Only ? 1 : 1 + rng.int(below: 2)
                // odd and even sizes 1...11, at least the kernel minus the padding
                let lo = max(1, kk - 2 * pp)
                let sz = lo + rng.int(below: max(1, 12 - lo))
                k.append(kk); s.append(ss); p.append(pp); size.append(sz)
            }
            cases.append(Case(n: n, ci: ci, co: co, size: size, params: ConvParams(kernel: k, stride: s, padding: p)))
        }
        return cases
    }

    static func compare(path: ConvPath, cases: [Case], columnLimit: Int = 256 << 20, tolerance: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) throws {
        let ref = ConvOptions(path: .reference)
        let fast = ConvOptions(path: path, columnLimitBytes: columnLimit)
        var rng = PETRandom(seed: 99)
        for c in cases {
            let before = Conv3dFFT.callCounts
            let winogradBefore = Conv3dWinograd.callCounts
            defer {
                // A forced FFT case must run FFT in all six calls: a dispatch or plan fallback to im2col
                // would otherwise compare im2col with the reference under the FFT test's name.
                if path == .fft {
                    let after = Conv3dFFT.callCounts
                    XCTAssertEqual(after.ran - before.ran, 6, "FFT calls that ran for \(c)", file: file, line: line)
                    XCTAssertEqual(after.fellBack, before.fellBack, "FFT calls that fell back to im2col for \(c)", file: file, line: line)
                }
                // The same for a forced Winograd case (the dispatcher sends shapes it does not apply to to im2col).
                if path == .winograd {
                    let after = Conv3dWinograd.callCounts
                    XCTAssertEqual(after.ran - winogradBefore.ran, 6, "Winograd calls that ran for \(c)", file: file, line: line)
                    XCTAssertEqual(after.fellBack, winogradBefore.fellBack, "Winograd calls that fell back to im2col for \(c)", file: file, line: line)
                }
            }
            let x = Tensor.uniform([c.n, c.ci] + c.size, low: -1, high: 1, rng: &rng)
            let w = Tensor.uniform([c.co, c.ci] + c.params.kernel, low: -1, high: 1, rng: &rng)
            let b = Tensor.uniform([c.co], low: -1, high: 1, rng: &rng)
            // conv3d forward + gradients
            let yr = try Conv3d.forward(x, weight: w, bias: b, params: c.params, options: ref)
            let yf = try Conv3d.forward(x, weight: w, bias: b, params: c.params, options: fast)
            XCTAssertLessThanOrEqual(yf.relativeError(to: yr), tolerance, "conv3d forward \(path) \(c)", file: file, line: line)
            let gy = Tensor.uniform(yr.shape, low: -1, high: 1, rng: &rng)
            let gxr = try Conv3d.backwardInput(gy, weight: w, inputShape: x.shape, params: c.params, options: ref)
            let gxf = try Conv3d.backwardInput(gy, weight: w, inputShape: x.shape, params: c.params, options: fast)
            XCTAssertLessThanOrEqual(gxf.relativeError(to: gxr), tolerance, "conv3d grad input \(path) \(c)", file: file, line: line)
            let gwr = try Conv3d.backwardWeight(gy, input: x, params: c.params, options: ref)
            let gwf = try Conv3d.backwardWeight(gy, input: x, params: c.params, options: fast)
            XCTAssertLessThanOrEqual(gwf.relativeError(to: gwr), tolerance, "conv3d grad weight \(path) \(c)", file: file, line: line)

            // conv_transpose3d with the same geometry: its input is the conv output shape; add an
            // output padding where the stride allows, so the transposed output is x's size + op.
            var tp = c.params
            var op = [0, 0, 0]
            for a in 0..<3 where tp.stride[a] > 1 {
                let s = tp.stride[a], k = tp.kernel[a], pp = tp.padding[a]
                // largest output padding < stride that keeps the conv of the big volume consistent
                let rem = (c.size[a] + 2 * pp - k) % s
                op[a] = rem
            }
            tp.outputPadding = op
            let xt = Tensor.uniform([c.n, c.co] + Array(yr.shape[2...]), low: -1, high: 1, rng: &rng)
            let wt = Tensor.uniform([c.co, c.ci] + c.params.kernel, low: -1, high: 1, rng: &rng)
            let bt = Tensor.uniform([c.ci], low: -1, high: 1, rng: &rng)
            let ytr = try ConvTranspose3d.forward(xt, weight: wt, bias: bt, params: tp, options: ref)
            XCTAssertEqual(Array(ytr.shape[2...]), c.size, "transposed output size \(c)", file: file, line: line)
            let ytf = try ConvTranspose3d.forward(xt, weight: wt, bias: bt, params: tp, options: fast)
            XCTAssertLessThanOrEqual(ytf.relativeError(to: ytr), tolerance, "conv_transpose3d forward \(path) \(c)", file: file, line: line)
            let gyt = Tensor.uniform(ytr.shape, low: -1, high: 1, rng: &rng)
            let gxtr = try ConvTranspose3d.backwardInput(gyt, weight: wt, params: tp, options: ref)
            let gxtf = try ConvTranspose3d.backwardInput(gyt, weight: wt, params: tp, options: fast)
            XCTAssertLessThanOrEqual(gxtf.relativeError(to: gxtr), tolerance, "conv_transpose3d grad input \(path) \(c)", file: file, line: line)
            let gwtr = try ConvTranspose3d.backwardWeight(gyt, input: xt, params: tp, options: ref)
            let gwtf = try ConvTranspose3d.backwardWeight(gyt, input: xt, params: tp, options: fast)
            XCTAssertLessThanOrEqual(gwtf.relativeError(to: gwtr), tolerance, "conv_transpose3d grad weight \(path) \(c)", file: file, line: line)
        }
    }

    func testIm2colMatchesReferenceOnRandomShapes() throws {
        try Self.compare(path: .im2col, cases: Self.randomCases(count: 60, seed: 1))
    }

    func testIm2colDepthSlabsMatchReference() throws {
        // A tiny column limit forces one output plane per slab.
        try Self.compare(path: .im2col, cases: Self.randomCases(count: 20, seed: 2), columnLimit: 64)
    }

    func testIm2colBatchesSmallSamples() throws {
        // Small outputs with batch 3 take the batched-GEMM branch; check the plan really batches.
        let cases = Self.randomCases(count: 30, seed: 3).filter { $0.n == 3 }
        XCTAssertFalse(cases.isEmpty)
        let g = try ConvGeometry.conv(x: [3, 2, 5, 5, 5], w: [2, 2, 3, 3, 3], params: ConvParams(k: 3, p: 1), op: "t")
        XCTAssertEqual(Conv3dIm2col.plan(g, .automatic).batch, 3)
        try Self.compare(path: .im2col, cases: cases)
    }

    func testPointwiseKernelDirectPath() throws {
        let c = Case(n: 3, ci: 5, co: 4, size: [3, 4, 5], params: ConvParams(k: 1))
        let g = try ConvGeometry.conv(x: [3, 5, 3, 4, 5], w: [4, 5, 1, 1, 1], params: c.params, op: "t")
        XCTAssertTrue(Conv3dIm2col.plan(g, .automatic).direct)
        try Self.compare(path: .im2col, cases: [c])
    }

    func testTwoDimensionalConvolutionMatches() throws {
        // 2D = D 1 with a depth kernel of 1.
        var rng = PETRandom(seed: 5)
        var cases: [Case] = []
        for _ in 0..<10 {
            let k = 1 + rng.int(below: 5), s = 1 + rng.int(below: 2), p = rng.int(below: 3)
            let h = max(1, k - 2 * p) + rng.int(below: 8), w = max(1, k - 2 * p) + rng.int(below: 8)
            cases.append(Case(n: 3, ci: 2, co: 3, size: [1, h, w], params: .twoD(k: k, s: s, p: p)))
        }
        try Self.compare(path: .im2col, cases: cases)
    }

    /// The reference kernels against central finite differences of L = Σ y·r (in Float; L is linear
    /// in each argument, so the difference quotient is exact up to rounding).
    func testReferenceGradientsMatchFiniteDifferences() throws {
        var rng = PETRandom(seed: 11)
        let ref = ConvOptions(path: .reference)
        for c in Self.randomCases(count: 6, seed: 12, maxKernel: 4) {
            let x = Tensor.uniform([c.n, c.ci] + c.size, low: -1, high: 1, rng: &rng)
            let w = Tensor.uniform([c.co, c.ci] + c.params.kernel, low: -1, high: 1, rng: &rng)
            let y = try Conv3d.forward(x, weight: w, params: c.params, options: ref)
            let r = Tensor.uniform(y.shape, low: -1, high: 1, rng: &rng)
            func loss(_ x: Tensor, _ w: Tensor) throws -> Double {
                let y = try Conv3d.forward(x, weight: w, params: c.params, options: ref)
                var s = 0.0
                for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }
                return s
            }
            let gx = try Conv3d.backwardInput(r, weight: w, inputShape: x.shape, params: c.params, options: ref)
            let gw = try Conv3d.backwardWeight(r, input: x, params: c.params, options: ref)
            let eps: Float = 0.01
            for _ in 0..<5 {
                let i = rng.int(below: x.count)
                let old = x[i]
                x[i] = old + eps; let lp = try loss(x, w)
                x[i] = old - eps; let lm = try loss(x, w)
                x[i] = old
                let fd = (lp - lm) / (2 * Double(eps))
                XCTAssertEqual(fd, Double(gx[i]), accuracy: 1e-3 * max(1, abs(fd)), "d/dx \(c)")
                let j = rng.int(below: w.count)
                let ow = w[j]
                w[j] = ow + eps; let lp2 = try loss(x, w)
                w[j] = ow - eps; let lm2 = try loss(x, w)
                w[j] = ow
                let fd2 = (lp2 - lm2) / (2 * Double(eps))
                XCTAssertEqual(fd2, Double(gw[j]), accuracy: 1e-3 * max(1, abs(fd2)), "d/dw \(c)")
            }
            // bias gradient is the sum of the output gradient per channel
            let gb = try Conv3d.backwardBias(r)
            for ch in 0..<c.co {
                var s = 0.0
                for n in 0..<c.n { for v in 0..<y.count / (c.n * c.co) { s += Double(r[(n * c.co + ch) * (y.count / (c.n * c.co)) + v]) } }
                XCTAssertEqual(Double(gb[ch]), s, accuracy: 1e-4 * max(1, abs(s)))
            }
        }
    }

    /// ⟨conv(x), y⟩ = ⟨x, convᵀ(y)⟩ in Double: the transposed op is exactly the adjoint.
    func testTransposeIsAdjointOfConvolution() throws {
        var rng = PETRandom(seed: 21)
        for c in Self.randomCases(count: 10, seed: 22) {
            let x = Tensor.uniform([c.n, c.ci] + c.size, low: -1, high: 1, rng: &rng)
            let w = Tensor.uniform([c.co, c.ci] + c.params.kernel, low: -1, high: 1, rng: &rng)
            let ax = try Conv3d.forward(x, weight: w, params: c.params, options: ConvOptions(path: .reference))
            let y = Tensor.uniform(ax.shape, low: -1, high: 1, rng: &rng)
            let aty = try Conv3d.backwardInput(y, weight: w, inputShape: x.shape, params: c.params, options: ConvOptions(path: .reference))
            var l = 0.0, r = 0.0
            for i in 0..<ax.count { l += Double(ax[i]) * Double(y[i]) }
            for i in 0..<x.count { r += Double(x[i]) * Double(aty[i]) }
            XCTAssertEqual(l, r, accuracy: 1e-4 * max(1, abs(l)), "\(c)")
        }
    }

    func testPyTorchOutputSizes() throws {
        // torch: conv3d 64³ k4 s2 p1 → 32³; conv_transpose3d 4³ k4 s2 p1 → 8³; 1³ k4 s1 p0 → 4³;
        // output_padding 1 with k3 s2 p1: 5 → 10.
        XCTAssertEqual(try Conv3d.outputShape(x: [4, 1, 64, 64, 64], w: [64, 1, 4, 4, 4], params: ConvParams(k: 4, s: 2, p: 1)), [4, 64, 32, 32, 32])
        XCTAssertEqual(try ConvTranspose3d.outputShape(x: [4, 512, 4, 4, 4], w: [512, 256, 4, 4, 4], params: ConvParams(k: 4, s: 2, p: 1)), [4, 256, 8, 8, 8])
        XCTAssertEqual(try ConvTranspose3d.outputShape(x: [4, 100, 1, 1, 1], w: [100, 512, 4, 4, 4], params: ConvParams(k: 4)), [4, 512, 4, 4, 4])
        XCTAssertEqual(try ConvTranspose3d.outputShape(x: [1, 2, 5, 5, 5], w: [2, 3, 3, 3, 3], params: ConvParams(k: 3, s: 2, p: 1, op: 1)), [1, 3, 10, 10, 10])
    }

    func testBadInputThrowsNamedErrors() {
        let x = Tensor(shape: [1, 3, 5, 5, 5])
        let w = Tensor(shape: [2, 4, 3, 3, 3])
        XCTAssertThrowsError(try Conv3d.forward(x, weight: w, params: ConvParams(k: 3))) { e in
            let msg = "\(e)"
            XCTAssertTrue(msg.contains("conv3d") && msg.contains("[1, 3, 5, 5, 5]") && msg.contains("[2, 4, 3, 3, 3]"), msg)
        }
        let big = Tensor(shape: [2, 3, 9, 9, 9])
        XCTAssertThrowsError(try Conv3d.forward(x, weight: big, params: ConvParams(k: 9))) { e in
            XCTAssertTrue("\(e)".contains("larger than the padded input"), "\(e)")
        }
        XCTAssertThrowsError(try Conv3d.forward(Tensor(shape: [1, 3, 0, 5, 5]), weight: Tensor(shape: [2, 3, 1, 1, 1]), params: ConvParams(k: 1))) { e in
            XCTAssertTrue("\(e)".contains("zero or negative"), "\(e)")
        }
        XCTAssertThrowsError(try Conv3d.forward(x, weight: Tensor(shape: [2, 3, 3, 3, 3]), params: ConvParams(k: 3, s: 0))) { e in
            XCTAssertTrue("\(e)".contains("stride"), "\(e)")
        }
        XCTAssertThrowsError(try ConvTranspose3d.forward(x, weight: Tensor(shape: [4, 2, 3, 3, 3]), params: ConvParams(k: 3))) { e in
            XCTAssertTrue("\(e)".contains("conv_transpose3d") && "\(e)".contains("channels"), "\(e)")
        }
        XCTAssertThrowsError(try ConvTranspose3d.forward(x, weight: Tensor(shape: [3, 2, 3, 3, 3]), params: ConvParams(k: 3, s: 2, op: 2))) { e in
            XCTAssertTrue("\(e)".contains("output padding"), "\(e)")
        }
        XCTAssertThrowsError(try Conv3d.backwardInput(Tensor(shape: [1, 2, 4, 4, 4]), weight: Tensor(shape: [2, 3, 3, 3, 3]), inputShape: [1, 3, 5, 5, 5], params: ConvParams(k: 3))) { e in
            XCTAssertTrue("\(e)".contains("output gradient"), "\(e)")
        }
        XCTAssertThrowsError(try Conv3d.forward(x, weight: Tensor(shape: [2, 3, 3, 3, 3]), bias: Tensor(shape: [3]), params: ConvParams(k: 3))) { e in
            XCTAssertTrue("\(e)".contains("bias"), "\(e)")
        }
    }
}

final class RandomTests: XCTestCase {
    func testSameSeedSameNumbersAndKnownVector() {
        var a = PETRandom(seed: 42), b = PETRandom(seed: 42)
        // xoshiro256** seeded by SplitMix64(42), computed independently (Python, integer arithmetic).
        XCTAssertEqual([a.next(), a.next(), a.next()], [1546998764402558742, 6990951692964543102, 12544586762248559009])
        _ = b.next(); _ = b.next(); _ = b.next()
        for _ in 0..<100 { XCTAssertEqual(a.normal(), b.normal()) }
        XCTAssertEqual(a, b)
    }

    func testUniformAndNormalMoments() {
        var r = PETRandom(seed: 7)
        var su = 0.0, sn = 0.0, sn2 = 0.0
        let n = 200_000
        for _ in 0..<n {
            let u = r.uniform01(); XCTAssert(u >= 0 && u < 1)
            su += Double(u)
            let z = Double(r.normal()); sn += z; sn2 += z * z
        }
        XCTAssertEqual(su / Double(n), 0.5, accuracy: 0.005)
        XCTAssertEqual(sn / Double(n), 0, accuracy: 0.01)
        XCTAssertEqual(sn2 / Double(n), 1, accuracy: 0.01)
    }

    func testStateRoundTripContinuesExactly() throws {
        var r = PETRandom(seed: 3)
        _ = r.normal()   // leaves a spare deviate in the state
        let saved = try JSONEncoder().encode(r)
        var restored = try JSONDecoder().decode(PETRandom.self, from: saved)
        for _ in 0..<10 { XCTAssertEqual(r.normal(), restored.normal()) }
    }
}

final class MemoryTests: XCTestCase {
    func testByteSizesParse() {
        XCTAssertEqual(parseByteSize("512MB"), 512 << 20)
        XCTAssertEqual(parseByteSize("4GB"), 4 << 30)
        XCTAssertEqual(parseByteSize("1.5G"), 3 << 29)
        XCTAssertNil(parseByteSize("lots"))
        XCTAssertNil(parseByteSize("-3MB"))
    }

    func testAccountantRefusesOverBudgetAndSaysWhatWouldWork() {
        let acc = MemoryAccountant(budget: 1 << 20)
        XCTAssertNoThrow(try acc.reserve(512 << 10, what: "a"))
        XCTAssertThrowsError(try acc.reserve(1 << 20, what: "activation")) { e in
            XCTAssertTrue("\(e)".contains("activation") && "\(e)".contains("--memory-budget 2MB"), "\(e)")
        }
        acc.release(512 << 10)
        XCTAssertEqual(acc.bytesInUse, 0)
        XCTAssertEqual(acc.peakBytes, 512 << 10)
    }
}

final class FFTConvolutionTests: XCTestCase {
    /// Stride-1 cases the FFT path computes (a 1×1×1 kernel is a plain GEMM: FFT does not apply).
    static func fftCases(count: Int, seed: UInt64) throws -> [ConvolutionTests.Case] {
        let all = ConvolutionTests.randomCases(count: count, seed: seed, stride1Only: true)
        let cases = try all.filter { c in
            Conv3dFFT.applies(try ConvGeometry.conv(x: [c.n, c.ci] + c.size, w: [c.co, c.ci] + c.params.kernel, params: c.params, op: "t"))
        }
        XCTAssertGreaterThanOrEqual(cases.count, count * 3 / 4, "too few drawn cases take the FFT path")
        return cases
    }

    func testFFTMatchesReferenceOnRandomStrideOneShapes() throws {
        try ConvolutionTests.compare(path: .fft, cases: try Self.fftCases(count: 40, seed: 31))
    }

    func testFFTTilesAndColumnGroupsMatchReference() throws {
        // A small scratch limit forces small FFT sizes (many tiles, tiles not dividing the volume)
        // and one tile column per spectra group.
        var cases = try Self.fftCases(count: 12, seed: 32)
        cases.append(.init(n: 3, ci: 2, co: 3, size: [13, 11, 9], params: ConvParams(kernel: [5, 3, 7], padding: [2, 0, 3])))
        let g = try ConvGeometry.conv(x: [3, 2, 13, 11, 9], w: [3, 2, 5, 3, 7], params: ConvParams(kernel: [5, 3, 7], padding: [2, 0, 3]), op: "t")
        let limit = 40_000
        let plan = try XCTUnwrap(Conv3dFFT.plan(g, role: .correlate, options: ConvOptions(columnLimitBytes: limit)))
        XCTAssertGreaterThan(plan.tileCount, 1)
        XCTAssertLessThan(plan.groupColumns, 3 * plan.tileCount)
        try ConvolutionTests.compare(path: .fft, cases: cases, columnLimit: limit)
    }

    func testWeightSpectraCacheSeesInPlaceWeightUpdates() throws {
        // An optimizer updates weights in place; the cached spectra must not be reused after that.
        var rng = PETRandom(seed: 41)
        let x = Tensor.uniform([2, 3, 9, 8, 7], low: -1, high: 1, rng: &rng)
        let w = Tensor.uniform([4, 3, 3, 3, 3], low: -1, high: 1, rng: &rng)
        let p = ConvParams(k: 3, p: 1)
        let first = try Conv3d.forward(x, weight: w, params: p, options: ConvOptions(path: .fft))
        for i in 0..<w.count { w[i] -= 0.01 * Float(i % 7) }
        let second = try Conv3d.forward(x, weight: w, params: p, options: ConvOptions(path: .fft))
        let ref = try Conv3d.forward(x, weight: w, params: p, options: ConvOptions(path: .reference))
        XCTAssertLessThanOrEqual(second.relativeError(to: ref), 1e-4)
        XCTAssertGreaterThan(second.maxAbsDifference(to: first), 1e-3)
    }

    func testAutomaticChoiceNeverPicksFFTForStridedConvolutions() throws {
        let g = try ConvGeometry.conv(x: [1, 4, 16, 16, 16], w: [4, 4, 4, 4, 4], params: ConvParams(k: 4, s: 2, p: 1), op: "t")
        XCTAssertFalse(Conv3dFFT.applies(g))
        XCTAssertEqual(ConvDispatch.choose(g, role: .correlate, options: ConvOptions(path: .fft)), .im2col)
    }
}

final class PoolTests: XCTestCase {
    func testLargeTensorsReuseFreedBuffersAndStayZeroed() {
        let n = Tensor.poolThresholdFloats * 2
        // Start from an empty pool with room to cache: buffers left by earlier tests of similar size
        // would otherwise be equally valid candidates.
        ScratchPool.shared.trim()
        let savedLimit = ScratchPool.shared.cacheLimitBytes
        ScratchPool.shared.cacheLimitBytes = 64 << 20
        defer { ScratchPool.shared.cacheLimitBytes = savedLimit }
        var first: UnsafeMutablePointer<Float>?
        do {
            let a = Tensor(shape: [n], repeating: 7)
            first = a.data
        }
        let b = Tensor(shape: [n])          // zeroed: must not see the 7s of the reused buffer
        XCTAssertEqual(b.data, first, "a freed large buffer is reused")
        XCTAssertTrue((0..<n).allSatisfy { b[$0] == 0 })
        XCTAssertGreaterThanOrEqual(MemoryAccountant.shared.bytesInUse, n * 4)
    }

    /// A training step's working set (here 6 × 64 MB live at once, above the old 320 MB limit) is
    /// found again by the next step with the default limit: no fresh buffer, no page zeroing; and
    /// the idle buffers never take resident memory past the live peak + slack.
    func testDefaultCacheKeepsAStepsWorkingSet() {
        ScratchPool.shared.trim()
        let savedLimit = ScratchPool.shared.cacheLimitBytes
        ScratchPool.shared.cacheLimitBytes = ScratchPool.defaultCacheLimitBytes
        defer { ScratchPool.shared.cacheLimitBytes = savedLimit; ScratchPool.shared.trim() }
        let sizes = (0..<6).map { 16 << 20 + $0 * 4096 }   // floats: 64 MB each, all different
        func step() -> Int {
            let before = MemoryAccountant.shared.bytesInUse
            let live = sizes.map { Tensor(shape: [$0], zeroed: false) }
            XCTAssertEqual(live.count, 6)
            return MemoryAccountant.shared.bytesInUse - before
        }
        _ = step()
        let fresh = ScratchPool.shared.freshAllocations
        let held = MemoryAccountant.shared.bytesInUse
        _ = step()
        XCTAssertEqual(ScratchPool.shared.freshAllocations, fresh, "the second step reuses every buffer of the first")
        XCTAssertEqual(MemoryAccountant.shared.bytesInUse, held, "and holds no more memory afterwards")
        XCTAssertGreaterThanOrEqual(ScratchPool.shared.idleBytes, sizes.reduce(0, +) * 4)
    }
}
