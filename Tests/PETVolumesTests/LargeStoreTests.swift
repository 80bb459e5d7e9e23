import XCTest
import PETTestSupport
@testable import PETVolumes
import PETTensor

/// Stores with thousands of items (e.g. the slice store of a 411-subject cohort: 4521 items) keep
/// their source names. Regression: the names were one root attribute, which HDF5 keeps in the
/// 64 KB object header, and `petgan phantom --count 411 --slices axial` failed at commit.
final class LargeStoreTests: XCTestCase {
    func write(_ w: VolumeStoreWriter, _ range: Range<Int>) throws {
        for i in range {
            try w.append(Volume(shape: [1, 2, 2], data: [Float](repeating: Float(i), count: 4)), label: i % 2,
                         sourceFile: String(format: "sub-%04d:k=%02d", i / 11, i % 11))
        }
    }

    func names(_ range: Range<Int>) -> [String] { range.map { String(format: "sub-%04d:k=%02d", $0 / 11, $0 % 11) } }

    func testThousandsOfSourceNamesSurviveCommitAndAppend() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let big = dir + "/slices.h5"
        let w = try VolumeStoreWriter.create(big, volumeShape: [1, 2, 2], classNames: ["NC", "AD"], voxelSize: (2, 2, 2), normalization: "max")
        try write(w, 0..<4521)
        try w.commit()
        let s = try VolumeStore.open(big)
        XCTAssertEqual(s.count, 4521)
        XCTAssertEqual(s.sourceFiles, names(0..<4521))
        XCTAssertEqual(try s.readVolume(4520).metadata["source_file"], "sub-0410:k=10")

        // A small store keeps the attribute; appending past the limit moves the names to the dataset.
        let small = dir + "/small.h5"
        let w2 = try VolumeStoreWriter.create(small, volumeShape: [1, 2, 2], classNames: ["NC", "AD"], voxelSize: (2, 2, 2), normalization: "max")
        try write(w2, 0..<VolumeStoreWriter.sourceAttributeLimit)
        try w2.commit()
        XCTAssertTrue(try HDF5File.open(small).hasAttribute("source_files"))
        let w3 = try VolumeStoreWriter.appending(to: small)
        try write(w3, VolumeStoreWriter.sourceAttributeLimit..<(VolumeStoreWriter.sourceAttributeLimit + 100))
        try w3.commit()
        XCTAssertFalse(try HDF5File.open(small).hasAttribute("source_files"))
        XCTAssertEqual(try VolumeStore.open(small).sourceFiles, names(0..<(VolumeStoreWriter.sourceAttributeLimit + 100)))
        // and appending to a store that already has the dataset replaces it.
        let w4 = try VolumeStoreWriter.appending(to: small)
        try write(w4, (VolumeStoreWriter.sourceAttributeLimit + 100)..<(VolumeStoreWriter.sourceAttributeLimit + 103))
        try w4.commit()
        XCTAssertEqual(try VolumeStore.open(small).sourceFiles, names(0..<(VolumeStoreWriter.sourceAttributeLimit + 103)))

        // Users' tools read the names.
        let (py, _) = try runPython("""
        import h5py
        f = h5py.File("\(big)", "r")
        n = [x.decode() if isinstance(x, bytes) else x for x in f["source_files"][:]]
        print(len(n), n[0], n[-1], f["volumes"].shape[0])
        """)
        XCTAssertEqual(py.trimmingCharacters(in: .whitespacesAndNewlines), "4521 sub-0000:k=00 sub-0410:k=10 4521")
    }
}
