import CConvKernels
import Foundation

// bf16 mixed precision for the three convolution kernels: both GEMM operands rounded to bf16 (round
// to nearest even, as PyTorch converts), products exact in fp32, sums accumulated in fp32, output
// fp32. Two ways to compute it:
//   tiles:     the implicit GEMM's structure (Conv3dImplicitGEMM.swift) with bf16 operands and
//              CConvKernels' 6×64 vdpbf16ps tile, which reduces over pairs of steps: channel pairs
//              (correlate, adjoint: channels-last, channel count padded to even) or pairs of output
//              positions (weight gradient: x split by W phase so a strided walk is contiguous).
//              Needs AVX512_BF16 (the C tile with the same sums runs everywhere, for tests).
//   emulated:  the operands rounded to bf16 but kept in fp32, then whichever fp32 path the dispatch
//              picks: exact bf16 inputs, fp32 arithmetic; what runs where the CPU lacks
//              AVX512_BF16 and for the shapes the tiles do not win (small, few channels).
// Everything outside the convolutions (norms, activations, losses, the gradient penalty, optimizer
// and master weights) stays fp32. Double backward needs nothing more: every gradient of a
// convolution is a convolution (PETAutograd/Ops/Convolution.swift) and takes the same precision.
//   x: (N, Ci, ID, IH, IW)   w: (Co, Ci, KD, KH, KW)   y: (N, Co, OD, OH, OW)

/// The arithmetic of convolution GEMMs.
public enum ConvPrecision: String, CaseIterable, Sendable, Codable {
    /// fp32 operands, fp32 accumulation.
    case fp32
    /// bf16 operands (round to nearest even), fp32 accumulation and output.
    case bf16

    /// The precision of every call whose options do not set one (`petgan --precision` sets it).
    nonisolated(unsafe) public static var current: ConvPrecision = .fp32
}

/// How bf16 tiles are computed.
public enum BF16Tile: String, CaseIterable, Sendable, Codable {
    /// vdpbf16ps (AVX512_BF16).
    case avx512bf16
    /// The same sums in plain C with fp32 multiply-adds (any CPU).
    case emulated

    public var isSupported: Bool { self == .emulated || cck_bf16_supported() != 0 }
    var fast: Int32 { self == .avx512bf16 ? 1 : 0 }
}

public enum Conv3dBF16 {
    /// Whether this CPU has vdpbf16ps.
    public static let hasFastTile = cck_bf16_supported() != 0

    /// Tests set this to run the bf16 tile path with a given tile on every call that does not force
    /// another path (nil: tiles only with AVX512_BF16, where the cost model picks them).
    nonisolated(unsafe) public static var forcedTile: BF16Tile?

    static let width = Int(CCK_BF16_WIDTH)
    static let tileRows = Int(CCK_ROWS)
    /// Weight-side bf16 elements per reduction chunk: 96k = 192 KB, as the fp32 tiles' chunk.
    static let chunkElements = 96 << 10

    /// bf16 scratch: a pooled (counted) fp32 buffer viewed as UInt16.
    final class Buffer {
        let scratch: ScratchBuffer
        let pointer: UnsafeMutablePointer<UInt16>
        init(count: Int, zeroed: Bool) {
            scratch = ScratchBuffer(count: (count + 1) / 2)
            pointer = UnsafeMutableRawPointer(scratch.pointer).bindMemory(to: UInt16.self, capacity: max(count, 1))
            if zeroed { pointer.update(repeating: 0, count: count) }
        }
    }

    // MARK: the emulated path's operand rounding

    /// A copy of `n` floats rounded to bf16 (kept as fp32).
    static func rounded(_ p: UnsafePointer<Float>, count n: Int) -> ScratchBuffer {
        let b = ScratchBuffer(count: n)
        KernelProfile.measure("bf16-round") {
            Parallel.forRanges(n, minChunk: 1 << 14) { r in
                (b.pointer + r.lowerBound).update(from: p + r.lowerBound, count: r.count)
                cck_round_bf16(b.pointer + r.lowerBound, r.count)
            }
        }
        return b
    }

    // MARK: the tile loop (as Conv3dImplicitGEMM.runTiles, bf16 operands, 64 channels per block)

    static func runTiles(_ tile: BF16Tile, rowCount: Int, rowOffset: (Int) -> Int, v: UnsafePointer<UInt16>,
                         voff: [Int], woff: [Int], npairs: Int, vps: Int, wps: Int,
                         w: UnsafePointer<UInt16>, wBlockStride: Int, blocks: Int,
                         out: UnsafeMutablePointer<Float>, ldo: Int, chunk: Int, oddTail: Bool = false) {
        let R = tileRows, nb = width
        let tail: Int32 = oddTail ? 1 : 0
        let tiles = (rowCount + R - 1) / R
        guard tiles > 0, blocks > 0 else { return }
        let nt = voff.count
        let groups = max(1, min(tiles, (8 * Parallel.threads + blocks - 1) / blocks))
        let per = (tiles + groups - 1) / groups
        let vo = voff + [0], wo = woff + [0]
        let fast = tile.fast
        vo.withUnsafeBufferPointer { vop in wo.withUnsafeBufferPointer { wop in
            Parallel.forEach(blocks * groups) { u in
                let cb = u / groups, gi = u % groups
                let t0 = gi * per, t1 = min(tiles, t0 + per)
                if t0 >= t1 { return }
                withUnsafeTemporaryAllocation(of: UnsafePointer<UInt16>?.self, capacity: R) { pp in
                    var s0 = 0
                    repeat {
                        let n = min(chunk, nt - s0)
                        for t in t0..<t1 {
                            let r0 = t * R, rows = min(R, rowCount - r0)
                            for j in 0..<R { pp[j] = v + rowOffset(r0 + min(j, rows - 1)) }
                            cck_tile_bf16(fast, UnsafePointer(pp.baseAddress!), n, vop.baseAddress! + s0, wop.baseAddress! + s0,
                                          npairs, vps, wps, w + cb * wBlockStride, out + r0 * ldo + cb * nb, ldo, Int32(rows), s0 > 0 ? 1 : 0, tail)
                        }
                        s0 += chunk
                    } while s0 < nt
                }
            }
        }}
    }

    static func packChannelsLast(_ src: UnsafePointer<Float>, n: Int, c: Int, d: Int, h: Int, w: Int,
                                 into dst: UnsafeMutablePointer<UInt16>, cp: Int, dp: Int, hp: Int, wp: Int, fd: Int, fh: Int, fw: Int) {
        KernelProfile.measure("bf16-pack") {
            Parallel.forRanges(n * d, minChunk: 1) { r in
                cck_pack_channels_last_bf16(src, c, d, h, w, r.lowerBound, r.upperBound, dst, cp, dp, hp, wp, fd, fh, fw)
            }
        }
    }

    static func packWeights(_ w: UnsafePointer<Float>, so: Int, si: Int, nout: Int, nin: Int, taps: [Int], blocks: Int,
                            into dst: UnsafeMutablePointer<UInt16>) {
        KernelProfile.measure("bf16-weights") {
            taps.withUnsafeBufferPointer { tp in
                Parallel.forRanges((nin + 1) / 2, minChunk: 2) { r in
                    cck_pack_weights_bf16(w, so, si, nout, nin, tp.baseAddress!, tp.count, width, blocks, r.lowerBound, r.upperBound, dst)
                }
            }
        }
    }

    // MARK: kernels (same contracts as ConvKernel's)

    public static func correlate(_ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, tile: BF16Tile) {
        let nb = width
        let blocks = (g.co + nb - 1) / nb, cop = blocks * nb, K = g.kernelVolume, ci = g.ci
        let cp = ci + ci % 2, npairs = cp / 2
        let dp = Conv3dImplicitGEMM.paddedExtent(input: g.id, output: g.od, k: g.kd, s: g.sd, p: g.pd)
        let hp = Conv3dImplicitGEMM.paddedExtent(input: g.ih, output: g.oh, k: g.kh, s: g.sh, p: g.ph)
        let wp = Conv3dImplicitGEMM.paddedExtent(input: g.iw, output: g.ow, k: g.kw, s: g.sw, p: g.pw)
        let xcl = Buffer(count: g.n * dp * hp * wp * cp, zeroed: true)
        packChannelsLast(x, n: g.n, c: ci, d: g.id, h: g.ih, w: g.iw, into: xcl.pointer, cp: cp, dp: dp, hp: hp, wp: wp, fd: g.pd, fh: g.ph, fw: g.pw)
        let pairStride = npairs * nb * 2
        let wpk = Buffer(count: blocks * K * pairStride, zeroed: false)
        packWeights(w, so: ci * K, si: K, nout: g.co, nin: ci, taps: Array(0..<K), blocks: blocks, into: wpk.pointer)
        var voff = [Int](), woff = [Int]()
        for a in 0..<g.kd { for b in 0..<g.kh { for e in 0..<g.kw {
            woff.append(voff.count * pairStride); voff.append(((a * hp + b) * wp + e) * cp)
        }}}
        let out = ScratchBuffer(count: g.n * g.outSpatial * cop)
        let (od, oh, ow) = (g.od, g.oh, g.ow), (sd, sh, sw) = (g.sd, g.sh, g.sw)
        KernelProfile.measure("bf16-tiles") {
            runTiles(tile, rowCount: g.n * g.outSpatial, rowOffset: { r in
                let x = r % ow, t = r / ow, yy = t % oh, t2 = t / oh, z = t2 % od, n = t2 / od
                return (((n * dp + z * sd) * hp + yy * sh) * wp + x * sw) * cp
            }, v: xcl.pointer, voff: voff, woff: woff, npairs: npairs, vps: 2, wps: 2 * nb, w: wpk.pointer,
                     wBlockStride: K * pairStride, blocks: blocks, out: out.pointer, ldo: cop, chunk: max(1, chunkElements / pairStride))
        }
        Conv3dImplicitGEMM.unpackChannelsLast(out.pointer, cp: cop, n: g.n, nd: od, nh: oh, nw: ow, into: y, c: g.co, d: od, h: oh, w: ow,
                                              origin: (0, 0, 0), stride: (1, 1, 1))
    }

    public static func correlateAdjoint(_ g: ConvGeometry, y: UnsafePointer<Float>, w: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>, tile: BF16Tile) {
        let nb = width
        let blocks = (g.ci + nb - 1) / nb, cip = blocks * nb, K = g.kernelVolume, co = g.co
        let cp = co + co % 2, npairs = cp / 2
        let (front, ext, maxPositions) = Conv3dImplicitGEMM.adjointLayout(g)
        let (yd, yh, yw) = (ext[0], ext[1], ext[2])
        let ycl = Buffer(count: g.n * yd * yh * yw * cp, zeroed: true)
        packChannelsLast(y, n: g.n, c: co, d: g.od, h: g.oh, w: g.ow, into: ycl.pointer, cp: cp, dp: yd, hp: yh, wp: yw,
                         fd: front[0], fh: front[1], fw: front[2])
        let out = ScratchBuffer(count: g.n * maxPositions * cip)
        let pairStride = npairs * nb * 2
        // Every phase's weights in one pass over w, as the fp32 adjoint does.
        let allTaps = Conv3dImplicitGEMM.adjointPhaseTaps(g).flatMap { $0 }
        let wpk = Buffer(count: max(1, blocks * allTaps.count * pairStride), zeroed: false)
        if !allTaps.isEmpty { packWeights(w, so: K, si: g.ci * K, nout: g.ci, nin: co, taps: allTaps, blocks: blocks, into: wpk.pointer) }
        for phase in Conv3dImplicitGEMM.adjointPhases(g) where phase.positions > 0 {
            let taps = phase.tapOffsets(g, front: front, yh: yh, yw: yw)
            let voff = taps.map { $0.voxel * cp }, woff = taps.indices.map { $0 * pairStride }
            let (cd, ch, cw) = (phase.a.count, phase.b.count, phase.e.count), (q0d, q0h, q0w) = (phase.a.q0, phase.b.q0, phase.e.q0)
            let wPhase = UnsafePointer(wpk.pointer + phase.tapStart * pairStride)
            KernelProfile.measure("bf16-tiles") {
                runTiles(tile, rowCount: g.n * cd * ch * cw, rowOffset: { r in
                    let qw = r % cw, t = r / cw, qh = t % ch, t2 = t / ch, qd = t2 % cd, n = t2 / cd
                    return (((n * yd + q0d + qd) * yh + q0h + qh) * yw + q0w + qw) * cp
                }, v: ycl.pointer, voff: voff, woff: woff, npairs: npairs, vps: 2, wps: 2 * nb, w: wPhase,
                         wBlockStride: allTaps.count * pairStride, blocks: blocks, out: out.pointer, ldo: cip, chunk: max(1, chunkElements / pairStride))
            }
            Conv3dImplicitGEMM.unpackChannelsLast(out.pointer, cp: cip, n: g.n, nd: cd, nh: ch, nw: cw, into: x, c: g.ci, d: g.id, h: g.ih, w: g.iw,
                                                  origin: phase.xOrigin(g), stride: (g.sd, g.sh, g.sw))
        }
    }

    public static func weightGradient(_ g: ConvGeometry, x: UnsafePointer<Float>, y: UnsafePointer<Float>, w: UnsafeMutablePointer<Float>, tile: BF16Tile) {
        let nb = width
        let blocks = (g.co + nb - 1) / nb, cop = blocks * nb, K = g.kernelVolume, ci = g.ci
        let dp = Conv3dImplicitGEMM.paddedExtent(input: g.id, output: g.od, k: g.kd, s: g.sd, p: g.pd)
        let hp = Conv3dImplicitGEMM.paddedExtent(input: g.ih, output: g.oh, k: g.kh, s: g.sh, p: g.ph)
        let sw = g.sw
        // Reduction = output positions of one row in pairs: x's padded rows split into sw phases of
        // wq elements (position x at tap e reads phase e mod sw, element x + e / sw). With an odd
        // width the last pair has one position: its partner would read x one stride past the row's
        // last position (real data of other taps, or x that no output reads, possibly NaN), so the
        // tile is told (oddTail) to drop that element instead of multiplying it by gy's zero pad.
        let wpairs = (g.ow + 1) / 2
        let wq = max(2 * wpairs + (g.kw - 1) / sw, (g.iw + g.pw - 1) / sw + 1)
        let rowLen = sw * wq, vol = dp * hp * rowLen
        let xph = Buffer(count: g.n * ci * vol, zeroed: true)
        let (id, ih, iw) = (g.id, g.ih, g.iw)
        KernelProfile.measure("bf16-pack") {
            Parallel.forRanges(g.n * ci * id, minChunk: 4) { r in
                cck_pack_phases_bf16(x, id, ih, iw, r.lowerBound, r.upperBound, xph.pointer, dp, hp, sw, wq, g.pd, g.ph, g.pw)
            }
        }
        let segment = wpairs * cop * 2
        let gyp = Buffer(count: g.n * g.od * g.oh * segment, zeroed: true)
        KernelProfile.measure("bf16-pack") {
            Parallel.forRanges(g.n * g.od, minChunk: 1) { r in
                cck_pack_position_pairs_bf16(y, g.co, g.od, g.oh, g.ow, r.lowerBound, r.upperBound, gyp.pointer, cop, wpairs)
            }
        }
        var voff = [Int](), woff = [Int]()
        for n in 0..<g.n { for z in 0..<g.od { for yy in 0..<g.oh {
            voff.append(n * ci * vol + (z * g.sd * hp + yy * g.sh) * rowLen)
            woff.append(((n * g.od + z) * g.oh + yy) * segment)
        }}}
        let R = ci * K
        let out = ScratchBuffer(count: R * cop)
        let (kd, kh, kw) = (g.kd, g.kh, g.kw)
        KernelProfile.measure("bf16-tiles") {
            runTiles(tile, rowCount: R, rowOffset: { r in
                let e = r % kw, t = r / kw, b = t % kh, t2 = t / kh, a = t2 % kd, c = t2 / kd
                return c * vol + (a * hp + b) * rowLen + (e % sw) * wq + e / sw
            }, v: xph.pointer, voff: voff, woff: woff, npairs: wpairs, vps: 2, wps: cop * 2, w: gyp.pointer,
                     wBlockStride: nb * 2, blocks: blocks, out: out.pointer, ldo: cop, chunk: max(1, chunkElements / (wpairs * nb * 2)),
                     oddTail: g.ow % 2 == 1)
        }
        let o = UnsafePointer(out.pointer)
        KernelProfile.measure("bf16-unpack") {
            Parallel.forRanges(g.co, minChunk: 1) { r in cck_transpose(o, R, cop, r.lowerBound, r.upperBound, w, R) }
        }
    }

    // MARK: cost model

    /// The tiles' time: as Conv3dImplicitGEMM's model at the vdpbf16ps tile's rate (measured with
    /// `petgan bench peak`'s micro-kernel row on the reference machine, 2 threads), reductions in
    /// pairs, plus the packing traffic (bf16 halves the packed bytes).
    static func estimatedSeconds(_ g: ConvGeometry, role: ConvDispatch.Role) -> Double {
        let rate = 700e9, nb = Double(width)
        let outChannels: Int, steps: Int
        switch role {
        case .correlate: outChannels = g.co; steps = (g.ci + 1) / 2 * 2
        case .adjoint: outChannels = g.ci; steps = (g.co + 1) / 2 * 2
        case .weight: outChannels = g.co; steps = (g.ow + 1) / 2 * 2
        }
        let reductionLength: Int
        switch role {
        case .correlate: reductionLength = g.ci
        case .adjoint: reductionLength = g.co
        case .weight: reductionLength = g.ow
        }
        let pairUse = Double(reductionLength) / Double(steps)
        let blockUse = Double(outChannels) / (nb * (Double(outChannels) / nb).rounded(.up))
        let loopUse = Double(steps / 2) / Double(steps / 2 + 2)
        let moved = g.n * (g.ci * g.inSpatial + g.co * g.outSpatial)
        let weights = Double(g.co * g.ci * g.kernelVolume) * 1e-9
        return 2.0 * Double(g.macs) / (rate * blockUse * loopUse * pairUse) + Double(moved) * 10.0 / 10e9 + weights
    }

    // MARK: micro-kernel alone

    /// GF/s of the bf16 tile alone on `Parallel.threads` workers, operands resident in L1 (64 pair
    /// steps of 6 rows × 64 channels, repeated): the ceiling of the bf16 tile loop.
    public static func microKernelGflops(_ tile: BF16Tile, secondsPerRun: Double = 0.2, reps: Int = 3) -> Double? {
        guard tile.isSupported else { return nil }
        let nb = width, npairs = 64, nt = 8, R = tileRows
        let workers = Parallel.threads
        let flopsPerCall = 2.0 * Double(R * nb * 2 * npairs * nt)
        let per = R * npairs * 2 + npairs * nb * 2
        let buf = Buffer(count: workers * per, zeroed: false)
        for i in 0..<(workers * per) { buf.pointer[i] = 0x3c00 + UInt16(i % 7) }   // bf16 near 2^-7
        let outs = ScratchBuffer(count: workers * R * nb)
        let zeros = [Int](repeating: 0, count: nt)
        let fast = tile.fast
        func seconds(_ calls: Int) -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            zeros.withUnsafeBufferPointer { z in
                Parallel.forEach(workers) { wk in
                    let base = buf.pointer + wk * per
                    withUnsafeTemporaryAllocation(of: UnsafePointer<UInt16>?.self, capacity: R) { pp in
                        for j in 0..<R { pp[j] = UnsafePointer(base + j * npairs * 2) }
                        let wts = UnsafePointer(base + R * npairs * 2), out = outs.pointer + wk * R * nb
                        for _ in 0..<calls {
                            cck_tile_bf16(fast, UnsafePointer(pp.baseAddress!), nt, z.baseAddress!, z.baseAddress!, npairs, 2, nb * 2, wts, out, nb, Int32(R), 0, 0)
                        }
                    }
                }
            }
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
        var calls = 64
        while true {
            let t = seconds(calls)
            if t >= secondsPerRun { break }
            calls = t < secondsPerRun / 16 ? calls * 16 : Int(Double(calls) * secondsPerRun / max(t, 1e-9) * 1.1) + 1
        }
        var samples = (0..<max(1, reps)).map { _ in Double(workers) * Double(calls) * flopsPerCall / seconds(calls) / 1e9 }
        samples.sort()
        return samples[samples.count / 2]
    }
}

// MARK: dispatch by precision

extension ConvDispatch {
    /// The precision a call with these options computes in.
    public static func precision(_ options: ConvOptions) -> ConvPrecision { options.precision ?? ConvPrecision.current }

    /// The bf16 tile a bf16 call runs, or nil when it runs emulated (rounded operands, fp32 path).
    public static func bf16Tile(for g: ConvGeometry, role: Role, options: ConvOptions) -> BF16Tile? {
        let forcedPath = options.path ?? ConvOptions.environmentPath
        if let t = Conv3dBF16.forcedTile { return forcedPath == nil || forcedPath == .implicitGEMM ? t : nil }
        guard Conv3dBF16.hasFastTile else { return nil }
        if let p = forcedPath { return p == .implicitGEMM ? .avx512bf16 : nil }
        let fp32 = choose(g, role: role, options: options)
        guard tilesCompete(with: fp32), g.macs >= Conv3dImplicitGEMM.minimumAutomaticMACs,
              Conv3dBF16.estimatedSeconds(g, role: role) < estimatedSeconds(fp32, g, role: role) else { return nil }
        return .avx512bf16
    }

    /// Whether the bf16 tiles are weighed against the fp32 path the dispatch chose. Not against
    /// Winograd or FFT: those do 3.4× (F(2,3)³) or more fewer multiplies than a direct GEMM, more
    /// than the tile's 2× rate over fp32 gives back, and their estimates are not in the tile model's
    /// seconds. Measured on Zen 4 (AMD EPYC family 25 model 17, 2 threads): K3 f+b 269.4 ms on the
    /// tiles against 195.4 emulated Winograd (K5 964.4 against 788.1 emulated FFT, but there fp32
    /// itself takes implicit GEMM: the cost model's K5 mispick, docs/training.md).
    static func tilesCompete(with fp32: ConvPath) -> Bool {
        switch fp32 {
        case .im2col, .implicitGEMM: return true
        case .winograd, .fft, .reference: return false
        }
    }

    /// The cost model's estimate for one path (nil-free: reference is never chosen automatically).
    static func estimatedSeconds(_ p: ConvPath, _ g: ConvGeometry, role: Role, machine: ConvMachine = .current) -> Double {
        switch p {
        case .fft: return Conv3dFFT.estimatedSeconds(g, role: role)
        case .winograd: return Conv3dWinograd.estimatedSeconds(g, role: role)
        case .implicitGEMM: return Conv3dImplicitGEMM.estimatedSeconds(g, role: role, isa: machine.isa)
        case .im2col, .reference: return Conv3dIm2col.estimatedSeconds(g, role: role, machine: machine)
        }
    }

    /// y = C(x, w) in the call's precision.
    static func correlate(_ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, options: ConvOptions) {
        guard precision(options) == .bf16 else {
            return ConvTimers.time(.fp32) { kernel(for: g, role: .correlate, options: options).correlate(g, x: x, w: w, y: y, options: options) }
        }
        if let t = bf16Tile(for: g, role: .correlate, options: options) { return ConvTimers.time(.bf16Tiles) { Conv3dBF16.correlate(g, x: x, w: w, y: y, tile: t) } }
        ConvTimers.time(.bf16Emulated) {
            let xr = Conv3dBF16.rounded(x, count: g.n * g.ci * g.inSpatial), wr = Conv3dBF16.rounded(w, count: g.co * g.ci * g.kernelVolume)
            kernel(for: g, role: .correlate, options: options).correlate(g, x: xr.pointer, w: wr.pointer, y: y, options: options)
        }
    }

    /// x = Cᵀ(y, w) in the call's precision.
    static func correlateAdjoint(_ g: ConvGeometry, y: UnsafePointer<Float>, w: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>, options: ConvOptions) {
        guard precision(options) == .bf16 else {
            return ConvTimers.time(.fp32) { kernel(for: g, role: .adjoint, options: options).correlateAdjoint(g, y: y, w: w, x: x, options: options) }
        }
        if let t = bf16Tile(for: g, role: .adjoint, options: options) { return ConvTimers.time(.bf16Tiles) { Conv3dBF16.correlateAdjoint(g, y: y, w: w, x: x, tile: t) } }
        ConvTimers.time(.bf16Emulated) {
            let yr = Conv3dBF16.rounded(y, count: g.n * g.co * g.outSpatial), wr = Conv3dBF16.rounded(w, count: g.co * g.ci * g.kernelVolume)
            kernel(for: g, role: .adjoint, options: options).correlateAdjoint(g, y: yr.pointer, w: wr.pointer, x: x, options: options)
        }
    }

    /// w = W(y, x) in the call's precision.
    static func weightGradient(_ g: ConvGeometry, x: UnsafePointer<Float>, y: UnsafePointer<Float>, w: UnsafeMutablePointer<Float>, options: ConvOptions) {
        guard precision(options) == .bf16 else {
            return ConvTimers.time(.fp32) { kernel(for: g, role: .weight, options: options).weightGradient(g, x: x, y: y, w: w, options: options) }
        }
        if let t = bf16Tile(for: g, role: .weight, options: options) { return ConvTimers.time(.bf16Tiles) { Conv3dBF16.weightGradient(g, x: x, y: y, w: w, tile: t) } }
        ConvTimers.time(.bf16Emulated) {
            let xr = Conv3dBF16.rounded(x, count: g.n * g.ci * g.inSpatial), yr = Conv3dBF16.rounded(y, count: g.n * g.co * g.outSpatial)
            kernel(for: g, role: .weight, options: options).weightGradient(g, x: xr.pointer, y: yr.pointer, w: w, options: options)
        }
    }

    /// How a bf16 call of this shape runs: "bf16 tiles" or "bf16 emulated on <path>".
    public static func bf16Route(for g: ConvGeometry, role: Role, options: ConvOptions) -> String {
        if bf16Tile(for: g, role: role, options: options) != nil { return "bf16-tiles" }
        return "bf16-emul(" + choose(g, role: role, options: options).rawValue + ")"
    }
}

/// Wall time of convolution calls by how they computed (one lock per call, not per tile): what
/// `bench train` splits a step into (bf16 tiles vs everything that stays fp32).
public enum ConvTimers {
    public enum Route: Int, CaseIterable, Sendable { case fp32, bf16Tiles, bf16Emulated }
    nonisolated(unsafe) private static var seconds = [Double](repeating: 0, count: Route.allCases.count)
    private static let lock = NSLock()

    public static func reset() { lock.lock(); seconds = seconds.map { _ in 0 }; lock.unlock() }
    /// Seconds per route since the last reset.
    public static func snapshot() -> [Route: Double] {
        lock.lock(); defer { lock.unlock() }
        return Dictionary(uniqueKeysWithValues: Route.allCases.map { ($0, seconds[$0.rawValue]) })
    }

    static func time(_ route: Route, _ body: () -> Void) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        lock.lock(); seconds[route.rawValue] += dt; lock.unlock()
    }
}
