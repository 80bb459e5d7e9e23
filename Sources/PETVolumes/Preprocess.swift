// Preprocessing: resampling to a target grid (Resample.swift), crop/pad, intensity normalization to [-1, 1] with an
// invertible map (so generated volumes can be written back in the original units).
//
// Public API:
//   let g = VolumeGrid.centered(on: v, shape: GridShape(nx: 96, ny: 112, nz: 96).arrayShape, voxelSize: (2, 2, 2))
//   let r = Resample.toGrid(v, grid: g, interpolation: .trilinear)            // .nearest for labels
//   let r = Resample.toGrid(v, shape: [D, H, W], voxelSize: 2, affine: nil, interpolation: .trilinear)
//   let c = Preprocess.cropOrPad(v, to: [D, H, W])                            // centred, affine kept exact
//   let map = try Normalize.fit(v, method: .percentile(99.5))                 // or .max, .zscore, .suvr
//   let n = Normalize.apply(map, to: v)  ;  let back = Normalize.invert(map, n)
// All of them keep the world position of every voxel value: the affine is updated with the data.

import Foundation
import PETTensor

/// Errors of preprocessing; each names the volume (its source file when known) and the reason.
public enum PreprocessError: Error, CustomStringConvertible, Equatable {
    case invalidGrid(source: String, detail: String)
    case degenerateIntensity(source: String, detail: String)
    case invalidMask(source: String, detail: String)

    public var description: String {
        switch self {
        case let .invalidGrid(s, d): return "\(s): invalid target grid: \(d)"
        case let .degenerateIntensity(s, d): return "\(s): cannot normalize: \(d)"
        case let .invalidMask(s, d): return "\(s): reference-region mask: \(d)"
        }
    }
}

extension Volume {
    /// Name used in error messages: the source file, else "volume".
    public var sourceName: String { metadata["source_file"] ?? "volume" }
}

public enum Preprocess {
    /// Crops or pads (with `fill`) each axis symmetrically to `shape` [D, H, W]; the affine is
    /// shifted so every kept voxel stays at the same world position.
    public static func cropOrPad(_ v: Volume, to shape: [Int], fill: Float = 0) throws -> Volume {
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
            throw PreprocessError.invalidGrid(source: v.sourceName, detail: "crop/pad shape \(shape) must be three positive sizes")
        }
        // Offset of the new grid's voxel 0 in old voxel indices, per array axis (D, H, W).
        let off = (0..<3).map { (v.shape[$0] - shape[$0]) / 2 }
        var out = [Float](repeating: fill, count: shape.reduce(1, *))
        for d in 0..<shape[0] {
            let od = d + off[0]
            if od < 0 || od >= v.shape[0] { continue }
            for h in 0..<shape[1] {
                let oh = h + off[1]
                if oh < 0 || oh >= v.shape[1] { continue }
                for w in 0..<shape[2] {
                    let ow = w + off[2]
                    if ow < 0 || ow >= v.shape[2] { continue }
                    out[(d * shape[1] + h) * shape[2] + w] = v.data[(od * v.shape[1] + oh) * v.shape[2] + ow]
                }
            }
        }
        // New voxel (i, j, k) = old voxel (i + off_W, j + off_H, k + off_D).
        let shift = Affine([1, 0, 0, Double(off[2]), 0, 1, 0, Double(off[1]), 0, 0, 1, Double(off[0]), 0, 0, 0, 1])
        var r = v
        r.shape = shape; r.data = out; r.affine = v.affine * shift
        return r
    }
}

/// How raw intensities are brought to [-1, 1].
public enum NormalizationMethod: Equatable, CustomStringConvertible {
    /// x / max → [0, 1] → [-1, 1].
    case max
    /// x / (p-th percentile), clipped at 1, → [-1, 1] (robust to hot spots).
    case percentile(Double)
    /// (x - mean) / (clipSigma · std), clipped to [-1, 1].
    case zscore(clipSigma: Double)
    /// SUVR = x / mean(reference region); SUVR / suvrMax → [0, 1] → [-1, 1], clipped.
    case suvr(suvrMax: Double)

    public var description: String {
        switch self {
        case .max: return "max"
        case .percentile(let p): return "percentile(\(p))"
        case .zscore(let s): return "zscore(clip=\(s) sd)"
        case .suvr(let m): return "suvr(max=\(m))"
        }
    }

    /// Parses "max", "percentile", "percentile:99.5", "zscore", "zscore:3", "suvr", "suvr:3".
    public static func parse(_ text: String) -> NormalizationMethod? {
        let parts = text.lowercased().split(separator: ":", maxSplits: 1).map(String.init)
        let arg = parts.count > 1 ? Double(parts[1]) : nil
        if parts.count > 1 && arg == nil { return nil }
        switch parts.first ?? "" {
        case "max": return parts.count == 1 ? .max : nil
        case "percentile": let p = arg ?? 99.5; return (p > 0 && p <= 100) ? .percentile(p) : nil
        case "zscore": let s = arg ?? 3; return s > 0 ? .zscore(clipSigma: s) : nil
        case "suvr": let m = arg ?? 3; return m > 0 ? .suvr(suvrMax: m) : nil
        default: return nil
        }
    }
}

/// The linear map raw → normalized: y = clamp(x · scale + offset, -1, 1); inverse x = (y - offset) / scale.
public struct IntensityMap: Equatable, Codable {
    public var scale: Double
    public var offset: Double
    public init(scale: Double, offset: Double) { self.scale = scale; self.offset = offset }
    @inlinable public func forward(_ x: Float) -> Float { Swift.min(1, Swift.max(-1, Float(Double(x) * scale + offset))) }
    @inlinable public func inverse(_ y: Float) -> Float { Float((Double(y) - offset) / scale) }
}

public enum Normalize {
    /// Fits the map for `v`. `.suvr` needs `referenceMask` (same shape; voxels > 0.5 are the region).
    public static func fit(_ v: Volume, method: NormalizationMethod, referenceMask: Volume? = nil) throws -> IntensityMap {
        let name = v.sourceName
        switch method {
        case .max:
            let mx = v.finiteRange.max
            guard mx > 0 else { throw PreprocessError.degenerateIntensity(source: name, detail: "the maximum value is \(mx), not positive") }
            return IntensityMap(scale: 2 / Double(mx), offset: -1)
        case .percentile(let p):
            let q = percentile(v.data, p)
            guard q > 0 else { throw PreprocessError.degenerateIntensity(source: name, detail: "the \(p)th percentile is \(q), not positive") }
            return IntensityMap(scale: 2 / q, offset: -1)
        case .zscore(let k):
            var sum = 0.0, sq = 0.0, n = 0.0
            for x in v.data where x.isFinite { sum += Double(x); sq += Double(x) * Double(x); n += 1 }
            guard n > 1 else { throw PreprocessError.degenerateIntensity(source: name, detail: "no finite voxels") }
            let mean = sum / n, sd = Swift.max(0, sq / n - mean * mean).squareRoot()
            guard sd > 0 else { throw PreprocessError.degenerateIntensity(source: name, detail: "the volume is constant (standard deviation 0)") }
            let scale = 1 / (k * sd)
            return IntensityMap(scale: scale, offset: -mean * scale)
        case .suvr(let suvrMax):
            guard let mask = referenceMask else { throw PreprocessError.invalidMask(source: name, detail: "SUVR normalization needs a reference-region mask") }
            guard mask.shape == v.shape else {
                throw PreprocessError.invalidMask(source: mask.sourceName, detail: "mask shape \(mask.gridShape) differs from the volume's \(v.gridShape)")
            }
            var sum = 0.0, n = 0
            for idx in 0..<v.count where mask.data[idx] > 0.5 && v.data[idx].isFinite { sum += Double(v.data[idx]); n += 1 }
            guard n > 0 else { throw PreprocessError.invalidMask(source: mask.sourceName, detail: "the mask selects no voxels") }
            let ref = sum / Double(n)
            guard ref > 0 else { throw PreprocessError.degenerateIntensity(source: name, detail: "the reference-region mean is \(ref), not positive") }
            return IntensityMap(scale: 2 / (ref * suvrMax), offset: -1)
        }
    }

    /// The normalized volume (values in [-1, 1]).
    public static func apply(_ map: IntensityMap, to v: Volume) -> Volume {
        var r = v
        r.data.withUnsafeMutableBufferPointer { b in for i in 0..<b.count { b[i] = map.forward(b[i]) } }
        return r
    }

    /// Back to the original units.
    public static func invert(_ map: IntensityMap, _ v: Volume) -> Volume {
        var r = v
        r.data.withUnsafeMutableBufferPointer { b in for i in 0..<b.count { b[i] = map.inverse(b[i]) } }
        return r
    }

    /// The p-th percentile (0...100) of the finite values, linear interpolation between ranks.
    public static func percentile(_ values: [Float], _ p: Double) -> Double {
        let s = values.filter { $0.isFinite }.sorted()
        if s.isEmpty { return 0 }
        let pos = Swift.min(Swift.max(p, 0), 100) / 100 * Double(s.count - 1)
        let lo = Int(pos.rounded(.down)), hi = Swift.min(lo + 1, s.count - 1)
        return Double(s[lo]) + (pos - Double(lo)) * Double(s[hi] - s[lo])
    }
}
