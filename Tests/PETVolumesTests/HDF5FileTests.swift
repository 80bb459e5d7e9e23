import XCTest
import PETTestSupport
@testable import PETVolumes

final class HDF5FileTests: XCTestCase {
    func testRoundTripTypesAttributesAndHyperslabs() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/a.h5"
        let f = try HDF5File.create(path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "atomic create must not show the final name before commit")
        let vol: [Float] = (0..<120).map { (i: Int) -> Float in Float(i) * 0.5 - 3 }
        let d = try f.createDataset("g/sub/vol", type: Float.self, shape: [2, 3, 4, 5], maxShape: [nil, 3, 4, 5],
                                    chunks: [1, 2, 2, 5], deflate: 4, shuffle: true)
        try d.write(vol)
        try f.createDataset("f64", values: [Double](arrayLiteral: 1.5, -2.25, 1e300), shape: [3])
        try f.createDataset("i32", values: [Int32.min, 0, Int32.max], shape: [3])
        try f.createDataset("i64", values: [Int64.min, 7, Int64.max], shape: [3])
        try f.createDataset("u64", values: [UInt64.max, 0], shape: [2])
        try f.createStringDataset("names", ["AD", "CN", "é MCI"])
        try f.setAttribute("units", "mm")
        try f.setAttribute("voxel_size", [2.0, 2.5, 3.0])
        try f.setAttribute("count", 42)
        try f.setAttribute("classes", ["AD", "CN"])
        try d.setAttribute("scale", 0.25)
        try d.setAttribute("shape_hint", [1, 2, 3])
        try f.commit()
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["a.h5"], "no temporary file left behind")

        let r = try HDF5File.open(path)
        let rv = try r.dataset("g/sub/vol")
        XCTAssertEqual(rv.shape, [2, 3, 4, 5]); XCTAssertEqual(rv.chunks, [1, 2, 2, 5])
        XCTAssertEqual(rv.maxShape, [nil, 3, 4, 5]); XCTAssertEqual(rv.kind, .float32)
        XCTAssertEqual(rv.deflateLevel, 4); XCTAssertTrue(rv.shuffle)
        XCTAssertEqual(try rv.read(Float.self), vol)
        // Hyperslab: [1, 1..<3, 2..<4, 0..<5]
        let slab: [Float] = try rv.readHyperslab(start: [1, 1, 2, 0], count: [1, 2, 2, 5])
        var expect: [Float] = []
        for h in 1..<3 { for w in 2..<4 { for x in 0..<5 { expect.append(vol[((1 * 3 + h) * 4 + w) * 5 + x]) } } }
        XCTAssertEqual(slab, expect)
        XCTAssertEqual(try r.dataset("f64").read(Double.self), [1.5, -2.25, 1e300])
        XCTAssertEqual(try r.dataset("i32").read(Int32.self), [Int32.min, 0, Int32.max])
        XCTAssertEqual(try r.dataset("i64").read(Int64.self), [Int64.min, 7, Int64.max])
        XCTAssertEqual(try r.dataset("u64").read(UInt64.self), [UInt64.max, 0])
        XCTAssertEqual(try r.dataset("names").readStrings(), ["AD", "CN", "é MCI"])
        XCTAssertEqual(try r.stringAttribute("units"), "mm")
        XCTAssertEqual(try r.doublesAttribute("voxel_size"), [2.0, 2.5, 3.0])
        XCTAssertEqual(try r.intAttribute("count"), 42)
        XCTAssertEqual(try r.stringsAttribute("classes"), ["AD", "CN"])
        XCTAssertEqual(try rv.doubleAttribute("scale"), 0.25)
        XCTAssertEqual(try rv.intsAttribute("shape_hint"), [1, 2, 3])
        XCTAssertEqual(Set(try r.attributeNames()), ["units", "voxel_size", "count", "classes"])
        XCTAssertEqual(try r.childNames(), ["f64", "g", "i32", "i64", "names", "u64"])
        XCTAssertTrue(try r.isGroup("g/sub")); XCTAssertFalse(try r.isGroup("g/sub/vol"))
    }

    func testExtendAndWriteHyperslab() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/b.h5"
        let f = try HDF5File.create(path)
        let d = try f.createDataset("x", type: Float.self, shape: [0, 4], maxShape: [nil, 4], chunks: [1, 4])
        for i in 0..<3 {
            try d.extend(to: [i + 1, 4])
            try d.writeHyperslab(start: [i, 0], count: [1, 4], (0..<4).map { Float(i * 10 + $0) })
        }
        XCTAssertThrowsError(try d.extend(to: [3, 5]))
        try f.commit()
        let r = try HDF5File.open(path)
        XCTAssertEqual(try r.dataset("x").read(Float.self), [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23])
    }

    func testErrorsNameFileAndReason() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let missing = dir + "/missing.h5"
        XCTAssertThrowsError(try HDF5File.open(missing)) { e in
            XCTAssertTrue("\(e)".contains("missing.h5"), "\(e)")
        }
        let junk = dir + "/junk.h5"
        try Data("not an hdf5 file at all".utf8).write(to: URL(fileURLWithPath: junk))
        XCTAssertThrowsError(try HDF5File.open(junk)) { e in
            guard case HDF5Error.mismatch(let file, _, let reason) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(file, junk); XCTAssertTrue(reason.contains("not an HDF5 file"))
        }
        let path = dir + "/c.h5"
        let f = try HDF5File.create(path)
        try f.createDataset("v", values: [Float](repeating: 1, count: 6), shape: [2, 3])
        XCTAssertThrowsError(try f.dataset("nope")) { e in XCTAssertEqual(e as? HDF5Error, .notFound(file: path, object: "/nope")) }
        XCTAssertThrowsError(try f.dataset("v").readHyperslab(start: [1, 2], count: [1, 2], as: Float.self)) { e in
            guard case HDF5Error.invalidArgument = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try f.dataset("v").write([Float(1)]))
        XCTAssertThrowsError(try f.createDataset("v", type: Float.self, shape: [1]))
        XCTAssertThrowsError(try f.attribute("absent"))
        // Released without commit: the temporary file disappears, the final name never appears.
        let tmp = f.temporaryPath!
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp))
        _ = f
    }

    func testUncommittedFileLeavesNothing() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let f = try HDF5File.create(dir + "/d.h5")
            try f.createDataset("v", values: [Float(1), 2], shape: [2])
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    func testH5pyReadsOurFile() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/py.h5"
        let f = try HDF5File.create(path)
        try f.createDataset("vol", values: (0..<64).map { Float($0) }, shape: [4, 4, 4], chunks: [2, 2, 2], deflate: 1, shuffle: true)
        try f.createStringDataset("names", ["AD", "CN"])
        try f.setAttribute("units", "mm")
        try f.setAttribute("voxel_size", [2.0, 2.0, 2.0])
        try f.commit()
        let (out, _) = try runPython("""
        import h5py, json, numpy as np
        f = h5py.File('\(path)', 'r')
        v = f['vol']
        names = [n.decode() if isinstance(n, bytes) else n for n in f['names'][()]]
        u = f.attrs['units']; u = u.decode() if isinstance(u, bytes) else u
        print(json.dumps({'shape': list(v.shape), 'chunks': list(v.chunks), 'compression': v.compression,
          'shuffle': bool(v.shuffle), 'sum': float(np.sum(v[()])), 'v123': float(v[1, 2, 3]), 'names': names,
          'units': u, 'voxel': [float(x) for x in f.attrs['voxel_size']], 'dtype': str(v.dtype)}))
        """)
        let j = try jsonObject(out)
        XCTAssertEqual(j["shape"] as? [Int], [4, 4, 4]); XCTAssertEqual(j["chunks"] as? [Int], [2, 2, 2])
        XCTAssertEqual(j["compression"] as? String, "gzip"); XCTAssertEqual(j["shuffle"] as? Bool, true)
        XCTAssertEqual(j["sum"] as? Double, Double((0..<64).reduce(0, +)))
        XCTAssertEqual(j["v123"] as? Double, Double(1 * 16 + 2 * 4 + 3))
        XCTAssertEqual(j["names"] as? [String], ["AD", "CN"]); XCTAssertEqual(j["units"] as? String, "mm")
        XCTAssertEqual(j["voxel"] as? [Double], [2, 2, 2]); XCTAssertEqual(j["dtype"] as? String, "float32")
    }

    func testWeReadH5pyFile() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/theirs.h5"
        try runPython("""
        import h5py, numpy as np
        f = h5py.File('\(path)', 'w')
        f.create_dataset('a', data=np.arange(12, dtype=np.int16).reshape(3, 4))
        f.create_dataset('s', data=np.array([b'x', b'yz'], dtype='S2'))
        f.attrs['name'] = 'petgan'
        f.attrs['vals'] = np.array([1.0, 2.0])
        f.close()
        """)
        let r = try HDF5File.open(path)
        let a = try r.dataset("a")
        XCTAssertEqual(a.kind, .int16)
        XCTAssertEqual(try a.read(Float.self), (0..<12).map(Float.init))
        XCTAssertEqual(try r.dataset("s").readStrings(), ["x", "yz"])
        XCTAssertEqual(try r.stringAttribute("name"), "petgan")
        XCTAssertEqual(try r.doublesAttribute("vals"), [1, 2])
    }

    func testConcurrentReadsAreSerialized() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/t.h5"
        let f = try HDF5File.create(path)
        let values = (0..<(8 * 16 * 16)).map { Float($0) }
        try f.createDataset("v", values: values, shape: [8, 16, 16], chunks: [1, 8, 8], deflate: 1)
        try f.commit()
        let r = try HDF5File.open(path)
        let d = try r.dataset("v")
        let failures = NSLock(); var bad = 0
        DispatchQueue.concurrentPerform(iterations: 32) { i in
            let k = i % 8
            let got = (try? d.readHyperslab(start: [k, 0, 0], count: [1, 16, 16], as: Float.self)) ?? []
            if got != Array(values[(k * 256)..<((k + 1) * 256)]) { failures.lock(); bad += 1; failures.unlock() }
        }
        XCTAssertEqual(bad, 0)
    }
}
