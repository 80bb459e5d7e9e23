// Preprocessing: resampling to a target grid, crop/pad, intensity normalization to [-1, 1] with an
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

/// A target grid: array shape [D, H, W] and the affine of its voxels.
public struct VolumeGrid: Equatable {
    public var shape: [Int]
    public var affine: Affine
    public init(shape: [Int], affine: Affine) { self.shape = shape; self.affine = affine }

    /// An axis-aligned RAS+ grid with the given voxel size (dx, dy, dz) whose centre is the world
    /// centre of `volume`'s grid (so the brain stays centred whatever the source orientation).
    public static func centered(on volume: Volume, shape: [Int], voxelSize: (Double, Double, Double)) -> VolumeGrid {
        let s = volume.gridShape
        let c = volume.affine.apply(Double(s.nx - 1) / 2, Double(s.ny - 1) / 2, Double(s.nz - 1) / 2)
        let g = GridShape(arrayShape: shape)
        let origin = (c.0 - voxelSize.0 * Double(g.nx - 1) / 2, c.1 - voxelSize.1 * Double(g.ny - 1) / 2, c.2 - voxelSize.2 * Double(g.nz - 1) / 2)
        return VolumeGrid(shape: shape, affine: .scaling(voxelSize.0, voxelSize.1, voxelSize.2, origin: origin))
    }
}

public enum Interpolation: String, CaseIterable { case trilinear, nearest }

public enum Resample {
    /// Resamples onto a target grid. With `affine` nil, the grid is axis-aligned RAS+ with the given
    /// isotropic `voxelSize`, centred on the volume. Outside the source: `fill`.
    public static func toGrid(_ v: Volume, shape: [Int], voxelSize: Double, affine: Affine? = nil,
                              interpolation: Interpolation = .trilinear, fill: Float = 0) throws -> Volume {
        let grid = affine.map { VolumeGrid(shape: shape, affine: $0) } ?? VolumeGrid.centered(on: v, shape: shape, voxelSize: (voxelSize, voxelSize, voxelSize))
        return try toGrid(v, grid: grid, interpolation: interpolation, fill: fill)
    }

    /// Resamples `v` onto `grid`: each target voxel takes the source value at the same world point.
    public static func toGrid(_ v: Volume, grid: VolumeGrid, interpolation: Interpolation = .trilinear, fill: Float = 0) throws -> Volume {
        guard grid.shape.count == 3, grid.shape.allSatisfy({ $0 > 0 }) else {
            throw PreprocessError.invalidGrid(source: v.sourceName, detail: "shape \(grid.shape) must be three positive sizes")
        }
        if let p = v.affine.validationProblem() {
            throw PreprocessError.invalidGrid(source: v.sourceName, detail: "the source affine is unusable: \(p)")
        }
        if let p = grid.affine.validationProblem() {
            throw PreprocessError.invalidGrid(source: v.sourceName, detail: "the target affine is unusable: \(p)")
        }
        guard let srcInv = v.affine.inverse else {
            throw PreprocessError.invalidGrid(source: v.sourceName, detail: "the source affine is singular")
        }
        // Target voxel → source voxel: a single affine map M = src⁻¹ · target.
        let m = (srcInv * grid.affine).m
        let (D, H, W) = (grid.shape[0], grid.shape[1], grid.shape[2])
        let (sd, sh, sw) = (v.shape[0], v.shape[1], v.shape[2])
        var out = [Float](repeating: fill, count: D * H * W)
        let eps = 1e-6
        v.data.withUnsafeBufferPointer { srcBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                let src = srcBuf.baseAddress!, dst = outBuf.baseAddress!
                Parallel.forEach(D) { k in
                    for j in 0..<H {
                        // Source coordinates of (0, j, k), then step by column 0 along i.
                        var x = m[1] * Double(j) + m[2] * Double(k) + m[3]
                        var y = m[5] * Double(j) + m[6] * Double(k) + m[7]
                        var z = m[9] * Double(j) + m[10] * Double(k) + m[11]
                        let row = dst + (k * H + j) * W
                        for i in 0..<W {
                            if i > 0 { x += m[0]; y += m[4]; z += m[8] }
                            switch interpolation {
                            case .nearest:
                                // Range first: Int(_:) of a huge or NaN coordinate would trap.
                                guard x > -0.5 && x < Double(sw) && y > -0.5 && y < Double(sh) && z > -0.5 && z < Double(sd) else { continue }
                                let xi = Int((x).rounded()), yi = Int((y).rounded()), zi = Int((z).rounded())
                                if xi >= 0 && xi < sw && yi >= 0 && yi < sh && zi >= 0 && zi < sd {
                                    row[i] = src[(zi * sh + yi) * sw + xi]
                                }
                            case .trilinear:
                                if x < -eps || y < -eps || z < -eps || x > Double(sw - 1) + eps || y > Double(sh - 1) + eps || z > Double(sd - 1) + eps { continue }
                                let xc = min(max(x, 0), Double(sw - 1)), yc = min(max(y, 0), Double(sh - 1)), zc = min(max(z, 0), Double(sd - 1))
                                let x0 = min(Int(xc), max(sw - 2, 0)), y0 = min(Int(yc), max(sh - 2, 0)), z0 = min(Int(zc), max(sd - 2, 0))
                                let x1 = min(x0 + 1, sw - 1), y1 = min(y0 + 1, sh - 1), z1 = min(z0 + 1, sd - 1)
                                let fx = Float(xc - Double(x0)), fy = Float(yc - Double(y0)), fz = Float(zc - Double(z0))
                                @inline(__always) func at(_ a: Int, _ b: Int, _ c: Int) -> Float { src[(c * sh + b) * sw + a] }
                                let c00 = at(x0, y0, z0) * (1 - fx) + at(x1, y0, z0) * fx
                                let c10 = at(x0, y1, z0) * (1 - fx) + at(x1, y1, z0) * fx
                                let c01 = at(x0, y0, z1) * (1 - fx) + at(x1, y0, z1) * fx
                                let c11 = at(x0, y1, z1) * (1 - fx) + at(x1, y1, z1) * fx
                                let c0 = c00 * (1 - fy) + c10 * fy, c1 = c01 * (1 - fy) + c11 * fy
                                row[i] = c0 * (1 - fz) + c1 * fz
                            }
                        }
                    }
                }
            }
        }
        var r = v
        r.shape = grid.shape; r.data = out; r.affine = grid.affine
        return r
    }

    /// Plain reference: the same resampling computed voxel by voxel through world coordinates
    /// (tests compare the fast path with it).
    public static func referenceToGrid(_ v: Volume, grid: VolumeGrid, interpolation: Interpolation, fill: Float = 0) -> Volume {
        let inv = v.affine.inverse!
        var r = Volume(shape: grid.shape, affine: grid.affine, space: v.space)
        let g = GridShape(arrayShape: grid.shape), s = v.gridShape
        for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<g.nx {
            let w = grid.affine.apply(Double(i), Double(j), Double(k))
            let (x, y, z) = inv.apply(w.0, w.1, w.2)
            var value = fill
            switch interpolation {
            case .nearest:
                let a = Int(x.rounded()), b = Int(y.rounded()), c = Int(z.rounded())
                if a >= 0 && a < s.nx && b >= 0 && b < s.ny && c >= 0 && c < s.nz { value = v[a, b, c] }
            case .trilinear:
                let e = 1e-6
                if x >= -e && y >= -e && z >= -e && x <= Double(s.nx - 1) + e && y <= Double(s.ny - 1) + e && z <= Double(s.nz - 1) + e {
                    var acc = 0.0
                    let fl = [floor(x), floor(y), floor(z)]
                    for dc in 0...1 { for db in 0...1 { for da in 0...1 {
                        let a = Int(fl[0]) + da, b = Int(fl[1]) + db, c = Int(fl[2]) + dc
                        let wx = da == 1 ? x - fl[0] : 1 - (x - fl[0])
                        let wy = db == 1 ? y - fl[1] : 1 - (y - fl[1])
                        let wz = dc == 1 ? z - fl[2] : 1 - (z - fl[2])
                        let wgt = wx * wy * wz
                        if wgt == 0 { continue }
                        let ac = min(max(a, 0), s.nx - 1), bc = min(max(b, 0), s.ny - 1), cc = min(max(c, 0), s.nz - 1)
                        acc += wgt * Double(v[ac, bc, cc])
                    } } }
                    value = Float(acc)
                }
            }
            r[i, j, k] = value
        } } }
        return r
    }
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
