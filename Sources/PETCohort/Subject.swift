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
    /// Regional GM uptake factor per AAL2 code (key: code as text): the correlated regional noise ×
    /// the age and sex effects × the normal hemispheric asymmetry.
    public var regionalFactors: [String: Double]
    public var psfFWHMmm: Double
    public var noiseCoV: Double
    /// Covariates (absent in records written before they existed: nil).
    public var age: Double?
    public var sex: SubjectSex?
    /// Disease presentation: `ClassModel.typical` or one of the class's variants' names.
    public var variant: String?
    /// MMSE-like score (0–30) mapped from the severity.
    public var mmse: Double?
    /// Fraction of cortical GM turned into CSF (age + disease) and ventricular enlargement (absent: 0).
    public var corticalAtrophy: Double
    public var ventricleExpansion: Double

    public init(id: String, index: Int, className: String, seed: UInt64, gmToWMRatio: Double, globalScale: Double,
                displacementSigmaMM: Double, displacementMaxMM: Double, scale: [Double], rotationDegrees: [Double],
                translationMM: [Double], severity: Double, reductions: [String: [Double]], atrophy: Double,
                regionalFactors: [String: Double], psfFWHMmm: Double, noiseCoV: Double, age: Double? = nil,
                sex: SubjectSex? = nil, variant: String? = nil, mmse: Double? = nil, corticalAtrophy: Double = 0,
                ventricleExpansion: Double = 0) {
        self.id = id; self.index = index; self.className = className; self.seed = seed; self.gmToWMRatio = gmToWMRatio
        self.globalScale = globalScale; self.displacementSigmaMM = displacementSigmaMM; self.displacementMaxMM = displacementMaxMM
        self.scale = scale; self.rotationDegrees = rotationDegrees; self.translationMM = translationMM; self.severity = severity
        self.reductions = reductions; self.atrophy = atrophy; self.regionalFactors = regionalFactors; self.psfFWHMmm = psfFWHMmm
        self.noiseCoV = noiseCoV; self.age = age; self.sex = sex; self.variant = variant; self.mmse = mmse
        self.corticalAtrophy = corticalAtrophy; self.ventricleExpansion = ventricleExpansion
    }

    enum CodingKeys: String, CodingKey {
        case id, index, className, seed, gmToWMRatio, globalScale, displacementSigmaMM, displacementMaxMM, scale
        case rotationDegrees, translationMM, severity, reductions, atrophy, regionalFactors, psfFWHMmm, noiseCoV
        case age, sex, variant, mmse, corticalAtrophy, ventricleExpansion
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        index = try c.decode(Int.self, forKey: .index)
        className = try c.decode(String.self, forKey: .className)
        seed = try c.decode(UInt64.self, forKey: .seed)
        gmToWMRatio = try c.decode(Double.self, forKey: .gmToWMRatio)
        globalScale = try c.decode(Double.self, forKey: .globalScale)
        displacementSigmaMM = try c.decode(Double.self, forKey: .displacementSigmaMM)
        displacementMaxMM = try c.decode(Double.self, forKey: .displacementMaxMM)
        scale = try c.decode([Double].self, forKey: .scale)
        rotationDegrees = try c.decode([Double].self, forKey: .rotationDegrees)
        translationMM = try c.decode([Double].self, forKey: .translationMM)
        severity = try c.decode(Double.self, forKey: .severity)
        reductions = try c.decode([String: [Double]].self, forKey: .reductions)
        atrophy = try c.decode(Double.self, forKey: .atrophy)
        regionalFactors = try c.decode([String: Double].self, forKey: .regionalFactors)
        psfFWHMmm = try c.decode(Double.self, forKey: .psfFWHMmm)
        noiseCoV = try c.decode(Double.self, forKey: .noiseCoV)
        age = try c.decodeIfPresent(Double.self, forKey: .age)
        sex = try c.decodeIfPresent(SubjectSex.self, forKey: .sex)
        variant = try c.decodeIfPresent(String.self, forKey: .variant)
        mmse = try c.decodeIfPresent(Double.self, forKey: .mmse)
        corticalAtrophy = try c.decodeIfPresent(Double.self, forKey: .corticalAtrophy) ?? 0
        ventricleExpansion = try c.decodeIfPresent(Double.self, forKey: .ventricleExpansion) ?? 0
    }

    /// The covariates as a flat JSON-ready dictionary (NIfTI sidecars, reports).
    public var covariates: [String: Any] {
        var d: [String: Any] = ["className": className, "severity": severity, "psfFWHMmm": psfFWHMmm, "noiseCoV": noiseCoV,
                                "corticalAtrophy": corticalAtrophy, "ventricleExpansion": ventricleExpansion,
                                "medialTemporalAtrophy": atrophy, "globalScale": globalScale]
        if let age { d["age"] = age }
        if let sex { d["sex"] = sex.rawValue }
        if let variant { d["variant"] = variant }
        if let mmse { d["mmse"] = mmse }
        return d
    }
}

/// Sex of a subject as recorded ("F", "M").
public enum SubjectSex: String, Codable, Sendable, CaseIterable {
    case female = "F"
    case male = "M"
}

extension PhantomGenerator {
    /// Draws a subject's parameters from `PETRandom(seed:)` in a fixed order.
    public func drawSubject(index: Int, className: String, seed: UInt64) throws -> SubjectParameters {
        guard let cls = parameters.classModel(named: className) else {
            throw PhantomError.invalidRequest("unknown class '\(className)' (known: \(parameters.classes.map(\.name).joined(separator: ", ")))")
        }
        let p = parameters
        let fx = p.effects
        var rng = PETRandom(seed: seed)
        let r = p.gmToWMRatio.mid + (Draw.uniform(&rng, p.gmToWMRatio) - p.gmToWMRatio.mid) * fx[.contrast]
        let g = pow(Draw.logNormal(&rng, mean: 1, cv: p.globalScaleCV), fx[.globalScale])
        let dSigma = Draw.uniform(&rng, p.displacementSigmaMM)
        let dMax = Draw.uniform(&rng, p.displacementMaxMM) * fx[.deformation]
        var sc = (0..<3).map { _ in 1 + Double(rng.uniform(-1, 1)) * p.scale * fx[.misregistration] }
        let rot = (0..<3).map { _ in Double(rng.uniform(-1, 1)) * p.rotationDegrees * fx[.misregistration] }
        let tr = (0..<3).map { _ in Double(rng.uniform(-1, 1)) * p.translationMM * fx[.misregistration] }
        // Correlated regional factors: one common deviate plus one per region.
        let common = Double(rng.normal())
        let rho = p.regionalCorrelation
        var factors: [String: Double] = [:]
        for code in anatomy.regions.codes {
            let z = rho.squareRoot() * common + (1 - rho).squareRoot() * Double(rng.normal())
            factors[String(code)] = max(0.1, 1 + p.regionalSD * fx[.regional] * z)
        }
        let psfDrawn = Draw.uniform(&rng, p.psfFWHMmm)
        let psf = p.psfFWHMmm.mid + (psfDrawn - p.psfFWHMmm.mid) * fx[.resolution]
        let noise = Draw.uniform(&rng, p.noiseCoV) * fx[.noise]
        // Covariates and the normal hemispheric asymmetry (same in every class for one seed).
        let age = (min(p.ageRange.hi, max(p.ageRange.lo, p.ageMean + p.ageSD * Double(rng.normal()))) * 10).rounded() / 10
        let sex: SubjectSex = rng.uniformDouble() < p.femaleFraction ? .female : .male
        let asymGlobal = p.hemisphericAsymmetryGlobalSD * Double(rng.normal())
        var asymPair: [Int: Double] = [:]
        for code in anatomy.regions.codes where code % 10 == 1 {
            asymPair[code] = asymGlobal + p.hemisphericAsymmetrySD * Double(rng.normal())
        }
        let sexSign = sex == .male ? 1.0 : -1.0
        for a in 0..<3 { sc[a] *= 1 + sexSign * p.sexScaleDifference / 2 * fx[.sex] }
        let decades = (age - p.ageReference) / 10
        var ageSlope: [Int: Double] = [:]
        if let cortex = p.group(named: p.corticalGroup) {
            for code in cortex.codes { ageSlope[code] = p.ageUptakeOtherCortexPerDecade }
        }
        for rv in p.ageUptakePerDecade { for code in rv.codes { ageSlope[code] = rv.value } }
        var sexEffect: [Int: Double] = [:]
        for rv in p.sexUptake { for code in rv.codes { sexEffect[code] = rv.value } }
        for code in anatomy.regions.codes {
            var f = factors[String(code)]!
            f *= max(0.1, 1 + (ageSlope[code] ?? 0) * decades * fx[.age])
            f *= 1 - sexSign * (sexEffect[code] ?? 0) / 2 * fx[.sex]   // value: women relative to men
            if code % 10 == 1, let a = asymPair[code] { f *= 1 + a / 2 * fx[.asymmetry] }
            if code % 10 == 2, let a = asymPair[code - 1] { f *= 1 - a / 2 * fx[.asymmetry] }
            factors[String(code)] = max(0.1, f)
        }
        let ageDecadesAboveMin = max(0, age - p.ageRange.lo) / 10
        // Class-dependent draws come from their own stream, so one seed gives the same anatomy,
        // regional factors and noise in every class (paired comparisons).
        var drng = PETRandom(seed: Draw.derivedSeed(seed, 0xC1A5_5E00))
        let severity = Draw.beta(&drng, cls.severityBeta[0], cls.severityBeta[1])
        let variantDraw = drng.uniformDouble()
        let mmseNoise = Double(drng.normal())
        var variant: DiseaseVariant?
        var cumulative = 0.0
        for v in cls.variants {
            cumulative += v.frequency * fx[.variants]
            if variantDraw < cumulative { variant = v; break }
        }
        let pattern = variant?.reductions ?? cls.reductions
        let t = p.severityTail
        let position = (1 + 2 * t) * severity - t
        func mapped(_ range: ParameterRange) -> Double { max(0, range.lo + (range.hi - range.lo) * position) }
        // One asymmetry deviate per group of any presentation (a stable stream whatever the variant).
        let allGroups = Set(cls.reductions.keys).union(cls.variants.flatMap { $0.reductions.keys }).sorted()
        let asymScale = p.asymmetry * fx[.asymmetry] * (variant?.asymmetryScale ?? 1)
        var reductions: [String: [Double]] = [:]
        for name in allGroups {
            let a = Double(drng.uniform(-1, 1)) * asymScale
            guard let range = pattern[name] else { continue }
            let d = mapped(range) * fx[.disease]
            reductions[name] = [min(0.95, d * (1 + a)), min(0.95, d * (1 - a))]
        }
        let diseaseAtrophy = fx[.disease] * fx[.atrophy] * (variant?.atrophyScale ?? 1)
        let atrophy = min(0.95, mapped(cls.atrophy) * diseaseAtrophy)
        let cortical = min(0.5, fx[.atrophy] * fx[.age] * p.ageCorticalAtrophyPerDecade * ageDecadesAboveMin
                           + mapped(cls.corticalAtrophy) * diseaseAtrophy)
        let ventricles = min(0.5, fx[.atrophy] * fx[.age] * p.ageVentricleExpansionPerDecade * ageDecadesAboveMin
                             + mapped(cls.ventricleExpansion) * diseaseAtrophy)
        let mmseValue = (min(30, max(0, cls.mmse.hi - (cls.mmse.hi - cls.mmse.lo) * position + p.mmseNoiseSD * mmseNoise))).rounded()
        return SubjectParameters(id: String(format: "sub-%04d", index + 1), index: index, className: className, seed: seed,
                                 gmToWMRatio: r, globalScale: g, displacementSigmaMM: dSigma, displacementMaxMM: dMax,
                                 scale: sc, rotationDegrees: rot, translationMM: tr, severity: severity,
                                 reductions: reductions, atrophy: atrophy, regionalFactors: factors,
                                 psfFWHMmm: psf, noiseCoV: noise, age: age, sex: sex,
                                 variant: variant?.name ?? ClassModel.typical, mmse: mmseValue,
                                 corticalAtrophy: cortical, ventricleExpansion: ventricles)
    }
}
