import Foundation

// FFT path for stride-1 convolutions: overlap-save tiles, FFTW real-to-complex transforms, and one
// small complex GEMM per frequency across channels (OpenBLAS cgemm).
//   x: (N, Ci, ID, IH, IW)   w: (Co, Ci, KD, KH, KW)   y: (N, Co, OD, OH, OW),  O = I + 2p − k + 1
// Per axis an FFT size F is chosen and the tiled volume is cut into tiles of T = F − k + 1, so that
// each tile's circular correlation has no wrap-around:
//   forward   y[o0+t]   = IFFT( conj(W) · X_b )[t],        X_b = x[o0 − p ..< o0 − p + F]
//   adjoint   x[i0+t]   = IFFT( W · GY_b )[t + k − 1],      GY_b = gy[i0 + p − k + 1 ..< … + F]
//   weight    w[j]     += IFFT( conj(GY_t) · X_b )[j],       GY_t = gy tile zero-padded to F
// Weight spectra are stored conjugated, frequency-major (Co×Ci per frequency); tile spectra
// frequency-major too (channels × tile columns), so every frequency is one cgemm. Memory is bounded:
// all tiles of all samples are columns, processed in groups so the spectra stay within
// `options.columnLimitBytes` (the same scratch limit as the vol2col buffer); the FFT size is reduced
// until the weight spectra fit.

public enum Conv3dFFT: ConvKernel {

    /// Sizes FFTW transforms fast: 2^a·3^b·5^c·7^d.
    static let fastSizes: [Int] = {
        var s: [Int] = []
        for n in 2...256 {
            var m = n
            for p in [2, 3, 5, 7] { while m % p == 0 { m /= p } }
            if m == 1 { s.append(n) }
        }
        return s
    }()

    struct Plan {
        var F: [Int]          // FFT size per axis
        var T: [Int]          // tile size per axis
        var tiles: [Int]      // tiles per axis
        var tileCount: Int { tiles[0] * tiles[1] * tiles[2] }
        var complexCount: Int { F[0] * F[1] * (F[2] / 2 + 1) }
        var groupColumns: Int // tile columns (sample × tile) per spectra group
    }

    /// Calls that ran on the FFT path, and calls that had no plan fitting the scratch limit and fell
    /// back to im2col: a test that forces FFT asserts it really ran (a fallback is silent otherwise).
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

    public static func applies(_ g: ConvGeometry) -> Bool {
        g.isStrideOne && g.kernelVolume > 1 && plan(g, role: .correlate, options: .automatic) != nil
    }

    /// The tiling of the volume a role tiles: the output for forward and weight, the input for the adjoint.
    static func plan(_ g: ConvGeometry, role: ConvDispatch.Role, options: ConvOptions) -> Plan? {
        guard g.isStrideOne else { return nil }
        let extent = role == .adjoint ? [g.id, g.ih, g.iw] : [g.od, g.oh, g.ow]
        let k = [g.kd, g.kh, g.kw]
        let limit = options.columnLimitBytes
        for cap in [128, 96, 64, 48, 40, 32, 24, 16, 12, 8] {
            var F = [0, 0, 0], T = [0, 0, 0], tiles = [0, 0, 0]
            var ok = true
            for a in 0..<3 {
                let full = extent[a] + k[a] - 1
                var best: (cost: Int, f: Int)? = nil
                for f in fastSizes where f >= k[a] && f <= cap {
                    let t = f - k[a] + 1
                    let n = (extent[a] + t - 1) / t
                    let cost = n * f
                    if best == nil || cost < best!.cost { best = (cost, f) }
                    if f >= full { break }   // one tile already covers the axis
                }
                guard let b = best else { ok = false; break }
                F[a] = b.f; T[a] = b.f - k[a] + 1; tiles[a] = (extent[a] + T[a] - 1) / T[a]
            }
            if !ok { continue }
            let fc = F[0] * F[1] * (F[2] / 2 + 1)
            let weightBytes = g.co * g.ci * fc * 8
            let perColumn = (g.ci + g.co) * fc * 8
            guard weightBytes + perColumn <= limit else { continue }
            let columns = g.n * tiles[0] * tiles[1] * tiles[2]
            let group = max(1, min(columns, (limit - weightBytes) / perColumn))
            return Plan(F: F, T: T, tiles: tiles, groupColumns: group)
        }
        return nil
    }

    /// Cost model (seconds), calibrated with `petgan bench conv` on the reference machine.
    static func estimatedSeconds(_ g: ConvGeometry, role: ConvDispatch.Role) -> Double {
        guard let p = plan(g, role: role, options: .automatic) else { return .infinity }
        let f3 = Double(p.F[0] * p.F[1] * p.F[2])
        let fftFlops = 2.5 * f3 * log2(f3)
        let cols = Double(g.n * p.tileCount)
        let transforms = Double(g.ci + g.co) * cols + Double(g.co * g.ci)
        let threads = Double(Parallel.threads)
        let tFFT = transforms * fftFlops / 5e9 / threads
        let fc = Double(p.complexCount)
        let groups = (cols / Double(p.groupColumns)).rounded(.up)
        let tMul = 8 * Double(g.co * g.ci) * cols * fc / 40e9 + fc * groups * 1.5e-6 / threads
        let tMove = Double(g.ci + g.co) * cols * fc * 16 / 4e9
        return tFFT + tMul + tMove
    }

    // MARK: kernels

    public static func correlate(_ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, options: ConvOptions) {
        guard let p = plan(g, role: .correlate, options: options) else {
            count(ran: false)
            return Conv3dIm2col.correlate(g, x: x, w: w, y: y, options: options)
        }
        count(ran: true)
        let fft = FFT3D.plan(p.F)
        let ws = weightSpectra(g, w: w, fft: fft)
        let fc = fft.complexCount
        let columns = g.n * p.tileCount
        let inSpec = ScratchBuffer(count: 2 * fc * g.ci * p.groupColumns)
        let outSpec = ScratchBuffer(count: 2 * fc * g.co * p.groupColumns)
        var c0 = 0
        while c0 < columns {
            let nc = min(p.groupColumns, columns - c0)
            // spectra of the input blocks: [f][ci][column]
            transformBlocks(fft, channels: g.ci, columns: nc, into: inSpec.pointer) { ci, j, real in
                let (n, origin) = tileOrigin(p, column: c0 + j)
                extract(x + (n * g.ci + ci) * g.inSpatial, dims: [g.id, g.ih, g.iw],
                        start: [origin[0] - g.pd, origin[1] - g.ph, origin[2] - g.pw], length: p.F, F: p.F, into: real)
            }
            KernelProfile.measure("fft-cgemm") {
                BLAS.singleThreaded {
                    Parallel.forRanges(fc, minChunk: 16) { range in
                        for f in range {
                            BLAS.cgemm(m: g.co, n: nc, k: g.ci, a: ws.pointer + 2 * f * g.co * g.ci, lda: g.ci,
                                       b: inSpec.pointer + 2 * f * g.ci * nc, ldb: nc, c: outSpec.pointer + 2 * f * g.co * nc, ldc: nc)
                        }
                    }
                }
            }
            invertBlocks(fft, channels: g.co, columns: nc, from: outSpec.pointer) { co, j, real in
                let (n, origin) = tileOrigin(p, column: c0 + j)
                writeTile(real, F: p.F, offset: [0, 0, 0], T: p.T, to: y + (n * g.co + co) * g.outSpatial,
                          dims: [g.od, g.oh, g.ow], origin: origin, scale: 1 / Float(fft.realCount))
            }
            c0 += nc
        }
    }

    public static func correlateAdjoint(_ g: ConvGeometry, y: UnsafePointer<Float>, w: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>, options: ConvOptions) {
        guard let p = plan(g, role: .adjoint, options: options) else {
            count(ran: false)
            return Conv3dIm2col.correlateAdjoint(g, y: y, w: w, x: x, options: options)
        }
        count(ran: true)
        let fft = FFT3D.plan(p.F)
        let ws = weightSpectra(g, w: w, fft: fft)
        let fc = fft.complexCount
        let columns = g.n * p.tileCount
        let inSpec = ScratchBuffer(count: 2 * fc * g.co * p.groupColumns)
        let outSpec = ScratchBuffer(count: 2 * fc * g.ci * p.groupColumns)
        let off = [g.kd - 1, g.kh - 1, g.kw - 1]
        var c0 = 0
        while c0 < columns {
            let nc = min(p.groupColumns, columns - c0)
            transformBlocks(fft, channels: g.co, columns: nc, into: inSpec.pointer) { co, j, real in
                let (n, origin) = tileOrigin(p, column: c0 + j)
                extract(y + (n * g.co + co) * g.outSpatial, dims: [g.od, g.oh, g.ow],
                        start: [origin[0] + g.pd - off[0], origin[1] + g.ph - off[1], origin[2] + g.pw - off[2]],
                        length: p.F, F: p.F, into: real)
            }
            KernelProfile.measure("fft-cgemm") {
                BLAS.singleThreaded {
                    Parallel.forRanges(fc, minChunk: 16) { range in
                        for f in range {
                            // GX_f (Ci×C) = conj(Wc_f)ᵀ · GY_f
                            BLAS.cgemm(conjTransA: true, m: g.ci, n: nc, k: g.co, a: ws.pointer + 2 * f * g.co * g.ci, lda: g.ci,
                                       b: inSpec.pointer + 2 * f * g.co * nc, ldb: nc, c: outSpec.pointer + 2 * f * g.ci * nc, ldc: nc)
                        }
                    }
                }
            }
            invertBlocks(fft, channels: g.ci, columns: nc, from: outSpec.pointer) { ci, j, real in
                let (n, origin) = tileOrigin(p, column: c0 + j)
                writeTile(real, F: p.F, offset: off, T: p.T, to: x + (n * g.ci + ci) * g.inSpatial,
                          dims: [g.id, g.ih, g.iw], origin: origin, scale: 1 / Float(fft.realCount))
            }
            c0 += nc
        }
    }

    public static func weightGradient(_ g: ConvGeometry, x: UnsafePointer<Float>, y: UnsafePointer<Float>, w: UnsafeMutablePointer<Float>, options: ConvOptions) {
        guard let p = plan(g, role: .weight, options: options) else {
            count(ran: false)
            return Conv3dIm2col.weightGradient(g, x: x, y: y, w: w, options: options)
        }
        count(ran: true)
        let fft = FFT3D.plan(p.F)
        let fc = fft.complexCount
        let columns = g.n * p.tileCount
        let xSpec = ScratchBuffer(count: 2 * fc * g.ci * p.groupColumns)
        let ySpec = ScratchBuffer(count: 2 * fc * g.co * p.groupColumns)
        let hSpec = ScratchBuffer(count: 2 * fc * g.co * g.ci)   // H_f = Σ GY_f · X_fᴴ (Co×Ci)
        var c0 = 0
        while c0 < columns {
            let nc = min(p.groupColumns, columns - c0)
            transformBlocks(fft, channels: g.ci, columns: nc, into: xSpec.pointer) { ci, j, real in
                let (n, origin) = tileOrigin(p, column: c0 + j)
                extract(x + (n * g.ci + ci) * g.inSpatial, dims: [g.id, g.ih, g.iw],
                        start: [origin[0] - g.pd, origin[1] - g.ph, origin[2] - g.pw], length: p.F, F: p.F, into: real)
            }
            transformBlocks(fft, channels: g.co, columns: nc, into: ySpec.pointer) { co, j, real in
                let (n, origin) = tileOrigin(p, column: c0 + j)
                extract(y + (n * g.co + co) * g.outSpatial, dims: [g.od, g.oh, g.ow], start: origin, length: p.T, F: p.F, into: real)
            }
            let first = c0 == 0
            KernelProfile.measure("fft-cgemm") {
                BLAS.singleThreaded {
                    Parallel.forRanges(fc, minChunk: 16) { range in
                        for f in range {
                            BLAS.cgemm(conjTransB: true, m: g.co, n: g.ci, k: nc, a: ySpec.pointer + 2 * f * g.co * nc, lda: nc,
                                       b: xSpec.pointer + 2 * f * g.ci * nc, ldb: nc, accumulate: !first,
                                       c: hSpec.pointer + 2 * f * g.co * g.ci, ldc: g.ci)
                        }
                    }
                }
            }
            c0 += nc
        }
        // w[co,ci] = IFFT(conj(H))[0..<k]  (conj: the correlation needs conj(GY)·X = conj(GY·Xᴴ));
        // only the k-corner of each inverse is needed, so the pruned kernel transform does it.
        let K = g.kernelVolume, pairs = g.co * g.ci
        let kfft = KernelFFT.plan(F: p.F, k: [g.kd, g.kh, g.kw])
        let scale = 1 / Float(fft.realCount)
        KernelProfile.measure("fft-inverse") {
            let chunk = 16
            Parallel.forEach((pairs + chunk - 1) / chunk) { blk in
                let p0 = blk * chunk, nb = min(chunk, pairs - p0)
                let spec = ScratchBuffer(count: 2 * fc * nb), rows = ScratchBuffer(count: g.kh * p.F[2])
                for f in 0..<fc {
                    let src = hSpec.pointer + 2 * (f * pairs + p0)
                    for j in 0..<nb { spec.pointer[2 * (fc * j + f)] = src[2 * j]; spec.pointer[2 * (fc * j + f) + 1] = -src[2 * j + 1] }
                }
                for j in 0..<nb {
                    let dst = w + (p0 + j) * K
                    kfft.inverseCorner(spectrum: spec.pointer + 2 * fc * j, kernel: dst, rows: rows.pointer)
                    for i in 0..<K { dst[i] *= scale }
                }
            }
        }
    }

    // MARK: pieces

    /// Conjugated weight spectra, frequency-major: [f][co][ci]. Forward and adjoint of one training
    /// step use the same weights, so the last spectra are kept, keyed by the FFT size and a hash of
    /// the weight values (a changed weight, e.g. after an optimizer step, gives a new hash).
    static func weightSpectra(_ g: ConvGeometry, w: UnsafePointer<Float>, fft: FFT3D) -> ScratchBuffer {
        let fc = fft.complexCount, pairs = g.co * g.ci, K = g.kernelVolume
        let key = SpectraKey(dims: fft.dims, kernel: [g.kd, g.kh, g.kw], pairs: pairs, hash: contentHash(w, count: pairs * K))
        spectraLock.lock()
        if let c = cachedSpectra, c.key == key { spectraLock.unlock(); return c.buffer }
        spectraLock.unlock()
        let ws = ScratchBuffer(count: 2 * fc * pairs)
        let kfft = KernelFFT.plan(F: fft.dims, k: [g.kd, g.kh, g.kw])
        KernelProfile.measure("fft-weights") {
            let chunk = 16
            Parallel.forEach((pairs + chunk - 1) / chunk) { blk in
                let p0 = blk * chunk, p1 = min(pairs, p0 + chunk), nb = p1 - p0
                let spec = ScratchBuffer(count: 2 * fc * nb), rows = ScratchBuffer(count: g.kh * fft.dims[2])
                for j in 0..<nb { kfft.forward(kernel: w + (p0 + j) * K, spectrum: spec.pointer + 2 * fc * j, rows: rows.pointer) }
                // interleave nb spectra into the frequency-major layout, conjugated
                for f in 0..<fc {
                    let dst = ws.pointer + 2 * (f * pairs + p0)
                    for j in 0..<nb {
                        dst[2 * j] = spec.pointer[2 * (fc * j + f)]
                        dst[2 * j + 1] = -spec.pointer[2 * (fc * j + f) + 1]
                    }
                }
            }
        }
        spectraLock.lock(); cachedSpectra = (key, ws); spectraLock.unlock()
        return ws
    }

    struct SpectraKey: Equatable { var dims: [Int]; var kernel: [Int]; var pairs: Int; var hash: UInt64 }
    nonisolated(unsafe) static var cachedSpectra: (key: SpectraKey, buffer: ScratchBuffer)?
    static let spectraLock = NSLock()

    /// Drops the cached weight spectra (frees their memory).
    public static func clearCache() { spectraLock.lock(); cachedSpectra = nil; spectraLock.unlock() }

    /// 64-bit FNV-1a over the bit patterns, 4 lanes at a time.
    static func contentHash(_ p: UnsafePointer<Float>, count: Int) -> UInt64 {
        var h: (UInt64, UInt64, UInt64, UInt64) = (0xcbf29ce484222325, 0x84222325cbf29ce4, 0x9e3779b97f4a7c15, 0x7f4a7c159e3779b9)
        let prime: UInt64 = 0x100000001b3
        let u = UnsafeRawPointer(p).assumingMemoryBound(to: UInt32.self)
        var i = 0
        while i + 4 <= count {
            h.0 = (h.0 ^ UInt64(u[i])) &* prime; h.1 = (h.1 ^ UInt64(u[i + 1])) &* prime
            h.2 = (h.2 ^ UInt64(u[i + 2])) &* prime; h.3 = (h.3 ^ UInt64(u[i + 3])) &* prime
            i += 4
        }
        while i < count { h.0 = (h.0 ^ UInt64(u[i])) &* prime; i += 1 }
        return (h.0 ^ (h.1 &* 31) ^ (h.2 &* 961) ^ (h.3 &* 29791)) ^ UInt64(count)
    }

    /// Fills `fill(channel, column, real)` blocks, transforms them, and stores the spectra
    /// frequency-major: spectra[f][channel·columns + column]. Workers take runs of 16 rows so the
    /// frequency-major writes are contiguous runs rather than single scattered elements.
    static func transformBlocks(_ fft: FFT3D, channels: Int, columns: Int, into spectra: UnsafeMutablePointer<Float>,
                                fill: (Int, Int, UnsafeMutablePointer<Float>) -> Void) {
        let fc = fft.complexCount, rows = channels * columns, run = 16
        KernelProfile.measure("fft-forward") {
            Parallel.forEach((rows + run - 1) / run) { blk in
                let r0 = blk * run, nr = min(run, rows - r0)
                let real = ScratchBuffer(count: fft.realCount), spec = ScratchBuffer(count: 2 * fc * nr)
                for j in 0..<nr {
                    fill((r0 + j) / columns, (r0 + j) % columns, real.pointer)
                    fft.forward(real.pointer, spec.pointer + 2 * fc * j)
                }
                let s = spec.pointer
                for f in 0..<fc {
                    let dst = spectra + 2 * (f * rows + r0)
                    for j in 0..<nr { dst[2 * j] = s[2 * (fc * j + f)]; dst[2 * j + 1] = s[2 * (fc * j + f) + 1] }
                }
            }
        }
    }

    /// Gathers runs of (channel, column) spectra, inverse-transforms them and hands each real block
    /// to `store`.
    static func invertBlocks(_ fft: FFT3D, channels: Int, columns: Int, from spectra: UnsafePointer<Float>,
                             store: (Int, Int, UnsafeMutablePointer<Float>) -> Void) {
        let fc = fft.complexCount, rows = channels * columns, run = 16
        KernelProfile.measure("fft-inverse") {
            Parallel.forEach((rows + run - 1) / run) { blk in
                let r0 = blk * run, nr = min(run, rows - r0)
                let real = ScratchBuffer(count: fft.realCount), spec = ScratchBuffer(count: 2 * fc * nr)
                let s = spec.pointer
                for f in 0..<fc {
                    let src = spectra + 2 * (f * rows + r0)
                    for j in 0..<nr { s[2 * (fc * j + f)] = src[2 * j]; s[2 * (fc * j + f) + 1] = src[2 * j + 1] }
                }
                for j in 0..<nr {
                    fft.inverse(s + 2 * fc * j, real.pointer)
                    store((r0 + j) / columns, (r0 + j) % columns, real.pointer)
                }
            }
        }
    }

    /// Sample and tile origin (per axis) of a tile column.
    @inline(__always)
    static func tileOrigin(_ p: Plan, column: Int) -> (Int, [Int]) {
        let n = column / p.tileCount, t = column % p.tileCount
        let t0 = t / (p.tiles[1] * p.tiles[2]), t1 = (t / p.tiles[2]) % p.tiles[1], t2 = t % p.tiles[2]
        return (n, [t0 * p.T[0], t1 * p.T[1], t2 * p.T[2]])
    }

    /// Copies src[start ..< start + length] (zero outside the volume and past `length`) into an F block.
    static func extract(_ src: UnsafePointer<Float>, dims: [Int], start: [Int], length: [Int], F: [Int],
                        into dst: UnsafeMutablePointer<Float>) {
        dst.update(repeating: 0, count: F[0] * F[1] * F[2])
        let l0 = min(length[0], F[0]), l1 = min(length[1], F[1]), l2 = min(length[2], F[2])
        let e0 = max(0, -start[2]), e1 = min(l2, dims[2] - start[2])
        if e1 <= e0 { return }
        for a in 0..<l0 {
            let sd = start[0] + a
            if sd < 0 || sd >= dims[0] { continue }
            for b in 0..<l1 {
                let sh = start[1] + b
                if sh < 0 || sh >= dims[1] { continue }
                let s = src + (sd * dims[1] + sh) * dims[2] + start[2]
                (dst + (a * F[1] + b) * F[2]).advanced(by: e0).update(from: s + e0, count: e1 - e0)
            }
        }
    }

    /// Writes the T block of `real` starting at `offset` to dst at `origin`, clipped to `dims`, scaled.
    static func writeTile(_ real: UnsafePointer<Float>, F: [Int], offset: [Int], T: [Int], to dst: UnsafeMutablePointer<Float>,
                          dims: [Int], origin: [Int], scale: Float) {
        let n0 = min(T[0], dims[0] - origin[0]), n1 = min(T[1], dims[1] - origin[1]), n2 = min(T[2], dims[2] - origin[2])
        if n0 <= 0 || n1 <= 0 || n2 <= 0 { return }
        for a in 0..<n0 {
            for b in 0..<n1 {
                let s = real + ((offset[0] + a) * F[1] + offset[1] + b) * F[2] + offset[2]
                let d = dst + ((origin[0] + a) * dims[1] + origin[1] + b) * dims[2] + origin[2]
                for e in 0..<n2 { d[e] = s[e] * scale }
            }
        }
    }
}
