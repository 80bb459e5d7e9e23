// The store's low-resolution copy (LowResolution.swift): the pooling against a plain reference and
// numpy's block mean (avg_pool3d with kernel = stride = f), the writer, the reader, the validation
// on open, and adding a copy to an existing store.
import XCTest
import PETTestSupport
@testable import PETVolumes
import PETTensor

final class LowResolutionTests: XCTestCase {
    func randomValues(_ n: Int, seed: UInt64) -> [Float] {
        var rng = PETRandom(seed: seed)
        return (0..<n).map { _ in rng.uniform(-1, 1) }
    }

    func testAveragePoolEqualsReferenceAndBlockMeansOnOddDivisibleGrids() throws {
        for (shape, f, seed) in [([9, 15, 21], 3, UInt64(1)), ([6, 10, 14], 2, 2), ([5, 10, 15], 5, 3), ([7, 7, 7], 7, 4), ([3, 6, 9], 1, 5)] {
            let x = randomValues(shape.reduce(1, *), seed: seed)
            let y = LowResolution.averagePool(x, shape: shape, factor: f)
            let ref = LowResolution.referenceAveragePool(x, shape: shape, factor: f)
            XCTAssertEqual(y.count, shape.map { $0 / f }.reduce(1, *))
            XCTAssertEqual(y, ref, "shape \(shape) f \(f): the same sums in the same order")
            // Each output against its block mean in Double (independent of either loop).
            let (h, w) = (shape[1], shape[2]), (oh, ow) = (h / f, w / f)
            var worst = 0.0
            for (o, v) in y.enumerated() {
                let a = o / (oh * ow), b = (o / ow) % oh, c = o % ow
                var s = 0.0
                for kd in 0..<f { for kh in 0..<f { for kw in 0..<f { s += Double(x[((a * f + kd) * h + b * f + kh) * w + c * f + kw]) } } }
                worst = max(worst, maxAbsDifference([Double(v)], [s / Double(f * f * f)]))
            }
            XCTAssertLessThan(worst, 1e-6, "shape \(shape) f \(f)")
        }
        // A slab of f planes gives one pooled plane (how add-low-res reads).
        let x = randomValues(9 * 12 * 15, seed: 9)
        let whole = LowResolution.averagePool(x, shape: [9, 12, 15], factor: 3)
        let slab = LowResolution.averagePool(Array(x[(3 * 180)..<(6 * 180)]), shape: [3, 12, 15], factor: 3)
        XCTAssertEqual(slab, Array(whole[20..<40]))
    }

    func makeStore(_ path: String, n: Int, shape: [Int], factor: Int?) throws -> [Volume] {
        let w = try VolumeStoreWriter.create(path, volumeShape: shape, classNames: ["AD", "NC"], voxelSize: (2, 2, 2), normalization: "max",
                                             options: VolumeStoreOptions(chunks: [1, 4, 4, 4], deflate: 1, lowResolutionFactor: factor))
        var vols: [Volume] = []
        for i in 0..<n {
            var v = sampleVolume(shape: shape)
            v.data = randomValues(v.data.count, seed: UInt64(100 + i))
            try w.append(v, label: i % 2, sourceFile: "sub-\(i)")
            vols.append(v)
        }
        try w.commit()
        return vols
    }

    func testWriterStoresTheCopyReadableByH5pyAsNumpyBlockMeans() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/low.h5"
        let vols = try makeStore(path, n: 3, shape: [9, 12, 15], factor: 3)
        let s = try VolumeStore.open(path)
        XCTAssertEqual(s.lowResolution, LowResolutionCopy(factor: 3, shape: [3, 4, 5]))
        for i in 0..<3 {
            XCTAssertEqual(try s.readLowResolution(i), LowResolution.referenceAveragePool(vols[i].data, shape: [9, 12, 15], factor: 3))
        }
        XCTAssertThrowsError(try s.readLowResolution(3))
        // Appending keeps the copy complete.
        let a = try VolumeStoreWriter.appending(to: path)
        XCTAssertEqual(a.lowResolution, LowResolutionCopy(factor: 3, shape: [3, 4, 5]))
        var extra = sampleVolume(shape: [9, 12, 15]); extra.data = randomValues(extra.data.count, seed: 7)
        try a.append(extra, label: 1)
        try a.commit()
        let s2 = try VolumeStore.open(path)
        XCTAssertEqual(s2.count, 4)
        XCTAssertEqual(try s2.readLowResolution(3), LowResolution.referenceAveragePool(extra.data, shape: [9, 12, 15], factor: 3))
        // h5py + numpy: the dataset, its factor, and the block mean of /volumes (what avg_pool3d with
        // kernel = stride = 3 computes) in float64.
        let (out, _) = try runPython("""
        import h5py, json, numpy as np
        f = h5py.File('\(path)', 'r')
        v = f['volumes'][()].astype(np.float64); low = f['volumes_low_resolution']
        n, d, h, w = v.shape; k = int(low.attrs['factor'])
        ref = v.reshape(n, d // k, k, h // k, k, w // k, k).mean(axis=(2, 4, 6))
        print(json.dumps({'shape': list(low.shape), 'factor': k, 'chunks': list(low.chunks), 'dtype': str(low.dtype),
                          'maxdiff': float(np.abs(low[()].astype(np.float64) - ref).max())}))
        """)
        let j = try jsonObject(out)
        XCTAssertEqual(j["shape"] as? [Int], [4, 3, 4, 5]); XCTAssertEqual(j["factor"] as? Int, 3)
        XCTAssertEqual(j["chunks"] as? [Int], [1, 3, 4, 5]); XCTAssertEqual(j["dtype"] as? String, "float32")
        XCTAssertLessThan((j["maxdiff"] as? Double) ?? .infinity, 1e-6)
        // inspect lists it.
        let r = try FileInspector.inspect(path)
        let low = try XCTUnwrap(r.lowResolution)
        XCTAssertEqual(low.factor, 3); XCTAssertEqual(low.shapeXYZ, [5, 4, 3])
        XCTAssertTrue(r.text.contains("low resolution         factor 3: 5 x 4 x 3"), r.text)
    }

    func testBadFactorIndivisibleGridAndMissingCopyAreClearErrors() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try makeStore(dir + "/a.h5", n: 1, shape: [9, 12, 15], factor: 2)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.hasPrefix(dir + "/a.h5: ") && m.contains("divisible by 2") && m.contains("15x12x9"), m)
        }
        XCTAssertThrowsError(try makeStore(dir + "/b.h5", n: 1, shape: [8, 8, 8], factor: 1)) { XCTAssertTrue("\($0)".contains("factor 1 must be 2…64"), "\($0)") }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [], "nothing left behind")
        _ = try makeStore(dir + "/plain.h5", n: 2, shape: [8, 8, 8], factor: nil)
        let s = try VolumeStore.open(dir + "/plain.h5")
        XCTAssertNil(s.lowResolution)
        XCTAssertThrowsError(try s.readLowResolution(0)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("plain.h5: the store has no low-resolution copy") && m.contains("petgan volumes add-low-res"), m)
        }
    }

    func testAddCopyToAnExistingStoreEqualsTheWritersCopy() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plain = dir + "/plain.h5", written = dir + "/written.h5"
        let vols = try makeStore(plain, n: 3, shape: [6, 10, 14], factor: nil)
        _ = try makeStore(written, n: 3, shape: [6, 10, 14], factor: 2)
        let before = try VolumeStore.open(plain).readVolume(1).data
        XCTAssertThrowsError(try LowResolution.addCopy(to: plain, factor: 4)) { XCTAssertTrue("\($0)".contains("divisible by 4"), "\($0)") }
        var seen: [Int] = []
        let c = try LowResolution.addCopy(to: plain, factor: 2) { done, total in seen.append(done); XCTAssertEqual(total, 3) }
        XCTAssertEqual(c, LowResolutionCopy(factor: 2, shape: [3, 5, 7]))
        XCTAssertEqual(seen, [1, 2, 3])
        let a = try VolumeStore.open(plain), b = try VolumeStore.open(written)
        XCTAssertEqual(a.lowResolution, b.lowResolution)
        for i in 0..<3 {
            XCTAssertEqual(try a.readLowResolution(i), try b.readLowResolution(i), "slab by slab = whole volume at once")
            XCTAssertEqual(try a.readLowResolution(i), LowResolution.referenceAveragePool(vols[i].data, shape: [6, 10, 14], factor: 2))
        }
        XCTAssertEqual(try a.readVolume(1).data, before, "the volumes are untouched")
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["plain.h5", "written.h5"], "no temporary file left")
        XCTAssertThrowsError(try LowResolution.addCopy(to: plain, factor: 2)) { XCTAssertTrue("\($0)".contains("already has a low-resolution copy"), "\($0)") }
    }

    func testMalformedCopiesAreRefusedOnOpen() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func store(_ name: String, shape: [Int], factor: HDF5AttributeValue?) throws -> String {
            let path = dir + "/" + name
            _ = try makeStore(path, n: 2, shape: [8, 8, 8], factor: nil)
            let f = try HDF5File.open(path, mode: .readWrite)
            let d = try f.createDataset(LowResolution.datasetName, type: Float.self, shape: shape)
            switch factor {
            case .int(let i)?: try d.setAttribute("factor", Int(i))
            case .string(let s)?: try d.setAttribute("factor", s)
            case .double(let x)?: try d.setAttribute("factor", x)
            default: break
            }
            try f.flush()
            return path
        }
        let cases: [(String, [Int], HDF5AttributeValue?, String)] = [
            ("shape.h5", [2, 4, 4, 3], .int(2), "has shape [2, 4, 4, 3], expected [2, 4, 4, 4]"),
            ("count.h5", [1, 4, 4, 4], .int(2), "expected [2, 4, 4, 4]"),
            ("nofactor.h5", [2, 4, 4, 4], nil, "has no 'factor' attribute"),
            ("stringfactor.h5", [2, 4, 4, 4], .string("2"), "'factor' must be one integer"),
            ("hugefactor.h5", [2, 4, 4, 4], .double(1e300), "'factor' must be one integer"),
            ("onefactor.h5", [2, 8, 8, 8], .int(1), "'factor' is 1, expected 2…64"),
            ("indivisible.h5", [2, 2, 2, 2], .int(3), "does not divide the volume grid 8x8x8"),
        ]
        for (name, shape, factor, reason) in cases {
            let path = try store(name, shape: shape, factor: factor)
            XCTAssertThrowsError(try VolumeStore.open(path), name) { e in
                let m = "\(e)"
                XCTAssertTrue(m.hasPrefix(path + ": ") && m.contains("/volumes_low_resolution") && m.contains(reason), "\(name): \(m)")
            }
        }
    }
}
