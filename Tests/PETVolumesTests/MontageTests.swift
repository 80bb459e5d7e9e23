import XCTest
import PETTestSupport
import PETTensor
@testable import PETVolumes

final class MontageTests: XCTestCase {
    func testPNGRoundTripAndViewsAreOriented() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A RAS volume, 2 mm voxels, with one bright voxel right-anterior-superior of centre.
        var v = Volume(shape: [8, 10, 12], affine: .scaling(2, 2, 2))
        v[9, 7, 4] = 10   // i (x) = 9 > 6 right; j = 7 > 5 anterior; k = 4 = mid axial slice
        v[6, 5, 4] = 5    // coronal mid (j = 5), sagittal mid (i = 6)
        let img = Montage.render([v], options: MontageOptions(colorMap: .gray, zoom: 1, window: (0, 10), gap: 1))
        // Widths: axial 12 | coronal 12 | sagittal 10, plus 4 gaps; height max(10, 8, 8) + 2 gaps.
        XCTAssertEqual(img.width, 12 + 12 + 10 + 4); XCTAssertEqual(img.height, 10 + 2)
        // Axial view at (x = 1 + 9, y = 1 + (9 - 7)): the bright voxel, white.
        XCTAssertEqual(img[1 + 9, 1 + 2].0, 255)
        // The mid-slice voxel at value 5 shows as mid-gray in the coronal view (row = 7 - 4 = 3).
        XCTAssertEqual(Int(img[1 + 12 + 1 + 6, 1 + 1 + 3].0), 128, accuracy: 1)
        let path = dir + "/m.png"
        try PNGFile.write(img, to: path)
        XCTAssertEqual(try PNGFile.read(path), img)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["m.png"])
        // An LAS copy of the same volume renders identically (views are reoriented to RAS first).
        var las = v.reorientedToRAS()
        las = flipX(las)
        XCTAssertEqual(las.affine.orientationCodes, "LAS")
        XCTAssertEqual(Montage.render([las], options: MontageOptions(colorMap: .gray, zoom: 1, window: (0, 10), gap: 1)), img)
        XCTAssertThrowsError(try PNGFile.write(img, to: dir + "/missing/x.png"))
        XCTAssertThrowsError(try PNGFile.read(dir + "/absent.png"))
    }

    /// A montage drawn from only the shown voxels (gathered slab by slab) equals the montage of the whole
    /// volume, for RAS, permuted and flipped grids with odd anisotropic shapes.
    func testMontagePlanesGatheredBySlabsRenderLikeTheWholeVolume() {
        var rng = SystemRandomNumberGenerator()
        let affines: [Affine] = [
            .scaling(2, 2, 3),
            Affine([-1.5, 0, 0, 90, 0, 0, 2, -120, 0, -2, 0, 80, 0, 0, 0, 1]),   // L, I, A: permuted and flipped
            Affine([0, 0, 2, -40, -1, 0, 0, 60, 0, -1.25, 0, 30, 0, 0, 0, 1]),    // P, I, R
        ]
        for affine in affines {
            let shape = [9, 14, 11]
            let v = Volume(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float.random(in: 0..<1, using: &rng) }, affine: affine)
            let planes = MontagePlanes(shape: shape, affine: affine)
            XCTAssertLessThan(planes.indices.count, v.count / 2)
            var shown = [Float](repeating: -1, count: planes.indices.count)
            let plane = shape[1] * shape[2]
            var z = 0
            while z < shape[0] {
                let n = min(4, shape[0] - z)
                v.data[(z * plane)..<((z + n) * plane)].withUnsafeBufferPointer { planes.gather($0, firstDepth: z, into: &shown) }
                XCTAssertEqual(planes.range(firstDepth: z, depth: n).count, planes.indices.filter { $0 >= z * plane && $0 < (z + n) * plane }.count)
                z += n
            }
            XCTAssertFalse(shown.contains(-1), "every shown voxel gathered")
            let o = MontageOptions(colorMap: .hot, zoom: 2, window: (0.1, 0.9))
            XCTAssertEqual(Montage.render(planes: planes, rows: [shown, shown], options: o), Montage.render([v, v], options: o), "\(affine.orientationCodes)")
        }
    }

    func testColorMapsAndAnisotropicVoxels() {
        XCTAssertTrue(ColorMap.gray.rgb(0) == (0, 0, 0) && ColorMap.gray.rgb(1) == (255, 255, 255))
        XCTAssertTrue(ColorMap.hot.rgb(1) == (255, 255, 255) && ColorMap.hot.rgb(1.0 / 3).1 == 0)
        XCTAssertEqual(ColorMap.viridis.rgb(0).2, 84)
        var v = Volume(shape: [4, 4, 4], affine: .scaling(1, 1, 3))
        v.data[0] = 1
        let img = Montage.render([v], options: MontageOptions(zoom: 1, gap: 0))
        // Coronal and sagittal views are 4 voxels of 3 mm tall → 12 px.
        XCTAssertEqual(img.height, 12); XCTAssertEqual(img.width, 12)
    }

    /// Mean brightness (mean of all RGB bytes) of an image.
    func meanBrightness(_ img: RGBImage) -> Double { Double(img.pixels.reduce(0) { $0 + Int($1) }) / Double(img.pixels.count) }

    /// A cube of known SUVR fills every view (gap 0): the montage's mean brightness is exactly the
    /// colour map's at the value's place in the window.
    func testMontageOfAKnownVolumeHasTheExpectedMeanBrightness() {
        let v = Volume(shape: [8, 8, 8], data: [Float](repeating: 1.1, count: 512), affine: .scaling(2, 2, 2))
        let img = Montage.render([v], options: MontageOptions(colorMap: .inferno, zoom: 2, window: (0, 2.2), gap: 0))
        XCTAssertEqual(img.width, 3 * 16); XCTAssertEqual(img.height, 16)
        let c = ColorMap.inferno.rgb(0.5)
        let expected = (Double(c.0) + Double(c.1) + Double(c.2)) / 3
        XCTAssertEqual(meanBrightness(img), expected, accuracy: 1e-9)
        XCTAssertGreaterThan(expected, 80, "inferno at mid-window is clearly visible")
        // Side by side in one window: both halves of the row as bright as each alone.
        let pair = Montage.render(sideBySide: [[v, v]], window: (0, 2.2), options: MontageOptions(colorMap: .inferno, zoom: 2, gap: 0))
        XCTAssertEqual(pair.width, 6 * 16)
        XCTAssertEqual(meanBrightness(pair), expected, accuracy: 1e-9)
    }

    /// Real volumes are shown in the units they came from: a store holds values mapped to [−1, 1],
    /// and an SUVR window on those drew the demo's real examples nearly black.
    func testStoreVolumesAreShownInRawUnits() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/suvr.h5"
        let map = IntensityMap(scale: 2.0 / 3.0, offset: -1)    // the phantom's SUVR map
        let suvr = Volume(shape: [8, 8, 8], data: [Float](repeating: 1.1, count: 512), affine: .scaling(2, 2, 2))
        let w = try VolumeStoreWriter.create(path, volumeShape: [8, 8, 8], classNames: ["NC"], voxelSize: (2, 2, 2), normalization: "suvr(3)")
        try w.append(Normalize.apply(map, to: suvr), label: 0, intensity: map)
        try w.commit()
        let store = try VolumeStore.open(path)
        let raw = try store.readVolumeInRawUnits(0)
        XCTAssertLessThan(maxAbsDifference(raw.data, suvr.data), 1e-5)
        let look = MontageOptions(colorMap: .inferno, zoom: 2, window: (0, 2.2), gap: 0)
        let shown = meanBrightness(Montage.render([raw], options: look))
        XCTAssertEqual(shown, meanBrightness(Montage.render([suvr], options: look)), accuracy: 0.5)
        XCTAssertLessThan(meanBrightness(Montage.render([try store.readVolume(0)], options: look)), 10, "normalized values in an SUVR window are black")
    }
}
