import XCTest
@testable import PETTensor

/// The implicit-GEMM path against the reference, once per micro-kernel (AVX-512, AVX2+FMA, plain C):
/// the same random odd shapes and the same 1e-4 relative tolerance as im2col (both sum the same
/// products in fp32, only in another order), plus cases wide enough to cross channel blocks and
/// tile rows, and the DCGAN k4 s2 p1 layers at reduced size. A kernel the CPU lacks is reported as
/// skipped, never as a pass.
final class ImplicitGEMMTests: XCTestCase {
    /// Random cases with more channels than ConvolutionTests' (1–4): up to 2 AVX-512 channel blocks
    /// and enough reduction steps that chunking and the block tails both run.
    static func wideCases(count: Int, seed: UInt64) -> [ConvolutionTests.Case] {
        var rng = PETRandom(seed: seed)
        var cases: [ConvolutionTests.Case] = []
        while cases.count < count {
            let n = 1 + rng.int(below: 3)
            let ci = 1 + rng.int(below: 40), co = 1 + rng.int(below: 80)
            var k = [Int](), s = [Int](), p = [Int](), size = [Int]()
            for _ in 0..<3 {
                let kk = 1 + rng.int(below: 4), pp = rng.int(below: 3), ss = 1 + rng.int(below: 2)
                let lo = max(1, kk - 2 * pp)
                k.append(kk); s.append(ss); p.append(pp); size.append(lo + rng.int(below: max(1, 9 - lo)))
            }
            cases.append(.init(n: n, ci: ci, co: co, size: size, params: ConvParams(kernel: k, stride: s, padding: p)))
        }
        return cases
    }

    /// The DCGAN's strided layers (k4 s2 p1) with fewer channels and a smaller volume, plus a
    /// channel count that is a whole number of blocks (the layers' own case).
    static let dcganLikeCases: [ConvolutionTests.Case] = [
        .init(n: 2, ci: 16, co: 64, size: [8, 8, 8], params: ConvParams(k: 4, s: 2, p: 1)),
        .init(n: 3, ci: 33, co: 17, size: [9, 7, 10], params: ConvParams(k: 4, s: 2, p: 1)),
        .init(n: 1, ci: 64, co: 128, size: [4, 4, 4], params: ConvParams(k: 4, s: 2, p: 1)),
        .init(n: 2, ci: 5, co: 70, size: [11, 5, 6], params: ConvParams(kernel: [4, 3, 1], stride: [2, 1, 2], padding: [1, 1, 0])),
    ]

    func run(_ isa: ConvISA) throws {
        guard isa.isSupported else { throw XCTSkip("this CPU has no \(isa.rawValue) (the \(isa.rawValue) kernel did not run)") }
        let saved = Conv3dImplicitGEMM.isa
        Conv3dImplicitGEMM.isa = isa
        defer { Conv3dImplicitGEMM.isa = saved }
        // This tile on every call, thin ones too.
        let narrow = Conv3dImplicitGEMM.narrowOutputsOnAVX2
        Conv3dImplicitGEMM.narrowOutputsOnAVX2 = false
        defer { Conv3dImplicitGEMM.narrowOutputsOnAVX2 = narrow }
        print("implicit-GEMM tests: running the \(isa.rawValue) micro-kernel (\(isa.blockWidth) channels per tile)")
        // ConvolutionTests' cases have 1–4 channels: with the thin kernel (the default) and without
        // it, so the tiles run on thin calls too.
        try ConvolutionTests.compare(path: .implicitGEMM, cases: ConvolutionTests.randomCases(count: 40, seed: 51))
        let thin = Conv3dImplicitGEMM.thinOutputLimit
        Conv3dImplicitGEMM.thinOutputLimit = 0
        defer { Conv3dImplicitGEMM.thinOutputLimit = thin }
        try ConvolutionTests.compare(path: .implicitGEMM, cases: ConvolutionTests.randomCases(count: 40, seed: 51))
        Conv3dImplicitGEMM.thinOutputLimit = thin
        try ConvolutionTests.compare(path: .implicitGEMM, cases: Self.wideCases(count: 12, seed: 52))
        try ConvolutionTests.compare(path: .implicitGEMM, cases: Self.dcganLikeCases)
        // 2D (depth 1) convolutions too.
        try ConvolutionTests.compare(path: .implicitGEMM, cases: [.init(n: 2, ci: 7, co: 9, size: [1, 12, 11], params: .twoD(k: 4, s: 2, p: 1)),
                                                                .init(n: 1, ci: 3, co: 20, size: [1, 9, 9], params: .twoD(k: 3, p: 1))])
    }

    func testAVX512KernelMatchesReference() throws { try run(.avx512) }
    func testAVX2KernelMatchesReference() throws { try run(.avx2) }
    func testPlainCKernelMatchesReference() throws { try run(.scalar) }

    /// With the AVX-512 tile selected, calls with ≤ 16 output channels run the AVX2 tile (by
    /// channel count only), others the AVX-512 one: the result of a thin call is bitwise the AVX2
    /// tile's, of a wide call the AVX-512 tile's.
    func testNarrowOutputsRunTheAVX2Tile() throws {
        guard ConvISA.avx512.isSupported else {
            // Without AVX-512 the rule has nothing to change: every call runs the selected tile.
            for c in [1, 16, 64] { XCTAssertEqual(Conv3dImplicitGEMM.tileISA(outputChannels: c), Conv3dImplicitGEMM.isa) }
            return
        }
        let savedISA = Conv3dImplicitGEMM.isa, savedNarrow = Conv3dImplicitGEMM.narrowOutputsOnAVX2
        defer { Conv3dImplicitGEMM.isa = savedISA; Conv3dImplicitGEMM.narrowOutputsOnAVX2 = savedNarrow }
        Conv3dImplicitGEMM.isa = .avx512
        Conv3dImplicitGEMM.narrowOutputsOnAVX2 = false
        XCTAssertEqual(Conv3dImplicitGEMM.tileISA(outputChannels: 1), .avx512, "off: every call on the selected tile")
        Conv3dImplicitGEMM.narrowOutputsOnAVX2 = true
        XCTAssertEqual(Conv3dImplicitGEMM.tileISA(outputChannels: 1), .avx2)
        XCTAssertEqual(Conv3dImplicitGEMM.tileISA(outputChannels: 16), .avx2)
        XCTAssertEqual(Conv3dImplicitGEMM.tileISA(outputChannels: 17), .avx512)
        var rng = PETRandom(seed: 5)
        for co in [1, 16, 40] {
            let x = Tensor.normal([2, 8, 7, 9, 6], rng: &rng), w = Tensor.normal([co, 8, 3, 3, 3], rng: &rng)
            let g = try ConvGeometry.conv(x: x.shape, w: w.shape, params: ConvParams(k: 3, p: 1), op: "t")
            func run(_ isa: ConvISA, narrow: Bool) -> Tensor {
                Conv3dImplicitGEMM.isa = isa; Conv3dImplicitGEMM.narrowOutputsOnAVX2 = narrow
                let y = Tensor(shape: g.yShape)
                Conv3dImplicitGEMM.correlate(g, x: x.data, w: w.data, y: y.data, options: .automatic)
                return y
            }
            let auto = run(.avx512, narrow: true)
            let expected = run(co <= 16 ? .avx2 : .avx512, narrow: false)
            XCTAssertTrue(auto.bitwiseEqual(expected), "\(co) output channels")
            let ref = Tensor(shape: g.yShape)
            Conv3dReference.correlate(g, x: x.data, w: w.data, y: ref.data, options: .automatic)
            XCTAssertLessThanOrEqual(auto.maxAbsDifference(to: ref), 1e-4, "\(co) output channels against the reference")
        }
    }

    /// The thin kernel (≤ 4 output channels, or input channels for the adjoint) against the
    /// reference on calls with many rows: several 256-row batches, a short last group of rows, row
    /// ranges split over threads, reductions of every length class (≥ 16, 8–15, < 8 channels:
    /// both vector loops and the scalar tail), strides and padding, all gradients. And a row's sum
    /// does not depend on the call's extent: a volume's first depth slices computed alone are bitwise
    /// the same slices of the whole volume's result.
    func testThinOutputKernelMatchesReference() throws {
        let cases: [ConvolutionTests.Case] = [
            .init(n: 2, ci: 37, co: 1, size: [13, 11, 9], params: ConvParams(k: 3, p: 1)),
            .init(n: 1, ci: 9, co: 3, size: [15, 9, 12], params: ConvParams(kernel: [3, 2, 4], stride: [1, 2, 2], padding: [1, 0, 2])),
            .init(n: 3, ci: 5, co: 4, size: [8, 10, 7], params: ConvParams(k: 4, s: 2, p: 1)),
            .init(n: 1, ci: 1, co: 2, size: [21, 17, 19], params: ConvParams(k: 3, p: 1)),
            .init(n: 2, ci: 4, co: 64, size: [9, 9, 9], params: ConvParams(k: 4, s: 2, p: 1)),
            .init(n: 1, ci: 2, co: 19, size: [10, 12, 11], params: ConvParams(k: 3, p: 0)),
        ]
        for isa in ConvISA.allCases where isa.isSupported {
            let saved = Conv3dImplicitGEMM.isa
            Conv3dImplicitGEMM.isa = isa
            defer { Conv3dImplicitGEMM.isa = saved }
            XCTAssertTrue(Conv3dImplicitGEMM.runsThin(outputChannels: 4))
            XCTAssertFalse(Conv3dImplicitGEMM.runsThin(outputChannels: 5))
            try ConvolutionTests.compare(path: .implicitGEMM, cases: cases)

            var rng = PETRandom(seed: 17)
            let x = Tensor.normal([1, 23, 14, 9, 10], rng: &rng), w = Tensor.normal([1, 23, 3, 3, 3], rng: &rng)
            let whole = try ConvGeometry.conv(x: x.shape, w: w.shape, params: ConvParams(k: 3), op: "t")
            let y = Tensor(shape: whole.yShape)
            Conv3dImplicitGEMM.correlate(whole, x: x.data, w: w.data, y: y.data, options: .automatic)
            // The first 5 output slices need input slices 0..<7.
            let part = try ConvGeometry.conv(x: [1, 23, 7, 9, 10], w: w.shape, params: ConvParams(k: 3), op: "t")
            let xs = Tensor(shape: [1, 23, 7, 9, 10])
            for c in 0..<23 { (xs.data + c * 7 * 90).update(from: x.data + c * 14 * 90, count: 7 * 90) }
            let ys = Tensor(shape: part.yShape)
            Conv3dImplicitGEMM.correlate(part, x: xs.data, w: w.data, y: ys.data, options: .automatic)
            let n = ys.count
            XCTAssertEqual(n, 5 * 7 * 8)
            var same = true
            for i in 0..<n where ys.data[i].bitPattern != y.data[i].bitPattern || ys.data[i].isNaN { same = false }
            XCTAssertTrue(same, "\(isa.rawValue): the first slices alone differ from the whole volume's")
        }
    }

    /// The channels-last copy (8×8 register transposes where 8 channels and 8 positions are whole,
    /// plain copies for the rest) puts every element where the layout says and zeros the padding:
    /// 19 channels (8 + 8 + 3) and a width of 21 (16 + 5), two samples, front padding on every axis.
    func testChannelsLastCopyIsExact() {
        var rng = PETRandom(seed: 23)
        let (n, c, d, h, w) = (2, 19, 3, 4, 21), (dp, hp, wp) = (5, 6, 24), (fd, fh, fw) = (1, 2, 3)
        let x = Tensor.normal([n, c, d, h, w], rng: &rng)
        let dst = UnsafeMutablePointer<Float>.allocate(capacity: n * dp * hp * wp * c)
        defer { dst.deallocate() }
        dst.update(repeating: .nan, count: n * dp * hp * wp * c)
        Conv3dImplicitGEMM.packChannelsLast(x.data, n: n, c: c, d: d, h: h, w: w, into: dst, cp: c, dp: dp, hp: hp, wp: wp, fd: fd, fh: fh, fw: fw)
        var wrong = 0
        for s in 0..<n { for z in 0..<dp { for y in 0..<hp { for xx in 0..<wp { for ch in 0..<c {
            let got = dst[(((s * dp + z) * hp + y) * wp + xx) * c + ch]
            let (sz, sy, sx) = (z - fd, y - fh, xx - fw)
            let inside = sz >= 0 && sz < d && sy >= 0 && sy < h && sx >= 0 && sx < w
            let want: Float = inside ? x.data[(((s * c + ch) * d + sz) * h + sy) * w + sx] : 0
            if got.bitPattern != want.bitPattern { wrong += 1 }
        }}}}}
        XCTAssertEqual(wrong, 0, "elements out of place")
    }

    func testISAsAndBlockWidths() {
        XCTAssertTrue(ConvISA.scalar.isSupported)
        XCTAssertEqual(ConvISA.avx512.blockWidth, 64)
        XCTAssertEqual(ConvISA.avx2.blockWidth, 16)
        XCTAssertTrue(ConvISA.best.isSupported)
        print("implicit-GEMM ISAs on this CPU: " + ConvISA.allCases.map { "\($0.rawValue) \($0.isSupported ? "yes" : "no")" }.joined(separator: ", ") + "; best \(ConvISA.best.rawValue)")
    }

    /// The automatic choice takes implicit GEMM for the DCGAN's big strided layers and keeps im2col
    /// for single-channel ones (where a 64-channel tile would be almost all padding).
    func testCostModelChoices() throws {
        guard ConvISA.best != .scalar, Conv3dImplicitGEMM.isa != .scalar else { throw XCTSkip("no vector kernel on this CPU: the cost model keeps im2col") }
        let d2 = try ConvGeometry.conv(x: [4, 64, 32, 32, 32], w: [128, 64, 4, 4, 4], params: ConvParams(k: 4, s: 2, p: 1), op: "t")
        for role in [ConvDispatch.Role.correlate, .adjoint, .weight] {
            XCTAssertEqual(ConvDispatch.choose(d2, role: role, options: .automatic), .implicitGEMM, "D2 \(role)")
        }
        let d1 = try ConvGeometry.conv(x: [4, 1, 64, 64, 64], w: [64, 1, 4, 4, 4], params: ConvParams(k: 4, s: 2, p: 1), op: "t")
        XCTAssertEqual(ConvDispatch.choose(d1, role: .adjoint, options: .automatic), .im2col, "D1 adjoint (1 output channel)")
        // With the AVX2 tile the 8³→4³ layer's forward (measured 39 ms against im2col's 25) stays on im2col.
        let saved = Conv3dImplicitGEMM.isa
        Conv3dImplicitGEMM.isa = .avx2
        defer { Conv3dImplicitGEMM.isa = saved }
        let d4 = try ConvGeometry.conv(x: [4, 256, 8, 8, 8], w: [512, 256, 4, 4, 4], params: ConvParams(k: 4, s: 2, p: 1), op: "t")
        XCTAssertEqual(Conv3dImplicitGEMM.estimatedSeconds(d4, role: .correlate) > Conv3dIm2col.estimatedSeconds(d4, role: .correlate), true, "D4 forward, avx2")
    }
}
