import Foundation
import PETTensor
import PETVolumes

/// What to build: grid, parameters, subjects, outputs.
public struct CohortRequest {
    public var grid: VolumeGrid
    public var parameters: PhantomParameters
    public var plan: CohortPlan
    /// The volume store (.h5) to write.
    public var outputPath: String
    /// Also write one NIfTI (+ JSON sidecar) per subject here.
    public var niftiDirectory: String?
    /// Also write the cohort as a BIDS raw dataset here (BIDSCohort.swift).
    public var bidsDirectory: String?
    /// Also write a 2D slice store (`slicePath`).
    public var slices: SliceOptions?
    public var slicePath: String?
    public var templatesDirectory: String?
    /// SUVR mapped to +1 by the store's intensity map (SUVR / suvrMax → [0, 1] → [−1, 1]). 4: the
    /// calibrated pons-referenced SUVR peaks above 3 in visual and posterior cingulate cortex at 5 mm.
    public var suvrMax: Double = 4
    /// Also store each volume's f×f×f block means (/volumes_low_resolution; PETVolumes'
    /// LowResolution.swift), pooled from the volume as it is written; nil for none.
    public var lowResolutionFactor: Int?

    /// The SUVR window montages of the phantom show (inferno): the calibrated pons-referenced cortex
    /// sits at 1.5–2, visual and posterior cingulate cortex and putamen reach 2.5–3.
    public static let displayWindowSUVR: (Float, Float) = (0, 3)

    public init(grid: VolumeGrid, parameters: PhantomParameters = PhantomParameters(), plan: CohortPlan, outputPath: String) {
        self.grid = grid; self.parameters = parameters; self.plan = plan; self.outputPath = outputPath
    }

    /// "<stem>_slices-axial.h5" next to the volume store.
    public static func defaultSlicePath(for output: String) -> String {
        let stem = output.hasSuffix(".h5") ? String(output.dropLast(3)) : output
        return stem + "_slices-axial.h5"
    }
}

/// What was built.
public struct CohortSummary: Codable, Sendable {
    public var outputPath: String
    public var slicePath: String?
    public var sliceCount: Int
    public var niftiDirectory: String?
    public var subjects: Int
    public var classCounts: [String: Int]
    public var seconds: Double
    public var secondsPerSubject: Double
}

/// Builds phantom cohorts into PETVolumes' HDF5 volume store.
///
/// Store layout: PETVolumes' (/volumes (N,D,H,W) SUVR float32, /labels with class_names, /affines
/// MNI, /intensity = the SUVR → [−1, 1] map) plus, from PETCohort: /phantom/parameters (the JSON of
/// every model parameter), /phantom/subjects (one JSON per subject: everything drawn, enough to
/// regenerate it), /phantom/plan (seed and classes), root attributes kind = "phantom cohort",
/// seed, units = "SUVR (pons)". The slice store has the same layout with (channels, H, W) items and
/// /slice_subject, /slice_z_mm. Files appear only when complete (temporary name, then rename).
public enum PhantomCohort {
    public static func build(_ req: CohortRequest, anatomy given: PhantomAnatomy? = nil,
                             progress: (_ done: Int, _ total: Int, _ subject: SubjectParameters) -> Void = { _, _, _ in }) throws -> CohortSummary {
        let start = DispatchTime.now().uptimeNanoseconds
        try req.parameters.validate()
        for c in req.plan.classNames where req.parameters.classModel(named: c) == nil {
            throw PhantomError.invalidRequest("class '\(c)' is not defined in the parameters (defined: \(req.parameters.classes.map(\.name).joined(separator: ", ")))")
        }
        if let s = req.slices { try s.validate() }
        // Before the templates are read: the grid must pool by the factor (the error names the store).
        if let f = req.lowResolutionFactor { _ = try LowResolution.shape(of: req.grid.shape, factor: f, store: req.outputPath) }
        let vs = req.grid.voxelSize
        let vox = max(vs.0, vs.1, vs.2)
        let anatomy = try given ?? PhantomAnatomy.load(directory: req.templatesDirectory, outputVoxelMM: vox)
        let gen = try PhantomGenerator(anatomy: anatomy, parameters: req.parameters, grid: req.grid)
        if let dir = req.niftiDirectory {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw PhantomError.writeFailed(path: dir, reason: error.localizedDescription)
            }
        }
        let outDir = (req.outputPath as NSString).deletingLastPathComponent
        if !outDir.isEmpty, !FileManager.default.fileExists(atPath: outDir) {
            throw PhantomError.writeFailed(path: req.outputPath, reason: "folder \(outDir) does not exist")
        }
        let classNames = req.plan.classNames
        let map = IntensityMap(scale: 2 / req.suvrMax, offset: -1)
        let normalization = NormalizationMethod.suvr(suvrMax: req.suvrMax).description + " (reference: pons)"
        let attrs = ["kind": "phantom cohort", "units": "SUVR (pons reference)", "seed": String(req.plan.seed),
                     "phantom": "PETCohort FDG-PET phantom from MNI ICBM152 2009a + AAL2 (see Volumes/README.md)"]
        let tmpOut = temporaryName(for: req.outputPath) + ".h5"
        defer { unlink(tmpOut) }
        let writer = try VolumeStoreWriter.create(tmpOut, volumeShape: req.grid.shape, classNames: classNames,
                                                  voxelSize: vs, normalization: normalization,
                                                  options: VolumeStoreOptions(lowResolutionFactor: req.lowResolutionFactor),
                                                  space: .mni, extraAttributes: attrs)
        var sliceWriter: VolumeStoreWriter?
        var tmpSlices: String?
        var sliceSubject: [Int32] = [], sliceZ: [Double] = []
        let centres = req.slices.map { AxialSlices.centres(grid: req.grid, options: $0) } ?? []
        if let s = req.slices {
            guard !centres.isEmpty else { throw PhantomError.invalidRequest("no axial slice of the grid \(req.grid) lies in z \(s.zRangeMM[0])…\(s.zRangeMM[1]) mm") }
            let path = req.slicePath ?? CohortRequest.defaultSlicePath(for: req.outputPath)
            tmpSlices = temporaryName(for: path) + ".h5"
            sliceWriter = try VolumeStoreWriter.create(tmpSlices!, volumeShape: [s.channels] + s.size, classNames: classNames,
                                                       voxelSize: vs, normalization: normalization,
                                                       options: VolumeStoreOptions(chunks: [1, s.channels] + s.size),
                                                       extraAttributes: attrs.merging(["kind": "phantom axial slices",
                                                                                       "item_axes": "(channel = adjacent axial slice, row = anterior→posterior, column = right→left of the image = subject left→right)"]) { $1 })
        }
        defer { if let t = tmpSlices { unlink(t) } }
        let bids = try req.bidsDirectory.map { try PhantomBIDSWriter(directory: $0, plan: req.plan, grid: req.grid) }
        var subjectsJSON: [String] = []
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var counts: [String: Int] = [:]
        for e in req.plan.subjects {
            let subject = try gen.drawSubject(index: e.index, className: e.className, seed: e.seed)
            let vol = gen.synthesize(subject)
            let label = classNames.firstIndex(of: e.className)!
            let json = String(decoding: try enc.encode(subject), as: UTF8.self)
            subjectsJSON.append(json)
            let v = Volume(grid: req.grid, data: vol.values, space: .mni, metadata: ["class": e.className, "subject": subject.id])
            // The store holds what training consumes, SUVR mapped to [−1, 1]; /intensity records the
            // map so generated volumes go back to SUVR. NIfTI files stay in SUVR.
            let stored = Volume(grid: req.grid, data: vol.values.map { map.forward($0) }, space: .mni,
                                metadata: ["class": e.className, "subject": subject.id])
            try writer.append(stored, label: label, intensity: map, sourceFile: subject.id)
            if let dir = req.niftiDirectory {
                let path = (dir as NSString).appendingPathComponent("\(subject.id)_\(e.className)_pet.nii.gz")
                var prov: [String: Any] = ["command": "phantom", "kind": "phantom FDG-PET (SUVR, pons)", "class": e.className,
                                           "seed": String(e.seed), "subject": (try? JSONSerialization.jsonObject(with: Data(json.utf8))) ?? json]
                // The covariates also at the top level, where a sidecar reader looks first.
                prov["covariates"] = subject.covariates
                try NIfTIFile.write(v, to: path, provenance: prov)
            }
            if let b = bids {
                try b.add(subject, volume: v, provenance: ["command": "phantom", "kind": "phantom FDG-PET (SUVR, pons)", "class": e.className,
                                                          "seed": String(e.seed), "covariates": subject.covariates])
            }
            if let s = req.slices, let sw = sliceWriter {
                for k in centres {
                    let item = AxialSlices.extract(vol.values, grid: req.grid, centre: k, options: s).map { map.forward($0) }
                    let sv = Volume(shape: [s.channels] + s.size, data: item, affine: .identity, space: .unknown)
                    try sw.append(sv, label: label, intensity: map, sourceFile: "\(subject.id):k=\(k)")
                    sliceSubject.append(Int32(e.index))
                    sliceZ.append(req.grid.affine.apply(0, 0, Double(k)).2)
                }
            }
            counts[e.className, default: 0] += 1
            progress(e.index + 1, req.plan.subjects.count, subject)
        }
        try writer.commit()
        let paramsJSON = String(decoding: try req.parameters.jsonData(), as: UTF8.self)
        let planJSON = String(decoding: try enc.encode(req.plan), as: UTF8.self)
        try addPhantomRecords(tmpOut, parameters: paramsJSON, subjects: subjectsJSON, plan: planJSON)
        try rename(tmpOut, to: req.outputPath)
        try bids?.finish(parameters: req.parameters)
        var slicePath: String?
        if let sw = sliceWriter, let tmp = tmpSlices {
            try sw.commit()
            try addPhantomRecords(tmp, parameters: paramsJSON, subjects: subjectsJSON, plan: planJSON) { f in
                try f.createDataset("slice_subject", values: sliceSubject, shape: [sliceSubject.count])
                try f.createDataset("slice_z_mm", values: sliceZ, shape: [sliceZ.count])
            }
            slicePath = req.slicePath ?? CohortRequest.defaultSlicePath(for: req.outputPath)
            try rename(tmp, to: slicePath!)
        }
        let secs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return CohortSummary(outputPath: req.outputPath, slicePath: slicePath, sliceCount: sliceSubject.count,
                             niftiDirectory: req.niftiDirectory, subjects: req.plan.subjects.count, classCounts: counts,
                             seconds: secs, secondsPerSubject: secs / Double(max(1, req.plan.subjects.count)))
    }

    private static func addPhantomRecords(_ path: String, parameters: String, subjects: [String], plan: String,
                                          extra: (HDF5File) throws -> Void = { _ in }) throws {
        let f = try HDF5File.open(path, mode: .readWrite)
        let g = try f.createGroup("phantom")
        try g.createStringDataset("parameters", [parameters])
        try g.createStringDataset("subjects", subjects)
        try g.createStringDataset("plan", [plan])
        try extra(f)
        try f.flush()
    }

    private static func rename(_ from: String, to: String) throws {
        if Foundation.rename(from, to) != 0 {
            throw PhantomError.writeFailed(path: to, reason: String(cString: strerror(errno)))
        }
    }

    /// A small cohort for demos and tests: `count` subjects (equal NC/MCI/AD) on the coarse 4 mm
    /// 48×56×48 MNI grid, written to `path`. About 0.1 s per subject.
    @discardableResult
    public static func makeSmallCohort(at path: String, count: Int = 12, seed: UInt64 = 1,
                                       niftiShape: [Int] = [48, 56, 48], voxelSize: Double = 4,
                                       slices: SliceOptions? = nil, templatesDirectory: String? = nil,
                                       parameters: PhantomParameters = PhantomParameters()) throws -> CohortSummary {
        let plan = try CohortPlan(count: count, classNames: ["NC", "MCI", "AD"], proportions: nil, seed: seed)
        var req = CohortRequest(grid: .mni(niftiShape: niftiShape, voxelSize: voxelSize), parameters: parameters, plan: plan, outputPath: path)
        req.slices = slices
        req.templatesDirectory = templatesDirectory
        return try build(req)
    }

    /// Mid-slices (axial, coronal, sagittal) of the given store items, one row each, in SUVR: the
    /// store holds SUVR mapped to [−1, 1] (what training reads), so the map is inverted before the
    /// SUVR window is applied (showing the stored values made every montage nearly black).
    public static func montage(store: VolumeStore, indices: [Int]) throws -> RGBImage {
        let vols = try indices.map { try store.readVolumeInRawUnits($0) }
        return Montage.render(vols, options: MontageOptions(colorMap: .inferno, zoom: 2, window: CohortRequest.displayWindowSUVR))
    }

    /// Reads the subjects' recorded parameters back from a cohort store.
    public static func readSubjects(_ path: String) throws -> [SubjectParameters] {
        let f = try HDF5File.open(path)
        let texts = try f.dataset("phantom/subjects").readStrings()
        return try texts.map { try JSONDecoder().decode(SubjectParameters.self, from: Data($0.utf8)) }
    }

    /// Reads the parameters a cohort was built with.
    public static func readParameters(_ path: String) throws -> PhantomParameters {
        let f = try HDF5File.open(path)
        guard let text = try f.dataset("phantom/parameters").readStrings().first else {
            throw PhantomError.unreadable(path: path, reason: "phantom/parameters is empty")
        }
        return try JSONDecoder().decode(PhantomParameters.self, from: Data(text.utf8))
    }
}
