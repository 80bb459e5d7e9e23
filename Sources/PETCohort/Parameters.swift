import Foundation

/// A closed interval [lo, hi] of a parameter drawn uniformly per subject (lo == hi: a fixed value).
/// Written in JSON as a two-element array `[lo, hi]`.
public struct ParameterRange: Codable, Equatable, Sendable, CustomStringConvertible {
    public var lo: Double
    public var hi: Double
    public init(_ lo: Double, _ hi: Double) { self.lo = lo; self.hi = hi }
    public static func fixed(_ v: Double) -> ParameterRange { ParameterRange(v, v) }
    public var mid: Double { (lo + hi) / 2 }
    public var description: String { lo == hi ? "\(lo)" : "\(lo)–\(hi)" }

    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        if c.count == 1 { let v = try c.decode(Double.self); lo = v; hi = v; return }
        lo = try c.decode(Double.self)
        hi = try c.decode(Double.self)
        guard c.isAtEnd else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "a range is [lo, hi]")
        }
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(lo); try c.encode(hi)
    }
}

/// A named set of AAL2 labels (atlas-AAL2_dseg.tsv codes; odd last digit = left, even = right,
/// 0 = midline vermis).
public struct RegionGroup: Codable, Equatable, Sendable {
    public var name: String
    public var codes: [Int]
    public init(_ name: String, _ codes: [Int]) { self.name = name; self.codes = codes }
}

/// Grey-matter uptake of a set of AAL2 regions relative to the cortical mean (1).
public struct RegionUptake: Codable, Equatable, Sendable {
    public var name: String
    public var codes: [Int]
    public var multiplier: Double
    public init(_ name: String, _ codes: [Int], _ multiplier: Double) {
        self.name = name; self.codes = codes; self.multiplier = multiplier
    }
}

/// A value attached to a set of AAL2 regions (an age slope per decade, a sex difference, …).
public struct RegionValue: Codable, Equatable, Sendable {
    public var name: String
    public var codes: [Int]
    public var value: Double
    public init(_ name: String, _ codes: [Int], _ value: Double) { self.name = name; self.codes = codes; self.value = value }
}

/// A presentation of a class's disease other than its typical one (atypical AD variants, near-normal
/// MCI): its own reduction pattern, drawn for `frequency` of the class's subjects.
public struct DiseaseVariant: Codable, Equatable, Sendable {
    public var name: String
    /// The literature subtype it belongs to (docs/phantom.md's atypical AD table), if any.
    public var subtype: String?
    /// Share of the class's subjects with this variant (the typical presentation, the class's own
    /// `reductions`, takes what the variants leave).
    public var frequency: Double
    /// Fractional GM uptake reduction per region group, mapped from the severity as the class's are.
    public var reductions: [String: ParameterRange]
    /// Multiplies the class's disease atrophy (medial temporal, cortical, ventricles).
    public var atrophyScale: Double
    /// Multiplies `PhantomParameters.asymmetry` for this variant (atypical variants are often more lateralised).
    public var asymmetryScale: Double

    public init(name: String, subtype: String? = nil, frequency: Double, reductions: [String: ParameterRange],
                atrophyScale: Double = 1, asymmetryScale: Double = 1) {
        self.name = name; self.subtype = subtype; self.frequency = frequency; self.reductions = reductions
        self.atrophyScale = atrophyScale; self.asymmetryScale = asymmetryScale
    }

    enum CodingKeys: String, CodingKey { case name, subtype, frequency, reductions, atrophyScale, asymmetryScale }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        subtype = try c.decodeIfPresent(String.self, forKey: .subtype)
        frequency = try c.decode(Double.self, forKey: .frequency)
        reductions = try c.decode([String: ParameterRange].self, forKey: .reductions)
        atrophyScale = try c.decodeIfPresent(Double.self, forKey: .atrophyScale) ?? 1
        asymmetryScale = try c.decodeIfPresent(Double.self, forKey: .asymmetryScale) ?? 1
    }
}

/// One diagnostic class: its disease pattern and how severe it is across subjects.
public struct ClassModel: Codable, Equatable, Sendable {
    /// Class name as written in cohorts ("NC", "MCI", "AD").
    public var name: String
    /// Beta(α, β) of the subject's latent severity s ∈ [0, 1]; one s drives every region of a subject.
    public var severityBeta: [Double]
    /// Fractional reduction of GM uptake per region group (group name → [lo, hi]) of the typical
    /// presentation. With `PhantomParameters.severityTail` τ, a subject's reduction is
    /// lo + (hi − lo)·((1 + 2τ)s − τ), so the class's configured range holds the central part of the
    /// Beta and its tails overlap the neighbouring classes.
    public var reductions: [String: ParameterRange]
    /// Fraction of grey matter turned into CSF inside `PhantomParameters.atrophyGroup` (same mapping
    /// from s as the reductions).
    public var atrophy: ParameterRange
    /// Disease fraction of cortical GM turned into CSF (`PhantomParameters.corticalGroup`), same mapping.
    public var corticalAtrophy: ParameterRange
    /// Disease ventricular enlargement (fractional expansion about the ventricles), same mapping.
    public var ventricleExpansion: ParameterRange
    /// MMSE-like score: hi at the low end of the severity, lo at the high end (same mapping from s),
    /// plus `PhantomParameters.mmseNoiseSD`, clamped to 0…30.
    public var mmse: ParameterRange
    /// Non-typical presentations, each with its frequency.
    public var variants: [DiseaseVariant]

    public init(name: String, severityBeta: [Double], reductions: [String: ParameterRange], atrophy: ParameterRange,
                corticalAtrophy: ParameterRange = .fixed(0), ventricleExpansion: ParameterRange = .fixed(0),
                mmse: ParameterRange = ParameterRange(28, 30), variants: [DiseaseVariant] = []) {
        self.name = name; self.severityBeta = severityBeta; self.reductions = reductions; self.atrophy = atrophy
        self.corticalAtrophy = corticalAtrophy; self.ventricleExpansion = ventricleExpansion; self.mmse = mmse
        self.variants = variants
    }

    /// The typical presentation's name (the class's own `reductions`).
    public static let typical = "typical"

    enum CodingKeys: String, CodingKey {
        case name, severityBeta, reductions, atrophy, corticalAtrophy, ventricleExpansion, mmse, variants
    }
    /// Absent keys (parameters written before they existed) take the values of a model without them.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        severityBeta = try c.decode([Double].self, forKey: .severityBeta)
        reductions = try c.decode([String: ParameterRange].self, forKey: .reductions)
        atrophy = try c.decode(ParameterRange.self, forKey: .atrophy)
        corticalAtrophy = try c.decodeIfPresent(ParameterRange.self, forKey: .corticalAtrophy) ?? .fixed(0)
        ventricleExpansion = try c.decodeIfPresent(ParameterRange.self, forKey: .ventricleExpansion) ?? .fixed(0)
        mmse = try c.decodeIfPresent(ParameterRange.self, forKey: .mmse) ?? ParameterRange(28, 30)
        variants = try c.decodeIfPresent([DiseaseVariant].self, forKey: .variants) ?? []
    }
}

/// Every parameter of the FDG-PET phantom, with literature defaults. Decoding a JSON object fills
/// absent keys from the defaults, so a config file names only what it changes; unknown keys are an
/// error (a typo must not silently fall back to a default). See docs/phantom.md for the sources.
public struct PhantomParameters: Codable, Equatable, Sendable {
    // MARK: tissue uptake — activity = g · (r_GM · GM · R(region) + 1 · WM + csfUptake · CSF)

    /// GM:WM uptake ratio r_GM, drawn per subject (Hoffman 3D brain phantom: 5:1; FDG in vivo ~4:1
    /// before blurring, ~2.1–2.5:1 measured after an 8 mm PSF).
    public var gmToWMRatio = ParameterRange(3.5, 5.0)
    /// CSF uptake relative to white matter.
    public var csfUptake = 0.05
    /// Regional GM multipliers R relative to the cortical mean (unlisted AAL2 regions: 1).
    public var regionalUptake: [RegionUptake] = PhantomParameters.defaultRegionalUptake
    /// GM uptake of unlabelled grey matter in the brainstem box (brainstem nuclei: lower than cortex;
    /// calibrated so that NC cortical SUVR relative to the pons is ≈ 1.3).
    public var brainstemUptake = 0.504
    /// Brainstem box in template (MNI) millimetres: unlabelled voxels with |x| < brainstemMaxAbsX and
    /// z < brainstemMaxZ take `brainstemUptake`.
    public var brainstemMaxAbsX = 25.0
    public var brainstemMaxZ = -10.0

    // MARK: subject variability

    /// σ (mm) of the Gaussian filter turning white noise into a smooth displacement field.
    public var displacementSigmaMM = ParameterRange(15, 20)
    /// Largest displacement (mm) of that field (it is scaled so its maximum norm is this).
    public var displacementMaxMM = ParameterRange(2, 4)
    /// Per-axis scaling: 1 + U(−scale, scale) (±5%).
    public var scale = 0.05
    /// Rotation about each axis: U(−rotationDegrees, rotationDegrees) (±3°).
    public var rotationDegrees = 3.0
    /// Translation along each axis: U(−translationMM, translationMM).
    public var translationMM = 2.0
    /// Global uptake scale g: log-normal with mean 1 and this coefficient of variation (8–10%).
    public var globalScaleCV = 0.09
    /// Regional GM uptake noise: SD of the per-region factor (4–5%).
    public var regionalSD = 0.09
    /// Correlation between regions of that factor (one common factor; ≈ 0.6).
    public var regionalCorrelation = 0.5

    /// Normal hemispheric asymmetry: per subject a global left−right uptake difference (SD) and one
    /// per homologous region pair (SD); left × (1 + a/2), right × (1 − a/2).
    public var hemisphericAsymmetrySD = 0.02
    public var hemisphericAsymmetryGlobalSD = 0.01

    // MARK: subjects: age and sex

    /// Age (years): normal with this mean and SD, clamped to `ageRange`; the same in every class so age
    /// does not confound the diagnosis.
    public var ageMean = 73.0
    public var ageSD = 7.0
    public var ageRange = ParameterRange(55, 90)
    /// Age at which the age effects are zero (effects scale with (age − ageReference) / 10).
    public var ageReference = 73.0
    /// GM uptake change per decade (fraction; negative = decline, relative to the pons) per region set.
    public var ageUptakePerDecade: [RegionValue] = PhantomParameters.defaultAgeUptakePerDecade
    /// The same for cerebral cortex regions not listed above.
    public var ageUptakeOtherCortexPerDecade = -0.05
    /// Fraction of cortical GM turned into CSF per decade above `ageRange.lo` (cortical thinning).
    public var ageCorticalAtrophyPerDecade = 0.02
    /// Ventricular enlargement (fractional expansion about the ventricles) per decade above `ageRange.lo`.
    public var ageVentricleExpansionPerDecade = 0.03
    /// Share of women.
    public var femaleFraction = 0.5
    /// GM uptake of women relative to men (fraction) per region set (applied ±half to each sex).
    public var sexUptake: [RegionValue] = []
    /// Residual brain size difference after spatial normalisation: men 1 + d/2, women 1 − d/2 per axis.
    public var sexScaleDifference = 0.02

    // MARK: disease

    /// Region group of cerebral cortex that cortical atrophy (age, disease) acts on.
    public var corticalGroup = "cortex"
    /// Ventricular enlargement: template points are drawn towards the centre of the lateral ventricle
    /// of their hemisphere (MNI mm; x is mirrored for the left one) with weight exp(−½ Σ ((q − c)/σ)²),
    /// σ per axis (mm), so the ventricles and their surroundings expand.
    public var ventricleCentreMM = [6.0, -5.0, 20.0]
    public var ventricleSigmaMM = [4.0, 20.0, 5.0]
    /// SD of the MMSE-like score around its severity mapping.
    public var mmseNoiseSD = 1.0
    /// Scales of every source of variability (1 = as documented, 0 = off; `--effects`).
    public var effects = EffectScales()

    /// Named region groups used by `ClassModel.reductions`, `atrophyGroup` and the tests' spared set.
    public var regionGroups: [RegionGroup] = PhantomParameters.defaultRegionGroups
    /// Diagnostic classes (default NC, MCI, AD).
    public var classes: [ClassModel] = PhantomParameters.defaultClasses
    /// Region group whose GM partly turns into CSF with disease (medial temporal lobe).
    public var atrophyGroup = "medialTemporalAtrophy"
    /// τ: how far the Beta's tails reach beyond a class's configured range (0: not at all; 0.5: half
    /// the range's width on each side).
    public var severityTail = 0.5
    /// Left/right asymmetry of the disease: per group, left reduction d(1 + a), right d(1 − a) with
    /// a ~ U(−asymmetry, asymmetry). 0.25 gives ±5% uptake between hemispheres at AD severity (d ≈ 20%).
    public var asymmetry = 0.25
    /// σ (mm) smoothing the regional multiplier and atrophy maps (soft region edges; 0: sharp).
    public var diseaseEdgeSigmaMM = 3.0

    // MARK: scanner

    /// Final Gaussian PSF FWHM (mm), drawn per subject: the effective resolution of scanners and
    /// reconstructions differs between subjects: 3.3–8.1 mm across 28 systems [EJNMMIPhys2023],
    /// 3.5–8.5 mm in ADNI [bioRxiv2024]; 5–8.5 mm keeps the coarse, clinical end.
    public var psfFWHMmm = ParameterRange(5, 8.5)
    /// Signal-dependent noise: coefficient of variation it leaves after the PSF at the white-matter
    /// level (SD ∝ √activity before the PSF, like counts).
    public var noiseCoV = ParameterRange(0.02, 0.06)

    public init() {}

    // MARK: defaults (AAL2 codes)

    public static let frontalCodes = [2101, 2102, 2201, 2202, 2301, 2302, 2311, 2312, 2321, 2322,
                                      2601, 2602, 2611, 2612, 2701, 2702, 2801, 2802, 2811, 2812, 2821, 2822, 2831, 2832]
    public static let cerebellumCodes = [9001, 9002, 9011, 9012, 9021, 9022, 9031, 9032, 9041, 9042, 9051, 9052,
                                         9061, 9062, 9071, 9072, 9081, 9082, 9100, 9110, 9120, 9130, 9140, 9150, 9160, 9170]

    /// Cerebral cortex labels of AAL2 (frontal, insula, cingulate, medial temporal, occipital,
    /// parietal, temporal): everything but the deep nuclei (70xx–71xx) and the cerebellum (9xxx).
    public static let cortexCodes = [2001, 2002, 2101, 2102, 2201, 2202, 2301, 2302, 2311, 2312, 2321, 2322, 2331, 2332, 2401, 2402,
                                     2501, 2502, 2601, 2602, 2611, 2612, 2701, 2702, 2801, 2802, 2811, 2812, 2821, 2822, 2831, 2832,
                                     3001, 3002, 4001, 4002, 4011, 4012, 4021, 4022, 4101, 4102, 4111, 4112, 4201, 4202, 5001, 5002,
                                     5011, 5012, 5021, 5022, 5101, 5102, 5201, 5202, 5301, 5302, 5401, 5402, 6001, 6002, 6101, 6102,
                                     6201, 6202, 6211, 6212, 6221, 6222, 6301, 6302, 6401, 6402, 8101, 8102, 8111, 8112, 8121, 8122,
                                     8201, 8202, 8211, 8212, 8301, 8302]

    public static let defaultRegionGroups: [RegionGroup] = [
        RegionGroup("posteriorCingulatePrecuneus", [4021, 4022, 6301, 6302]),
        RegionGroup("inferiorParietalAngular", [6201, 6202, 6221, 6222]),
        RegionGroup("hippocampusParahippocampal", [4101, 4102, 4111, 4112]),
        RegionGroup("lateralInferiorTemporal", [8201, 8202, 8301, 8302]),
        RegionGroup("frontal", frontalCodes),
        RegionGroup("medialTemporalAtrophy", [4101, 4102, 4111, 4112, 4201, 4202]),
        // Spared by the disease model (used by tests and reports).
        RegionGroup("sensorimotor", [2001, 2002, 6001, 6002, 6401, 6402]),
        RegionGroup("occipital", [5001, 5002, 5011, 5012, 5021, 5022, 5101, 5102, 5201, 5202, 5301, 5302]),
        RegionGroup("cerebellum", cerebellumCodes),
        RegionGroup("thalamus", [7101, 7102]),
        RegionGroup("striatum", [7001, 7002, 7011, 7012]),
        // Used by the atypical variants and by cortical atrophy.
        RegionGroup("superiorParietal", [6101, 6102]),
        RegionGroup("anteriorCingulate", [4001, 4002]),
        RegionGroup("amygdala", [4201, 4202]),
        RegionGroup("cortex", cortexCodes),
    ]

    /// Affected groups (reductions in MCI/AD) and spared groups, by name.
    public static let affectedGroupNames = ["posteriorCingulatePrecuneus", "inferiorParietalAngular",
                                            "hippocampusParahippocampal", "lateralInferiorTemporal", "frontal"]
    public static let sparedGroupNames = ["sensorimotor", "occipital", "cerebellum", "thalamus", "striatum"]

    /// Fitted (Tests/PETCohortTests/CalibrationTests.swift measures the result) so that every region of
    /// docs/phantom.md's literature table with an NC mean comes out at that mean when measured through
    /// AAL2 after the PSF, with the row's reference; names are the table's rows. Regions without
    /// literature numbers keep typical FDG atlas ratios relative to the cortex.
    public static let defaultRegionalUptake: [RegionUptake] = [
        // Fitted. The amygdala's small multiplier is a partial-volume artefact: at 5–8.5 mm its label
        // takes most of its value from its neighbours.
        RegionUptake("amygdala", [4201, 4202], 0.166),
        RegionUptake("anterior cingulate", [4001, 4002], 0.966),
        RegionUptake("calcarine/cuneus/lingual (visual)", [5001, 5002, 5011, 5012, 5021, 5022], 1.294),
        RegionUptake("caudate", [7001, 7002], 1.089),
        RegionUptake("cerebellum cortex", [9001, 9002, 9011, 9012, 9021, 9022, 9031, 9032, 9041, 9042, 9051, 9052, 9061, 9062, 9071, 9072, 9081, 9082], 0.843),
        RegionUptake("frontal dorsolateral", [2101, 2102, 2201, 2202, 2301, 2302, 2311, 2312], 1.358),
        RegionUptake("hippocampus", [4101, 4102], 0.447),
        RegionUptake("inferior parietal/angular", [6201, 6202, 6221, 6222], 1.047),
        RegionUptake("insula", [3001, 3002], 0.950),
        RegionUptake("lateral temporal (middle+inferior)", [8201, 8202, 8301, 8302], 0.869),
        RegionUptake("occipital lateral", [5101, 5102, 5201, 5202, 5301, 5302], 1.184),
        RegionUptake("olfactory", [2501, 2502], 0.800),
        RegionUptake("pallidum", [7021, 7022], 0.850),
        RegionUptake("parahippocampal", [4111, 4112], 0.800),
        RegionUptake("posterior cingulate", [4021, 4022], 1.686),
        RegionUptake("precuneus", [6301, 6302], 1.311),
        RegionUptake("putamen", [7011, 7012], 1.362),
        RegionUptake("sensorimotor (pre/postcentral)", [2001, 2002, 6001, 6002], 1.268),
        RegionUptake("supramarginal", [6211, 6212], 0.990),
        RegionUptake("temporalPoles", [8121, 8122, 8211, 8212], 0.850),
        RegionUptake("thalamus", [7101, 7102], 1.025),
        RegionUptake("vermis", [9100, 9110, 9120, 9130, 9140, 9150, 9160, 9170], 0.880),
    ]

    /// Age slopes per decade. docs/phantom.md: whole cortex −8…−3.4% per decade; frontal and anterior
    /// cingulate (and insula) decline most [AIMN2021, Loessner1995, AgingLCMRGlu40], without
    /// per-region figures: this model gives them −7.5% and the rest of the cortex −5%
    /// (`ageUptakeOtherCortexPerDecade`), a cortex mean near the range's middle (−5.7%).
    public static let defaultAgeUptakePerDecade: [RegionValue] = [
        RegionValue("frontal", frontalCodes, -0.075),
        RegionValue("anteriorCingulate", [4001, 4002], -0.075),
        RegionValue("insula", [3001, 3002], -0.075),
    ]

    public static let defaultClasses: [ClassModel] = [
        ClassModel(name: "NC", severityBeta: [3, 3], reductions: [:], atrophy: .fixed(0), mmse: ParameterRange(28, 30)),
        ClassModel(name: "MCI", severityBeta: [3, 3], reductions: [
            "posteriorCingulatePrecuneus": ParameterRange(0.08, 0.12),
            "inferiorParietalAngular": ParameterRange(0.08, 0.10),
            "hippocampusParahippocampal": ParameterRange(0.06, 0.12),
            "lateralInferiorTemporal": ParameterRange(0.05, 0.08),
            "frontal": ParameterRange(0.00, 0.03),
        ], atrophy: ParameterRange(0.02, 0.08), corticalAtrophy: ParameterRange(0.0, 0.03),
           ventricleExpansion: ParameterRange(0.0, 0.05), mmse: ParameterRange(25, 29), variants: [
            // MCI that is not prodromal AD: near-normal metabolism.
            // Mosconi et al. 2008: an AD pattern in 79% of multi-domain but 31% of amnestic MCI.
            // 0.4 (not 0.5): with 0.5, NC vs MCI (logistic regression on regional SUVR, 60 per class,
            // 2 mm, 5x5 CV) was 0.60, the bottom of the real-data range; 0.4 gives 0.66.
            DiseaseVariant(name: "nearNormal", subtype: "not prodromal AD", frequency: 0.4, reductions: [
                "posteriorCingulatePrecuneus": ParameterRange(0, 0.03),
                "inferiorParietalAngular": ParameterRange(0, 0.03),
                "hippocampusParahippocampal": ParameterRange(0, 0.04),
            ], atrophyScale: 0.3),
        ]),
        // Severity Beta(2, 3): skewed towards mild AD, as in ADNI-like cohorts (MMSE 20–26 at entry);
        // with Beta(2, 2) NC vs AD was 0.94, above the real-data 0.80–0.92; Beta(2, 3) gives 0.92.
        ClassModel(name: "AD", severityBeta: [2, 3], reductions: [
            "posteriorCingulatePrecuneus": ParameterRange(0.12, 0.24),
            "inferiorParietalAngular": ParameterRange(0.10, 0.24),
            "hippocampusParahippocampal": ParameterRange(0.08, 0.20),
            "lateralInferiorTemporal": ParameterRange(0.08, 0.20),
            "frontal": ParameterRange(0.04, 0.12),
        ], atrophy: ParameterRange(0.05, 0.15), corticalAtrophy: ParameterRange(0.02, 0.06),
           ventricleExpansion: ParameterRange(0.04, 0.12), mmse: ParameterRange(16, 26), variants: [
            // Murray et al. 2011: hippocampal-sparing 11% of AD (cortical predominance, often non-amnestic:
            // posterior, language and frontal presentations), limbic-predominant 14%, typical 75%. The
            // split of the 11% into three presentations is this model's choice (the table has no
            // frequency for them).
            DiseaseVariant(name: "posterior", subtype: "hippocampal-sparing", frequency: 0.04, reductions: [
                "occipital": ParameterRange(0.12, 0.22),
                "superiorParietal": ParameterRange(0.12, 0.22),
                "inferiorParietalAngular": ParameterRange(0.15, 0.25),
                "posteriorCingulatePrecuneus": ParameterRange(0.12, 0.20),
                "lateralInferiorTemporal": ParameterRange(0.05, 0.12),
                "hippocampusParahippocampal": ParameterRange(0.02, 0.08),
            ], atrophyScale: 0.4, asymmetryScale: 1.5),
            DiseaseVariant(name: "logopenic", subtype: "hippocampal-sparing", frequency: 0.04, reductions: [
                "lateralInferiorTemporal": ParameterRange(0.15, 0.25),
                "inferiorParietalAngular": ParameterRange(0.12, 0.22),
                "posteriorCingulatePrecuneus": ParameterRange(0.10, 0.18),
                "hippocampusParahippocampal": ParameterRange(0.02, 0.08),
            ], atrophyScale: 0.4, asymmetryScale: 3),
            DiseaseVariant(name: "frontal", subtype: "hippocampal-sparing", frequency: 0.03, reductions: [
                "frontal": ParameterRange(0.15, 0.25),
                "anteriorCingulate": ParameterRange(0.10, 0.20),
                "inferiorParietalAngular": ParameterRange(0.10, 0.18),
                "posteriorCingulatePrecuneus": ParameterRange(0.10, 0.18),
                "lateralInferiorTemporal": ParameterRange(0.05, 0.12),
                "hippocampusParahippocampal": ParameterRange(0.02, 0.08),
            ], atrophyScale: 0.4, asymmetryScale: 1.5),
            DiseaseVariant(name: "limbic", subtype: "limbic-predominant", frequency: 0.14, reductions: [
                "hippocampusParahippocampal": ParameterRange(0.25, 0.35),
                "amygdala": ParameterRange(0.15, 0.25),
                "lateralInferiorTemporal": ParameterRange(0.08, 0.15),
                "posteriorCingulatePrecuneus": ParameterRange(0.08, 0.14),
                "inferiorParietalAngular": ParameterRange(0.05, 0.12),
            ], atrophyScale: 1.3),
        ]),
    ]

    // MARK: lookup and checks

    public func classModel(named name: String) -> ClassModel? { classes.first { $0.name == name } }
    public func group(named name: String) -> RegionGroup? { regionGroups.first { $0.name == name } }

    /// Checks ranges and cross-references; `source` names the config file in messages.
    public func validate(source: String = "phantom parameters") throws {
        func bad(_ what: String) -> PhantomError { .invalidParameters(source: source, reason: what) }
        func range(_ r: ParameterRange, _ name: String, min: Double, max: Double) throws {
            guard r.lo <= r.hi else { throw bad("\(name): lo \(r.lo) is above hi \(r.hi)") }
            guard r.lo >= min, r.hi <= max else { throw bad("\(name): \(r) is outside \(min)…\(max)") }
        }
        try range(gmToWMRatio, "gmToWMRatio", min: 0, max: 100)
        try range(displacementSigmaMM, "displacementSigmaMM", min: 1, max: 100)
        try range(displacementMaxMM, "displacementMaxMM", min: 0, max: 30)
        try range(psfFWHMmm, "psfFWHMmm", min: 0, max: 30)
        try range(noiseCoV, "noiseCoV", min: 0, max: 1)
        for (v, n, lo, hi) in [(csfUptake, "csfUptake", 0.0, 10.0), (brainstemUptake, "brainstemUptake", 0, 10),
                               (scale, "scale", 0, 0.5), (rotationDegrees, "rotationDegrees", 0, 45),
                               (translationMM, "translationMM", 0, 50), (globalScaleCV, "globalScaleCV", 0, 2),
                               (regionalSD, "regionalSD", 0, 0.5), (regionalCorrelation, "regionalCorrelation", 0, 1),
                               (severityTail, "severityTail", 0, 5), (asymmetry, "asymmetry", 0, 1),
                               (diseaseEdgeSigmaMM, "diseaseEdgeSigmaMM", 0, 30)] {
            guard v >= lo, v <= hi else { throw bad("\(n) = \(v) is outside \(lo)…\(hi)") }
        }
        guard !classes.isEmpty else { throw bad("no classes") }
        guard Set(classes.map(\.name)).count == classes.count else { throw bad("class names repeat") }
        guard group(named: atrophyGroup) != nil else { throw bad("atrophyGroup '\(atrophyGroup)' is not in regionGroups") }
        for c in classes {
            guard c.severityBeta.count == 2, c.severityBeta.allSatisfy({ $0 > 0 }) else {
                throw bad("class \(c.name): severityBeta must be two positive numbers [α, β]")
            }
            try range(c.atrophy, "class \(c.name) atrophy", min: 0, max: 0.95)
            for (g, r) in c.reductions {
                guard group(named: g) != nil else { throw bad("class \(c.name): unknown region group '\(g)'") }
                try range(r, "class \(c.name) reduction of \(g)", min: 0, max: 0.95)
            }
        }
        for u in regionalUptake where u.multiplier < 0 { throw bad("regionalUptake \(u.name) is negative") }
        try range(ageRange, "ageRange", min: 0, max: 120)
        for (v, n, lo, hi) in [(hemisphericAsymmetrySD, "hemisphericAsymmetrySD", 0.0, 0.5),
                               (hemisphericAsymmetryGlobalSD, "hemisphericAsymmetryGlobalSD", 0, 0.5),
                               (ageSD, "ageSD", 0, 50), (ageUptakeOtherCortexPerDecade, "ageUptakeOtherCortexPerDecade", -0.5, 0.5),
                               (ageCorticalAtrophyPerDecade, "ageCorticalAtrophyPerDecade", 0, 0.5),
                               (ageVentricleExpansionPerDecade, "ageVentricleExpansionPerDecade", 0, 0.5),
                               (femaleFraction, "femaleFraction", 0, 1), (sexScaleDifference, "sexScaleDifference", 0, 0.3),
                               (mmseNoiseSD, "mmseNoiseSD", 0, 10)] {
            guard v >= lo, v <= hi else { throw bad("\(n) = \(v) is outside \(lo)…\(hi)") }
        }
        guard ageMean.isFinite, ageReference.isFinite else { throw bad("ageMean and ageReference must be numbers") }
        for r in ageUptakePerDecade + sexUptake where !(r.value >= -0.5 && r.value <= 0.5) {
            throw bad("\(r.name): \(r.value) is outside −0.5…0.5")
        }
        guard group(named: corticalGroup) != nil else { throw bad("corticalGroup '\(corticalGroup)' is not in regionGroups") }
        guard ventricleCentreMM.count == 3, ventricleSigmaMM.count == 3, ventricleSigmaMM.allSatisfy({ $0 > 0 }) else {
            throw bad("ventricleCentreMM and ventricleSigmaMM are [x, y, z] (σ positive)")
        }
        try effects.validate(bad)
        for c in classes {
            try range(c.corticalAtrophy, "class \(c.name) corticalAtrophy", min: 0, max: 0.5)
            try range(c.ventricleExpansion, "class \(c.name) ventricleExpansion", min: 0, max: 0.5)
            try range(c.mmse, "class \(c.name) mmse", min: 0, max: 30)
            var total = 0.0
            for v in c.variants {
                guard v.name != ClassModel.typical else { throw bad("class \(c.name): a variant may not be called '\(ClassModel.typical)'") }
                guard v.frequency >= 0, v.atrophyScale >= 0, v.asymmetryScale >= 0 else {
                    throw bad("class \(c.name) variant \(v.name): frequency and scales must be non-negative")
                }
                total += v.frequency
                for (g, r) in v.reductions {
                    guard group(named: g) != nil else { throw bad("class \(c.name) variant \(v.name): unknown region group '\(g)'") }
                    try range(r, "class \(c.name) variant \(v.name) reduction of \(g)", min: 0, max: 0.95)
                }
            }
            guard total * effects[.variants] <= 1 + 1e-12 else {
                throw bad("class \(c.name): variant frequencies sum to \(total) × effects.variants \(effects[.variants]) > 1")
            }
        }
    }

    // MARK: Codable with defaults for absent keys

    enum CodingKeys: String, CodingKey, CaseIterable {
        case gmToWMRatio, csfUptake, regionalUptake, brainstemUptake, brainstemMaxAbsX, brainstemMaxZ
        case displacementSigmaMM, displacementMaxMM, scale, rotationDegrees, translationMM, globalScaleCV
        case regionalSD, regionalCorrelation, regionGroups, classes, atrophyGroup, severityTail, asymmetry
        case diseaseEdgeSigmaMM, psfFWHMmm, noiseCoV
        case hemisphericAsymmetrySD, hemisphericAsymmetryGlobalSD, ageMean, ageSD, ageRange, ageReference
        case ageUptakePerDecade, ageUptakeOtherCortexPerDecade, ageCorticalAtrophyPerDecade, ageVentricleExpansionPerDecade
        case femaleFraction, sexUptake, sexScaleDifference, corticalGroup, ventricleCentreMM, ventricleSigmaMM
        case mmseNoiseSD, effects
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { return nil }
    }

    public init(from decoder: Decoder) throws {
        let all = try decoder.container(keyedBy: AnyKey.self)
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        for k in all.allKeys where !known.contains(k.stringValue) {
            throw DecodingError.dataCorrupted(.init(codingPath: [k], debugDescription:
                "unknown phantom parameter '\(k.stringValue)' (known: \(known.sorted().joined(separator: ", ")))"))
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = PhantomParameters()
        func get<T: Decodable>(_ k: CodingKeys, _ def: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? def }
        gmToWMRatio = try get(.gmToWMRatio, d.gmToWMRatio)
        csfUptake = try get(.csfUptake, d.csfUptake)
        regionalUptake = try get(.regionalUptake, d.regionalUptake)
        brainstemUptake = try get(.brainstemUptake, d.brainstemUptake)
        brainstemMaxAbsX = try get(.brainstemMaxAbsX, d.brainstemMaxAbsX)
        brainstemMaxZ = try get(.brainstemMaxZ, d.brainstemMaxZ)
        displacementSigmaMM = try get(.displacementSigmaMM, d.displacementSigmaMM)
        displacementMaxMM = try get(.displacementMaxMM, d.displacementMaxMM)
        scale = try get(.scale, d.scale)
        rotationDegrees = try get(.rotationDegrees, d.rotationDegrees)
        translationMM = try get(.translationMM, d.translationMM)
        globalScaleCV = try get(.globalScaleCV, d.globalScaleCV)
        regionalSD = try get(.regionalSD, d.regionalSD)
        regionalCorrelation = try get(.regionalCorrelation, d.regionalCorrelation)
        regionGroups = try get(.regionGroups, d.regionGroups)
        classes = try get(.classes, d.classes)
        atrophyGroup = try get(.atrophyGroup, d.atrophyGroup)
        severityTail = try get(.severityTail, d.severityTail)
        asymmetry = try get(.asymmetry, d.asymmetry)
        diseaseEdgeSigmaMM = try get(.diseaseEdgeSigmaMM, d.diseaseEdgeSigmaMM)
        psfFWHMmm = try get(.psfFWHMmm, d.psfFWHMmm)
        noiseCoV = try get(.noiseCoV, d.noiseCoV)
        hemisphericAsymmetrySD = try get(.hemisphericAsymmetrySD, d.hemisphericAsymmetrySD)
        hemisphericAsymmetryGlobalSD = try get(.hemisphericAsymmetryGlobalSD, d.hemisphericAsymmetryGlobalSD)
        ageMean = try get(.ageMean, d.ageMean)
        ageSD = try get(.ageSD, d.ageSD)
        ageRange = try get(.ageRange, d.ageRange)
        ageReference = try get(.ageReference, d.ageReference)
        ageUptakePerDecade = try get(.ageUptakePerDecade, d.ageUptakePerDecade)
        ageUptakeOtherCortexPerDecade = try get(.ageUptakeOtherCortexPerDecade, d.ageUptakeOtherCortexPerDecade)
        ageCorticalAtrophyPerDecade = try get(.ageCorticalAtrophyPerDecade, d.ageCorticalAtrophyPerDecade)
        ageVentricleExpansionPerDecade = try get(.ageVentricleExpansionPerDecade, d.ageVentricleExpansionPerDecade)
        femaleFraction = try get(.femaleFraction, d.femaleFraction)
        sexUptake = try get(.sexUptake, d.sexUptake)
        sexScaleDifference = try get(.sexScaleDifference, d.sexScaleDifference)
        corticalGroup = try get(.corticalGroup, d.corticalGroup)
        ventricleCentreMM = try get(.ventricleCentreMM, d.ventricleCentreMM)
        ventricleSigmaMM = try get(.ventricleSigmaMM, d.ventricleSigmaMM)
        mmseNoiseSD = try get(.mmseNoiseSD, d.mmseNoiseSD)
        effects = try get(.effects, d.effects)
    }

    /// Reads a JSON config (absent keys keep their defaults) and validates it.
    public static func load(path: String) throws -> PhantomParameters {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw PhantomError.unreadable(path: path, reason: error.localizedDescription)
        }
        let p: PhantomParameters
        do { p = try JSONDecoder().decode(PhantomParameters.self, from: data) } catch {
            throw PhantomError.invalidParameters(source: path, reason: describe(error))
        }
        try p.validate(source: path)
        return p
    }

    /// Pretty, key-sorted JSON of every parameter (what a run used).
    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(self)
    }
}

/// A decoding error in one line: what is wrong and where.
func describe(_ error: Error) -> String {
    guard let e = error as? DecodingError else { return "\(error)" }
    func path(_ p: [CodingKey]) -> String { p.isEmpty ? "top level" : p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
    switch e {
    case let .typeMismatch(_, c): return "\(path(c.codingPath)): \(c.debugDescription)"
    case let .valueNotFound(_, c): return "\(path(c.codingPath)): \(c.debugDescription)"
    case let .keyNotFound(k, c): return "\(path(c.codingPath + [k])): missing"
    case let .dataCorrupted(c): return "\(path(c.codingPath)): \(c.debugDescription)"
    @unknown default: return "\(error)"
    }
}
