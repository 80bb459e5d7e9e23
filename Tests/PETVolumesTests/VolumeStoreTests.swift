import XCTest
import PETTestSupport
@testable import PETVolumes
import PETTensor

final class VolumeStoreTests: XCTestCase {
    func makeStore(_ path: String, n: Int, shape: [Int] = [12, 10, 14], chunks: [Int] = [1, 4, 4, 4], deflate: Int? = 1) throws -> [Volume] {
        let w = try VolumeStoreWriter.create(path, volumeShape: shape, classNames: ["AD", "CN", "MCI"], voxelSize: (2, 2, 2),
                                             normalization: "max", options: VolumeStoreOptions(chunks: chunks, deflate: deflate, shuffle: deflate != nil))
        var vols: [Volume] = []
        for i in 0..<n {
            var v = sampleVolume(shape: shape, affine: .scaling(2, 2, 2, origin: (Double(-i), 0, 0)))
            v.data = v.data.map { $0 + Float(i * 1000) }
            try w.append(v, label: i % 3, intensity: IntensityMap(scale: 0.5, offset: Double(i)), sourceFile: "sub-\(i).nii.gz")
            vols.append(v)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        try w.commit()
        return vols
    }

    func testCreateReadVolumeSlicePatch() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/s.h5"
        let vols = try makeStore(path, n: 4)
        let s = try VolumeStore.open(path, memoryBudget: 1 << 20)
        XCTAssertEqual(s.chunkCacheBytes, 1 << 19, "chunk cache = half the memory budget")
        XCTAssertEqual(try s.volumes.chunkCacheBytes(), 1 << 19, "HDF5 must actually use it (regression: a probe handle kept the default 1 MB)")
        XCTAssertEqual(s.count, 4); XCTAssertEqual(s.volumeShape, [12, 10, 14]); XCTAssertEqual(s.chunks, [1, 4, 4, 4])
        XCTAssertEqual(s.labels, [0, 1, 2, 0]); XCTAssertEqual(s.classNames, ["AD", "CN", "MCI"])
        XCTAssertEqual(s.voxelSize, [2, 2, 2]); XCTAssertEqual(s.normalization, "max")
        XCTAssertEqual(s.sourceFiles, (0..<4).map { "sub-\($0).nii.gz" })
        XCTAssertEqual(s.intensity(3), IntensityMap(scale: 0.5, offset: 3))
        for i in 0..<4 {
            let v = try s.readVolume(i)
            XCTAssertEqual(v.data, vols[i].data); XCTAssertEqual(v.affine, vols[i].affine)
            XCTAssertEqual(v.metadata["class"], ["AD", "CN", "MCI"][i % 3])
        }
        // Slices in each plane against the in-memory volume.
        let v = vols[2], g = v.gridShape
        let ax = try s.readSlice(2, axis: .axial, index: 5)
        XCTAssertEqual(ax, (0..<g.ny).flatMap { j in (0..<g.nx).map { i in v[i, j, 5] } })
        let co = try s.readSlice(2, axis: .coronal, index: 3)
        XCTAssertEqual(co, (0..<g.nz).flatMap { k in (0..<g.nx).map { i in v[i, 3, k] } })
        let sa = try s.readSlice(2, axis: .sagittal, index: 7)
        XCTAssertEqual(sa, (0..<g.nz).flatMap { k in (0..<g.ny).map { j in v[7, j, k] } })
        let p = try s.readPatch(1, origin: [2, 3, 4], size: [5, 4, 6])
        var expect: [Float] = []
        for d in 2..<7 { for h in 3..<7 { for w in 4..<10 { expect.append(vols[1][w, h, d]) } } }
        XCTAssertEqual(p, expect)
        XCTAssertThrowsError(try s.readPatch(0, origin: [10, 0, 0], size: [5, 1, 1]))
        XCTAssertThrowsError(try s.readVolume(4))
        XCTAssertThrowsError(try s.readSlice(0, axis: .axial, index: 12))
    }

    func testAppendToExistingStore() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/a.h5"
        let vols = try makeStore(path, n: 2)
        let w = try VolumeStoreWriter.appending(to: path)
        XCTAssertEqual(w.count, 2)
        var extra = sampleVolume(shape: [12, 10, 14]); extra.data = extra.data.map { -$0 }
        try w.append(extra, label: 2, sourceFile: "extra.nii.gz")
        XCTAssertThrowsError(try w.append(extra, label: 7), "label outside the class names")
        XCTAssertEqual(try VolumeStore.open(path).count, 2, "the original is untouched until commit")
        try w.commit()
        let s = try VolumeStore.open(path)
        XCTAssertEqual(s.count, 3); XCTAssertEqual(s.labels, [0, 1, 2])
        XCTAssertEqual(try s.readVolume(0).data, vols[0].data); XCTAssertEqual(try s.readVolume(2).data, extra.data)
        XCTAssertEqual(s.sourceFiles, ["sub-0.nii.gz", "sub-1.nii.gz", "extra.nii.gz"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["a.h5"])
    }

    func testBatchIteratorIsSeededCoversEpochAndPrefetches() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/b.h5"
        let vols = try makeStore(path, n: 5)
        let s = try VolumeStore.open(path)
        func run(_ seed: UInt64) throws -> [[Int]] {
            let it = try VolumeBatchIterator(store: s, kind: .patches([4, 5, 6]), batchSize: 2, seed: seed)
            var seen: [[Int]] = []
            for _ in 0..<3 {
                let b = try it.next()
                XCTAssertEqual(b.data.shape, [b.indices.count, 1, 4, 5, 6])
                for (n, i) in b.indices.enumerated() {
                    let o = b.origins[n]
                    var expect: [Float] = []
                    for d in o[0]..<(o[0] + 4) { for h in o[1]..<(o[1] + 5) { for w in o[2]..<(o[2] + 6) { expect.append(vols[i][w, h, d]) } } }
                    XCTAssertEqual(Array(b.data.array[(n * 120)..<((n + 1) * 120)]), expect)
                    XCTAssertEqual(b.labels[n], i % 3)
                }
                seen.append(b.indices + b.origins.flatMap { $0 })
            }
            return seen
        }
        XCTAssertEqual(try run(9), try run(9), "same seed, same batches")
        XCTAssertNotEqual(try run(9), try run(10))
        // One epoch of 5 volumes in batches of 2: 2 + 2 + 1, every volume exactly once.
        let it = try VolumeBatchIterator(store: s, kind: .volumes, batchSize: 2, seed: 1)
        let epoch = try (0..<3).flatMap { _ in try it.next().indices }
        XCTAssertEqual(epoch.sorted(), [0, 1, 2, 3, 4])
        let sl = try VolumeBatchIterator(store: s, kind: .slices(.axial), batchSize: 3, seed: 2)
        let b = try sl.next()
        XCTAssertEqual(b.data.shape, [3, 1, 10, 14], "2-D slices: (B, 1, H, W)")
        let k = b.origins[0][0], vi = b.indices[0], g = vols[vi].gridShape
        XCTAssertEqual(Array(b.data.array[0..<140]), (0..<g.ny).flatMap { j in (0..<g.nx).map { i in vols[vi][i, j, k] } })
        XCTAssertThrowsError(try VolumeBatchIterator(store: s, kind: .patches([13, 1, 1]), batchSize: 1, seed: 0))
        // Two batches (current + prefetched) must fit the memory budget.
        let acct = MemoryAccountant.shared, saved = acct.budgetBytes
        acct.budgetBytes = acct.bytesInUse + 100_000
        defer { acct.budgetBytes = saved }
        XCTAssertThrowsError(try VolumeBatchIterator(store: s, kind: .volumes, batchSize: 8, seed: 0)) { e in
            guard case TensorError.overBudget = e else { return XCTFail("\(e)") }
        }
    }

    func testH5pyReadsStore() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/p.h5"
        let vols = try makeStore(path, n: 3, shape: [8, 9, 10], chunks: [1, 4, 4, 4], deflate: 6)
        let (out, _) = try runPython("""
        import h5py, json, numpy as np
        f = h5py.File('\(path)', 'r')
        v = f['volumes']
        def s(x): return x.decode() if isinstance(x, bytes) else x
        print(json.dumps({'shape': list(v.shape), 'chunks': list(v.chunks), 'compression': v.compression,
          'opts': v.compression_opts, 'shuffle': bool(v.shuffle), 'labels': f['labels'][()].tolist(),
          'classes': [s(c) for c in f['labels'].attrs['class_names']], 'affine1': f['affines'][1].tolist(),
          'voxel': f.attrs['voxel_size'].tolist(), 'units': s(f.attrs['units']), 'norm': s(f.attrs['normalization']),
          'sources': [s(c) for c in f.attrs['source_files']], 'version': s(f.attrs['petgan_version']),
          'v2_123': float(v[2, 1, 2, 3]), 'sum0': float(v[0].astype(np.float64).sum())}))
        """)
        let j = try jsonObject(out)
        XCTAssertEqual(j["shape"] as? [Int], [3, 8, 9, 10]); XCTAssertEqual(j["chunks"] as? [Int], [1, 4, 4, 4])
        XCTAssertEqual(j["compression"] as? String, "gzip"); XCTAssertEqual(j["opts"] as? Int, 6); XCTAssertEqual(j["shuffle"] as? Bool, true)
        XCTAssertEqual(j["labels"] as? [Int], [0, 1, 2]); XCTAssertEqual(j["classes"] as? [String], ["AD", "CN", "MCI"])
        XCTAssertEqual(Affine(rows: j["affine1"] as! [[Double]]), vols[1].affine)
        XCTAssertEqual(j["voxel"] as? [Double], [2, 2, 2]); XCTAssertEqual(j["units"] as? String, "mm")
        XCTAssertEqual(j["norm"] as? String, "max"); XCTAssertEqual(j["sources"] as? [String], ["sub-0.nii.gz", "sub-1.nii.gz", "sub-2.nii.gz"])
        XCTAssertEqual(j["version"] as? String, PETGANVersion.string)
        XCTAssertEqual(j["v2_123"] as? Double, Double(vols[2][3, 2, 1]), "h5py v[n, d, h, w] is our v[w, h, d] (i = W)")
        XCTAssertEqual(j["sum0"] as! Double, vols[0].data.reduce(0.0) { $0 + Double($1) }, accuracy: 1e-2)
    }

    func testBadStoresGiveTypedErrors() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p1 = dir + "/nolabels.h5"
        let f = try HDF5File.create(p1)
        try f.createDataset("volumes", type: Float.self, shape: [2, 3, 3, 3])
        try f.commit()
        XCTAssertThrowsError(try VolumeStore.open(p1)) { XCTAssertEqual($0 as? VolumeStoreError, .missingDataset(file: p1, name: "labels")) }
        let p2 = dir + "/mismatch.h5"
        let g = try HDF5File.create(p2)
        try g.createDataset("volumes", type: Float.self, shape: [2, 3, 3, 3])
        try g.createDataset("labels", values: [Int32(0), 1, 0], shape: [3])
        try g.createDataset("affines", type: Double.self, shape: [2, 4, 4])
        try g.commit()
        XCTAssertThrowsError(try VolumeStore.open(p2)) { e in
            guard case VolumeStoreError.shapeMismatch(let file, let detail) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(file, p2); XCTAssertTrue(detail.contains("/labels"))
        }
        // A truncated store: typed error naming the file, from open or from the first read.
        let full = dir + "/full.h5"
        _ = try makeStore(full, n: 3)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: full))
        let cut = dir + "/cut.h5"
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
        XCTAssertThrowsError(try { let s = try VolumeStore.open(cut); for i in 0..<s.count { _ = try s.readVolume(i) } }()) { e in
            XCTAssertTrue("\(e)".contains(cut), "error must name the file: \(e)")
            XCTAssertTrue(e is HDF5Error || e is VolumeStoreError, "\(type(of: e))")
        }
        let p3 = dir + "/wrongshape.h5"
        let w = try VolumeStoreWriter.create(p3, volumeShape: [4, 4, 4], classNames: ["A"], voxelSize: (1, 1, 1), normalization: "none")
        XCTAssertThrowsError(try w.append(Volume(shape: [4, 4, 5]), label: 0))
        XCTAssertThrowsError(try VolumeStoreWriter.create(dir + "/x.h5", volumeShape: [4, 4], classNames: [], voxelSize: (1, 1, 1), normalization: ""))
    }

    /// Bytes this process has read through read(2)/pread(2) (Linux rchar).
    func bytesReadSoFar() -> Int {
        let s = (try? String(contentsOfFile: "/proc/self/io", encoding: .utf8)) ?? ""
        for line in s.split(separator: "\n") where line.hasPrefix("rchar:") { return Int(line.split(separator: " ").last ?? "0") ?? 0 }
        return 0
    }

    func testPatchReadsOnlyTouchedChunks() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/big.h5"
        // 6 volumes of 48³ floats (432 KB each), 16³ chunks (16 KB), no compression: 2.6 MB in all.
        let w = try VolumeStoreWriter.create(path, volumeShape: [48, 48, 48], classNames: ["A"], voxelSize: (1, 1, 1),
                                             normalization: "none", options: VolumeStoreOptions(chunks: [1, 16, 16, 16], deflate: nil, shuffle: false))
        for i in 0..<6 { try w.append(Volume(shape: [48, 48, 48], data: [Float](repeating: Float(i), count: 48 * 48 * 48)), label: 0) }
        try w.commit()
        let s = try VolumeStore.open(path, memoryBudget: 1 << 20)
        _ = try s.readPatch(0, origin: [0, 0, 0], size: [1, 1, 1])   // index B-tree now cached
        let before = bytesReadSoFar()
        let p = try s.readPatch(4, origin: [16, 16, 16], size: [16, 16, 16])   // exactly one chunk
        let oneChunk = bytesReadSoFar() - before
        XCTAssertEqual(p, [Float](repeating: 4, count: 4096))
        XCTAssertGreaterThanOrEqual(oneChunk, 16 * 1024, "the chunk itself must be read")
        XCTAssertLessThan(oneChunk, 3 * 16 * 1024, "an aligned 16³ patch must read about one 16 KB chunk, read \(oneChunk) bytes")
        let before2 = bytesReadSoFar()
        _ = try s.readPatch(5, origin: [8, 8, 8], size: [16, 16, 16])          // straddles 2×2×2 chunks
        let eight = bytesReadSoFar() - before2
        XCTAssertGreaterThanOrEqual(eight, 8 * 16 * 1024)
        XCTAssertLessThan(eight, 10 * 16 * 1024, "an unaligned patch reads its 8 chunks, not the volume (432 KB): read \(eight)")
    }
}
