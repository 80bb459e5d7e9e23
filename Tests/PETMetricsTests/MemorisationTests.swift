import XCTest
import PETTestFixtures
import PETTestSupport
import PETCohort
import PETTensor
import PETVolumes
@testable import PETMetrics

/// The memorisation audit (`evaluate --train`): exact copies of training volumes are flagged, held-out
/// real volumes are not, and every nearest-training distance equals a brute-force computation.
final class MemorisationTests: XCTestCase {
    func testFlagsExactCopiesAndNotHeldOutVolumes() throws {
        let train = try Fixtures.smallCohort()
        let dir = try makeTempDir("memorisation")
        let heldOut = dir + "/held-out.h5"
        try PhantomCohort.makeSmallCohort(at: heldOut, count: 12, seed: 23, templatesDirectory: RepositoryPaths.templates)
        // Synthetic: two exact copies of training volumes and four held-out real volumes (distinct file names).
        let syn = dir + "/generated"
        _ = try Fixtures.writePerturbedNIfTI(from: train, to: syn, offset: 0, indices: [0, 5])
        _ = try Fixtures.writePerturbedNIfTI(from: heldOut, to: syn, offset: 0, indices: [1, 2, 3, 4])
        var o = EvaluationOptions(real: heldOut, synthetic: syn, out: dir + "/report")
        o.skipClassifiers = true; o.diversityPairs = 2; o.mmdPermutations = 5; o.bootstrapResamples = 200
        o.templatesDirectory = RepositoryPaths.templates
        o.train = train
        let result = try Evaluation.run(o)
        let m = try XCTUnwrap(result.result(of: MemorisationMetric.self))
        XCTAssertEqual(m.nTrain, 12); XCTAssertEqual(m.nHeldOutReal, 12); XCTAssertEqual(m.nSynthetic, 6)
        XCTAssertEqual(m.heldOutExactDuplicates, 0)

        let trainSet = try VolumeSet.open(train), heldSet = try VolumeSet.open(heldOut), synSet = try VolumeSet.open(syn)
        for row in m.perSynthetic {
            let copyOf = row.synthetic.contains("seed00000") ? 0 : row.synthetic.contains("seed00005") ? 5 : nil
            if let copyOf {
                XCTAssertTrue(row.nearCopyVoxels && row.nearCopyFeatures, "\(row.synthetic) is a copy of training volume \(copyOf)")
                XCTAssertEqual(row.nearestTrain, trainSet.names[copyOf]); XCTAssertEqual(row.nearestTrainFeatures, trainSet.names[copyOf])
                XCTAssertEqual(row.voxelDistance, 0, accuracy: 1e-6); XCTAssertEqual(row.featureDistance, 0, accuracy: 1e-5)
            } else {
                XCTAssertFalse(row.nearCopyVoxels || row.nearCopyFeatures, "\(row.synthetic) is a held-out real volume")
            }
        }
        XCTAssertEqual(m.nearCopies, 2); XCTAssertEqual(m.voxels.nearCopies, 2); XCTAssertEqual(m.features.nearCopies, 2)
        XCTAssertEqual(result.summary.nnRatio, m.nnRatio)

        // Brute force: block averages of every volume, RMS to every training volume.
        let factor = Evaluation.smallFactor(trainSet.shape)
        func small(_ s: VolumeSet, _ i: Int) throws -> [Float] { ImageMetrics.downsample(try s.values(i), shape: s.shape, factor: factor).0 }
        let trainSmall = try (0..<trainSet.count).map { try small(trainSet, $0) }
        func nearest(_ x: [Float]) -> (Double, Int) {
            var best = (Double.infinity, -1)
            for (t, y) in trainSmall.enumerated() {
                let d = (zip(x, y).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(x.count)).squareRoot()
                if d < best.0 { best = (d, t) }
            }
            return best
        }
        let heldD = try (0..<heldSet.count).map { nearest(try small(heldSet, $0)).0 }
        for (s, row) in m.perSynthetic.enumerated() {
            XCTAssertEqual(row.synthetic, synSet.names[s])
            let (d, t) = nearest(try small(synSet, s))
            XCTAssertEqual(row.voxelDistance, d, accuracy: 1e-9 * max(1, d)); XCTAssertEqual(row.nearestTrain, trainSet.names[t])
        }
        // Threshold: the ⌈0.05·12⌉ = 1st smallest held-out distance; ratio of medians.
        XCTAssertEqual(m.voxels.threshold, heldD.min()!, accuracy: 1e-9)
        let synD = m.perSynthetic.map(\.voxelDistance)
        XCTAssertEqual(m.nnRatio, Statistics.percentile(synD, 50) / Statistics.percentile(heldD, 50), accuracy: 1e-9)
        XCTAssertTrue(m.voxels.nnRatioInterval.low.isFinite && m.voxels.nnRatioInterval.low <= m.voxels.nnRatioInterval.high)

        // The closest pairs are the copies, shown side by side in the report.
        XCTAssertEqual(Set(m.closestPairs.prefix(2).map(\.train)), Set([trainSet.names[0], trainSet.names[5]]))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/report/figures/memorisation_pairs.png"))
        let html = try String(contentsOfFile: dir + "/report/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("<h2>Memorisation audit</h2>"))
        XCTAssertFalse(html.contains("{{memorisation_pairs.png}}"), "figure placeholder left in the page")
        let json = try jsonObject(result)
        XCTAssertEqual((json["memorisation"] as? [String: Any])?["near_copies"] as? Int, 2)

        // The real set passed as the training store: every held-out distance is 0, and the run says so.
        o.train = heldOut; o.out = dir + "/report-same"
        let same = try Evaluation.run(o)
        XCTAssertEqual(same.result(of: MemorisationMetric.self)?.heldOutExactDuplicates, 12)
        XCTAssertTrue(same.header.notes.contains { $0.contains("not held out") })
    }

    func testBadTrainingStoreIsOneClearError() throws {
        let real = try Fixtures.smallCohort()
        let dir = try makeTempDir("memorisation-bad")
        var o = EvaluationOptions(real: real, synthetic: real, out: dir + "/r")
        o.skipClassifiers = true
        o.train = dir + "/missing.h5"
        XCTAssertThrowsError(try Evaluation.run(o)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("--train") && text.contains(dir + "/missing.h5") && text.contains("no such file"), text)
        }
        // A store on another grid.
        let other = dir + "/other.h5"
        let w = try VolumeStoreWriter.create(other, volumeShape: [20, 22, 20], classNames: ["NC"], voxelSize: (4, 4, 4), normalization: "none")
        try w.append(Volume(shape: [20, 22, 20], data: blobVolume([20, 22, 20], seed: 1), affine: Affine.scaling(4, 4, 4)), label: 0, sourceFile: "blob")
        try w.commit()
        o.train = other
        XCTAssertThrowsError(try Evaluation.run(o)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("--train") && text.contains("shape"), text)
        }
    }
}
