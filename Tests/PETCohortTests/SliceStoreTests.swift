import Foundation
import XCTest
import PETTestSupport
@testable import PETCohort
import PETTensor
import PETVolumes

/// `petgan prepare --slices axial`: the slice store cut from a volume store has the phantom slice
/// store's layout and the paper's 128×128×3 items, cut exactly as AxialSlices cuts a volume.
final class SliceStoreTests: XCTestCase {
    func testSliceStoreFromAVolumeStore() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let grid = Fixtures.grid(voxel: 4)
        let volumes = dir + "/prepared.h5"
        let w = try VolumeStoreWriter.create(volumes, volumeShape: grid.shape, classNames: ["NC", "AD"], voxelSize: (4, 4, 4),
                                             normalization: "max", space: .mni)
        var rng = PETRandom(seed: 5)
        var raws: [[Float]] = []
        let maps = [IntensityMap(scale: 0.5, offset: -1), IntensityMap(scale: 0.25, offset: -0.5), IntensityMap(scale: 1, offset: -1)]
        for i in 0..<3 {
            let raw = (0..<grid.count).map { _ in rng.uniform(0, 3) }
            raws.append(raw)
            try w.append(Volume(shape: grid.shape, data: raw.map { maps[i].forward($0) }, affine: grid.affine, space: .mni),
                         label: i % 2, intensity: maps[i], sourceFile: "sub-\(i).nii.gz")
        }
        try w.commit()

        let o = SliceOptions()   // 3 × 128 × 128, centres every 8 mm in MNI z −24…56
        let out = dir + "/prepared_slices-axial.h5"
        let n = try AxialSlices.writeStore(from: volumes, to: out, options: o)
        let ks = AxialSlices.centres(grid: grid, options: o)
        XCTAssertGreaterThan(ks.count, 5)
        XCTAssertEqual(n, 3 * ks.count)
        let s = try VolumeStore.open(out)
        XCTAssertEqual(s.volumeShape, [3, 128, 128])
        XCTAssertEqual(s.count, n)
        XCTAssertEqual(s.classNames, ["NC", "AD"])
        XCTAssertEqual(s.labels, [0, 1, 0].flatMap { [Int](repeating: $0, count: ks.count) })
        for (item, vol, centre) in [(0, 0, 0), (ks.count + 2, 1, 2), (3 * ks.count - 1, 2, ks.count - 1)] {
            XCTAssertEqual(s.intensity(item), maps[vol])
            // Cut from the raw values (outside the field of view is raw 0), mapped with the volume's map;
            // the store's values went through its map once (the forward map clamps, so compare mapped).
            let stored = try VolumeStore.open(volumes).readVolume(vol).data.map { maps[vol].inverse($0) }
            let want = AxialSlices.extract(stored, grid: grid, centre: ks[centre], options: o).map { maps[vol].forward($0) }
            XCTAssertEqual(try s.readVolume(item).data, want, "item \(item)")
        }
        let f = try HDF5File.open(out)
        XCTAssertEqual(try f.dataset("slice_subject").read(Int32.self).map(Int.init), [0, 1, 2].flatMap { [Int](repeating: $0, count: ks.count) })
        XCTAssertEqual(try f.dataset("slice_z_mm").read(Double.self), ks.map { grid.affine.apply(0, 0, Double($0)).2 } + ks.map { grid.affine.apply(0, 0, Double($0)).2 } + ks.map { grid.affine.apply(0, 0, Double($0)).2 })

        // No centre in range: an error naming the store, and no slice store.
        var far = SliceOptions(); far.zRangeMM = [500, 600]
        XCTAssertThrowsError(try AxialSlices.writeStore(from: volumes, to: dir + "/none.h5", options: far)) { e in
            XCTAssertTrue("\(e)".contains(volumes) && "\(e)".contains("--slice-range"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/none.h5"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["prepared.h5", "prepared_slices-axial.h5"])
    }
}
