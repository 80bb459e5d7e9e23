// A set of volumes to evaluate, read one at a time: a PETGAN HDF5 volume store (real data, or
// `petgan generate --format h5`) or a folder of NIfTI files (`petgan generate`, with JSON sidecars
// naming each sample's class). Values are returned in the data's physical units: a store's values are
// mapped back through its per-volume intensity map, NIfTI values are taken as they are.
//
// Public API:
//   let s = try VolumeSet.open("data.h5" | "generated/", memoryBudget: 256 << 20)
//   s.count, s.shape, s.classNames, s.labels (index into classNames, −1 unknown), s.names, s.affine
//   try s.values(i) -> [Float] ; try s.volume(i) -> Volume ; s.restricted(toClasses: ["AD"])
//   let r = try s.slabReader(i); try r.next(depth: 8) -> [Float]   // depth slices of values(i), one slab in memory

import Foundation
import PETTensor
import PETVolumes

public final class VolumeSet {
    public enum Kind: String, Codable { case store = "HDF5 volume store", niftiFolder = "NIfTI folder" }
    public let path: String
    public let kind: Kind
    public let shape: [Int]
    public let affine: Affine
    public let units: String
    public private(set) var classNames: [String]
    /// Per selected item: class index into `classNames`, −1 when unknown (an unconditional sample).
    public private(set) var labels: [Int]
    public let names: [String]
    /// Selected underlying indices (store index or file index).
    let indices: [Int]
    let store: VolumeStore?
    let files: [String]
    /// Whether the store's values are normalized (mapped back to raw units on reading).
    public internal(set) var storeHoldsNormalized = true

    public var count: Int { indices.count }
    /// Bytes of the store's HDF5 chunk cache (0 for a NIfTI folder).
    public var cacheBytes: Int { store?.chunkCacheBytes ?? 0 }
    public var voxelCount: Int { shape.reduce(1, *) }

    private init(path: String, kind: Kind, shape: [Int], affine: Affine, units: String, classNames: [String], labels: [Int],
                 names: [String], indices: [Int], store: VolumeStore?, files: [String]) {
        self.path = path; self.kind = kind; self.shape = shape; self.affine = affine; self.units = units
        self.classNames = classNames; self.labels = labels; self.names = names; self.indices = indices
        self.store = store; self.files = files
    }

    /// Opens a store (.h5) or a folder of .nii/.nii.gz files.
    public static func open(_ path: String, memoryBudget: Int? = nil) throws -> VolumeSet {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw MetricsError.badInput(path: path, reason: "no such file or folder")
        }
        if isDir.boolValue { return try openFolder(path) }
        if NIfTIFile.isImageFile(path) {
            throw MetricsError.badInput(path: path, reason: "a single \((try? NIfTIFile.format(of: path).rawValue) ?? "NIfTI") image; a set is an HDF5 volume store or a folder of NIfTI files")
        }
        let s = try VolumeStore.open(path, memoryBudget: memoryBudget)
        guard s.count > 0 else { throw MetricsError.badInput(path: path, reason: "the store holds no volumes") }
        guard s.volumeShape.count == 3 else {
            throw MetricsError.badInput(path: path, reason: "items have shape \(s.volumeShape); evaluation needs 3-D volumes (D, H, W) or 2D samples (channels, H, W)")
        }
        // Every volume's affine maps voxels to millimetres (finite, invertible, sane sizes): the
        // atlas, montage and regional lookups index voxels through it.
        for i in 0..<s.count {
            if let p = s.affine(i).validationProblem() {
                throw MetricsError.badInput(path: path, reason: "the affine of volume \(i) is unusable: \(p)")
            }
        }
        let names = (0..<s.count).map { i in i < s.sourceFiles.count && !s.sourceFiles[i].isEmpty ? s.sourceFiles[i] : "volume \(i)" }
        // Normalized stores (petgan prepare, petgan phantom) hold values in [-1, 1] and the map back to
        // raw units; a store whose values leave [-1, 1] already holds raw units (`generate --format h5`
        // writes SUVR and records the map), so its values are used as they are.
        let first = try s.readVolume(0).data
        let normalized = first.allSatisfy { $0 >= -1.0001 && $0 <= 1.0001 }
        let units = s.normalization.isEmpty ? "stored units"
            : normalized ? "raw units (store values mapped back from \(s.normalization))" : "raw units as stored (\(s.normalization))"
        let set = VolumeSet(path: path, kind: .store, shape: s.volumeShape, affine: s.affine(0), units: units,
                            classNames: s.classNames.isEmpty ? Array(Set(s.labels)).sorted().map { "class \($0)" } : s.classNames,
                            labels: s.labels, names: names, indices: Array(0..<s.count), store: s, files: [])
        set.storeHoldsNormalized = normalized
        return set
    }

    private static func openFolder(_ path: String) throws -> VolumeSet {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let files = entries.filter { NIfTIFile.isImagePath($0) }.sorted().map { (path as NSString).appendingPathComponent($0) }
        guard !files.isEmpty else {
            // `petgan generate --format png` writes colour-mapped previews: no values to measure.
            let pngs = entries.filter { $0.lowercased().hasSuffix(".png") }.count
            throw MetricsError.badInput(path: path, reason: pngs > 0
                ? "the folder holds \(pngs) PNG file(s) but no .nii or .nii.gz files; PNGs are colour-mapped previews without values: generate with --format nifti (or h5) to evaluate"
                : "the folder holds no .nii or .nii.gz files")
        }
        var shape: [Int] = []
        var classes: [String] = [], rawClass: [String] = []
        for f in files {
            let h = try NIfTIFile.readHeader(f)
            let s = h.arrayShape
            if shape.isEmpty { shape = s } else if s != shape {
                throw MetricsError.badInput(path: f, reason: "shape \(s) differs from the folder's first volume \(shape) (\(files[0]))")
            }
            var cls = ""
            let side = NIfTIFile.sidecarPath(f)
            if let d = FileManager.default.contents(atPath: side) {
                guard let sidecar = try? JSONDecoder().decode(ClassSidecar.self, from: d) else {
                    throw MetricsError.badInput(path: side, reason: "sidecar is not a JSON object")
                }
                cls = sidecar.className ?? (sidecar.label.map { "class \($0)" } ?? "")
            }
            rawClass.append(cls)
            if !cls.isEmpty && !classes.contains(cls) { classes.append(cls) }
        }
        // 3-D volumes (D, H, W), or 2D samples (channels, H, W) of a 2D model, which may have one channel.
        guard shape.count == 3 && shape[1] > 1 && shape[2] > 1 else {
            throw MetricsError.badInput(path: files[0], reason: "shape \(shape) is neither a 3-D volume nor a 2D (channels, H, W) sample")
        }
        classes.sort()
        let first = try NIfTIFile.read(files[0])
        return VolumeSet(path: path, kind: .niftiFolder, shape: shape, affine: first.affine, units: "NIfTI values",
                         classNames: classes, labels: rawClass.map { classes.firstIndex(of: $0) ?? -1 },
                         names: files.map { ($0 as NSString).lastPathComponent }, indices: Array(0..<files.count),
                         store: nil, files: files)
    }

    /// Volume i (of the selection) in physical units.
    public func volume(_ i: Int) throws -> Volume {
        let j = indices[i]
        if let s = store {
            var v = try s.readVolume(j)
            let map = s.intensity(j)
            if storeHoldsNormalized && !(map.scale == 1 && map.offset == 0) {
                guard map.scale != 0 else { throw MetricsError.badInput(path: path, reason: "volume \(j) has intensity scale 0") }
                for k in 0..<v.data.count { v.data[k] = map.inverse(v.data[k]) }
            }
            return v
        }
        var v = try NIfTIFile.read(files[j], options: NIfTIReadOptions(nonFinite: .zero))
        guard v.shape == shape else { throw MetricsError.badInput(path: files[j], reason: "shape \(v.shape) differs from \(shape)") }
        v.metadata["source_file"] = files[j]
        return v
    }

    public func values(_ i: Int) throws -> [Float] { try volume(i).data }

    /// Volume i (of the selection) depth slab by depth slab, with the same values as `values(i)`.
    public func slabReader(_ i: Int) throws -> VolumeSlabReader {
        let j = indices[i]
        if let s = store {
            let map = s.intensity(j)
            let inverse = storeHoldsNormalized && !(map.scale == 1 && map.offset == 0)
            if inverse && map.scale == 0 { throw MetricsError.badInput(path: path, reason: "volume \(j) has intensity scale 0") }
            return VolumeSlabReader(name: path, shape: shape, source: .store(s, j, inverse ? map : nil))
        }
        // The options and shape check of volume(_:).
        let r = try StreamingNIfTIReader(path: files[j], options: NIfTIReadOptions(nonFinite: .zero))
        guard r.shape == shape else { throw MetricsError.badInput(path: files[j], reason: "shape \(r.shape) differs from \(shape)") }
        return VolumeSlabReader(name: files[j], shape: shape, source: .nifti(r))
    }

    /// Renames classes to follow `reference` (same names keep their meaning; unknown names → −1).
    public func alignClasses(to reference: [String]) {
        labels = labels.map { $0 >= 0 && $0 < classNames.count ? (reference.firstIndex(of: classNames[$0]) ?? -1) : -1 }
        classNames = reference
    }

    /// The subset whose class is one of `classes` (all when empty).
    public func restricted(toClasses classes: [String]) throws -> VolumeSet {
        guard !classes.isEmpty else { return self }
        for c in classes where !classNames.contains(c) {
            throw MetricsError.badInput(path: path, reason: "no class '\(c)' (classes: \(classNames.joined(separator: ", ")))")
        }
        let keep = (0..<count).filter { labels[$0] >= 0 && classes.contains(classNames[labels[$0]]) }
        let sub = VolumeSet(path: path, kind: kind, shape: shape, affine: affine, units: units, classNames: classNames,
                            labels: keep.map { labels[$0] }, names: keep.map { names[$0] }, indices: keep.map { indices[$0] },
                            store: store, files: files)
        sub.storeHoldsNormalized = storeHoldsNormalized
        return sub
    }
}

/// One volume of a VolumeSet read in depth slabs (runs of whole depth slices), so that evaluation
/// holds a slab, not the volume. Values are bitwise those of `VolumeSet.values(i)`: a store's slab is
/// a hyperslab mapped back by the same `IntensityMap.inverse`, a NIfTI file's comes from a
/// StreamingNIfTIReader with the options `VolumeSet.volume(_:)` uses.
public final class VolumeSlabReader {
    enum Source {
        /// Store, item, and the map to invert (nil: values used as stored).
        case store(VolumeStore, Int, IntensityMap?)
        case nifti(StreamingNIfTIReader)
    }
    /// The store or NIfTI file read (named by errors).
    public let name: String
    /// Array shape [D, H, W].
    public let shape: [Int]
    public private(set) var depthRead = 0
    private let source: Source

    init(name: String, shape: [Int], source: Source) {
        self.name = name; self.shape = shape; self.source = source
    }

    /// The next `depth` depth slices (depth·H·W values, W fastest) in physical units.
    public func next(depth: Int) throws -> [Float] {
        guard depth > 0, depth <= shape[0] - depthRead else {
            throw MetricsError.badInput(path: name, reason: "cannot read \(depth) depth slice(s) at depth \(depthRead) of a volume \(shape[0]) deep")
        }
        var out: [Float]
        switch source {
        case let .store(s, j, map):
            out = try s.readPatch(j, origin: [depthRead, 0, 0], size: [depth, shape[1], shape[2]])
            if let map {
                for k in 0..<out.count { out[k] = map.inverse(out[k]) }
            }
        case let .nifti(r):
            out = try r.read(depth: depth)
        }
        depthRead += depth
        return out
    }
}

/// What a NIfTI sidecar says about the sample's class: "class" (a name), else "label" (any scalar).
struct ClassSidecar: Decodable {
    var className: String?
    /// The label as text (a number as JSON wrote it).
    var label: String?
    enum CodingKeys: String, CodingKey { case className = "class", label }
    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        className = try? c.decode(String.self, forKey: .className)
        if let i = try? c.decode(Int.self, forKey: .label) { label = String(i) }
        else if let x = try? c.decode(Double.self, forKey: .label) { label = "\(x)" }
        else if let b = try? c.decode(Bool.self, forKey: .label) { label = b ? "1" : "0" }
        else { label = try? c.decode(String.self, forKey: .label) }
    }
}
