import CConvKernels
import Foundation

// Implicit GEMM: every kernel is a GEMM whose input-side operand is read straight from a zero-padded
// copy of the input, through one base pointer per output row, by CConvKernels' register-blocked
// tile (CCK_ROWS rows × one block of output channels, all accumulators in registers). No column
// matrix is built, and nothing is packed on the input side but one layout change of the input.
//   correlate:  rows = output positions, reduction = (tap, ci) over a channels-last padded x; the
//               stride goes into the row base pointers, so a k4 s2 layer does no wasted work.
//   adjoint:    split by output phase (i + p) mod s per axis; each phase is a stride-1 correlation of
//               a channels-last padded y with that phase's taps (2×2×2 for k4 s2), reduction (tap, co).
//   weight:     rows = (ci, tap), reduction = output positions row by row over a padded x (NCDHW),
//               the weight-side vectors are channels-last gy.
// Double backward needs nothing more: the gradients of these ops are again these ops (Convolution.swift).
//   x: (N, Ci, ID, IH, IW)   w: (Co, Ci, KD, KH, KW)   y: (N, Co, OD, OH, OW)

/// The micro-kernel an implicit-GEMM call runs.
public enum ConvISA: String, CaseIterable, Sendable, Codable {
    case avx512, avx2, scalar

    var c: cck_isa {
        switch self {
        case .avx512: return CCK_AVX512
        case .avx2: return CCK_AVX2
        case .scalar: return CCK_SCALAR
        }
    }
    /// Whether this CPU runs it (the plain C one runs everywhere).
    public var isSupported: Bool { cck_supported(c) != 0 }
    /// Output channels per tile (the kernel's vector width times its vectors per row).
    public var blockWidth: Int { Int(cck_block_width(c)) }
    /// The fastest one this CPU runs.
    public static var best: ConvISA { [ConvISA.avx512, .avx2].first { $0.isSupported } ?? .scalar }
}

public enum Conv3dImplicitGEMM: ConvKernel {
    /// The ISA every call uses: PETGAN_CONV_ISA=avx512|avx2|scalar when this CPU has it, else the
    /// best it has. Tests set it to run each kernel.
    nonisolated(unsafe) public static var isa: ConvISA = environmentISA ?? .best

    /// Calls with at most 16 output channels (the AVX2 tile's block) run the AVX2 tile when `isa` is
    /// AVX-512: its 64-channel block would compute mostly padding there (a network's 1-channel output
    /// layer: 63 of 64 lanes). Chosen by channel counts alone, never by extent, so the tiled writer's
    /// bits still do not depend on the tiling. Off when PETGAN_CONV_ISA forces a tile; tests of each
    /// tile turn it off.
    nonisolated(unsafe) public static var narrowOutputsOnAVX2 = environmentISA == nil

    /// The tile a call with `outputChannels` output channels runs.
    public static func tileISA(outputChannels c: Int) -> ConvISA {
        narrowOutputsOnAVX2 && isa == .avx512 && c <= ConvISA.avx2.blockWidth && ConvISA.avx2.isSupported ? .avx2 : isa
    }

    /// Calls with at most this many output channels (input channels for the adjoint) run the thin
    /// kernel (cck_thin_rows: one output channel at a time, vectors along the contiguous reduction)
    /// instead of a tile, which would spend 15 of 16 lanes on padding for a network's 1-channel
    /// output layer. Chosen by channel counts alone, like `narrowOutputsOnAVX2`. 0 turns it off
    /// (tests of the tiles, benchmarks of the change).
    nonisolated(unsafe) public static var thinOutputLimit = 4

    /// Whether a call with `c` output channels (correlate, adjoint) runs the thin kernel.
    public static func runsThin(outputChannels c: Int) -> Bool { c <= thinOutputLimit }

    /// PETGAN_CONV_ISA, read once (an unknown or unsupported value is reported and ignored).
    public static let environmentISA: ConvISA? = {
        guard let s = ProcessInfo.processInfo.environment["PETGAN_CONV_ISA"], !s.isEmpty else { return nil }
        guard let i = ConvISA(rawValue: s.lowercased()) else {
            FileHandle.standardError.write("petgan: ignoring PETGAN_CONV_ISA=\(s) (expected \(ConvISA.allCases.map(\.rawValue).joined(separator: ", ")))\n".data(using: .utf8)!)
            return nil
        }
        guard i.isSupported else {
            FileHandle.standardError.write("petgan: ignoring PETGAN_CONV_ISA=\(s) (this CPU lacks it)\n".data(using: .utf8)!)
            return nil
        }
        return i
    }()

    static let tileRows = Int(CCK_ROWS)
    /// Weight-side floats per reduction chunk: 48k floats = 192 KB, inside the 1 MB L2 of the
    /// reference machine with room for the input rows; outputs are revisited once per chunk.
    static let chunkFloats = 48 << 10

    // MARK: the tile loop

    /// Runs the tiles of one GEMM: output row r (0..<rowCount) reads the input from `v + rowOffset(r)`;
    /// the reduction is `nt` segments (offsets `voff`, `woff`) of `nc` steps; block cb of output
    /// channels takes its weight-side vectors from `w + cb·wBlockStride`; `out` is (rowCount, ldo).
    /// Work is split over (channel block, group of row tiles); each unit walks the reduction in
    /// chunks of `chunk` segments over all its tiles, so a chunk's weights stay in L2.
    static func runTiles(_ isa: ConvISA, rowCount: Int, rowOffset: (Int) -> Int, v: UnsafePointer<Float>,
                         voff: [Int], woff: [Int], nc: Int, vcs: Int, wcs: Int,
                         w: UnsafePointer<Float>, wBlockStride: Int, blocks: Int,
                         out: UnsafeMutablePointer<Float>, ldo: Int, chunk: Int) {
        let R = tileRows, nb = isa.blockWidth
        let tiles = (rowCount + R - 1) / R
        guard tiles > 0, blocks > 0 else { return }
        let nt = voff.count
        let groups = max(1, min(tiles, (8 * Parallel.threads + blocks - 1) / blocks))
        let per = (tiles + groups - 1) / groups
        // One extra entry so the pointers exist when nt == 0 (a phase without taps writes zeros).
        let vo = voff + [0], wo = woff + [0]
        vo.withUnsafeBufferPointer { vop in wo.withUnsafeBufferPointer { wop in
            Parallel.forEach(blocks * groups) { u in
                let cb = u / groups, gi = u % groups
                let t0 = gi * per, t1 = min(tiles, t0 + per)
                if t0 >= t1 { return }
                withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: R) { pp in
                    var s0 = 0
                    repeat {
                        let n = min(chunk, nt - s0)
                        for tile in t0..<t1 {
                            let r0 = tile * R, rows = min(R, rowCount - r0)
                            for j in 0..<R { pp[j] = v + rowOffset(r0 + min(j, rows - 1)) }
                            cck_tile(isa.c, UnsafePointer(pp.baseAddress!), n, vop.baseAddress! + s0, wop.baseAddress! + s0,
                                     nc, vcs, wcs, w + cb * wBlockStride, out + r0 * ldo + cb * nb, ldo, Int32(rows), s0 > 0 ? 1 : 0)
                        }
                        s0 += chunk
                    } while s0 < nt
                }
            }
        }}
    }

    /// One line of the thin kernel: `rows` output voxels along W, the input of voxel j at
    /// `v + j·vstride`, output channel o's weights at `w + o·wChannelStride` and its results at
    /// `out + o·oChannelStride + j·ostride` (written straight into the NCDHW result).
    struct ThinLine {
        var v: UnsafePointer<Float>, vstride: Int, rows: Int
        var out: UnsafeMutablePointer<Float>, ostride: Int, oChannelStride: Int
        var w: UnsafePointer<Float>, wChannelStride: Int, channels: Int
        var voff: UnsafePointer<Int>, woff: UnsafePointer<Int>, nt: Int, nc: Int
    }

    @inline(__always)
    static func runThin(_ isa: ConvISA, _ l: ThinLine) {
        for o in 0..<l.channels {
            cck_thin_rows(isa.c, l.v, l.vstride, l.rows, l.nt, l.voff, l.woff, l.nc, l.w + o * l.wChannelStride,
                          l.out + o * l.oChannelStride, l.ostride)
        }
    }

    /// Channels-last, zero-padded copy of `src` (N, C, D, H, W) into dst (N, Dp, Hp, Wp, cp) at (fd, fh, fw).
    static func packChannelsLast(_ src: UnsafePointer<Float>, n: Int, c: Int, d: Int, h: Int, w: Int,
                                 into dst: UnsafeMutablePointer<Float>, cp: Int, dp: Int, hp: Int, wp: Int, fd: Int, fh: Int, fw: Int) {
        KernelProfile.measure("igemm-pack") {
            dst.update(repeating: 0, count: n * dp * hp * wp * cp)
            Parallel.forRanges(n * d, minChunk: 1) { r in
                cck_pack_channels_last(src, c, d, h, w, r.lowerBound, r.upperBound, dst, cp, dp, hp, wp, fd, fh, fw)
            }
        }
    }

    /// Inverse of the channels-last layout: src (N, nd, nh, nw, cp) into dst (N, C, D, H, W) at
    /// (d0 + d·sd, h0 + h·sh, w0 + w·sw).
    static func unpackChannelsLast(_ src: UnsafePointer<Float>, cp: Int, n: Int, nd: Int, nh: Int, nw: Int,
                                   into dst: UnsafeMutablePointer<Float>, c: Int, d: Int, h: Int, w: Int,
                                   origin: (Int, Int, Int), stride: (Int, Int, Int)) {
        KernelProfile.measure("igemm-unpack") {
            Parallel.forRanges(n * nd, minChunk: 1) { r in
                cck_unpack_channels_last(src, cp, nd, nh, nw, r.lowerBound, r.upperBound, dst, c, d, h, w,
                                         origin.0, origin.1, origin.2, stride.0, stride.1, stride.2)
            }
        }
    }

    /// The weight panels of all channel blocks (see cck_pack_weights), split over input channels.
    static func packWeights(_ w: UnsafePointer<Float>, so: Int, si: Int, nout: Int, nin: Int, taps: [Int], nb: Int, blocks: Int,
                            into dst: UnsafeMutablePointer<Float>) {
        KernelProfile.measure("igemm-weights") {
            taps.withUnsafeBufferPointer { tp in
                Parallel.forRanges(nin, minChunk: 4) { r in
                    cck_pack_weights(w, so, si, nout, nin, tp.baseAddress!, tp.count, nb, blocks, r.lowerBound, r.upperBound, dst)
                }
            }
        }
    }

    /// Padded input extent along one axis: every output position's taps fall inside it.
    @inline(__always)
    static func paddedExtent(input: Int, output: Int, k: Int, s: Int, p: Int) -> Int {
        max(input + p, (output - 1) * s + k)
    }

    // MARK: kernels

    public static func correlate(_ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, options: ConvOptions) {
        // Thin: "blocks" of one channel, so the panels below are each channel's (tap, ci) weights.
        let thin = runsThin(outputChannels: g.co)
        let isa = tileISA(outputChannels: g.co), nb = thin ? 1 : isa.blockWidth
        let blocks = (g.co + nb - 1) / nb, cop = blocks * nb, K = g.kernelVolume, ci = g.ci
        let dp = paddedExtent(input: g.id, output: g.od, k: g.kd, s: g.sd, p: g.pd)
        let hp = paddedExtent(input: g.ih, output: g.oh, k: g.kh, s: g.sh, p: g.ph)
        let wp = paddedExtent(input: g.iw, output: g.ow, k: g.kw, s: g.sw, p: g.pw)
        let xcl = ScratchBuffer(count: g.n * dp * hp * wp * ci)
        packChannelsLast(x, n: g.n, c: ci, d: g.id, h: g.ih, w: g.iw, into: xcl.pointer, cp: ci, dp: dp, hp: hp, wp: wp, fd: g.pd, fh: g.ph, fw: g.pw)
        // Weights as (block, tap, ci, nb), zero past Co.
        let wpk = ScratchBuffer(count: blocks * K * ci * nb)
        packWeights(w, so: ci * K, si: K, nout: g.co, nin: ci, taps: Array(0..<K), nb: nb, blocks: blocks, into: wpk.pointer)
        var voff = [Int](), woff = [Int]()
        for a in 0..<g.kd { for b in 0..<g.kh { for e in 0..<g.kw {
            woff.append(voff.count * ci * nb); voff.append(((a * hp + b) * wp + e) * ci)
        }}}
        let (od, oh, ow) = (g.od, g.oh, g.ow), (sd, sh, sw) = (g.sd, g.sh, g.sw)
        if thin {
            // Line (n, z, yy): ow voxels, stride sw in x, written straight into y.
            let co = g.co, xp = UnsafePointer(xcl.pointer), wk = UnsafePointer(wpk.pointer)
            KernelProfile.measure("igemm-thin") {
                voff.withUnsafeBufferPointer { vo in woff.withUnsafeBufferPointer { wo in
                    Parallel.forRanges(g.n * od * oh, minChunk: max(1, 4096 / max(1, ow))) { lines in
                        for line in lines {
                            let yy = line % oh, t = line / oh, z = t % od, n = t / od
                            runThin(isa, ThinLine(v: xp + (((n * dp + z * sd) * hp + yy * sh) * wp) * ci, vstride: sw * ci, rows: ow,
                                                  out: y + ((n * co * od + z) * oh + yy) * ow, ostride: 1, oChannelStride: g.outSpatial,
                                                  w: wk, wChannelStride: K * ci, channels: co,
                                                  voff: vo.baseAddress!, woff: wo.baseAddress!, nt: voff.count, nc: ci))
                        }
                    }
                }}
            }
            return
        }
        let out = ScratchBuffer(count: g.n * g.outSpatial * cop)
        KernelProfile.measure("igemm-tiles") {
            runTiles(isa, rowCount: g.n * g.outSpatial, rowOffset: { r in
                let x = r % ow, t = r / ow, yy = t % oh, t2 = t / oh, z = t2 % od, n = t2 / od
                return (((n * dp + z * sd) * hp + yy * sh) * wp + x * sw) * ci
            }, v: xcl.pointer, voff: voff, woff: woff, nc: ci, vcs: 1, wcs: nb, w: wpk.pointer, wBlockStride: K * ci * nb,
                     blocks: blocks, out: out.pointer, ldo: cop, chunk: max(1, chunkFloats / (ci * nb)))
        }
        unpackChannelsLast(out.pointer, cp: cop, n: g.n, nd: od, nh: oh, nw: ow, into: y, c: g.co, d: od, h: oh, w: ow,
                           origin: (0, 0, 0), stride: (1, 1, 1))
    }

    /// One axis of the adjoint's phase split: output index i = q·s + φ − p for q in q0..<q0+count,
    /// taps k = m·s + φ for m in 0..<taps.
    struct PhaseAxis { var q0, count, taps: Int }

    static func phaseAxis(i: Int, k: Int, s: Int, p: Int, phase φ: Int) -> PhaseAxis {
        let q0 = ceilDiv(p - φ, s), q1 = floorDiv(i - 1 + p - φ, s)
        return PhaseAxis(q0: q0, count: max(0, q1 - q0 + 1), taps: max(0, ceilDiv(k - φ, s)))
    }

    /// One phase (φd, φh, φw) of the adjoint's split: its three axes and where its taps start in
    /// the flattened list of every phase's taps (the packed weights' tap order).
    struct AdjointPhase {
        var φd, φh, φw: Int
        var a, b, e: PhaseAxis
        var tapStart: Int
        /// Output positions (x voxels) of the phase; a phase without any has no taps either.
        var positions: Int { a.count * b.count * e.count }
        var taps: Int { positions > 0 ? a.taps * b.taps * e.taps : 0 }

        /// x's index of the phase's first position per axis.
        func xOrigin(_ g: ConvGeometry) -> (Int, Int, Int) {
            (a.q0 * g.sd + φd - g.pd, b.q0 * g.sh + φh - g.ph, e.q0 * g.sw + φw - g.pw)
        }
        /// The phase's taps (ma, mb, me) in loop order, as a (voxel offset in a padded y with front
        /// padding `front` and rows yh × yw, index into w's kernel volume) pair each.
        func tapOffsets(_ g: ConvGeometry, front: [Int], yh: Int, yw: Int) -> [(voxel: Int, tap: Int)] {
            guard positions > 0 else { return [] }
            var out = [(voxel: Int, tap: Int)]()
            for ma in 0..<a.taps { for mb in 0..<b.taps { for me in 0..<e.taps {
                out.append(((((front[0] - ma) * yh + front[1] - mb) * yw + front[2] - me),
                            ((ma * g.sd + φd) * g.kh + mb * g.sh + φh) * g.kw + me * g.sw + φw))
            }}}
            return out
        }
    }

    /// Every phase of the adjoint in loop order (φd, φh, φw): the one enumeration the fp32 and bf16
    /// adjoints, their layouts and the packed weights share.
    static func adjointPhases(_ g: ConvGeometry) -> [AdjointPhase] {
        var phases = [AdjointPhase](), tapStart = 0
        for φd in 0..<g.sd { for φh in 0..<g.sh { for φw in 0..<g.sw {
            let phase = AdjointPhase(φd: φd, φh: φh, φw: φw,
                                     a: phaseAxis(i: g.id, k: g.kd, s: g.sd, p: g.pd, phase: φd),
                                     b: phaseAxis(i: g.ih, k: g.kh, s: g.sh, p: g.ph, phase: φh),
                                     e: phaseAxis(i: g.iw, k: g.kw, s: g.sw, p: g.pw, phase: φw), tapStart: tapStart)
            phases.append(phase)
            tapStart += phase.taps
        }}}
        return phases
    }

    public static func correlateAdjoint(_ g: ConvGeometry, y: UnsafePointer<Float>, w: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>, options: ConvOptions) {
        let thin = runsThin(outputChannels: g.ci)
        let isa = tileISA(outputChannels: g.ci), nb = thin ? 1 : isa.blockWidth
        let blocks = (g.ci + nb - 1) / nb, cip = blocks * nb, K = g.kernelVolume, co = g.co
        let (front, ext, maxPositions) = adjointLayout(g)
        let (yd, yh, yw) = (ext[0], ext[1], ext[2])
        let ycl = ScratchBuffer(count: g.n * yd * yh * yw * co)
        packChannelsLast(y, n: g.n, c: co, d: g.od, h: g.oh, w: g.ow, into: ycl.pointer, cp: co, dp: yd, hp: yh, wp: yw,
                         fd: front[0], fh: front[1], fw: front[2])
        // Every phase's weights in one pass over w (a phase alone reads half of w's lines or more, so
        // phase by phase would read w several times): (block, phase, tap, co, nb over ci), zero past Ci.
        let allTaps = adjointPhaseTaps(g).flatMap { $0 }
        let wpk = ScratchBuffer(count: max(1, blocks * allTaps.count * co * nb))
        if !allTaps.isEmpty { packWeights(w, so: K, si: g.ci * K, nout: g.ci, nin: co, taps: allTaps, nb: nb, blocks: blocks, into: wpk.pointer) }
        if thin {
            thinAdjoint(g, ycl: UnsafePointer(ycl.pointer), extent: ext, front: front, totalTaps: allTaps.count, w: UnsafePointer(wpk.pointer), x: x, isa: isa)
            return
        }
        let out = ScratchBuffer(count: g.n * maxPositions * cip)
        for phase in adjointPhases(g) where phase.positions > 0 {
            let taps = phase.tapOffsets(g, front: front, yh: yh, yw: yw)
            let voff = taps.map { $0.voxel * co }, woff = taps.indices.map { $0 * co * nb }
            let (cd, ch, cw) = (phase.a.count, phase.b.count, phase.e.count), (q0d, q0h, q0w) = (phase.a.q0, phase.b.q0, phase.e.q0)
            let wPhase = UnsafePointer(wpk.pointer + phase.tapStart * co * nb)
            KernelProfile.measure("igemm-tiles") {
                runTiles(isa, rowCount: g.n * cd * ch * cw, rowOffset: { r in
                    let qw = r % cw, t = r / cw, qh = t % ch, t2 = t / ch, qd = t2 % cd, n = t2 / cd
                    return (((n * yd + q0d + qd) * yh + q0h + qh) * yw + q0w + qw) * co
                }, v: ycl.pointer, voff: voff, woff: woff, nc: co, vcs: 1, wcs: nb, w: wPhase, wBlockStride: allTaps.count * co * nb,
                         blocks: blocks, out: out.pointer, ldo: cip, chunk: max(1, chunkFloats / (co * nb)))
            }
            unpackChannelsLast(out.pointer, cp: cip, n: g.n, nd: cd, nh: ch, nw: cw, into: x, c: g.ci, d: g.id, h: g.ih, w: g.iw,
                               origin: phase.xOrigin(g), stride: (g.sd, g.sh, g.sw))
        }
    }

    /// The thin adjoint: every phase in one pass over y. Line (n, qd, qh) of each phase (cw voxels,
    /// stride sw along W in x) is written straight into x; a worker runs all phases of a line before
    /// the next, so the y neighbourhood the phases share is read from cache, not once per phase
    /// (phase by phase, G5's 8 passes over a 37 MB y were memory-bound).
    static func thinAdjoint(_ g: ConvGeometry, ycl: UnsafePointer<Float>, extent ext: [Int], front: [Int], totalTaps: Int,
                            w: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>, isa: ConvISA) {
        let (yd, yh, yw) = (ext[0], ext[1], ext[2]), co = g.co
        struct Phase { var a, b, e: PhaseAxis; var xOrigin: (Int, Int, Int); var tapStart: Int; var taps: Int }
        var phases = [Phase](), voff = [Int](), woff = [Int]()
        for phase in adjointPhases(g) where phase.positions > 0 {
            // woff relative to the phase's weights.
            let taps = phase.tapOffsets(g, front: front, yh: yh, yw: yw)
            phases.append(Phase(a: phase.a, b: phase.b, e: phase.e, xOrigin: phase.xOrigin(g), tapStart: voff.count, taps: taps.count))
            voff += taps.map { $0.voxel * co }
            woff += taps.indices.map { $0 * co }
        }
        let maxCD = phases.map(\.a.count).max() ?? 0, maxCH = phases.map(\.b.count).max() ?? 0
        let (ih, iw, plane) = (g.ih, g.iw, g.id * g.ih * g.iw), ci = g.ci, sw = g.sw
        voff.append(0); woff.append(0)   // so the pointers exist when no phase has taps
        KernelProfile.measure("igemm-thin") {
            voff.withUnsafeBufferPointer { vo in woff.withUnsafeBufferPointer { wo in
                Parallel.forRanges(g.n * maxCD * maxCH, minChunk: max(1, 4096 / max(1, iw))) { lines in
                    for line in lines {
                        let qh = line % maxCH, t = line / maxCH, qd = t % maxCD, n = t / maxCD
                        for p in phases where qd < p.a.count && qh < p.b.count {
                            let xd = p.xOrigin.0 + qd * g.sd, xh = p.xOrigin.1 + qh * g.sh
                            runThin(isa, ThinLine(v: ycl + (((n * yd + p.a.q0 + qd) * yh + p.b.q0 + qh) * yw + p.e.q0) * co, vstride: co,
                                                  rows: p.e.count, out: x + ((n * ci * g.id + xd) * ih + xh) * iw + p.xOrigin.2,
                                                  ostride: sw, oChannelStride: plane, w: w + p.tapStart * co, wChannelStride: totalTaps * co,
                                                  channels: ci, voff: vo.baseAddress! + p.tapStart, woff: wo.baseAddress! + p.tapStart,
                                                  nt: p.taps, nc: co))
                        }
                    }
                }
            }}
        }
    }

    /// The adjoint's padded copy of y: front padding F = (most taps of a phase) − 1 per axis, the
    /// extent covering every phase's positions, and the most output positions of one phase.
    static func adjointLayout(_ g: ConvGeometry) -> (front: [Int], extent: [Int], maxPositions: Int) {
        let sizes = [(g.id, g.od, g.kd, g.sd, g.pd), (g.ih, g.oh, g.kh, g.sh, g.ph), (g.iw, g.ow, g.kw, g.sw, g.pw)]
        var front = [Int](), ext = [Int]()
        for (i, o, k, s, p) in sizes {
            let f = ceilDiv(k, s) - 1
            var e = o + f
            for φ in 0..<s { let a = phaseAxis(i: i, k: k, s: s, p: p, phase: φ); if a.count > 0 { e = max(e, a.q0 + a.count + f) } }
            front.append(f); ext.append(e)
        }
        return (front, ext, adjointPhases(g).map(\.positions).max() ?? 0)
    }

    /// Floats of scratch one call holds at once (channels-last copy, packed weights, padded output
    /// (none for the thin kernel);
    /// the weight gradient's padded x, channels-last gy and transposed result), for memory plans:
    /// the tiled writer runs this kernel and its plan counts exactly these buffers.
    public static func scratchFloats(_ g: ConvGeometry, role: ConvDispatch.Role) -> Int {
        let channels = role == .adjoint ? g.ci : g.co
        let thin = role != .weight && runsThin(outputChannels: channels)
        let nb = thin ? 1 : tileISA(outputChannels: channels).blockWidth, K = g.kernelVolume
        let dp = paddedExtent(input: g.id, output: g.od, k: g.kd, s: g.sd, p: g.pd)
        let hp = paddedExtent(input: g.ih, output: g.oh, k: g.kh, s: g.sh, p: g.ph)
        let wp = paddedExtent(input: g.iw, output: g.ow, k: g.kw, s: g.sw, p: g.pw)
        switch role {
        case .correlate:
            let blocks = (g.co + nb - 1) / nb
            // The thin kernel writes into y directly: no padded output.
            let out = thin ? 0 : g.n * g.outSpatial * blocks * nb
            return g.n * dp * hp * wp * g.ci + max(1, blocks * K * g.ci * nb) + out
        case .adjoint:
            let blocks = (g.ci + nb - 1) / nb
            let (_, ext, positions) = adjointLayout(g)
            let taps = adjointPhaseTaps(g).reduce(0) { $0 + $1.count }
            let out = thin ? 0 : g.n * positions * blocks * nb
            return g.n * ext.reduce(1, *) * g.co + out + max(1, blocks * taps * g.co * nb)
        case .weight:
            let blocks = (g.co + nb - 1) / nb
            return g.n * g.ci * dp * hp * wp + g.n * g.outSpatial * blocks * nb + g.ci * K * blocks * nb
        }
    }

    /// The adjoint's taps of every phase (φd, φh, φw in loop order; none for a phase without output
    /// positions): tap k = m·s + φ per axis, m in 0..<⌈(k − φ)/s⌉.
    static func adjointPhaseTaps(_ g: ConvGeometry) -> [[Int]] {
        adjointPhases(g).map { $0.tapOffsets(g, front: [0, 0, 0], yh: 0, yw: 0).map(\.tap) }
    }

    public static func weightGradient(_ g: ConvGeometry, x: UnsafePointer<Float>, y: UnsafePointer<Float>, w: UnsafeMutablePointer<Float>, options: ConvOptions) {
        let isa = tileISA(outputChannels: g.co), nb = isa.blockWidth
        let blocks = (g.co + nb - 1) / nb, cop = blocks * nb, K = g.kernelVolume, ci = g.ci
        let dp = paddedExtent(input: g.id, output: g.od, k: g.kd, s: g.sd, p: g.pd)
        let hp = paddedExtent(input: g.ih, output: g.oh, k: g.kh, s: g.sh, p: g.ph)
        let wp = paddedExtent(input: g.iw, output: g.ow, k: g.kw, s: g.sw, p: g.pw)
        let vol = dp * hp * wp
        // x zero-padded, channel-first: a row (ci, tap) walks the output positions along W with stride sw.
        let xpad = ScratchBuffer(count: g.n * ci * vol)
        KernelProfile.measure("igemm-pack") {
            xpad.pointer.update(repeating: 0, count: g.n * ci * vol)
            let (id, ih, iw) = (g.id, g.ih, g.iw), (pd, ph, pw) = (g.pd, g.ph, g.pw)
            Parallel.forRanges(g.n * ci * id, minChunk: 4) { r in
                for plane in r {
                    let nc = plane / id, d = plane % id
                    for h in 0..<ih {
                        (xpad.pointer + ((nc * dp + d + pd) * hp + h + ph) * wp + pw).update(from: x + ((nc * id + d) * ih + h) * iw, count: iw)
                    }
                }
            }
        }
        let gycl = ScratchBuffer(count: g.n * g.outSpatial * cop)
        packChannelsLast(y, n: g.n, c: g.co, d: g.od, h: g.oh, w: g.ow, into: gycl.pointer, cp: cop, dp: g.od, hp: g.oh, wp: g.ow, fd: 0, fh: 0, fw: 0)
        // Reduction segments: one output row (n, od, oh) each, ow steps.
        var voff = [Int](), woff = [Int]()
        for n in 0..<g.n { for z in 0..<g.od { for yy in 0..<g.oh {
            voff.append(n * ci * vol + (z * g.sd * hp + yy * g.sh) * wp)
            woff.append(((n * g.od + z) * g.oh + yy) * g.ow * cop)
        }}}
        let R = ci * K
        let out = ScratchBuffer(count: R * cop)
        let (kh, kw) = (g.kh, g.kw)
        KernelProfile.measure("igemm-tiles") {
            runTiles(isa, rowCount: R, rowOffset: { r in
                let e = r % kw, t = r / kw, b = t % kh, t2 = t / kh, a = t2 % g.kd, c = t2 / g.kd
                return c * vol + (a * hp + b) * wp + e
            }, v: xpad.pointer, voff: voff, woff: woff, nc: g.ow, vcs: g.sw, wcs: cop, w: gycl.pointer, wBlockStride: nb,
                     blocks: blocks, out: out.pointer, ldo: cop, chunk: max(1, chunkFloats / (g.ow * nb)))
        }
        // out (ci·K, cop) → w (Co, Ci·K)
        let o = UnsafePointer(out.pointer)
        KernelProfile.measure("igemm-unpack") {
            Parallel.forRanges(g.co, minChunk: 1) { r in cck_transpose(o, R, cop, r.lowerBound, r.upperBound, w, R) }
        }
    }

    // MARK: micro-kernel alone

    /// GF/s of the tile alone on `Parallel.threads` workers, its operands resident in L1 (128
    /// reduction steps of 6 rows × one channel block, repeated): the ceiling the convolution's tile
    /// loop can reach. Median of `reps` runs of at least `secondsPerRun`.
    public static func microKernelGflops(_ isa: ConvISA, secondsPerRun: Double = 0.2, reps: Int = 3) -> Double? {
        guard isa.isSupported else { return nil }
        let nb = isa.blockWidth, nc = 128, nt = 8, R = tileRows
        let workers = Parallel.threads
        let flopsPerCall = 2.0 * Double(R * nb * nc * nt)
        // Per worker: inputs (R rows of nc), weights (nc × nb), outputs (R × nb).
        let per = R * nc + nc * nb + R * nb
        let buf = ScratchBuffer(count: workers * per)
        for i in 0..<(workers * per) { buf.pointer[i] = Float(i % 7) * 1e-3 }
        let zeros = [Int](repeating: 0, count: nt)
        func seconds(_ calls: Int) -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            zeros.withUnsafeBufferPointer { z in
                Parallel.forEach(workers) { wk in
                    let base = buf.pointer + wk * per
                    withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: R) { pp in
                        for j in 0..<R { pp[j] = UnsafePointer(base + j * nc) }
                        let wts = UnsafePointer(base + R * nc), out = base + R * nc + nc * nb
                        for _ in 0..<calls {
                            cck_tile(isa.c, UnsafePointer(pp.baseAddress!), nt, z.baseAddress!, z.baseAddress!, nc, 1, nb, wts, out, nb, Int32(R), 1)
                        }
                    }
                }
            }
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
        var calls = 256
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

extension Conv3dImplicitGEMM {
    /// Cost model: tile time at the rate measured for this ISA (`petgan bench conv`, reference machine,
    /// 2 threads) scaled by how much of a channel block is real channels and by the share of the
    /// tile's reduction loop that is loop overhead, plus the layout changes' memory traffic.
    /// The automatic choice considers implicit GEMM only from this many multiply-adds up (2^27; the
    /// DCGAN's big layers have 2^31): its wins were measured there, small calls keep the path their
    /// memory plans (PETTiling) and bitwise fixtures (Tests/Fixtures/pre-blocks) were made with.
    static let minimumAutomaticMACs = 1 << 27

    static func estimatedSeconds(_ g: ConvGeometry, role: ConvDispatch.Role, isa: ConvISA = Conv3dImplicitGEMM.isa) -> Double {
        let nb = Double(isa.blockWidth)
        let rate: Double
        switch isa {
        case .avx512: rate = 400e9
        case .avx2: rate = 200e9
        case .scalar: rate = 15e9
        }
        let outChannels: Int, steps: Int, moved: Int
        switch role {
        case .correlate: outChannels = g.co; steps = g.ci; moved = g.n * (g.ci * g.inSpatial + g.co * g.outSpatial)
        case .adjoint: outChannels = g.ci; steps = g.co; moved = g.n * (g.ci * g.inSpatial + g.co * g.outSpatial)
        case .weight: outChannels = g.co; steps = g.ow; moved = g.n * (g.ci * g.inSpatial + g.co * g.outSpatial)
        }
        let blockUse = Double(outChannels) / (nb * (Double(outChannels) / nb).rounded(.up))
        let loopUse = Double(steps) / Double(steps + 2)
        // Weight panels are repacked every call: 5.7–6.5 ms for D4's and G2's 8.4 M weights at load 3.7
        // (≈ 0.35 ns per weight idle; 1.7 ns before cck_pack_weights went through an L1 block). 0.6 ns
        // keeps the 8³→4³ forward on im2col with the AVX2 tile, where it measured a tie (51.9 ms
        // against im2col's 51.0, Haswell core, same sitting).
        let weights = Double(g.co * g.ci * g.kernelVolume) * 0.6e-9
        return 2.0 * Double(g.macs) / (rate * blockUse * loopUse) + Double(moved) * 12.0 / 10e9 + weights
    }
}
