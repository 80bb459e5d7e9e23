import Foundation

// vol2col + OpenBLAS sgemm. The column matrix of a sample has one row per (ci, kd, kh, kw) and one
// column per output voxel; conv forward is W·col, the input gradient is col2vol(Wᵀ·gy), the weight
// gradient gy·colᵀ. Large volumes are done in depth slabs so the column buffer never passes
// `options.columnLimitBytes`; small ones are batched across samples so thin GEMMs get wider.
//   x: (N, Ci, ID, IH, IW)   w: (Co, Ci, KD, KH, KW)   y: (N, Co, OD, OH, OW)

public enum Conv3dIm2col: ConvKernel {

    /// How the output depth is cut: `slabDepth` output planes per column buffer, or `batch` whole
    /// samples side by side when a sample is small.
    struct Plan {
        var slabDepth: Int
        var batch: Int
        var columnFloats: Int
        var direct: Bool   // 1×1×1 kernel, stride 1, no padding: the column matrix is x itself
    }

    static func plan(_ g: ConvGeometry, _ options: ConvOptions) -> Plan {
        let rows = g.columnRows
        let plane = g.oh * g.ow
        let limitFloats = max(options.columnLimitBytes / 4, rows * plane)
        let direct = g.kernelVolume == 1 && g.isStrideOne && g.pd == 0 && g.ph == 0 && g.pw == 0
        if rows * g.outSpatial <= limitFloats {
            // Whole sample fits: batch small samples so the GEMM's N dimension is at least ~2048.
            var batch = 1
            if g.outSpatial < 2048 && !direct {
                batch = min(g.n, max(1, 2048 / g.outSpatial), max(1, limitFloats / (rows * g.outSpatial)))
            }
            return Plan(slabDepth: g.od, batch: batch, columnFloats: direct ? 0 : rows * g.outSpatial * batch, direct: direct)
        }
        let slab = max(1, limitFloats / (rows * plane))
        return Plan(slabDepth: slab, batch: 1, columnFloats: direct ? 0 : rows * plane * slab, direct: direct)
    }

    // MARK: vol2col / col2vol

    /// Fills rows of `col` (leading dimension `ld`) for output planes od0..<od1 of one sample `xs` (Ci, I).
    static func vol2col(_ g: ConvGeometry, xs: UnsafePointer<Float>, od0: Int, od1: Int,
                        col: UnsafeMutablePointer<Float>, ld: Int) {
        KernelProfile.measure("vol2col") { vol2colBody(g, xs: xs, od0: od0, od1: od1, col: col, ld: ld) }
    }

    static func vol2colBody(_ g: ConvGeometry, xs: UnsafePointer<Float>, od0: Int, od1: Int,
                        col: UnsafeMutablePointer<Float>, ld: Int) {
        let K = g.kernelVolume, plane = g.oh * g.ow
        let rows = g.ci * K
        let total = rows * (od1 - od0)
        Parallel.forRanges(total, minChunk: 8) { range in
            for t in range {
                let r = t / (od1 - od0), od = od0 + t % (od1 - od0)
                let c = r / K, kk = r % K
                let a = kk / (g.kh * g.kw), b = (kk / g.kw) % g.kh, e = kk % g.kw
                let dstPlane = col + r * ld + (od - od0) * plane
                let idx = od * g.sd - g.pd + a
                if idx < 0 || idx >= g.id { dstPlane.update(repeating: 0, count: plane); continue }
                let (owLo, owHi) = validRange(out: g.ow, inSize: g.iw, s: g.sw, p: g.pw, k: e)
                let (ohLo, ohHi) = validRange(out: g.oh, inSize: g.ih, s: g.sh, p: g.ph, k: b)
                let srcVol = xs + (c * g.id + idx) * g.ih * g.iw
                if ohLo > 0 { dstPlane.update(repeating: 0, count: ohLo * g.ow) }
                if ohHi < g.oh { (dstPlane + ohHi * g.ow).update(repeating: 0, count: (g.oh - ohHi) * g.ow) }
                if ohLo >= ohHi { continue }
                for oh in ohLo..<ohHi {
                    let dst = dstPlane + oh * g.ow
                    let src = srcVol + (oh * g.sh - g.ph + b) * g.iw
                    if owLo >= owHi { dst.update(repeating: 0, count: g.ow); continue }
                    if owLo > 0 { dst.update(repeating: 0, count: owLo) }
                    if owHi < g.ow { (dst + owHi).update(repeating: 0, count: g.ow - owHi) }
                    let base = src + (owLo * g.sw - g.pw + e)
                    if g.sw == 1 {
                        (dst + owLo).update(from: base, count: owHi - owLo)
                    } else {
                        var j = 0
                        for ow in owLo..<owHi { dst[ow] = base[j]; j += g.sw }
                    }
                }
            }
        }
    }

    /// Adds the column matrix back into one sample `xs` (Ci, I) (the adjoint of vol2col). Work is
    /// split by (channel, block of input planes), so no two workers write the same voxel.
    static func col2vol(_ g: ConvGeometry, col: UnsafePointer<Float>, ld: Int, od0: Int, od1: Int,
                        xs: UnsafeMutablePointer<Float>) {
        KernelProfile.measure("col2vol") { col2volBody(g, col: col, ld: ld, od0: od0, od1: od1, xs: xs) }
    }

    static func col2volBody(_ g: ConvGeometry, col: UnsafePointer<Float>, ld: Int, od0: Int, od1: Int,
                        xs: UnsafeMutablePointer<Float>) {
        let K = g.kernelVolume, plane = g.oh * g.ow
        let wantUnits = 4 * Parallel.threads
        let blocks = g.ci >= wantUnits ? 1 : min(g.id, (wantUnits + g.ci - 1) / g.ci)
        // Only input planes touched by this output slab.
        let dLo = max(0, od0 * g.sd - g.pd), dHi = min(g.id, (od1 - 1) * g.sd - g.pd + g.kd)
        if dHi <= dLo { return }
        let span = dHi - dLo
        let nb = min(blocks, span)
        Parallel.forEach(g.ci * nb) { unit in
            let c = unit / nb, blk = unit % nb
            let d0 = dLo + span * blk / nb, d1 = dLo + span * (blk + 1) / nb
            for kk in 0..<K {
                let a = kk / (g.kh * g.kw), b = (kk / g.kw) % g.kh, e = kk % g.kw
                let r = c * K + kk
                let (owLo, owHi) = validRange(out: g.ow, inSize: g.iw, s: g.sw, p: g.pw, k: e)
                let (ohLo, ohHi) = validRange(out: g.oh, inSize: g.ih, s: g.sh, p: g.ph, k: b)
                if owLo >= owHi || ohLo >= ohHi { continue }
                // od with d0 ≤ od·s − p + a < d1, inside the slab.
                let odA = max(od0, ceilDiv(d0 + g.pd - a, g.sd)), odB = min(od1, ceilDiv(d1 + g.pd - a, g.sd))
                if odA >= odB { continue }
                for od in odA..<odB {
                    let idx = od * g.sd - g.pd + a
                    let srcPlane = col + r * ld + (od - od0) * plane
                    let dstVol = xs + (c * g.id + idx) * g.ih * g.iw
                    for oh in ohLo..<ohHi {
                        let src = srcPlane + oh * g.ow
                        let dst = dstVol + (oh * g.sh - g.ph + b) * g.iw + (owLo * g.sw - g.pw + e)
                        if g.sw == 1 {
                            for j in 0..<(owHi - owLo) { dst[j] += src[owLo + j] }
                        } else {
                            var t = 0
                            for ow in owLo..<owHi { dst[t] += src[ow]; t += g.sw }
                        }
                    }
                }
            }
        }
    }

    /// Output positions o in [lo, hi) whose input index o·s − p + k lies inside 0..<inSize.
    @inline(__always)
    static func validRange(out: Int, inSize: Int, s: Int, p: Int, k: Int) -> (Int, Int) {
        let lo = max(0, ceilDiv(p - k, s))
        let hi = min(out, floorDiv(inSize - 1 + p - k, s) + 1)
        return (lo, max(lo, hi))
    }

    // MARK: kernels

    public static func correlate(_ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, options: ConvOptions) {
        let p = plan(g, options)
        let rows = g.columnRows, O = g.outSpatial, plane = g.oh * g.ow
        let col = ScratchBuffer(count: p.columnFloats)
        if p.batch > 1 {
            // col: (rows, batch·O); tmp: (Co, batch·O), scattered to y[n] afterwards.
            let tmp = ScratchBuffer(count: g.co * p.batch * O)
            var n0 = 0
            while n0 < g.n {
                let nb = min(p.batch, g.n - n0), ld = nb * O
                for j in 0..<nb { vol2col(g, xs: x + (n0 + j) * g.ci * g.inSpatial, od0: 0, od1: g.od, col: col.pointer + j * O, ld: ld) }
                BLAS.sgemm(m: g.co, n: ld, k: rows, a: w, lda: rows, b: col.pointer, ldb: ld, c: tmp.pointer, ldc: ld)
                for j in 0..<nb { for co in 0..<g.co {
                    (y + ((n0 + j) * g.co + co) * O).update(from: tmp.pointer + co * ld + j * O, count: O)
                }}
                n0 += nb
            }
            return
        }
        for n in 0..<g.n {
            let xs = x + n * g.ci * g.inSpatial
            var od0 = 0
            while od0 < g.od {
                let od1 = min(g.od, od0 + p.slabDepth), ls = (od1 - od0) * plane
                let b: UnsafePointer<Float>
                if p.direct { b = xs + od0 * plane } else {
                    vol2col(g, xs: xs, od0: od0, od1: od1, col: col.pointer, ld: ls); b = UnsafePointer(col.pointer)
                }
                BLAS.sgemm(m: g.co, n: ls, k: rows, a: w, lda: rows, b: b, ldb: p.direct ? O : ls,
                           c: y + n * g.co * O + od0 * plane, ldc: O)
                od0 = od1
            }
        }
    }

    public static func correlateAdjoint(_ g: ConvGeometry, y: UnsafePointer<Float>, w: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>, options: ConvOptions) {
        let p = plan(g, options)
        let rows = g.columnRows, O = g.outSpatial, plane = g.oh * g.ow
        if p.direct {
            for n in 0..<g.n {
                BLAS.sgemm(transA: true, m: rows, n: O, k: g.co, a: w, lda: rows, b: y + n * g.co * O, ldb: O,
                           c: x + n * g.ci * g.inSpatial, ldc: O)
            }
            return
        }
        x.update(repeating: 0, count: g.n * g.ci * g.inSpatial)
        let col = ScratchBuffer(count: p.columnFloats)
        if p.batch > 1 {
            let gathered = ScratchBuffer(count: g.co * p.batch * O)
            var n0 = 0
            while n0 < g.n {
                let nb = min(p.batch, g.n - n0), ld = nb * O
                for j in 0..<nb { for co in 0..<g.co {
                    (gathered.pointer + co * ld + j * O).update(from: y + ((n0 + j) * g.co + co) * O, count: O)
                }}
                BLAS.sgemm(transA: true, m: rows, n: ld, k: g.co, a: w, lda: rows, b: gathered.pointer, ldb: ld, c: col.pointer, ldc: ld)
                for j in 0..<nb { col2vol(g, col: col.pointer + j * O, ld: ld, od0: 0, od1: g.od, xs: x + (n0 + j) * g.ci * g.inSpatial) }
                n0 += nb
            }
            return
        }
        for n in 0..<g.n {
            var od0 = 0
            while od0 < g.od {
                let od1 = min(g.od, od0 + p.slabDepth), ls = (od1 - od0) * plane
                BLAS.sgemm(transA: true, m: rows, n: ls, k: g.co, a: w, lda: rows, b: y + n * g.co * O + od0 * plane, ldb: O,
                           c: col.pointer, ldc: ls)
                col2vol(g, col: col.pointer, ld: ls, od0: od0, od1: od1, xs: x + n * g.ci * g.inSpatial)
                od0 = od1
            }
        }
    }

    public static func weightGradient(_ g: ConvGeometry, x: UnsafePointer<Float>, y: UnsafePointer<Float>, w: UnsafeMutablePointer<Float>, options: ConvOptions) {
        let p = plan(g, options)
        let rows = g.columnRows, O = g.outSpatial, plane = g.oh * g.ow
        let col = ScratchBuffer(count: p.columnFloats)
        var beta: Float = 0
        if p.batch > 1 {
            let gathered = ScratchBuffer(count: g.co * p.batch * O)
            var n0 = 0
            while n0 < g.n {
                let nb = min(p.batch, g.n - n0), ld = nb * O
                for j in 0..<nb {
                    vol2col(g, xs: x + (n0 + j) * g.ci * g.inSpatial, od0: 0, od1: g.od, col: col.pointer + j * O, ld: ld)
                    for co in 0..<g.co { (gathered.pointer + co * ld + j * O).update(from: y + ((n0 + j) * g.co + co) * O, count: O) }
                }
                BLAS.sgemm(transB: true, m: g.co, n: rows, k: ld, a: gathered.pointer, lda: ld, b: col.pointer, ldb: ld,
                           beta: beta, c: w, ldc: rows)
                beta = 1
                n0 += nb
            }
            return
        }
        for n in 0..<g.n {
            let xs = x + n * g.ci * g.inSpatial
            var od0 = 0
            while od0 < g.od {
                let od1 = min(g.od, od0 + p.slabDepth), ls = (od1 - od0) * plane
                let b: UnsafePointer<Float>
                if p.direct { b = xs + od0 * plane } else {
                    vol2col(g, xs: xs, od0: od0, od1: od1, col: col.pointer, ld: ls); b = UnsafePointer(col.pointer)
                }
                BLAS.sgemm(transB: true, m: g.co, n: rows, k: ls, a: y + n * g.co * O + od0 * plane, lda: O,
                           b: b, ldb: p.direct ? O : ls, beta: beta, c: w, ldc: rows)
                beta = 1
                od0 = od1
            }
        }
    }
}

@inline(__always) func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
@inline(__always) func ceilDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }
