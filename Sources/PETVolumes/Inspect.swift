// `petgan inspect`: what is in a NIfTI file or an HDF5 file (volume store or any HDF5), as a typed
// report that encodes to the JSON `inspect --json` prints and renders as text.
//
// Public API:
//   let report = try FileInspector.inspect("x.nii.gz")   // InspectReport (Codable)
//   print(report.text)                                   // or report.json()

import Foundation
import PETTensor

/// A JSON value of free-form content inside a typed report: a file's provenance record, HDF5 attributes.
public enum JSONValue: Codable, Equatable, Sendable {
    case null, bool(Bool), int(Int), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

/// What `inspect` found in one file. The fields a file kind does not have stay nil and are left out
/// of the JSON; the coding keys are the JSON keys scripts read.
public struct InspectReport: Codable, Equatable {
    public struct LowResolution: Codable, Equatable {
        public var factor: Int
        public var shapeXYZ: [Int]
        public var dataset: String
        enum CodingKeys: String, CodingKey { case factor, dataset, shapeXYZ = "shape_xyz" }
    }
    public struct Dataset: Codable, Equatable {
        public var name: String
        public var shape: [Int]
        public var type: String
        public var chunks: [Int]
    }

    public var file: String
    public var format: String
    // NIfTI / Analyze
    public var datatype: String?
    public var affineSource: String?
    public var warnings: [String]?
    public var imageFile: String?
    public var scaling: [Double]?
    public var frames: Int?
    public var frameTimingSource: String?
    public var frameDurationsS: [Double]?
    public var frameStartsS: [Double]?
    public var frameMeans: [Double]?
    public var framesApplied: String?
    public var arrayShapeDHW: [Int]?
    public var affine: [[Double]]?
    public var space: String?
    public var valueMin: Double?
    public var valueMax: Double?
    public var valueMean: Double?
    public var nonFiniteVoxels: Int?
    public var descrip: String?
    public var provenance: JSONValue?
    // both
    public var shapeXYZ: [Int]?
    public var voxelSizeMM: [Double]?
    public var orientation: String?
    // HDF5
    public var kind: String?
    public var count: Int?
    public var arrayShapeNDHW: [Int]?
    public var chunksNDHW: [Int]?
    public var deflate: Int?
    public var shuffle: Bool?
    public var normalization: String?
    public var classNames: [String]?
    public var labelCounts: [String: Int]?
    public var affine0: [[Double]]?
    public var valueRangeFirstVolumes: [Double]?
    public var petganVersion: String?
    public var sourceFiles: Int?
    public var lowResolution: LowResolution?
    public var datasets: [Dataset]?
    public var attributes: [String: JSONValue]?

    public init(file: String, format: String) { self.file = file; self.format = format }

    enum CodingKeys: String, CodingKey {
        case file, format, datatype, warnings, scaling, frames, affine, space, descrip, provenance, orientation
        case kind, count, deflate, shuffle, normalization, datasets, attributes
        case affineSource = "affine_source", imageFile = "image_file", frameTimingSource = "frame_timing_source"
        case frameDurationsS = "frame_durations_s", frameStartsS = "frame_starts_s", frameMeans = "frame_means"
        case framesApplied = "frames_applied", arrayShapeDHW = "array_shape_dhw"
        case valueMin = "value_min", valueMax = "value_max", valueMean = "value_mean", nonFiniteVoxels = "non_finite_voxels"
        case shapeXYZ = "shape_xyz", voxelSizeMM = "voxel_size_mm", arrayShapeNDHW = "array_shape_ndhw", chunksNDHW = "chunks_ndhw"
        case classNames = "class_names", labelCounts = "label_counts", affine0 = "affine_0"
        case valueRangeFirstVolumes = "value_range_first_volumes", petganVersion = "petgan_version", sourceFiles = "source_files"
        case lowResolution = "low_resolution"
    }

    /// `inspect --json`: sorted keys; a non-finite figure (which JSON cannot hold) as "inf" / "nan".
    public func json() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try e.encode(self), as: UTF8.self)
    }

    /// Human-readable text (the common fields in a fixed order, then the affine, datasets, provenance).
    public var text: String {
        var lines: [String] = []
        func pad(_ s: String) -> String { s.count >= 23 ? s + " " : s + String(repeating: " ", count: 23 - s.count) }
        func add(_ key: String, _ value: String?) { if let v = value { lines.append(pad(key) + v) } }
        func g(_ d: Double) -> String { String(format: "%g", d) }
        func ints(_ a: [Int]?) -> String? { a.map { $0.count == 3 ? $0.map(String.init).joined(separator: " x ") : $0.map(String.init).joined(separator: ", ") } }
        func doubles(_ a: [Double]?) -> String? { a.map { $0.map(g).joined(separator: ", ") } }
        func strings(_ a: [String]?) -> String? { a.map { $0.joined(separator: ", ") } }
        add("file", file); add("format", format); add("image file", imageFile); add("kind", kind); add("datatype", datatype)
        add("count", count.map(String.init)); add("shape xyz", ints(shapeXYZ)); add("voxel size mm", doubles(voxelSizeMM))
        add("orientation", orientation); add("space", space); add("affine source", affineSource)
        add("frames", frames.map(String.init)); add("frame durations s", doubles(frameDurationsS)); add("frame starts s", doubles(frameStartsS))
        add("frame timing source", frameTimingSource); add("frame means", doubles(frameMeans)); add("frames applied", framesApplied)
        add("scaling", doubles(scaling)); add("value min", valueMin.map(g)); add("value max", valueMax.map(g)); add("value mean", valueMean.map(g))
        add("non finite voxels", nonFiniteVoxels.map(String.init)); add("value range first volumes", doubles(valueRangeFirstVolumes))
        add("class names", strings(classNames))
        add("label counts", labelCounts.map { $0.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") })
        add("normalization", normalization); add("chunks ndhw", ints(chunksNDHW)); add("deflate", deflate.map(String.init))
        add("shuffle", shuffle.map { "\($0)" }); add("petgan version", petganVersion); add("descrip", descrip)
        if let low = lowResolution {
            lines.append(pad("low resolution") + "factor \(low.factor): \(ints(low.shapeXYZ) ?? "") (\(low.dataset), f×f×f block means)")
        }
        for w in warnings ?? [] { lines.append(pad("warning") + w) }
        for (title, a) in [("affine (voxel → mm)", affine), ("affine of volume 0", affine0)] {
            guard let a else { continue }
            lines.append(title)
            for row in a { lines.append("  [" + row.map { String(format: "%9.3f", $0) }.joined(separator: " ") + "]") }
        }
        if let ds = datasets {
            lines.append("datasets")
            for d in ds { lines.append("  \(d.name)  \(d.type) \(d.shape)" + (d.chunks.isEmpty ? "" : " chunks \(d.chunks)")) }
        }
        if let p = provenance {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            if let data = try? e.encode(p) { lines.append(pad("provenance") + String(decoding: data, as: UTF8.self)) }
        }
        return lines.joined(separator: "\n")
    }
}

public enum FileInspector {
    /// The reader is chosen by the file's content (magic numbers), not its name: NIfTI-1/-2 single
    /// files and pairs, Analyze 7.5, HDF5. `frames`: for a 4-D series, report the volume this
    /// selection makes; nil reports every frame.
    public static func inspect(_ path: String, nonFinite: NonFinitePolicy = .keep, frames: FrameSelection? = nil) throws -> InspectReport {
        guard FileManager.default.fileExists(atPath: path) else { throw NIfTIError.fileNotFound(path: path) }
        let format: VolumeFileFormat
        do { format = try NIfTIFile.format(of: path) } catch {
            // An HDF5 file with a user block has its signature further in: let HDF5 judge .h5 names.
            let l = path.lowercased()
            if l.hasSuffix(".h5") || l.hasSuffix(".hdf5") { return try inspectHDF5(path) }
            throw error
        }
        if format == .hdf5 { return try inspectHDF5(path) }
        return try inspectNIfTI(path, nonFinite: nonFinite, frames: frames)
    }

    static func round(_ x: Double, _ digits: Int = 6) -> Double {
        // Beyond ~1e302, x * p overflows to inf, which `inspect --json` cannot print (found by fuzzing).
        let p = pow(10.0, Double(digits)), r = (x * p).rounded() / p
        return r.isFinite ? r : x
    }

    static func inspectNIfTI(_ path: String, nonFinite: NonFinitePolicy, frames: FrameSelection?) throws -> InspectReport {
        let h = try NIfTIFile.readHeader(path)
        var out = InspectReport(file: path, format: h.format.rawValue)
        out.datatype = h.datatypeName
        out.affineSource = h.affineSource.rawValue
        if !h.warnings.isEmpty { out.warnings = h.warnings }
        if h.format.isPair { out.imageFile = h.dataPath }
        if h.slope != 0 && !(h.slope == 1 && h.inter == 0) { out.scaling = [h.slope, h.inter] }
        // Value statistics: of the selected volume, or (4-D without a selection) over every frame.
        var lo = Float.infinity, hi = -Float.infinity, sum = 0.0, n = 0, bad = 0
        var frameMeans: [Double] = []
        let vol: Volume
        if h.frames > 1 && frames == nil {
            // Every frame, in one pass through the file.
            let meta = try NIfTIFile.forEachFrame(path, options: NIfTIReadOptions(nonFinite: nonFinite)) { _, data in
                var fs = 0.0, fn = 0
                for x in data { if x.isFinite { fs += Double(x); fn += 1; if x < lo { lo = x }; if x > hi { hi = x } } else { bad += 1 } }
                sum += fs; n += fn
                frameMeans.append(fn > 0 ? fs / Double(fn) : 0)
            }
            var v = Volume(shape: h.arrayShape, affine: h.affine, space: h.space)
            v.metadata = meta
            vol = v
        } else {
            vol = try NIfTIFile.read(path, options: NIfTIReadOptions(nonFinite: nonFinite, frames: frames))
            for x in vol.data where x.isFinite { sum += Double(x); n += 1; if x < lo { lo = x }; if x > hi { hi = x } }
            bad = vol.nonFiniteCount
            if let f = vol.metadata["frames"], frames != nil { out.framesApplied = f }
        }
        let g = vol.gridShape, vs = vol.voxelSize
        if h.frames > 1 {
            out.frames = h.frames
            let t = try FrameTiming.read(for: path, header: h)
            out.frameTimingSource = t.source
            out.frameDurationsS = t.durations
            out.frameStartsS = t.starts
            if frames == nil { out.frameMeans = frameMeans.map { round($0) } }
        }
        out.shapeXYZ = [g.nx, g.ny, g.nz]
        out.arrayShapeDHW = vol.shape
        out.voxelSizeMM = [round(vs.0), round(vs.1), round(vs.2)]
        out.affine = vol.affine.rows.map { $0.map { round($0) } }
        out.orientation = vol.affine.orientationCodes
        out.space = vol.space.name
        out.valueMin = lo <= hi ? Double(lo) : 0
        out.valueMax = lo <= hi ? Double(hi) : 0
        out.valueMean = n > 0 ? sum / Double(n) : 0
        out.nonFiniteVoxels = bad
        out.descrip = vol.metadata["descrip"]
        if let p = vol.metadata["provenance"] { out.provenance = try? JSONDecoder().decode(JSONValue.self, from: Data(p.utf8)) }
        return out
    }

    static func inspectHDF5(_ path: String) throws -> InspectReport {
        let f = try HDF5File.open(path)
        var out = InspectReport(file: path, format: "HDF5")
        if (try? f.exists("volumes")) == true, (try? f.exists("labels")) == true {
            let s = try VolumeStore.open(path)
            let g = GridShape(arrayShape: s.volumeShape)
            let v = try f.dataset("volumes")
            out.kind = "PETGAN volume store"
            out.count = s.count
            out.shapeXYZ = [g.nx, g.ny, g.nz]
            out.arrayShapeNDHW = [s.count] + s.volumeShape
            out.chunksNDHW = v.chunks ?? []
            out.deflate = v.deflateLevel ?? 0
            out.shuffle = v.shuffle
            out.voxelSizeMM = s.voxelSize
            out.normalization = s.normalization
            out.classNames = s.classNames
            var counts: [String: Int] = [:]
            for l in s.labels { counts[l < s.classNames.count ? s.classNames[l] : String(l), default: 0] += 1 }
            out.labelCounts = counts
            // Affines that cannot map voxels to mm make every geometric number below meaningless.
            for i in 0..<s.count {
                if let p = s.affine(i).validationProblem() {
                    throw VolumeStoreError.invalidArgument(file: path, detail: "the affine of volume \(i) is unusable: \(p)")
                }
            }
            if s.count > 0 {
                let a = s.affine(0)
                out.affine0 = a.rows.map { $0.map { round($0) } }
                out.orientation = a.orientationCodes
                // Value range over the first volumes only (a store can be large).
                var lo = Float.infinity, hi = -Float.infinity
                for i in 0..<min(s.count, 8) { let r = try s.readVolume(i).finiteRange; lo = min(lo, r.min); hi = max(hi, r.max) }
                out.valueRangeFirstVolumes = [Double(lo), Double(hi)]
            }
            out.petganVersion = try? f.stringAttribute("petgan_version")
            out.sourceFiles = s.sourceFiles.count
            if let c = s.lowResolution {
                out.lowResolution = .init(factor: c.factor, shapeXYZ: [c.shape[2], c.shape[1], c.shape[0]], dataset: "/" + LowResolution.datasetName)
            }
        } else {
            out.kind = "HDF5"
        }
        // Every dataset with its shape and type (walk the tree).
        var datasets: [InspectReport.Dataset] = []
        func walk(_ g: HDF5Group, _ prefix: String) throws {
            for name in try g.childNames() {
                if try g.isGroup(name) { try walk(try g.group(name), prefix + name + "/") } else {
                    let d = try g.dataset(name)
                    datasets.append(.init(name: prefix + name, shape: d.shape, type: d.kind.rawValue, chunks: d.chunks ?? []))
                }
            }
        }
        try walk(f, "/")
        out.datasets = datasets
        var attrs: [String: JSONValue] = [:]
        for name in try f.attributeNames() {
            switch try f.attribute(name) {
            case .string(let s): attrs[name] = .string(s)
            case .strings(let a): attrs[name] = .array((a.count > 10 ? Array(a.prefix(10)) + ["... \(a.count) total"] : a).map { .string($0) })
            case .double(let d): attrs[name] = .double(d)
            case .doubles(let a): attrs[name] = .array(a.map { .double($0) })
            case .int(let i): attrs[name] = .int(Int(i))
            case .ints(let a): attrs[name] = .array(a.map { .int(Int($0)) })
            }
        }
        out.attributes = attrs
        return out
    }
}
