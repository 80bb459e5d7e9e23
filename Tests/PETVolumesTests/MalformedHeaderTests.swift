import XCTest
import PETTestSupport
@testable import PETVolumes
import PETTensor

/// A JSON object printed (pretty) on stdout.
func wholeJSON(_ text: String) throws -> [String: Any] {
    guard let o = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { throw NSError(domain: "petgan.tests", code: 3) }
    return o
}

/// Every numeric header field, in turn NaN, ±inf, 0, negative and huge, through the real `petgan
/// inspect` and `petgan prepare` (NIfTI-1 and -2 with sform or qform geometry, Analyze 7.5): one
/// error line naming the file (exit 1) or success (exit 0, with a new named warning whenever a
/// reported number differs from the intact file's, unless the field legitimately carries values or
/// geometry); never a signal.
final class MalformedHeaderTests: XCTestCase {
    enum Kind { case i8, u8, i16, i32, i64, f32, f64 }
    struct Field { var name: String; var offset: Int; var kind: Kind }

    static func nifti1Fields() -> [Field] {
        var f: [Field] = [Field(name: "sizeof_hdr", offset: 0, kind: .i32), Field(name: "extents", offset: 32, kind: .i32),
                          Field(name: "session_error", offset: 36, kind: .i16), Field(name: "regular", offset: 38, kind: .u8),
                          Field(name: "dim_info", offset: 39, kind: .u8)]
        for d in 0..<8 { f.append(Field(name: "dim[\(d)]", offset: 40 + 2 * d, kind: .i16)) }
        for n in 0..<3 { f.append(Field(name: "intent_p\(n + 1)", offset: 56 + 4 * n, kind: .f32)) }
        f += [Field(name: "intent_code", offset: 68, kind: .i16), Field(name: "datatype", offset: 70, kind: .i16),
              Field(name: "bitpix", offset: 72, kind: .i16), Field(name: "slice_start", offset: 74, kind: .i16)]
        for d in 0..<8 { f.append(Field(name: "pixdim[\(d)]", offset: 76 + 4 * d, kind: .f32)) }
        f += [Field(name: "vox_offset", offset: 108, kind: .f32), Field(name: "scl_slope", offset: 112, kind: .f32),
              Field(name: "scl_inter", offset: 116, kind: .f32), Field(name: "slice_end", offset: 120, kind: .i16),
              Field(name: "slice_code", offset: 122, kind: .u8), Field(name: "xyzt_units", offset: 123, kind: .u8),
              Field(name: "cal_max", offset: 124, kind: .f32), Field(name: "cal_min", offset: 128, kind: .f32),
              Field(name: "slice_duration", offset: 132, kind: .f32), Field(name: "toffset", offset: 136, kind: .f32),
              Field(name: "glmax", offset: 140, kind: .i32), Field(name: "glmin", offset: 144, kind: .i32),
              Field(name: "qform_code", offset: 252, kind: .i16), Field(name: "sform_code", offset: 254, kind: .i16)]
        for (n, name) in ["quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z"].enumerated() {
            f.append(Field(name: name, offset: 256 + 4 * n, kind: .f32))
        }
        for (r, row) in ["srow_x", "srow_y", "srow_z"].enumerated() { for c in 0..<4 { f.append(Field(name: "\(row)[\(c)]", offset: 280 + 16 * r + 4 * c, kind: .f32)) } }
        return f
    }

    static func nifti2Fields() -> [Field] {
        var f: [Field] = [Field(name: "sizeof_hdr", offset: 0, kind: .i32), Field(name: "datatype", offset: 12, kind: .i16),
                          Field(name: "bitpix", offset: 14, kind: .i16)]
        for d in 0..<8 { f.append(Field(name: "dim[\(d)]", offset: 16 + 8 * d, kind: .i64)) }
        for n in 0..<3 { f.append(Field(name: "intent_p\(n + 1)", offset: 80 + 8 * n, kind: .f64)) }
        for d in 0..<8 { f.append(Field(name: "pixdim[\(d)]", offset: 104 + 8 * d, kind: .f64)) }
        f += [Field(name: "vox_offset", offset: 168, kind: .i64), Field(name: "scl_slope", offset: 176, kind: .f64),
              Field(name: "scl_inter", offset: 184, kind: .f64), Field(name: "cal_max", offset: 192, kind: .f64),
              Field(name: "cal_min", offset: 200, kind: .f64), Field(name: "slice_duration", offset: 208, kind: .f64),
              Field(name: "toffset", offset: 216, kind: .f64), Field(name: "slice_start", offset: 224, kind: .i64),
              Field(name: "slice_end", offset: 232, kind: .i64), Field(name: "qform_code", offset: 344, kind: .i32),
              Field(name: "sform_code", offset: 348, kind: .i32)]
        for (n, name) in ["quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z"].enumerated() {
            f.append(Field(name: name, offset: 352 + 8 * n, kind: .f64))
        }
        for (r, row) in ["srow_x", "srow_y", "srow_z"].enumerated() { for c in 0..<4 { f.append(Field(name: "\(row)[\(c)]", offset: 400 + 32 * r + 8 * c, kind: .f64)) } }
        f += [Field(name: "slice_code", offset: 496, kind: .i32), Field(name: "xyzt_units", offset: 500, kind: .i32),
              Field(name: "intent_code", offset: 504, kind: .i32), Field(name: "dim_info", offset: 524, kind: .u8)]
        return f
    }

    /// (label, little-endian bytes) for each malformed value of a field's type.
    static func values(_ k: Kind) -> [(String, [UInt8])] {
        func le<T>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }
        switch k {
        case .i8, .u8: return [("0", [0]), ("-1", [0xFF]), ("-128", [0x80]), ("127", [0x7F])]
        case .i16: return [("0", le(Int16(0))), ("-1", le(Int16(-1))), ("min", le(Int16.min)), ("max", le(Int16.max))]
        case .i32: return [("0", le(Int32(0))), ("-1", le(Int32(-1))), ("min", le(Int32.min)), ("max", le(Int32.max))]
        case .i64: return [("0", le(Int64(0))), ("-1", le(Int64(-1))), ("min", le(Int64.min)), ("max", le(Int64.max))]
        case .f32: return [("nan", le(Float.nan)), ("inf", le(Float.infinity)), ("-inf", le(-Float.infinity)), ("0", le(Float(0))),
                           ("-1", le(Float(-1))), ("-huge", le(Float(-3e38))), ("huge", le(Float(3e38)))]
        case .f64: return [("nan", le(Double.nan)), ("inf", le(Double.infinity)), ("-inf", le(-Double.infinity)), ("0", le(Double(0))),
                           ("-1", le(Double(-1))), ("-huge", le(-1e300)), ("huge", le(1e300))]
        }
    }

    /// Fields whose legitimate values change what is read (values or geometry): a finite change of
    /// them may change the report without a warning.
    static func valueBearing(_ name: String) -> Bool {
        name.hasPrefix("srow") || name.hasPrefix("quatern") || name.hasPrefix("qoffset") || name.hasPrefix("pixdim[1") || name.hasPrefix("pixdim[2")
            || name.hasPrefix("pixdim[3") || name == "pixdim[0]" || name == "scl_slope" || name == "scl_inter" || name.hasSuffix("form_code") || name.hasPrefix("origin")
    }

    /// The numbers `inspect --json` reports, as one comparable list.
    static func reportedNumbers(_ j: [String: Any]) -> [Double] {
        var out: [Double] = []
        for k in ["value_min", "value_max", "value_mean"] { out.append((j[k] as? NSNumber)?.doubleValue ?? .nan) }
        out += ((j["voxel_size_mm"] as? [NSNumber]) ?? []).map(\.doubleValue)
        out += ((j["affine"] as? [[NSNumber]]) ?? []).flatMap { $0.map(\.doubleValue) }
        out += ((j["shape_xyz"] as? [NSNumber]) ?? []).map(\.doubleValue)
        return out
    }

    func testEveryNumericHeaderFieldMalformedNeverTrapsInspectOrPrepare() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = sampleVolume()   // 7×6×5, values 0...100, LAS affine
        var cases = 0, errors = 0, warned = 0
        var failures: [String] = []
        // Intact bases: NIfTI-1 and -2 with the geometry from the sform, and from the qform
        // (sform_code 0); an Analyze 7.5 .hdr/.img pair (orientation by nibabel's convention).
        var bases: [(name: String, fields: [Field], bytes: [UInt8], analyze: Bool)] = []
        for version in [1, 2] {
            let basePath = dir + "/base\(version).nii"
            try NIfTIFile.write(v, to: basePath, options: NIfTIWriteOptions(format: version == 1 ? .nifti1 : .nifti2, sidecar: false))
            let sformBase = [UInt8](try Data(contentsOf: URL(fileURLWithPath: basePath)))
            var qformBase = sformBase
            if version == 1 { qformBase[254] = 0; qformBase[255] = 0 } else { for n in 348..<352 { qformBase[n] = 0 } }
            let fields = version == 1 ? Self.nifti1Fields() : Self.nifti2Fields()
            bases.append(("NIfTI-\(version) sform", fields, sformBase, false))
            bases.append(("NIfTI-\(version) qform", fields, qformBase, false))
            if version == 1 {
                // Analyze: the NIfTI-1 header without magic, transforms or extensions; voxels in the .img from 0.
                var a = Array(sformBase)
                for n in 252..<352 { a[n] = 0 }
                withUnsafeBytes(of: Float(0)) { for n in 0..<4 { a[108 + n] = $0[n] } }
                let analyzeFields = Self.nifti1Fields().filter { $0.offset < 148 }
                    + [Field(name: "orient", offset: 252, kind: .u8)] + (0..<3).map { Field(name: "origin[\($0)]", offset: 253 + 2 * $0, kind: .i16) }
                bases.append(("Analyze 7.5", analyzeFields, Array(a.prefix(348)) + Array(sformBase[352...]), true))
            }
        }
        func write(_ bytes: [UInt8], analyze: Bool, to folder: String) throws -> String {
            if analyze {
                try Data(bytes.prefix(348)).write(to: URL(fileURLWithPath: folder + "/x.hdr"))
                try Data(bytes[348...]).write(to: URL(fileURLWithPath: folder + "/x.img"))
                return folder + "/x.hdr"
            }
            try Data(bytes).write(to: URL(fileURLWithPath: folder + "/x.nii"))
            return folder + "/x.nii"
        }
        /// A warning without its "petgan: warning: FILE: " prefix.
        func message(_ line: String, _ file: String) -> String { line.replacingOccurrences(of: "petgan: warning: \(file): ", with: "") }
        for base in bases {
            do {
                let baseName = base.name, fields = base.fields, analyze = base.analyze
                let intactFolder = dir + "/intact-" + baseName.filter { $0.isLetter || $0.isNumber }
                try FileManager.default.createDirectory(atPath: intactFolder, withIntermediateDirectories: true)
                let intactPath = try write(base.bytes, analyze: base.analyze, to: intactFolder)
                let intact = try runProcess(exe, ["inspect", intactPath, "--json"])
                XCTAssertEqual(intact.status, 0, intact.stderr)
                XCTAssertEqual(intact.warningLines.count, base.analyze ? 1 : 0, "the intact \(baseName) base: \(intact.stderr)")
                let intactWarnings = Set(intact.warningLines.map { message($0, intactPath) })
                let intactNumbers = Self.reportedNumbers(try wholeJSON(intact.stdout))
                XCTAssertTrue(intactNumbers.count == 3 + 3 + 16 + 3 && intactNumbers.allSatisfy(\.isFinite), "\(intactNumbers)")
                let base = base.bytes
                var pending: [(what: String, file: String, folder: String, field: String)] = []
                for field in fields {
                    for (label, bytes) in Self.values(field.kind) {
                        var b = base
                        for (n, x) in bytes.enumerated() { b[field.offset + n] = x }
                        if b == base { continue }   // the value the base already holds
                        cases += 1
                        let tag = "\(baseName.filter { $0.isLetter || $0.isNumber })-\(field.name.filter { $0.isLetter || $0.isNumber || $0 == "_" })-\(label)"
                        let folder = dir + "/" + tag
                        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                        let file = try write(b, analyze: analyze, to: folder)
                        try "file,label\n\((file as NSString).lastPathComponent),AD\n".write(toFile: folder + "/labels.csv", atomically: true, encoding: .utf8)
                        let what = "\(baseName) base, \(field.name) = \(label)"
                        pending.append((what, file, folder, field.name))
                    }
                }
                // Run the binaries four cases at a time (they mostly wait on process start-up), then judge in order.
                let jobs = pending
                let box = ResultBox(count: jobs.count)
                let group = DispatchGroup()
                for worker in 0..<4 {
                    group.enter()
                    DispatchQueue.global().async {
                        defer { group.leave() }
                        for n in stride(from: worker, to: jobs.count, by: 4) {
                            let c = jobs[n]
                            guard let ins = try? runProcess(exe, ["inspect", c.file, "--json"]),
                                  let prep = try? runProcess(exe, ["prepare", "--input", c.folder, "--labels", c.folder + "/labels.csv", "--out", c.folder + "/s.h5",
                                                                   "--shape", "6x6x6", "--voxel-size", "4", "--deflate", "none", "--non-finite", "zero"]) else { continue }
                            box.set(n, (ins, prep))
                        }
                    }
                }
                group.wait()
                let results = box.values
                for (n, c) in pending.enumerated() {
                    let (what, file, folder) = (c.what, c.file, c.folder)
                    guard let (ins, prep) = results[n] else { failures.append("\(what): could not run petgan"); continue }
                    for (cmd, r) in [("inspect", ins), ("prepare", prep)] {
                        if r.signalled || !(r.status == 0 || r.status == 1) {
                            failures.append("\(what): petgan \(cmd) ended with \(r.signalled ? "signal" : "status") \(r.status): \(r.stderr.suffix(300))")
                            continue
                        }
                        if r.status == 1 {
                            if r.errorLines.count != 1 || !r.errorLines[0].contains(file) {
                                failures.append("\(what): petgan \(cmd) exit 1 needs exactly one 'petgan: error:' line naming \(file), got: \(r.stderr)")
                            }
                            if cmd == "prepare" && FileManager.default.fileExists(atPath: folder + "/s.h5") {
                                failures.append("\(what): prepare failed but left \(folder)/s.h5")
                            }
                        } else if !r.errorLines.isEmpty {
                            failures.append("\(what): petgan \(cmd) exit 0 printed an error: \(r.stderr)")
                        }
                    }
                    // inspect and prepare read the header alike: a header one refuses, the other refuses too
                    // (prepare may also refuse usable headers for its own reasons, e.g. values it cannot normalize).
                    if ins.status == 1 && prep.status != 1 && !prep.signalled {
                        failures.append("\(what): inspect exit \(ins.status) but prepare exit \(prep.status): \(ins.stderr) | \(prep.stderr)")
                    }
                    if ins.status == 1 { errors += 1; continue }
                    guard ins.status == 0, let j = try? wholeJSON(ins.stdout) else { continue }
                    let numbers = Self.reportedNumbers(j)
                    if !numbers.allSatisfy(\.isFinite) || numbers.count != intactNumbers.count {
                        failures.append("\(what): inspect reported non-finite or missing numbers \(numbers)")
                    }
                    let newWarnings = ins.warningLines.filter { !intactWarnings.contains(message($0, file)) }
                    if !newWarnings.isEmpty {
                        warned += 1
                        if !ins.warningLines.allSatisfy({ $0.contains(file) }) { failures.append("\(what): a warning does not name the file: \(ins.stderr)") }
                    } else if numbers != intactNumbers && !Self.valueBearing(c.field) {
                        failures.append("\(what): the report changed without a warning: \(numbers) vs \(intactNumbers)")
                    }
                }
            }
        }
        print("MalformedHeaderTests: \(cases) malformed headers, \(errors) refused, \(warned) accepted with a new warning, \(cases - errors - warned) accepted unchanged")
        XCTAssertTrue(failures.isEmpty, "\(failures.count) of \(cases) cases:\n" + failures.prefix(40).joined(separator: "\n"))
        // The table really exercised both outcomes (not everything refused, not everything accepted).
        XCTAssertGreaterThan(cases, 400)
        XCTAssertGreaterThan(errors, 100); XCTAssertGreaterThan(warned, 50); XCTAssertGreaterThan(cases - errors - warned, 20)
    }

    /// The findings of issue 13 by name: each gets the outcome the policy gives it.
    func testNamedFindingsThroughTheBinary() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try NIfTIFile.write(sampleVolume(), to: dir + "/b1.nii", options: NIfTIWriteOptions(sidecar: false))
        try NIfTIFile.write(sampleVolume(), to: dir + "/b2.nii", options: NIfTIWriteOptions(format: .nifti2, sidecar: false))
        let b1 = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/b1.nii")))
        let b2 = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/b2.nii")))
        func f32(_ b: inout [UInt8], _ o: Int, _ v: Float) { withUnsafeBytes(of: v) { for n in 0..<4 { b[o + n] = $0[n] } } }
        func i64(_ b: inout [UInt8], _ o: Int, _ v: Int64) { withUnsafeBytes(of: v) { for n in 0..<8 { b[o + n] = $0[n] } } }
        func expect(_ name: String, _ bytes: [UInt8], status: Int32, message: String) throws {
            let p = dir + "/" + name
            try Data(bytes).write(to: URL(fileURLWithPath: p))
            let r = try runProcess(exe, ["inspect", p])
            XCTAssertFalse(r.signalled, "\(name): \(r.stderr)")
            XCTAssertEqual(r.status, status, "\(name): \(r.stderr)")
            let lines = status == 1 ? r.errorLines : r.warningLines
            XCTAssertEqual(lines.filter { $0.contains(p) && $0.contains(message) }.count, 1, "\(name): expected one line with '\(message)': \(r.stderr)")
            if status == 1 { XCTAssertEqual(r.errorLines.count, 1, r.stderr) }
        }
        var b = b1; f32(&b, 108, .nan)
        try expect("voxnan.nii", b, status: 1, message: "vox_offset = NaN")
        b = b1; f32(&b, 108, .infinity)
        try expect("voxinf.nii", b, status: 1, message: "vox_offset = inf")
        b = b1; f32(&b, 108, 3e38)
        try expect("voxhuge.nii", b, status: 1, message: "vox_offset")
        b = b1; f32(&b, 108, -352)
        try expect("voxneg.nii", b, status: 1, message: "vox_offset = -352 is negative")
        b = b1; f32(&b, 108, 352.5)
        try expect("voxfrac.nii", b, status: 1, message: "not a whole number")
        b = b2; i64(&b, 168, Int64.max - 10)
        try expect("n2over.nii", b, status: 1, message: "vox_offset")
        b = b2; i64(&b, 168, (1 << 49)); i64(&b, 24, 1 << 20); i64(&b, 32, 1 << 20); i64(&b, 40, 1 << 3)
        try expect("n2cap.nii", b, status: 1, message: "exceed the cap")
        b = b1; f32(&b, 112, .infinity)
        try expect("sclinf.nii", b, status: 0, message: "scl_slope = inf is not a valid scale")
        b = b1; f32(&b, 80, .nan)
        try expect("pixnan-sform.nii", b, status: 0, message: "pixdim[1] = NaN (not used: the sform gives the geometry)")
        b = b1; b[254] = 0; f32(&b, 80, .nan)
        try expect("pixnan-qform.nii", b, status: 1, message: "pixdim[1] = NaN")
        b = b1; b[254] = 0; f32(&b, 84, 0)
        try expect("pix0-qform.nii", b, status: 1, message: "pixdim[2] = 0")
        b = b1; f32(&b, 280, .nan)
        try expect("srownan.nii", b, status: 1, message: "srow_x[0] = NaN")
        b = b1; f32(&b, 280, 1e-30); f32(&b, 296 + 4, 1e-30)
        try expect("srowtiny.nii", b, status: 1, message: "voxel edge")
    }

    /// Unit level: the parser's decisions, one field at a time, on the bytes of a good header.
    func testHeaderValidationUnit() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var v2 = sampleVolume(shape: [1, 6, 5])   // 5×6×1: axis 3 has size 1
        v2.data = v2.data.map { $0 + 1 }
        try NIfTIFile.write(v2, to: dir + "/flat.nii", options: NIfTIWriteOptions(sidecar: false))
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/flat.nii")))
        func parse(_ b: [UInt8]) throws -> NIfTIHeaderInfo {
            try NIfTIHeaderParser.parse(b, format: .nifti1, path: "h.nii", dataFileSize: b.count, maxVoxels: 1 << 20)
        }
        func f32(_ b: inout [UInt8], _ o: Int, _ v: Float) { withUnsafeBytes(of: v) { for n in 0..<4 { b[o + n] = $0[n] } } }
        func invalid(_ b: [UInt8], _ text: String, line: UInt = #line) {
            XCTAssertThrowsError(try parse(b), line: line) { e in
                guard case NIfTIError.invalidHeader(let p, let d) = e else { return XCTFail("\(e)", line: line) }
                XCTAssertEqual(p, "h.nii", line: line); XCTAssertTrue(d.contains(text), d, line: line)
            }
        }
        let h = try parse(good)
        XCTAssertEqual(h.warnings, []); XCTAssertEqual(h.affineSource, .sform)
        XCTAssertEqual(h.arrayShape, [1, 6, 5]); XCTAssertEqual(h.frames, 1)
        XCTAssertLessThan(h.affine.maxAbsDifference(v2.affine), 1e-5)

        // qform geometry: pixdim 0 on the axis of size 1 is usable (warning), on a used axis not.
        var q = good; q[254] = 0; q[255] = 0
        let hq = try parse(q)
        XCTAssertEqual(hq.affineSource, .qform)
        XCTAssertLessThan(hq.affine.maxAbsDifference(v2.affine), 1e-4)
        var q3 = q; f32(&q3, 88, 0)
        let hq3 = try parse(q3)
        XCTAssertTrue(hq3.warnings.contains { $0.contains("pixdim[3] = 0 on an axis of size 1; taken as 1 mm") }, "\(hq3.warnings)")
        XCTAssertEqual(hq3.affine.voxelSizes.2, 1, accuracy: 1e-9)
        var q1 = q; f32(&q1, 80, 0); invalid(q1, "pixdim[1] = 0")
        var qn = q; f32(&qn, 256, .nan); invalid(qn, "quatern_b = NaN")
        var qb = q; f32(&qb, 256, 0.9); f32(&qb, 260, 0.9); invalid(qb, "b²+c²+d²")
        var qf = q; f32(&qf, 76, 3); invalid(qf, "qfac")
        var q0 = q; f32(&q0, 76, 0)
        XCTAssertTrue(try parse(q0).warnings.contains { $0.contains("qfac) is 0; taken as 1") })
        // sform: NaN, singular, huge translation.
        var s = good; f32(&s, 284, .nan); invalid(s, "srow_x[1] = NaN")
        var sg = good; for o in [296, 300, 304] { f32(&sg, o, 0) }; invalid(sg, "voxel edge along j")   // srow_y zero: the j column vanishes
        var st = good; f32(&st, 292, 1e30); invalid(st, "translation")
        // An unused qform that is broken: the sform still gives the geometry, with a warning.
        var su = good; f32(&su, 268, .infinity)
        XCTAssertTrue(try parse(su).warnings.contains { $0.contains("the qform is unusable (the affine holds NaN or infinite values: qoffset_x = inf") })
        // Transform codes outside 0...5 are ignored with a warning (here: the qform then gives the geometry).
        var sc = good; sc[254] = 9
        let hsc = try parse(sc)
        XCTAssertEqual(hsc.affineSource, .qform); XCTAssertTrue(hsc.warnings.contains { $0.contains("sform_code = 9") })
        // No transform at all: pixdim diagonal, with a warning saying so.
        var none = good; none[252] = 0; none[253] = 0; none[254] = 0; none[255] = 0
        let hn = try parse(none)
        XCTAssertEqual(hn.affineSource, .pixdim); XCTAssertTrue(hn.warnings.contains { $0.contains("sform_code and qform_code are 0") })
        // vox_offset.
        for (x, text) in [(Float.nan, "NaN"), (.infinity, "inf"), (-.infinity, "-inf"), (-16, "negative"), (352.25, "whole number"), (3e38, "beyond"), (0, "inside the header")] {
            var o = good; f32(&o, 108, x); invalid(o, text)
        }
        var far = good; f32(&far, 108, 1_048_576)
        XCTAssertThrowsError(try parse(far)) { guard case NIfTIError.truncated = $0 else { return XCTFail("\($0)") } }
        // Scaling: invalid slopes read unscaled with a warning; a valid slope with a non-finite intercept is refused.
        for x in [Float.nan, .infinity, -.infinity] {
            var sl = good; f32(&sl, 112, x); f32(&sl, 116, 5)
            let hs = try parse(sl)
            XCTAssertEqual(hs.slope, 0); XCTAssertEqual(hs.inter, 0)
            XCTAssertTrue(hs.warnings.contains { $0.contains("scl_slope") && $0.contains("unscaled") }, "\(hs.warnings)")
        }
        var si = good; f32(&si, 112, 2); f32(&si, 116, .nan); invalid(si, "scl_inter = NaN")
        var ok = good; f32(&ok, 112, 2); f32(&ok, 116, -3)
        XCTAssertEqual(try parse(ok).slope, 2); XCTAssertEqual(try parse(ok).inter, -3)
        // Fields PETGAN does not use: named warnings.
        for (o, name) in [(124, "cal_min/cal_max"), (136, "toffset"), (56, "intent_p1"), (132, "slice_duration")] {
            var w = good; f32(&w, o, .nan)
            XCTAssertTrue(try parse(w).warnings.contains { $0.contains(name) }, name)
        }
        var bp = good; bp[72] = 0; bp[73] = 0
        XCTAssertTrue(try parse(bp).warnings.contains { $0.contains("bitpix is 0") })
        var bpx = good; bpx[72] = 16
        XCTAssertThrowsError(try parse(bpx)) { guard case NIfTIError.badMagic(_, let d) = $0, d.contains("bitpix 16") else { return XCTFail("\($0)") } }
        // NIfTI-2: overflow-checked sizes (no cap): voxel count, then count × bytes + offset.
        try NIfTIFile.write(sampleVolume(), to: dir + "/n2.nii", options: NIfTIWriteOptions(format: .nifti2, sidecar: false))
        var n2 = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/n2.nii")))
        func i64(_ o: Int, _ v: Int64) { withUnsafeBytes(of: v) { for n in 0..<8 { n2[o + n] = $0[n] } } }
        func parse2() throws -> NIfTIHeaderInfo { try NIfTIHeaderParser.parse(n2, format: .nifti2, path: "h2.nii", dataFileSize: nil, maxVoxels: Int.max) }
        i64(24, 1 << 31); i64(32, 1 << 31); i64(40, 1 << 2)
        XCTAssertThrowsError(try parse2()) { guard case NIfTIError.tooLarge(_, let d) = $0, d.contains("voxel count") else { return XCTFail("\($0)") } }
        i64(24, 1 << 30); i64(32, 1 << 30)
        XCTAssertThrowsError(try parse2()) { guard case NIfTIError.tooLarge(_, let d) = $0, d.contains("file offset") else { return XCTFail("\($0)") } }
        i64(24, 7); i64(32, 6); i64(40, 5); i64(168, -1)
        XCTAssertThrowsError(try parse2()) { guard case NIfTIError.invalidHeader(_, let d) = $0, d.contains("negative") else { return XCTFail("\($0)") } }
        i64(168, 544)
        XCTAssertEqual(try parse2().voxelCount, 210)
    }

    /// Affine checks used by NIfTI, resampling and evaluation.
    func testAffineValidationProblem() {
        XCTAssertNil(Affine.identity.validationProblem())
        XCTAssertNil(Affine([0, 0, -2, 50, -2, 0, 0, 60, 0, 2, 0, -40, 0, 0, 0, 1]).validationProblem())
        var a = Affine.scaling(2, 2, 2); a[0, 3] = .nan
        XCTAssertTrue(a.validationProblem()?.contains("nan") == true)
        a = Affine.scaling(2, 2, 2); a[1, 1] = 1e300
        XCTAssertNotNil(a.validationProblem())
        a = Affine.scaling(2, 2, 2); a[2, 3] = 1e12
        XCTAssertTrue(a.validationProblem()?.contains("translation") == true)
        a = Affine([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
        XCTAssertTrue(a.validationProblem()?.contains("singular") == true)
        a = Affine.scaling(2, 2, 2); a[3, 0] = 1
        XCTAssertTrue(a.validationProblem()?.contains("last row") == true)
        // Resampling refuses a bad source affine instead of trapping in Int(_:).
        var v = sampleVolume(); v.affine[0, 0] = .nan
        XCTAssertThrowsError(try Resample.toGrid(v, grid: VolumeGrid(shape: [4, 4, 4], affine: .scaling(2, 2, 2)), interpolation: .nearest))
    }
}

/// Results of the concurrently run binaries, one slot per case, filled under a lock.
private final class ResultBox: @unchecked Sendable {
    private var slots: [(ProcessResult, ProcessResult)?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: (ProcessResult, ProcessResult)) { lock.withLock { slots[i] = r } }
    var values: [(ProcessResult, ProcessResult)?] { lock.withLock { slots } }
}
