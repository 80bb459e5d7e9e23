import XCTest
import PETTestSupport
@testable import PETVolumes
import PETTensor

/// A small volume with distinct values and an oblique-free, non-trivial affine.
func sampleVolume(shape: [Int] = [5, 6, 7], affine: Affine = Affine([-2, 0, 0, 90, 0, 2.5, 0, -126, 0, 0, 3, -72, 0, 0, 0, 1])) -> Volume {
    var rng = PETRandom(seed: 7)
    let n = shape.reduce(1, *)
    let data = (0..<n).map { _ in Float(rng.uniform(0, 100)) }
    return Volume(shape: shape, data: data, affine: affine, space: .scanner)
}

final class NIfTITests: XCTestCase {
    func testRoundTripAllFormats() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = sampleVolume()
        for (name, format) in [("a.nii.gz", NIfTIWriteOptions.Format.nifti1), ("b.nii", .nifti1), ("c.nii.gz", .nifti2), ("d.nii", .nifti2)] {
            let path = dir + "/" + name
            try NIfTIFile.write(v, to: path, provenance: ["command": "test", "seed": 3], options: NIfTIWriteOptions(format: format))
            let r = try NIfTIFile.read(path)
            XCTAssertEqual(r.shape, [5, 6, 7], name)
            XCTAssertEqual(r.data, v.data, name)
            XCTAssertLessThan(r.affine.maxAbsDifference(v.affine), 1e-4, name)
            XCTAssertEqual(r.affine.orientationCodes, "LAS")
            XCTAssertEqual(r.metadata["nifti_version"], format == .nifti1 ? "1" : "2")
            let prov = try JSONSerialization.jsonObject(with: Data(r.metadata["provenance"]!.utf8)) as! [String: Any]
            XCTAssertEqual(prov["command"] as? String, "test"); XCTAssertEqual(prov["seed"] as? Int, 3)
            XCTAssertEqual(prov["petgan_version"] as? String, PETGANVersion.string)
            let side = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: NIfTIFile.sidecarPath(path)))) as! [String: Any]
            XCTAssertEqual(side["command"] as? String, "test")
            XCTAssertTrue(r.metadata["descrip"]!.hasPrefix("PETGAN"))
        }
        // Nothing but the outputs and their sidecars.
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)),
                       ["a.nii.gz", "a.json", "b.nii", "b.json", "c.nii.gz", "c.json", "d.nii", "d.json"])
    }

    func testMNISpaceCodeAndVoxelAccess() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var v = sampleVolume(affine: .scaling(2, 2, 2, origin: (-90, -126, -72)))
        v.space = .mni
        v[1, 2, 3] = 1234
        XCTAssertEqual(v.data[(3 * 6 + 2) * 7 + 1], 1234, "voxel (i,j,k) is data[(k*H + j)*W + i]")
        try NIfTIFile.write(v, to: dir + "/m.nii.gz")
        let r = try NIfTIFile.read(dir + "/m.nii.gz")
        XCTAssertEqual(r.space, .mni); XCTAssertEqual(r[1, 2, 3], 1234)
        XCTAssertEqual(r.gridShape.description, "7x6x5")
    }

    func testNibabelReadsWhatWeWrite() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = sampleVolume()
        for name in ["w1.nii.gz", "w2.nii"] {
            let path = dir + "/" + name
            try NIfTIFile.write(v, to: path, provenance: ["command": "interop"],
                                options: NIfTIWriteOptions(format: name == "w1.nii.gz" ? .nifti1 : .nifti2))
            let (out, err) = try runPython("""
            import warnings, json
            warnings.simplefilter('always')
            with warnings.catch_warnings(record=True) as caught:
                import nibabel as nib, numpy as np
                img = nib.load('\(path)')
                d = np.asarray(img.dataobj)
                h = img.header
                res = {'shape': list(d.shape), 'dtype': str(d.dtype),
                  'v123': float(d[1, 2, 3]), 'sum': float(d.astype(np.float64).sum()),
                  'affine': img.affine.tolist(), 'sform': h.get_sform().tolist(), 'qform': h.get_qform().tolist(),
                  'codes': list(nib.aff2axcodes(img.affine)), 'sform_code': int(h['sform_code']), 'qform_code': int(h['qform_code']),
                  'units': list(h.get_xyzt_units()), 'cal': [float(h['cal_min']), float(h['cal_max'])],
                  'descrip': h['descrip'].tobytes().rstrip(b'\\x00').decode(),
                  'ext': [[int(e.get_code()), e.get_content().decode('utf-8', 'replace')] for e in h.extensions],
                  'zooms': [float(z) for z in h.get_zooms()], 'cls': type(img).__name__}
            res['warnings'] = [str(w.message) for w in caught]
            print(json.dumps(res))
            """)
            let j = try jsonObject(out)
            XCTAssertEqual(j["warnings"] as? [String], [], "nibabel warned: \(j["warnings"] ?? "") \(err)")
            XCTAssertEqual(j["shape"] as? [Int], [7, 6, 5], "nibabel shape is (x, y, z)")
            XCTAssertEqual(j["dtype"] as? String, "float32")
            XCTAssertEqual(j["v123"] as? Double, Double(v[1, 2, 3]))
            XCTAssertEqual(j["sum"] as! Double, v.data.reduce(0.0) { $0 + Double($1) }, accuracy: 1e-3)
            for key in ["affine", "sform", "qform"] {
                let a = Affine(rows: j[key] as! [[Double]])
                XCTAssertLessThan(a.maxAbsDifference(v.affine), 1e-4, "\(name) \(key): \(a)")
            }
            XCTAssertEqual(j["codes"] as? [String], ["L", "A", "S"])
            XCTAssertEqual(j["sform_code"] as? Int, 1); XCTAssertEqual(j["qform_code"] as? Int, 1)
            XCTAssertEqual((j["units"] as? [String])?.first, "mm")
            let (lo, hi) = v.finiteRange
            XCTAssertEqual((j["cal"] as? [Double])?.map(Float.init), [lo, hi])
            XCTAssertTrue((j["descrip"] as! String).contains("command=interop"))
            let ext = j["ext"] as! [[Any]]
            XCTAssertEqual(ext.count, 1); XCTAssertEqual(ext.first?[0] as? Int, 6)
            XCTAssertTrue((ext.first?[1] as? String ?? "").contains("\"command\":\"interop\""))
            XCTAssertEqual(j["zooms"] as? [Double], [2, 2.5, 3])
            XCTAssertEqual(j["cls"] as? String, name == "w1.nii.gz" ? "Nifti1Image" : "Nifti2Image")
        }
    }

    func testWeReadNibabelFilesWithSameWorldCoordinates() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // LAS int16 with scaling, RAS uint8, int32 oblique (PSL-ish permuted), float64 NIfTI-2.
        let (out, _) = try runPython("""
        import nibabel as nib, numpy as np, json
        rng = np.random.default_rng(0)
        res = {}
        def save(name, data, aff, dtype, slope=None, inter=None, two=False):
            cls = nib.Nifti2Image if two else nib.Nifti1Image
            img = cls(data.astype(dtype), aff)
            img.header.set_data_dtype(dtype)
            if slope is not None:
                img.header.set_slope_inter(slope, inter)
            img.set_sform(aff, 1); img.set_qform(aff, 1)
            p = '\(dir)/' + name
            nib.save(img, p)
            back = nib.load(p)
            f = np.asarray(back.get_fdata(dtype=np.float64))
            pts = [(0, 0, 0), (1, 2, 3), (f.shape[0]-1, f.shape[1]-1, f.shape[2]-1)]
            res[name] = {'affine': back.affine.tolist(), 'codes': ''.join(nib.aff2axcodes(back.affine)),
              'points': [[list(map(float, nib.affines.apply_affine(back.affine, p))), float(f[p])] for p in pts],
              'sum': float(f.sum()), 'shape': list(f.shape)}
        las = np.diag([-2.0, 2.0, 2.0, 1.0]); las[:3, 3] = [80, -110, -60]
        save('las_int16.nii.gz', rng.integers(-300, 3000, (9, 10, 11)), las, np.int16, 0.5, 10.0)
        ras = np.diag([1.5, 1.5, 1.5, 1.0]); ras[:3, 3] = [-30, -40, -20]
        save('ras_uint8.nii', rng.integers(0, 255, (6, 7, 8)), ras, np.uint8)
        obl = np.array([[0, 0, -2.0, 50], [-2.0, 0, 0, 60], [0, 2.0, 0, -40], [0, 0, 0, 1]])
        save('psl_int32.nii.gz', rng.integers(-100000, 100000, (5, 6, 7)), obl, np.int32)
        save('ras_f64_n2.nii', rng.normal(size=(4, 5, 6)), ras, np.float64, two=True)
        print(json.dumps(res))
        """)
        let j = try jsonObject(out)
        XCTAssertEqual(j.count, 4)
        for (name, any) in j {
            let e = any as! [String: Any]
            let v = try NIfTIFile.read(dir + "/" + name)
            let shape = e["shape"] as! [Int]
            XCTAssertEqual(v.gridShape, GridShape(nx: shape[0], ny: shape[1], nz: shape[2]), name)
            XCTAssertLessThan(v.affine.maxAbsDifference(Affine(rows: e["affine"] as! [[Double]])), 1e-5, name)
            XCTAssertEqual(v.affine.orientationCodes, e["codes"] as? String, name)
            let sum = v.data.reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(sum, e["sum"] as! Double, accuracy: max(1e-3, abs(e["sum"] as! Double) * 1e-6), name)
            let pts = [(0, 0, 0), (1, 2, 3), (shape[0] - 1, shape[1] - 1, shape[2] - 1)]
            for (p, pe) in zip(pts, e["points"] as! [[Any]]) {
                let world = pe[0] as! [Double]
                let (x, y, z) = v.affine.apply(Double(p.0), Double(p.1), Double(p.2))
                XCTAssertEqual(x, world[0], accuracy: 1e-4); XCTAssertEqual(y, world[1], accuracy: 1e-4); XCTAssertEqual(z, world[2], accuracy: 1e-4)
                XCTAssertEqual(Double(v[p.0, p.1, p.2]), pe[1] as! Double, accuracy: 1e-4 * max(1, abs(pe[1] as! Double)), "\(name) \(p)")
            }
            // Reorienting to RAS keeps each value at the same world position.
            let ras = v.reorientedToRAS()
            XCTAssertEqual(ras.affine.orientationCodes, "RAS", name)
            let g = ras.gridShape
            for (i, jj, k) in [(0, 0, 0), (1, 2, 3), (g.nx - 1, g.ny - 1, g.nz - 1)] {
                let w = ras.affine.apply(Double(i), Double(jj), Double(k))
                let back = v.affine.inverse!
                let (a, b, c) = back.apply(w.0, w.1, w.2)
                XCTAssertEqual(ras[i, jj, k], v[Int(a.rounded()), Int(b.rounded()), Int(c.rounded())], "\(name)")
            }
        }
        XCTAssertEqual(try NIfTIFile.read(dir + "/las_int16.nii.gz").metadata["datatype"], "int16")
    }

    /// Writes a valid NIfTI-1 .nii and returns its bytes (for corrupting).
    private func validBytes(_ dir: String) throws -> [UInt8] {
        try NIfTIFile.write(sampleVolume(), to: dir + "/ok.nii", options: NIfTIWriteOptions(sidecar: false))
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/ok.nii")))
    }

    private func expectError(_ path: String, _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line,
                             _ check: (NIfTIError) -> Bool) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try NIfTIFile.read(path), file: file, line: line) { e in
            guard let ne = e as? NIfTIError else { return XCTFail("not a NIfTIError: \(e)", file: file, line: line) }
            XCTAssertTrue(check(ne), "unexpected error \(ne)", file: file, line: line)
            XCTAssertTrue(ne.description.contains(path), "error must name the file: \(ne)", file: file, line: line)
        }
    }

    func testBadInputGivesTypedErrors() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = try validBytes(dir)
        func setI16(_ b: inout [UInt8], _ off: Int, _ v: Int16) { withUnsafeBytes(of: v.littleEndian) { for n in 0..<2 { b[off + n] = $0[n] } } }

        try expectError(dir + "/trunc.nii", Array(good.prefix(good.count - 10))) { if case .truncated = $0 { return true }; return false }
        try expectError(dir + "/short.nii", Array(good.prefix(100))) { if case .truncated = $0 { return true }; return false }
        var magic = good; magic[344] = UInt8(ascii: "x")
        try expectError(dir + "/magic.nii", magic) { if case .badMagic = $0 { return true }; return false }
        var sizeof = good; sizeof[0] = 7
        try expectError(dir + "/sizeof.nii", sizeof) { if case .badMagic = $0 { return true }; return false }
        var zero = good; setI16(&zero, 42, 0)
        try expectError(dir + "/zero.nii", zero) { if case .invalidDimensions = $0 { return true }; return false }
        var neg = good; setI16(&neg, 44, -5)
        try expectError(dir + "/neg.nii", neg) { if case .invalidDimensions = $0 { return true }; return false }
        var big = good; setI16(&big, 42, 32767); setI16(&big, 44, 32767); setI16(&big, 46, 32767)
        try expectError(dir + "/big.nii", big) { if case .tooLarge = $0 { return true }; return false }
        var dt = good; setI16(&dt, 70, 32); setI16(&dt, 72, 64)   // complex64
        try expectError(dir + "/complex.nii", dt) { if case .unsupportedDatatype(_, 32, _) = $0 { return true }; return false }
        // 4-D series are read (FramesTests); 5-D and more (vectors, tensors) are refused.
        var fiveD = good; setI16(&fiveD, 40, 5); setI16(&fiveD, 50, 2)
        try expectError(dir + "/5d.nii", fiveD) { if case .invalidDimensions = $0 { return true }; return false }
        // Truncated gzip stream: the header is fine, the voxels are not all there.
        try NIfTIFile.write(sampleVolume(shape: [20, 20, 20]), to: dir + "/full.nii.gz", options: NIfTIWriteOptions(sidecar: false))
        let gz = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/full.nii.gz")))
        try expectError(dir + "/tgz.nii.gz", Array(gz.prefix(gz.count / 2))) { if case .truncated = $0 { return true }; return false }
        XCTAssertThrowsError(try NIfTIFile.read(dir + "/absent.nii.gz")) { XCTAssertEqual($0 as? NIfTIError, .fileNotFound(path: dir + "/absent.nii.gz")) }
        // Size cap applies before allocating.
        XCTAssertThrowsError(try NIfTIFile.read(dir + "/ok.nii", options: NIfTIReadOptions(maxVoxels: 100))) {
            guard case NIfTIError.tooLarge = $0 else { return XCTFail("\($0)") }
        }
    }

    func testNIfTI2DimsOverflowAreRefusedBeforeAllocating() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try NIfTIFile.write(sampleVolume(), to: dir + "/n2.nii", options: NIfTIWriteOptions(format: .nifti2, sidecar: false))
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/n2.nii")))
        func setI64(_ off: Int, _ v: Int64) { withUnsafeBytes(of: v.littleEndian) { for n in 0..<8 { b[off + n] = $0[n] } } }
        setI64(16 + 8, 1 << 40); setI64(16 + 16, 1 << 40)   // nx · ny overflows nothing yet, · nz does
        setI64(16 + 24, 1 << 40)
        try Data(b).write(to: URL(fileURLWithPath: dir + "/over.nii"))
        XCTAssertThrowsError(try NIfTIFile.read(dir + "/over.nii")) { e in
            guard case NIfTIError.tooLarge(let p, let d) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(p, dir + "/over.nii"); XCTAssertTrue(d.contains("overflow"), d)
        }
        setI64(16 + 8, -3)
        try Data(b).write(to: URL(fileURLWithPath: dir + "/negdim.nii"))
        XCTAssertThrowsError(try NIfTIFile.read(dir + "/negdim.nii")) { e in
            guard case NIfTIError.invalidDimensions = e else { return XCTFail("\(e)") }
        }
    }

    func testNonFinitePolicies() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var v = sampleVolume()
        v.data[3] = .nan; v.data[10] = .infinity
        let p = dir + "/nan.nii"
        try NIfTIFile.write(v, to: p)
        XCTAssertThrowsError(try NIfTIFile.read(p)) { XCTAssertEqual($0 as? NIfTIError, .nonFiniteVoxels(path: p, count: 2)) }
        let z = try NIfTIFile.read(p, options: NIfTIReadOptions(nonFinite: .zero))
        XCTAssertEqual(z.data[3], 0); XCTAssertEqual(z.data[10], 0); XCTAssertEqual(z.data[4], v.data[4])
        let k = try NIfTIFile.read(p, options: NIfTIReadOptions(nonFinite: .keep))
        XCTAssertTrue(k.data[3].isNaN)
    }

    func testWriteRefusesBadPathsAndLeavesNothing() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try NIfTIFile.write(sampleVolume(), to: dir + "/x.img"))
        XCTAssertThrowsError(try NIfTIFile.write(sampleVolume(), to: dir + "/nofolder/x.nii.gz"))
        var sing = sampleVolume(); sing.affine = Affine([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
        XCTAssertThrowsError(try NIfTIFile.write(sing, to: dir + "/s.nii.gz"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    func testGridShapeParsingIsNIfTIOrder() {
        let g = GridShape.parse("96x112x80")!
        XCTAssertEqual(g.arrayShape, [80, 112, 96])
        XCTAssertEqual(GridShape.parse("64")?.arrayShape, [64, 64, 64])
        XCTAssertNil(GridShape.parse("0x2x3")); XCTAssertNil(GridShape.parse("2x3")); XCTAssertNil(GridShape.parse("axbxc"))
    }

    func testAffineInverseAndOrientation() {
        let a = Affine([0, 0, -2, 50, -2, 0, 0, 60, 0, 2, 0, -40, 0, 0, 0, 1])
        XCTAssertLessThan((a * a.inverse!).maxAbsDifference(.identity), 1e-12)
        XCTAssertEqual(a.orientationCodes, "PSL")
        XCTAssertTrue(a.isRigidWithScaling)
    }

    /// Two affines with NaN (or ±inf) are never "equal within tolerance" (a max fold once said so).
    func testAffineDifferenceFailsOnNonFinite() {
        let a = Affine.scaling(2, 2, 2)
        for v in [Double.nan, .infinity, -.infinity] {
            var m = a.m
            m[5] = v
            XCTAssertFalse(Affine(m).maxAbsDifference(a) <= 1e-6, "\(v) in the first")
            XCTAssertFalse(a.maxAbsDifference(Affine(m)) <= 1e-6, "\(v) in the second")
            XCTAssertFalse(Affine(m).maxAbsDifference(Affine(m)) <= 1e-6, "\(v) in both")
        }
        XCTAssertEqual(a.maxAbsDifference(a), 0)
    }
}
