import ArgumentParser
import Foundation
import PETCohort
import PETTensor
import PETVolumes

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
    @Option(help: "Class proportions, comma-separated weights in the order of --classes (default: ADNI-1 baseline 105,208,98 for NC,MCI,AD; else equal).")
    var proportions: String?
    @Option(help: "Output grid size in voxels, x by y by z (NIfTI order), e.g. 96x112x96 (2 mm), 128x152x128 (1.5 mm), 192x224x192 (1 mm).")
    var shape: String = "96x112x96"
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
    @Option(help: "Folder with the templates (default: $PETGAN_TEMPLATES or Volumes/templates).")
    var templates: String?
    @OptionGroup var sliceArgs: SliceStoreOptions
    @Option(name: .customLong("suvr-max"), help: "SUVR mapped to +1 by the stores' intensity map (SUVR/max → [0,1] → [-1,1]).")
    var suvrMax: Double = 3
    @Option(help: "Write a PNG montage (axial, coronal, sagittal mid-slices) of the first subject of each class.")
    var montage: String?
    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?
    @Flag(name: .customLong("print-parameters"), help: "Print every phantom parameter (defaults or --config) as JSON and exit.")
    var printParameters = false

    func parsedShape() throws -> [Int] {
        let p = shape.lowercased().split(separator: "x").compactMap { Int($0) }
        guard p.count == 3, p.allSatisfy({ $0 >= 8 && $0 <= 1024 }) else {
            throw ValidationError("--shape must be XxYxZ with sizes 8…1024, e.g. 96x112x96 (got '\(shape)')")
        }
        return p
    }

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        _ = try parsedShape()
        guard voxelSize >= 0.5, voxelSize <= 10 else { throw ValidationError("--voxel-size must be between 0.5 and 10 mm") }
        guard suvrMax > 0 else { throw ValidationError("--suvr-max must be positive") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if printParameters { return }
        guard let out else { throw ValidationError("--out is required (the HDF5 volume store to write, e.g. cohorts/phantom.h5)") }
        guard out.hasSuffix(".h5") || out.hasSuffix(".hdf5") else { throw ValidationError("--out must be an HDF5 file ending in .h5 (got '\(out)')") }
    }

    func run() throws {
        try runReportingErrors {
            if let t = threads { Parallel.setThreads(t) }
            let params = try config.map { try PhantomParameters.load(path: $0) } ?? PhantomParameters()
            if printParameters {
                print(String(decoding: try params.jsonData(), as: UTF8.self))
                return
            }
            let out = self.out!
            let classNames = classes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? params.classes.map(\.name)
            // Cheap checks before the templates are read.
            for c in classNames where params.classModel(named: c) == nil {
                throw PhantomError.invalidRequest("class '\(c)' in --classes is not defined (defined: \(params.classes.map(\.name).joined(separator: ", ")))")
            }
            let outDir = (out as NSString).deletingLastPathComponent
            if !outDir.isEmpty, !FileManager.default.fileExists(atPath: outDir) {
                throw PhantomError.writeFailed(path: out, reason: "folder \(outDir) does not exist")
            }
            var weights: [Double]? = nil
            if let p = proportions {
                let w = p.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
                guard w.allSatisfy({ $0 != nil }) else { throw PhantomError.invalidRequest("--proportions must be numbers, e.g. 105,208,98 (got '\(p)')") }
                weights = w.map { $0! }
            } else if classNames == ["NC", "MCI", "AD"] {
                weights = CohortPlan.adniProportions
            }
            let plan = try CohortPlan(count: count, classNames: classNames, proportions: weights, seed: seed)
            let grid = VolumeGrid.mni(niftiShape: try parsedShape(), voxelSize: voxelSize)
            var req = CohortRequest(grid: grid, parameters: params, plan: plan, outputPath: out)
            req.niftiDirectory = niftiDir
            req.templatesDirectory = templates
            req.suvrMax = suvrMax
            req.slicePath = sliceArgs.slicesOut
            req.slices = try sliceArgs.options()
            let counts = Dictionary(grouping: plan.subjects, by: \.className).mapValues(\.count)
            print("phantom: \(count) subjects (\(classNames.map { "\($0) \(counts[$0] ?? 0)" }.joined(separator: ", "))) on \(grid), seed \(seed)")
            let t0 = DispatchTime.now().uptimeNanoseconds
            let anatomy = try PhantomAnatomy.load(directory: templates, outputVoxelMM: voxelSize)
            print(String(format: "phantom: templates ready in %.1f s (%@ shared)", Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, formatBytes(anatomy.byteCount)))
            var bar = PhantomProgress(total: count, label: "phantom")
            var firstOfClass: [String: Int] = [:]
            let summary = try PhantomCohort.build(req, anatomy: anatomy) { done, _, s in
                if firstOfClass[s.className] == nil { firstOfClass[s.className] = s.index }
                bar.update(done, detail: "\(s.id) \(s.className)")
            }
            bar.finish()
            print(String(format: "phantom: wrote %@ (%d volumes, %.2f s per subject)", summary.outputPath, summary.subjects, summary.secondsPerSubject))
            if let sp = summary.slicePath { print("phantom: wrote \(sp) (\(summary.sliceCount) slice samples of \(sliceArgs.channels)x\(sliceArgs.sliceShape))") }
            if let d = summary.niftiDirectory { print("phantom: wrote \(summary.subjects) NIfTI volumes into \(d)") }
            if let m = montage {
                let store = try VolumeStore.open(out)
                let order = classNames.compactMap { firstOfClass[$0] }
                let vols = try order.map { try store.readVolume($0) }
                let img = Montage.render(vols, options: MontageOptions(colorMap: .inferno, zoom: 2, window: (0, Float(2.0))))
                try PNGFile.write(img, to: m)
                print("phantom: wrote \(m) (rows: \(order.map { plan.subjects[$0].className }.joined(separator: ", ")); SUVR 0–2)")
            }
        }
    }
}

/// Progress on stderr: a bar with rate and ETA on a terminal, plain lines (every ~10%) otherwise.
struct PhantomProgress {
    let total: Int
    let label: String
    let start = DispatchTime.now().uptimeNanoseconds
    let tty = isatty(STDERR_FILENO) != 0
    var lastDecile = -1

    init(total: Int, label: String) { self.total = total; self.label = label }

    mutating func update(_ done: Int, detail: String = "") {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let rate = Double(done) / max(elapsed, 1e-9)
        let eta = Double(total - done) / max(rate, 1e-9)
        let line: String
        if tty {
            let width = 30
            let filled = Int(Double(width) * Double(done) / Double(max(1, total)))
            line = "\r\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(total) "
                + String(format: "%.2f/s ETA %@ %@", rate, Self.clock(eta), detail) + "\u{1B}[K"
            FileHandle.standardError.write(line.data(using: .utf8)!)
        } else {
            let decile = done * 10 / max(1, total)
            guard decile != lastDecile || done == total else { return }
            lastDecile = decile
            line = "\(label): \(done)/\(total) " + String(format: "(%.0f%%) elapsed %@ ETA %@\n", 100 * Double(done) / Double(max(1, total)), Self.clock(elapsed), Self.clock(eta))
            FileHandle.standardError.write(line.data(using: .utf8)!)
        }
    }

    func finish() { if tty { FileHandle.standardError.write("\n".data(using: .utf8)!) } }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}
