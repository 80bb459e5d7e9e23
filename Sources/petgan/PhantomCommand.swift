import ArgumentParser
import Foundation
import PETCohort
import PETMetrics
import PETWorkflows

/// `petgan phantom`: builds a cohort of FDG-PET-like NC/MCI/AD volumes from the MNI ICBM152 templates.
struct PhantomCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phantom",
        abstract: "Build a cohort of realistic FDG-PET volumes (NC, MCI, AD) from the MNI ICBM152 templates and the AAL2 atlas.",
        discussion: """
        The anatomical templates are fetched once by Volumes/fetch-templates.sh. Every subject's drawn \
        parameters are stored with the volumes (HDF5 /phantom/subjects), so any volume can be regenerated \
        from its seed. The model and its literature parameters are described in docs/phantom.md; \
        --print-parameters shows them as JSON, and --config reads a JSON file that overrides any of them. \
        --report DIR writes report.md, report.html and report.json about the cohort (built, or read with \
        --from): its regional table beside docs/phantom.md's literature table, and how hard its classes are \
        to tell apart (repeated stratified cross-validation of the baseline CNN and of a logistic regression \
        on regional SUVRs, with confidence intervals).
        """)

    @Option(help: "Number of subjects.")
    var count: Int = 411
    @Option(help: "Classes to draw, comma-separated (defined: NC, MCI, AD, or those of --config).")
    var classes: String?
    @Option(help: "Class proportions, comma-separated weights in the order of --classes (default: ADNI-1 baseline 105,208,98 for NC,MCI,AD; else equal).",
            transform: { try Proportions.parse($0) })
    var proportions: Proportions?
    @Option(help: "Output grid size in voxels, x by y by z (NIfTI order), e.g. 96x112x96 (2 mm), 128x152x128 (1.5 mm), 192x224x192 (1 mm).")
    var shape = GridSides(96, 112, 96)
    @Option(name: .customLong("voxel-size"), help: "Isotropic voxel size in mm of the output grid (MNI space, RAS+).")
    var voxelSize: Double = 2
    @Option(help: "Output volume store (HDF5); required unless --print-parameters.")
    var out: String?
    @Option(name: .customLong("nifti-dir"), help: "Also write one NIfTI (.nii.gz + JSON sidecar) per subject into this folder.")
    var niftiDir: String?
    @Option(help: "Also write the cohort as a BIDS raw dataset into this new folder (participants.tsv with class and covariates, _pet.json sidecars; docs/BIDS.md).")
    var bids: String?
    @Option(help: "Cohort seed (every subject's seed derives from it; recorded in the outputs).")
    var seed: UInt64 = 1
    @Option(help: "JSON file overriding phantom parameters (absent keys keep their defaults; see --print-parameters).")
    var config: String?
    @Option(help: ArgumentHelp("Scale sources of variability: name=scale pairs, comma-separated (0 = off, 1 = default, up to 5); 'all' sets every effect. Effects: \(PhantomEffect.allCases.map(\.rawValue).joined(separator: ", ")). Applied after --config.",
                               valueName: "effects"),
            transform: { text in
                var e = EffectScales()
                do { try e.apply(text) } catch { throw ArgumentFormatError("\(error)") }
                return EffectsArgument(text: text)
            })
    var effects: EffectsArgument?
    @Option(help: "Folder with the templates (default: $PETGAN_TEMPLATES or Volumes/templates).")
    var templates: String?
    @OptionGroup var sliceArgs: SliceStoreOptions
    @OptionGroup var lowRes: LowResolutionCopyOptions
    @Option(name: .customLong("suvr-max"), help: "SUVR mapped to +1 by the stores' intensity map (SUVR/max → [0,1] → [-1,1]).")
    var suvrMax: Double = 4
    @Option(help: "Write a PNG montage (axial, coronal, sagittal mid-slices) of the first subject of each class.")
    var montage: String?
    @Option(help: "Write a cohort report (report.md, report.html, report.json, montage.png) into this folder; the cohort goes to --out, else DIR/cohort.h5.")
    var report: String?
    @Option(help: "With --report: report on this existing cohort store instead of building one.")
    var from: String?
    @Option(name: .customLong("report-cv"), help: "With --report: cross-validation as REPEATSxFOLDS (repeated stratified k-fold).")
    var reportCV = "5x5"
    @Option(name: .customLong("report-cv-seed"), help: "With --report: seed of the fold assignments and classifier initialisations.")
    var reportCVSeed: UInt64 = 1
    @Option(name: .customLong("report-classifiers"), help: "With --report: classifiers to cross-validate, comma-separated: cnn (the baseline SmallCNN on volumes), logistic (L2 logistic regression on regional SUVRs).")
    var reportClassifiers = "cnn,logistic"
    @Option(name: .customLong("report-cnn-min-steps"), help: "With --report: minimum Adam steps of each CNN fit (default: evaluate's 400).")
    var reportCNNMinSteps: Int?
    @Option(help: "With --report: the markdown file holding the literature table (default: docs/phantom.md in this folder or a parent).")
    var literature: String?
    @OptionGroup var threads: ThreadOptions
    @Flag(name: .customLong("print-parameters"), help: "Print every phantom parameter (defaults or --config) as JSON and exit.")
    var printParameters = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard shape.allSides({ $0 >= 8 && $0 <= 1024 }) else {
            throw ValidationError("--shape must be XxYxZ with sizes 8…1024, e.g. 96x112x96 (got '\(shape)')")
        }
        guard voxelSize >= 0.5, voxelSize <= 10 else { throw ValidationError("--voxel-size must be between 0.5 and 10 mm") }
        guard suvrMax > 0 else { throw ValidationError("--suvr-max must be positive") }
        try lowRes.validate(grid: shape.sides, option: "--shape")
        if printParameters { return }
        if report != nil {
            do { _ = try CrossValidationPlan(parsing: reportCV) } catch {
                throw ValidationError("--report-cv must be REPEATSxFOLDS with 1…100 repeats and 2…50 folds, e.g. 5x5 (got '\(reportCV)')")
            }
            _ = try classifierList()
            if let n = reportCNNMinSteps, n < 1 { throw ValidationError("--report-cnn-min-steps must be at least 1") }
            if let from {
                guard FileManager.default.fileExists(atPath: from) else { throw ValidationError("--from: no such cohort store '\(from)'") }
                guard out == nil, niftiDir == nil, bids == nil, montage == nil, sliceArgs.slices == nil, lowRes.factor == nil else {
                    throw ValidationError("--from reports on an existing store: --out, --nifti-dir, --bids, --montage, --slices and --low-res-copy build a cohort and cannot go with it")
                }
                return
            }
        } else if from != nil {
            throw ValidationError("--from needs --report (it names the cohort a report reads)")
        }
        guard let out = out ?? report.map(PhantomReportJob.defaultStore(in:)) else {
            throw ValidationError("--out is required (the HDF5 volume store to write, e.g. cohorts/phantom.h5)")
        }
        guard out.hasSuffix(".h5") || out.hasSuffix(".hdf5") else { throw ValidationError("--out must be an HDF5 file ending in .h5 (got '\(out)')") }
    }

    /// --report-classifiers as typed values.
    func classifierList() throws -> [DifficultyClassifier] {
        let names = reportClassifiers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        var list: [DifficultyClassifier] = []
        for n in names {
            switch n {
            case "cnn", "smallcnn": list.append(.smallCNN)
            case "logistic", "lr", "logistic-regression": list.append(.logisticRegression)
            default: throw ValidationError("--report-classifiers: '\(n)' is not cnn or logistic")
            }
        }
        guard !list.isEmpty else { throw ValidationError("--report-classifiers: name at least one of cnn, logistic") }
        return list
    }

    func run() throws {
        try runReportingErrors {
            threads.apply()
            var params = try config.map { try PhantomParameters.load(path: $0) } ?? PhantomParameters()
            if let effects {
                try params.effects.apply(effects.text)
                try params.validate(source: "--effects")
            }
            if printParameters {
                print(String(decoding: try params.jsonData(), as: UTF8.self))
                return
            }
            if let report {
                var r = PhantomReportJob(directory: report, plan: try CrossValidationPlan(parsing: reportCV, seed: reportCVSeed))
                r.literaturePath = literature
                r.templatesDirectory = templates
                r.classifiers = try classifierList()
                r.cnnMinSteps = reportCNNMinSteps
                r.command = (["petgan"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
                if let from { r.existingStore = from } else { r.cohort = try cohortJob(params: params, out: out ?? PhantomReportJob.defaultStore(in: report)) }
                try r.run()
                return
            }
            guard let out else { return }
            try cohortJob(params: params, out: out).run()
        }
    }

    func cohortJob(params: PhantomParameters, out: String) throws -> PhantomCohortJob {
        var job = PhantomCohortJob(out: out)
        job.count = count
        job.classes = classes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        job.proportions = proportions?.weights
        job.niftiShape = shape.sides
        job.voxelSize = voxelSize
        job.niftiDirectory = niftiDir
        job.bidsDirectory = bids
        job.seed = seed
        job.parameters = params
        job.templatesDirectory = templates
        job.slices = try sliceArgs.options()
        job.slicePath = sliceArgs.slicesOut
        job.suvrMax = suvrMax
        job.montage = montage
        job.lowResolutionFactor = lowRes.factor
        return job
    }
}

/// `--effects`: checked when parsed, applied over the config's effects.
struct EffectsArgument {
    var text: String
}

/// `--proportions`: comma-separated class weights, e.g. 105,208,98.
struct Proportions {
    var weights: [Double]
    static func parse(_ text: String) throws -> Proportions {
        let w = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !w.isEmpty, w.allSatisfy({ $0 != nil }) else { throw ArgumentFormatError("must be numbers, e.g. 105,208,98") }
        return Proportions(weights: w.map { $0! })
    }
}
