// Volumes with real geometry.
//
// AXIS CONVENTION (the one place it is defined; everything in PETGAN follows it):
//   Our arrays are (D, H, W) with W fastest. NIfTI stores voxels x-fastest with voxel indices
//   (i, j, k). We identify  i = W index,  j = H index,  k = D index,  so the memory layout of a
//   (D, H, W) array is byte-for-byte NIfTI's storage order and no transposition ever happens.
//     NIfTI dim[1..3] = (nx, ny, nz) = (W, H, D);   array shape = [nz, ny, nx] = [D, H, W].
//   Shapes on the command line are NIfTI order x×y×z ("96x112x96" → D=96, H=112, W=96), as users
//   read them in their viewers: use `GridShape.parse` / `VolumeAxes` rather than reordering by hand.
//   The affine maps voxel (i, j, k, 1) to world millimetres (x, y, z, 1), RAS+ (NIfTI sform).

import Foundation
import PETTensor

/// The conversions between NIfTI order (x, y, z) and our array order (D, H, W).
public enum VolumeAxes {
    /// Array shape [D, H, W] from NIfTI dims (nx, ny, nz).
    @inlinable public static func arrayShape(nx: Int, ny: Int, nz: Int) -> [Int] { [nz, ny, nx] }
    /// NIfTI dims (nx, ny, nz) from an array shape [D, H, W].
    @inlinable public static func niftiDims(_ shape: [Int]) -> (nx: Int, ny: Int, nz: Int) { (shape[2], shape[1], shape[0]) }
    /// Linear index of voxel (i, j, k) in a [D, H, W] array: ((k * H) + j) * W + i.
    @inlinable public static func linearIndex(i: Int, j: Int, k: Int, shape: [Int]) -> Int { (k * shape[1] + j) * shape[2] + i }
    /// Voxel sizes (dx, dy, dz) in NIfTI order ↔ per-array-axis sizes [dD, dH, dW].
    @inlinable public static func arraySpacing(dx: Double, dy: Double, dz: Double) -> [Double] { [dz, dy, dx] }
}

/// A grid shape as users write it: NIfTI order "XxYxZ" (or a single N for a cube).
public struct GridShape: Equatable, CustomStringConvertible {
    public var nx: Int, ny: Int, nz: Int
    public init(nx: Int, ny: Int, nz: Int) { self.nx = nx; self.ny = ny; self.nz = nz }
    /// From an array shape [D, H, W].
    public init(arrayShape s: [Int]) { nx = s[2]; ny = s[1]; nz = s[0] }
    /// Array shape [D, H, W].
    public var arrayShape: [Int] { VolumeAxes.arrayShape(nx: nx, ny: ny, nz: nz) }
    public var description: String { "\(nx)x\(ny)x\(nz)" }
    /// Parses "96x112x96" (x×y×z) or "64" (a cube); nil when malformed or not positive.
    public static func parse(_ text: String) -> GridShape? {
        let parts = text.lowercased().split(whereSeparator: { $0 == "x" || $0 == "×" || $0 == "," }).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        if parts.count == 1, let n = parts[0], n > 0 { return GridShape(nx: n, ny: n, nz: n) }
        guard parts.count == 3, let x = parts[0], let y = parts[1], let z = parts[2], x > 0, y > 0, z > 0 else { return nil }
        return GridShape(nx: x, ny: y, nz: z)
    }
}

/// A 4×4 affine (row-major) mapping voxel (i, j, k) to world mm (x, y, z).
public struct Affine: Equatable, Codable, Sendable, CustomStringConvertible {
    /// Row-major 16 values; the last row is (0, 0, 0, 1) for valid affines.
    public var m: [Double]

    public init(_ rowMajor: [Double]) { precondition(rowMajor.count == 16, "an affine has 16 values"); m = rowMajor }
    public init(rows: [[Double]]) { self.init(rows.flatMap { $0 }) }
    public static let identity = Affine([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
    /// Diagonal scaling with a translation (an axis-aligned RAS+ grid).
    public static func scaling(_ dx: Double, _ dy: Double, _ dz: Double, origin: (Double, Double, Double) = (0, 0, 0)) -> Affine {
        Affine([dx, 0, 0, origin.0, 0, dy, 0, origin.1, 0, 0, dz, origin.2, 0, 0, 0, 1])
    }

    @inlinable public subscript(r: Int, c: Int) -> Double {
        get { m[r * 4 + c] }
        set { m[r * 4 + c] = newValue }
    }
    public var rows: [[Double]] { (0..<4).map { r in Array(m[(r * 4)..<(r * 4 + 4)]) } }

    /// World coordinates of voxel (i, j, k) (fractional indices allowed).
    @inlinable public func apply(_ i: Double, _ j: Double, _ k: Double) -> (Double, Double, Double) {
        (m[0] * i + m[1] * j + m[2] * k + m[3], m[4] * i + m[5] * j + m[6] * k + m[7], m[8] * i + m[9] * j + m[10] * k + m[11])
    }

    /// Rotation about x, then y, then z (radians), R = Rz · Ry · Rx, with no translation.
    public static func rotation(_ rx: Double, _ ry: Double, _ rz: Double) -> Affine {
        let (cx, sx, cy, sy, cz, sz) = (cos(rx), sin(rx), cos(ry), sin(ry), cos(rz), sin(rz))
        return Affine([cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx, 0,
                       sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx, 0,
                       -sy, cy * sx, cy * cx, 0,
                       0, 0, 0, 1])
    }

    public static func * (a: Affine, b: Affine) -> Affine {
        var r = [Double](repeating: 0, count: 16)
        for i in 0..<4 { for j in 0..<4 { var s = 0.0; for k in 0..<4 { s += a[i, k] * b[k, j] }; r[i * 4 + j] = s } }
        return Affine(r)
    }

    /// The inverse (nil when singular).
    public var inverse: Affine? {
        // Gauss-Jordan on a 4×4 with partial pivoting.
        var a = rows, inv = Affine.identity.rows
        for c in 0..<4 {
            var p = c
            for r in (c + 1)..<4 where abs(a[r][c]) > abs(a[p][c]) { p = r }
            if abs(a[p][c]) < 1e-12 { return nil }
            a.swapAt(c, p); inv.swapAt(c, p)
            let d = a[c][c]
            for j in 0..<4 { a[c][j] /= d; inv[c][j] /= d }
            for r in 0..<4 where r != c {
                let f = a[r][c]
                if f != 0 { for j in 0..<4 { a[r][j] -= f * a[c][j]; inv[r][j] -= f * inv[c][j] } }
            }
        }
        return Affine(rows: inv)
    }

    /// Voxel sizes along i, j, k: the lengths of the first three columns.
    public var voxelSizes: (Double, Double, Double) {
        func norm(_ c: Int) -> Double { (m[c] * m[c] + m[4 + c] * m[4 + c] + m[8 + c] * m[8 + c]).squareRoot() }
        return (norm(0), norm(1), norm(2))
    }

    /// Whether the 3×3 part is a rotation times a positive diagonal scaling (up to a reflection),
    /// i.e. whether a NIfTI qform can represent it exactly.
    public var isRigidWithScaling: Bool {
        let (sx, sy, sz) = voxelSizes
        guard sx > 0, sy > 0, sz > 0 else { return false }
        let s = [sx, sy, sz]
        for a in 0..<3 { for b in a..<3 {
            var dot = 0.0
            for r in 0..<3 { dot += m[r * 4 + a] / s[a] * m[r * 4 + b] / s[b] }
            if abs(dot - (a == b ? 1 : 0)) > 1e-5 { return false }
        } }
        return true
    }

    /// Orientation codes like "RAS" or "LAS": for each voxel axis i, j, k the world direction it
    /// points to (same answer as nibabel's aff2axcodes for non-oblique and mildly oblique affines).
    public var orientationCodes: String {
        let pos: [Character] = ["R", "A", "S"], neg: [Character] = ["L", "P", "I"]
        var used = Set<Int>(), out: [Character] = []
        // Assign the most dominant (axis, world) pairs first, like nibabel's io_orientation.
        var pairs: [(Double, Int, Int)] = []
        for c in 0..<3 { for r in 0..<3 { pairs.append((abs(m[r * 4 + c]), c, r)) } }
        pairs.sort { $0.0 > $1.0 }
        var worldFor = [Int](repeating: -1, count: 3)
        var usedCols = Set<Int>()
        for (v, c, r) in pairs where v > 0 && !used.contains(r) && !usedCols.contains(c) {
            worldFor[c] = r; used.insert(r); usedCols.insert(c)
        }
        for c in 0..<3 {
            let r = worldFor[c]
            if r < 0 { out.append("?"); continue }
            out.append(m[r * 4 + c] >= 0 ? pos[r] : neg[r])
        }
        return String(out)
    }

    /// Largest absolute element-wise difference; +inf when either affine holds a non-finite value
    /// (a fold with `max` would drop NaN and call two broken affines equal).
    public func maxAbsDifference(_ o: Affine) -> Double {
        var worst = 0.0
        for (a, b) in zip(m, o.m) {
            guard a.isFinite, b.isFinite else { return .infinity }
            worst = Swift.max(worst, abs(a - b))
        }
        return worst
    }

    public var description: String {
        rows.map { "[" + $0.map { String(format: "%9.4f", $0) }.joined(separator: " ") + "]" }.joined(separator: "\n")
    }
}

/// A voxel grid: array shape [D, H, W] and the affine of its voxels (voxel (i, j, k) → world mm).
/// The one grid type of PETGAN: volumes, resampling targets and the phantom cohort's templates and
/// output grids are all described by it.
public struct VolumeGrid: Equatable, Codable, Sendable, CustomStringConvertible {
    /// Array shape [D, H, W] = (nz, ny, nx).
    public var shape: [Int]
    public var affine: Affine
    public init(shape: [Int], affine: Affine) { self.shape = shape; self.affine = affine }

    public var depth: Int { shape[0] }
    public var height: Int { shape[1] }
    public var width: Int { shape[2] }
    /// Number of voxels.
    public var count: Int { shape.reduce(1, *) }
    /// Grid shape in NIfTI order (x, y, z).
    public var gridShape: GridShape { GridShape(arrayShape: shape) }
    /// Voxel sizes (dx, dy, dz) in mm from the affine.
    public var voxelSize: (Double, Double, Double) { affine.voxelSizes }

    /// "96x112x96 voxels of 2x2x2 mm" (NIfTI order).
    public var description: String {
        let (dx, dy, dz) = voxelSize
        return "\(gridShape) voxels of \([dx, dy, dz].map { String(format: "%.3g", $0) }.joined(separator: "x")) mm"
    }

    /// The MNI grid used by PETGAN's cohorts: axis-aligned RAS+, isotropic voxels, centred on the
    /// centre of the standard MNI152 bounding box (x 0, y −18, z +18 mm; the box of the 2 mm
    /// 91×109×91 MNI template). `niftiShape` is (nx, ny, nz), e.g. 96×112×96 at 2 mm.
    public static func mni(niftiShape s: [Int], voxelSize v: Double) -> VolumeGrid {
        precondition(s.count == 3, "an MNI grid has three sizes (nx, ny, nz)")
        let centre = [0.0, -18.0, 18.0]
        let origin = (0..<3).map { centre[$0] - Double(s[$0] - 1) / 2 * v }
        return VolumeGrid(shape: VolumeAxes.arrayShape(nx: s[0], ny: s[1], nz: s[2]),
                          affine: .scaling(v, v, v, origin: (origin[0], origin[1], origin[2])))
    }
}

/// What world space an affine refers to (NIfTI xform codes).
public enum WorldSpace: Int, Codable {
    case unknown = 0, scanner = 1, aligned = 2, talairach = 3, mni = 4, template = 5
    public var name: String {
        switch self {
        case .unknown: return "unknown"
        case .scanner: return "scanner"
        case .aligned: return "aligned"
        case .talairach: return "Talairach"
        case .mni: return "MNI152"
        case .template: return "template"
        }
    }
}

/// A 3-D scalar volume: Float voxels in (D, H, W) layout (see the axis convention above), its
/// affine, and where it came from.
public struct Volume {
    /// Array shape [D, H, W].
    public var shape: [Int]
    /// Voxels, W fastest (= NIfTI x-fastest storage).
    public var data: [Float]
    /// Voxel (i, j, k) → world mm.
    public var affine: Affine
    /// What the affine's world space is (written as the NIfTI sform/qform code).
    public var space: WorldSpace
    /// Free-form metadata (source file, provenance, units of the values...).
    public var metadata: [String: String]

    public init(shape: [Int], data: [Float], affine: Affine = .identity, space: WorldSpace = .scanner, metadata: [String: String] = [:]) {
        precondition(shape.count == 3 && shape.reduce(1, *) == data.count, "volume shape \(shape) does not match \(data.count) values")
        self.shape = shape; self.data = data; self.affine = affine; self.space = space; self.metadata = metadata
    }

    /// An all-zero volume.
    public init(shape: [Int], affine: Affine = .identity, space: WorldSpace = .scanner) {
        self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)), affine: affine, space: space)
    }

    /// From a tensor of shape [D, H, W] (or [1, 1, D, H, W]).
    public init(tensor: Tensor, affine: Affine = .identity, space: WorldSpace = .scanner) {
        let s = Array(tensor.shape.suffix(3))
        self.init(shape: s, data: tensor.array, affine: affine, space: space)
    }

    /// A volume of `data` ([D, H, W], W fastest) on `grid`.
    public init(grid: VolumeGrid, data: [Float], space: WorldSpace = .scanner, metadata: [String: String] = [:]) {
        self.init(shape: grid.shape, data: data, affine: grid.affine, space: space, metadata: metadata)
    }

    /// The grid the voxels lie on.
    public var grid: VolumeGrid { VolumeGrid(shape: shape, affine: affine) }

    /// A [D, H, W] tensor with the same values.
    public func tensor() -> Tensor { Tensor(shape: shape, values: data) }

    /// Grid shape in NIfTI order (x, y, z).
    public var gridShape: GridShape { GridShape(arrayShape: shape) }
    /// Voxel sizes (dx, dy, dz) in mm from the affine.
    public var voxelSize: (Double, Double, Double) { affine.voxelSizes }
    /// Number of voxels.
    public var count: Int { data.count }

    /// Voxel value at NIfTI index (i, j, k).
    @inlinable public subscript(i: Int, j: Int, k: Int) -> Float {
        get { data[VolumeAxes.linearIndex(i: i, j: j, k: k, shape: shape)] }
        set { data[VolumeAxes.linearIndex(i: i, j: j, k: k, shape: shape)] = newValue }
    }

    /// Smallest and largest finite value (0, 0 when none).
    public var finiteRange: (min: Float, max: Float) {
        var lo = Float.infinity, hi = -Float.infinity
        for v in data where v.isFinite { if v < lo { lo = v }; if v > hi { hi = v } }
        return lo <= hi ? (lo, hi) : (0, 0)
    }

    /// Number of NaN or infinite voxels.
    public var nonFiniteCount: Int { data.reduce(0) { $0 + ($1.isFinite ? 0 : 1) } }

    /// The same voxels and world positions with the array axes permuted and flipped so the voxel
    /// axes point as close as possible to R, A, S (what viewers call "closest canonical").
    public func reorientedToRAS() -> Volume {
        guard let r = RASReorientation(shape: shape, affine: affine) else { return self }
        var out = [Float](repeating: 0, count: data.count)
        let nn = r.newGrid
        data.withUnsafeBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o in
                for c in 0..<nn[2] { for b in 0..<nn[1] { for a in 0..<nn[0] {
                    o[(c * nn[1] + b) * nn[0] + a] = inp[r.oldIndex(a, b, c)]
                } } }
            }
        }
        var v = self
        v.shape = r.newShape; v.data = out; v.affine = r.newAffine
        return v
    }
}

/// The index map of `Volume.reorientedToRAS` without copying voxels: which voxel of the original
/// (D, H, W) array sits at each position of the RAS grid. nil when the grid already is RAS or its
/// orientation is undefined (then the original indices apply).
public struct RASReorientation {
    /// Sizes along the original voxel axes i, j, k.
    let n: [Int]
    let src: [Int], flip: [Bool]
    /// Sizes along the new i, j, k, the new array shape (D, H, W) and the new affine.
    public let newGrid: [Int], newShape: [Int], newAffine: Affine

    public init?(shape: [Int], affine: Affine) {
        let codes = Array(affine.orientationCodes)
        guard !codes.contains("?"), String(codes) != "RAS" else { return nil }
        // For each world axis w (R, A, S) find the voxel axis a pointing along it and its sign.
        let letters: [(Character, Character)] = [("R", "L"), ("A", "P"), ("S", "I")]
        var src = [Int](repeating: 0, count: 3), flip = [Bool](repeating: false, count: 3)
        for w in 0..<3 {
            let a = codes.firstIndex(where: { $0 == letters[w].0 || $0 == letters[w].1 })!
            src[w] = a; flip[w] = codes[a] == letters[w].1
        }
        let n = [shape[2], shape[1], shape[0]]          // sizes along i, j, k
        let nn = [n[src[0]], n[src[1]], n[src[2]]]      // new sizes along new i, j, k
        self.n = n; self.src = src; self.flip = flip
        newGrid = nn; newShape = [nn[2], nn[1], nn[0]]
        // New affine: column w = ±old column src[w]; origin moves to the old voxel new(0,0,0) maps to.
        var t = Affine.identity
        for w in 0..<3 {
            for r in 0..<3 { t[r, w] = 0 }
            t[src[w], w] = flip[w] ? -1 : 1
            t[src[w], 3] = flip[w] ? Double(n[src[w]] - 1) : 0
        }
        newAffine = affine * t
    }

    /// Linear index in the original array of new voxel (a, b, c): old[src[w]] = flip ? n−1−a_w : a_w.
    @inline(__always) public func oldIndex(_ a: Int, _ b: Int, _ c: Int) -> Int {
        var old = (0, 0, 0)
        func set(_ axis: Int, _ v: Int) { switch axis { case 0: old.0 = v; case 1: old.1 = v; default: old.2 = v } }
        set(src[0], flip[0] ? n[src[0]] - 1 - a : a)
        set(src[1], flip[1] ? n[src[1]] - 1 - b : b)
        set(src[2], flip[2] ? n[src[2]] - 1 - c : c)
        return (old.2 * n[1] + old.1) * n[0] + old.0
    }
}
