import ArgumentParser
import Foundation
import PETCohort
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
        --print-parameters shows them as JSON, and --config reads a JSON file that overrides any of them.
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
    @Option(name: .customLong("suvr-max"), help: "SUVR mapped to +1 by the stores' intensity map (SUVR/max → [0,1] → [-1,1]).")
    var suvrMax: Double = 4
    @Option(help: "Write a PNG montage (axial, coronal, sagittal mid-slices) of the first subject of each class.")
    var montage: String?
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
        if printParameters { return }
        guard let out else { throw ValidationError("--out is required (the HDF5 volume store to write, e.g. cohorts/phantom.h5)") }
        guard out.hasSuffix(".h5") || out.hasSuffix(".hdf5") else { throw ValidationError("--out must be an HDF5 file ending in .h5 (got '\(out)')") }
    }

    func run() throws {
        try runReportingErrors {
            threads.apply()
            var params = try config.map { try PhantomParameters.load(path: $0) } ?? PhantomParameters()
            if let effects {
                try params.effects.apply(effects.text)
                try params.validate(source: "--effects")
            }
            guard let out, !printParameters else {
                print(String(decoding: try params.jsonData(), as: UTF8.self))
                return
            }
            var job = PhantomCohortJob(out: out)
            job.count = count
            job.classes = classes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            job.proportions = proportions?.weights
            job.niftiShape = shape.sides
            job.voxelSize = voxelSize
            job.niftiDirectory = niftiDir
            job.seed = seed
            job.parameters = params
            job.templatesDirectory = templates
            job.slices = try sliceArgs.options()
            job.slicePath = sliceArgs.slicesOut
            job.suvrMax = suvrMax
            job.montage = montage
            try job.run()
        }
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
