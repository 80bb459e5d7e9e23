import Foundation
import PETTensor

/// Separable Gaussian smoothing of (D,H,W) Float volumes, edges replicated (clamp-to-edge), kernel
/// truncated at `truncate`·σ and normalised to sum 1. Used for the displacement noise, the disease
/// maps' soft edges, the scanner PSF and anti-aliasing of the templates. `reference` is the plain
/// direct 3D convolution it is tested against.
public enum GaussianFilter {
    /// Normalised 1D taps for σ in voxels (a single tap of 1 when σ is ~0).
    public static func kernel(sigma: Double, truncate: Double = 3.0) -> [Float] {
        guard sigma > 1e-3 else { return [1] }
        let r = max(1, Int((truncate * sigma).rounded(.up)))
        var k = (-r...r).map { t in exp(-0.5 * Double(t * t) / (sigma * sigma)) }
        let s = k.reduce(0, +)
        k = k.map { $0 / s }
        return k.map(Float.init)
    }

    /// FWHM (mm) → σ (mm).
    public static func sigma(fwhm: Double) -> Double { fwhm / (8 * log(2.0)).squareRoot() }

    /// Smooths `data` in place; `sigmas` are (σ_D, σ_H, σ_W) in voxels.
    public static func smooth(_ data: inout [Float], shape: [Int], sigmas: [Double], truncate: Double = 3.0) {
        precondition(shape.count == 3 && sigmas.count == 3 && data.count == shape[0] * shape[1] * shape[2])
        var scratch = [Float](repeating: 0, count: data.count)
        data.withUnsafeMutableBufferPointer { d in
            scratch.withUnsafeMutableBufferPointer { s in
                smooth(d.baseAddress!, scratch: s.baseAddress!, shape: shape, sigmas: sigmas, truncate: truncate)
            }
        }
    }

    /// Pointer form: `scratch` must hold as many values as `data`.
    public static func smooth(_ data: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                              shape: [Int], sigmas: [Double], truncate: Double = 3.0) {
        let (nd, nh, nw) = (shape[0], shape[1], shape[2])
        let kW = kernel(sigma: sigmas[2], truncate: truncate)
        let kH = kernel(sigma: sigmas[1], truncate: truncate)
        let kD = kernel(sigma: sigmas[0], truncate: truncate)
        if kW.count > 1 { alongW(data, scratch, nd, nh, nw, kW); swapCopy(scratch, data, nd * nh * nw) }
        if kH.count > 1 { alongH(data, scratch, nd, nh, nw, kH); swapCopy(scratch, data, nd * nh * nw) }
        if kD.count > 1 { alongD(data, scratch, nd, nh, nw, kD); swapCopy(scratch, data, nd * nh * nw) }
    }

    @inline(__always) private static func swapCopy(_ from: UnsafeMutablePointer<Float>, _ to: UnsafeMutablePointer<Float>, _ n: Int) {
        to.update(from: from, count: n)
    }

    // W (contiguous): each row is padded by replication into a line buffer, then convolved.
    private static func alongW(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                               _ nd: Int, _ nh: Int, _ nw: Int, _ k: [Float]) {
        let r = k.count / 2
        let rows = nd * nh
        k.withUnsafeBufferPointer { kp in
            Parallel.forRanges(rows, minChunk: 64) { range in
                var line = [Float](repeating: 0, count: nw + 2 * r)
                line.withUnsafeMutableBufferPointer { lb in
                    let l = lb.baseAddress!
                    for row in range {
                        let s = src + row * nw, o = dst + row * nw
                        for t in 0..<r { l[t] = s[0]; l[r + nw + t] = s[nw - 1] }
                        (l + r).update(from: s, count: nw)
                        for x in 0..<nw {
                            var acc: Float = 0
                            for t in 0..<kp.count { acc += kp[t] * l[x + t] }
                            o[x] = acc
                        }
                    }
                }
            }
        }
    }

    // H: for each output row, accumulate whole input rows (the inner loop over W vectorises).
    private static func alongH(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                               _ nd: Int, _ nh: Int, _ nw: Int, _ k: [Float]) {
        let r = k.count / 2
        k.withUnsafeBufferPointer { kp in
            Parallel.forRanges(nd * nh, minChunk: 16) { range in
                for row in range {
                    let z = row / nh, y = row % nh
                    let o = dst + row * nw
                    for x in 0..<nw { o[x] = 0 }
                    for t in 0..<kp.count {
                        let yy = min(max(y + t - r, 0), nh - 1)
                        let s = src + (z * nh + yy) * nw
                        let w = kp[t]
                        for x in 0..<nw { o[x] += w * s[x] }
                    }
                }
            }
        }
    }

    // D: same idea with whole input rows of neighbouring slices.
    private static func alongD(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                               _ nd: Int, _ nh: Int, _ nw: Int, _ k: [Float]) {
        let r = k.count / 2
        k.withUnsafeBufferPointer { kp in
            Parallel.forRanges(nd * nh, minChunk: 16) { range in
                for row in range {
                    let z = row / nh, y = row % nh
                    let o = dst + row * nw
                    for x in 0..<nw { o[x] = 0 }
                    for t in 0..<kp.count {
                        let zz = min(max(z + t - r, 0), nd - 1)
                        let s = src + (zz * nh + y) * nw
                        let w = kp[t]
                        for x in 0..<nw { o[x] += w * s[x] }
                    }
                }
            }
        }
    }

    /// Plain reference: direct 3D convolution with the product kernel, edges replicated.
    public static func reference(_ data: [Float], shape: [Int], sigmas: [Double], truncate: Double = 3.0) -> [Float] {
        let (nd, nh, nw) = (shape[0], shape[1], shape[2])
        let kD = kernel(sigma: sigmas[0], truncate: truncate), kH = kernel(sigma: sigmas[1], truncate: truncate)
        let kW = kernel(sigma: sigmas[2], truncate: truncate)
        let (rD, rH, rW) = (kD.count / 2, kH.count / 2, kW.count / 2)
        var out = [Float](repeating: 0, count: data.count)
        for z in 0..<nd { for y in 0..<nh { for x in 0..<nw {
            var acc: Double = 0
            for a in 0..<kD.count {
                let zz = min(max(z + a - rD, 0), nd - 1)
                for b in 0..<kH.count {
                    let yy = min(max(y + b - rH, 0), nh - 1)
                    for c in 0..<kW.count {
                        let xx = min(max(x + c - rW, 0), nw - 1)
                        acc += Double(kD[a]) * Double(kH[b]) * Double(kW[c]) * Double(data[(zz * nh + yy) * nw + xx])
                    }
                }
            }
            out[(z * nh + y) * nw + x] = Float(acc)
        } } }
        return out
    }

    /// Factor by which the separable kernel reduces the variance of white noise: Π over axes of Σk².
    public static func varianceReduction(sigmas: [Double], truncate: Double = 3.0) -> Double {
        sigmas.map { s in kernel(sigma: s, truncate: truncate).reduce(0.0) { $0 + Double($1) * Double($1) } }.reduce(1, *)
    }
}
