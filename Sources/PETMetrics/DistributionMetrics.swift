// Distribution distances between a real and a synthetic set of feature vectors: maximum mean
// discrepancy (Gaussian kernel, median bandwidth, permutation p-value) and the Fréchet distance.
//
// Public API:
//   DistributionMetrics.mmd(real, synthetic, permutations:, seed:) -> MMDResult
//   DistributionMetrics.frechet(real, synthetic) -> Double ; SymmetricEigen.decompose(matrix, n)

import Foundation
import PETTensor

public struct MMDResult: Codable, Equatable {
    /// Unbiased estimate of MMD² (can be slightly negative when the sets agree).
    public var mmd2: Double
    /// Biased (V-statistic) MMD², exactly 0 for identical sets.
    public var mmd2Biased: Double
    /// Kernel bandwidth σ of k(x, y) = exp(−‖x − y‖² / 2σ²): the median pairwise distance of the pooled set.
    public var sigma: Double
    /// Permutation p-value of the unbiased statistic (fraction of label permutations at least as large).
    public var pValue: Double
    public var permutations: Int
}

public enum DistributionMetrics {
    /// Squared Euclidean distances between all pairs of the pooled rows.
    static func pairwiseSquared(_ rows: [[Float]]) -> [Double] {
        let n = rows.count
        var d = [Double](repeating: 0, count: n * n)
        d.withUnsafeMutableBufferPointer { dp in
            let p = dp.baseAddress!
            Parallel.forEach(n) { i in
                let a = rows[i]
                for j in (i + 1)..<max(i + 1, n) {
                    let b = rows[j]
                    var s: Float = 0, acc = 0.0
                    // Float partial sums in blocks keep the speed; Double across blocks keeps the precision.
                    var k = 0
                    while k < a.count {
                        let end = min(a.count, k + 256)
                        s = 0
                        for t in k..<end { let e = a[t] - b[t]; s += e * e }
                        acc += Double(s); k = end
                    }
                    p[i * n + j] = acc; p[j * n + i] = acc
                }
            }
        }
        return d
    }

    /// Gaussian-kernel MMD between two sets of equal-length vectors.
    public static func mmd(_ x: [[Float]], _ y: [[Float]], permutations: Int = 200, seed: UInt64 = 1) -> MMDResult {
        let n = x.count, m = y.count
        guard n >= 2, m >= 2 else { return MMDResult(mmd2: .nan, mmd2Biased: .nan, sigma: .nan, pValue: .nan, permutations: 0) }
        let rows = x + y, total = n + m
        let d2 = pairwiseSquared(rows)
        var off: [Double] = []
        off.reserveCapacity(total * (total - 1) / 2)
        for i in 0..<total { for j in (i + 1)..<total { off.append(d2[i * total + j]) } }
        var sigma2 = Statistics.percentile(off, 50)
        if !(sigma2 > 0) { sigma2 = 1 }
        let k = d2.map { Foundation.exp(-$0 / (2 * sigma2)) }
        func stat(_ isX: [Bool]) -> (Double, Double) {
            var sxx = 0.0, syy = 0.0, sxy = 0.0, dxx = 0.0, dyy = 0.0
            for i in 0..<total {
                for j in 0..<total {
                    let v = k[i * total + j]
                    if isX[i] && isX[j] { if i == j { dxx += v } else { sxx += v } } else if !isX[i] && !isX[j] { if i == j { dyy += v } else { syy += v } } else { sxy += v }
                }
            }
            let nn = Double(n), mm = Double(m)
            let unbiased = sxx / (nn * (nn - 1)) + syy / (mm * (mm - 1)) - sxy / (nn * mm)
            let biased = (sxx + dxx) / (nn * nn) + (syy + dyy) / (mm * mm) - sxy / (nn * mm)
            return (unbiased, biased)
        }
        let labels = (0..<total).map { $0 < n }
        let (u, b) = stat(labels)
        var rng = PETRandom(seed: seed)
        var atLeast = 0
        for _ in 0..<permutations {
            var l = labels
            rng.shuffle(&l)
            if stat(l).0 >= u { atLeast += 1 }
        }
        return MMDResult(mmd2: u, mmd2Biased: max(0, b), sigma: sigma2.squareRoot(),
                         pValue: Double(atLeast + 1) / Double(permutations + 1), permutations: permutations)
    }

    /// Mean and covariance (n − 1) of rows.
    static func meanCovariance(_ rows: [[Float]]) -> ([Double], [Double]) {
        let n = rows.count, d = rows[0].count
        var mu = [Double](repeating: 0, count: d)
        for r in rows { for j in 0..<d { mu[j] += Double(r[j]) } }
        for j in 0..<d { mu[j] /= Double(n) }
        var c = [Double](repeating: 0, count: d * d)
        for r in rows {
            for a in 0..<d {
                let da = Double(r[a]) - mu[a]
                for b in a..<d { c[a * d + b] += da * (Double(r[b]) - mu[b]) }
            }
        }
        for a in 0..<d { for b in a..<d { c[a * d + b] /= Double(max(1, n - 1)); c[b * d + a] = c[a * d + b] } }
        return (mu, c)
    }

    /// Fréchet distance between Gaussians fitted to two sets:
    /// ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^½ Σ₂ Σ₁^½)^½ (the symmetric form of tr (Σ₁Σ₂)^½).
    public static func frechet(_ x: [[Float]], _ y: [[Float]]) -> Double {
        guard x.count >= 2, y.count >= 2, let d = x.first?.count, d == y.first?.count else { return .nan }
        let (m1, s1) = meanCovariance(x), (m2, s2) = meanCovariance(y)
        var dist = 0.0
        for j in 0..<d { dist += (m1[j] - m2[j]) * (m1[j] - m2[j]) }
        let root1 = SymmetricEigen.function(s1, d) { Swift.max(0, $0).squareRoot() }
        let inner = multiply(multiply(root1, s2, d), root1, d)
        let e = SymmetricEigen.decompose(inner, d).values
        let trRoot = e.reduce(0) { $0 + Swift.max(0, $1).squareRoot() }
        var tr1 = 0.0, tr2 = 0.0
        for j in 0..<d { tr1 += s1[j * d + j]; tr2 += s2[j * d + j] }
        return Swift.max(0, dist + tr1 + tr2 - 2 * trRoot)
    }

    static func multiply(_ a: [Double], _ b: [Double], _ n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for k in 0..<n { let v = a[i * n + k]; if v == 0 { continue }; for j in 0..<n { c[i * n + j] += v * b[k * n + j] } } }
        return c
    }
}

/// Eigen-decomposition of a real symmetric matrix by cyclic Jacobi rotations (small matrices: features).
public enum SymmetricEigen {
    /// Eigenvalues and column eigenvectors (row-major n×n, column j ↔ values[j]).
    public static func decompose(_ matrix: [Double], _ n: Int) -> (values: [Double], vectors: [Double]) {
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<max(p + 1, n) { off += a[p * n + q] * a[p * n + q] } }
            if off < 1e-22 * Swift.max(1, (0..<n).reduce(0) { $0 + a[$1 * n + $1] * a[$1 * n + $1] }) { break }
            for p in 0..<n {
                for q in (p + 1)..<max(p + 1, n) {
                    let apq = a[p * n + q]
                    if abs(apq) < 1e-300 { continue }
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k * n + p], vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq
                        v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<n).map { a[$0 * n + $0] }, v)
    }

    /// f(A) = V f(Λ) Vᵀ for symmetric A.
    public static func function(_ matrix: [Double], _ n: Int, _ f: (Double) -> Double) -> [Double] {
        let (vals, v) = decompose(matrix, n)
        let fv = vals.map(f)
        var out = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n {
            var s = 0.0
            for k in 0..<n { s += v[i * n + k] * fv[k] * v[j * n + k] }
            out[i * n + j] = s
        } }
        return out
    }
}
