import XCTest
import PETTestSupport
@testable import PETVolumes
import PETTensor

final class StreamingReaderTests: XCTestCase {
    /// Reads `path` by slabs of 1, 2, 3 and D slices (the last slab shorter when the step does not
    /// divide D) and checks shape, geometry, metadata and every value's bits against NIfTIFile.read.
    private func assertSlabsMatchWholeRead(_ path: String, options: NIfTIReadOptions = NIfTIReadOptions(),
                                           file: StaticString = #filePath, line: UInt = #line) throws {
        let whole = try NIfTIFile.read(path, options: options)
        let d = whole.shape[0], slice = whole.shape[1] * whole.shape[2]
        for step in Set([1, 2, 3, d]).sorted() {
            let r = try StreamingNIfTIReader(path: path, options: options)
            XCTAssertEqual(r.shape, whole.shape, "\(path)", file: file, line: line)
            XCTAssertEqual(r.affine, whole.affine, "\(path)", file: file, line: line)
            XCTAssertEqual(r.space, whole.space, "\(path)", file: file, line: line)
            XCTAssertEqual(r.metadata, whole.metadata, "\(path)", file: file, line: line)
            var all = [Float](repeating: -7, count: whole.data.count)
            var slabs = 0
            while r.depthRead < d {
                let n = min(step, d - r.depthRead), at = r.depthRead
                if slabs % 2 == 0 {
                    let s = try r.read(depth: n)
                    XCTAssertEqual(s.count, n * slice, file: file, line: line)
                    all.replaceSubrange((at * slice)..<((at + n) * slice), with: s)
                } else {
                    try all.withUnsafeMutableBufferPointer { try r.read(depth: n, into: $0.baseAddress! + at * slice) }
                }
                XCTAssertEqual(r.depthRead, at + n, file: file, line: line)
                slabs += 1
            }
            XCTAssertEqual(slabs, (d + step - 1) / step, file: file, line: line)
            XCTAssertEqual(all.map(\.bitPattern), whole.data.map(\.bitPattern), "\(path) by slabs of \(step)", file: file, line: line)
            r.close()
        }
    }

    func testOurFilesFloat32NIfTI1And2PlainAndGzipOddShapes() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for shape in [[7, 5, 3], [5, 6, 7], [1, 4, 9]] {
            let v = sampleVolume(shape: shape)
            for (name, format) in [("a.nii.gz", NIfTIWriteOptions.Format.nifti1), ("b.nii", .nifti1), ("c.nii.gz", .nifti2), ("d.nii", .nifti2)] {
                let path = dir + "/\(shape.map(String.init).joined(separator: "x"))-" + name
                try NIfTIFile.write(v, to: path, provenance: ["command": "test", "seed": 5], options: NIfTIWriteOptions(format: format))
                try assertSlabsMatchWholeRead(path)
                let r = try StreamingNIfTIReader(path: path)
                XCTAssertEqual(r.metadata["nifti_version"], format == .nifti1 ? "1" : "2")
                XCTAssertTrue(r.metadata["provenance"]?.contains("\"command\":\"test\"") ?? false, path)
                XCTAssertEqual(try r.read(depth: shape[0]), v.data, path)
            }
        }
        // Streamed out, streamed back.
        let v = sampleVolume(shape: [9, 4, 6])
        let w = try StreamingNIfTIWriter(path: dir + "/s.nii.gz", shape: v.shape, affine: v.affine)
        try w.write(v.data, depth: 9)
        try w.finish()
        try assertSlabsMatchWholeRead(dir + "/s.nii.gz")
    }

    /// nibabel writes every datatype PETGAN reads, with and without scl_slope/scl_inter, NIfTI-1 and
    /// -2, little- and big-endian; values must also equal nibabel's, scaled in double and rounded to float.
    func testNibabelDatatypesScalingAndByteOrder() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (out, _) = try runPython("""
        import nibabel as nib, numpy as np, json
        rng = np.random.default_rng(3)
        res = {}
        def save(name, shape, dtype, lo, hi, slope=None, inter=None, two=False, endian='<'):
            # shape is (x, y, z) = our (W, H, D)
            if np.dtype(dtype).kind == 'f':
                data = rng.uniform(lo, hi, shape).astype(dtype)
            else:
                data = rng.integers(lo, hi, shape, endpoint=True).astype(dtype)
            hdr = (nib.Nifti2Header if two else nib.Nifti1Header)(endianness=endian)
            aff = np.array([[-2.0, 0, 0, 40], [0, 2.5, 0, -50], [0, 0, 3, -20], [0, 0, 0, 1]])
            img = (nib.Nifti2Image if two else nib.Nifti1Image)(data, aff, header=hdr)
            img.header.set_data_dtype(dtype)
            if slope is not None:
                img.header.set_slope_inter(slope, inter)
            img.set_sform(aff, 4); img.set_qform(aff, 1)
            p = '\(dir)/' + name
            nib.save(img, p)
            back = nib.load(p)
            assert back.header.endianness == endian, name
            if slope is None:
                f = np.asarray(back.get_fdata(dtype=np.float64))
            else:   # nibabel scales float32 data in float32; the NIfTI rule as we apply it is in double
                f = np.asarray(back.dataobj.get_unscaled()).astype(np.float64) * slope + inter
            # float32 bits: JSON decimals may not round-trip exactly, and scaled values often sit
            # exactly halfway between two floats
            res[name] = f.transpose(2, 1, 0).ravel().astype(np.float32).view(np.uint32).tolist()
        save('i16_slope.nii.gz', (3, 5, 7), np.int16, -32768, 32767, 0.5, 10.0)
        save('u8.nii', (4, 3, 5), np.uint8, 0, 255)
        save('i8.nii.gz', (3, 4, 5), np.int8, -128, 127)
        save('u16.nii', (5, 3, 4), np.uint16, 0, 65535, 2.0, -1.0)
        save('i32.nii.gz', (3, 3, 7), np.int32, -2**31, 2**31 - 1)
        save('u32.nii', (3, 3, 4), np.uint32, 0, 2**32 - 1)
        save('f64.nii.gz', (3, 5, 7), np.float64, -1e6, 1e6)
        save('f32_slope.nii', (4, 5, 6), np.float32, -3, 3, 1.5, 0.25)
        save('f64_n2.nii', (5, 3, 4), np.float64, -10, 10, two=True)
        save('i16_n2.nii.gz', (3, 5, 7), np.int16, -1000, 1000, 0.25, 3.0, two=True)
        save('be_i16_slope.nii', (3, 5, 7), np.int16, -32768, 32767, 0.5, 10.0, endian='>')
        save('be_f32_n2.nii.gz', (4, 3, 5), np.float32, -5, 5, two=True, endian='>')
        save('be_f64.nii.gz', (3, 4, 5), np.float64, -1e3, 1e3, endian='>')
        save('be_u16.nii', (5, 3, 4), np.uint16, 0, 65535, endian='>')
        print(json.dumps(res))
        """)
        let j = try jsonObject(out)
        XCTAssertEqual(j.count, 14)
        for (name, any) in j.sorted(by: { $0.key < $1.key }) {
            let path = dir + "/" + name
            try assertSlabsMatchWholeRead(path)
            let expected = (any as! [Int]).map { UInt32($0) }
            let r = try StreamingNIfTIReader(path: path)
            var got: [Float] = []
            while r.depthRead < r.shape[0] { got += try r.read(depth: min(2, r.shape[0] - r.depthRead)) }
            XCTAssertEqual(got.map(\.bitPattern), expected, name)
            XCTAssertEqual(r.space, .mni, name)
        }
    }

    func testNonFinitePolicies() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var v = sampleVolume(shape: [7, 5, 3])
        let slice = 15
        v.data[4 * slice + 2] = .nan; v.data[5 * slice + 1] = -.infinity; v.data[6 * slice] = .infinity
        for name in ["nan.nii", "nan.nii.gz"] {
            let p = dir + "/" + name
            try NIfTIFile.write(v, to: p)
            for policy in [NonFinitePolicy.zero, .warn, .keep] {
                try assertSlabsMatchWholeRead(p, options: NIfTIReadOptions(nonFinite: policy))
            }
            let zero = try StreamingNIfTIReader(path: p, options: NIfTIReadOptions(nonFinite: .zero)).read(depth: 7)
            XCTAssertEqual(zero[4 * slice + 2], 0); XCTAssertEqual(zero[6 * slice], 0); XCTAssertEqual(zero[3], v.data[3])
            let keep = try StreamingNIfTIReader(path: p, options: NIfTIReadOptions(nonFinite: .keep)).read(depth: 7)
            XCTAssertEqual(keep.map(\.bitPattern), v.data.map(\.bitPattern))
            // .refuse: slabs before the first bad voxel are delivered; the slab holding it throws
            // with that slab's count, and the reader is closed.
            let r = try StreamingNIfTIReader(path: p)
            XCTAssertEqual(try r.read(depth: 2), Array(v.data[0..<(2 * slice)]))
            XCTAssertEqual(try r.read(depth: 2), Array(v.data[(2 * slice)..<(4 * slice)]))
            XCTAssertThrowsError(try r.read(depth: 2)) { XCTAssertEqual($0 as? NIfTIError, .nonFiniteVoxels(path: p, count: 2)) }
            XCTAssertEqual(r.depthRead, 4)
            XCTAssertThrowsError(try r.read(depth: 1)) { e in
                guard case NIfTIError.badRequest(p, let reason) = e else { return XCTFail("\(e)") }
                XCTAssertTrue(reason.contains("closed"), reason)
            }
            // The whole volume as one slab counts them all, as NIfTIFile.read does.
            XCTAssertThrowsError(try StreamingNIfTIReader(path: p).read(depth: 7)) {
                XCTAssertEqual($0 as? NIfTIError, .nonFiniteVoxels(path: p, count: 3))
            }
            XCTAssertThrowsError(try NIfTIFile.read(p)) { XCTAssertEqual($0 as? NIfTIError, .nonFiniteVoxels(path: p, count: 3)) }
        }
    }

    func testBadRequestsAreTypedErrorsNamingTheFile() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = sampleVolume(shape: [7, 5, 3])
        let p = dir + "/x.nii.gz"
        try NIfTIFile.write(v, to: p)
        let r = try StreamingNIfTIReader(path: p)
        for bad in [0, -1, 8] {
            XCTAssertThrowsError(try r.read(depth: bad)) { e in
                guard case NIfTIError.badRequest(p, _) = e else { return XCTFail("\(e)") }
                XCTAssertTrue("\(e)".hasPrefix(p), "\(e)")
            }
        }
        // A refused request consumes nothing.
        XCTAssertEqual(r.depthRead, 0)
        XCTAssertEqual(try r.read(depth: 3) + r.read(depth: 4), v.data)
        XCTAssertThrowsError(try r.read(depth: 1)) { e in
            guard case NIfTIError.badRequest(p, let reason) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(reason.contains("passes the volume depth 7"), reason)
        }
        r.close()
        XCTAssertThrowsError(try r.read(depth: 1)) { guard case NIfTIError.badRequest = $0 else { return XCTFail("\($0)") } }
        XCTAssertThrowsError(try StreamingNIfTIReader(path: dir + "/absent.nii")) { XCTAssertEqual($0 as? NIfTIError, .fileNotFound(path: dir + "/absent.nii")) }
        XCTAssertThrowsError(try StreamingNIfTIReader(path: p, options: NIfTIReadOptions(maxVoxels: 10))) {
            guard case NIfTIError.tooLarge(p, _) = $0 else { return XCTFail("\($0)") }
        }
    }

    func testTruncatedFilesThrowTruncated() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = sampleVolume(shape: [20, 20, 20])   // random values: gzip cannot shrink them much
        try NIfTIFile.write(v, to: dir + "/full.nii.gz", options: NIfTIWriteOptions(sidecar: false))
        let gz = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/full.nii.gz")))
        let p = dir + "/half.nii.gz"
        try Data(gz.prefix(gz.count / 2)).write(to: URL(fileURLWithPath: p))
        // The header is intact: the reader opens, delivers the slabs that are there, then throws.
        let r = try StreamingNIfTIReader(path: p)
        var delivered: [Float] = []
        var failure: Error?
        while r.depthRead < 20 {
            do { delivered += try r.read(depth: 4) } catch { failure = error; break }
        }
        guard case NIfTIError.truncated(p, let detail)? = failure else { return XCTFail("expected truncated, got \(String(describing: failure))") }
        XCTAssertTrue(detail.contains("depth slices"), detail)
        XCTAssertGreaterThan(r.depthRead, 0); XCTAssertLessThan(r.depthRead, 20)
        XCTAssertEqual(delivered, Array(v.data[0..<delivered.count]))
        // An uncompressed file short of its voxels is refused when opened (its size is known).
        try NIfTIFile.write(v, to: dir + "/full.nii", options: NIfTIWriteOptions(sidecar: false))
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/full.nii")))
        try Data(raw.prefix(raw.count - 10)).write(to: URL(fileURLWithPath: dir + "/short.nii"))
        XCTAssertThrowsError(try StreamingNIfTIReader(path: dir + "/short.nii")) {
            guard case NIfTIError.truncated(dir + "/short.nii", _) = $0 else { return XCTFail("\($0)") }
        }
    }
}
