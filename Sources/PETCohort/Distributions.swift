import Foundation
import PETTensor

/// Random draws the phantom needs beyond uniform and normal, built only from `PETRandom`'s uniform
/// and normal deviates so every draw is reproducible from the seed.
public enum Draw {
    /// Gamma(shape k, scale 1) by Marsaglia & Tsang (2000), "A simple method for generating gamma
    /// variables", ACM TOMS 26(3). For k < 1 it boosts with U^(1/k) (their section 6).
    public static func gamma(_ rng: inout PETRandom, shape k: Double) -> Double {
        precondition(k > 0, "Draw.gamma: shape must be positive")
        if k < 1 {
            let g = gamma(&rng, shape: k + 1)
            var u = rng.uniformDouble()
            if u < 1e-300 { u = 1e-300 }
            return g * pow(u, 1 / k)
        }
        let d = k - 1.0 / 3.0
        let c = 1.0 / (9.0 * d).squareRoot()
        while true {
            var x: Double, v: Double
            repeat {
                x = Double(rng.normal())
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = rng.uniformDouble()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if u > 0, log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }

    /// Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
    public static func beta(_ rng: inout PETRandom, _ a: Double, _ b: Double) -> Double {
        let x = gamma(&rng, shape: a), y = gamma(&rng, shape: b)
        return x / (x + y)
    }

    /// Log-normal with the given mean and coefficient of variation: exp(μ + σZ) with
    /// σ² = ln(1 + cv²), μ = ln(mean) − σ²/2.
    public static func logNormal(_ rng: inout PETRandom, mean: Double, cv: Double) -> Double {
        let s2 = log(1 + cv * cv)
        return exp(log(mean) - s2 / 2 + s2.squareRoot() * Double(rng.normal()))
    }

    /// Uniform in [r.lo, r.hi] (the single value when lo == hi).
    public static func uniform(_ rng: inout PETRandom, _ r: ParameterRange) -> Double {
        r.lo + (r.hi - r.lo) * rng.uniformDouble()
    }

    /// A 64-bit seed derived from a parent seed and a stream number (SplitMix64 finaliser), so that
    /// subjects, fields and noise slices get independent, reproducible generators.
    public static func derivedSeed(_ seed: UInt64, _ stream: UInt64) -> UInt64 {
        var z = seed &+ (stream &+ 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
