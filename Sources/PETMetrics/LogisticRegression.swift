// L2-regularised logistic regression on standardised features, fitted exactly by Newton's method: the
// "plain" classifier of regional SUVRs a PET study would run first (the project's CNN is the other).
//
// Objective (scikit-learn's LogisticRegression(penalty="l2", C) conventions, so its figures compare):
//   Σ_i −log p(y_i | x_i) + 1/(2C) · Σ ‖w‖²     (intercepts not penalised)
// two classes: one weight vector, p(1|x) = σ(w·x + b); K > 2: multinomial softmax, one vector per class.
// Features are standardised with the training set's mean and population SD (StandardScaler) inside
// `fit`, so a cross-validation that fits per fold standardises inside each training fold and the test
// fold never leaks into the scaling. The objective is strictly convex in the weights; Newton with a
// backtracking line search reaches the optimum in a few tens of steps from zero, whatever the data
// (separable data too: the penalty keeps the optimum finite), and the result is deterministic.
//
// Public API:
//   var lr = LogisticRegression(inverseRegularization: 1) ; try lr.fit(x, labels: y, classes: K)
//   lr.probabilities(x) -> [[Double]] ; lr.gradientNorm(x, labels:) (optimality check, tests)

import Foundation

public struct LogisticRegression: Codable, Sendable {
    /// C: the penalty is 1/(2C)·‖w‖² against the summed (not averaged) log-loss. scikit-learn's default is 1.
    public var inverseRegularization: Double
    public private(set) var classes = 0
    /// Per feature: training mean and SD (SD 0 → 1).
    public private(set) var featureMean: [Double] = [], featureSD: [Double] = []
    /// Rows: one per logit (1 for two classes, K otherwise); each [w_1 … w_p, b] on standardised features.
    public private(set) var coefficients: [[Double]] = []
    public private(set) var iterations = 0

    public init(inverseRegularization: Double = 1) { self.inverseRegularization = inverseRegularization }

    var logits: Int { classes == 2 ? 1 : classes }

    /// Fits on rows `x` (n × p) with labels 0..<classes.
    public mutating func fit(_ x: [[Double]], labels y: [Int], classes k: Int) throws {
        let n = x.count
        guard n >= 2, let p = x.first?.count, p >= 1, x.allSatisfy({ $0.count == p }) else {
            throw MetricsError.tooSmall(detail: "logistic regression needs at least 2 rows of equal length ≥ 1")
        }
        guard k >= 2, y.count == n, y.allSatisfy({ $0 >= 0 && $0 < k }) else {
            throw MetricsError.mismatch(detail: "logistic regression labels must be 0..<\(k), one per row")
        }
        guard inverseRegularization > 0, inverseRegularization.isFinite else {
            throw MetricsError.badInput(path: "logistic regression", reason: "C must be positive (got \(inverseRegularization))")
        }
        guard x.allSatisfy({ $0.allSatisfy { $0.isFinite } }) else {
            throw MetricsError.badInput(path: "logistic regression", reason: "a feature is not finite")
        }
        classes = k
        featureMean = (0..<p).map { j in x.reduce(0) { $0 + $1[j] } / Double(n) }
        featureSD = (0..<p).map { j in
            let m = featureMean[j]
            let sd = (x.reduce(0) { $0 + ($1[j] - m) * ($1[j] - m) } / Double(n)).squareRoot()
            return sd > 1e-12 * max(1, abs(m)) ? sd : 1
        }
        let z = x.map(standardized)
        let m = logits, q = p + 1, dim = m * q
        let lambda = 1 / inverseRegularization
        var theta = [Double](repeating: 0, count: dim)

        func objective(_ t: [Double]) -> Double {
            var f = 0.0
            for i in 0..<n { f -= log(max(probabilityRow(z[i], t, p: p)[y[i]], 1e-300)) }
            for r in 0..<m { for j in 0..<p { f += 0.5 * lambda * t[r * q + j] * t[r * q + j] } }
            return f
        }

        var f = objective(theta)
        iterations = 0
        for _ in 0..<100 {
            iterations += 1
            // Gradient and Hessian of the objective at theta.
            var g = [Double](repeating: 0, count: dim)
            var h = [Double](repeating: 0, count: dim * dim)
            var row = [Double](repeating: 0, count: q)
            for i in 0..<n {
                for j in 0..<p { row[j] = z[i][j] }
                row[p] = 1
                let pr = probabilityRow(z[i], theta, p: p)
                // Residual and curvature per logit: binary uses p(1|x) only.
                let resid: [Double] = m == 1 ? [pr[1] - (y[i] == 1 ? 1 : 0)] : (0..<m).map { pr[$0] - (y[i] == $0 ? 1 : 0) }
                for r in 0..<m { let e = resid[r]; for a in 0..<q { g[r * q + a] += e * row[a] } }
                for r in 0..<m {
                    for s in r..<m {
                        let w = m == 1 ? pr[1] * (1 - pr[1]) : (r == s ? pr[r] * (1 - pr[r]) : -pr[r] * pr[s])
                        if w == 0 { continue }
                        for a in 0..<q {
                            let wa = w * row[a]
                            let base = (r * q + a) * dim + s * q
                            for b in 0..<q { h[base + b] += wa * row[b] }
                        }
                    }
                }
            }
            for r in 0..<m {
                for j in 0..<p { g[r * q + j] += lambda * theta[r * q + j]; h[(r * q + j) * dim + r * q + j] += lambda }
                for s in r + 1..<max(r + 1, m) { for a in 0..<q { for b in 0..<q { h[(s * q + b) * dim + r * q + a] = h[(r * q + a) * dim + s * q + b] } } }
            }
            let gNorm = g.reduce(0) { max($0, abs($1)) }
            if gNorm < 1e-9 * Double(n) { break }
            // The multinomial intercepts are unpenalised and shift-invariant (adding c to every b_k
            // changes nothing): a tiny ridge makes the system solvable; the gradient has no component
            // along that direction, so neither does the step.
            for d in 0..<dim { h[d * dim + d] += 1e-10 * max(1, Double(n)) }
            guard let step = LogisticRegression.choleskySolve(h, g, dim) else { break }
            var t = 1.0, accepted = false
            let slope = zip(g, step).reduce(0) { $0 + $1.0 * $1.1 }
            while t > 1e-10 {
                let cand = zip(theta, step).map { $0 - t * $1 }
                let fc = objective(cand)
                if fc <= f - 1e-4 * t * slope { theta = cand; f = fc; accepted = true; break }
                t *= 0.5
            }
            if !accepted || t * step.reduce(0, { max($0, abs($1)) }) < 1e-12 { break }
        }
        coefficients = (0..<m).map { Array(theta[($0 * q)..<(($0 + 1) * q)]) }
    }

    func standardized(_ row: [Double]) -> [Double] { (0..<row.count).map { (row[$0] - featureMean[$0]) / featureSD[$0] } }

    /// Class probabilities of a standardised row under parameters `t` (flattened coefficient rows).
    func probabilityRow(_ z: [Double], _ t: [Double], p: Int) -> [Double] {
        let q = p + 1
        var eta = [Double](repeating: 0, count: logits)
        for r in 0..<logits {
            var s = t[r * q + p]
            for j in 0..<p { s += t[r * q + j] * z[j] }
            eta[r] = s
        }
        if logits == 1 {
            let p1 = eta[0] >= 0 ? 1 / (1 + exp(-eta[0])) : exp(eta[0]) / (1 + exp(eta[0]))
            return [1 - p1, p1]
        }
        let mx = eta.max()!
        let e = eta.map { exp($0 - mx) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    /// Class probabilities of raw rows (standardised with the training statistics).
    public func probabilities(_ x: [[Double]]) -> [[Double]] {
        precondition(!coefficients.isEmpty, "fit first")
        let flat = coefficients.flatMap { $0 }
        return x.map { probabilityRow(standardized($0), flat, p: featureMean.count) }
    }

    /// Largest |∂objective/∂θ| at the fitted coefficients on the training data (0 at the optimum).
    public func gradientNorm(_ x: [[Double]], labels y: [Int]) -> Double {
        let p = featureMean.count, q = p + 1, lambda = 1 / inverseRegularization
        var g = [Double](repeating: 0, count: logits * q)
        let flat = coefficients.flatMap { $0 }
        for (i, raw) in x.enumerated() {
            let z = standardized(raw)
            let pr = probabilityRow(z, flat, p: p)
            for r in 0..<logits {
                let e = logits == 1 ? pr[1] - (y[i] == 1 ? 1 : 0) : pr[r] - (y[i] == r ? 1 : 0)
                for j in 0..<p { g[r * q + j] += e * z[j] }
                g[r * q + p] += e
            }
        }
        for r in 0..<logits { for j in 0..<p { g[r * q + j] += lambda * flat[r * q + j] } }
        return g.reduce(0) { max($0, abs($1)) }
    }

    /// Solves A x = b for a symmetric positive-definite A (row-major n × n) by Cholesky; nil if not SPD.
    static func choleskySolve(_ a: [Double], _ b: [Double], _ n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard s > 0, s.isFinite else { return nil }
                    l[i * n + i] = s.squareRoot()
                } else {
                    l[i * n + j] = s / l[j * n + j]
                }
            }
        }
        var y = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var s = b[i]
            for k in 0..<i { s -= l[i * n + k] * y[k] }
            y[i] = s / l[i * n + i]
        }
        var x = [Double](repeating: 0, count: n)
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = y[i]
            for k in (i + 1)..<n { s -= l[k * n + i] * x[k] }
            x[i] = s / l[i * n + i]
        }
        return x
    }
}
