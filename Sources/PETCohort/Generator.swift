import Foundation
import PETTensor
import PETVolumes

/// One synthesised subject: SUVR values on the generator's grid, (D,H,W) layout.
public struct PhantomVolume: Sendable {
    public var subject: SubjectParameters
    public var values: [Float]
    /// Mean activity in the pons mask before SUVR normalisation.
    public var ponsReference: Double
}

/// Synthesises FDG-PET-like volumes on one output grid from a shared anatomy:
///   1. warp: output voxel p ↦ template point q = c + L(p − c) + t + u(p) (small affine L, t about the
///      brain centre c, smooth random displacement u);
///   2. tissue: GM, WM, CSF trilinear at q; AAL2 region nearest at q;
///   3. region map M = R(region) · regional factor · (1 − reduction), atrophy map A, both smoothed
///      (soft edges);
///   4. activity = g · (r_GM · GM(1 − A) · M + WM + csfUptake · (CSF + GM·A));
///   5. signal-dependent Gaussian noise (SD ∝ √activity), then the scanner PSF;
///   6. SUVR: divided by the mean in the pons mask (on the output grid, not warped: images are
///      "spatially normalised", their residual misregistration is the warp).
public final class PhantomGenerator: @unchecked Sendable {
    public let anatomy: PhantomAnatomy
    public let parameters: PhantomParameters
    public let grid: VolumeGrid
    /// Output-grid voxels of the pons reference mask.
    public let ponsVoxels: [Int]
    /// World mm → voxel of the tissue maps and of the atlas (the inverses of their grids' affines).
    let worldToTissueVoxel: Affine, worldToAtlasVoxel: Affine
    /// Base regional multiplier R per dense region index (0: unlabelled = 1).
    let baseUptake: [Float]
    /// Centre of the subject transforms (MNI mm).
    public static let brainCentre = (0.0, -18.0, 18.0)

    public init(anatomy: PhantomAnatomy, parameters: PhantomParameters, grid: VolumeGrid) throws {
        try parameters.validate()
        self.anatomy = anatomy
        self.parameters = parameters
        self.grid = grid
        guard let toTissue = anatomy.tissueGrid.affine.inverse, let toAtlas = anatomy.atlasGrid.affine.inverse else {
            throw PhantomError.invalidRequest("the anatomy's tissue or atlas grid has a singular affine")
        }
        worldToTissueVoxel = toTissue; worldToAtlasVoxel = toAtlas
        var base = [Float](repeating: 1, count: anatomy.regions.codes.count + 1)
        for u in parameters.regionalUptake {
            for code in u.codes { if let i = anatomy.regions.index(ofCode: code) { base[i] = Float(u.multiplier) } }
        }
        baseUptake = base
        ponsVoxels = anatomy.ponsVoxels(on: grid)
        guard !ponsVoxels.isEmpty else {
            throw PhantomError.invalidRequest("the output grid \(grid) does not contain the pons reference region")
        }
        for c in parameters.classes {
            for g in c.reductions.keys where parameters.group(named: g) == nil {
                throw PhantomError.invalidParameters(source: "phantom parameters", reason: "unknown group \(g)")
            }
        }
    }

    /// Multiplier and atrophy fraction per dense region index for one subject.
    func regionTables(_ s: SubjectParameters) -> (mult: [Float], atrophy: [Float]) {
        let codes = anatomy.regions.codes
        var mult = baseUptake
        var atro = [Float](repeating: 0, count: codes.count + 1)
        for (i, code) in codes.enumerated() {
            mult[i + 1] *= Float(s.regionalFactors[String(code)] ?? 1)
        }
        let side = { (code: Int) -> Int in code % 10 == 1 ? 0 : (code % 10 == 2 ? 1 : -1) }
        for (name, lr) in s.reductions {
            guard let g = parameters.group(named: name) else { continue }
            for code in g.codes {
                guard let i = anatomy.regions.index(ofCode: code) else { continue }
                let sd = side(code)
                let d = sd < 0 ? (lr[0] + lr[1]) / 2 : lr[sd]
                mult[i] *= Float(1 - d)
            }
        }
        if let g = parameters.group(named: parameters.atrophyGroup) {
            for code in g.codes { if let i = anatomy.regions.index(ofCode: code) { atro[i] = Float(s.atrophy) } }
        }
        if s.corticalAtrophy > 0, let g = parameters.group(named: parameters.corticalGroup) {
            // Cortical thinning on top of the medial temporal atrophy: the GM fractions left multiply.
            for code in g.codes {
                if let i = anatomy.regions.index(ofCode: code) { atro[i] = 1 - (1 - atro[i]) * Float(1 - s.corticalAtrophy) }
            }
        }
        return (mult, atro)
    }

    /// Builds the subject's volume from its parameters.
    public func synthesize(_ s: SubjectParameters) -> PhantomVolume {
        let n = grid.count
        let (nd, nh, nw) = (grid.shape[0], grid.shape[1], grid.shape[2])
        let field = s.displacementMaxMM > 0
            ? DisplacementField(seed: s.seed, sigmaMM: s.displacementSigmaMM, maxMM: s.displacementMaxMM)
            : DisplacementField()
        let (mult, atro) = regionTables(s)
        // Subject transform about the brain centre: q = c + L (p − c) + t, L = R · diag(scale).
        let rad = s.rotationDegrees.map { $0 * Double.pi / 180 }
        let rm = Affine.rotation(rad[0], rad[1], rad[2])
        var L = [Double](repeating: 0, count: 9)
        for r in 0..<3 { for c in 0..<3 { L[r * 3 + c] = rm[r, c] * s.scale[c] } }
        let cc = PhantomGenerator.brainCentre
        let tInv = worldToTissueVoxel.m, aInv = worldToAtlasVoxel.m
        let A = grid.affine
        let p = parameters
        let bsX = p.brainstemMaxAbsX, bsZ = p.brainstemMaxZ, bsU = Float(p.brainstemUptake)
        // Ventricular enlargement: template points are pulled towards the ventricles' centre by the
        // fraction e·w(q), w a Gaussian weight, so what lies near the ventricles (CSF) grows outwards.
        let vE = s.ventricleExpansion
        let vc = p.ventricleCentreMM, vInv = p.ventricleSigmaMM.map { 1 / $0 }

        var gmA = [Float](repeating: 0, count: n), wmA = gmA, csfA = gmA, mA = gmA, atA = gmA
        let ts = anatomy.tissueGrid.shape, asz = anatomy.atlasGrid.shape
        anatomy.gm.withUnsafeBufferPointer { G in anatomy.wm.withUnsafeBufferPointer { W in anatomy.csf.withUnsafeBufferPointer { C in
        anatomy.atlas.withUnsafeBufferPointer { AT in mult.withUnsafeBufferPointer { MU in atro.withUnsafeBufferPointer { AR in
        gmA.withUnsafeMutableBufferPointer { og in wmA.withUnsafeMutableBufferPointer { ow in csfA.withUnsafeMutableBufferPointer { oc in
        mA.withUnsafeMutableBufferPointer { om in atA.withUnsafeMutableBufferPointer { oa in
            let (g0, w0, c0) = (G.baseAddress!, W.baseAddress!, C.baseAddress!)
            let (at0, mu0, ar0) = (AT.baseAddress!, MU.baseAddress!, AR.baseAddress!)
            let (ogp, owp, ocp, omp, oap) = (og.baseAddress!, ow.baseAddress!, oc.baseAddress!, om.baseAddress!, oa.baseAddress!)
            Parallel.forRanges(nd) { range in
                for k in range { for j in 0..<nh { for i in 0..<nw {
                    let (px, py, pz) = A.apply(Double(i), Double(j), Double(k))
                    let (ux, uy, uz) = field.displacement(px, py, pz)
                    let (rx, ry, rz) = (px - cc.0, py - cc.1, pz - cc.2)
                    var qx = cc.0 + L[0] * rx + L[1] * ry + L[2] * rz + s.translationMM[0] + Double(ux)
                    var qy = cc.1 + L[3] * rx + L[4] * ry + L[5] * rz + s.translationMM[1] + Double(uy)
                    var qz = cc.2 + L[6] * rx + L[7] * ry + L[8] * rz + s.translationMM[2] + Double(uz)
                    if vE > 0 {
                        let dx = qx - (qx < 0 ? -vc[0] : vc[0]), dy = qy - vc[1], dz = qz - vc[2]
                        let ex = dx * vInv[0], ey = dy * vInv[1], ez = dz * vInv[2]
                        let r2 = ex * ex + ey * ey + ez * ez
                        if r2 < 16 {
                            let f = vE * exp(-0.5 * r2)
                            qx -= f * dx; qy -= f * dy; qz -= f * dz
                        }
                    }
                    let o = (k * nh + j) * nw + i
                    // Tissue (trilinear, the three maps share the weights).
                    let fx = tInv[0] * qx + tInv[1] * qy + tInv[2] * qz + tInv[3]
                    let fy = tInv[4] * qx + tInv[5] * qy + tInv[6] * qz + tInv[7]
                    let fz = tInv[8] * qx + tInv[9] * qy + tInv[10] * qz + tInv[11]
                    let x0 = Int(fx.rounded(.down)), y0 = Int(fy.rounded(.down)), z0 = Int(fz.rounded(.down))
                    if x0 >= 0, y0 >= 0, z0 >= 0, x0 + 1 < ts[2], y0 + 1 < ts[1], z0 + 1 < ts[0] {
                        let ax = Float(fx - Double(x0)), ay = Float(fy - Double(y0)), az = Float(fz - Double(z0))
                        let b = (z0 * ts[1] + y0) * ts[2] + x0
                        let sy = ts[2], sz = ts[1] * ts[2]
                        let w000 = (1 - ax) * (1 - ay) * (1 - az), w100 = ax * (1 - ay) * (1 - az)
                        let w010 = (1 - ax) * ay * (1 - az), w110 = ax * ay * (1 - az)
                        let w001 = (1 - ax) * (1 - ay) * az, w101 = ax * (1 - ay) * az
                        let w011 = (1 - ax) * ay * az, w111 = ax * ay * az
                        @inline(__always) func tri(_ a: UnsafePointer<Float>) -> Float {
                            w000 * a[b] + w100 * a[b + 1] + w010 * a[b + sy] + w110 * a[b + sy + 1]
                                + w001 * a[b + sz] + w101 * a[b + sz + 1] + w011 * a[b + sz + sy] + w111 * a[b + sz + sy + 1]
                        }
                        ogp[o] = tri(g0); owp[o] = tri(w0); ocp[o] = tri(c0)
                    } else {
                        ogp[o] = 0; owp[o] = 0; ocp[o] = 0
                    }
                    // Region (nearest).
                    let lx = Int((aInv[0] * qx + aInv[1] * qy + aInv[2] * qz + aInv[3]).rounded())
                    let ly = Int((aInv[4] * qx + aInv[5] * qy + aInv[6] * qz + aInv[7]).rounded())
                    let lz = Int((aInv[8] * qx + aInv[9] * qy + aInv[10] * qz + aInv[11]).rounded())
                    var label = 0
                    if lx >= 0, ly >= 0, lz >= 0, lx < asz[2], ly < asz[1], lz < asz[0] {
                        label = Int(at0[(lz * asz[1] + ly) * asz[2] + lx])
                    }
                    if label == 0 {
                        omp[o] = (abs(qx) < bsX && qz < bsZ) ? bsU : 1
                        oap[o] = 0
                    } else {
                        omp[o] = mu0[label]; oap[o] = ar0[label]
                    }
                } } }
            }
        } } } } } } } } } } }

        let vs = grid.voxelSize   // (x, y, z)
        if p.diseaseEdgeSigmaMM > 0 {
            let sig = [p.diseaseEdgeSigmaMM / vs.2, p.diseaseEdgeSigmaMM / vs.1, p.diseaseEdgeSigmaMM / vs.0]
            GaussianFilter.smooth(&mA, shape: grid.shape, sigmas: sig)
            GaussianFilter.smooth(&atA, shape: grid.shape, sigmas: sig)
        }
        let psfSigma = GaussianFilter.sigma(fwhm: s.psfFWHMmm)
        let psfSig = [psfSigma / vs.2, psfSigma / vs.1, psfSigma / vs.0]
        // Noise before the PSF, scaled so that it leaves `noiseCoV` after the PSF at the WM level.
        let kappa = Float(s.noiseCoV / GaussianFilter.varianceReduction(sigmas: psfSig).squareRoot())
        let g = Float(s.globalScale), r = Float(s.gmToWMRatio), cu = Float(p.csfUptake)
        let seed = s.seed
        var act = gmA   // reuse: activity replaces GM in place
        act.withUnsafeMutableBufferPointer { ab in wmA.withUnsafeBufferPointer { wb in csfA.withUnsafeBufferPointer { cb in
        mA.withUnsafeBufferPointer { mb in atA.withUnsafeBufferPointer { tb in
            let (a0, w0, c0, m0, t0) = (ab.baseAddress!, wb.baseAddress!, cb.baseAddress!, mb.baseAddress!, tb.baseAddress!)
            let slice = nh * nw
            Parallel.forRanges(nd) { range in
                for k in range {
                    // One generator per slice: the noise does not depend on the thread count.
                    var rng = PETRandom(seed: Draw.derivedSeed(seed, 0x4015_E000 + UInt64(k)))
                    for o in (k * slice)..<((k + 1) * slice) {
                        let gmv = a0[o], at = t0[o]
                        var v = g * (r * gmv * (1 - at) * m0[o] + w0[o] + cu * (c0[o] + gmv * at))
                        let z = rng.normal()
                        if v > 0, kappa > 0 { v += kappa * (v * g).squareRoot() * z }
                        a0[o] = v
                    }
                }
            }
        } } } } }
        gmA = []; wmA = []; csfA = []; mA = []; atA = []
        GaussianFilter.smooth(&act, shape: grid.shape, sigmas: psfSig)
        var ref = 0.0
        for o in ponsVoxels { ref += Double(act[o]) }
        ref /= Double(ponsVoxels.count)
        let inv = Float(1 / ref)
        act.withUnsafeMutableBufferPointer { b in
            let a = b.baseAddress!
            Parallel.forRanges(n, minChunk: 65536) { range in for o in range { a[o] *= inv } }
        }
        return PhantomVolume(subject: s, values: act, ponsReference: ref)
    }

    /// Draws and synthesises one subject.
    public func generate(index: Int, className: String, seed: UInt64) throws -> PhantomVolume {
        synthesize(try drawSubject(index: index, className: className, seed: seed))
    }
}
