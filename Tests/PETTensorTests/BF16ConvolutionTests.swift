import CConvKernels
import XCTest
@testable import PETTensor

/// bf16 mixed precision (Conv3dBF16.swift) against the fp32 reference, with an element-wise bound
/// derived from the arithmetic (u = unit roundoff):
///   bf16 has an 8-bit significand, so round-to-nearest gives x̃ = x(1 + δ), |δ| ≤ u_bf16 = 2^-8;
///   a product of two rounded operands is x̃w̃ = xw(1 + η), |η| ≤ 2·2^-8 + 2^-16, and is exact in
///   fp32 (8 + 8 significand bits ≤ 24). Summing K such products in fp32, in any order, adds at most
///   γ_K·Σ|x̃||w̃|, γ_K = K·2^-24 / (1 − K·2^-24); the fp32 reference has its own γ_K·Σ|x||w|. So, with
///   A = Σ|x||w| the same convolution of the absolute values,
///     |y_bf16 − y_fp32| ≤ (2^-7 + 2^-16 + 2.01·γ_K)·A   (element-wise),
///   and against the fp32 reference on operands rounded beforehand (the same exact products)
///     |y_bf16 − y_fp32(x̃, w̃)| ≤ 2.01·γ_K·Ã.
/// Both are checked for every kernel (forward, input gradient, weight gradient, the transposed op)
/// on random odd shapes, for the tile path with each tile (vdpbf16ps where the CPU has it, the plain
/// C tile everywhere) and for the emulated path (rounded operands through im2col / reference).
final class BF16ConvolutionTests: XCTestCase {
    override func tearDown() { Conv3dBF16.forcedTile = nil; ConvPrecision.current = .fp32 }

    // MARK: rounding

    /// Nearest bf16 by search (the two bf16 neighbours of f, distance in Double, ties to the even
    /// one): an independent oracle of cck_to_bf16's bit trick.
    static func nearestBF16(_ f: Float) -> UInt16 {
        if f.isNaN { return 0x7fc0 }
        let u = f.bitPattern
        let lo = UInt16(u >> 16), hi = lo &+ 1
        // The infinity counts as 2^128 (the next bf16 binade's start), as IEEE overflow does.
        func value(_ b: UInt16) -> Double { b & 0x7fff == 0x7f80 ? (b & 0x8000 == 0 ? 0x1p128 : -0x1p128) : Double(Float(bitPattern: UInt32(b) << 16)) }
        if Float(bitPattern: UInt32(lo) << 16) == f { return lo }
        // |f| lies between lo and hi (same sign); hi may be the infinity.
        let dl = abs(Double(f) - value(lo)), dh = abs(value(hi) - Double(f))
        if dl < dh { return lo }
        if dh < dl { return hi }
        return lo & 1 == 0 ? lo : hi
    }

    func testRoundingIsNearestEvenLikePyTorch() {
        var rng = PETRandom(seed: 7)
        var values: [Float] = [0, -0, 1, -1, 1 + 0x1p-8, 1 + 0x1p-7 + 0x1p-8, 1 + 0x1p-8 + 0x1p-20, .infinity, -.infinity,
                               .greatestFiniteMagnitude, .leastNonzeroMagnitude, 0x1p-126, 3.140625, 65504]
        for _ in 0..<20000 {
            let e = Float(rng.int(below: 60)) - 30
            values.append(rng.uniform(-1, 1) * Float(pow(2.0, Double(e))))
            values.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())))
        }
        var out = [UInt16](repeating: 0, count: values.count)
        cck_to_bf16(values, &out, values.count)
        for (f, b) in zip(values, out) where !f.isNaN {
            XCTAssertEqual(b, Self.nearestBF16(f), "bf16 of \(f) (bits \(String(f.bitPattern, radix: 16)))")
        }
        // Ties: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7 and goes to the even 1; 1 + 3·2^-8 to 1 + 2^-6.
        XCTAssertEqual(out[4], 0x3f80)
        XCTAssertEqual(out[5], 0x3f82)
        XCTAssertEqual(out[7], 0x7f80)
        XCTAssertEqual(out[9], 0x7f80, "float max rounds to +inf (as torch.tensor(3.4028235e38).bfloat16())")
        var nan: [Float] = [.nan, -.nan, Float(bitPattern: 0x7f80_0001)]
        var nb = [UInt16](repeating: 0, count: 3)
        cck_to_bf16(nan, &nb, 3)
        for b in nb { XCTAssertTrue(Float(bitPattern: UInt32(b) << 16).isNaN, "NaN stays NaN") }
        cck_round_bf16(&nan, 3)
        XCTAssertTrue(nan.allSatisfy(\.isNaN))
        var r = values.filter { !$0.isNaN }
        cck_round_bf16(&r, r.count)
        for (a, f) in zip(r, values.filter { !$0.isNaN }) { XCTAssertEqual(a.bitPattern, UInt32(Self.nearestBF16(f)) << 16) }
    }

    // MARK: element-wise bound

    static func absolute(_ t: Tensor) -> Tensor {
        let a = Tensor(shape: t.shape)
        for i in 0..<t.count { a.data[i] = abs(t.data[i]) }
        return a
    }
    static func rounded(_ t: Tensor) -> Tensor {
        let a = Tensor(shape: t.shape)
        a.data.update(from: t.data, count: t.count)
        cck_round_bf16(a.data, t.count)
        return a
    }
    static func gamma(_ k: Int) -> Double { let ku = Double(k) * 0x1p-24; return ku / (1 - ku) }

    /// Largest |got − want| / bound over the elements (≤ 1 passes; +inf on a non-finite value).
    static func boundRatio(_ got: Tensor, _ want: Tensor, _ a: Tensor, relative: Double, gammaK: Double) -> Double {
        guard got.count == want.count else { return .infinity }
        var worst = 0.0
        for i in 0..<got.count {
            guard got.data[i].isFinite, want.data[i].isFinite else { return .infinity }
            let bound = (relative + 2.01 * gammaK) * Double(a.data[i]) + 1e-30
            worst = max(worst, abs(Double(got.data[i]) - Double(want.data[i])) / bound)
        }
        return worst
    }

    /// One kernel call in bf16 against fp32 on the same and on pre-rounded operands.
    static func check(_ name: String, k: Int, _ f: (Tensor, Tensor, ConvOptions) throws -> Tensor, _ p: Tensor, _ q: Tensor,
                      bf16: ConvOptions, file: StaticString, line: UInt) throws -> Double {
        let ref = ConvOptions(path: .reference, precision: .fp32)
        let got = try f(p, q, bf16)
        let exact = try f(p, q, ref)
        let a = try f(absolute(p), absolute(q), ref)
        let r = boundRatio(got, exact, a, relative: 0x1p-7 + 0x1p-16, gammaK: gamma(k))
        XCTAssertLessThanOrEqual(r, 1, "\(name): bf16 vs fp32 over the bound", file: file, line: line)
        let pr = rounded(p), qr = rounded(q)
        let onRounded = try f(pr, qr, ref)
        let ar = try f(absolute(pr), absolute(qr), ref)
        let rr = boundRatio(got, onRounded, ar, relative: 0, gammaK: gamma(k))
        XCTAssertLessThanOrEqual(rr, 1, "\(name): bf16 vs fp32 on rounded operands over 2γ_K·A", file: file, line: line)
        return Double(got.maxAbsDifference(to: exact))
    }

    /// Every kernel of conv3d and conv_transpose3d on `cases` in bf16 with `options`.
    static func compare(_ cases: [ConvolutionTests.Case], options: ConvOptions, file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = PETRandom(seed: 199)
        var moved = 0.0
        for c in cases {
            let x = Tensor.uniform([c.n, c.ci] + c.size, low: -1, high: 1, rng: &rng)
            let w = Tensor.uniform([c.co, c.ci] + c.params.kernel, low: -1, high: 1, rng: &rng)
            let kv = c.params.kernel.reduce(1, *)
            let y = try Conv3d.forward(x, weight: w, params: c.params, options: ConvOptions(path: .reference))
            let gy = Tensor.uniform(y.shape, low: -1, high: 1, rng: &rng)
            let outSpatial = y.shape[2...].reduce(1, *)
            moved = max(moved, try check("conv3d forward \(c)", k: c.ci * kv, { try Conv3d.forward($0, weight: $1, params: c.params, options: $2) }, x, w, bf16: options, file: file, line: line))
            moved = max(moved, try check("conv3d input gradient \(c)", k: c.co * kv, { try Conv3d.backwardInput($0, weight: $1, inputShape: x.shape, params: c.params, options: $2) }, gy, w, bf16: options, file: file, line: line))
            moved = max(moved, try check("conv3d weight gradient \(c)", k: c.n * outSpatial, { try Conv3d.backwardWeight($0, input: $1, params: c.params, options: $2) }, gy, x, bf16: options, file: file, line: line))
            // The transposed op with the same geometry (its forward is the adjoint kernel), with the
            // output padding that gives back x's size (as ConvolutionTests does).
            var tp = c.params
            for a in 0..<3 where tp.stride[a] > 1 { tp.outputPadding[a] = (c.size[a] + 2 * tp.padding[a] - tp.kernel[a]) % tp.stride[a] }
            let xt = Tensor.uniform(y.shape, low: -1, high: 1, rng: &rng)
            moved = max(moved, try check("conv_transpose3d forward \(c)", k: c.co * kv, { try ConvTranspose3d.forward($0, weight: $1, params: tp, options: $2) }, xt, w, bf16: options, file: file, line: line))
            let gyt = Tensor.uniform(x.shape, low: -1, high: 1, rng: &rng)
            moved = max(moved, try check("conv_transpose3d weight gradient \(c)", k: c.n * outSpatial, { try ConvTranspose3d.backwardWeight($0, input: $1, params: tp, options: $2) }, gyt, xt, bf16: options, file: file, line: line))
        }
        // The operands really were rounded: bf16 differs from fp32 somewhere.
        XCTAssertGreaterThan(moved, 0, "bf16 results differ from fp32", file: file, line: line)
    }

    static var allCases: [ConvolutionTests.Case] {
        ConvolutionTests.randomCases(count: 25, seed: 61) + ImplicitGEMMTests.wideCases(count: 10, seed: 62) + ImplicitGEMMTests.dcganLikeCases
            + [.init(n: 2, ci: 7, co: 9, size: [1, 12, 11], params: .twoD(k: 4, s: 2, p: 1))]
    }

    func runTiles(_ tile: BF16Tile) throws {
        guard tile.isSupported else { throw XCTSkip("this CPU has no AVX512_BF16 (the vdpbf16ps tile did not run)") }
        Conv3dBF16.forcedTile = tile
        let g = try ConvGeometry.conv(x: [1, 3, 5, 5, 5], w: [4, 3, 3, 3, 3], params: ConvParams(k: 3), op: "t")
        XCTAssertEqual(ConvDispatch.bf16Tile(for: g, role: .correlate, options: ConvOptions(precision: .bf16)), tile, "the tile path runs")
        try Self.compare(Self.allCases, options: ConvOptions(precision: .bf16))
    }

    func testVDPBF16PSTilesWithinBound() throws { try runTiles(.avx512bf16) }
    func testEmulatedTilesWithinBound() throws { try runTiles(.emulated) }

    func testEmulatedPathWithinBound() throws {
        // Rounded operands through fp32 kernels (what runs without AVX512_BF16 and on small layers).
        // (reference: on the small random shapes only, it is slow on the wide ones.)
        for (path, cases) in [(ConvPath.im2col, Self.allCases), (.reference, ConvolutionTests.randomCases(count: 25, seed: 61))] {
            let g = try ConvGeometry.conv(x: [1, 3, 5, 5, 5], w: [4, 3, 3, 3, 3], params: ConvParams(k: 3), op: "t")
            XCTAssertNil(ConvDispatch.bf16Tile(for: g, role: .correlate, options: ConvOptions(path: path, precision: .bf16)))
            try Self.compare(cases, options: ConvOptions(path: path, precision: .bf16))
        }
    }

    func testProcessPrecisionApplies() throws {
        // ConvPrecision.current (what --precision sets) reaches calls whose options leave it unset.
        var rng = PETRandom(seed: 3)
        let x = Tensor.uniform([1, 4, 5, 5, 5], low: -1, high: 1, rng: &rng), w = Tensor.uniform([3, 4, 3, 3, 3], low: -1, high: 1, rng: &rng)
        let p = ConvParams(k: 3)
        let fp32 = try Conv3d.forward(x, weight: w, params: p, options: ConvOptions(path: .im2col))
        ConvPrecision.current = .bf16
        let bf = try Conv3d.forward(x, weight: w, params: p, options: ConvOptions(path: .im2col))
        let explicit = try Conv3d.forward(x, weight: w, params: p, options: ConvOptions(path: .im2col, precision: .bf16))
        XCTAssertEqual(bf.maxAbsDifference(to: explicit), 0)
        XCTAssertGreaterThan(bf.maxAbsDifference(to: fp32), 0)
        let forcedFP32 = try Conv3d.forward(x, weight: w, params: p, options: ConvOptions(path: .im2col, precision: .fp32))
        XCTAssertEqual(forcedFP32.maxAbsDifference(to: fp32), 0)
    }

    // MARK: fast tile vs emulated tile

    /// vdpbf16ps and the plain C tile sum the same exact products; they may differ only in the fp32
    /// rounding of the sums (order within a pair, fused or not), so element-wise by 2.01·γ_K·Ã at
    /// most, Ã the sum of the absolute products (the tiles' own bound, both sides).
    func testFastTileMatchesEmulatedTile() throws {
        guard BF16Tile.avx512bf16.isSupported else { throw XCTSkip("this CPU has no AVX512_BF16 (the vdpbf16ps tile did not run)") }
        var rng = PETRandom(seed: 64)
        var bitwise = 0, total = 0
        for c in ImplicitGEMMTests.dcganLikeCases + ImplicitGEMMTests.wideCases(count: 6, seed: 65) {
            let x = Tensor.uniform([c.n, c.ci] + c.size, low: -1, high: 1, rng: &rng)
            let w = Tensor.uniform([c.co, c.ci] + c.params.kernel, low: -1, high: 1, rng: &rng)
            let kv = c.params.kernel.reduce(1, *)
            let o = ConvOptions(precision: .bf16)
            func run(_ t: BF16Tile) throws -> (Tensor, Tensor, Tensor) {
                Conv3dBF16.forcedTile = t
                let y = try Conv3d.forward(x, weight: w, params: c.params, options: o)
                let gy = Tensor.uniform(y.shape, low: -1, high: 1, rng: &rng)
                return (y, try Conv3d.backwardInput(gy, weight: w, inputShape: x.shape, params: c.params, options: o),
                        try Conv3d.backwardWeight(gy, input: x, params: c.params, options: o))
            }
            let saved = rng
            let fast = try run(.avx512bf16)
            rng = saved
            let emu = try run(.emulated)
            rng = saved
            let ref = ConvOptions(path: .reference, precision: .fp32)
            let y = try Conv3d.forward(x, weight: w, params: c.params, options: ref)
            let gy = Tensor.uniform(y.shape, low: -1, high: 1, rng: &rng)
            let ay = try Conv3d.forward(Self.absolute(Self.rounded(x)), weight: Self.absolute(Self.rounded(w)), params: c.params, options: ref)
            let ax = try Conv3d.backwardInput(Self.absolute(Self.rounded(gy)), weight: Self.absolute(Self.rounded(w)), inputShape: x.shape, params: c.params, options: ref)
            let aw = try Conv3d.backwardWeight(Self.absolute(Self.rounded(gy)), input: Self.absolute(Self.rounded(x)), params: c.params, options: ref)
            let outSpatial = y.shape[2...].reduce(1, *)
            XCTAssertLessThanOrEqual(Self.boundRatio(fast.0, emu.0, ay, relative: 0, gammaK: Self.gamma(c.ci * kv)), 1, "forward \(c)")
            XCTAssertLessThanOrEqual(Self.boundRatio(fast.1, emu.1, ax, relative: 0, gammaK: Self.gamma(c.co * kv)), 1, "input gradient \(c)")
            XCTAssertLessThanOrEqual(Self.boundRatio(fast.2, emu.2, aw, relative: 0, gammaK: Self.gamma(c.n * outSpatial)), 1, "weight gradient \(c)")
            for (a, b) in [(fast.0, emu.0), (fast.1, emu.1), (fast.2, emu.2)] { total += 1; if a.maxAbsDifference(to: b) == 0 { bitwise += 1 } }
        }
        print("bf16 tiles: vdpbf16ps bitwise equal to the plain C tile in \(bitwise) of \(total) kernel calls")
    }

    func testCostModelPicksTilesForBigLayersOnly() throws {
        guard Conv3dBF16.hasFastTile else { throw XCTSkip("this CPU has no AVX512_BF16: bf16 always runs emulated") }
        let o = ConvOptions(precision: .bf16)
        // D3 conv 128→256 (16³→8³, batch 4) runs the tiles in all three roles; G5 convT 64→1 (one output
        // channel of 64 per block) and D1 conv 1→64 (one input channel per pair) stay emulated where
        // the tiles would waste most of their lanes.
        let d3 = try ConvGeometry.conv(x: [4, 128, 16, 16, 16], w: [256, 128, 4, 4, 4], params: ConvParams(k: 4, s: 2, p: 1), op: "t")
        for role in [ConvDispatch.Role.correlate, .adjoint, .weight] { XCTAssertEqual(ConvDispatch.bf16Tile(for: d3, role: role, options: o), .avx512bf16, "D3 \(role)") }
        let g5 = try ConvGeometry.conv(x: [4, 1, 64, 64, 64], w: [64, 1, 4, 4, 4], params: ConvParams(k: 4, s: 2, p: 1), op: "t")
        XCTAssertNil(ConvDispatch.bf16Tile(for: g5, role: .adjoint, options: o), "G5 forward")
        let small = try ConvGeometry.conv(x: [1, 8, 6, 6, 6], w: [8, 8, 3, 3, 3], params: ConvParams(k: 3), op: "t")
        XCTAssertNil(ConvDispatch.bf16Tile(for: small, role: .correlate, options: o), "small calls")
        // Stride-1 k3 (K3, conv 32→32 on 64³): fp32 takes Winograd, which beats the tiles (Zen 4:
        // 195.4 ms f+b emulated against 269.4 on the tiles); bf16 stays on it, emulated, in every role.
        // (Before, the tiles' estimate was compared with Winograd's, which is in other units, and won.)
        let k3 = try ConvGeometry.conv(x: [1, 32, 64, 64, 64], w: [32, 32, 3, 3, 3], params: ConvParams(k: 3, s: 1, p: 1), op: "t")
        for role in [ConvDispatch.Role.correlate, .adjoint, .weight] {
            XCTAssertEqual(ConvDispatch.choose(k3, role: role, options: o), .winograd, "K3 \(role): fp32 path")
            XCTAssertNil(ConvDispatch.bf16Tile(for: k3, role: role, options: o), "K3 \(role)")
            XCTAssertEqual(ConvDispatch.bf16Route(for: k3, role: role, options: o), "bf16-emul(winograd)")
        }
    }

    func testTilesAreWeighedOnlyAgainstDirectGEMMPaths() {
        XCTAssertTrue(ConvDispatch.tilesCompete(with: .im2col))
        XCTAssertTrue(ConvDispatch.tilesCompete(with: .implicitGEMM))
        XCTAssertFalse(ConvDispatch.tilesCompete(with: .winograd))
        XCTAssertFalse(ConvDispatch.tilesCompete(with: .fft))
    }
}

/// Regression: the bf16 weight gradient reduces over pairs of output positions; with an odd output
/// width the last pair's partner position read x one stride past the row's last output (multiplied
/// by gy's zero pad), so a NaN or infinity in x where no output reads it — or in scratch the kernel
/// assumed zero — turned the whole weight gradient into NaN. Every path must ignore x it does not
/// read, as PyTorch does.
final class UnreadInputTests: XCTestCase {
    override func tearDown() { Conv3dBF16.forcedTile = nil; ScratchPool.poisonForTesting = false }

    /// Odd output widths whose last input columns (and rows, planes) no output reads.
    static let cases: [ConvolutionTests.Case] = [
        .init(n: 2, ci: 3, co: 5, size: [5, 6, 8], params: ConvParams(k: 3, s: 2)),                    // ow 3, x[..., 7] unread
        .init(n: 1, ci: 4, co: 70, size: [6, 7, 13], params: ConvParams(k: 4, s: 2)),                  // ow 5, x[..., 12] unread, two blocks
        .init(n: 2, ci: 9, co: 3, size: [5, 5, 9], params: ConvParams(kernel: [2, 3, 3], stride: [2, 1, 2])),  // ow 4 (even), plane 4 unread
        .init(n: 1, ci: 6, co: 8, size: [1, 9, 11], params: .twoD(k: 3, s: 3)),                        // ow 3 (s 3), x[..., 9...10] unread
        .init(n: 3, ci: 2, co: 66, size: [3, 4, 13], params: ConvParams(kernel: [1, 2, 3], stride: [1, 2, 4])), // ow 3, x[..., 11, 12] unread
    ]

    /// x with NaN (and ±inf) at every position no output reads, and the same x with zeros there.
    static func poisoned(_ c: ConvolutionTests.Case, rng: inout PETRandom) -> (Tensor, Tensor, Int) {
        let x = Tensor.uniform([c.n, c.ci] + c.size, low: -1, high: 1, rng: &rng)
        let clean = Tensor(shape: x.shape)
        clean.data.update(from: x.data, count: x.count)
        var read = [Int]()   // per axis: first input index no output reads
        for a in 0..<3 {
            let o = (c.size[a] + 2 * c.params.padding[a] - c.params.kernel[a]) / c.params.stride[a] + 1
            read.append((o - 1) * c.params.stride[a] + c.params.kernel[a] - c.params.padding[a])
        }
        let (d, h, w) = (c.size[0], c.size[1], c.size[2])
        var unread = 0
        for nc in 0..<(c.n * c.ci) { for z in 0..<d { for y in 0..<h { for e in 0..<w where z >= read[0] || y >= read[1] || e >= read[2] {
            let i = ((nc * d + z) * h + y) * w + e
            x.data[i] = [Float.nan, .infinity, -.infinity][unread % 3]
            clean.data[i] = 0
            unread += 1
        }}}}
        return (x, clean, unread)
    }

    func testWeightGradientIgnoresUnreadInputOnEveryPath() throws {
        var rng = PETRandom(seed: 404)
        var runs: [(String, ConvOptions, BF16Tile?)] = [("implicit-gemm fp32", ConvOptions(path: .implicitGEMM, precision: .fp32), nil),
                                                        ("im2col fp32", ConvOptions(path: .im2col, precision: .fp32), nil),
                                                        ("bf16 emulated path", ConvOptions(path: .im2col, precision: .bf16), nil),
                                                        ("bf16 plain C tile", ConvOptions(precision: .bf16), .emulated)]
        if BF16Tile.avx512bf16.isSupported { runs.append(("bf16 vdpbf16ps tile", ConvOptions(precision: .bf16), .avx512bf16)) }
        for c in Self.cases {
            let (x, clean, unread) = Self.poisoned(c, rng: &rng)
            XCTAssertGreaterThan(unread, 0, "\(c): the case has unread input")
            let y = try Conv3d.forward(clean, weight: Tensor(shape: [c.co, c.ci] + c.params.kernel), params: c.params, options: ConvOptions(path: .reference))
            let gy = Tensor.uniform(y.shape, low: -1, high: 1, rng: &rng)
            let kSum = c.n * y.shape[2...].reduce(1, *)
            let want = try Conv3d.backwardWeight(gy, input: clean, params: c.params, options: ConvOptions(path: .reference))
            let a = try Conv3d.backwardWeight(BF16ConvolutionTests.absolute(gy), input: BF16ConvolutionTests.absolute(clean), params: c.params,
                                              options: ConvOptions(path: .reference))
            let refOnPoisoned = try Conv3d.backwardWeight(gy, input: x, params: c.params, options: ConvOptions(path: .reference))
            XCTAssertEqual(refOnPoisoned.maxAbsDifference(to: want), 0, "\(c): the reference reads no unread input")
            for (name, options, tile) in runs {
                Conv3dBF16.forcedTile = tile
                // Scratch handed out NaN-filled: padding the kernel relies on must be written by it.
                ScratchPool.poisonForTesting = true
                let got = try Conv3d.backwardWeight(gy, input: x, params: c.params, options: options)
                // The transposed op's weight gradient is the same kernel with gy and x swapped.
                var tp = c.params
                for ax in 0..<3 where tp.stride[ax] > 1 { tp.outputPadding[ax] = (c.size[ax] + 2 * tp.padding[ax] - tp.kernel[ax]) % tp.stride[ax] }
                let gotT = try ConvTranspose3d.backwardWeight(x, input: gy, params: tp, options: options)
                ScratchPool.poisonForTesting = false
                Conv3dBF16.forcedTile = nil
                let relative = options.precision == .bf16 ? 0x1p-7 + 0x1p-16 : 0
                let r = BF16ConvolutionTests.boundRatio(got, want, a, relative: relative, gammaK: BF16ConvolutionTests.gamma(kSum))
                XCTAssertLessThanOrEqual(r, 1, "\(name) \(c): weight gradient with NaN/inf in unread x (ratio to the bound; inf = non-finite)")
                let rT = BF16ConvolutionTests.boundRatio(gotT, want, a, relative: relative, gammaK: BF16ConvolutionTests.gamma(kSum))
                XCTAssertLessThanOrEqual(rT, 1, "\(name) \(c): conv_transpose3d weight gradient with NaN/inf in unread gy")
            }
        }
    }

    func testPoisonedScratchIsNaN() {
        // The hook the test above relies on really fills what the pool hands out.
        ScratchPool.poisonForTesting = true
        let b = ScratchBuffer(count: 1000)
        ScratchPool.poisonForTesting = false
        XCTAssertTrue((0..<1000).allSatisfy { b.pointer[$0].isNaN })
    }
}
