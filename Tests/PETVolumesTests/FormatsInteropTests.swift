import XCTest
import PETTestSupport
@testable import PETVolumes
import PETTensor

/// The files PET researchers have, written by nibabel: 4-D series (frames reduced as numpy does),
/// NIfTI-1/-2 .hdr/.img pairs (plain and gzipped), Analyze 7.5 (both byte orders, SPM origin and
/// scale factor). PETGAN reads them; shape, affine and values must agree with nibabel. Fails (not
/// skips) when python3/nibabel are missing (runPython).
final class FormatsInteropTests: XCTestCase {
    static func readF32(_ path: String) throws -> [Float] {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        return d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// Largest |a − b| / max(1, |b|), NaN-propagating (a NaN anywhere gives NaN, which fails `<=`).
    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return .nan }
        var worst = 0.0
        for (x, y) in zip(a, b) {
            let e = abs(Double(x) - Double(y)) / max(1, abs(Double(y)))
            if !(e <= worst) { worst = e }   // NaN replaces worst and stays
            if worst.isNaN { return .nan }
        }
        return worst
    }

    func testPairsAndAnalyzeWrittenByNibabelReadWithNibabelsGeometryAndValues() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (out, err) = try runPython("""
        import nibabel as nib, numpy as np, json, warnings
        from nibabel.spm2analyze import Spm2AnalyzeImage
        d = "\(dir)"
        rng = np.random.default_rng(5)
        shape = (9, 7, 5)
        aff = np.array([[-2.0, 0.1, 0, 90], [0.05, 2.5, 0.2, -126], [0, -0.1, 3, -72], [0, 0, 0, 1]])
        out = {}
        def save(img, name, key):
            nib.save(img, d + "/" + name)
            back = nib.load(d + "/" + name)
            np.asarray(back.get_fdata(), dtype=np.float64).astype(np.float32).ravel(order="F").tofile(d + "/" + key + ".f32")
            out[key] = {"file": name, "shape": list(back.shape), "affine": back.affine.tolist(), "class": type(back).__name__}
        f32 = (rng.random(shape) * 100).astype(np.float32)
        i16 = rng.integers(-300, 3000, size=shape).astype(np.int16)
        p1 = nib.Nifti1Pair(f32, aff); p1.header.set_qform(aff, code=1); p1.header.set_sform(aff, code=4)
        save(p1, "pair1.hdr", "pair1")
        p2 = nib.Nifti2Pair(i16, aff); p2.header.set_slope_inter(0.5, -7.0)
        save(p2, "pair2.hdr", "pair2")
        pz = nib.Nifti1Pair(i16, aff)
        save(pz, "pairgz.hdr.gz", "pairgz")
        a = nib.AnalyzeImage(i16, np.diag([2.0, 2.5, 3.0, 1.0]))
        save(a, "ana.hdr", "ana")
        hb = nib.AnalyzeHeader(endianness=">"); hb.set_data_dtype(np.int16)
        ab = nib.AnalyzeImage(i16, np.diag([2.0, 2.5, 3.0, 1.0]), header=hb)
        save(ab, "ana_be.hdr", "ana_be")
        # SPM's originator field (1-based voxel of the origin) and scale factor; nibabel also writes
        # spm.mat (an SPM affine file, which PETGAN does not read): the header alone is compared.
        import os
        s = Spm2AnalyzeImage(i16, np.diag([2.0, 2.5, 3.0, 1.0]))
        s.header["origin"][:3] = [6, 6, 3]; s.header["scl_slope"] = 0.25
        nib.save(s, d + "/spm.hdr")
        out["mat_written"] = os.path.exists(d + "/spm.mat")
        os.rename(d + "/spm.mat", d + "/kept.mat")
        save(nib.load(d + "/spm.hdr"), "spm.hdr", "spm")
        if os.path.exists(d + "/spm.mat"): os.remove(d + "/spm.mat")
        out["big_endian"] = open(d + "/ana_be.hdr", "rb").read(4) == b"\\x00\\x00\\x01\\x5c"
        print(json.dumps(out))
        """)
        let ref = try jsonObject(out)
        XCTAssertEqual(ref["big_endian"] as? Bool, true, "the big-endian Analyze fixture is big-endian")
        let expectedFormat: [String: VolumeFileFormat] = ["pair1": .nifti1Pair, "pair2": .nifti2Pair, "pairgz": .nifti1Pair,
                                                          "ana": .analyze75, "ana_be": .analyze75, "spm": .analyze75]
        for key in ["pair1", "pair2", "pairgz", "ana", "ana_be", "spm"] {
            let r = try XCTUnwrap(ref[key] as? [String: Any], key)
            let path = dir + "/" + (r["file"] as! String)
            let h = try NIfTIFile.readHeader(path)
            XCTAssertEqual(h.format, expectedFormat[key], key)
            XCTAssertEqual(try NIfTIFile.format(of: path), expectedFormat[key], key)
            let v = try NIfTIFile.read(path)
            let shape = r["shape"] as! [Int]
            XCTAssertEqual([v.gridShape.nx, v.gridShape.ny, v.gridShape.nz], shape, key)
            let nibAffine = Affine(rows: (r["affine"] as! [[NSNumber]]).map { $0.map(\.doubleValue) })
            let affErr = v.affine.maxAbsDifference(nibAffine)
            XCTAssertTrue(affErr <= 1e-6, "\(key): affine differs from nibabel's by \(affErr):\n\(v.affine)\nvs\n\(nibAffine)")
            // nibabel's values, scaled in double and rounded to float: bitwise (NIfTI x-fastest = Fortran order).
            let nibValues = try Self.readF32(dir + "/" + key + ".f32")
            XCTAssertEqual(v.data.count, nibValues.count, key)
            XCTAssertTrue(v.data == nibValues, "\(key): values differ from nibabel's (max relative error \(Self.relativeError(v.data, nibValues)))")
            XCTAssertGreaterThan(Set(nibValues).count, 100, "\(key): the fixture has varied values")
            if h.format == .analyze75 {
                XCTAssertTrue(h.warnings.contains { $0.contains("Analyze 7.5 has no reliable orientation") && $0.contains("LAS") }, "\(h.warnings)")
                XCTAssertEqual(v.affine.orientationCodes.first, "L", key)
            } else {
                XCTAssertEqual(h.warnings, [], key)
            }
            // The pair named by its .img reads the same.
            if h.format.isPair {
                let img = NIfTIHeaderParser.imagePath(forHeader: path)!
                XCTAssertTrue(try NIfTIFile.read(img).data == v.data, key)
            }
        }
        XCTAssertEqual(try NIfTIFile.read(dir + "/spm.hdr").affine[0, 3], 10, accuracy: 1e-9, "the SPM origin field gives the translation")
        // An SPM .mat beside an Analyze file holds the geometry SPM/nibabel use: PETGAN says it ignores it.
        XCTAssertEqual(ref["mat_written"] as? Bool, true)
        try FileManager.default.moveItem(atPath: dir + "/kept.mat", toPath: dir + "/spm.mat")
        XCTAssertTrue(try NIfTIFile.readHeader(dir + "/spm.hdr").warnings.contains { $0.contains("spm.mat beside it is an SPM affine file") })
        XCTAssertTrue(err.isEmpty || !err.contains("Error"), err)

        // inspect says what it found and which convention it applied, through the real binary.
        let exe = try petganBinary()
        let r = try runProcess(exe, ["inspect", dir + "/ana.hdr", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try wholeJSON(r.stdout)
        XCTAssertEqual(j["format"] as? String, "Analyze 7.5")
        XCTAssertEqual(r.warningLines.filter { $0.contains(dir + "/ana.hdr") && $0.contains("nibabel's convention") }.count, 1, r.stderr)
        let rp = try runProcess(exe, ["inspect", dir + "/pair1.img"])
        XCTAssertEqual(rp.status, 0, rp.stderr)
        XCTAssertTrue(rp.stdout.contains("NIfTI-1 pair") && !rp.stdout.contains("HDF5"), rp.stdout)

        // prepare takes pairs and Analyze from the labels CSV.
        try "file,label\npair1.hdr,NC\nana.hdr,AD\nspm.img,AD\n".write(toFile: dir + "/labels.csv", atomically: true, encoding: .utf8)
        let s = try DatasetPreparer.run({ () -> PrepareConfig in
            var c = PrepareConfig(inputDirectory: dir, labelsCSV: dir + "/labels.csv", output: dir + "/s.h5", shape: GridShape(nx: 8, ny: 8, nz: 8), voxelSize: (3, 3, 3))
            c.storeOptions = VolumeStoreOptions(chunks: [1, 8, 8, 8], deflate: nil); return c
        }())
        XCTAssertEqual(s.count, 3); XCTAssertEqual(s.classCounts, [2, 1])
    }

    func testFourDSeriesFramesMatchNumpyAndPrepareRecordsThem() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let durations = [60.0, 60.0, 120.0, 300.0, 300.0]
        let (out, _) = try runPython("""
        import nibabel as nib, numpy as np, json
        d = "\(dir)"
        rng = np.random.default_rng(9)
        aff = np.array([[-2.0, 0, 0, 90], [0, 2.5, 0, -126], [0, 0, 3, -72], [0, 0, 0, 1]])
        x = (rng.random((8, 7, 6, 5)) * 50 + np.arange(5) * 10).astype(np.float32)
        img = nib.Nifti1Image(x, aff); img.header.set_xyzt_units("mm", "sec"); img.header["pixdim"][4] = 60
        nib.save(img, d + "/dyn.nii.gz")
        w = np.array(\(durations))
        json.dump({"FrameDuration": w.tolist(), "FrameTimesStart": np.concatenate([[0], np.cumsum(w)[:-1]]).tolist()}, open(d + "/dyn.json", "w"))
        i = rng.integers(0, 2000, size=(8, 7, 6, 4)).astype(np.int16)
        hi = nib.Nifti1Image(i, aff); hi.header.set_slope_inter(0.5, 3.0); hi.header.set_xyzt_units("mm", "msec"); hi.header["pixdim"][4] = 120000
        nib.save(hi, d + "/hdr.nii")
        def put(a, name): np.asarray(a, dtype=np.float64).astype(np.float32).ravel(order="F").tofile(d + "/" + name + ".f32")
        f = nib.load(d + "/dyn.nii.gz").get_fdata()
        put(np.average(f, axis=3, weights=w), "mean"); put(f.sum(axis=3), "sum"); put(f[..., 0], "first"); put(f[..., 4], "last")
        put(np.average(f[..., [1, 3]], axis=3, weights=w[[1, 3]]), "idx13"); put(f[..., 2], "idx2"); put(f.mean(axis=3), "unweighted")
        g = nib.load(d + "/hdr.nii").get_fdata()
        put(g.mean(axis=3), "hdrmean")
        print(json.dumps({"shape": list(f.shape), "frame_means": [float(f[..., t].astype(np.float32).astype(np.float64).mean()) for t in range(5)]}))
        """)
        let pyRef = try jsonObject(out)
        XCTAssertEqual(pyRef["shape"] as? [Int], [8, 7, 6, 5])
        let numpyFrameMeans = try XCTUnwrap((pyRef["frame_means"] as? [NSNumber])?.map(\.doubleValue))
        let path = dir + "/dyn.nii.gz"
        // No selection: refused, naming the option.
        XCTAssertThrowsError(try NIfTIFile.read(path)) { e in
            guard case NIfTIError.framesNeeded(let p, 5, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(p, path); XCTAssertTrue("\(e)".contains("--frames mean|sum|first|last|N[,M...]"), "\(e)")
        }
        let h = try NIfTIFile.readHeader(path)
        XCTAssertEqual(h.frames, 5); XCTAssertEqual(h.arrayShape, [6, 7, 8]); XCTAssertEqual(h.frameDurationSeconds, 60)
        let timing = try FrameTiming.read(for: path, header: h)
        XCTAssertEqual(timing.durations, durations); XCTAssertEqual(timing.source, "sidecar dyn.json")
        for (sel, key, exact) in [("mean", "mean", false), ("sum", "sum", false), ("first", "first", true), ("last", "last", true),
                                  ("1,3", "idx13", false), ("2", "idx2", true)] {
            let v = try NIfTIFile.read(path, options: NIfTIReadOptions(frames: FrameSelection.parse(sel)!))
            let ref = try Self.readF32(dir + "/" + key + ".f32")
            let e = Self.relativeError(v.data, ref)
            // Single frames are the stored floats; reductions accumulate in Double from float32 inputs
            // and round once, numpy from float64: they agree to float32 rounding.
            XCTAssertTrue(exact ? v.data == ref : e <= 2e-7, "--frames \(sel): relative error \(e) against numpy")
            XCTAssertEqual(v.shape, [6, 7, 8])
            // Streaming in slabs gives the same values.
            let r = try StreamingNIfTIReader(path: path, options: NIfTIReadOptions(frames: FrameSelection.parse(sel)!))
            var slabs: [Float] = []
            while r.depthRead < r.shape[0] { slabs += try r.read(depth: min(4, r.shape[0] - r.depthRead)) }
            XCTAssertTrue(slabs == v.data, "--frames \(sel): slabs differ")
        }
        XCTAssertTrue(try NIfTIFile.read(path, options: NIfTIReadOptions(frames: .mean)).metadata["frames"]!.contains("weighted by frame duration (sidecar dyn.json)"))
        // The weighting matters: the duration-weighted mean is not the plain mean.
        let unweightedError = Self.relativeError(try NIfTIFile.read(path, options: NIfTIReadOptions(frames: .mean)).data, try Self.readF32(dir + "/unweighted.f32"))
        XCTAssertTrue(unweightedError > 1e-3, "weighted and unweighted means must differ: \(unweightedError)")
        let plain = try NIfTIFile.read(path, options: NIfTIReadOptions(frames: .indices([0, 1, 2, 3, 4])))
        XCTAssertTrue(plain.data == (try NIfTIFile.read(path, options: NIfTIReadOptions(frames: .mean))).data, "N,M lists are weighted like mean")
        XCTAssertThrowsError(try NIfTIFile.read(path, options: NIfTIReadOptions(frames: .indices([5])))) { e in
            XCTAssertTrue("\(e)".contains("frame 5 does not exist") && "\(e)".contains(path), "\(e)")
        }
        // Header durations (pixdim[4] in ms), scaled int16: equal durations, plain mean.
        let hh = try NIfTIFile.readHeader(dir + "/hdr.nii")
        XCTAssertEqual(hh.frameDurationSeconds, 120)
        let hm = try NIfTIFile.read(dir + "/hdr.nii", options: NIfTIReadOptions(frames: .mean))
        let he = Self.relativeError(hm.data, try Self.readF32(dir + "/hdrmean.f32"))
        XCTAssertTrue(he <= 2e-7, "header-timed mean: relative error \(he)")
        // A sidecar that does not fit the series is refused, naming it.
        try #"{"FrameDuration": [60, 60]}"#.write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: path, toPath: dir + "/bad.nii.gz")
        XCTAssertThrowsError(try NIfTIFile.read(dir + "/bad.nii.gz", options: NIfTIReadOptions(frames: .mean))) { e in
            XCTAssertTrue("\(e)".contains(dir + "/bad.json") && "\(e)".contains("2 value(s)"), "\(e)")
        }

        // prepare: refused without --frames (nothing written), and the choice recorded in the store.
        try "file,label\ndyn.nii.gz,AD\nhdr.nii,NC\n".write(toFile: dir + "/labels.csv", atomically: true, encoding: .utf8)
        var cfg = PrepareConfig(inputDirectory: dir, labelsCSV: dir + "/labels.csv", output: dir + "/s.h5", shape: GridShape(nx: 8, ny: 8, nz: 8), voxelSize: (3, 3, 3))
        cfg.storeOptions = VolumeStoreOptions(chunks: [1, 8, 8, 8], deflate: nil)
        XCTAssertThrowsError(try DatasetPreparer.run(cfg)) { e in XCTAssertTrue("\(e)".contains("--frames") && "\(e)".contains(path), "\(e)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/s.h5"))
        cfg.frames = .mean
        try DatasetPreparer.run(cfg)
        let f = try HDF5File.open(dir + "/s.h5")
        XCTAssertEqual(try f.stringAttribute("frames"), "mean")
        let red = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try f.stringAttribute("frame_reductions").utf8)) as? [String: String])
        XCTAssertTrue(red["dyn.nii.gz"]?.contains("weighted by frame duration (sidecar dyn.json)") == true, "\(red)")
        XCTAssertTrue(red["hdr.nii"]?.contains("equal frame durations, header pixdim[4]") == true, "\(red)")

        // The binary: prepare without --frames names the option; inspect reports frames and durations.
        let exe = try petganBinary()
        let p1 = try runProcess(exe, ["prepare", "--input", dir, "--labels", dir + "/labels.csv", "--out", dir + "/c.h5", "--shape", "8x8x8", "--voxel-size", "3"])
        XCTAssertEqual(p1.status, 1); XCTAssertEqual(p1.errorLines.count, 1, p1.stderr)
        XCTAssertTrue(p1.errorLines.first?.contains("--frames") == true && p1.errorLines.first?.contains(path) == true, p1.stderr)
        let p2 = try runProcess(exe, ["prepare", "--input", dir, "--labels", dir + "/labels.csv", "--out", dir + "/c.h5", "--shape", "8x8x8", "--voxel-size", "3", "--frames", "last"])
        XCTAssertEqual(p2.status, 0, p2.stderr)
        XCTAssertTrue(p2.stdout.contains("last: frame 4 of 5"), p2.stdout)
        let i1 = try runProcess(exe, ["inspect", path, "--json"])
        XCTAssertEqual(i1.status, 0, i1.stderr)
        let j = try wholeJSON(i1.stdout)
        XCTAssertEqual(j["frames"] as? Int, 5)
        XCTAssertEqual((j["frame_durations_s"] as? [NSNumber])?.map(\.doubleValue), durations)
        XCTAssertEqual((j["frame_starts_s"] as? [NSNumber])?.map(\.doubleValue), [0, 60, 120, 240, 540])
        let means = try XCTUnwrap((j["frame_means"] as? [NSNumber])?.map(\.doubleValue))
        XCTAssertEqual(means.count, 5)
        for (a, b) in zip(means, numpyFrameMeans) { XCTAssertTrue(abs(a - b) <= 1e-6, "inspect frame mean \(a) vs numpy \(b)") }   // inspect rounds to 6 digits
        let i2 = try runProcess(exe, ["inspect", path, "--frames", "sum", "--json"])
        XCTAssertEqual(i2.status, 0, i2.stderr)
        XCTAssertTrue((try wholeJSON(i2.stdout)["frames_applied"] as? String)?.hasPrefix("sum of all 5 frames") == true, i2.stdout)
        let i3 = try runProcess(exe, ["inspect", path, "--frames", "x"])
        XCTAssertNotEqual(i3.status, 0); XCTAssertTrue(i3.stderr.contains("--frames"), i3.stderr)
    }

    func testFrameSelectionParsing() {
        XCTAssertEqual(FrameSelection.parse("mean"), .mean); XCTAssertEqual(FrameSelection.parse("SUM"), .sum)
        XCTAssertEqual(FrameSelection.parse("first"), .first); XCTAssertEqual(FrameSelection.parse("last"), .last)
        XCTAssertEqual(FrameSelection.parse("3"), .indices([3])); XCTAssertEqual(FrameSelection.parse("0, 2,5"), .indices([0, 2, 5]))
        for bad in ["", "-1", "1,,2", "a", "1.5", "mean,1"] { XCTAssertNil(FrameSelection.parse(bad), bad) }
    }

    /// The reader is chosen by content: a NIfTI file under another name, an HDF5 store, junk named
    /// .nii.gz, a plain file named .nii.gz, and gzip streams corrupt past the header.
    func testReaderChosenByContentAndCorruptGzipFailsWhenRead() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = sampleVolume(shape: [20, 20, 20])
        try NIfTIFile.write(v, to: dir + "/a.nii", options: NIfTIWriteOptions(sidecar: false))
        try NIfTIFile.write(v, to: dir + "/a.nii.gz", options: NIfTIWriteOptions(sidecar: false))
        try FileManager.default.copyItem(atPath: dir + "/a.nii", toPath: dir + "/renamed.dat")
        try FileManager.default.copyItem(atPath: dir + "/a.nii", toPath: dir + "/plain.nii.gz")
        try FileManager.default.copyItem(atPath: dir + "/a.nii.gz", toPath: dir + "/gz.nii")
        XCTAssertEqual(try NIfTIFile.format(of: dir + "/renamed.dat"), .nifti1)
        XCTAssertTrue(try NIfTIFile.read(dir + "/renamed.dat").data == v.data)
        XCTAssertTrue(try NIfTIFile.read(dir + "/gz.nii").data == v.data)
        let plainHeader = try NIfTIFile.readHeader(dir + "/plain.nii.gz")
        XCTAssertTrue(plainHeader.warnings.contains { $0.contains("named .gz but not gzip-compressed") }, "\(plainHeader.warnings)")
        XCTAssertTrue(try NIfTIFile.read(dir + "/plain.nii.gz").data == v.data)
        let w = try VolumeStoreWriter.create(dir + "/s.nii", volumeShape: [4, 4, 4], classNames: ["A"], voxelSize: (1, 1, 1), normalization: "none")
        try w.append(Volume(shape: [4, 4, 4]), label: 0); try w.commit()
        XCTAssertEqual(try NIfTIFile.format(of: dir + "/s.nii"), .hdf5)
        XCTAssertEqual(try FileInspector.inspect(dir + "/s.nii").format, "HDF5")
        XCTAssertThrowsError(try NIfTIFile.read(dir + "/s.nii")) { XCTAssertTrue("\($0)".contains("HDF5 file"), "\($0)") }

        let gz = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/a.nii.gz")))
        func expectTruncated(_ name: String, _ bytes: [UInt8], line: UInt = #line) throws {
            let p = dir + "/" + name
            try Data(bytes).write(to: URL(fileURLWithPath: p))
            XCTAssertNoThrow(try NIfTIFile.readHeader(p), "the header is intact", line: line)
            XCTAssertThrowsError(try NIfTIFile.read(p), line: line) { e in
                guard case NIfTIError.truncated(let path, _) = e else { return XCTFail("\(name): \(e)", line: line) }
                XCTAssertEqual(path, p, line: line)
            }
            let r = try StreamingNIfTIReader(path: p)
            XCTAssertThrowsError(try { while r.depthRead < r.shape[0] { _ = try r.read(depth: 1) } }(), "\(name): slab reads", line: line)
        }
        var mid = gz; mid[gz.count / 2] ^= 0x55
        try expectTruncated("mid.nii.gz", mid)
        var crc = gz; crc[gz.count - 6] ^= 0xFF
        try expectTruncated("crc.nii.gz", crc)
        try expectTruncated("cut3.nii.gz", Array(gz.prefix(gz.count - 3)))
        try expectTruncated("cut8.nii.gz", Array(gz.prefix(gz.count - 8)))
        // Junk under a NIfTI name: one error naming the file, from the content.
        try Data(repeating: 0x3C, count: 1000).write(to: URL(fileURLWithPath: dir + "/junk.nii.gz"))
        XCTAssertThrowsError(try NIfTIFile.read(dir + "/junk.nii.gz")) { e in
            guard case NIfTIError.badMagic(let p, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(p, dir + "/junk.nii.gz")
        }
        var junkGz = gz; for n in 10..<min(gz.count, 400) { junkGz[n] = 0xA5 }
        try Data(junkGz).write(to: URL(fileURLWithPath: dir + "/junkgz.nii.gz"))
        XCTAssertThrowsError(try NIfTIFile.read(dir + "/junkgz.nii.gz")) { XCTAssertTrue("\($0)".contains(dir + "/junkgz.nii.gz"), "\($0)") }
    }
}
