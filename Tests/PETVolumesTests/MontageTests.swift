import XCTest
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
}
