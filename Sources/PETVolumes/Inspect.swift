// `petgan inspect`: what is in a NIfTI file or an HDF5 file (volume store or any HDF5), as a
// JSON-ready dictionary and as text.
//
// Public API:
//   let report = try FileInspector.inspect("x.nii.gz")   // [String: Any], JSON-serializable
//   print(FileInspector.text(report))

import Foundation
import PETTensor

public enum FileInspector {
    public static func inspect(_ path: String, nonFinite: NonFinitePolicy = .keep) throws -> [String: Any] {
        guard FileManager.default.fileExists(atPath: path) else { throw NIfTIError.fileNotFound(path: path) }
        if NIfTIFile.isNIfTIPath(path) { return try inspectNIfTI(path, nonFinite: nonFinite) }
        return try inspectHDF5(path)
    }

    static func round(_ x: Double, _ digits: Int = 6) -> Double {
        // Beyond ~1e302, x * p overflows to inf, which `inspect --json` cannot print (found by fuzzing).
        let p = pow(10.0, Double(digits)), r = (x * p).rounded() / p
        return r.isFinite ? r : x
    }

    static func inspectNIfTI(_ path: String, nonFinite: NonFinitePolicy) throws -> [String: Any] {
        let h = try NIfTIFile.readHeader(path)
        let v = try NIfTIFile.read(path, options: NIfTIReadOptions(nonFinite: nonFinite))
        let r = v.finiteRange
        var sum = 0.0, n = 0
        for x in v.data where x.isFinite { sum += Double(x); n += 1 }
        let g = v.gridShape, vs = v.voxelSize
        var out: [String: Any] = [
            "file": path, "format": "NIfTI-\(h.version)", "datatype": h.datatypeName,
            "shape_xyz": [g.nx, g.ny, g.nz], "array_shape_dhw": v.shape,
            "voxel_size_mm": [round(vs.0), round(vs.1), round(vs.2)],
            "affine": v.affine.rows.map { $0.map { round($0) } },
            "orientation": v.affine.orientationCodes, "space": v.space.name,
            "value_min": Double(r.min), "value_max": Double(r.max), "value_mean": n > 0 ? sum / Double(n) : 0,
            "non_finite_voxels": v.nonFiniteCount,
        ]
        if let d = v.metadata["descrip"] { out["descrip"] = d }
        if let p = v.metadata["provenance"], let obj = try? JSONSerialization.jsonObject(with: Data(p.utf8)) { out["provenance"] = obj }
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
        let order = ["file", "format", "kind", "datatype", "count", "shape_xyz", "voxel_size_mm", "orientation", "space",
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
