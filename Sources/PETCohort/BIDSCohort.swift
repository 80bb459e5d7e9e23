// `petgan phantom --bids DIR`: the cohort as a BIDS raw dataset.
//
//   DIR/dataset_description.json   (DatasetType raw, GeneratedBy PETGAN <version>)
//   DIR/README                     (synthetic; how it was made; placeholder fields)
//   DIR/participants.tsv|.json     (class and every covariate the phantom drew, described)
//   DIR/sub-0001/pet/sub-0001_trc-FDG_pet.nii.gz + _pet.json   (SUVR, MNI space; every REQUIRED PET field)
//
// Volumes are the NIfTI the cohort writes with --nifti-dir (SUVR, pons reference); the sidecar's
// PETGAN record carries class, seed and covariates, so prepare --bids reads the dataset back.
import Foundation
import PETTensor
import PETVolumes

public final class PhantomBIDSWriter {
    private let writer: BIDSDatasetWriter
    private let plan: CohortPlan
    private let grid: VolumeGrid
    private var rows: [[String]] = []

    public static let columns = ["participant_id", "class", "age", "sex", "mmse", "variant", "seed", "severity", "psf_fwhm_mm", "noise_cov",
                                 "medial_temporal_atrophy", "cortical_atrophy", "ventricle_expansion", "global_scale", "gm_wm_ratio"]

    public init(directory: String, plan: CohortPlan, grid: VolumeGrid) throws {
        writer = try BIDSDatasetWriter(creating: directory)
        self.plan = plan; self.grid = grid
    }

    /// The BIDS name of a subject's image: sub-<id digits>_trc-FDG_pet.nii.gz.
    public static func imageName(_ s: SubjectParameters) -> BIDSFileName {
        BIDSFileName.make([("sub", participantLabel(s)), ("trc", "FDG")], suffix: "pet", fileExtension: ".nii.gz")
    }

    /// "sub-0001" → "0001".
    public static func participantLabel(_ s: SubjectParameters) -> String {
        BIDSFileName.label(from: s.id.hasPrefix("sub-") ? String(s.id.dropFirst(4)) : s.id)
    }

    public func add(_ s: SubjectParameters, volume: Volume, provenance: [String: Any]) throws {
        var record = PETGANRecord(command: "phantom", className: s.className, seed: s.seed)
        record.covariates = s.covariates.compactMapValues { v -> BIDSValue? in
            switch v {
            case let d as Double: return .number(d)
            case let s as String: return .string(s)
            case let b as Bool: return .bool(b)
            default: return nil
            }
        }
        let sidecar = PETSidecar.syntheticFDG(units: "SUVR", modelName: "PETCohort FDG-PET phantom (MNI ICBM152 2009a + AAL2)",
                                              fwhmMM: s.psfFWHMmm > 0 ? s.psfFWHMmm : nil, record: record)
        try writer.writeImage(volume, name: Self.imageName(s), sidecar: sidecar, provenance: provenance)
        func num(_ d: Double?) -> String { d.map { BIDSValue.number($0).description } ?? "n/a" }
        rows.append(["sub-\(Self.participantLabel(s))", s.className, num(s.age), s.sex?.rawValue ?? "n/a", num(s.mmse), s.variant ?? "n/a",
                     String(s.seed), num(s.severity), num(s.psfFWHMmm), num(s.noiseCoV), num(s.atrophy), num(s.corticalAtrophy),
                     num(s.ventricleExpansion), num(s.globalScale), num(s.gmToWMRatio)])
    }

    /// participants.tsv/.json, dataset_description.json and README, then the rename into place.
    public func finish(parameters: PhantomParameters) throws {
        try writer.writeParticipants(BIDSTable(columns: Self.columns, rows: rows), columns: Self.columnDescriptions(classes: plan.classNames))
        var d = BIDSDatasetDescription(name: "PETGAN phantom cohort (synthetic FDG-PET, \(rows.count) subjects, seed \(plan.seed))", datasetType: .raw)
        d.generatedBy = [BIDSGeneratedBy(name: "PETGAN", version: PETGANVersion.string, description: "petgan phantom: PETCohort FDG-PET phantom, cohort seed \(plan.seed)")]
        d.authors = ["PETGAN (synthetic data)"]
        d.howToAcknowledge = "Synthetic volumes derived from the MNI ICBM152 2009a templates and the AAL2 atlas (see Volumes/README.md of PETGAN for their notices)."
        try writer.writeDescription(d)
        try writer.writeText(Self.readme(count: rows.count, seed: plan.seed, classes: plan.classNames, grid: grid), to: "README")
        try writer.commit()
    }

    static func columnDescriptions(classes: [String]) -> [String: BIDSColumnDescription] {
        let known = ["NC": "normal control (cognitively normal)", "MCI": "mild cognitive impairment", "AD": "Alzheimer's disease dementia"]
        let levels = Dictionary(uniqueKeysWithValues: classes.map { ($0, known[$0] ?? "phantom class defined in the --config parameters") })
        return [
            "class": BIDSColumnDescription("Diagnostic class the phantom drew this subject from (use as prepare --bids --label-column class)", levels: levels),
            "age": BIDSColumnDescription("Age at the (synthetic) scan", units: "year"),
            "sex": BIDSColumnDescription("Sex", levels: ["F": "female", "M": "male"]),
            "mmse": BIDSColumnDescription("Mini-Mental State Examination score drawn with the class (0-30)"),
            "variant": BIDSColumnDescription("Disease variant of the hypometabolism pattern (n/a for controls)"),
            "seed": BIDSColumnDescription("PETRandom seed of the subject: petgan phantom regenerates the image from it"),
            "severity": BIDSColumnDescription("Disease severity factor scaling the class's regional reductions (0 = none)"),
            "psf_fwhm_mm": BIDSColumnDescription("Full width at half maximum of the Gaussian point-spread function applied", units: "mm"),
            "noise_cov": BIDSColumnDescription("Coefficient of variation of the voxel noise"),
            "medial_temporal_atrophy": BIDSColumnDescription("Medial temporal atrophy factor (fraction of tissue lost)"),
            "cortical_atrophy": BIDSColumnDescription("Cortical atrophy factor (fraction of tissue lost)"),
            "ventricle_expansion": BIDSColumnDescription("Ventricle expansion factor"),
            "global_scale": BIDSColumnDescription("Global uptake scale factor of the subject"),
            "gm_wm_ratio": BIDSColumnDescription("Grey to white matter uptake ratio of the subject"),
        ]
    }

    static func readme(count: Int, seed: UInt64, classes: [String], grid: VolumeGrid) -> String {
        """
        PETGAN phantom cohort: SYNTHETIC FDG-PET, not data from any person
        ===================================================================

        These \(count) volumes were computed by `petgan phantom` (PETGAN \(PETGANVersion.string), cohort seed \(seed)) from the
        MNI ICBM152 2009a templates and the AAL2 atlas: no scanner, no injection, no participant. Classes: \(classes.joined(separator: ", ")).
        Values are SUVR (pons reference) on an MNI-space grid of \(grid).

        participants.tsv holds each subject's class and the covariates the phantom drew (age, sex, MMSE, variant,
        severity, PSF, noise, atrophy); participants.json describes the columns. Each image's _pet.json carries the
        same under "PETGAN" (class, seed, covariates).

        PET-BIDS requires acquisition fields a synthetic image has no measurement for. PETGAN writes documented
        placeholders for them (listed in each sidecar under PETGAN.Placeholders and in PETGAN's docs/BIDS.md):
        InjectedRadioactivity 0 MBq, TimeZero 00:00:00, ScanStart 0, InjectionStart 0, FrameTimesStart [0],
        FrameDuration [1], AcquisitionMode static, ReconMethodName none, AttenuationCorrection none. ReconFilterType
        Gaussian with ReconFilterSize = the subject's PSF FWHM is real: the phantom applied that smoothing.
        InjectedMass and SpecificRadioactivity are n/a, as PET-BIDS asks for FDG.

        Train on it: petgan prepare --bids DIR --label-column class --out cohort.h5; petgan train --data cohort.h5 ...

        """
    }
}
