// `petgan prepare`: a folder of NIfTI volumes + a labels CSV → one HDF5 volume store on a common grid.
//
// Public API:
//   let rows = try LabelsCSV.read("labels.csv", inputDirectory: "nifti/")   // checks every file exists
//   var cfg = PrepareConfig(inputDirectory: "nifti/", labelsCSV: "labels.csv", output: "data.h5",
//                           shape: GridShape(nx: 96, ny: 112, nz: 96), voxelSize: (2, 2, 2))
//   let summary = try DatasetPreparer.run(cfg) { line in print(line) }       // progress lines with ETA
//
// Each volume is read (NIfTI checks and NaN policy), resampled through world coordinates onto the
// target grid (trilinear; the grid is RAS+, centred on each volume's field of view or on the world
// origin), normalized to [-1, 1] with its inverse map stored, and appended. Only one volume is in
// memory at a time; the store appears under its final name only when every volume is in.

import Foundation
import PETTensor

public enum PrepareError: Error, CustomStringConvertible, Equatable {
    case labelsFile(path: String, reason: String)
    case missingFiles(csv: String, files: [String])
    case invalidOption(String)

    public var description: String {
        switch self {
        case let .labelsFile(p, r): return "\(p): \(r)"
        case let .missingFiles(csv, files):
            let shown = files.prefix(5).joined(separator: ", ")
            return "\(csv): \(files.count) file(s) named in the labels CSV do not exist: \(shown)\(files.count > 5 ? ", ..." : "")"
        case let .invalidOption(r): return r
        }
    }
}

/// One row of the labels CSV.
public struct LabelledFile: Equatable {
    /// As written in the CSV.
    public var name: String
    /// Resolved path.
    public var path: String
    public var label: String
    /// A BIDS image's merged sidecars (frame timing); nil: the file's own <stem>.json.
    public var inheritedSidecar: InheritedSidecar? = nil
}

public enum LabelsCSV {
    /// Reads "file,label" rows (an optional header row "file,label" is skipped; blank lines and
    /// lines starting with # are ignored). Relative paths are taken from `inputDirectory`. Throws
    /// if the file is unreadable, a row is malformed, it names no files, or any file is missing.
    public static func read(_ path: String, inputDirectory: String) throws -> [LabelledFile] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PrepareError.labelsFile(path: path, reason: FileManager.default.fileExists(atPath: path) ? "cannot read the labels CSV" : "labels CSV does not exist")
        }
        let text = String(decoding: data, as: UTF8.self)
        var rows: [LabelledFile] = []
        for (n, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let cols = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \t\"")) }
            guard cols.count >= 2, !cols[0].isEmpty, !cols[1].isEmpty else {
                throw PrepareError.labelsFile(path: path, reason: "line \(n + 1): expected 'file,label', got '\(line)'")
            }
            if rows.isEmpty && cols[0].lowercased() == "file" && cols[1].lowercased() == "label" { continue }
            let resolved = cols[0].hasPrefix("/") ? cols[0] : (inputDirectory as NSString).appendingPathComponent(cols[0])
            rows.append(LabelledFile(name: cols[0], path: resolved, label: cols[1]))
        }
        guard !rows.isEmpty else { throw PrepareError.labelsFile(path: path, reason: "names no files") }
        let missing = rows.filter { !FileManager.default.fileExists(atPath: $0.path) }.map { $0.name }
        if !missing.isEmpty { throw PrepareError.missingFiles(csv: path, files: missing) }
        return rows
    }
}

/// Where the target grid is centred.
public enum GridCenter: String, CaseIterable {
    /// On each volume's field-of-view centre (unregistered data).
    case volume
    /// On world (0, 0, 0) (registered data, e.g. MNI space: every volume shares one grid).
    case origin
}

public struct PrepareConfig {
    public var inputDirectory: String
    public var labelsCSV: String
    public var output: String
    public var shape: GridShape
    public var voxelSize: (Double, Double, Double)
    public var center: GridCenter = .volume
    public var normalization: NormalizationMethod = .percentile(99.5)
    /// Reference-region mask NIfTI for SUVR (resampled with nearest neighbour like each volume).
    public var referenceMask: String?
    public var storeOptions = VolumeStoreOptions()
    public var nonFinite: NonFinitePolicy = .refuse
    public var memoryBudget: Int?
    /// Append to an existing store at `output` (same grid; labels must be among its classes).
    public var append = false
    /// Frames of 4-D inputs (nil: a 4-D input is refused, naming --frames). Recorded in the store.
    public var frames: FrameSelection?
    /// Read a BIDS dataset instead of `inputDirectory` + `labelsCSV` (BIDSPrepare.swift).
    public var bids: BIDSPrepareRequest?

    public init(inputDirectory: String, labelsCSV: String, output: String, shape: GridShape, voxelSize: (Double, Double, Double)) {
        self.inputDirectory = inputDirectory; self.labelsCSV = labelsCSV; self.output = output
        self.shape = shape; self.voxelSize = voxelSize
    }
}

public struct PrepareSummary {
    public var count: Int
    public var classNames: [String]
    public var classCounts: [Int]
    public var seconds: Double
    public var bytesWritten: Int
    /// Warnings about skipped inputs (BIDS), already printed to stderr.
    public var warnings: [String] = []
    /// BIDS: images dropped by --label-map and left out by the query.
    public var droppedByMap = 0
    public var filteredOut = 0
}

public enum DatasetPreparer {
    /// A row's frame timing: its inherited BIDS sidecars when it has them, else its own <stem>.json.
    static func frameTiming(_ row: LabelledFile, header h: NIfTIHeaderInfo) throws -> FrameTiming {
        guard let s = row.inheritedSidecar else { return try FrameTiming.read(for: row.path, header: h) }
        return try FrameTiming.from(sidecar: s.object, source: s.source.isEmpty ? "no sidecar" : s.source, header: h, path: row.path)
    }

    /// Builds the store; `progress` receives one line per volume.
    @discardableResult
    public static func run(_ cfg: PrepareConfig, progress: (String) -> Void = { _ in }) throws -> PrepareSummary {
        let rows: [LabelledFile]
        let bids = try cfg.bids.map(BIDSPrepare.select)
        if let b = bids {
            if cfg.append { throw PrepareError.invalidOption("--append cannot go with --bids (the store records every source's BIDS entities; prepare the whole selection at once)") }
            for w in b.warnings { FileHandle.standardError.write(Data("petgan: warning: \(w)\n".utf8)) }
            rows = b.rows
        } else {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: cfg.inputDirectory, isDirectory: &isDir), isDir.boolValue else {
                throw PrepareError.invalidOption("\(cfg.inputDirectory): input folder does not exist")
            }
            rows = try LabelsCSV.read(cfg.labelsCSV, inputDirectory: cfg.inputDirectory)
        }
        var classNames = Array(Set(rows.map { $0.label })).sorted()
        var existingGrid: VolumeStore? = nil
        if cfg.append {
            let existing = try VolumeStore.open(cfg.output)
            guard existing.volumeShape == cfg.shape.arrayShape else {
                throw VolumeStoreError.shapeMismatch(file: cfg.output, detail: "--append: the store's grid is \(GridShape(arrayShape: existing.volumeShape)), not \(cfg.shape)")
            }
            let unknown = Set(classNames).subtracting(existing.classNames)
            guard unknown.isEmpty else {
                throw PrepareError.labelsFile(path: cfg.labelsCSV, reason: "--append: label(s) \(unknown.sorted()) are not classes of \(cfg.output) (\(existing.classNames))")
            }
            classNames = existing.classNames
            // The appending writer keeps an existing copy complete; it cannot start one halfway.
            if let f = cfg.storeOptions.lowResolutionFactor, existing.lowResolution?.factor != f {
                let has = existing.lowResolution.map { "a copy by a factor of \($0.factor)" } ?? "no low-resolution copy"
                throw VolumeStoreError.invalidArgument(file: cfg.output, detail: "--append --low-res-copy \(f): the store has \(has); append without --low-res-copy, or add the copy afterwards with `petgan volumes add-low-res`")
            }
            existingGrid = existing
        }
        let classIndex = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
        let shape = cfg.shape.arrayShape
        if let f = cfg.storeOptions.lowResolutionFactor { _ = try LowResolution.shape(of: shape, factor: f, store: cfg.output) }
        // Refuse a grid that does not fit the budget before reading anything.
        let volumeBytes = shape.reduce(4, *)
        if let b = cfg.memoryBudget, volumeBytes * 3 > b {
            throw TensorError.overBudget(what: "prepare: one \(cfg.shape) volume (source, resampled, normalized)", requestedBytes: volumeBytes * 3, inUseBytes: 0, budgetBytes: b)
        }
        // Every header first (4-D inputs need --frames): a bad file stops the run before anything is written.
        var reductions: [String: String] = [:]
        for row in rows {
            let h = try NIfTIFile.readHeader(row.path)
            guard h.frames > 1 else { continue }
            guard let sel = cfg.frames else {
                throw NIfTIError.framesNeeded(path: row.path, frames: h.frames, detail: "dims \(Array(h.dims[1...h.dims[0]]))")
            }
            let plan = try FrameReduction.plan(sel, header: h, timing: try frameTiming(row, header: h), path: row.path)
            reductions[row.name] = plan.description
        }
        let readOptions = { (policy: NonFinitePolicy, row: LabelledFile) throws in
            var o = NIfTIReadOptions(nonFinite: policy, frames: cfg.frames)
            if row.inheritedSidecar != nil {
                let h = try NIfTIFile.readHeader(row.path)
                if h.frames > 1 { o.frameTiming = try frameTiming(row, header: h) }
            }
            return o
        }
        let mask = try cfg.referenceMask.map { try NIfTIFile.read($0, options: NIfTIReadOptions(nonFinite: .zero)) }
        if case .suvr = cfg.normalization, mask == nil {
            throw PrepareError.invalidOption("SUVR normalization needs --reference-mask")
        }
        // MNI space when the grid is centred on the world origin and the first input says MNI.
        let firstSpace = try NIfTIFile.readHeader(rows[0].path).space
        let space: WorldSpace = cfg.center == .origin && firstSpace == .mni ? .mni : .scanner
        // Provenance: how 4-D inputs became volumes (the option, and per file what it applied).
        var provenance = ["grid_center": cfg.center.rawValue]
        if let b = bids, let req = cfg.bids {
            provenance["bids_dataset"] = req.root
            provenance["bids_images"] = b.datasetRoot
            provenance["bids_query"] = req.query.description
            provenance["bids_label_column"] = req.labelColumn
            if let u = b.units { provenance["units"] = u }
        } else {
            provenance["labels_csv"] = cfg.labelsCSV
        }
        if let sel = cfg.frames { provenance["frames"] = sel.description }
        if !reductions.isEmpty, let j = try? JSONSerialization.data(withJSONObject: reductions, options: [.sortedKeys]) {
            provenance["frame_reductions"] = String(decoding: j, as: UTF8.self)
        }
        let writer = existingGrid != nil ? try VolumeStoreWriter.appending(to: cfg.output) : try VolumeStoreWriter.create(cfg.output, volumeShape: shape, classNames: classNames, voxelSize: cfg.voxelSize,
                                                  normalization: cfg.normalization.description, options: cfg.storeOptions, space: space,
                                                  extraAttributes: provenance)
        let start = Date()
        let report = ProgressReporter(label: "prepare", total: rows.count, output: .lines({ _ in }))
        var counts = [Int](repeating: 0, count: classNames.count)
        for (n, row) in rows.enumerated() {
            let v = try NIfTIFile.read(row.path, options: readOptions(cfg.nonFinite, row))
            let grid: VolumeGrid
            switch cfg.center {
            case .volume: grid = VolumeGrid.centered(on: v, shape: shape, voxelSize: cfg.voxelSize)
            case .origin:
                let (dx, dy, dz) = cfg.voxelSize, g = cfg.shape
                grid = VolumeGrid(shape: shape, affine: .scaling(dx, dy, dz, origin: (-dx * Double(g.nx - 1) / 2, -dy * Double(g.ny - 1) / 2, -dz * Double(g.nz - 1) / 2)))
            }
            var r = try Resample.toGrid(v, grid: grid, interpolation: .trilinear)
            r.space = v.space
            let m = try mask.map { try Resample.toGrid($0, grid: grid, interpolation: .nearest) }
            let map = try Normalize.fit(r, method: cfg.normalization, referenceMask: m)
            try writer.append(Normalize.apply(map, to: r), label: classIndex[row.label]!, intensity: map, sourceFile: row.name)
            counts[classIndex[row.label]!] += 1
            progress(report.line(n + 1, detail: "\(row.name) (\(row.label)) \(v.gridShape) → \(cfg.shape)" + (reductions[row.name].map { " [\($0)]" } ?? "")))
        }
        if let b = bids {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            try writer.writeStringRecords("bids_sources", try b.records.map { String(decoding: try enc.encode($0), as: UTF8.self) })
        }
        try writer.commit()
        let size = ((try? FileManager.default.attributesOfItem(atPath: cfg.output))?[.size] as? NSNumber)?.intValue ?? 0
        var summary = PrepareSummary(count: rows.count, classNames: classNames, classCounts: counts, seconds: Date().timeIntervalSince(start), bytesWritten: size)
        if let b = bids { summary.warnings = b.warnings; summary.droppedByMap = b.droppedByMap; summary.filteredOut = b.filteredOut }
        return summary
    }
}
