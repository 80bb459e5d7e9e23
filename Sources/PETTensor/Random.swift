import Foundation

/// PETGAN's own seedable generator: xoshiro256** seeded through SplitMix64. Its output depends only on
/// the seed (integer arithmetic, no platform generator), so the same seed gives the same numbers on
/// every run and machine. The whole state is four UInt64 words, saved in checkpoints.
public struct PETRandom: RandomNumberGenerator, Codable, Equatable, Sendable {
    public var state: [UInt64]
    /// A cached second normal deviate from Box–Muller (part of the state, so resuming is exact).
    public var spareNormal: Float?

    public init(seed: UInt64) {
        var z = seed
        var s = [UInt64](repeating: 0, count: 4)
        for i in 0..<4 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            s[i] = x ^ (x >> 31)
        }
        state = s
        spareNormal = nil
    }

    public init(state: [UInt64], spareNormal: Float? = nil) {
        precondition(state.count == 4, "PETRandom state has 4 words")
        self.state = state
        self.spareNormal = spareNormal
    }

    @inline(__always) static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = PETRandom.rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = PETRandom.rotl(state[3], 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits (exactly representable in Float).
    @inline(__always) public mutating func uniform01() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * uniform01() }

    /// Uniform Double in [0, 1) with 53 random bits.
    public mutating func uniformDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// Standard normal deviate (Box–Muller in Double precision, rounded to Float).
    public mutating func normal() -> Float {
        if let s = spareNormal { spareNormal = nil; return s }
        var u1 = uniformDouble()
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = uniformDouble()
        let r = (-2.0 * Foundation.log(u1)).squareRoot()
        let a = 2.0 * Double.pi * u2
        spareNormal = Float(r * Foundation.sin(a))
        return Float(r * Foundation.cos(a))
    }

    public mutating func normal(mean: Float, std: Float) -> Float { mean + std * normal() }

    /// Uniform integer in 0..<n.
    public mutating func int(below n: Int) -> Int { Int(next(upperBound: UInt64(n))) }

    /// A Fisher–Yates shuffle driven by this generator.
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = int(below: i + 1)
            if i != j { a.swapAt(i, j) }
        }
    }
}
