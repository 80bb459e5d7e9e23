// The pinned, offline feature network of the seeded Fréchet distance ("petgan-seeded-fd-v1"): a fixed
// random 3D CNN whose weights come from PETGAN's own generator (PETRandom, seed 0x5EED_FD01), drawn from
// integer bits only (no transcendental functions), so they are bitwise the same on every machine; their
// SHA-256 is written to metrics.json and pinned by a test. No download, no training: the same volumes give
// the same features in every run, so numbers from different runs and models can be compared.
//
// Layout, on block-averaged volumes (≤ 32 voxels a side) standardized with the real set's voxel mean/SD:
//   input                                   → stage 0: its mean over each 2×2×2 octant          (8)
//   conv 1→8 (3³, pad 1) ReLU, avg-pool 2   → stage 1: each channel's mean over the volume     (8)
//   conv 8→16 (3³, pad 1) ReLU, avg-pool 2  → stage 2: each channel's mean                      (16)
//   conv 16→8 (3³, pad 1) ReLU, avg-pool 2  → stage 3: each channel's mean over each of the 2×2×2
//                                             octants of the map (where: shifts, regional deficits) (64)
// Plus the standardized input's own octant means (8): 96 features. Weights He-uniform U(±√(6/fan_in)), biases 0. Stage means see texture/sharpness (blur),
// the octants see position and regional uptake (shift, wrong class): IntervalTests/SeededFrechetTests
// check that real volumes stand apart from blurred, shifted and wrong-class ones.
//
// Public API:
//   let net = SeededFeatureNetwork.v1
//   net.version, net.weightsSHA256, SeededFeatureNetwork.featureCount
//   try net.features(blockAverages, shape: [D, H, W], mean: μ, sd: σ) -> [[Float]]

import Foundation
import PETTensor
import PETVolumes

public final class SeededFeatureNetwork: @unchecked Sendable {
    public static let version = "petgan-seeded-fd-v1"
    public static let seed: UInt64 = 0x5EED_FD01
    /// (out, in) channels of the three convolutions.
    static let channels = [(8, 1), (16, 8), (8, 16)]
    public static let featureCount = 8 + 8 + 16 + 8 * 8

    public static let v1 = SeededFeatureNetwork()

    /// (Co, Ci, 3, 3, 3) weights of each convolution.
    public let weights: [Tensor]
    public let weightsSHA256: String
    public var version: String { Self.version }

    init() {
        var rng = PETRandom(seed: Self.seed)
        var ws: [Tensor] = []
        var hasher = SHA256.Hasher()
        for (co, ci) in Self.channels {
            let fanIn = ci * 27
            let bound = Float((6.0 / Double(fanIn)).squareRoot())
            let count = co * fanIn
            var values = [Float](repeating: 0, count: count)
            for k in 0..<count { values[k] = (2 * rng.uniform01() - 1) * bound }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(count * 4)
            for v in values { let b = v.bitPattern.littleEndian; for s in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: b >> (8 * s))) } }
            hasher.update(bytes)
            ws.append(Tensor(shape: [co, ci, 3, 3, 3], values: values))
        }
        weights = ws
        weightsSHA256 = hasher.finish()
    }

    /// Features of volumes (each D·H·W values), standardized by (x − mean) / sd first.
    public func features(_ xs: [[Float]], shape: [Int], mean: Float, sd: Float) throws -> [[Float]] {
        precondition(shape.count == 3)
        let n = shape.reduce(1, *)
        var out: [[Float]] = []
        out.reserveCapacity(xs.count)
        let params = ConvParams(k: 3, s: 1, p: 1)
        let inv = 1 / max(sd, 1e-12)
        for start in stride(from: 0, to: xs.count, by: 8) {
            let batch = Array(start..<min(xs.count, start + 8))
            var x = Tensor(shape: [batch.count, 1] + shape)
            for (b, i) in batch.enumerated() {
                precondition(xs[i].count == n, "volume \(i) has \(xs[i].count) values, expected \(n)")
                let dst = x.data + b * n
                for k in 0..<n { dst[k] = (xs[i][k] - mean) * inv }
            }
            // Stage 0: the standardized input's octant means (regional uptake, the part of the pattern a
            // class changes: parietal, temporal, posterior cingulate hypometabolism).
            var rows = (0..<batch.count).map { b in Self.octantMeans(x.data + b * n, shape: shape) }
            for (stage, w) in weights.enumerated() {
                let y = try Conv3d.forward(x, weight: w, params: params)
                let c = y.shape[1]
                let ys = Array(y.shape[2...])
                for k in 0..<y.count where y.data[k] < 0 { y.data[k] = 0 }
                x = Self.averagePool2(y)
                let ps = Array(x.shape[2...]), m = ps.reduce(1, *)
                for b in 0..<batch.count {
                    for ch in 0..<c {
                        let base = x.data + (b * c + ch) * m
                        if stage < 2 {
                            // The mean of the pooled map (over the voxels pooling kept).
                            var s = 0.0
                            for k in 0..<m { s += Double(base[k]) }
                            rows[b].append(Float(s / Double(max(1, m))))
                        } else {
                            rows[b] += Self.octantMeans(base, shape: ps)
                        }
                    }
                }
                _ = ys
            }
            out += rows
        }
        return out
    }

    /// Means over the 2×2×2 octants of a (D, H, W) map (an odd axis gives its middle plane to the upper half).
    static func octantMeans(_ p: UnsafeMutablePointer<Float>, shape s: [Int]) -> [Float] {
        var sums = [Double](repeating: 0, count: 8), counts = [Int](repeating: 0, count: 8)
        let hd = s[0] / 2, hh = s[1] / 2, hw = s[2] / 2
        for d in 0..<s[0] { for h in 0..<s[1] { for w in 0..<s[2] {
            let o = (d >= hd ? 4 : 0) + (h >= hh ? 2 : 0) + (w >= hw ? 1 : 0)
            sums[o] += Double(p[(d * s[1] + h) * s[2] + w]); counts[o] += 1
        } } }
        return (0..<8).map { counts[$0] > 0 ? Float(sums[$0] / Double(counts[$0])) : 0 }
    }

    /// Average pooling, kernel 2, stride 2, trailing odd planes dropped (torch avg_pool3d(2)); an axis of
    /// size 1 is kept as it is.
    static func averagePool2(_ y: Tensor) -> Tensor {
        let n = y.shape[0], c = y.shape[1], d = y.shape[2], h = y.shape[3], w = y.shape[4]
        let kd = d >= 2 ? 2 : 1, kh = h >= 2 ? 2 : 1, kw = w >= 2 ? 2 : 1
        let od = d / kd, oh = h / kh, ow = w / kw
        let out = Tensor(shape: [n, c, od, oh, ow])
        let scale = 1 / Float(kd * kh * kw)
        for nc in 0..<(n * c) {
            let src = y.data + nc * d * h * w, dst = out.data + nc * od * oh * ow
            for a in 0..<od { for b in 0..<oh { for e in 0..<ow {
                var s: Float = 0
                for i in 0..<kd { for j in 0..<kh { for k in 0..<kw { s += src[((a * kd + i) * h + b * kh + j) * w + e * kw + k] } } }
                dst[(a * oh + b) * ow + e] = s * scale
            } } }
        }
        return out
    }
}
