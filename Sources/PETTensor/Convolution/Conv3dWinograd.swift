import Foundation

// Winograd F(2×2×2, 3×3×3) for stride-1 3×3×3 convolutions (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016, extended to 3D as a tensor product of the 1D transforms).
// Each 2³ block of outputs comes from a 4³ block of input:
//   y_tile = Aᵀ [ (G w Gᵀ) ⊙ (Bᵀ x_tile B) ] A        (per axis; ⊙ over the 64 "frequencies")
// and the ⊙ summed over input channels is, per frequency, one GEMM across channels:
//   M_f (Co × tiles) = U_f (Co × Ci) · V_f (Ci × tiles).
// 64 multiplies per tile instead of 216 (3.4× fewer FLOPs than direct convolution).
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]   Aᵀ = [1 1 1 0; 0 1 −1 −1]
// Roles, all as this one tiled correlation or its exact gradient:
//   forward    y = correlate(x, w), padding p
//   adjoint    x = correlate(gy, w'), w'[ci,co,k] = w[co,ci,2−k] (flipped, channels swapped), padding 2 − p
//   weight     w = Gᵀ [ Σ_tiles (A gy_tile Aᵀ) ⊙ (Bᵀ x_tile B) ] G: the gradient of the forward's
//              Winograd form (exact for the convolution), per frequency H_f (Co×Ci) += GY_f · V_fᵀ.
// Work is cut into tasks of one tile depth × a run of tile rows (a few hundred tiles); every task
// transforms its input, runs its 64 GEMMs and writes its outputs with the transformed buffers still
// in cache, so nothing the size of the whole transformed volume (8× the input) is ever held.
//   x: (N, Ci, ID, IH, IW)   w: (Co, Ci, 3, 3, 3)   y: (N, Co, OD, OH, OW)

public enum Conv3dWinograd: ConvKernel {
    /// Frequencies per tile: 4³.
    static let frequencies = 64

    /// Stride-1 3×3×3 kernels with padding 0…2 on every axis (the adjoint's padding is 2 − p).
    public static func applies(_ g: ConvGeometry) -> Bool {
        g.isStrideOne && g.kd == 3 && g.kh == 3 && g.kw == 3
            && (0...2).contains(g.pd) && (0...2).contains(g.ph) && (0...2).contains(g.pw)
    }

    /// Calls that ran on the Winograd path, and forced calls it does not apply to (computed by im2col):
    /// a test that forces Winograd asserts it really ran.
    public struct CallCounts: Equatable, Sendable {
        public var ran = 0
        public var fellBack = 0
    }
    nonisolated(unsafe) private static var counts = CallCounts()
    private static let countsLock = NSLock()
    public static var callCounts: CallCounts { countsLock.lock(); defer { countsLock.unlock() }; return counts }
    static func count(ran: Bool) {
        countsLock.lock(); defer { countsLock.unlock() }
        if ran { counts.ran += 1 } else { counts.fellBack += 1 }
    }

    /// Tiles per task. On the K3 layer 256…2048 time the same within noise (forward 37–43 ms,
    /// weight gradient 45–48 ms); 128 is 1.5× slower (the GEMMs get too narrow).
    static let taskTiles = 512

    /// The tile grid over an output volume and how it is cut into tasks.
    struct Tiling {
        var tiles: (d: Int, h: Int, w: Int)   // 2-voxel output tiles per axis
        var rowsPerTask: Int                   // tile rows (along h) per task
        var chunks: Int                        // tasks per tile depth
        var tilesPerTask: Int { rowsPerTask * tiles.w }
        var tasksPerSample: Int { tiles.d * chunks }

        /// Tasks of about `targetTiles` tiles whose two transformed buffers stay within `taskBytes`.
        init(out: (Int, Int, Int), cin: Int, cout: Int, targetTiles: Int = Conv3dWinograd.taskTiles, taskBytes: Int = 8 << 20) {
            tiles = ((out.0 + 1) / 2, (out.1 + 1) / 2, (out.2 + 1) / 2)
            let perTile = 64 * (cin + cout) * 4
            let want = max(1, min(targetTiles, taskBytes / perTile))
            rowsPerTask = max(1, min(tiles.h, want / tiles.w))
            chunks = (tiles.h + rowsPerTask - 1) / rowsPerTask
        }
    }

    /// Cost model (seconds). Fitted to measured times of all three roles on the reference machine
    /// (Zen 5, 2 threads; 10 stride-1 k3 shapes from 1→16 to 256→256 channels, 8³ to 64³): the 64
    /// GEMMs at a rate that falls for thin products (few channels), the transforms streaming 64
    /// floats per tile and channel, and every task reading all transformed weights (what makes
    /// many channels on a small volume slow: few tiles per task). The fitted time is doubled to be
    /// in the units of the im2col and FFT models, which overestimate this machine's times by 1.2–9×
    /// (2–4× on most shapes); measured outcomes of the choice are in Benchmarks/README.md.
    static func estimatedSeconds(_ g: ConvGeometry, role: ConvDispatch.Role) -> Double {
        guard applies(g) else { return .infinity }
        let out = role == .adjoint ? (g.id, g.ih, g.iw) : (g.od, g.oh, g.ow)
        let t = Tiling(out: out, cin: g.ci, cout: g.co)
        let tiles = Double(g.n * t.tiles.d * t.tiles.h * t.tiles.w)
        let tasks = Double(g.n * t.tasksPerSample)
        let threads = Double(Parallel.threads)
        let thin = min(1.0, Double(min(g.co, g.ci)) / 64.0 + 0.2)
        let gemm = 2 * 64 * Double(g.co * g.ci) * tiles / (100e9 * threads * thin)
        let transforms = 64 * Double(g.ci + g.co) * tiles * 4 / (17.5e9 * threads)
        let weightReads = tasks * 64 * Double(g.co * g.ci) * 4 / (6e9 * threads)
        return 2 * (gemm + transforms + weightReads)
    }

    // MARK: kernels

    public static func correlate(_ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, options: ConvOptions) {
        guard applies(g) else { count(ran: false); return Conv3dIm2col.correlate(g, x: x, w: w, y: y, options: options) }
        count(ran: true)
        let u = ScratchBuffer(count: 64 * g.co * g.ci)
        KernelProfile.measure("wino-weights") { transformWeights(w, co: g.co, ci: g.ci, flipped: false, into: u.pointer) }
        tiledCorrelation(n: g.n, cin: g.ci, cout: g.co, inDims: (g.id, g.ih, g.iw), outDims: (g.od, g.oh, g.ow),
                         pad: (g.pd, g.ph, g.pw), x: x, u: u.pointer, y: y)
    }

    public static func correlateAdjoint(_ g: ConvGeometry, y: UnsafePointer<Float>, w: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>, options: ConvOptions) {
        guard applies(g) else { count(ran: false); return Conv3dIm2col.correlateAdjoint(g, y: y, w: w, x: x, options: options) }
        count(ran: true)
        // The adjoint of a stride-1 correlation is the correlation of gy with the flipped,
        // channel-transposed kernel and padding 2 − p: same kernel, roles of Ci and Co swapped.
        let u = ScratchBuffer(count: 64 * g.co * g.ci)
        KernelProfile.measure("wino-weights") { transformWeights(w, co: g.co, ci: g.ci, flipped: true, into: u.pointer) }
        tiledCorrelation(n: g.n, cin: g.co, cout: g.ci, inDims: (g.od, g.oh, g.ow), outDims: (g.id, g.ih, g.iw),
                         pad: (2 - g.pd, 2 - g.ph, 2 - g.pw), x: y, u: u.pointer, y: x)
    }

    public static func weightGradient(_ g: ConvGeometry, x: UnsafePointer<Float>, y: UnsafePointer<Float>, w: UnsafeMutablePointer<Float>, options: ConvOptions) {
        guard applies(g) else { count(ran: false); return Conv3dIm2col.weightGradient(g, x: x, y: y, w: w, options: options) }
        count(ran: true)
        let t = Tiling(out: (g.od, g.oh, g.ow), cin: g.ci, cout: g.co)
        let tasks = g.n * t.tasksPerSample
        let workers = max(1, min(Parallel.threads, tasks))
        let pairs = g.co * g.ci
        // One H (64 × Co × Ci) per worker, summed at the end: workers never write the same memory.
        let h = ScratchBuffer(count: workers * 64 * pairs)
        h.pointer.update(repeating: 0, count: workers * 64 * pairs)
        BLAS.singleThreaded {
            Parallel.forEach(workers) { wk in
                let hw = h.pointer + wk * 64 * pairs
                let nt = t.tilesPerTask
                let v = ScratchBuffer(count: 64 * g.ci * nt), gt = ScratchBuffer(count: 64 * g.co * nt)
                let work = ScratchBuffer(count: workFloats(t))
                // A fixed, contiguous share of the tasks per worker (not tasks taken as workers come
                // free): which tiles a partial sum holds must not depend on timing, or the gradient's
                // bits change from run to run (activation checkpointing's recompute must match bitwise).
                for task in (wk * tasks / workers)..<((wk + 1) * tasks / workers) {
                    let (n, td, th0, th1) = locate(task, t)
                    let cols = (th1 - th0) * t.tiles.w
                    KernelProfile.measure("wino-input") {
                        inputTransform(x + n * g.ci * g.inSpatial, channels: g.ci, dims: (g.id, g.ih, g.iw), pad: (g.pd, g.ph, g.pw),
                                       tw: t.tiles.w, td: td, th0: th0, th1: th1, v: v.pointer, ldv: cols, work: work.pointer)
                    }
                    KernelProfile.measure("wino-gy") {
                        gradientTransform(y + n * g.co * g.outSpatial, channels: g.co, dims: (g.od, g.oh, g.ow), tw: t.tiles.w,
                                          td: td, th0: th0, th1: th1, out: gt.pointer, ld: cols, work: work.pointer)
                    }
                    for f in 0..<64 {
                        BLAS.sgemmOnCallingThread(transB: true, m: g.co, n: g.ci, k: cols, a: gt.pointer + f * g.co * cols, lda: cols,
                                                  b: v.pointer + f * g.ci * cols, ldb: cols, beta: 1, c: hw + f * pairs, ldc: g.ci)
                    }
                }
            }
        }
        KernelProfile.measure("wino-weights") {
            for wk in 1..<workers {
                let src = h.pointer + wk * 64 * pairs
                for i in 0..<(64 * pairs) { h.pointer[i] += src[i] }
            }
            inverseWeightTransform(h.pointer, pairs: pairs, into: w)
        }
    }

    // MARK: the tiled correlation

    /// out (N, cout, outDims) = in (N, cin, inDims) ⋆ (the kernel whose transform is u [f][cout][cin]),
    /// stride 1, tile origin 2t − pad.
    static func tiledCorrelation(n: Int, cin: Int, cout: Int, inDims: (Int, Int, Int), outDims: (Int, Int, Int),
                                 pad: (Int, Int, Int), x: UnsafePointer<Float>, u: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let t = Tiling(out: outDims, cin: cin, cout: cout)
        let inSpatial = inDims.0 * inDims.1 * inDims.2, outSpatial = outDims.0 * outDims.1 * outDims.2
        let tasks = n * t.tasksPerSample
        BLAS.singleThreaded {
            Parallel.forEach(tasks) { task in
                let (s, td, th0, th1) = locate(task, t)
                let cols = (th1 - th0) * t.tiles.w
                let v = ScratchBuffer(count: 64 * cin * cols), m = ScratchBuffer(count: 64 * cout * cols)
                let work = ScratchBuffer(count: workFloats(t))
                KernelProfile.measure("wino-input") {
                    inputTransform(x + s * cin * inSpatial, channels: cin, dims: inDims, pad: pad, tw: t.tiles.w,
                                   td: td, th0: th0, th1: th1, v: v.pointer, ldv: cols, work: work.pointer)
                }
                for f in 0..<64 {
                    BLAS.sgemmOnCallingThread(m: cout, n: cols, k: cin, a: u + f * cout * cin, lda: cin,
                                              b: v.pointer + f * cin * cols, ldb: cols, c: m.pointer + f * cout * cols, ldc: cols)
                }
                KernelProfile.measure("wino-output") {
                    outputTransform(m.pointer, ld: cols, channels: cout, to: y + s * cout * outSpatial, dims: outDims,
                                    tw: t.tiles.w, td: td, th0: th0, th1: th1, work: work.pointer)
                }
            }
        }
    }

    /// Sample, tile depth and tile-row range of a task.
    @inline(__always)
    static func locate(_ task: Int, _ t: Tiling) -> (Int, Int, Int, Int) {
        let s = task / t.tasksPerSample, r = task % t.tasksPerSample
        let td = r / t.chunks, c = r % t.chunks
        let th0 = c * t.rowsPerTask
        return (s, td, th0, min(t.tiles.h, th0 + t.rowsPerTask))
    }

    /// Floats of a task's small work buffer: row transforms of 4 × (2·rows + 2) input rows, plus
    /// 32 tile-row vectors of intermediate stages and one padded input row.
    static func workFloats(_ t: Tiling) -> Int {
        16 * (2 * t.rowsPerTask + 2) * t.tiles.w + 32 * t.tiles.w + 2 * t.tiles.w + 18
    }

    // MARK: transforms (vectorised across the tiles of a tile row)

    typealias V8 = SIMD8<Float>
    @inline(__always) static func load8(_ p: UnsafePointer<Float>) -> V8 { UnsafeRawPointer(p).loadUnaligned(as: V8.self) }
    @inline(__always) static func load8(_ p: UnsafeMutablePointer<Float>) -> V8 { UnsafeRawPointer(p).loadUnaligned(as: V8.self) }
    @inline(__always) static func store8(_ p: UnsafeMutablePointer<Float>, _ v: V8) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self) }

    /// d = Bᵀ s for vectors of length n: (s0 − s2, s1 + s2, s2 − s1, s1 − s3).
    @inline(__always)
    static func bt(_ s0: UnsafeMutablePointer<Float>, _ s1: UnsafeMutablePointer<Float>, _ s2: UnsafeMutablePointer<Float>, _ s3: UnsafeMutablePointer<Float>,
                   _ d0: UnsafeMutablePointer<Float>, _ d1: UnsafeMutablePointer<Float>, _ d2: UnsafeMutablePointer<Float>, _ d3: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let a = load8(s0 + i), b = load8(s1 + i), c = load8(s2 + i), d = load8(s3 + i)
            store8(d0 + i, a - c); store8(d1 + i, b + c); store8(d2 + i, c - b); store8(d3 + i, b - d)
            i += 8
        }
        while i < n {
            let a = s0[i], b = s1[i], c = s2[i], d = s3[i]
            d0[i] = a - c; d1[i] = b + c; d2[i] = c - b; d3[i] = b - d
            i += 1
        }
    }

    /// (d0, d1) = Aᵀ s: (s0 + s1 + s2, s1 − s2 − s3).
    @inline(__always)
    static func at(_ s0: UnsafeMutablePointer<Float>, _ s1: UnsafeMutablePointer<Float>, _ s2: UnsafeMutablePointer<Float>, _ s3: UnsafeMutablePointer<Float>,
                   _ d0: UnsafeMutablePointer<Float>, _ d1: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let a = load8(s0 + i), b = load8(s1 + i), c = load8(s2 + i), d = load8(s3 + i)
            store8(d0 + i, a + b + c); store8(d1 + i, b - c - d)
            i += 8
        }
        while i < n {
            let a = s0[i], b = s1[i], c = s2[i], d = s3[i]
            d0[i] = a + b + c; d1[i] = b - c - d
            i += 1
        }
    }

    /// d = A s for a 2-vector: (s0, s0 + s1, s0 − s1, −s1).
    @inline(__always)
    static func ag(_ s0: UnsafeMutablePointer<Float>, _ s1: UnsafeMutablePointer<Float>,
                   _ d0: UnsafeMutablePointer<Float>, _ d1: UnsafeMutablePointer<Float>, _ d2: UnsafeMutablePointer<Float>, _ d3: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let a = load8(s0 + i), b = load8(s1 + i)
            store8(d0 + i, a); store8(d1 + i, a + b); store8(d2 + i, a - b); store8(d3 + i, -b)
            i += 8
        }
        while i < n {
            let a = s0[i], b = s1[i]
            d0[i] = a; d1[i] = a + b; d2[i] = a - b; d3[i] = -b
            i += 1
        }
    }

    /// V[f][c][j] = (Bᵀ x_tile B)_f for the tiles of tile depth `td` and tile rows th0..<th1 of one
    /// sample `src` (channels, dims); j = (th − th0)·tw + t, rows of V `ldv` apart per (f, c).
    static func inputTransform(_ src: UnsafePointer<Float>, channels: Int, dims: (Int, Int, Int), pad: (Int, Int, Int),
                               tw: Int, td: Int, th0: Int, th1: Int, v: UnsafeMutablePointer<Float>, ldv: Int,
                               work: UnsafeMutablePointer<Float>) {
        let nth = th1 - th0, nrows = 2 * nth + 2
        let plane = dims.1 * dims.2, vol = dims.0 * plane
        // u[a][hr][e][t]: the w-axis transform of input row (d = 2td − pd + a, h = 2th0 − ph + hr)
        let u = work, tmp = work + 16 * nrows * tw, row = tmp + 16 * tw
        let rowLen = 2 * tw + 2
        let lo = max(0, pad.2), hi = min(rowLen, pad.2 + dims.2)
        for c in 0..<channels {
            let sc = src + c * vol
            for a in 0..<4 {
                let d = 2 * td - pad.0 + a
                for hr in 0..<nrows {
                    let h = 2 * th0 - pad.1 + hr
                    let ur = u + (a * nrows + hr) * 4 * tw
                    if d < 0 || d >= dims.0 || h < 0 || h >= dims.1 || lo >= hi { ur.update(repeating: 0, count: 4 * tw); continue }
                    // the row, zero-padded to the tiles' extent
                    if lo > 0 { row.update(repeating: 0, count: lo) }
                    if hi < rowLen { (row + hi).update(repeating: 0, count: rowLen - hi) }
                    (row + lo).update(from: sc + d * plane + h * dims.2 + (lo - pad.2), count: hi - lo)
                    let u0 = ur, u1 = ur + tw, u2 = ur + 2 * tw, u3 = ur + 3 * tw
                    var t = 0
                    while t + 8 <= tw {
                        let p = UnsafeRawPointer(row + 2 * t).loadUnaligned(as: SIMD16<Float>.self)
                        let q = UnsafeRawPointer(row + 2 * t + 2).loadUnaligned(as: SIMD16<Float>.self)
                        let r0 = p.evenHalf, r1 = p.oddHalf, r2 = q.evenHalf, r3 = q.oddHalf
                        store8(u0 + t, r0 - r2); store8(u1 + t, r1 + r2); store8(u2 + t, r2 - r1); store8(u3 + t, r1 - r3)
                        t += 8
                    }
                    while t < tw {
                        let r0 = row[2 * t], r1 = row[2 * t + 1], r2 = row[2 * t + 2], r3 = row[2 * t + 3]
                        u0[t] = r0 - r2; u1[t] = r1 + r2; u2[t] = r2 - r1; u3[t] = r1 - r3
                        t += 1
                    }
                }
            }
            // h then d: tmp[a][β] = Bᵀ over rows 2·lth … 2·lth + 3, then V = Bᵀ over a.
            for lth in 0..<nth {
                for e in 0..<4 {
                    for a in 0..<4 {
                        let s = u + ((a * nrows + 2 * lth) * 4 + e) * tw, st4 = 4 * tw
                        let d = tmp + a * 4 * tw
                        bt(s, s + st4, s + 2 * st4, s + 3 * st4, d, d + tw, d + 2 * tw, d + 3 * tw, tw)
                    }
                    for b in 0..<4 {
                        let s = tmp + b * tw, sa = 4 * tw
                        @inline(__always) func dst(_ al: Int) -> UnsafeMutablePointer<Float> {
                            v + (((al * 4 + b) * 4 + e) * channels + c) * ldv + lth * tw
                        }
                        bt(s, s + sa, s + 2 * sa, s + 3 * sa, dst(0), dst(1), dst(2), dst(3), tw)
                    }
                }
            }
        }
    }

    /// y tiles = Aᵀ M A for channels 0..<channels from M[f][c][j] (rows `ld` apart), clipped to dims.
    static func outputTransform(_ m: UnsafeMutablePointer<Float>, ld: Int, channels: Int, to y: UnsafeMutablePointer<Float>,
                                dims: (Int, Int, Int), tw: Int, td: Int, th0: Int, th1: Int, work: UnsafeMutablePointer<Float>) {
        let nth = th1 - th0
        let plane = dims.1 * dims.2, vol = dims.0 * plane
        let z = work               // z[i][β][e][t]: d done (32 vectors)
        let q = work + 32 * tw     // q[i][j][e][t]: d and h done (16 vectors)
        for c in 0..<channels {
            let yc = y + c * vol
            for lth in 0..<nth {
                @inline(__always) func src(_ f: Int) -> UnsafeMutablePointer<Float> { m + (f * channels + c) * ld + lth * tw }
                for b in 0..<4 { for e in 0..<4 {
                    at(src((0 * 4 + b) * 4 + e), src((1 * 4 + b) * 4 + e), src((2 * 4 + b) * 4 + e), src((3 * 4 + b) * 4 + e),
                       z + ((0 * 4 + b) * 4 + e) * tw, z + ((1 * 4 + b) * 4 + e) * tw, tw)
                }}
                for i in 0..<2 { for e in 0..<4 {
                    let s = z + (i * 16 + e) * tw, sb = 4 * tw
                    at(s, s + sb, s + 2 * sb, s + 3 * sb, q + ((i * 2 + 0) * 4 + e) * tw, q + ((i * 2 + 1) * 4 + e) * tw, tw)
                }}
                let th = th0 + lth
                for i in 0..<2 {
                    let d = 2 * td + i
                    if d >= dims.0 { continue }
                    for j in 0..<2 {
                        let h = 2 * th + j
                        if h >= dims.1 { continue }
                        let q0 = q + (i * 2 + j) * 4 * tw, q1 = q0 + tw, q2 = q0 + 2 * tw, q3 = q0 + 3 * tw
                        let dst = yc + d * plane + h * dims.2
                        // full tiles: both outputs inside the row
                        let full = dims.2 / 2
                        var t = 0
                        while t + 8 <= full {
                            let a = load8(q0 + t), b = load8(q1 + t), cc = load8(q2 + t), dd = load8(q3 + t)
                            var out = SIMD16<Float>()
                            out.evenHalf = a + b + cc
                            out.oddHalf = b - cc - dd
                            UnsafeMutableRawPointer(dst + 2 * t).storeBytes(of: out, as: SIMD16<Float>.self)
                            t += 8
                        }
                        while t < tw {
                            let a = q0[t], b = q1[t], cc = q2[t], dd = q3[t]
                            dst[2 * t] = a + b + cc
                            if 2 * t + 1 < dims.2 { dst[2 * t + 1] = b - cc - dd }
                            t += 1
                        }
                    }
                }
            }
        }
    }

    /// GY[f][c][j] = (A gy_tile Aᵀ)_f for output tiles of tile depth td, rows th0..<th1 (gy zero
    /// outside dims: those outputs do not exist).
    static func gradientTransform(_ gy: UnsafePointer<Float>, channels: Int, dims: (Int, Int, Int), tw: Int,
                                  td: Int, th0: Int, th1: Int, out: UnsafeMutablePointer<Float>, ld: Int,
                                  work: UnsafeMutablePointer<Float>) {
        let nth = th1 - th0
        let plane = dims.1 * dims.2, vol = dims.0 * plane
        let p = work                 // p[i][j][e][t]: w done (16 vectors)
        let r = work + 16 * tw       // r[i][β][e][t]: w and h done (32 vectors)
        let g2 = r + 32 * tw         // g0, g1: even and odd outputs of a row
        for c in 0..<channels {
            let gc = gy + c * vol
            for lth in 0..<nth {
                let th = th0 + lth
                for i in 0..<2 { for j in 0..<2 {
                    let d = 2 * td + i, h = 2 * th + j
                    let g0 = g2, g1 = g2 + tw
                    if d < dims.0 && h < dims.1 {
                        let s = gc + d * plane + h * dims.2
                        for t in 0..<tw {
                            g0[t] = 2 * t < dims.2 ? s[2 * t] : 0
                            g1[t] = 2 * t + 1 < dims.2 ? s[2 * t + 1] : 0
                        }
                    } else {
                        g0.update(repeating: 0, count: 2 * tw)
                    }
                    let dp = p + (i * 2 + j) * 4 * tw
                    ag(g0, g1, dp, dp + tw, dp + 2 * tw, dp + 3 * tw, tw)
                }}
                for i in 0..<2 { for e in 0..<4 {
                    let d0 = r + (i * 16 + e) * tw, sb = 4 * tw
                    ag(p + ((i * 2 + 0) * 4 + e) * tw, p + ((i * 2 + 1) * 4 + e) * tw, d0, d0 + sb, d0 + 2 * sb, d0 + 3 * sb, tw)
                }}
                for b in 0..<4 { for e in 0..<4 {
                    @inline(__always) func dst(_ al: Int) -> UnsafeMutablePointer<Float> { out + (((al * 4 + b) * 4 + e) * channels + c) * ld + lth * tw }
                    ag(r + ((0 * 4 + b) * 4 + e) * tw, r + ((1 * 4 + b) * 4 + e) * tw, dst(0), dst(1), dst(2), dst(3), tw)
                }}
            }
        }
    }

    /// U[f][co][ci] = (G w Gᵀ)_f per axis, in Double. `flipped`: the adjoint's kernel
    /// w'[ci][co][k] = w[co][ci][2 − k] (and U is then [f][ci][co]).
    static func transformWeights(_ w: UnsafePointer<Float>, co: Int, ci: Int, flipped: Bool, into u: UnsafeMutablePointer<Float>) {
        let pairs = co * ci
        Parallel.forRanges(pairs, minChunk: 64) { range in
            var k = [Double](repeating: 0, count: 27), a = [Double](repeating: 0, count: 36), b = [Double](repeating: 0, count: 48)
            var c = [Double](repeating: 0, count: 64)
            for pr in range {
                // the pair in the order U is written: (out, in) = (co, ci), or (ci, co) for the adjoint
                let (o, i) = (pr / (flipped ? co : ci), pr % (flipped ? co : ci))
                let src = flipped ? w + (i * ci + o) * 27 : w + (o * ci + i) * 27
                for j in 0..<27 { k[j] = Double(src[flipped ? 26 - j : j]) }
                // w axis: 3 → 4
                for r in 0..<9 { let s0 = k[r * 3], s1 = k[r * 3 + 1], s2 = k[r * 3 + 2]
                    a[r * 4] = s0; a[r * 4 + 1] = 0.5 * (s0 + s1 + s2); a[r * 4 + 2] = 0.5 * (s0 - s1 + s2); a[r * 4 + 3] = s2 }
                // h axis: [3][3][4] → [3][4][4]
                for dd in 0..<3 { for e in 0..<4 {
                    let s0 = a[(dd * 3) * 4 + e], s1 = a[(dd * 3 + 1) * 4 + e], s2 = a[(dd * 3 + 2) * 4 + e]
                    b[(dd * 4) * 4 + e] = s0; b[(dd * 4 + 1) * 4 + e] = 0.5 * (s0 + s1 + s2)
                    b[(dd * 4 + 2) * 4 + e] = 0.5 * (s0 - s1 + s2); b[(dd * 4 + 3) * 4 + e] = s2
                }}
                // d axis: [3][4][4] → [4][4][4]
                for he in 0..<16 {
                    let s0 = b[he], s1 = b[16 + he], s2 = b[32 + he]
                    c[he] = s0; c[16 + he] = 0.5 * (s0 + s1 + s2); c[32 + he] = 0.5 * (s0 - s1 + s2); c[48 + he] = s2
                }
                for f in 0..<64 { u[f * pairs + pr] = Float(c[f]) }
            }
        }
    }

    /// w[pair][k] = (Gᵀ H G)_k per axis, 4³ → 3³, from H[f][pair].
    static func inverseWeightTransform(_ h: UnsafePointer<Float>, pairs: Int, into w: UnsafeMutablePointer<Float>) {
        Parallel.forRanges(pairs, minChunk: 64) { range in
            var c = [Double](repeating: 0, count: 64), b = [Double](repeating: 0, count: 48), a = [Double](repeating: 0, count: 36)
            for pr in range {
                for f in 0..<64 { c[f] = Double(h[f * pairs + pr]) }
                // Gᵀ per axis: (s0 + ½(s1 + s2), ½(s1 − s2), ½(s1 + s2) + s3); d axis first
                for he in 0..<16 {
                    let s0 = c[he], s1 = c[16 + he], s2 = c[32 + he], s3 = c[48 + he]
                    b[he] = s0 + 0.5 * (s1 + s2); b[16 + he] = 0.5 * (s1 - s2); b[32 + he] = 0.5 * (s1 + s2) + s3
                }
                for dd in 0..<3 { for e in 0..<4 {
                    let s0 = b[(dd * 4) * 4 + e], s1 = b[(dd * 4 + 1) * 4 + e], s2 = b[(dd * 4 + 2) * 4 + e], s3 = b[(dd * 4 + 3) * 4 + e]
                    a[(dd * 3) * 4 + e] = s0 + 0.5 * (s1 + s2); a[(dd * 3 + 1) * 4 + e] = 0.5 * (s1 - s2); a[(dd * 3 + 2) * 4 + e] = 0.5 * (s1 + s2) + s3
                }}
                let dst = w + pr * 27
                for r in 0..<9 {
                    let s0 = a[r * 4], s1 = a[r * 4 + 1], s2 = a[r * 4 + 2], s3 = a[r * 4 + 3]
                    dst[r * 3] = Float(s0 + 0.5 * (s1 + s2)); dst[r * 3 + 1] = Float(0.5 * (s1 - s2)); dst[r * 3 + 2] = Float(0.5 * (s1 + s2) + s3)
                }
            }
        }
    }
}
