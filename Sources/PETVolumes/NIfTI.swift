// NIfTI-1 / NIfTI-2 reading and writing through libnifti (nifti2_io), .nii and .nii.gz.
//
// Public API:
//   let v = try NIfTIFile.read("sub-01_pet.nii.gz")                 // -> Volume (Float, (D,H,W))
//   let v = try NIfTIFile.read(path, options: NIfTIReadOptions(nonFinite: .refuse, maxVoxels: 1 << 28))
//   let h = try NIfTIFile.readHeader(path)                          // validated header, no voxels
//   let r = try StreamingNIfTIReader(path: path)                    // depth slab by slab (StreamingReaders.swift)
//   try NIfTIFile.write(v, to: "out.nii.gz", provenance: ["command": "prepare", "seed": 1])
//   try NIfTIFile.write(v, to: "out.nii", provenance: [:], options: NIfTIWriteOptions(format: .nifti2))
//
// Reading: uint8, int8, int16, uint16, int32, uint32, float32, float64, with scl_slope/scl_inter
// applied (slope 0 or non-finite means "no scaling"). The affine is the sform when its code is set,
// else the qform, else libnifti's pixdim diagonal (NIfTI "method 1"). The header is read and checked
// first (magic, dims, datatype, size cap, truncation), before any voxel memory is allocated.
// Writing: float32; the same affine in qform and sform (code 4 for MNI space, else 1); xyz_units mm;
// cal_min/cal_max = the finite data range; `descrip` a short provenance string; the full provenance
// as JSON in a NIfTI extension (ecode 6) and in a sidecar `<name>.json`. The file is written under a
// temporary name in the same folder and renamed when complete.
// Axis mapping: see Volume.swift (our (D,H,W) array is NIfTI's x-fastest storage, i = W).

import CNIfTI
import Foundation
import PETTensor

/// Why a NIfTI file could not be read or written. Every case names the file.
public enum NIfTIError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(path: String)
    case truncated(path: String, detail: String)
    case badMagic(path: String, detail: String)
    case invalidDimensions(path: String, detail: String)
    case tooLarge(path: String, detail: String)
    case unsupportedDatatype(path: String, code: Int, name: String)
    case nonFiniteVoxels(path: String, count: Int)
    case invalidPath(path: String, reason: String)
    case libraryFailure(path: String, operation: String)
    case writeFailed(path: String, reason: String)
    /// A streaming read asked for something the file cannot give (past the end, after close).
    case badRequest(path: String, reason: String)
    /// A header field that the reading needs is not finite, out of range or inconsistent.
    case invalidHeader(path: String, detail: String)
    /// A 4-D series read without saying which frames to use.
    case framesNeeded(path: String, frames: Int, detail: String)

    public var description: String {
        switch self {
        case .fileNotFound(let p): return "\(p): no such file"
        case let .truncated(p, d): return "\(p): truncated NIfTI file: \(d)"
        case let .badMagic(p, d): return "\(p): not a NIfTI-1/NIfTI-2 file: \(d)"
        case let .invalidDimensions(p, d): return "\(p): invalid dimensions: \(d)"
        case let .tooLarge(p, d): return "\(p): volume too large: \(d)"
        case let .unsupportedDatatype(p, c, n): return "\(p): unsupported NIfTI datatype \(c) (\(n)); PETGAN reads uint8, int8, int16, uint16, int32, uint32, float32, float64"
        case let .nonFiniteVoxels(p, n): return "\(p): \(n) voxel(s) are NaN or infinite (use --non-finite zero|warn to accept)"
        case let .invalidPath(p, r): return "\(p): \(r)"
        case let .libraryFailure(p, op): return "\(p): libnifti failed to \(op) (the file is corrupt or truncated)"
        case let .writeFailed(p, r): return "\(p): could not write: \(r)"
        case let .badRequest(p, r): return "\(p): \(r)"
        case let .invalidHeader(p, d): return "\(p): invalid header: \(d)"
        case let .framesNeeded(p, n, d): return "\(p): a 4-D series of \(n) frames (\(d)); choose what to read with --frames mean|sum|first|last|N[,M...] (0-based frame indices; petgan prepare and petgan inspect)"
        }
    }
}

/// What to do with NaN / infinite voxels on read.
public enum NonFinitePolicy: String, CaseIterable {
    /// Throw NIfTIError.nonFiniteVoxels.
    case refuse
    /// Replace them with 0 and print a warning on stderr.
    case warn
    /// Replace them with 0 silently.
    case zero
    /// Keep them as they are.
    case keep
}

public struct NIfTIReadOptions {
    public var nonFinite: NonFinitePolicy
    /// Refuse volumes with more voxels than this (checked from the header, before allocating).
    public var maxVoxels: Int
    /// Which frames of a 4-D series make the volume (nil: a 4-D file is refused, naming --frames).
    public var frames: FrameSelection?
    /// Frame timing to weight `frames` with instead of the file's own sidecar (a BIDS image's
    /// inherited, merged sidecars); nil: `FrameTiming.read(for:header:)`.
    public var frameTiming: FrameTiming?
    public init(nonFinite: NonFinitePolicy = .refuse, maxVoxels: Int = 1 << 29, frames: FrameSelection? = nil) {
        self.nonFinite = nonFinite; self.maxVoxels = maxVoxels; self.frames = frames
    }
}

public struct NIfTIWriteOptions {
    public enum Format { case nifti1, nifti2 }
    public var format: Format
    /// Also write `<name>.json` with the provenance.
    public var sidecar: Bool
    /// Write dim[0] = 4 with dim[4] = 1 (one frame): PET-BIDS counts frames in dim[4] (the validator
    /// checks it against FrameDuration), and libnifti writes dim[i > dim[0]] as 0.
    public var singleFrame4D = false
    public init(format: Format = .nifti1, sidecar: Bool = true, singleFrame4D: Bool = false) {
        self.format = format; self.sidecar = sidecar; self.singleFrame4D = singleFrame4D
    }
}

/// The header facts PETGAN checks before reading voxels (NIfTIHeader.swift validates them).
public struct NIfTIHeaderInfo: Equatable {
    /// 1 or 2 (Analyze 7.5: 1, with `format` saying so).
    public var version: Int
    public var format: VolumeFileFormat
    /// dim[0...7].
    public var dims: [Int]
    public var datatype: Int
    public var datatypeName: String
    public var bitsPerVoxel: Int
    /// Offset of the voxels in the (uncompressed) file holding them (the .img for a pair).
    public var voxOffset: Int
    public var byteSwapped: Bool
    /// Number of voxels (product of dim[1...dim[0]], all frames).
    public var voxelCount: Int
    /// Array shape [D, H, W] of one frame.
    public var arrayShape: [Int]
    /// dim[4] of a 4-D series, else 1.
    public var frames: Int
    /// pixdim[4] in seconds when the header gives a frame duration (4-D only).
    public var frameDurationSeconds: Double?
    public var pixdim: [Double]
    /// Scaling as applied (slope 0: none).
    public var slope: Double
    public var inter: Double
    public var affine: Affine
    public var affineSource: AffineSource
    public var space: WorldSpace
    /// Odd but usable fields, one sentence each (printed as `petgan: warning: FILE: ...`).
    public var warnings: [String]
    /// The file with the header and the one with the voxels (the same except for pairs).
    public var headerPath: String
    public var dataPath: String
    public var dataGzip: Bool
    /// Voxels in one frame.
    public var frameVoxels: Int { arrayShape.reduce(1, *) }
}

public enum NIfTIFile {
    /// libnifti keeps global options; keep calls one at a time.
    static let lock = NSLock()

    static let supportedDatatypes: [Int: (String, Int)] = [
        2: ("uint8", 1), 256: ("int8", 1), 4: ("int16", 2), 512: ("uint16", 2),
        8: ("int32", 4), 768: ("uint32", 4), 16: ("float32", 4), 64: ("float64", 8),
    ]

    /// Whether `path` has a NIfTI file name (.nii or .nii.gz, any case).
    public static func isNIfTIPath(_ path: String) -> Bool {
        let l = path.lowercased()
        return l.hasSuffix(".nii") || l.hasSuffix(".nii.gz")
    }

    /// Whether `path` has the name of an image PETGAN reads: .nii, .nii.gz, or a pair's/Analyze
    /// header .hdr, .hdr.gz (the .img beside it is found from the header; readers also accept the
    /// .img name). The reader itself is chosen by the file's content.
    public static func isImagePath(_ path: String) -> Bool {
        let l = path.lowercased()
        return isNIfTIPath(path) || l.hasSuffix(".hdr") || l.hasSuffix(".hdr.gz")
    }

    /// The path without .nii / .nii.gz (/ .hdr, .img and their .gz).
    public static func stem(_ path: String) -> String {
        let l = path.lowercased()
        for ext in [".hdr.gz", ".img.gz", ".hdr", ".img"] where l.hasSuffix(ext) { return String(path.dropLast(ext.count)) }
        if l.hasSuffix(".nii.gz") { return String(path.dropLast(7)) }
        if l.hasSuffix(".nii") { return String(path.dropLast(4)) }
        return path
    }

    /// libnifti's name of a datatype code.
    static func datatypeName(_ code: Int) -> String {
        guard let c = Int32(exactly: code) else { return "unknown" }
        return String(cString: nifti_datatype_string(c))
    }

    /// Reads, recognizes (by content) and validates the header without voxels: NIfTI-1/-2 single
    /// files and .hdr/.img pairs, Analyze 7.5 (see NIfTIHeader.swift for every check).
    public static func readHeader(_ path: String, maxVoxels: Int = NIfTIReadOptions().maxVoxels) throws -> NIfTIHeaderInfo {
        try NIfTIHeaderParser.readHeader(path, maxVoxels: maxVoxels)
    }

    /// Whether the file at `path` is a NIfTI/Analyze image by its content (false for HDF5 or unknown).
    public static func isImageFile(_ path: String) -> Bool {
        guard let (f, _) = try? NIfTIHeaderParser.sniff(NIfTIHeaderParser.headerPath(forImage: path) ?? path) else { return false }
        return f.isNIfTIFamily
    }

    /// The format of the file at `path`, recognized by its content.
    public static func format(of path: String) throws -> VolumeFileFormat {
        guard FileManager.default.fileExists(atPath: path) else { throw NIfTIError.fileNotFound(path: path) }
        return try NIfTIHeaderParser.sniff(NIfTIHeaderParser.headerPath(forImage: path) ?? path).format
    }

    /// Prints each of the header's warnings once per process and file.
    static func report(_ h: NIfTIHeaderInfo, path: String) {
        warnedLock.withLock {
            for w in h.warnings where !warned.contains(path + "\u{0}" + w) {
                warned.insert(path + "\u{0}" + w)
                FileHandle.standardError.write("petgan: warning: \(path): \(w)\n".data(using: .utf8)!)
            }
        }
    }
    nonisolated(unsafe) static var warned = Set<String>()
    static let warnedLock = NSLock()

    /// Reads a 3-D NIfTI volume. See the file comment for what is applied and checked.
    public static func read(_ path: String, options: NIfTIReadOptions = NIfTIReadOptions()) throws -> Volume {
        // One slab of every slice: the decoding is StreamingNIfTIReader's (one copy of it).
        let r = try StreamingNIfTIReader(path: path, options: options)
        defer { r.close() }
        let data = try r.read(depth: r.shape[0])
        return Volume(shape: r.shape, data: data, affine: r.affine, space: r.space, metadata: r.metadata)
    }

    /// The checked header (geometry, scaling, frames: NIfTIHeader.swift), then libnifti's parse of
    /// it for `descrip` and extensions (provenance); no voxels. Prints the header's warnings once.
    static func voxelLayout(_ path: String, maxVoxels: Int) throws -> NIfTIVoxelLayout {
        let header = try readHeader(path, maxVoxels: maxVoxels)
        report(header, path: path)
        var meta: [String: String] = ["source_file": path, "nifti_version": String(header.version),
                                      "datatype": header.datatypeName, "format": header.format.rawValue,
                                      "affine_source": header.affineSource.rawValue]
        if header.format != .analyze75 {
            lock.withLock {
                nifti_set_debug_level(0)   // we report errors ourselves
                // Header and extensions through libnifti; voxels read by us, because libnifti's loader
                // silently replaces NaN/Inf with 0 and the user must get to choose (NonFinitePolicy).
                guard let nim = nifti_image_read(header.headerPath, 0) else { return }
                defer { nifti_image_free(nim) }
                let im = nim.pointee
                let descrip = withUnsafeBytes(of: im.descrip) { b in String(decoding: b.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if !descrip.isEmpty { meta["descrip"] = descrip }
                if im.num_ext > 0, let list = im.ext_list {
                    for e in 0..<Int(im.num_ext) where list[e].ecode == 6 {
                        let size = Int(list[e].esize) - 8
                        if let d = list[e].edata, size > 0 {
                            let text = String(decoding: UnsafeRawBufferPointer(start: d, count: size).prefix(while: { $0 != 0 }), as: UTF8.self)
                            if text.hasPrefix("{") { meta["provenance"] = text }
                        }
                    }
                }
            }
        }
        let size = header.bitsPerVoxel / 8
        return NIfTIVoxelLayout(header: header, dataPath: header.dataPath, dataOffset: header.voxOffset, datatype: header.datatype,
                                bytesPerVoxel: size, swapSize: header.byteSwapped && size > 1 ? size : 0,
                                slope: header.slope, inter: header.inter, affine: header.affine,
                                space: header.space, metadata: meta)
    }

    /// Applies `policy` to `count` decoded values (`.refuse` throws); returns how many were not finite.
    static func applyNonFinite(_ out: UnsafeMutablePointer<Float>, count: Int, policy: NonFinitePolicy, path: String) throws -> Int {
        var bad = 0
        for n in 0..<count where !out[n].isFinite { bad += 1 }
        guard bad > 0 else { return 0 }
        switch policy {
        case .refuse: throw NIfTIError.nonFiniteVoxels(path: path, count: bad)
        case .warn, .zero: for n in 0..<count where !out[n].isFinite { out[n] = 0 }
        case .keep: break
        }
        return bad
    }

    /// A short provenance string for the 80-byte `descrip` field.
    static func shortDescription(_ provenance: [String: Any]) -> String {
        var s = "PETGAN \(PETGANVersion.string)"
        for key in ["command", "kind", "class", "label", "seed"] {
            if let v = provenance[key] { s += " \(key)=\(v)" }
        }
        return String(decoding: s.utf8.prefix(79), as: UTF8.self)
    }

    /// Provenance as compact JSON (keys sorted), with PETGAN's version added.
    public static func provenanceJSON(_ provenance: [String: Any]) throws -> Data {
        var p = provenance
        if p["petgan_version"] == nil { p["petgan_version"] = PETGANVersion.string }
        let clean = p.mapValues(jsonSafe)
        return try JSONSerialization.data(withJSONObject: clean, options: [.sortedKeys])
    }

    static func jsonSafe(_ v: Any) -> Any {
        switch v {
        case let s as String: return s
        case let b as Bool: return b
        case let i as Int: return i
        case let d as Double: return d.isFinite ? d : String(d)
        case let f as Float: return f.isFinite ? Double(f) : String(f)
        case let a as [Any]: return a.map(jsonSafe)
        case let d as [String: Any]: return d.mapValues(jsonSafe)
        case let u as UInt64: return String(u)
        default: return String(describing: v)
        }
    }

    /// Sidecar JSON path for a NIfTI path: "x.nii.gz" → "x.json".
    public static func sidecarPath(_ path: String) -> String { stem(path) + ".json" }

    /// Writes a NIfTI-2 single file from a filled nifti_image (header from libnifti's converter).
    static func writeNIfTI2(_ nim: UnsafeMutablePointer<nifti_image>, to tmp: String, finalPath: String) throws {
        var hdr = nifti_2_header()
        guard nifti_convert_nim2n2hdr(nim, &hdr) == 0 else {
            throw NIfTIError.writeFailed(path: finalPath, reason: "libnifti could not build the NIfTI-2 header")
        }
        let im = nim.pointee
        var extBytes: [UInt8] = []
        for e in 0..<Int(im.num_ext) {
            let ext = im.ext_list[e]
            let esize = Int(ext.esize), payload = esize - 8
            withUnsafeBytes(of: Int32(esize).littleEndian) { extBytes += $0 }
            withUnsafeBytes(of: Int32(ext.ecode).littleEndian) { extBytes += $0 }
            var data = [UInt8](repeating: 0, count: payload)
            if let d = ext.edata { for n in 0..<payload { data[n] = UInt8(bitPattern: d[n]) } }
            extBytes += data
        }
        hdr.vox_offset = Int64(540 + 4 + extBytes.count)
        let magic: [UInt8] = [0x6E, 0x2B, 0x32, 0, 0x0D, 0x0A, 0x1A, 0x0A]   // "n+2\0\r\n\032\n": single file
        withUnsafeMutableBytes(of: &hdr.magic) { b in for n in 0..<8 { b[n] = magic[n] } }
        let gz = tmp.lowercased().hasSuffix(".gz")
        guard let fp = znzopen(tmp, gz ? "wb6" : "wb", gz ? 1 : 0) else {
            throw NIfTIError.writeFailed(path: finalPath, reason: "cannot create \(tmp)")
        }
        var fpVar: znzFile? = fp
        defer { Xznzclose(&fpVar) }
        var ok = withUnsafeBytes(of: &hdr) { znzwrite($0.baseAddress, 1, 540, fp) == 540 }
        var extender: [UInt8] = [extBytes.isEmpty ? 0 : 1, 0, 0, 0]
        ok = ok && znzwrite(&extender, 1, 4, fp) == 4
        if !extBytes.isEmpty { ok = ok && znzwrite(&extBytes, 1, extBytes.count, fp) == extBytes.count }
        let dataBytes = Int(im.nvox) * Int(im.nbyper)
        ok = ok && znzwrite(im.data, 1, dataBytes, fp) == dataBytes
        if !ok { throw NIfTIError.writeFailed(path: finalPath, reason: "short write (disk full?)") }
    }

    /// The libnifti image of every file PETGAN writes, handed to `body` and freed after it (both
    /// `write` and `StreamingNIfTIWriter` build theirs here, so their headers are the same bytes):
    /// float32 [D, H, W] `shape` as NIfTI-1 single file `fileName`, sform = `affine`, qform = the same
    /// affine as quaternion + pixdim + qfac, mm units, cal_min/cal_max = `dataRange`, slope 1, the
    /// descrip line and the provenance extension. `allocateVoxels` false: no voxel buffer (streaming).
    /// Call under `lock` (libnifti is not thread-safe). Errors name `path`, the final file.
    static func withImage<T>(shape: [Int], allocateVoxels: Bool, fileName: String, affine: Affine, space: WorldSpace,
                             dataRange: (min: Float, max: Float), provenance: [String: Any], provenanceJSON json: Data,
                             path: String, singleFrame4D: Bool = false, _ body: (UnsafeMutablePointer<nifti_image>) throws -> T) throws -> T {
        let g = GridShape(arrayShape: shape)
        var dims: [Int64] = [singleFrame4D ? 4 : 3, Int64(g.nx), Int64(g.ny), Int64(g.nz), 1, 1, 1, 1]
        guard let nim = nifti_make_new_nim(&dims, 16 /* DT_FLOAT32 */, allocateVoxels ? 1 : 0) else {
            throw NIfTIError.writeFailed(path: path, reason: "libnifti could not allocate the image\(allocateVoxels ? "" : " header")")
        }
        defer { nifti_image_free(nim) }
        guard nifti_set_filenames(nim, fileName, 0, 1) == 0 else {
            throw NIfTIError.writeFailed(path: path, reason: "libnifti rejected the file name \(fileName)")
        }
        nim.pointee.nifti_type = 1   // NIfTI-1 single file (NIfTI-2 is written by writeNIfTI2 from this header)
        var dm = nifti_dmat44()
        withUnsafeMutableBytes(of: &dm.m) { b in for n in 0..<16 { b.storeBytes(of: affine.m[n], toByteOffset: n * 8, as: Double.self) } }
        let code: Int32 = space == .mni ? 4 : 1
        nim.pointee.sto_xyz = dm
        nim.pointee.sto_ijk = nifti_dmat44_inverse(dm)
        nim.pointee.sform_code = code
        var qb = 0.0, qc = 0.0, qd = 0.0, qx = 0.0, qy = 0.0, qz = 0.0, dx = 0.0, dy = 0.0, dz = 0.0, qfac = 0.0
        nifti_dmat44_to_quatern(dm, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac)
        nim.pointee.quatern_b = qb; nim.pointee.quatern_c = qc; nim.pointee.quatern_d = qd
        nim.pointee.qoffset_x = qx; nim.pointee.qoffset_y = qy; nim.pointee.qoffset_z = qz
        nim.pointee.qfac = qfac
        nim.pointee.qto_xyz = nifti_quatern_to_dmat44(qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac)
        nim.pointee.qto_ijk = nifti_dmat44_inverse(nim.pointee.qto_xyz)
        nim.pointee.qform_code = code
        nim.pointee.dx = dx; nim.pointee.dy = dy; nim.pointee.dz = dz
        nim.pointee.pixdim.1 = dx; nim.pointee.pixdim.2 = dy; nim.pointee.pixdim.3 = dz
        nim.pointee.xyz_units = 2   // NIFTI_UNITS_MM
        nim.pointee.time_units = 0
        nim.pointee.cal_min = Double(dataRange.min); nim.pointee.cal_max = Double(dataRange.max)
        nim.pointee.scl_slope = 1; nim.pointee.scl_inter = 0
        let desc = Array(shortDescription(provenance).utf8.prefix(79))
        withUnsafeMutableBytes(of: &nim.pointee.descrip) { b in
            for n in 0..<b.count { b[n] = 0 }
            for (n, c) in desc.enumerated() { b[n] = c }
        }
        let status = json.withUnsafeBytes { b in
            nifti_add_extension(nim, b.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(b.count), 6)
        }
        guard status == 0 else { throw NIfTIError.writeFailed(path: path, reason: "libnifti could not add the provenance extension") }
        return try body(nim)
    }

    /// Writes `volume` as float32 NIfTI (see the file comment). The path must end in .nii or .nii.gz.
    public static func write(_ volume: Volume, to path: String, provenance: [String: Any] = [:],
                             options: NIfTIWriteOptions = NIfTIWriteOptions()) throws {
        guard isNIfTIPath(path) else { throw NIfTIError.invalidPath(path: path, reason: "a NIfTI output must end in .nii or .nii.gz") }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw NIfTIError.invalidPath(path: path, reason: "folder \(dir) does not exist")
            }
        }
        guard volume.shape.count == 3, volume.shape.allSatisfy({ $0 > 0 }), volume.data.count == volume.shape.reduce(1, *) else {
            throw NIfTIError.invalidDimensions(path: path, detail: "volume shape \(volume.shape) with \(volume.data.count) values")
        }
        guard volume.affine.inverse != nil else { throw NIfTIError.writeFailed(path: path, reason: "the affine is singular:\n\(volume.affine)") }
        let gz = path.lowercased().hasSuffix(".gz")
        let json = try provenanceJSON(provenance)
        let tmpBase = temporaryName(for: stem(path))
        let tmp = tmpBase + (gz ? ".nii.gz" : ".nii")
        defer { unlink(tmp) }

        try lock.withLock { () throws -> Void in
            nifti_set_debug_level(0)
            try withImage(shape: volume.shape, allocateVoxels: true, fileName: tmp, affine: volume.affine, space: volume.space,
                          dataRange: volume.finiteRange, provenance: provenance, provenanceJSON: json, path: path,
                          singleFrame4D: options.singleFrame4D) { nim in
                volume.data.withUnsafeBytes { src in nim.pointee.data.copyMemory(from: src.baseAddress!, byteCount: src.count) }
                if options.format == .nifti1 {
                    nifti_image_write(nim)
                } else {
                    // libnifti 3.0's writer emits no header for NIfTI-2 single files; it still builds
                    // the header struct, and we write header + extensions + voxels ourselves.
                    try writeNIfTI2(nim, to: tmp, finalPath: path)
                }
            }
        }
        // libnifti's write returns nothing: check that a complete file appeared.
        guard FileManager.default.fileExists(atPath: tmp) else {
            throw NIfTIError.writeFailed(path: path, reason: "libnifti did not create the file (disk full or no permission?)")
        }
        if !gz {
            let size = ((try? FileManager.default.attributesOfItem(atPath: tmp))?[.size] as? NSNumber)?.intValue ?? 0
            let need = volume.count * 4 + (options.format == .nifti1 ? 352 : 544)
            guard size >= need else { throw NIfTIError.writeFailed(path: path, reason: "only \(size) of at least \(need) bytes were written (disk full?)") }
        }
        if options.sidecar {
            let sidecar = sidecarPath(path)
            let pretty = (try? JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: json), options: [.prettyPrinted, .sortedKeys])) ?? json
            do { try pretty.write(to: URL(fileURLWithPath: sidecar), options: .atomic) } catch {
                throw NIfTIError.writeFailed(path: sidecar, reason: error.localizedDescription)
            }
        }
        if rename(tmp, path) != 0 {
            throw NIfTIError.writeFailed(path: path, reason: "renaming the temporary file: \(String(cString: strerror(errno)))")
        }
    }
}

/// What reading needs from a parsed header: where and how the voxels are stored, the geometry and
/// the metadata. NIfTIFile.read and StreamingNIfTIReader both decode through it.
struct NIfTIVoxelLayout {
    var header: NIfTIHeaderInfo
    /// The file holding the voxels (the .nii / .nii.gz itself) and their offset in its uncompressed bytes.
    var dataPath: String
    var dataOffset: Int
    var datatype: Int
    var bytesPerVoxel: Int
    /// Bytes per swapped unit when the file has the other byte order, else 0.
    var swapSize: Int
    var slope: Double
    var inter: Double
    var affine: Affine
    var space: WorldSpace
    var metadata: [String: String]

    /// Slope 0 or non-finite means "no scaling" (NIfTI convention); identity is skipped.
    var scales: Bool { slope != 0 && slope.isFinite && inter.isFinite && !(slope == 1 && inter == 0) }

    /// Decodes `count` stored voxels at `raw` (byte-swapped in place when needed) into `out`.
    /// `raw` may be `out` itself for float32.
    func decode(_ raw: UnsafeMutableRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        if swapSize > 0 { nifti_swap_Nbytes(Int64(count), Int32(swapSize), raw) }
        func convert<T>(_ t: T.Type, _ f: (T) -> Float) {
            let p = raw.assumingMemoryBound(to: T.self)
            for n in 0..<count { out[n] = f(p[n]) }
        }
        switch datatype {
        case 2: convert(UInt8.self) { Float($0) }
        case 256: convert(Int8.self) { Float($0) }
        case 4: convert(Int16.self) { Float($0) }
        case 512: convert(UInt16.self) { Float($0) }
        case 8: convert(Int32.self) { Float($0) }
        case 768: convert(UInt32.self) { Float($0) }
        case 16: if raw != UnsafeMutableRawPointer(out) { convert(Float.self) { $0 } }
        default: convert(Double.self) { Float($0) }
        }
        // In Double from the converted Float, as NIfTIFile.read always did: other arithmetic would
        // change values by an ulp.
        if scales {
            let slope = slope, inter = inter
            for n in 0..<count { out[n] = Float(Double(out[n]) * slope + inter) }
        }
    }
}
