// `petgan prepare`, `petgan inspect`, `petgan montage`: the volume commands (PETVolumes).
import ArgumentParser
import Foundation
import PETCohort
import PETTensor
import PETVolumes

struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Build an HDF5 volume store from a BIDS dataset (--bids) or a folder of NIfTI files and a labels CSV (file,label).",
        discussion: """
        Every volume is resampled through world coordinates onto one RAS+ grid (trilinear), normalized \
        to [-1, 1] (the inverse map is stored per volume) and appended; the store appears under its \
        final name only when complete. Shapes are NIfTI order x×y×z, as viewers show them. \
        --bids DIR reads every sub-*/[ses-*/]pet/*_pet.nii[.gz] (or derivatives/NAME/ with --derivatives), \
        classes from participants.tsv (--label-column, --label-map), frame timing from the inherited \
        _pet.json, and records each source's BIDS entities in the store (/bids_sources; docs/BIDS.md).
        """)

    @Option(help: "Folder with the NIfTI files (.nii / .nii.gz) named in the CSV.")
    var input: String?
    @Option(help: "CSV of file,label rows (an optional 'file,label' header row is skipped).")
    var labels: String?
    @Option(help: "A BIDS dataset to read instead of --input/--labels (PET images, participants.tsv, _pet.json).")
    var bids: String?
    @Option(help: "With --bids: only this session (ses- label, e.g. bl).")
    var session: String?
    @Option(help: "With --bids: only this task (task- label).")
    var task: String?
    @Option(help: "With --bids: only this tracer (trc- label, case-insensitive, e.g. FDG).")
    var tracer: String?
    @Option(help: "With --bids: the participants.tsv column holding each subject's class (a sub-X_sessions.tsv column of that name overrides it per session).")
    var labelColumn = "diagnosis"
    @Option(help: "With --bids: VALUE=CLASS pairs mapping the label column to classes, e.g. CN=NC,EMCI=MCI,LMCI=MCI,AD=AD (VALUE=- leaves VALUE out; an unmapped value is an error).",
            transform: { text in
                do { return try BIDSLabelMap.parse(text) } catch { throw ArgumentFormatError("\(error)") }
            })
    var labelMap: BIDSLabelMap?
    @Option(help: "With --bids: read the derivative images under derivatives/NAME/ (e.g. spatially normalised ones).")
    var derivatives: String?
    @Option(help: "With --bids --derivatives: only images of this space- label (e.g. MNI152NLin2009cAsym).")
    var space: String?
    @Flag(help: "With --bids: subjects without a participants.tsv row or label, and subject folders without PET, are errors instead of skipped with a warning.")
    var strict = false
    @Option(help: "Output HDF5 store.")
    var out: String
    @Option(help: "Target grid x×y×z in voxels, e.g. 96x112x96 (or one number for a cube).")
    var shape = GridSides(96, 112, 96)
    @Option(help: "Target voxel size in mm: one number, or x×y×z like 2x2x2 (default: 2).", transform: { try VoxelSize.parse($0) })
    var voxelSize = VoxelSize(isotropic: 2)
    @Option(help: "Grid centre: 'volume' (each volume's field of view) or 'origin' (world 0,0,0: registered data).")
    var center: GridCenter = .volume
    @Option(help: "Intensity normalization: max, percentile[:P] (default P 99.5), zscore[:SD], suvr[:MAX] (needs --reference-mask; default: percentile:99.5).",
            transform: { try NormalizationArgument.parse($0) })
    var normalize = NormalizationArgument(text: "percentile:99.5", method: .percentile(99.5))
    @Option(help: "Reference-region mask (NIfTI, same world space as the inputs) for SUVR normalization.")
    var referenceMask: String?
    @Option(help: "Chunk shape x×y×z of /volumes (one volume per chunk along N).")
    var chunk = GridSides(32, 32, 32)
    @Option(help: "Deflate level 0-9, or 'none' for no compression.")
    var deflate: DeflateLevel = DeflateLevel(level: 4)
    @Flag(help: "Turn off the byte-shuffle filter.")
    var noShuffle = false
    @Option(help: "NaN/Inf voxels in inputs: refuse, warn (set to 0 with a warning) or zero.")
    var nonFinite: NonFinitePolicy = .refuse
    @OptionGroup var runtime: RuntimeOptions<PrepareBudget>
    @Flag(help: "Append to the existing store --out (same --shape; labels must be among its classes).")
    var append = false
    @Option(help: "4-D (dynamic) inputs: mean (duration-weighted when a BIDS sidecar <name>.json FrameDuration or the header gives durations), sum, first, last, or 0-based frame indices N[,M...] (several are averaged). Without it a 4-D input is refused. Recorded in the store.",
            transform: { try FrameSelection.parseArgument($0) })
    var frames: FrameSelection?
    @OptionGroup var sliceArgs: SliceStoreOptions
    @OptionGroup var lowRes: LowResolutionCopyOptions

    func validate() throws {
        try lowRes.validate(grid: shape.sides, option: "--shape")
        if bids != nil {
            guard input == nil, labels == nil else { throw ValidationError("--bids reads images and labels from the dataset: drop --input and --labels") }
        } else {
            guard input != nil, labels != nil else { throw ValidationError("give --bids DIR, or --input DIR with --labels CSV") }
            let bidsOnly = [session.map { _ in "--session" }, task.map { _ in "--task" }, tracer.map { _ in "--tracer" }, labelMap.map { _ in "--label-map" },
                            derivatives.map { _ in "--derivatives" }, space.map { _ in "--space" }, strict ? "--strict" : nil].compactMap { $0 }
            guard bidsOnly.isEmpty else { throw ValidationError("\(bidsOnly.joined(separator: ", ")) need\(bidsOnly.count == 1 ? "s" : "") --bids") }
        }
        if case .suvr = normalize.method, referenceMask == nil { throw ValidationError("--normalize suvr needs --reference-mask") }
        guard out.lowercased().hasSuffix(".h5") || out.lowercased().hasSuffix(".hdf5") else { throw ValidationError("--out must end in .h5 or .hdf5") }
    }

    func run() throws {
        try runReportingErrors {
            runtime.apply()
            var cfg = PrepareConfig(inputDirectory: input ?? "", labelsCSV: labels ?? "", output: out, shape: shape.niftiShape, voxelSize: voxelSize.millimetres)
            if let bids {
                var req = BIDSPrepareRequest(root: bids)
                req.query.session = session; req.query.task = task; req.query.tracer = tracer
                req.query.derivatives = derivatives; req.query.space = space
                req.labelColumn = labelColumn; req.labelMap = labelMap; req.strict = strict
                cfg.bids = req
            }
            cfg.center = center
            cfg.normalization = normalize.method
            cfg.referenceMask = referenceMask
            cfg.storeOptions = VolumeStoreOptions(chunks: [1] + chunk.niftiShape.arrayShape, deflate: deflate.level, shuffle: !noShuffle,
                                                  lowResolutionFactor: lowRes.factor)
            cfg.nonFinite = nonFinite
            cfg.memoryBudget = runtime.memoryBudget?.bytes
            cfg.append = append
            cfg.frames = frames
            let sliceOptions = try sliceArgs.options()
            let s = try DatasetPreparer.run(cfg) { print($0) }
            let classes = zip(s.classNames, s.classCounts).map { "\($0) \($1)" }.joined(separator: ", ")
            print(String(format: "wrote %@: %d volumes (%@) on %@ at %@ mm, %@, %.1fs", out, s.count, classes, cfg.shape.description,
                         voxelSize.description, formatBytes(s.bytesWritten), s.seconds))
            if bids != nil {
                print("prepare: BIDS: \(s.count) image(s) stored with their entities (/bids_sources); \(s.filteredOut) left out by the filters, \(s.droppedByMap) dropped by --label-map, \(s.warnings.count) warning(s)")
            }
            if let so = sliceOptions {
                let path = sliceArgs.path(for: out)
                let n = try AxialSlices.writeStore(from: out, to: path, options: so)
                print("wrote \(path): \(n) slice samples of \(so.channels)x\(so.size.map(String.init).joined(separator: "x"))")
            }
        }
    }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what is in a NIfTI file or HDF5 store: shape (x×y×z), voxel size, affine, orientation, value range, labels.")

    @Argument(help: "A .nii / .nii.gz file, a NIfTI or Analyze 7.5 .hdr/.img pair, or an HDF5 file (recognized by content).")
    var file: String
    @Flag(help: "Print JSON instead of text.")
    var json = false
    @Option(help: "4-D series: report the volume that mean|sum|first|last|N[,M...] makes (default: every frame, with durations).",
            transform: { try FrameSelection.parseArgument($0) })
    var frames: FrameSelection?

    func run() throws {
        try runReportingErrors {
            let r = try FileInspector.inspect(file, frames: frames)
            print(json ? try r.json() : r.text)
        }
    }
}

struct MontageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "montage",
        abstract: "PNG of axial, coronal and sagittal mid-slices (one row per volume) of NIfTI files or an HDF5 store.")

    @Argument(help: "One or more .nii / .nii.gz files (one row each), or one HDF5 volume store.")
    var files: [String]
    @Option(help: "Output PNG.")
    var out: String
    @Option(help: "First volume of the store to show.")
    var index: Int = 0
    @Option(help: "Number of store volumes to show (one row each).")
    var count: Int = 1
    @Option(help: "Colour map: gray, hot, viridis or inferno.")
    var colormap: ColorMap = .gray
    @Option(help: "Pixels per smallest voxel edge.")
    var zoom: Int = 2
    @Option(help: "Display window low,high (default: [-1,1] for stores, 0.5-99.5 percentiles for NIfTI).", transform: { try DisplayWindow.parse($0) })
    var window: DisplayWindow?

    func validate() throws {
        guard zoom >= 1 && zoom <= 16 else { throw ValidationError("--zoom must be 1-16") }
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard index >= 0 else { throw ValidationError("--index must not be negative") }
        guard out.lowercased().hasSuffix(".png") else { throw ValidationError("--out must end in .png") }
        guard !files.isEmpty else { throw ValidationError("give a NIfTI file or an HDF5 store") }
        if files.count > 1 && !files.allSatisfy(NIfTIFile.isImageFile) { throw ValidationError("several inputs must all be NIfTI files") }
    }

    func run() throws {
        try runReportingErrors {
            var win = window.map { ($0.low, $0.high) }
            var volumes: [Volume] = []
            let file = files[0]
            if NIfTIFile.isImageFile(file) {
                volumes = try files.map { try NIfTIFile.read($0, options: NIfTIReadOptions(nonFinite: .zero)) }
            } else {
                let s = try VolumeStore.open(file)
                guard index < s.count else { throw VolumeStoreError.invalidArgument(file: file, detail: "--index \(index) but the store holds \(s.count) volumes") }
                for i in index..<min(s.count, index + count) {
                    if let p = s.affine(i).validationProblem() {
                        throw VolumeStoreError.invalidArgument(file: file, detail: "the affine of volume \(i) is unusable: \(p)")
                    }
                    volumes.append(try s.readVolume(i))
                }
                if win == nil { win = (-1, 1) }
            }
            let img = Montage.render(volumes, options: MontageOptions(colorMap: colormap, zoom: zoom, window: win))
            try PNGFile.write(img, to: out)
            print("wrote \(out): \(img.width)x\(img.height), \(volumes.count) volume(s), axial | coronal | sagittal")
        }
    }
}

extension GridCenter: ExpressibleByArgument {}
extension NonFinitePolicy: ExpressibleByArgument {}
extension ColorMap: ExpressibleByArgument {}

extension FrameSelection {
    static func parseArgument(_ text: String) throws -> FrameSelection {
        guard let f = FrameSelection.parse(text) else { throw ArgumentFormatError("must be mean, sum, first, last or 0-based frame indices N[,M...]") }
        return f
    }
}

/// `--deflate`: 0-9, or none.
struct DeflateLevel: ExpressibleByArgument, CustomStringConvertible {
    /// Nil: no compression.
    var level: Int?
    init(level: Int?) { self.level = level }
    init?(argument: String) {
        if argument == "none" { level = nil; return }
        guard let l = Int(argument), (0...9).contains(l) else { return nil }
        level = l
    }
    var description: String { level.map(String.init) ?? "none" }
    var defaultValueDescription: String { description }
}

/// `--window low,high` with high > low.
struct DisplayWindow {
    var low: Float, high: Float
    static func parse(_ text: String) throws -> DisplayWindow {
        let p = text.split(separator: ",").compactMap { Float($0) }
        guard p.count == 2, p[1] > p[0] else { throw ArgumentFormatError("must be low,high with high > low") }
        return DisplayWindow(low: p[0], high: p[1])
    }
}

/// `--normalize` as written (how its default shows in --help) and as parsed.
struct NormalizationArgument: CustomStringConvertible {
    var text: String
    var method: NormalizationMethod
    static func parse(_ text: String) throws -> NormalizationArgument {
        guard let m = NormalizationMethod.parse(text) else { throw ArgumentFormatError("must be max, percentile[:P], zscore[:SD] or suvr[:MAX]") }
        return NormalizationArgument(text: text, method: m)
    }
    var description: String { text }
}
