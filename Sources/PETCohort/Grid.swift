import Foundation

/// A voxel grid in world (MNI, RAS+) millimetres. Arrays on a grid are stored (D,H,W) with W fastest,
/// which is NIfTI's x-fastest order: i = W = x, j = H = y, k = D = z.
public struct VoxelGrid: Codable, Equatable, Sendable, CustomStringConvertible {
    /// (D, H, W) = (nz, ny, nx).
    public var shape: [Int]
    /// 4×4 row-major affine mapping voxel (i, j, k, 1) = (x, y, z index) to world millimetres.
    public var affine: [Double]

    public init(shape: [Int], affine: [Double]) {
        precondition(shape.count == 3 && affine.count == 16, "VoxelGrid: shape (D,H,W) and a 4x4 affine")
        self.shape = shape
        self.affine = affine
    }

    public var depth: Int { shape[0] }
    public var height: Int { shape[1] }
    public var width: Int { shape[2] }
    public var count: Int { shape[0] * shape[1] * shape[2] }
    /// Shape in NIfTI order (nx, ny, nz).
    public var niftiShape: [Int] { [shape[2], shape[1], shape[0]] }
    /// Voxel sizes (x, y, z) in mm: lengths of the affine's columns.
    public var voxelSizes: [Double] {
        (0..<3).map { (c: Int) -> Double in
            let a = affine[c], b = affine[4 + c], d = affine[8 + c]
            return (a * a + b * b + d * d).squareRoot()
        }
    }

    public var description: String {
        let v = voxelSizes.map { String(format: "%.3g", $0) }.joined(separator: "x")
        return "\(niftiShape.map(String.init).joined(separator: "x")) voxels of \(v) mm"
    }

    /// The MNI grid used by PETGAN's cohorts: axis-aligned RAS+, isotropic voxels, centred on the
    /// centre of the standard MNI152 bounding box (x 0, y −18, z +18 mm; the box of the 2 mm
    /// 91×109×91 MNI template). `niftiShape` is (nx, ny, nz), e.g. 96×112×96 at 2 mm.
    public static func mni(niftiShape s: [Int], voxelSize v: Double) -> VoxelGrid {
        precondition(s.count == 3)
        let centre = [0.0, -18.0, 18.0]
        let origin = (0..<3).map { centre[$0] - Double(s[$0] - 1) / 2 * v }
        return VoxelGrid(shape: [s[2], s[1], s[0]],
                         affine: [v, 0, 0, origin[0], 0, v, 0, origin[1], 0, 0, v, origin[2], 0, 0, 0, 1])
    }

    /// World position of voxel (i, j, k) = (x, y, z index).
    @inline(__always) public func world(_ i: Double, _ j: Double, _ k: Double) -> (Double, Double, Double) {
        let a = affine
        return (a[0] * i + a[1] * j + a[2] * k + a[3],
                a[4] * i + a[5] * j + a[6] * k + a[7],
                a[8] * i + a[9] * j + a[10] * k + a[11])
    }

    /// The inverse affine (world → voxel), row-major 4×4.
    public var inverseAffine: [Double] { Affine3.invert(affine) }
}

/// Small 4×4 affine helpers (row-major, last row 0 0 0 1).
public enum Affine3 {
    public static func multiply(_ a: [Double], _ b: [Double]) -> [Double] {
        var c = [Double](repeating: 0, count: 16)
        for r in 0..<4 { for col in 0..<4 { var s = 0.0; for k in 0..<4 { s += a[r * 4 + k] * b[k * 4 + col] }; c[r * 4 + col] = s } }
        return c
    }

    public static func invert(_ m: [Double]) -> [Double] {
        // Inverse of [L t; 0 1] = [L⁻¹  −L⁻¹t; 0 1], L⁻¹ from the adjugate.
        let a = m[0], b = m[1], c = m[2], d = m[4], e = m[5], f = m[6], g = m[8], h = m[9], i = m[10]
        let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
        precondition(abs(det) > 1e-12, "Affine3.invert: singular affine")
        let inv: [Double] = [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
                             (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
                             (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det]
        let t = [m[3], m[7], m[11]]
        var out = [Double](repeating: 0, count: 16)
        for r in 0..<3 {
            for col in 0..<3 { out[r * 4 + col] = inv[r * 3 + col] }
            out[r * 4 + 3] = -(inv[r * 3] * t[0] + inv[r * 3 + 1] * t[1] + inv[r * 3 + 2] * t[2])
        }
        out[15] = 1
        return out
    }

    /// Rotation about x, then y, then z (radians), as a 3×3 row-major matrix: R = Rz · Ry · Rx.
    public static func rotation(_ rx: Double, _ ry: Double, _ rz: Double) -> [Double] {
        let (cx, sx, cy, sy, cz, sz) = (cos(rx), sin(rx), cos(ry), sin(ry), cos(rz), sin(rz))
        return [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx,
                sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx,
                -sy, cy * sx, cy * cx]
    }
}

/// A scalar volume on a grid (Float values, (D,H,W) layout).
public struct GridVolume: Sendable {
    public var grid: VoxelGrid
    public var values: [Float]
    public init(grid: VoxelGrid, values: [Float]) {
        precondition(values.count == grid.count, "GridVolume: \(values.count) values for \(grid.count) voxels")
        self.grid = grid
        self.values = values
    }
}
