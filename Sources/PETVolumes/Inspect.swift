// `petgan inspect`: what is in a NIfTI file or an HDF5 file (volume store or any HDF5), as a
// JSON-ready dictionary and as text.
//
// Public API:
//   let report = try FileInspector.inspect("x.nii.gz")   // [String: Any], JSON-serializable
//   print(FileInspector.text(report))

import Foundation
import PETTensor

public enum FileInspector {
    /// The reader is chosen by the file's content (magic numbers), not its name: NIfTI-1/-2 single
    /// files and pairs, Analyze 7.5, HDF5. `frames`: for a 4-D series, report the volume this
    /// selection makes; nil reports every frame.
    public static func inspect(_ path: String, nonFinite: NonFinitePolicy = .keep, frames: FrameSelection? = nil) throws -> [String: Any] {
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

    static func inspectNIfTI(_ path: String, nonFinite: NonFinitePolicy, frames: FrameSelection?) throws -> [String: Any] {
        let h = try NIfTIFile.readHeader(path)
        var out: [String: Any] = ["file": path, "format": h.format.rawValue, "datatype": h.datatypeName,
                                  "affine_source": h.affineSource.rawValue]
        if !h.warnings.isEmpty { out["warnings"] = h.warnings }
        if h.format.isPair { out["image_file"] = h.dataPath }
        if h.slope != 0 && !(h.slope == 1 && h.inter == 0) { out["scaling"] = [h.slope, h.inter] }
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
            if let f = vol.metadata["frames"], frames != nil { out["frames_applied"] = f }
        }
        let g = vol.gridShape, vs = vol.voxelSize
        if h.frames > 1 {
            out["frames"] = h.frames
            let t = try FrameTiming.read(for: path, header: h)
            out["frame_timing_source"] = t.source
            if let d = t.durations { out["frame_durations_s"] = d }
            if let s = t.starts { out["frame_starts_s"] = s }
            if frames == nil { out["frame_means"] = frameMeans.map { round($0) } }
        }
        out.merge([
            "shape_xyz": [g.nx, g.ny, g.nz], "array_shape_dhw": vol.shape,
            "voxel_size_mm": [round(vs.0), round(vs.1), round(vs.2)],
            "affine": vol.affine.rows.map { $0.map { round($0) } },
            "orientation": vol.affine.orientationCodes, "space": vol.space.name,
            "value_min": lo <= hi ? Double(lo) : 0, "value_max": lo <= hi ? Double(hi) : 0, "value_mean": n > 0 ? sum / Double(n) : 0,
            "non_finite_voxels": bad,
        ]) { $1 }
        if let d = vol.metadata["descrip"] { out["descrip"] = d }
        if let p = vol.metadata["provenance"], let obj = try? JSONSerialization.jsonObject(with: Data(p.utf8)) { out["provenance"] = obj }
        return out
    }

    static func inspectHDF5(_ path: String) throws -> [String: Any] {
        let f = try HDF5File.open(path)
        var out: [String: Any] = ["file": path, "format": "HDF5"]
        if (try? f.exists("volumes")) == true, (try? f.exists("labels")) == true {
            let s = try VolumeStore.open(path)
            let g = GridShape(arrayShape: s.volumeShape)
            let v = try f.dataset("volumes")
            out["kind"] = "PETGAN volume store"
            out["count"] = s.count
            out["shape_xyz"] = [g.nx, g.ny, g.nz]
            out["array_shape_ndhw"] = [s.count] + s.volumeShape
            out["chunks_ndhw"] = v.chunks ?? []
            out["deflate"] = v.deflateLevel ?? 0
            out["shuffle"] = v.shuffle
            out["voxel_size_mm"] = s.voxelSize
            out["normalization"] = s.normalization
            out["class_names"] = s.classNames
            var counts: [String: Int] = [:]
            for l in s.labels { counts[l < s.classNames.count ? s.classNames[l] : String(l)] = (counts[l < s.classNames.count ? s.classNames[l] : String(l)] ?? 0) + 1 }
            out["label_counts"] = counts
            // Affines that cannot map voxels to mm make every geometric number below meaningless.
            for i in 0..<s.count {
                if let p = s.affine(i).validationProblem() {
                    throw VolumeStoreError.invalidArgument(file: path, detail: "the affine of volume \(i) is unusable: \(p)")
                }
            }
            if s.count > 0 {
                let a = s.affine(0)
                out["affine_0"] = a.rows.map { $0.map { round($0) } }
                out["orientation"] = a.orientationCodes
                // Value range over the first volumes only (a store can be large).
                var lo = Float.infinity, hi = -Float.infinity
                for i in 0..<min(s.count, 8) { let r = try s.readVolume(i).finiteRange; lo = min(lo, r.min); hi = max(hi, r.max) }
                out["value_range_first_volumes"] = [Double(lo), Double(hi)]
            }
            if let ver = try? f.stringAttribute("petgan_version") { out["petgan_version"] = ver }
            out["source_files"] = s.sourceFiles.count
            if let c = s.lowResolution {
                out["low_resolution"] = ["factor": c.factor, "shape_xyz": [c.shape[2], c.shape[1], c.shape[0]], "dataset": "/" + LowResolution.datasetName] as [String: Any]
            }
        } else {
            out["kind"] = "HDF5"
        }
        // Every dataset with its shape and type (walk the tree).
        var datasets: [[String: Any]] = []
        func walk(_ g: HDF5Group, _ prefix: String) throws {
            for name in try g.childNames() {
                if try g.isGroup(name) { try walk(try g.group(name), prefix + name + "/") } else {
                    let d = try g.dataset(name)
                    datasets.append(["name": prefix + name, "shape": d.shape, "type": d.kind.rawValue, "chunks": d.chunks ?? []])
                }
            }
        }
        try walk(f, "/")
        out["datasets"] = datasets
        var attrs: [String: Any] = [:]
        for name in try f.attributeNames() {
            switch try f.attribute(name) {
            case .string(let s): attrs[name] = s
            case .strings(let a): attrs[name] = a.count > 10 ? Array(a.prefix(10)) + ["... \(a.count) total"] : a
            case .double(let d): attrs[name] = d
            case .doubles(let a): attrs[name] = a
            case .int(let i): attrs[name] = Int(i)
            case .ints(let a): attrs[name] = a.map { Int($0) }
            }
        }
        out["attributes"] = attrs
        return out
    }

    /// Human-readable text of a report (key order fixed for the common keys).
    public static func text(_ r: [String: Any]) -> String {
        let order = ["file", "format", "image_file", "kind", "datatype", "count", "shape_xyz", "voxel_size_mm", "orientation", "space", "affine_source",
                     "frames", "frame_durations_s", "frame_starts_s", "frame_timing_source", "frame_means", "frames_applied", "scaling",
                     "value_min", "value_max", "value_mean", "non_finite_voxels", "value_range_first_volumes", "class_names",
                     "label_counts", "normalization", "chunks_ndhw", "deflate", "shuffle", "petgan_version", "descrip"]
        var lines: [String] = []
        func pad(_ s: String) -> String { s.count >= 23 ? s + " " : s + String(repeating: " ", count: 23 - s.count) }
        func fmt(_ v: Any) -> String {
            if let a = v as? [Int], a.count == 3 { return a.map(String.init).joined(separator: " x ") }
            if let a = v as? [Any] { return a.map { fmt($0) }.joined(separator: ", ") }
            if let d = v as? Double { return String(format: "%g", d) }
            if let d = v as? [String: Int] { return d.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") }
            return "\(v)"
        }
        for k in order { if let v = r[k] { lines.append(pad(k.replacingOccurrences(of: "_", with: " ")) + fmt(v)) } }
        if let low = r["low_resolution"] as? [String: Any], let f = low["factor"], let xyz = low["shape_xyz"] {
            lines.append(pad("low resolution") + "factor \(f): \(fmt(xyz)) (\(low["dataset"] ?? ""), f×f×f block means)")
        }
        if let w = r["warnings"] as? [String] { for x in w { lines.append(pad("warning") + x) } }
        for key in ["affine", "affine_0"] {
            if let a = r[key] as? [[Double]] {
                lines.append(key == "affine" ? "affine (voxel → mm)" : "affine of volume 0")
                for row in a { lines.append("  [" + row.map { String(format: "%9.3f", $0) }.joined(separator: " ") + "]") }
            }
        }
        if let ds = r["datasets"] as? [[String: Any]] {
            lines.append("datasets")
            for d in ds { lines.append("  \(d["name"]!)  \(d["type"]!) \(d["shape"]!)" + ((d["chunks"] as? [Int])?.isEmpty == false ? " chunks \(d["chunks"]!)" : "")) }
        }
        if let p = r["provenance"], let data = try? JSONSerialization.data(withJSONObject: p, options: [.sortedKeys]) {
            lines.append(pad("provenance") + String(decoding: data, as: UTF8.self))
        }
        return lines.joined(separator: "\n")
    }
}
