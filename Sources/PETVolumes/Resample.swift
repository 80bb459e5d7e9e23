// Resampling between voxel grids (`VolumeGrid`, Volume.swift), the one implementation PETGAN has:
//   - `toGrid`: a `Volume` onto a target grid (preprocessing real scans): values between the outermost
//     voxel centres, `fill` beyond them; trilinear or nearest.
//   - `trilinear(_:from:to:)` / `nearest(from:to:outside:_:)`: bare arrays of maps that are zero
//     outside their grid (tissue probabilities, masks, atlas labels; the phantom cohort's templates):
//     the source is continued with zeros, so a trilinear value fades to 0 within one voxel beyond
//     the edge.
// Every function maps each target voxel centre to the source through one affine, src⁻¹ · target.

import Foundation
import PETTensor

extension VolumeGrid {
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

extension Resample {
    /// The map from target voxel (i, j, k) to source voxel coordinates: src⁻¹ · target. The source
    /// affine must be invertible (grids read by NIfTIFile and built by VolumeGrid.mni are).
    static func voxelMap(from src: VolumeGrid, to dst: VolumeGrid) -> Affine {
        guard let inv = src.affine.inverse else { preconditionFailure("Resample: the source grid's affine is singular:\n\(src.affine)") }
        return inv * dst.affine
    }

    /// Samples `values` (on `from`, [D, H, W]) trilinearly at the voxel centres of `to`. The source
    /// is continued with zeros: within one voxel beyond its edge the value fades to 0, further out it is 0.
    public static func trilinear(_ values: [Float], from: VolumeGrid, to: VolumeGrid) -> [Float] {
        precondition(values.count == from.count, "Resample.trilinear: \(values.count) values for a grid of \(from.count) voxels")
        let map = voxelMap(from: from, to: to)
        var out = [Float](repeating: 0, count: to.count)
        let (dd, dh, dw) = (to.shape[0], to.shape[1], to.shape[2])
        values.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                let op = o.baseAddress!
                Parallel.forRanges(dd) { range in
                    for k in range { for j in 0..<dh { for i in 0..<dw {
                        let (fx, fy, fz) = map.apply(Double(i), Double(j), Double(k))
                        op[(k * dh + j) * dw + i] = zeroExtendedTrilinear(s.baseAddress!, from.shape, fx, fy, fz)
                    } } }
                }
            }
        }
        return out
    }

    /// Trilinear value of `a` ([D, H, W]) at fractional voxel (x = W, y = H, z = D), zero beyond the array.
    @inline(__always)
    static func zeroExtendedTrilinear(_ a: UnsafePointer<Float>, _ shape: [Int], _ fx: Double, _ fy: Double, _ fz: Double) -> Float {
        let (nd, nh, nw) = (shape[0], shape[1], shape[2])
        guard fx > -1, fy > -1, fz > -1, fx < Double(nw), fy < Double(nh), fz < Double(nd) else { return 0 }
        let x0 = Int(fx.rounded(.down)), y0 = Int(fy.rounded(.down)), z0 = Int(fz.rounded(.down))
        let ax = Float(fx - Double(x0)), ay = Float(fy - Double(y0)), az = Float(fz - Double(z0))
        @inline(__always) func v(_ x: Int, _ y: Int, _ z: Int) -> Float {
            (x < 0 || y < 0 || z < 0 || x >= nw || y >= nh || z >= nd) ? 0 : a[(z * nh + y) * nw + x]
        }
        let c00 = v(x0, y0, z0) + ax * (v(x0 + 1, y0, z0) - v(x0, y0, z0))
        let c01 = v(x0, y0 + 1, z0) + ax * (v(x0 + 1, y0 + 1, z0) - v(x0, y0 + 1, z0))
        let c10 = v(x0, y0, z0 + 1) + ax * (v(x0 + 1, y0, z0 + 1) - v(x0, y0, z0 + 1))
        let c11 = v(x0, y0 + 1, z0 + 1) + ax * (v(x0 + 1, y0 + 1, z0 + 1) - v(x0, y0 + 1, z0 + 1))
        let c0 = c00 + ay * (c01 - c00), c1 = c10 + ay * (c11 - c10)
        return c0 + az * (c1 - c0)
    }

    /// Nearest-neighbour resampling onto `to`: each target voxel gets `value(source linear index)` of
    /// the nearest source voxel on `from`, or `outside` when it lies beyond the source.
    public static func nearest<T>(from: VolumeGrid, to: VolumeGrid, outside: T, _ value: (Int) -> T) -> [T] {
        let map = voxelMap(from: from, to: to)
        let s = from.shape
        var c = [T](repeating: outside, count: to.count)
        for k in 0..<to.shape[0] { for j in 0..<to.shape[1] { for i in 0..<to.shape[2] {
            let (fx, fy, fz) = map.apply(Double(i), Double(j), Double(k))
            // Range first: Int(_:) of a NaN or huge coordinate (a bad affine) would trap.
            guard fx > -0.5, fy > -0.5, fz > -0.5, fx < Double(s[2]), fy < Double(s[1]), fz < Double(s[0]) else { continue }
            let ax = Int(fx.rounded()), ay = Int(fy.rounded()), az = Int(fz.rounded())
            guard ax >= 0, ay >= 0, az >= 0, ax < s[2], ay < s[1], az < s[0] else { continue }
            c[(k * to.shape[1] + j) * to.shape[2] + i] = value((az * s[1] + ay) * s[2] + ax)
        } } }
        return c
    }
}
