import Foundation
import PETTensor

/// A smooth random displacement field (mm) on a coarse lattice fixed in MNI space, so the same seed
/// deforms the anatomy the same way whatever the output grid. White noise is filtered with a
/// Gaussian of σ mm and scaled so the largest displacement norm on the lattice equals `maxMM`.
/// Values between lattice points are trilinear.
public struct DisplacementField: Sendable {
    /// World position (x, y, z mm) of lattice point (0, 0, 0).
    public let origin: (Double, Double, Double)
    public let spacing: Double
    /// Lattice size (nz, ny, nx).
    public let shape: [Int]
    /// Components (D,H,W) layout: displacement along x, y, z in mm.
    public let ux: [Float], uy: [Float], uz: [Float]

    /// Bounding box of the lattice in MNI mm (covers every grid PETGAN builds, with margin).
    public static let box = (lo: (-110.0, -150.0, -90.0), hi: (110.0, 110.0, 130.0))

    public init(seed: UInt64, sigmaMM: Double, maxMM: Double) {
        // 3 lattice points per σ resolve the filtered field well (its spectrum is negligible past 1/σ).
        let h = max(2.0, sigmaMM / 3)
        let b = DisplacementField.box
        let n = [Int(((b.hi.2 - b.lo.2) / h).rounded(.up)) + 1, Int(((b.hi.1 - b.lo.1) / h).rounded(.up)) + 1,
                 Int(((b.hi.0 - b.lo.0) / h).rounded(.up)) + 1]
        let count = n[0] * n[1] * n[2]
        var comps: [[Float]] = []
        for c in 0..<3 {
            var rng = PETRandom(seed: Draw.derivedSeed(seed, 0xD15B_0000 + UInt64(c)))
            var a = [Float](repeating: 0, count: count)
            for i in 0..<count { a[i] = rng.normal() }
            GaussianFilter.smooth(&a, shape: n, sigmas: [sigmaMM / h, sigmaMM / h, sigmaMM / h])
            comps.append(a)
        }
        var maxNorm: Float = 0
        for i in 0..<count {
            let s = comps[0][i] * comps[0][i] + comps[1][i] * comps[1][i] + comps[2][i] * comps[2][i]
            maxNorm = max(maxNorm, s)
        }
        let f = maxNorm > 0 ? Float(maxMM) / maxNorm.squareRoot() : 0
        origin = b.lo
        spacing = h
        shape = n
        ux = comps[0].map { $0 * f }
        uy = comps[1].map { $0 * f }
        uz = comps[2].map { $0 * f }
    }

    /// Zero field (no deformation).
    public init() {
        origin = DisplacementField.box.lo; spacing = 1000; shape = [1, 1, 1]; ux = [0]; uy = [0]; uz = [0]
    }

    /// Displacement (mm) at world point (x, y, z), trilinear, clamped at the lattice edge.
    @inline(__always)
    public func displacement(_ x: Double, _ y: Double, _ z: Double) -> (Float, Float, Float) {
        let (nz, ny, nx) = (shape[0], shape[1], shape[2])
        if nx == 1 { return (ux[0], uy[0], uz[0]) }
        let fx = min(max((x - origin.0) / spacing, 0), Double(nx - 1) - 1e-6)
        let fy = min(max((y - origin.1) / spacing, 0), Double(ny - 1) - 1e-6)
        let fz = min(max((z - origin.2) / spacing, 0), Double(nz - 1) - 1e-6)
        let i = Int(fx), j = Int(fy), k = Int(fz)
        let (ax, ay, az) = (Float(fx - Double(i)), Float(fy - Double(j)), Float(fz - Double(k)))
        let b = (k * ny + j) * nx + i
        let sx = 1, sy = nx, sz = nx * ny
        @inline(__always) func tri(_ a: [Float]) -> Float {
            let c00 = a[b] + ax * (a[b + sx] - a[b])
            let c01 = a[b + sy] + ax * (a[b + sy + sx] - a[b + sy])
            let c10 = a[b + sz] + ax * (a[b + sz + sx] - a[b + sz])
            let c11 = a[b + sz + sy] + ax * (a[b + sz + sy + sx] - a[b + sz + sy])
            let c0 = c00 + ay * (c01 - c00), c1 = c10 + ay * (c11 - c10)
            return c0 + az * (c1 - c0)
        }
        return (tri(ux), tri(uy), tri(uz))
    }

    /// Largest displacement norm on the lattice (mm).
    public var maxNorm: Float {
        var m: Float = 0
        for i in 0..<ux.count { m = max(m, ux[i] * ux[i] + uy[i] * uy[i] + uz[i] * uz[i]) }
        return m.squareRoot()
    }
}
