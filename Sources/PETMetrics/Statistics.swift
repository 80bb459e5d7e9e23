// Statistics for the evaluation: special functions (regularized incomplete beta by Lentz's continued
// fraction), Student t and F tail probabilities, Welch's t-test, one-way ANOVA, binomial confidence
// intervals (Clopper–Pearson, Wilson), ROC AUC (Mann–Whitney with ties), summaries.
//
// Public API:
//   Statistics.regularizedBeta(x, a, b) ; Statistics.tTwoSidedP(t, df) ; Statistics.fSurvival(F, d1, d2)
//   Statistics.welch(a, b) -> WelchResult ; Statistics.anova([[Double]]) -> AnovaResult
//   Statistics.clopperPearson(k, n, level: 0.95) ; Statistics.wilson(k, n) ; Statistics.auc(scores, labels)

import Foundation

public struct WelchResult: Codable, Equatable {
    public var t: Double, df: Double, p: Double
    public var meanA: Double, meanB: Double
}

public struct AnovaResult: Codable, Equatable {
    public var f: Double, dfBetween: Double, dfWithin: Double, p: Double
}

public struct Summary: Codable, Equatable {
    public var mean: Double, sd: Double, n: Int
    public init(_ xs: [Double]) {
        n = xs.count
        let m = xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count)
        mean = m
        sd = xs.count < 2 ? .nan : (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot()
    }
}

public enum Statistics {
    /// Sample mean.
    public static func mean(_ xs: [Double]) -> Double { xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count) }

    /// Sample variance (n − 1).
    public static func variance(_ xs: [Double]) -> Double {
        guard xs.count > 1 else { return .nan }
        let m = mean(xs)
        return xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)
    }

    /// Regularized incomplete beta I_x(a, b) (Numerical Recipes §6.4: continued fraction, evaluated
    /// directly for x < (a+1)/(a+b+2) and through the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) otherwise).
    public static func regularizedBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
        if x.isNaN || a.isNaN || b.isNaN { return .nan }
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let lnFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * Foundation.log(x) + b * Foundation.log1p(-x)
        let front = Foundation.exp(lnFront)
        if x < (a + 1) / (a + b + 2) { return front * betaContinuedFraction(x, a, b) / a }
        return 1 - front * betaContinuedFraction(1 - x, b, a) / b
    }

    private static func betaContinuedFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
        let tiny = 1e-300, eps = 1e-15
        let qab = a + b, qap = a + 1, qam = a - 1
        var c = 1.0, d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...10_000 {
            let m = Double(m), m2 = 2 * m
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d; h *= d * c
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let del = d * c
            h *= del
            if abs(del - 1) < eps { break }
        }
        return h
    }

    /// Two-sided p-value of Student's t with `df` degrees of freedom: P(|T| ≥ |t|) = I_{df/(df+t²)}(df/2, 1/2).
    public static func tTwoSidedP(_ t: Double, df: Double) -> Double {
        guard t.isFinite, df > 0 else { return t.isInfinite ? 0 : .nan }
        return regularizedBeta(df / (df + t * t), df / 2, 0.5)
    }

    /// Student t CDF.
    public static func tCDF(_ t: Double, df: Double) -> Double {
        let tail = 0.5 * tTwoSidedP(t, df: df)
        return t >= 0 ? 1 - tail : tail
    }

    /// Upper tail P(F ≥ f) of the F(d1, d2) distribution = I_{d2/(d2+d1 f)}(d2/2, d1/2).
    public static func fSurvival(_ f: Double, d1: Double, d2: Double) -> Double {
        guard f.isFinite else { return f.isInfinite ? 0 : .nan }
        if f <= 0 { return 1 }
        return regularizedBeta(d2 / (d2 + d1 * f), d2 / 2, d1 / 2)
    }

    /// Welch's unequal-variance t-test of mean(a) − mean(b) (Welch–Satterthwaite degrees of freedom).
    public static func welch(_ a: [Double], _ b: [Double]) -> WelchResult {
        let ma = mean(a), mb = mean(b)
        guard a.count > 1, b.count > 1 else { return WelchResult(t: .nan, df: .nan, p: .nan, meanA: ma, meanB: mb) }
        let va = variance(a) / Double(a.count), vb = variance(b) / Double(b.count)
        let se2 = va + vb
        if se2 == 0 { return WelchResult(t: ma == mb ? 0 : .infinity, df: .nan, p: ma == mb ? 1 : 0, meanA: ma, meanB: mb) }
        let t = (ma - mb) / se2.squareRoot()
        let df = se2 * se2 / (va * va / Double(a.count - 1) + vb * vb / Double(b.count - 1))
        return WelchResult(t: t, df: df, p: tTwoSidedP(t, df: df), meanA: ma, meanB: mb)
    }

    /// One-way ANOVA over groups (empty groups ignored): F = (SSB/(k−1)) / (SSW/(N−k)).
    public static func anova(_ groups: [[Double]]) -> AnovaResult {
        let gs = groups.filter { !$0.isEmpty }
        let n = gs.reduce(0) { $0 + $1.count }, k = gs.count
        guard k >= 2, n > k else { return AnovaResult(f: .nan, dfBetween: Double(k - 1), dfWithin: Double(n - k), p: .nan) }
        let grand = gs.reduce(0) { $0 + $1.reduce(0, +) } / Double(n)
        var ssb = 0.0, ssw = 0.0
        for g in gs {
            let m = mean(g)
            ssb += Double(g.count) * (m - grand) * (m - grand)
            ssw += g.reduce(0) { $0 + ($1 - m) * ($1 - m) }
        }
        let d1 = Double(k - 1), d2 = Double(n - k)
        if ssw == 0 { return AnovaResult(f: ssb == 0 ? .nan : .infinity, dfBetween: d1, dfWithin: d2, p: ssb == 0 ? .nan : 0) }
        let f = (ssb / d1) / (ssw / d2)
        return AnovaResult(f: f, dfBetween: d1, dfWithin: d2, p: fSurvival(f, d1: d1, d2: d2))
    }

    /// Quantile of the Beta(a, b) distribution by bisection on I_x(a, b) (monotone in x).
    public static func betaQuantile(_ q: Double, _ a: Double, _ b: Double) -> Double {
        var lo = 0.0, hi = 1.0
        for _ in 0..<200 {
            let mid = 0.5 * (lo + hi)
            if regularizedBeta(mid, a, b) < q { lo = mid } else { hi = mid }
            if hi - lo < 1e-15 { break }
        }
        return 0.5 * (lo + hi)
    }

    /// Exact (Clopper–Pearson) confidence interval of a binomial proportion k / n.
    public static func clopperPearson(_ k: Int, _ n: Int, level: Double = 0.95) -> (low: Double, high: Double) {
        guard n > 0 else { return (0, 1) }
        let alpha = 1 - level
        let low = k == 0 ? 0 : betaQuantile(alpha / 2, Double(k), Double(n - k + 1))
        let high = k == n ? 1 : betaQuantile(1 - alpha / 2, Double(k + 1), Double(n - k))
        return (low, high)
    }

    /// Standard normal quantile (Acklam's rational approximation refined by one Halley step on erfc).
    public static func normalQuantile(_ p: Double) -> Double {
        guard p > 0, p < 1 else { return p <= 0 ? -.infinity : .infinity }
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        var x: Double
        if p < 0.02425 {
            let q = (-2 * Foundation.log(p)).squareRoot()
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p <= 1 - 0.02425 {
            let q = p - 0.5, r = q * q
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        } else {
            let q = (-2 * Foundation.log(1 - p)).squareRoot()
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        let e = 0.5 * erfc(-x / 2.0.squareRoot()) - p
        let u = e * (2 * Double.pi).squareRoot() * Foundation.exp(x * x / 2)
        x -= u / (1 + x * u / 2)
        return x
    }

    /// Wilson score interval of a binomial proportion.
    public static func wilson(_ k: Int, _ n: Int, level: Double = 0.95) -> (low: Double, high: Double) {
        guard n > 0 else { return (0, 1) }
        let z = normalQuantile(1 - (1 - level) / 2), nn = Double(n), p = Double(k) / nn
        let denom = 1 + z * z / nn
        let centre = (p + z * z / (2 * nn)) / denom
        let half = z * (p * (1 - p) / nn + z * z / (4 * nn * nn)).squareRoot() / denom
        return (max(0, centre - half), min(1, centre + half))
    }

    /// Area under the ROC curve of scores for binary labels (true = positive): the Mann–Whitney U
    /// statistic / (n⁺ n⁻), ties counted one half (average ranks).
    public static func auc(scores: [Double], positive: [Bool]) -> Double {
        let np = positive.filter { $0 }.count, nn = positive.count - np
        guard np > 0, nn > 0 else { return .nan }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var ranks = [Double](repeating: 0, count: scores.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let r = Double(i + j) / 2 + 1
            for t in i...j { ranks[order[t]] = r }
            i = j + 1
        }
        let rankSum = zip(ranks, positive).reduce(0) { $0 + ($1.1 ? $1.0 : 0) }
        let u = rankSum - Double(np) * Double(np + 1) / 2
        return u / (Double(np) * Double(nn))
    }

    /// Percentile (linear interpolation between order statistics, numpy's default), p in [0, 100].
    public static func percentile(_ xs: [Double], _ p: Double) -> Double {
        guard !xs.isEmpty else { return .nan }
        let s = xs.sorted()
        let pos = p / 100 * Double(s.count - 1)
        let i = Int(pos.rounded(.down)), f = pos - Double(i)
        return i + 1 < s.count ? s[i] * (1 - f) + s[i + 1] * f : s[i]
    }
}
