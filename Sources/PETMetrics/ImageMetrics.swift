// Image similarity: PSNR, SSIM (2D and 3D), MS-SSIM, block downsampling.
//
// SSIM follows Wang et al. 2004 and matches skimage.metrics.structural_similarity(x, y,
// gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=L): a Gaussian window
// (σ 1.5, truncated at 3.5σ → 11 taps), K1 0.01, K2 0.03, C1 = (K1·L)², C2 = (K2·L)², and the SSIM map
// averaged over the voxels whose whole window lies inside the image (skimage crops (11−1)/2 at each
// edge). Computation in Double, like skimage's float64.
//
// Public API:
//   ImageMetrics.psnr(real:synthetic:) ; ImageMetrics.ssim(x, y, shape:, dataRange:) -> Double
//   ImageMetrics.msssim(x, y, shape:, dataRange:, scales:) ; ImageMetrics.downsample(values, shape:, factor:)

import Foundation
import PETTensor

public enum MetricsError: Error, CustomStringConvertible, Equatable {
    case badInput(path: String, reason: String)
    case tooSmall(detail: String)
    case mismatch(detail: String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .badInput(p, r): return "\(p): \(r)"
        case let .tooSmall(d): return "input too small: \(d)"
        case let .mismatch(d): return "inputs do not match: \(d)"
        case let .writeFailed(p, r): return "\(p): cannot write: \(r)"
        }
    }
}

public enum ImageMetrics {
    public static let ssimSigma = 1.5, ssimTruncate = 3.5, k1 = 0.01, k2 = 0.03

    /// The paper's PSNR: 10·log10(max(real)² / MSE(real, synthetic)); +∞ when identical.
    public static func psnr(real: [Float], synthetic: [Float]) -> Double {
        precondition(real.count == synthetic.count && !real.isEmpty)
        var mse = 0.0, peak = -Double.infinity
        for i in 0..<real.count {
            let d = Double(real[i]) - Double(synthetic[i])
            mse += d * d
            peak = Swift.max(peak, Double(real[i]))
        }
        mse /= Double(real.count)
        return mse == 0 ? .infinity : 10 * Foundation.log10(peak * peak / mse)
    }

    /// Mean squared error.
    public static func mse(_ a: [Float], _ b: [Float]) -> Double {
        var s = 0.0
        for i in 0..<a.count { let d = Double(a[i]) - Double(b[i]); s += d * d }
        return s / Double(max(1, a.count))
    }

    /// Normalized Gaussian taps exp(−x²/2σ²), radius int(truncate·σ + 0.5) (scipy.ndimage's rule).
    static func gaussianTaps(sigma: Double = ssimSigma, truncate: Double = ssimTruncate) -> [Double] {
        let r = Int(truncate * sigma + 0.5)
        var w = (-r...r).map { Foundation.exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let s = w.reduce(0, +)
        for i in w.indices { w[i] /= s }
        return w
    }

    /// Separable "valid" correlation of an n-D array (last axis fastest) with `taps` along `axes`; each
    /// filtered axis shrinks by taps.count − 1.
    static func filterValid(_ x: [Double], shape: [Int], taps: [Double], axes: [Int]) -> ([Double], [Int]) {
        var cur = x, s = shape
        let t = taps.count
        for ax in axes {
            let outLen = s[ax] - t + 1
            let outer = s[..<ax].reduce(1, *), inner = s[(ax + 1)...].reduce(1, *)
            let len = s[ax]
            var o = [Double](repeating: 0, count: outer * outLen * inner)
            cur.withUnsafeBufferPointer { src in
                o.withUnsafeMutableBufferPointer { dst in
                    let sp = src.baseAddress!, dp = dst.baseAddress!
                    Parallel.forRanges(outer, minChunk: 1) { range in
                        for a in range {
                            for i in 0..<outLen {
                                let dRow = dp + (a * outLen + i) * inner
                                for k in 0..<t {
                                    let w = taps[k]
                                    let sRow = sp + (a * len + i + k) * inner
                                    for c in 0..<inner { dRow[c] += w * sRow[c] }
                                }
                            }
                        }
                    }
                }
            }
            cur = o; s[ax] = outLen
        }
        return (cur, s)
    }

    /// Mean SSIM and mean contrast-structure term over the valid region.
    static func ssimTerms(_ x: [Float], _ y: [Float], shape: [Int], dataRange: Double) throws -> (ssim: Double, cs: Double) {
        let taps = gaussianTaps()
        let axes = shape.indices.filter { shape[$0] > 1 }
        for a in axes where shape[a] < taps.count {
            throw MetricsError.tooSmall(detail: "SSIM needs every image axis ≥ \(taps.count) voxels, got shape \(shape)")
        }
        precondition(x.count == y.count && x.count == shape.reduce(1, *))
        let n = x.count
        var xd = [Double](repeating: 0, count: n), yd = xd, xx = xd, yy = xd, xy = xd
        for i in 0..<n {
            let a = Double(x[i]), b = Double(y[i])
            xd[i] = a; yd[i] = b; xx[i] = a * a; yy[i] = b * b; xy[i] = a * b
        }
        let ux = filterValid(xd, shape: shape, taps: taps, axes: axes).0
        let uy = filterValid(yd, shape: shape, taps: taps, axes: axes).0
        let uxx = filterValid(xx, shape: shape, taps: taps, axes: axes).0
        let uyy = filterValid(yy, shape: shape, taps: taps, axes: axes).0
        let uxy = filterValid(xy, shape: shape, taps: taps, axes: axes).0
        let c1 = (k1 * dataRange) * (k1 * dataRange), c2 = (k2 * dataRange) * (k2 * dataRange)
        var sSum = 0.0, csSum = 0.0
        for i in 0..<ux.count {
            let vx = uxx[i] - ux[i] * ux[i], vy = uyy[i] - uy[i] * uy[i], vxy = uxy[i] - ux[i] * uy[i]
            let cs = (2 * vxy + c2) / (vx + vy + c2)
            let l = (2 * ux[i] * uy[i] + c1) / (ux[i] * ux[i] + uy[i] * uy[i] + c1)
            sSum += l * cs; csSum += cs
        }
        return (sSum / Double(ux.count), csSum / Double(ux.count))
    }

    /// Mean SSIM of two same-shape 2-D or 3-D arrays (see the file comment for the exact definition).
    public static func ssim(_ x: [Float], _ y: [Float], shape: [Int], dataRange: Double) throws -> Double {
        try ssimTerms(x, y, shape: shape, dataRange: dataRange).ssim
    }

    /// Multi-scale SSIM (Wang, Simoncelli & Bovik 2003): Π_{j<M} cs_j^{w_j} · ssim_M^{w_M}, 2× block
    /// averaging between scales, weights the first `scales` of (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    /// renormalized to sum 1; negative cs values are clamped to 0 (anti-correlated = no similarity).
    public static func msssim(_ x: [Float], _ y: [Float], shape: [Int], dataRange: Double, scales: Int = 3) throws -> Double {
        let all = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
        let m = max(1, min(scales, all.count))
        let w = Array(all[0..<m]), ws = w.reduce(0, +)
        var a = x, b = y, s = shape
        var result = 1.0
        for j in 0..<m {
            let t = try ssimTerms(a, b, shape: s, dataRange: dataRange)
            let term = j == m - 1 ? t.ssim : t.cs
            result *= Foundation.pow(Swift.max(0, term), w[j] / ws)
            if j < m - 1 {
                (a, _) = downsample(a, shape: s, factor: 2)
                (b, s) = downsample(b, shape: s, factor: 2)
            }
        }
        return result
    }

    /// Block average by an integer factor along every axis of size > 1 (trailing partial blocks dropped).
    public static func downsample(_ x: [Float], shape: [Int], factor f: Int) -> ([Float], [Int]) {
        guard f > 1 else { return (x, shape) }
        precondition(shape.count == 3 || shape.count == 2)
        let s3 = shape.count == 3 ? shape : [1] + shape
        let fd = s3[0] > 1 ? f : 1
        let o = [max(1, s3[0] / fd), max(1, s3[1] / f), max(1, s3[2] / f)]
        var out = [Float](repeating: 0, count: o[0] * o[1] * o[2])
        let norm = 1 / Float(fd * f * f)
        for d in 0..<o[0] { for h in 0..<o[1] { for w in 0..<o[2] {
            var acc: Float = 0
            for dd in 0..<fd { for hh in 0..<f {
                let base = ((d * fd + dd) * s3[1] + h * f + hh) * s3[2] + w * f
                for ww in 0..<f { acc += x[base + ww] }
            } }
            out[(d * o[1] + h) * o[2] + w] = acc * norm
        } } }
        return (out, shape.count == 3 ? o : [o[1], o[2]])
    }
}
