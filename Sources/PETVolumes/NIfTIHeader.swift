// The NIfTI-1 / NIfTI-2 / Analyze 7.5 header: format recognition by content and validation of every
// field before anything is computed from it.
//
//   let format = try NIfTIHeaderParser.sniff(path)            // by magic numbers, not the file name
//   let h = try NIfTIHeaderParser.parse(bytes, path: path, ...) // validated NIfTIHeaderInfo + warnings
//
// Recognized by content: gzip (1f 8b, then the header inside), sizeof_hdr 348 or 540 in either byte
// order, magic "n+1"/"ni1" (NIfTI-1 single file / .hdr+.img pair), "n+2"/"ni2" (NIfTI-2), a 348-byte
// header without a NIfTI magic (Analyze 7.5), and the HDF5 signature (89 'HDF' 0d 0a 1a 0a).
//
// Policy, field by field (docs/VOLUMES.md "Malformed headers"): a field the reading uses (dims,
// datatype/bitpix, vox_offset, the transform that gives the geometry, scl_slope/scl_inter) must be
// finite, in range and consistent with the file's size, else the file is refused with one error
// naming the field. A field the reading does not use (the transform that is not chosen, pixdim on an
// axis of size 1, cal_min/cal_max, toffset, slice timing, intent parameters, units, dim_info) that is
// odd but harmless gives a named warning and is ignored. Sizes are computed with overflow checks.
// Geometry: sform when sform_code is 1...5, else qform when qform_code is 1...5 (quaternion exactly as
// libnifti's nifti_quatern_to_dmat44), else the pixdim diagonal (libnifti's "method 1", with a
// warning). Analyze 7.5 has no orientation: nibabel's convention is applied (Spm2AnalyzeImage:
// radiological storage, i.e. x flipped, LAS; origin from the SPM originator field when set, else the
// volume centre), with a warning saying so.

import CNIfTI
import Foundation
import PETTensor

/// How a file holds its image.
public enum VolumeFileFormat: String, Equatable {
    case nifti1 = "NIfTI-1"
    case nifti1Pair = "NIfTI-1 pair (.hdr/.img)"
    case nifti2 = "NIfTI-2"
    case nifti2Pair = "NIfTI-2 pair (.hdr/.img)"
    case analyze75 = "Analyze 7.5"
    case hdf5 = "HDF5"

    public var isPair: Bool { self == .nifti1Pair || self == .nifti2Pair || self == .analyze75 }
    public var isNIfTIFamily: Bool { self != .hdf5 }
}

/// Where the affine came from.
public enum AffineSource: String, Equatable {
    case sform, qform
    /// NIfTI with sform_code and qform_code 0: pixdim diagonal (libnifti's method 1).
    case pixdim = "pixdim diagonal (no sform/qform)"
    /// Analyze 7.5: nibabel's convention (see the file comment).
    case analyze = "Analyze 7.5 default (nibabel/SPM: x flipped, LAS; origin field or centre)"
}

enum NIfTIHeaderParser {
    static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The format of the file at `path` from its first bytes (gzip is looked through).
    static func sniff(_ path: String) throws -> (format: VolumeFileFormat, gzip: Bool) {
        guard let fh = FileHandle(forReadingAtPath: path) else {
            throw NIfTIError.libraryFailure(path: path, operation: "open the file for reading")
        }
        let head = [UInt8](fh.readData(ofLength: 8))
        try? fh.close()
        if head.count >= 8 && Array(head.prefix(8)) == hdf5Signature { return (.hdf5, false) }
        let gzip = head.count >= 2 && head[0] == 0x1F && head[1] == 0x8B
        let bytes = try readHeaderBytes(path, count: 12)
        guard bytes.got >= 4 else {
            throw NIfTIError.badMagic(path: path, detail: "the file has \(bytes.got < 0 ? 0 : bytes.got) bytes\(gzip ? " after decompression" : ""): not a NIfTI, Analyze or HDF5 file")
        }
        let b = bytes.bytes
        let raw = b.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        if raw == 348 || raw.byteSwapped == 348 {
            let h = try readHeaderBytes(path, count: 348)
            guard h.got >= 348 else { throw NIfTIError.truncated(path: path, detail: "only \(max(0, h.got)) header bytes (a NIfTI-1/Analyze header has 348)") }
            let m = Array(h.bytes[344..<348])
            if m == Array("n+1".utf8) + [0] { return (.nifti1, gzip) }
            if m == Array("ni1".utf8) + [0] { return (.nifti1Pair, gzip) }
            // One byte off a NIfTI magic is a damaged NIfTI header, not an Analyze file.
            for good in [Array("n+1".utf8) + [0], Array("ni1".utf8) + [0]] where m[3] == 0 && zip(m, good).filter({ $0 != $1 }).count == 1 {
                throw NIfTIError.badMagic(path: path, detail: "magic bytes \(m) are not \"n+1\" or \"ni1\" (a damaged NIfTI-1 header)")
            }
            return (.analyze75, gzip)
        }
        if raw == 540 || raw.byteSwapped == 540 {
            guard bytes.got >= 12 else { throw NIfTIError.truncated(path: path, detail: "only \(bytes.got) header bytes (a NIfTI-2 header has 540)") }
            if Array(b[4..<8]) == Array("ni2".utf8) + [0] { return (.nifti2Pair, gzip) }
            return (.nifti2, gzip)
        }
        let what = gzip ? "gzip-compressed, but the decompressed data start" : "the file starts"
        throw NIfTIError.badMagic(path: path, detail: "\(what) with bytes \(Array(b.prefix(4))) (sizeof_hdr \(raw)): not NIfTI-1/-2 (sizeof_hdr 348 or 540), Analyze 7.5 or HDF5")
    }

    /// Up to `count` bytes from the start of the (decompressed) file; got < 0 when unreadable.
    static func readHeaderBytes(_ path: String, count: Int) throws -> (bytes: [UInt8], got: Int) {
        var bytes = [UInt8](repeating: 0, count: count)
        let got: Int = NIfTIFile.lock.withLock {
            guard let fp = znzopen(path, "rb", 1) else { return Int.min }
            var f: znzFile? = fp
            let n = znzread(&bytes, 1, count, fp)
            Xznzclose(&f)
            return n
        }
        if got == Int.min { throw NIfTIError.libraryFailure(path: path, operation: "open the file for reading") }
        if got < 0 { throw NIfTIError.truncated(path: path, detail: "the gzip stream is corrupt (reading the header)") }
        return (bytes, got)
    }

    /// For a pair: the file holding the voxels (.hdr → .img, .hdr.gz → .img.gz, any case), or nil.
    static func imagePath(forHeader path: String) -> String? {
        let l = path.lowercased()
        for (h, i) in [(".hdr.gz", ".img.gz"), (".hdr", ".img")] where l.hasSuffix(h) {
            let base = String(path.dropLast(h.count))
            let upper = path.suffix(h.count).first(where: { $0.isLetter })?.isUppercase == true
            let candidates = [base + (upper ? i.uppercased() : i), base + i, base + i.uppercased()]
            return candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) ?? candidates[0]
        }
        return nil
    }

    /// For a pair named by its .img: the .hdr beside it, or nil.
    static func headerPath(forImage path: String) -> String? {
        let l = path.lowercased()
        for (i, h) in [(".img.gz", ".hdr.gz"), (".img", ".hdr")] where l.hasSuffix(i) {
            let base = String(path.dropLast(i.count))
            return [base + h, base + h.uppercased()].first(where: { FileManager.default.fileExists(atPath: $0) })
        }
        return nil
    }

    static func fileSize(_ path: String) -> Int? {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue
    }

    /// Reads, recognizes and validates the header of `path` (a .nii/.nii.gz, a pair's .hdr or .img,
    /// an Analyze .hdr), checking the voxel data's size against the file holding them.
    static func readHeader(_ path: String, maxVoxels: Int) throws -> NIfTIHeaderInfo {
        guard FileManager.default.fileExists(atPath: path) else { throw NIfTIError.fileNotFound(path: path) }
        // A pair named by its .img: the header is the .hdr beside it.
        let headerPath = Self.headerPath(forImage: path) ?? path
        let (format, gzip) = try sniff(headerPath)
        if format == .hdf5 {
            throw NIfTIError.badMagic(path: path, detail: "this is an HDF5 file, not a NIfTI/Analyze image")
        }
        let length = format == .nifti2 || format == .nifti2Pair ? 540 : 348
        let hb = try readHeaderBytes(headerPath, count: length)
        guard hb.got >= length else { throw NIfTIError.truncated(path: path, detail: "only \(hb.got) header bytes (a \(format.rawValue) header has \(length))") }
        var dataPath = headerPath, dataGzip = gzip
        if format.isPair {
            guard let img = imagePath(forHeader: headerPath) else {
                throw NIfTIError.invalidPath(path: path, reason: "a \(format.rawValue) header must be named .hdr (or .hdr.gz) so that its .img can be found")
            }
            guard FileManager.default.fileExists(atPath: img) else {
                throw NIfTIError.fileNotFound(path: img)
            }
            dataPath = img
            dataGzip = try isGzip(img)
        }
        var warnings: [String] = []
        if gzip != headerPath.lowercased().hasSuffix(".gz") {
            warnings.append(gzip ? "gzip-compressed although not named .gz; read as compressed" : "named .gz but not gzip-compressed; read as uncompressed")
        }
        let dataSize = dataGzip ? nil : fileSize(dataPath)
        var h = try parse(hb.bytes, format: format, path: path, dataFileSize: dataSize, maxVoxels: maxVoxels)
        h.headerPath = headerPath; h.dataPath = dataPath; h.dataGzip = dataGzip
        h.warnings = warnings + h.warnings
        return h
    }

    static func isGzip(_ path: String) throws -> Bool {
        guard let fh = FileHandle(forReadingAtPath: path) else { throw NIfTIError.libraryFailure(path: path, operation: "open the file for reading") }
        let head = [UInt8](fh.readData(ofLength: 2))
        try? fh.close()
        return head.count == 2 && head[0] == 0x1F && head[1] == 0x8B
    }

    /// Field accessors over the raw header bytes in the file's byte order.
    struct Fields {
        let b: [UInt8]
        let swap: Bool
        func i8(_ o: Int) -> Int { Int(Int8(bitPattern: b[o])) }
        func u8(_ o: Int) -> Int { Int(b[o]) }
        func i16(_ o: Int) -> Int { let v = b[o..<(o + 2)].withUnsafeBytes { $0.loadUnaligned(as: Int16.self) }; return Int(swap ? v.byteSwapped : v) }
        func i32(_ o: Int) -> Int { let v = b[o..<(o + 4)].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }; return Int(swap ? v.byteSwapped : v) }
        func i64(_ o: Int) -> Int64 { let v = b[o..<(o + 8)].withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }; return swap ? v.byteSwapped : v }
        func f32(_ o: Int) -> Double {
            let v = b[o..<(o + 4)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            return Double(Float(bitPattern: swap ? v.byteSwapped : v))
        }
        func f64(_ o: Int) -> Double {
            let v = b[o..<(o + 8)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            return Double(bitPattern: swap ? v.byteSwapped : v)
        }
    }

    /// Byte offsets of the fields in NIfTI-1 (and Analyze 7.5, which shares the first 148 bytes) and NIfTI-2.
    struct Layout {
        let v2: Bool
        var dim: Int { v2 ? 16 : 40 }
        var datatype: Int { v2 ? 12 : 70 }
        var bitpix: Int { v2 ? 14 : 72 }
        var intentP: Int { v2 ? 80 : 56 }
        var intentCode: Int { v2 ? 504 : 68 }
        var pixdim: Int { v2 ? 104 : 76 }
        var voxOffset: Int { v2 ? 168 : 108 }
        var sclSlope: Int { v2 ? 176 : 112 }
        var sclInter: Int { v2 ? 184 : 116 }
        var calMax: Int { v2 ? 192 : 124 }
        var calMin: Int { v2 ? 200 : 128 }
        var sliceDuration: Int { v2 ? 208 : 132 }
        var toffset: Int { v2 ? 216 : 136 }
        var sliceStart: Int { v2 ? 224 : 74 }
        var sliceEnd: Int { v2 ? 232 : 120 }
        var sliceCode: Int { v2 ? 496 : 122 }
        var xyztUnits: Int { v2 ? 500 : 123 }
        var qformCode: Int { v2 ? 344 : 252 }
        var sformCode: Int { v2 ? 348 : 254 }
        var quatern: Int { v2 ? 352 : 256 }
        var srow: Int { v2 ? 400 : 280 }
        var dimInfo: Int { v2 ? 524 : 39 }
    }

    static let intentNames: [Int: String] = [
        0: "none", 2: "correlation", 3: "t-test", 4: "F-test", 5: "z-score", 6: "chi-squared", 7: "beta", 8: "binomial",
        9: "gamma", 10: "Poisson", 11: "normal", 12: "noncentral F", 13: "noncentral chi-squared", 14: "logistic",
        15: "Laplace", 16: "uniform", 17: "noncentral t", 18: "Weibull", 19: "chi", 20: "inverse Gaussian",
        21: "extreme value", 22: "p-value", 23: "log p-value", 24: "log10 p-value",
        1001: "estimate", 1002: "label", 1003: "NeuroNames label", 1004: "general matrix", 1005: "symmetric matrix",
        1006: "displacement vector", 1007: "vector", 1008: "point set", 1009: "triangle", 1010: "quaternion",
        1011: "dimensionless", 2001: "time series", 2002: "node index", 2003: "RGB vector", 2004: "RGBA vector", 2005: "shape",
    ]

    /// Validates a header (see the file comment's policy). `dataFileSize`: bytes of the uncompressed
    /// file holding the voxels (nil when compressed: checked as the voxels are read).
    static func parse(_ bytes: [UInt8], format: VolumeFileFormat, path: String, dataFileSize: Int?, maxVoxels: Int) throws -> NIfTIHeaderInfo {
        let v2 = format == .nifti2 || format == .nifti2Pair
        guard bytes.count >= (v2 ? 540 : 348) else {
            throw NIfTIError.truncated(path: path, detail: "only \(bytes.count) header bytes (a \(format.rawValue) header has \(v2 ? 540 : 348))")
        }
        let raw = bytes.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        let want: Int32 = v2 ? 540 : 348
        guard raw == want || raw.byteSwapped == want else {
            throw NIfTIError.badMagic(path: path, detail: "sizeof_hdr is \(raw), expected 348 (NIfTI-1) or 540 (NIfTI-2)")
        }
        let swap = raw != want
        let f = Fields(b: bytes, swap: swap), L = Layout(v2: v2)
        var warnings: [String] = []
        func fail(_ detail: String) -> NIfTIError { .invalidHeader(path: path, detail: detail) }
        func show(_ x: Double) -> String { x.isNaN ? "NaN" : x.isInfinite ? (x > 0 ? "inf" : "-inf") : (x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)) }

        // Magic.
        switch format {
        case .nifti1, .nifti1Pair, .analyze75:
            let m = Array(bytes[344..<348])
            let n1 = Array("n+1".utf8) + [0], p1 = Array("ni1".utf8) + [0]
            if format == .analyze75 {
                // One byte off a NIfTI magic is a damaged NIfTI header, not an Analyze file.
                if m != n1 && m != p1 && m[3] == 0 && (zip(m, n1).filter { $0 != $1 }.count == 1 || zip(m, p1).filter { $0 != $1 }.count == 1) {
                    throw NIfTIError.badMagic(path: path, detail: "magic bytes \(m) are not \"n+1\" or \"ni1\"")
                }
            } else if m != (format == .nifti1 ? n1 : p1) {
                throw NIfTIError.badMagic(path: path, detail: "magic bytes \(m) are not \"n+1\" or \"ni1\"")
            }
        case .nifti2, .nifti2Pair:
            let m = Array(bytes[4..<12])
            let tail: [UInt8] = [0, 0x0D, 0x0A, 0x1A, 0x0A]
            guard m == Array("n+2".utf8) + tail || m == Array("ni2".utf8) + tail else {
                throw NIfTIError.badMagic(path: path, detail: "NIfTI-2 magic bytes \(m) are not \"n+2\\0\\r\\n\\032\\n\" (or \"ni2…\" for a pair)")
            }
        case .hdf5: throw NIfTIError.badMagic(path: path, detail: "an HDF5 file")
        }

        // Dimensions.
        var dims = [Int](repeating: 0, count: 8)
        for d in 0..<8 {
            if v2 { let v = f.i64(L.dim + 8 * d); dims[d] = Int(v) } else { dims[d] = f.i16(L.dim + 2 * d) }
        }
        let nd = dims[0]
        guard (1...7).contains(nd) else { throw NIfTIError.invalidDimensions(path: path, detail: "dim[0] = \(nd), must be 1...7") }
        for d in 1...nd where dims[d] <= 0 {
            throw NIfTIError.invalidDimensions(path: path, detail: "dim[\(d)] = \(dims[d]) (dims \(Array(dims[1...nd]))) must be positive")
        }
        if nd < 7 {
            for d in (nd + 1)...7 where dims[d] != 0 && dims[d] != 1 {
                warnings.append("dim[\(d)] = \(dims[d]) lies beyond dim[0] = \(nd) and is ignored")
            }
        }
        if nd > 4, dims[5...nd].contains(where: { $0 != 1 }) {
            throw NIfTIError.invalidDimensions(path: path, detail: "a \(nd)-D image with dims \(Array(dims[1...nd])); PETGAN reads 3-D volumes and 4-D frame series")
        }
        var total = 1
        for d in 1...nd {
            let (p, overflow) = total.multipliedReportingOverflow(by: dims[d])
            if overflow { throw NIfTIError.tooLarge(path: path, detail: "dims \(Array(dims[1...nd])) overflow a 64-bit voxel count") }
            total = p
        }
        if total > maxVoxels { throw NIfTIError.tooLarge(path: path, detail: "\(total) voxels (dims \(Array(dims[1...nd]))) exceed the cap of \(maxVoxels)") }
        let frames = nd >= 4 ? dims[4] : 1
        func dimOf(_ a: Int) -> Int { nd >= a ? dims[a] : 1 }

        // Datatype and bitpix.
        let datatype = f.i16(L.datatype)
        let bitpix = f.i16(L.bitpix)
        guard let (typeName, size) = NIfTIFile.supportedDatatypes[datatype] else {
            throw NIfTIError.unsupportedDatatype(path: path, code: datatype, name: NIfTIFile.datatypeName(datatype))
        }
        if bitpix == 0 {
            warnings.append("bitpix is 0; taken from the datatype (\(typeName), \(size * 8) bits)")
        } else if bitpix != size * 8 {
            throw NIfTIError.badMagic(path: path, detail: "bitpix \(bitpix) does not match datatype \(typeName) (\(size * 8) bits)")
        }

        // Where the voxels are, and whether they are all there.
        var voxOffset = 0
        let headerEnd = v2 ? 544 : 352
        if v2 {
            let o = f.i64(L.voxOffset)
            guard o >= 0 else { throw fail("vox_offset = \(o) is negative") }
            guard o <= Int64(1) << 50 else { throw fail("vox_offset = \(o) is beyond any real file") }
            voxOffset = Int(o)
        } else {
            let o = f.f32(L.voxOffset)
            guard o.isFinite else { throw fail("vox_offset = \(show(o)) is not a finite number") }
            guard o >= 0 else { throw fail("vox_offset = \(show(o)) is negative") }
            guard o == o.rounded() else { throw fail("vox_offset = \(o) is not a whole number of bytes") }
            guard o <= Double(Int64(1) << 50) else { throw fail("vox_offset = \(show(o)) is beyond any real file") }
            voxOffset = Int(o)
        }
        if !format.isPair && voxOffset < headerEnd {
            throw fail("vox_offset = \(voxOffset) lies inside the header (a single-file \(format.rawValue) has its voxels at \(headerEnd) or later)")
        }
        let (dataBytes, o1) = total.multipliedReportingOverflow(by: size)
        let (dataEnd, o2) = voxOffset.addingReportingOverflow(dataBytes)
        if o1 || o2 { throw NIfTIError.tooLarge(path: path, detail: "vox_offset \(voxOffset) + \(total) voxels × \(size) bytes overflows a 64-bit file offset") }
        if let fileSize = dataFileSize, fileSize < dataEnd {
            throw NIfTIError.truncated(path: path, detail: "\(format.isPair ? "the image file" : "file") has \(fileSize) bytes, header promises \(dataEnd) (\(total) \(typeName) voxels from offset \(voxOffset))")
        }

        // Voxel sizes.
        var pixdim = [Double](repeating: 0, count: 8)
        for d in 0..<8 { pixdim[d] = v2 ? f.f64(L.pixdim + 8 * d) : f.f32(L.pixdim + 4 * d) }

        // Geometry.
        var affine: Affine
        var source: AffineSource
        var space = WorldSpace.scanner
        /// pixdim[1...3] as voxel sizes when the geometry is built from them (error on a used axis, warning on an axis of size 1).
        func voxelSizesFromPixdim(_ what: String) throws -> (Double, Double, Double) {
            var s = [1.0, 1.0, 1.0]
            for a in 1...3 {
                let p = pixdim[a]
                if p.isFinite && p > 0 && p <= 1e6 { s[a - 1] = p; continue }
                if dimOf(a) == 1 {
                    warnings.append("pixdim[\(a)] = \(show(p)) on an axis of size 1; taken as 1 mm")
                } else {
                    throw fail("pixdim[\(a)] = \(show(p)) but the \(what) needs a positive, finite voxel size on axis \(a) (size \(dimOf(a)))")
                }
            }
            return (s[0], s[1], s[2])
        }
        func code(_ o: Int) -> Int { v2 ? f.i32(o) : f.i16(o) }
        if format == .analyze75 {
            let (dx, dy, dz) = try voxelSizesFromPixdim("Analyze 7.5 geometry")
            // SPM's originator field: 3 int16 (1-based voxel of the origin) at byte 253.
            let origin = [f.i16(253), f.i16(255), f.i16(257)].map(Double.init)
            let n = [Double(dimOf(1)), Double(dimOf(2)), Double(dimOf(3))]
            let useOrigin = origin.contains(where: { $0 != 0 }) && (0..<3).allSatisfy { origin[$0] > -n[$0] && origin[$0] < 2 * n[$0] }
            let o = useOrigin ? origin.map { $0 - 1 } : n.map { ($0 - 1) / 2 }
            affine = Affine([-dx, 0, 0, dx * o[0], 0, dy, 0, -dy * o[1], 0, 0, dz, -dz * o[2], 0, 0, 0, 1])
            source = .analyze
            space = .unknown
            let orient = f.u8(252)
            warnings.append("Analyze 7.5 has no reliable orientation; applied nibabel's convention: voxels stored radiologically (x flipped, LAS), origin \(useOrigin ? "from the SPM originator field \(origin.map { Int($0) })" : "at the volume centre")\(orient != 0 ? "; the Analyze 'orient' field (\(orient)) is ignored, as nibabel does" : "")")
        } else {
            let qcode = code(L.qformCode), scode = code(L.sformCode)
            let validCodes = 1...5
            for (name, c) in [("qform_code", qcode), ("sform_code", scode)] where c != 0 && !validCodes.contains(c) {
                warnings.append("\(name) = \(c) is not a NIfTI transform code (0...5); that transform is ignored")
            }
            // The sform: 12 numbers.
            var srow = [Double](repeating: 0, count: 12)
            for n in 0..<12 { srow[n] = v2 ? f.f64(L.srow + 8 * n) : f.f32(L.srow + 4 * n) }
            let sAffine = Affine(srow + [0, 0, 0, 1])
            let rowName = ["srow_x", "srow_y", "srow_z"]
            func sformProblem() -> String? {
                if let n = srow.firstIndex(where: { !$0.isFinite }) { return "the affine holds NaN or infinite values: \(rowName[n / 4])[\(n % 4)] = \(show(srow[n]))" }
                return sAffine.validationProblem()
            }
            // The qform: quaternion, offsets, pixdim, qfac.
            var q = [Double](repeating: 0, count: 6)
            for n in 0..<6 { q[n] = v2 ? f.f64(L.quatern + 8 * n) : f.f32(L.quatern + 4 * n) }
            let qNames = ["quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z"]
            func qformProblem() -> String? {
                if let n = q.firstIndex(where: { !$0.isFinite }) { return "the affine holds NaN or infinite values: \(qNames[n]) = \(show(q[n]))" }
                if let n = q[3...5].firstIndex(where: { abs($0) > 1e7 }) { return "\(qNames[n]) = \(show(q[n])) mm is beyond any scanner's field of view" }
                let norm = q[0] * q[0] + q[1] * q[1] + q[2] * q[2]
                if norm > 1 + 1e-5 { return "the quaternion (b, c, d) = (\(q[0]), \(q[1]), \(q[2])) has b²+c²+d² = \(norm) > 1" }
                let qfac = pixdim[0]
                if !qfac.isFinite { return "pixdim[0] (qfac) = \(show(qfac)) is not finite" }
                if qfac != 0 && qfac != 1 && qfac != -1 { return "pixdim[0] (qfac) = \(show(qfac)), must be 1 or -1 (readers disagree on other values)" }
                return nil
            }
            if validCodes.contains(scode) {
                if let p = sformProblem() { throw fail("the sform gives the geometry (sform_code \(scode)) but \(p)") }
                affine = sAffine; source = .sform; space = WorldSpace(rawValue: scode) ?? .scanner
                if validCodes.contains(qcode), let p = qformProblem() {
                    warnings.append("the qform is unusable (\(p)); the sform gives the geometry")
                }
                for a in 1...3 where !(pixdim[a].isFinite && pixdim[a] > 0) {
                    warnings.append("pixdim[\(a)] = \(show(pixdim[a])) (not used: the sform gives the geometry)")
                }
            } else if validCodes.contains(qcode) {
                if let p = qformProblem() { throw fail("the qform gives the geometry (qform_code \(qcode)) but \(p)") }
                let (dx, dy, dz) = try voxelSizesFromPixdim("qform")
                if pixdim[0] == 0 { warnings.append("pixdim[0] (qfac) is 0; taken as 1 (as libnifti and nibabel do)") }
                affine = quaternionAffine(b: q[0], c: q[1], d: q[2], x: q[3], y: q[4], z: q[5], dx: dx, dy: dy, dz: dz, qfac: pixdim[0])
                source = .qform; space = WorldSpace(rawValue: qcode) ?? .scanner
                if scode != 0, let p = sformProblem() { warnings.append("the sform is ignored (sform_code \(scode)) and is unusable anyway: \(p)") }
            } else {
                let (dx, dy, dz) = try voxelSizesFromPixdim("pixdim-only geometry")
                affine = .scaling(dx, dy, dz)
                source = .pixdim; space = .unknown
                warnings.append("sform_code and qform_code are 0: no orientation; the affine is the pixdim diagonal (libnifti's method 1; nibabel would flip x and centre the volume)")
            }
            if let p = affine.validationProblem() { throw fail("the \(source.rawValue) affine is unusable: \(p)") }
        }
        if format == .analyze75, let p = affine.validationProblem() { throw fail("the Analyze 7.5 affine is unusable: \(p)") }
        if format == .analyze75 || format == .nifti1Pair {
            let mat = NIfTIFile.stem(path) + ".mat"
            if FileManager.default.fileExists(atPath: mat) {
                warnings.append("\((mat as NSString).lastPathComponent) beside it is an SPM affine file, which PETGAN does not read (SPM and nibabel take the geometry from it): the geometry above is the header's")
            }
        }
        for a in 4...7 where !pixdim[a].isFinite && !(a == 4 && frames > 1) {
            warnings.append("pixdim[\(a)] = \(show(pixdim[a])) (unused) is not finite")
        }

        // Intensity scaling.
        var slope = f.f32(L.sclSlope), inter = f.f32(L.sclInter)
        if v2 { slope = f.f64(L.sclSlope); inter = f.f64(L.sclInter) }
        let slopeField = format == .analyze75 ? "scale factor (funused1)" : "scl_slope"
        if format == .analyze75 {
            // SPM2's rule, as nibabel's Spm2AnalyzeHeader: slope, else glmax/glmin ↔ cal_max/cal_min.
            if slope.isFinite && slope != 0 {
                if !inter.isFinite { warnings.append("intercept (funused2) = \(show(inter)) is not finite; taken as 0 (SPM2/nibabel)"); inter = 0 }
            } else {
                let gl = f.i32(140) - f.i32(144)
                let cal = f.f32(124) - f.f32(128)
                if gl != 0 && cal != 0 && cal.isFinite {
                    slope = cal / Double(gl); inter = f.f32(128) - slope * Double(f.i32(144))
                    warnings.append("scaling from glmax/glmin and cal_max/cal_min (SPM2/nibabel): slope \(slope), intercept \(inter)")
                } else {
                    if !slope.isFinite { warnings.append("\(slopeField) = \(show(slope)) is not a valid scale; voxel values read unscaled (as nibabel does)") }
                    slope = 0; inter = 0
                }
            }
        } else if !slope.isFinite {
            warnings.append("scl_slope = \(show(slope)) is not a valid scale; voxel values read unscaled (as nibabel does)")
            slope = 0; inter = 0
        } else if slope != 0 && !inter.isFinite {
            throw fail("scl_slope = \(show(slope)) is valid but scl_inter = \(show(inter)) is not finite")
        }
        if slope == 0 { inter = 0 }

        // Fields PETGAN does not use: named warnings when odd.
        if format != .analyze75 {
            let calMax = v2 ? f.f64(L.calMax) : f.f32(L.calMax), calMin = v2 ? f.f64(L.calMin) : f.f32(L.calMin)
            if !calMin.isFinite || !calMax.isFinite { warnings.append("cal_min/cal_max = \(show(calMin))/\(show(calMax)) are not finite (display range, ignored)") }
            else if calMin > calMax { warnings.append("cal_min \(show(calMin)) > cal_max \(show(calMax)) (display range, ignored)") }
            for n in 0..<3 {
                let p = v2 ? f.f64(L.intentP + 8 * n) : f.f32(L.intentP + 4 * n)
                if !p.isFinite { warnings.append("intent_p\(n + 1) = \(show(p)) is not finite (ignored)") }
            }
            let ic = v2 ? f.i32(L.intentCode) : f.i16(L.intentCode)
            if intentNames[ic] == nil { warnings.append("intent_code \(ic) is not a NIfTI intent (ignored; values read as a scalar volume)") }
            let sd = v2 ? f.f64(L.sliceDuration) : f.f32(L.sliceDuration)
            if !sd.isFinite || sd < 0 { warnings.append("slice_duration = \(show(sd)) (slice timing, ignored)") }
            let toff = v2 ? f.f64(L.toffset) : f.f32(L.toffset)
            if !toff.isFinite { warnings.append("toffset = \(show(toff)) is not finite (ignored)") }
            let sc = v2 ? f.i32(L.sliceCode) : f.u8(L.sliceCode)
            if !(0...6).contains(sc) { warnings.append("slice_code \(sc) is not a NIfTI slice order (slice timing, ignored)") }
            let ss = v2 ? Int(clamping: f.i64(L.sliceStart)) : f.i16(L.sliceStart)
            let se = v2 ? Int(clamping: f.i64(L.sliceEnd)) : f.i16(L.sliceEnd)
            let di = f.u8(L.dimInfo)
            let sliceDim = (di >> 4) & 3
            if ss < 0 || se < 0 || (se > 0 && ss > se) || (sliceDim > 0 && se >= dimOf(sliceDim) && se > 0) {
                warnings.append("slice_start/slice_end = \(ss)/\(se) do not fit the slice axis (slice timing, ignored)")
            }
            let parts = [di & 3, (di >> 2) & 3, sliceDim].filter { $0 != 0 }
            if di >> 6 != 0 || Set(parts).count != parts.count {
                warnings.append("dim_info \(di) names one axis for several roles or sets unused bits (ignored)")
            }
            let units = v2 ? f.i32(L.xyztUnits) : f.u8(L.xyztUnits)
            let spatial = units & 7, time = units & 0x38
            if units < 0 || units > 63 || spatial > 3 { warnings.append("xyzt_units \(units) is not a NIfTI unit code (coordinates taken as mm)") }
            else if spatial == 1 || spatial == 3 { warnings.append("xyzt_units says \(spatial == 1 ? "metres" : "micrometres"); coordinates are taken as mm, as nibabel does") }
            if units >= 0 && units <= 63 && ![0, 8, 16, 24, 32, 40, 48].contains(time) { warnings.append("xyzt_units time code \(time) is not a NIfTI unit (ignored)") }
        }

        // Frames (4-D): durations from pixdim[4] with the time unit.
        var frameDuration: Double? = nil
        if frames > 1 {
            let units = format == .analyze75 ? 8 : (v2 ? f.i32(L.xyztUnits) : f.u8(L.xyztUnits))
            let time = units & 0x38
            let scale: Double? = time == 8 ? 1 : time == 16 ? 1e-3 : time == 24 ? 1e-6 : time == 0 ? 1 : nil
            let p = pixdim[4]
            if let s = scale, p.isFinite, p > 0, p < 1e9 { frameDuration = p * s }
            else { warnings.append("pixdim[4] = \(show(p)) with time unit code \(time): the header gives no frame duration") }
        }

        let shape3 = VolumeAxes.arrayShape(nx: dimOf(1), ny: dimOf(2), nz: dimOf(3))
        return NIfTIHeaderInfo(version: v2 ? 2 : 1, format: format, dims: dims, datatype: datatype, datatypeName: typeName,
                               bitsPerVoxel: size * 8, voxOffset: voxOffset, byteSwapped: swap, voxelCount: total,
                               arrayShape: shape3, frames: frames, frameDurationSeconds: frameDuration,
                               pixdim: pixdim, slope: slope, inter: inter, affine: affine, affineSource: source, space: space,
                               warnings: warnings, headerPath: path, dataPath: path, dataGzip: false)
    }

    /// libnifti's nifti_quatern_to_dmat44, line for line (dx, dy, dz already made positive).
    static func quaternionAffine(b qb: Double, c qc: Double, d qd: Double, x qx: Double, y qy: Double, z qz: Double,
                                 dx: Double, dy: Double, dz: Double, qfac: Double) -> Affine {
        var b = qb, c = qc, d = qd
        var a = 1.0 - (b * b + c * c + d * d)
        if a < 1e-7 {
            a = 1.0 / (b * b + c * c + d * d).squareRoot()
            b *= a; c *= a; d *= a
            a = 0
        } else {
            a = a.squareRoot()
        }
        let xd = dx > 0 ? dx : 1, yd = dy > 0 ? dy : 1
        var zd = dz > 0 ? dz : 1
        if qfac < 0 { zd = -zd }
        return Affine([
            (a * a + b * b - c * c - d * d) * xd, 2 * (b * c - a * d) * yd, 2 * (b * d + a * c) * zd, qx,
            2 * (b * c + a * d) * xd, (a * a + c * c - b * b - d * d) * yd, 2 * (c * d - a * b) * zd, qy,
            2 * (b * d - a * c) * xd, 2 * (c * d + a * b) * yd, (a * a + d * d - c * c - b * b) * zd, qz,
            0, 0, 0, 1,
        ])
    }
}

extension Affine {
    /// Why this affine cannot map voxels to millimetres (nil when it can): every element finite, last
    /// row (0, 0, 0, 1), voxel edges between 1e-6 and 1e6 mm, translations within ±1e7 mm, and the
    /// 3×3 part well conditioned enough to invert (|det| ≥ 1e-9 × the product of the column lengths).
    public func validationProblem() -> String? {
        if let n = m.firstIndex(where: { !$0.isFinite }) { return "it holds NaN or infinite values: element [\(n / 4)][\(n % 4)] is \(m[n])" }
        if m[12] != 0 || m[13] != 0 || m[14] != 0 || m[15] != 1 { return "the last row is \(Array(m[12..<16])), not [0, 0, 0, 1]" }
        let (sx, sy, sz) = voxelSizes
        for (axis, s) in [("i", sx), ("j", sy), ("k", sz)] where !(s >= 1e-6 && s <= 1e6) {
            return "the voxel edge along \(axis) is \(s) mm (must be 1e-6...1e6)"
        }
        for r in 0..<3 where !(abs(m[r * 4 + 3]) <= 1e7) {
            return "the translation \(m[r * 4 + 3]) mm is beyond any field of view"
        }
        let det = m[0] * (m[5] * m[10] - m[6] * m[9]) - m[1] * (m[4] * m[10] - m[6] * m[8]) + m[2] * (m[4] * m[9] - m[5] * m[8])
        if !(abs(det) >= 1e-9 * sx * sy * sz) { return "it is singular (the voxel axes are parallel or degenerate, determinant \(det))" }
        if inverse == nil { return "it is singular" }
        return nil
    }
}
