import Foundation
import PETTensor

/// Everything drawn for one subject. Written as JSON next to every cohort; `PhantomGenerator.synthesize`
/// rebuilds the volume from these values (the seed drives only the displacement and voxel noise), so a
/// volume can be regenerated, or varied by editing one value.
public struct SubjectParameters: Codable, Equatable, Sendable {
    public var id: String
    public var index: Int
    public var className: String
    /// Seed of this subject (derived from the cohort seed and the index).
    public var seed: UInt64
    /// GM:WM uptake ratio r_GM.
    public var gmToWMRatio: Double
    /// Global uptake scale g.
    public var globalScale: Double
    public var displacementSigmaMM: Double
    public var displacementMaxMM: Double
    /// Per-axis scale (x, y, z), rotations about x, y, z (degrees), translation (x, y, z mm).
    public var scale: [Double]
    public var rotationDegrees: [Double]
    public var translationMM: [Double]
    /// Latent disease severity s ∈ [0, 1] (Beta per class).
    public var severity: Double
    /// Fractional GM uptake reduction per region group: [left, right].
    public var reductions: [String: [Double]]
    /// Fraction of GM turned into CSF in the atrophy group.
    public var atrophy: Double
    /// Regional uptake factor per AAL2 code (key: code as text), the 4–5% correlated regional noise.
    public var regionalFactors: [String: Double]
    public var psfFWHMmm: Double
    public var noiseCoV: Double
}

extension PhantomGenerator {
    /// Draws a subject's parameters from `PETRandom(seed:)` in a fixed order.
    public func drawSubject(index: Int, className: String, seed: UInt64) throws -> SubjectParameters {
        guard let cls = parameters.classModel(named: className) else {
            throw PhantomError.invalidRequest("unknown class '\(className)' (known: \(parameters.classes.map(\.name).joined(separator: ", ")))")
        }
        let p = parameters
        var rng = PETRandom(seed: seed)
        let r = Draw.uniform(&rng, p.gmToWMRatio)
        let g = Draw.logNormal(&rng, mean: 1, cv: p.globalScaleCV)
        let dSigma = Draw.uniform(&rng, p.displacementSigmaMM)
        let dMax = Draw.uniform(&rng, p.displacementMaxMM)
        let sc = (0..<3).map { _ in 1 + Double(rng.uniform(-1, 1)) * p.scale }
        let rot = (0..<3).map { _ in Double(rng.uniform(-1, 1)) * p.rotationDegrees }
        let tr = (0..<3).map { _ in Double(rng.uniform(-1, 1)) * p.translationMM }
        // Correlated regional factors: one common deviate plus one per region.
        let common = Double(rng.normal())
        let rho = p.regionalCorrelation
        var factors: [String: Double] = [:]
        for code in anatomy.regions.codes {
            let z = rho.squareRoot() * common + (1 - rho).squareRoot() * Double(rng.normal())
            factors[String(code)] = max(0.1, 1 + p.regionalSD * z)
        }
        let psf = Draw.uniform(&rng, p.psfFWHMmm)
        let noise = Draw.uniform(&rng, p.noiseCoV)
        // Class-dependent draws come from their own stream, so one seed gives the same anatomy,
        // regional factors and noise in every class (paired comparisons).
        var drng = PETRandom(seed: Draw.derivedSeed(seed, 0xC1A5_5E00))
        let severity = Draw.beta(&drng, cls.severityBeta[0], cls.severityBeta[1])
        let t = p.severityTail
        let position = (1 + 2 * t) * severity - t
        var reductions: [String: [Double]] = [:]
        for name in cls.reductions.keys.sorted() {
            let range = cls.reductions[name]!
            let d = max(0, range.lo + (range.hi - range.lo) * position)
            let a = Double(drng.uniform(-1, 1)) * p.asymmetry
            reductions[name] = [min(0.95, d * (1 + a)), min(0.95, d * (1 - a))]
        }
        let atrophy = min(0.95, max(0, cls.atrophy.lo + (cls.atrophy.hi - cls.atrophy.lo) * position))
        return SubjectParameters(id: String(format: "sub-%04d", index + 1), index: index, className: className, seed: seed,
                                 gmToWMRatio: r, globalScale: g, displacementSigmaMM: dSigma, displacementMaxMM: dMax,
                                 scale: sc, rotationDegrees: rot, translationMM: tr, severity: severity,
                                 reductions: reductions, atrophy: atrophy, regionalFactors: factors,
                                 psfFWHMmm: psf, noiseCoV: noise)
    }
}
