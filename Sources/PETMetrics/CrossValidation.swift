// Repeated stratified k-fold cross-validation: the fold plan ("5x5" = 5 repetitions of 5 folds), the
// seeded stratified fold assignment, and the corrected resampled t-interval of Nadeau & Bengio (2003)
// over the r·k fold estimates.
//
// Why the correction: the r·k fold estimates are not independent (training sets of different folds
// share (k − 2)/(k − 1) of their subjects, and every repetition reuses the same subjects), so the
// plain t-interval s/√J is far too narrow. Nadeau & Bengio ("Inference for the generalization error",
// Machine Learning 52:239–281, 2003) replace the variance factor 1/J by 1/J + n_test/n_train; Bouckaert
// & Frank (PAKDD 2004, LNCS 3056:3–12) carried it over to r-times repeated k-fold CV with J − 1 degrees
// of freedom, the form used here (and by R's correctR and MachineShop). It stays a heuristic (it does
// not know the data-set-to-data-set variance); the tests measure its coverage on simulated CV.
//
// Public API:
//   let plan = try CrossValidationPlan(parsing: "5x5", seed: 1)          // repeats × folds
//   StratifiedFolds.assign(labels:, folds:, seed:) -> [Int]              // fold of each sample
//   plan.assignments(labels:) -> [[Int]]                                  // one assignment per repetition
//   CorrectedResampledT.interval(estimates:, testFraction:, level:) -> ConfidenceInterval

import Foundation
import PETTensor

/// How many times the data are re-split and into how many folds.
public struct CrossValidationPlan: Codable, Equatable, Sendable, CustomStringConvertible {
    public var repeats: Int
    public var folds: Int
    /// Fold assignments and model initialisations derive from it (recorded in outputs).
    public var seed: UInt64

    public init(repeats: Int = 5, folds: Int = 5, seed: UInt64 = 1) throws {
        guard repeats >= 1, repeats <= 100 else { throw MetricsError.badInput(path: "cross-validation", reason: "repeats must be 1…100 (got \(repeats))") }
        guard folds >= 2, folds <= 50 else { throw MetricsError.badInput(path: "cross-validation", reason: "folds must be 2…50 (got \(folds))") }
        self.repeats = repeats; self.folds = folds; self.seed = seed
    }

    /// "RxK" (repeats × folds, e.g. 5x5 or 2×2).
    public init(parsing text: String, seed: UInt64 = 1) throws {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
            .flatMap { $0.split(separator: "×", omittingEmptySubsequences: false) }
            .map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let r = parts[0], let k = parts[1] else {
            throw MetricsError.badInput(path: "cross-validation", reason: "'\(text)' is not REPEATSxFOLDS, e.g. 5x5")
        }
        try self.init(repeats: r, folds: k, seed: seed)
    }

    public var description: String { "\(repeats)x\(folds)" }

    /// Fold of every sample, one assignment per repetition (each stratified by label).
    public func assignments(labels: [Int]) throws -> [[Int]] {
        try (0..<repeats).map { r in try StratifiedFolds.assign(labels: labels, folds: folds, seed: CrossValidationPlan.mix(seed, UInt64(r))) }
    }

    /// A seed for stream `stream` of `seed` (SplitMix64 finaliser): repetitions and folds get unrelated seeds.
    public static func mix(_ seed: UInt64, _ stream: UInt64) -> UInt64 {
        var z = seed &+ (stream &+ 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

public enum StratifiedFolds {
    /// Fold index (0..<folds) of every sample. Each label's members are shuffled with the seed and dealt
    /// round-robin, the deal continuing from one label to the next, so every fold holds ⌊n_c/k⌋ or
    /// ⌈n_c/k⌉ of each class c and the fold sizes differ by at most one.
    public static func assign(labels: [Int], folds: Int, seed: UInt64) throws -> [Int] {
        precondition(folds >= 2)
        var fold = [Int](repeating: -1, count: labels.count)
        var rng = PETRandom(seed: seed)
        var next = 0
        for l in Set(labels).sorted() {
            var members = labels.indices.filter { labels[$0] == l }
            guard members.count >= folds else {
                throw MetricsError.tooSmall(detail: "stratified \(folds)-fold cross-validation needs at least \(folds) samples of each class (class \(l) has \(members.count))")
            }
            rng.shuffle(&members)
            for m in members { fold[m] = next % folds; next += 1 }
        }
        return fold
    }
}

/// A two-sided confidence interval of a mean.
public struct ConfidenceInterval: Codable, Equatable, Sendable {
    public var low: Double, high: Double
    public var level: Double
    public var method: String
}

/// Nadeau & Bengio's corrected resampled t-interval over the J = r·k fold estimates.
public enum CorrectedResampledT {
    public static let method = "corrected resampled t (Nadeau & Bengio 2003; variance (1/J + n_test/n_train)·s², J − 1 df)"

    /// - estimates: one score per fold and repetition (J of them).
    /// - testFraction: n_test / n_train of a fold (≈ 1/(k − 1)); 0 gives the plain (uncorrected) t-interval.
    /// The interval is not clipped: a score bounded by [0, 1] may get bounds beyond it.
    public static func interval(estimates: [Double], testFraction: Double, level: Double = 0.95) -> ConfidenceInterval {
        let j = estimates.count
        let m = Statistics.mean(estimates)
        guard j >= 2, estimates.allSatisfy({ $0.isFinite }) else {
            return ConfidenceInterval(low: .nan, high: .nan, level: level, method: method)
        }
        let s2 = Statistics.variance(estimates)
        let se = ((1 / Double(j) + testFraction) * s2).squareRoot()
        let t = Statistics.tQuantile(1 - (1 - level) / 2, df: Double(j - 1))
        return ConfidenceInterval(low: m - t * se, high: m + t * se, level: level, method: method)
    }
}

extension Statistics {
    /// Quantile of Student's t with `df` degrees of freedom (bisection on `tCDF`, to 1e-12).
    public static func tQuantile(_ p: Double, df: Double) -> Double {
        guard p > 0, p < 1, df > 0 else { return p <= 0 ? -.infinity : (p >= 1 ? .infinity : .nan) }
        if p == 0.5 { return 0 }
        var lo = -1.0, hi = 1.0
        while tCDF(lo, df: df) > p { lo *= 2 }
        while tCDF(hi, df: df) < p { hi *= 2 }
        for _ in 0..<200 {
            let mid = 0.5 * (lo + hi)
            if tCDF(mid, df: df) < p { lo = mid } else { hi = mid }
            if hi - lo < 1e-12 { break }
        }
        return 0.5 * (lo + hi)
    }
}
