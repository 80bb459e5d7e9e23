// The HDF5 volume store: a training set of same-grid volumes, read a chunk at a time.
//
// Layout (h5py-readable):
//   /volumes    float32 (N, D, H, W), chunked (default (1, 32, 32, 32)), deflate + shuffle
//   /labels     int32 (N), attribute "class_names" (string array)
//   /affines    float64 (N, 4, 4) voxel → world mm (RAS+)
//   /intensity  float64 (N, 2) per-volume (scale, offset) of the raw → [-1, 1] map (inverse: (y - offset) / scale)
//   /volumes_low_resolution  optional float32 (N, D/f, H/f, W/f), attribute factor: f×f×f block means (LowResolution.swift)
//   root attributes: voxel_size (dx, dy, dz), units "mm", shape_xyz (nx, ny, nz), normalization, xform_code,
//                    source_files (string array; the /source_files dataset past 2048 volumes), petgan_version, axis_order "D,H,W (NIfTI z,y,x)"
//
// Public API:
//   let w = try VolumeStoreWriter.create("data.h5", volumeShape: [D, H, W], classNames: ["AD", "CN"],
//                                        voxelSize: (2, 2, 2), normalization: "percentile(99.5)")
//   try w.append(volume, label: 1, intensity: map, sourceFile: "sub-01.nii.gz") ;  try w.commit()
//   let w = try VolumeStoreWriter.appending(to: "data.h5")   // more volumes; replaces the file at commit()
//   let s = try VolumeStore.open("data.h5", memoryBudget: 256 << 20)   // chunk cache from the budget
//   s.count, s.volumeShape, s.labels, s.classNames, s.voxelSize, s.affine(i), s.intensity(i)
//   try s.readVolume(i) -> Volume ; try s.readSlice(i, axis: .axial, index: k) -> [Float]
//   try s.readPatch(i, origin: [d, h, w], size: [pd, ph, pw], into: ptr)   // only the chunks needed
//   let it = try VolumeBatchIterator(store: s, kind: .patches([32,32,32]), batchSize: 4, seed: 1)
//   while let b = try it.next() { b.data /* Tensor (B, 1, ...) */; b.labels }   // next batch prefetched

import Foundation
import PETTensor

/// Volume-store content that is missing or inconsistent.
public enum VolumeStoreError: Error, CustomStringConvertible, Equatable {
    case missingDataset(file: String, name: String)
    case shapeMismatch(file: String, detail: String)
    case invalidArgument(file: String, detail: String)

    public var description: String {
        switch self {
        case let .missingDataset(f, n): return "\(f): not a PETGAN volume store: dataset '\(n)' is missing"
        case let .shapeMismatch(f, d): return "\(f): inconsistent volume store: \(d)"
        case let .invalidArgument(f, d): return "\(f): \(d)"
        }
    }
}

/// Options of a new store.
public struct VolumeStoreOptions {
    /// Chunk shape of /volumes (N, D, H, W); clamped to the volume shape.
    public var chunks: [Int]
    /// Deflate level 0...9, nil for no compression.
    public var deflate: Int?
    public var shuffle: Bool
    /// Also store each volume's f×f×f block means (/volumes_low_resolution), nil for none.
    public var lowResolutionFactor: Int?
    public init(chunks: [Int] = [1, 32, 32, 32], deflate: Int? = 4, shuffle: Bool = true, lowResolutionFactor: Int? = nil) {
        self.chunks = chunks; self.deflate = deflate; self.shuffle = shuffle; self.lowResolutionFactor = lowResolutionFactor
    }
}

/// Writes a store one volume at a time (never holding more than one volume in memory).
public final class VolumeStoreWriter {
    public let path: String
    public let volumeShape: [Int]
    private let file: HDF5File
    private let volumes: HDF5Dataset, labels: HDF5Dataset, affines: HDF5Dataset, intensity: HDF5Dataset
    private var sources: [String] = []
    private var classNames: [String] = []
    /// The low-resolution copy written with every append (nil: none).
    public private(set) var lowResolution: LowResolutionCopy?
    private var lowResolutionData: HDF5Dataset?
    public private(set) var count = 0

    private init(path: String, volumeShape: [Int], file: HDF5File, volumes: HDF5Dataset, labels: HDF5Dataset, affines: HDF5Dataset, intensity: HDF5Dataset) {
        self.path = path; self.volumeShape = volumeShape; self.file = file
        self.volumes = volumes; self.labels = labels; self.affines = affines; self.intensity = intensity
    }

    /// Creates the store under a temporary name (renamed by `commit()`).
    public static func create(_ path: String, volumeShape: [Int], classNames: [String], voxelSize: (Double, Double, Double),
                              normalization: String, options: VolumeStoreOptions = VolumeStoreOptions(),
                              space: WorldSpace = .scanner, extraAttributes: [String: String] = [:]) throws -> VolumeStoreWriter {
        guard volumeShape.count == 3, volumeShape.allSatisfy({ $0 > 0 }) else {
            throw VolumeStoreError.invalidArgument(file: path, detail: "volume shape \(volumeShape) must be three positive sizes (D, H, W)")
        }
        guard options.chunks.count == 4, options.chunks.allSatisfy({ $0 > 0 }) else {
            throw VolumeStoreError.invalidArgument(file: path, detail: "chunk shape \(options.chunks) must be four positive sizes (N, D, H, W)")
        }
        let lowShape = try options.lowResolutionFactor.map { try LowResolution.shape(of: volumeShape, factor: $0, store: path) }
        let f = try HDF5File.create(path)
        let chunk = [options.chunks[0]] + (0..<3).map { min(options.chunks[$0 + 1], volumeShape[$0]) }
        let v = try f.createDataset("volumes", type: Float.self, shape: [0] + volumeShape, maxShape: [nil] + volumeShape.map { $0 },
                                    chunks: chunk, deflate: options.deflate, shuffle: options.shuffle)
        let l = try f.createDataset("labels", type: Int32.self, shape: [0], maxShape: [nil], chunks: [256])
        let a = try f.createDataset("affines", type: Double.self, shape: [0, 4, 4], maxShape: [nil, 4, 4], chunks: [16, 4, 4])
        let n = try f.createDataset("intensity", type: Double.self, shape: [0, 2], maxShape: [nil, 2], chunks: [256, 2])
        try l.setAttribute("class_names", classNames)
        try f.setAttribute("voxel_size", [voxelSize.0, voxelSize.1, voxelSize.2])
        try f.setAttribute("units", "mm")
        let g = GridShape(arrayShape: volumeShape)
        try f.setAttribute("shape_xyz", [g.nx, g.ny, g.nz])
        try f.setAttribute("axis_order", "volumes are (N, D, H, W) = (N, z, y, x): W fastest, NIfTI x-fastest order")
        try f.setAttribute("normalization", normalization)
        try f.setAttribute("intensity_inverse", "raw = (value - intensity[i, 1]) / intensity[i, 0]")
        try f.setAttribute("petgan_version", PETGANVersion.string)
        try f.setAttribute("xform_code", space.rawValue)   // NIfTI sform/qform code of the affines (4 = MNI152)
        for (k, val) in extraAttributes { try f.setAttribute(k, val) }
        let w = VolumeStoreWriter(path: path, volumeShape: volumeShape, file: f, volumes: v, labels: l, affines: a, intensity: n)
        w.classNames = classNames
        if let factor = options.lowResolutionFactor, let low = lowShape {
            w.lowResolutionData = try LowResolution.createDataset(in: f, count: 0, lowShape: low, factor: factor, like: nil,
                                                                  deflate: options.deflate, shuffle: options.shuffle)
            w.lowResolution = LowResolutionCopy(factor: factor, shape: low)
        }
        return w
    }

    /// Opens an existing store to append more volumes. The store is changed in a temporary copy
    /// that replaces it at `commit()`; the class names must include every label appended.
    public static func appending(to path: String) throws -> VolumeStoreWriter {
        let existing = try VolumeStore.open(path)   // validates the layout
        let f = try HDF5File.openForUpdate(path)
        let w = VolumeStoreWriter(path: path, volumeShape: existing.volumeShape, file: f, volumes: try f.dataset("volumes"),
                                  labels: try f.dataset("labels"), affines: try f.dataset("affines"),
                                  intensity: try f.exists("intensity") ? f.dataset("intensity") : f.createDataset("intensity", type: Double.self, shape: [0, 2], maxShape: [nil, 2], chunks: [256, 2]))
        guard w.volumes.maxShape.first! == nil, w.labels.maxShape.first! == nil, w.affines.maxShape.first! == nil else {
            throw VolumeStoreError.shapeMismatch(file: path, detail: "the store's datasets are not extendable along N (not written by PETGAN?)")
        }
        w.count = existing.count
        w.classNames = existing.classNames
        w.sources = existing.sourceFiles.count == existing.count ? existing.sourceFiles : [String](repeating: "", count: existing.count)
        if w.intensity.shape[0] != existing.count { try w.intensity.extend(to: [existing.count, 2]) }
        // A store with a low-resolution copy keeps it complete: appended volumes are pooled too.
        if let c = existing.lowResolution {
            let d = try f.dataset(LowResolution.datasetName)
            guard d.maxShape.first! == nil else {
                throw VolumeStoreError.shapeMismatch(file: path, detail: "/\(LowResolution.datasetName) is not extendable along N (not written by PETGAN?)")
            }
            w.lowResolutionData = d
            w.lowResolution = c
        }
        return w
    }

    /// Appends one volume (already on the store's grid) with its label and intensity map.
    public func append(_ volume: Volume, label: Int, intensity: IntensityMap = IntensityMap(scale: 1, offset: 0), sourceFile: String = "") throws {
        guard volume.shape == volumeShape else {
            throw VolumeStoreError.shapeMismatch(file: path, detail: "volume \(sourceFile.isEmpty ? "#\(count)" : sourceFile) has shape \(volume.gridShape), the store holds \(GridShape(arrayShape: volumeShape))")
        }
        if !classNames.isEmpty && !(0..<classNames.count).contains(label) {
            throw VolumeStoreError.invalidArgument(file: path, detail: "label \(label) has no class name (classes: \(classNames))")
        }
        let i = count
        try volumes.extend(to: [i + 1] + volumeShape)
        try volumes.writeHyperslab(start: [i, 0, 0, 0], count: [1] + volumeShape, volume.data)
        try labels.extend(to: [i + 1]); try labels.writeHyperslab(start: [i], count: [1], [Int32(label)])
        try affines.extend(to: [i + 1, 4, 4]); try affines.writeHyperslab(start: [i, 0, 0], count: [1, 4, 4], volume.affine.m)
        try self.intensity.extend(to: [i + 1, 2]); try self.intensity.writeHyperslab(start: [i, 0], count: [1, 2], [intensity.scale, intensity.offset])
        if let c = lowResolution, let d = lowResolutionData {
            // Pooled from the volume in hand, so a cohort is never read back for its copy.
            let bytes = 4 * c.voxelCount
            try MemoryAccountant.shared.reserve(bytes, what: "\(path): low-resolution copy of one volume (\(GridShape(arrayShape: c.shape)))")
            defer { MemoryAccountant.shared.release(bytes) }
            let pooled = LowResolution.averagePool(volume.data, shape: volumeShape, factor: c.factor)
            try d.extend(to: [i + 1] + c.shape)
            try d.writeHyperslab(start: [i, 0, 0, 0], count: [1] + c.shape, pooled)
        }
        sources.append(sourceFile)
        count += 1
    }

    /// Up to this many source names are a root attribute; more are the /source_files dataset. An
    /// attribute lives in the 64 KB object header (16 bytes per variable-length string), so a
    /// slice store of ~4000 items (411 subjects × 11 slices) could not be written as one.
    public static let sourceAttributeLimit = 2048

    /// Adds a string dataset of records (one per volume, e.g. JSON: /bids_sources), before `commit()`.
    public func writeStringRecords(_ name: String, _ values: [String]) throws {
        if try file.exists(name) { try file.remove(name) }
        _ = try file.createStringDataset(name, values)
    }

    /// Writes the source-file list, flushes and renames the file into place.
    public func commit() throws {
        if try file.exists("source_files") { try file.remove("source_files") }
        if sources.count <= VolumeStoreWriter.sourceAttributeLimit {
            try file.setAttribute("source_files", sources)
        } else {
            try file.removeAttribute("source_files")
            _ = try file.createStringDataset("source_files", sources)
        }
        try file.commit()
    }
}

/// Which plane a 2-D slice lies in (named as radiologists do, for RAS-aligned grids).
public enum SliceAxis: String, CaseIterable {
    /// Constant z (k, the D axis): an (H, W) image.
    case axial
    /// Constant y (j, the H axis): a (D, W) image.
    case coronal
    /// Constant x (i, the W axis): a (D, H) image.
    case sagittal

    /// The array axis (0 = D, 1 = H, 2 = W) held constant.
    public var arrayAxis: Int { self == .axial ? 0 : self == .coronal ? 1 : 2 }
}

/// A read-only view of a store; reads go through HDF5 hyperslabs (only the chunks touched are read).
public final class VolumeStore {
    public let path: String
    public let count: Int
    /// [D, H, W].
    public let volumeShape: [Int]
    public let chunks: [Int]?
    public let labels: [Int]
    public let classNames: [String]
    public let voxelSize: [Double]
    public let normalization: String
    /// World space of the affines (NIfTI xform code; MNI when the grid is MNI space).
    public let space: WorldSpace
    public let sourceFiles: [String]
    public let chunkCacheBytes: Int
    /// The low-resolution copy (/volumes_low_resolution): pooling factor and pooled shape; nil when
    /// the store has none (LowResolution.swift).
    public let lowResolution: LowResolutionCopy?
    let file: HDF5File
    let volumes: HDF5Dataset
    let lowResolutionData: HDF5Dataset?
    private let affineValues: [Double]
    private let intensityValues: [Double]

    /// Opens and validates a store. The chunk cache is sized from `memoryBudget` (default 64 MB):
    /// at most half the budget, at least one chunk.
    public static func open(_ path: String, memoryBudget: Int? = nil) throws -> VolumeStore {
        try VolumeStore(path: path, memoryBudget: memoryBudget)
    }

    /// Largest volume a store may hold (voxels; NIfTI reading has the same cap) and largest
    /// /volumes chunk (bytes).
    public static let maxVolumeVoxels = NIfTIReadOptions().maxVoxels, maxChunkBytes = 1 << 30
    /// Bounds of a usable affine: entries, and the voxel sizes (column lengths, mm).
    public static let maxAffineMagnitude = 1e6, voxelSizeRange = 1e-3...1e3

    private init(path: String, memoryBudget: Int?) throws {
        self.path = path
        func bad(_ detail: String) -> VolumeStoreError { .shapeMismatch(file: path, detail: detail) }
        let f = try HDF5File.open(path)
        for name in ["volumes", "labels", "affines"] where !(try f.exists(name)) {
            throw VolumeStoreError.missingDataset(file: path, name: name)
        }
        // Inspect /volumes through a handle that is closed again before the real open: HDF5 shares
        // one dataset object between open handles, and the chunk-cache setting of a dataset access
        // list only applies when the dataset is first opened.
        let (probeShape, probeChunks, probeKind): ([Int], [Int]?, HDF5ElementKind) = try {
            let probe = try f.dataset("volumes")
            return (probe.shape, probe.chunks, probe.kind)
        }()
        guard probeShape.count == 4 else {
            throw bad("/volumes has shape \(probeShape), expected (N, D, H, W)")
        }
        guard probeKind == .float32 || probeKind == .float64 else {
            throw bad("/volumes holds \(probeKind.rawValue), expected float32")
        }
        let dhw = Array(probeShape.dropFirst())
        guard dhw.allSatisfy({ $0 > 0 }) else { throw bad("/volumes has shape \(probeShape): every volume dimension (D, H, W) must be positive") }
        // Cannot overflow: HDF5Dataset caps element counts at 2^40.
        guard dhw.reduce(1, *) <= VolumeStore.maxVolumeVoxels else {
            throw bad("/volumes has shape \(probeShape): volumes of \(dhw.reduce(1, *)) voxels exceed the cap of \(VolumeStore.maxVolumeVoxels)")
        }
        if let c = probeChunks {
            guard c.count == 4, c.allSatisfy({ $0 > 0 }) else { throw bad("/volumes has chunk shape \(c), expected four positive sizes") }
            let (bytes, o) = c.reduce((4, false)) { acc, n in let r = acc.0.multipliedReportingOverflow(by: n); return (r.partialValue, acc.1 || r.overflow) }
            guard !o, bytes <= VolumeStore.maxChunkBytes else {
                throw bad("/volumes has chunk shape \(c): chunks over \(VolumeStore.maxChunkBytes >> 20) MB cannot be cached")
            }
        }
        let chunkBytes = probeChunks.map { $0.reduce(4, *) } ?? min(dhw.reduce(4, *), VolumeStore.maxChunkBytes)
        let budget = max(0, memoryBudget ?? (64 << 20))
        chunkCacheBytes = max(chunkBytes, budget / 2)
        let v = try f.dataset("volumes", chunkCacheBytes: chunkCacheBytes)
        let n = v.shape[0]
        let l = try f.dataset("labels"), a = try f.dataset("affines")
        guard l.shape == [n] else { throw bad("/labels has shape \(l.shape), expected [\(n)] to match /volumes \(v.shape)") }
        guard a.shape == [n, 4, 4] else { throw bad("/affines has shape \(a.shape), expected [\(n), 4, 4]") }
        // Float labels would be truncated by HDF5's conversion, strings cannot be labels.
        guard [.int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64].contains(l.kind) else {
            throw bad("/labels holds \(l.kind.rawValue), expected integer class indices")
        }
        guard a.kind == .float32 || a.kind == .float64 else { throw bad("/affines holds \(a.kind.rawValue), expected float64") }
        file = f; volumes = v; count = n
        volumeShape = dhw; chunks = v.chunks

        // Class names: required, a string array of distinct non-empty names covering every label.
        guard try l.hasAttribute("class_names") else { throw bad("/labels has no 'class_names' attribute (the names of the label values)") }
        let names: [String]
        do { names = try l.stringsAttribute("class_names") } catch let e as HDF5Error {
            if case .mismatch = e { throw bad("/labels attribute 'class_names' must be an array of strings (found \((try? l.attribute("class_names").description) ?? "another type"))") }
            throw e
        }
        guard !names.isEmpty, names.allSatisfy({ !$0.isEmpty }), Set(names).count == names.count else {
            throw bad("/labels attribute 'class_names' \(names) must hold distinct, non-empty names")
        }
        let labelValues = try l.read(Int64.self)
        if let bad = labelValues.first(where: { $0 < 0 || $0 >= Int64(names.count) }) {
            throw VolumeStoreError.shapeMismatch(file: path, detail: "label \(bad) has no class name (classes: \(names))")
        }
        labels = labelValues.map { Int($0) }; classNames = names

        // Affines: finite, (0, 0, 0, 1) last row, voxel sizes in range, invertible.
        let av = try a.read(Double.self)
        for i in 0..<n {
            let m = Array(av[(16 * i)..<(16 * i + 16)])
            try VolumeStore.checkAffine(m, what: "/affines[\(i)]", path: path)
        }
        affineValues = av
        if try f.exists("intensity") {
            let t = try f.dataset("intensity")
            guard t.shape == [n, 2] else { throw bad("/intensity has shape \(t.shape), expected [\(n), 2]") }
            guard t.kind == .float32 || t.kind == .float64 else { throw bad("/intensity holds \(t.kind.rawValue), expected float64") }
            let iv = try t.read(Double.self)
            for i in 0..<n {
                let (scale, offset) = (iv[2 * i], iv[2 * i + 1])
                // The inverse map divides by the scale: it must be finite both ways.
                guard scale.isFinite, offset.isFinite, scale != 0, (1 / scale).isFinite, (offset / scale).isFinite else {
                    throw bad("/intensity[\(i)] = (scale \(scale), offset \(offset)): the map raw → stored needs a finite, non-zero scale and a finite offset")
                }
            }
            intensityValues = iv
        } else {
            intensityValues = (0..<n).flatMap { _ in [1.0, 0.0] }
        }

        // Root attributes: optional, but when present they must have the right type and agree with the data.
        func attr<T>(_ name: String, _ expected: String, _ read: (String) throws -> T) throws -> T? {
            guard try f.hasAttribute(name) else { return nil }
            do { return try read(name) } catch let e as HDF5Error {
                if case .mismatch = e { throw bad("attribute '\(name)' must be \(expected) (found \((try? f.attribute(name).description) ?? "another type"))") }
                throw e
            }
        }
        let vs = try attr("voxel_size", "three voxel sizes in mm", f.doublesAttribute) ?? []
        if try f.hasAttribute("voxel_size") {
            guard vs.count == 3, vs.allSatisfy({ $0.isFinite && VolumeStore.voxelSizeRange.contains($0) }) else {
                throw bad("attribute 'voxel_size' \(vs) must be three finite voxel sizes in \(VolumeStore.voxelSizeRange.lowerBound)…\(VolumeStore.voxelSizeRange.upperBound) mm")
            }
        }
        voxelSize = vs
        if let xyz = try attr("shape_xyz", "three integers (x, y, z)", f.intsAttribute) {
            guard xyz == [dhw[2], dhw[1], dhw[0]] else {
                throw bad("attribute 'shape_xyz' \(xyz) disagrees with /volumes \(probeShape) (x, y, z = \([dhw[2], dhw[1], dhw[0]]))")
            }
        }
        normalization = try attr("normalization", "a string", f.stringAttribute) ?? ""
        if let code = try attr("xform_code", "an integer NIfTI xform code", f.intAttribute) {
            guard let w = WorldSpace(rawValue: code) else { throw bad("attribute 'xform_code' \(code) is not a NIfTI xform code (0…5)") }
            space = w
        } else {
            space = .scanner
        }
        // Source names: a root attribute, or (past VolumeStoreWriter.sourceAttributeLimit) a dataset.
        var sources = try attr("source_files", "an array of strings", f.stringsAttribute) ?? []
        if sources.isEmpty, try f.exists("source_files") {
            let d = try f.dataset("source_files")
            guard d.kind == .string, d.shape.count == 1 else { throw bad("/source_files holds \(d.kind.rawValue) \(d.shape), expected a list of strings") }
            sources = try d.readStrings()
        }
        guard sources.isEmpty || sources.count == n else {
            throw bad("'source_files' names \(sources.count) files for \(n) volumes")
        }
        sourceFiles = sources

        // The low-resolution copy: one pooled item per volume, shape = volume shape / factor.
        if try f.exists(LowResolution.datasetName) {
            let name = "/" + LowResolution.datasetName
            let d = try f.dataset(LowResolution.datasetName)
            guard d.kind == .float32 || d.kind == .float64 else { throw bad("\(name) holds \(d.kind.rawValue), expected float32") }
            guard try d.hasAttribute(LowResolution.factorAttribute) else { throw bad("\(name) has no '\(LowResolution.factorAttribute)' attribute (the pooling factor)") }
            let factor: Int
            do { factor = try d.intAttribute(LowResolution.factorAttribute) } catch let e as HDF5Error {
                if case .mismatch = e { throw bad("\(name) attribute '\(LowResolution.factorAttribute)' must be one integer (found \((try? d.attribute(LowResolution.factorAttribute).description) ?? "another type"))") }
                throw e
            }
            guard LowResolution.factorRange.contains(factor) else {
                throw bad("\(name) attribute '\(LowResolution.factorAttribute)' is \(factor), expected \(LowResolution.factorRange.lowerBound)…\(LowResolution.factorRange.upperBound)")
            }
            guard dhw.allSatisfy({ $0 % factor == 0 }) else {
                throw bad("\(name) has factor \(factor), which does not divide the volume grid \(GridShape(arrayShape: dhw)) (x×y×z)")
            }
            let low = dhw.map { $0 / factor }
            guard d.shape == [n] + low else {
                throw bad("\(name) has shape \(d.shape), expected \([n] + low) (/volumes \(v.shape) pooled by \(factor))")
            }
            if let c = d.chunks {
                guard c.count == 4, c.allSatisfy({ $0 > 0 }), c.reduce(4, { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }) <= VolumeStore.maxChunkBytes else {
                    throw bad("\(name) has chunk shape \(c): expected four positive sizes of at most \(VolumeStore.maxChunkBytes >> 20) MB")
                }
            }
            lowResolution = LowResolutionCopy(factor: factor, shape: low)
            lowResolutionData = d
        } else {
            lowResolution = nil
            lowResolutionData = nil
        }
    }

    /// Throws unless `m` (16 row-major values) is a usable voxel → world affine: finite entries of
    /// at most `maxAffineMagnitude`, last row (0, 0, 0, 1), voxel sizes in `voxelSizeRange`, invertible.
    static func checkAffine(_ m: [Double], what: String, path: String) throws {
        func bad(_ r: String) -> VolumeStoreError { .shapeMismatch(file: path, detail: "\(what) \(r)") }
        guard m.allSatisfy({ $0.isFinite }) else { throw bad("holds NaN or infinite values: \(m)") }
        guard m.allSatisfy({ abs($0) <= maxAffineMagnitude }) else { throw bad("has entries beyond ±\(maxAffineMagnitude) mm: \(m)") }
        guard Array(m[12..<16]) == [0, 0, 0, 1] else { throw bad("has last row \(Array(m[12..<16])), expected (0, 0, 0, 1)") }
        let aff = Affine(m)
        let (sx, sy, sz) = aff.voxelSizes
        guard [sx, sy, sz].allSatisfy({ voxelSizeRange.contains($0) }) else {
            throw bad("has voxel sizes \([sx, sy, sz]) mm, outside \(voxelSizeRange.lowerBound)…\(voxelSizeRange.upperBound)")
        }
        guard let inv = aff.inverse, inv.m.allSatisfy({ $0.isFinite && abs($0) <= 1e12 }) else { throw bad("is singular (not invertible): \(m)") }
    }

    private func checkIndex(_ i: Int) throws {
        guard (0..<count).contains(i) else { throw VolumeStoreError.invalidArgument(file: path, detail: "volume index \(i) is outside 0..<\(count)") }
    }

    public func affine(_ i: Int) -> Affine { Affine(Array(affineValues[(i * 16)..<(i * 16 + 16)])) }
    public func intensity(_ i: Int) -> IntensityMap { IntensityMap(scale: intensityValues[2 * i], offset: intensityValues[2 * i + 1]) }

    /// Bytes of one volume.
    public var volumeBytes: Int { volumeShape.reduce(4, *) }

    /// Reads volume i with its affine; metadata carries label, class and source file.
    public func readVolume(_ i: Int) throws -> Volume {
        try checkIndex(i)
        let data: [Float] = try volumes.readHyperslab(start: [i, 0, 0, 0], count: [1] + volumeShape)
        var meta = ["store": path, "index": String(i), "label": String(labels[i])]
        if labels[i] < classNames.count { meta["class"] = classNames[labels[i]] }
        if i < sourceFiles.count, !sourceFiles[i].isEmpty { meta["source_file"] = sourceFiles[i] }
        return Volume(shape: volumeShape, data: data, affine: affine(i), space: space, metadata: meta)
    }

    /// Volume i in the units it was stored from (its intensity map inverted: SUVR for the phantom),
    /// which is what a reader compares by eye and what generated volumes are written in.
    public func readVolumeInRawUnits(_ i: Int) throws -> Volume {
        Normalize.invert(intensity(i), try readVolume(i))
    }

    /// Shape of a slice in the given plane.
    public func sliceShape(_ axis: SliceAxis) -> [Int] {
        var s = volumeShape; s.remove(at: axis.arrayAxis); return s
    }

    /// Reads one 2-D slice of volume i (row-major in the remaining array axes).
    public func readSlice(_ i: Int, axis: SliceAxis, index: Int) throws -> [Float] {
        try checkIndex(i)
        let ax = axis.arrayAxis
        guard (0..<volumeShape[ax]).contains(index) else {
            throw VolumeStoreError.invalidArgument(file: path, detail: "\(axis.rawValue) slice \(index) is outside 0..<\(volumeShape[ax])")
        }
        var start = [i, 0, 0, 0], cnt = [1] + volumeShape
        start[ax + 1] = index; cnt[ax + 1] = 1
        return try volumes.readHyperslab(start: start, count: cnt)
    }

    /// Reads the box origin..<origin+size (array order D, H, W) of volume i into `into`.
    public func readPatch(_ i: Int, origin: [Int], size: [Int], into: UnsafeMutablePointer<Float>) throws {
        try checkIndex(i)
        guard origin.count == 3, size.count == 3, (0..<3).allSatisfy({ origin[$0] >= 0 && size[$0] > 0 && origin[$0] + size[$0] <= volumeShape[$0] }) else {
            throw VolumeStoreError.invalidArgument(file: path, detail: "patch at \(origin) of size \(size) does not fit the volume shape \(volumeShape)")
        }
        try volumes.readHyperslab(start: [i] + origin, count: [1] + size, into: into)
    }

    /// The copy and its dataset, or an error naming the file and how to add one.
    private func lowResolutionDataset() throws -> (LowResolutionCopy, HDF5Dataset) {
        guard let c = lowResolution, let d = lowResolutionData else {
            throw VolumeStoreError.invalidArgument(file: path, detail: "the store has no low-resolution copy (/\(LowResolution.datasetName)); add one with `petgan volumes add-low-res \(path) --factor F`, or write it with `--low-res-copy F` (phantom, prepare)")
        }
        return (c, d)
    }

    /// Reads item i of the low-resolution copy (`lowResolution!.shape`, D, H, W order: the f×f×f
    /// block means of volume i) into `into`; a store without one is an error.
    public func readLowResolution(_ i: Int, into: UnsafeMutablePointer<Float>) throws {
        let (c, d) = try lowResolutionDataset()
        try checkIndex(i)
        try d.readHyperslab(start: [i, 0, 0, 0], count: [1] + c.shape, into: into)
    }

    /// Item i of the low-resolution copy as a new array.
    public func readLowResolution(_ i: Int) throws -> [Float] {
        let (c, _) = try lowResolutionDataset()
        var out = [Float](repeating: 0, count: c.voxelCount)
        try out.withUnsafeMutableBufferPointer { try readLowResolution(i, into: $0.baseAddress!) }
        return out
    }

    /// Reads a patch into a new array.
    public func readPatch(_ i: Int, origin: [Int], size: [Int]) throws -> [Float] {
        var out = [Float](repeating: 0, count: size.reduce(1, *))
        try out.withUnsafeMutableBufferPointer { try readPatch(i, origin: origin, size: size, into: $0.baseAddress!) }
        return out
    }
}

/// One minibatch: data (B, 1, ...) and the labels and provenance of each item.
public struct VolumeBatch {
    public var data: Tensor
    public var labels: [Int]
    /// Volume index of each item.
    public var indices: [Int]
    /// Patch origin (D, H, W) or slice index of each item (empty for whole volumes).
    public var origins: [[Int]]
}

/// Shuffled, seeded minibatches of volumes, 2-D slices or 3-D patches, with the next batch read
/// on a background thread while the caller works on the current one.
public final class VolumeBatchIterator {
    public enum Kind: Equatable {
        case volumes
        /// Random slices in a plane (any index in the slice range, default the middle 80%).
        case slices(SliceAxis)
        /// Random patches of this size (D, H, W).
        case patches([Int])
    }

    public let store: VolumeStore
    public let kind: Kind
    public let batchSize: Int
    public let dropLast: Bool
    private var rng: PETRandom
    private var order: [Int] = []
    private var position = 0
    public private(set) var epoch = 0
    private let queue = DispatchQueue(label: "petgan.volumes.prefetch")
    private var pending: DispatchWorkItem?
    private var pendingResult: Result<VolumeBatch, Error>?
    private let resultLock = NSLock()

    /// - seed: seeds the shuffle and the random patch/slice positions (record it in outputs).
    public init(store: VolumeStore, kind: Kind, batchSize: Int, seed: UInt64, dropLast: Bool = false) throws {
        guard batchSize > 0 else { throw VolumeStoreError.invalidArgument(file: store.path, detail: "batch size must be positive") }
        guard store.count > 0 else { throw VolumeStoreError.invalidArgument(file: store.path, detail: "the store holds no volumes") }
        if case .patches(let p) = kind {
            guard p.count == 3, (0..<3).allSatisfy({ p[$0] > 0 && p[$0] <= store.volumeShape[$0] }) else {
                throw VolumeStoreError.invalidArgument(file: store.path, detail: "patch size \(p) must fit the volume shape \(store.volumeShape)")
            }
        }
        self.store = store; self.kind = kind; self.batchSize = batchSize; self.dropLast = dropLast
        rng = PETRandom(seed: seed)
        // Two batches live at once (the current one and the one being prefetched).
        let batchBytes = batchSize * itemShape.reduce(4, *)
        let acct = MemoryAccountant.shared
        if let budget = acct.budgetBytes, acct.bytesInUse + 2 * batchBytes > budget {
            throw TensorError.overBudget(what: "\(store.path): two prefetched batches of \(batchSize) x \(itemShape)",
                                         requestedBytes: 2 * batchBytes, inUseBytes: acct.bytesInUse, budgetBytes: budget)
        }
        reshuffle()
        schedulePrefetch()
    }

    private func reshuffle() {
        order = Array(0..<store.count)
        rng.shuffle(&order)
        position = 0
    }

    /// Item shape without batch and channel.
    public var itemShape: [Int] {
        switch kind {
        case .volumes: return store.volumeShape
        case .slices(let a): return store.sliceShape(a)
        case .patches(let p): return p
        }
    }

    /// Picks the next batch's indices and positions (on the caller's thread, so the RNG sequence is
    /// deterministic), then reads it on the prefetch queue.
    private func schedulePrefetch() {
        if position >= order.count || (dropLast && order.count - position < batchSize) {
            epoch += 1
            reshuffle()
        }
        let n = min(batchSize, order.count - position)
        let idx = Array(order[position..<(position + n)])
        position += n
        var origins: [[Int]] = []
        for _ in idx {
            switch kind {
            case .volumes: break
            case .slices(let a):
                let len = store.volumeShape[a.arrayAxis]
                let lo = len / 10, hi = max(lo + 1, len - len / 10)
                origins.append([lo + rng.int(below: hi - lo)])
            case .patches(let p):
                let vs = self.store.volumeShape
                origins.append((0..<3).map { vs[$0] - p[$0] + 1 }.map { rng.int(below: $0) })
            }
        }
        let store = self.store, kind = self.kind, shape = itemShape
        resultLock.lock(); pendingResult = nil; resultLock.unlock()
        let item = DispatchWorkItem { [weak self] in
            let result = Result<VolumeBatch, Error> {
                let per = shape.reduce(1, *)
                let t = Tensor(shape: [idx.count, 1] + shape, zeroed: false)
                for (b, i) in idx.enumerated() {
                    let dst = t.data + b * per
                    switch kind {
                    case .volumes:
                        try store.readPatch(i, origin: [0, 0, 0], size: store.volumeShape, into: dst)
                    case .slices(let a):
                        var o = [0, 0, 0], s = store.volumeShape
                        o[a.arrayAxis] = origins[b][0]; s[a.arrayAxis] = 1
                        try store.readPatch(i, origin: o, size: s, into: dst)
                    case .patches(let p):
                        try store.readPatch(i, origin: origins[b], size: p, into: dst)
                    }
                }
                return VolumeBatch(data: t, labels: idx.map { store.labels[$0] }, indices: idx, origins: origins)
            }
            self?.resultLock.lock(); self?.pendingResult = result; self?.resultLock.unlock()
        }
        pending = item
        queue.async(execute: item)
    }

    /// The next batch (waits for the prefetch if it is still reading), and starts reading the one
    /// after. Batches never end: the iterator reshuffles at each epoch boundary (see `epoch`).
    public func next() throws -> VolumeBatch {
        pending?.wait()
        resultLock.lock(); let r = pendingResult; resultLock.unlock()
        schedulePrefetch()
        guard let result = r else { throw VolumeStoreError.invalidArgument(file: store.path, detail: "prefetch produced no batch") }
        return try result.get()
    }

    deinit { pending?.wait() }
}
