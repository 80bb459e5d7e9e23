// Memorisation audit (`evaluate --train data.h5`): is the model copying its training volumes? For each
// synthetic volume, the distance to its nearest training volume, in voxel space (RMS difference of the
// evaluation's block-averaged volumes, in the real set's physical units: stores are mapped back with
// their intensity maps exactly as the real set is) and in the seeded feature space (Euclidean, the pinned
// extractor of fd_seeded). The same distances for the held-out real volumes (the --real set, which the
// model did not train on) are the reference: a synthetic volume is a near-copy when it is closer to a
// training volume than the q-quantile (nearest-rank, default q = 0.05) of the held-out distances.
// nn_ratio = median synthetic distance / median held-out distance (< 1: synthetic volumes sit closer to
// the training set than unseen real ones do). The training store is streamed: one volume's slabs and
// block average at a time, the seeded features in batches of 8 (counted by the MemoryAccountant).
// Volumes only.

import Foundation
import PETTensor
import PETVolumes

public final class MemorisationMetric: EvaluationMetric {
    public struct SyntheticRow: Codable {
        public var synthetic: String, className: String
        public var nearestTrain: String, nearestTrainFeatures: String
        public var voxelDistance: Double, featureDistance: Double
        public var nearCopyVoxels: Bool, nearCopyFeatures: Bool
        enum CodingKeys: String, CodingKey {
            case synthetic, className = "class", nearestTrain = "nearest_train", nearestTrainFeatures = "nearest_train_features",
                 voxelDistance = "voxel_distance", featureDistance = "feature_distance", nearCopyVoxels = "near_copy_voxels",
                 nearCopyFeatures = "near_copy_features"
        }
    }
    /// Nearest-training distances of one set in one space.
    public struct DistanceSummary: Codable {
        public var median: Double, min: Double, p05: Double, n: Int
        init(_ d: [Double]) {
            median = Statistics.percentile(d, 50); min = d.min() ?? .nan; p05 = Statistics.percentile(d, 5); n = d.count
        }
    }
    public struct SpaceResult: Codable {
        public var space: String
        public var synthetic: DistanceSummary, heldOutReal: DistanceSummary
        /// Near-copy threshold: the ⌈q·n⌉-th smallest held-out distance; near-copy means strictly closer.
        public var threshold: Double
        public var nearCopies: Int
        /// Median synthetic / median held-out nearest-training distance.
        public var nnRatio: Double, nnRatioInterval: Interval
        enum CodingKeys: String, CodingKey {
            case space, synthetic, threshold, heldOutReal = "held_out_real", nearCopies = "near_copies", nnRatio = "nn_ratio", nnRatioInterval = "nn_ratio_interval"
        }
    }
    public struct ClosestPair: Codable { public var synthetic: String, train: String, voxelDistance: Double
        enum CodingKeys: String, CodingKey { case synthetic, train, voxelDistance = "voxel_distance" } }
    public struct Result: Codable {
        public var train: String, nTrain: Int, nHeldOutReal: Int, nSynthetic: Int
        public var quantile: Double
        public var voxels: SpaceResult, features: SpaceResult
        /// Synthetic volumes flagged in either space.
        public var nearCopies: Int
        /// nn_ratio of the voxel space (the learning curves' number).
        public var nnRatio: Double
        /// Held-out real volumes at distance 0 from a training volume (the sets overlap: not held out).
        public var heldOutExactDuplicates: Int
        public var closestPairs: [ClosestPair]
        public var perSynthetic: [SyntheticRow]
        public var method: String
        enum CodingKeys: String, CodingKey {
            case train, quantile, voxels, features, method
            case nTrain = "n_train", nHeldOutReal = "n_held_out_real", nSynthetic = "n_synthetic", nearCopies = "near_copies",
                 nnRatio = "nn_ratio", heldOutExactDuplicates = "held_out_exact_duplicates", closestPairs = "closest_pairs", perSynthetic = "per_synthetic"
        }
    }
    public static let placement = MetricPlacement.at(["memorisation"])

    let trainSet: VolumeSet
    init(trainSet: VolumeSet) { self.trainSet = trainSet }

    public static func make(for run: EvaluationRun) throws -> MemorisationMetric? {
        guard let path = run.options.train else { return nil }
        let set: VolumeSet
        do {
            set = try VolumeSet.open(path, memoryBudget: run.options.memoryBudget.map { max(8 << 20, $0 / 8) })
        } catch let MetricsError.badInput(p, reason) {
            throw MetricsError.badInput(path: p, reason: "training store (--train): \(reason)")
        } catch {
            throw MetricsError.badInput(path: path, reason: "training store (--train): \(error)")
        }
        guard run.isVolumes, !set.holdsSlices else {
            throw MetricsError.badInput(path: path, reason: "training store (--train): the memorisation audit compares 3D volumes; 2D samples are not supported")
        }
        guard set.shape == run.itemShape else {
            throw MetricsError.badInput(path: path, reason: "training store (--train) has volumes of shape \(set.shape) (D,H,W) but the evaluated volumes have \(run.itemShape)")
        }
        return MemorisationMetric(trainSet: set)
    }

    /// Nearest-rank q-quantile of `d` (the ⌈q·n⌉-th smallest, at least the smallest).
    static func nearestRank(_ d: [Double], _ q: Double) -> Double {
        let s = d.sorted()
        guard !s.isEmpty else { return .nan }
        return s[min(s.count - 1, max(0, Int((q * Double(s.count)).rounded(.up)) - 1))]
    }

    static func rms(_ a: [Float], _ b: [Float]) -> Double {
        var s = 0.0
        for i in 0..<a.count { let e = Double(a[i]) - Double(b[i]); s += e * e }
        return (s / Double(max(1, a.count))).squareRoot()
    }

    static func euclid(_ a: [Float], _ b: [Float]) -> Double {
        var s = 0.0
        for i in 0..<a.count { let e = Double(a[i]) - Double(b[i]); s += e * e }
        return s.squareRoot()
    }

    public func finish(_ run: EvaluationRun) throws -> Result? {
        let o = run.options
        let queries = run.real.blockAverages + run.synthetic.blockAverages
        let nReal = run.real.blockAverages.count, nQ = queries.count
        let f = try SeededFrechetMetric.features(run)
        let qFeatures = f.real + f.synthetic
        var bestVoxel = [Double](repeating: .infinity, count: nQ), bestVoxelIndex = [Int](repeating: -1, count: nQ)
        var bestFeature = [Double](repeating: .infinity, count: nQ), bestFeatureIndex = [Int](repeating: -1, count: nQ)

        // The streamed side: one slab, the current batch of block averages, their features.
        let plane = run.itemShape[1] * run.itemShape[2], small = run.blockShape.reduce(1, *)
        let batchSize = 8
        let streamBytes = 4 * (run.slabDepth * plane + batchSize * (small + SeededFeatureNetwork.featureCount))
        try MemoryAccountant.shared.reserve(streamBytes, what: "memorisation audit: training-store slab and block averages")
        defer { MemoryAccountant.shared.release(streamBytes) }
        let progress = ProgressReporter(label: "memorisation audit: training store", total: trainSet.count, log: o.log, seconds: 2)
        var batch: [[Float]] = [], batchIndex: [Int] = []
        func flush() throws {
            guard !batch.isEmpty else { return }
            let tf = try SeededFeatureNetwork.v1.features(batch, shape: run.blockShape, mean: f.mean, sd: f.sd)
            var dv = [Double](repeating: 0, count: nQ * batch.count), df = dv
            let b = batch
            dv.withUnsafeMutableBufferPointer { dvp in df.withUnsafeMutableBufferPointer { dfp in
                let pv = dvp.baseAddress!, pf = dfp.baseAddress!
                Parallel.forEach(nQ) { q in
                    for t in 0..<b.count {
                        pv[q * b.count + t] = Self.rms(queries[q], b[t])
                        pf[q * b.count + t] = Self.euclid(qFeatures[q], tf[t])
                    }
                }
            } }
            for q in 0..<nQ { for t in 0..<b.count {
                if dv[q * b.count + t] < bestVoxel[q] { bestVoxel[q] = dv[q * b.count + t]; bestVoxelIndex[q] = batchIndex[t] }
                if df[q * b.count + t] < bestFeature[q] { bestFeature[q] = df[q * b.count + t]; bestFeatureIndex[q] = batchIndex[t] }
            } }
            batch = []; batchIndex = []
        }
        for i in 0..<trainSet.count {
            var avg: [Float] = []
            avg.reserveCapacity(small)
            try run.forEachSlab([(trainSet, i)]) { slabs, _ in avg += run.blockAverage(slabs[0]) }
            batch.append(avg); batchIndex.append(i)
            if batch.count == batchSize { try flush() }
            progress.update(i + 1)
        }
        try flush()

        let q = o.nearCopyQuantile
        func space(_ name: String, _ best: [Double], seed: UInt64) -> SpaceResult {
            let heldOut = Array(best[0..<nReal]), synthetic = Array(best[nReal...])
            let threshold = Self.nearestRank(heldOut, q)
            let ratio = Statistics.percentile(synthetic, 50) / Statistics.percentile(heldOut, 50)
            let interval = Intervals.bootstrap(sizes: [synthetic.count, heldOut.count], resamples: o.bootstrapResamples, seed: seed) { idx in
                Statistics.percentile(idx[0].map { synthetic[$0] }, 50) / Statistics.percentile(idx[1].map { heldOut[$0] }, 50)
            }
            return SpaceResult(space: name, synthetic: DistanceSummary(synthetic), heldOutReal: DistanceSummary(heldOut), threshold: threshold,
                               nearCopies: synthetic.filter { $0 < threshold }.count, nnRatio: ratio, nnRatioInterval: interval)
        }
        let voxels = space("voxels: RMS difference of \(run.blockShape.map(String.init).joined(separator: "×")) block averages (\(run.opened.real.units))", bestVoxel, seed: o.seed &+ 71)
        let features = space("features: Euclidean distance of \(SeededFeatureNetwork.version) features", bestFeature, seed: o.seed &+ 72)
        let ss = run.syntheticSet
        var rows: [SyntheticRow] = []
        for s in 0..<ss.count {
            let k = nReal + s
            rows.append(SyntheticRow(synthetic: ss.names[s], className: ss.labels[s] >= 0 && ss.labels[s] < run.classNames.count ? run.classNames[ss.labels[s]] : "",
                                     nearestTrain: trainSet.names[bestVoxelIndex[k]], nearestTrainFeatures: trainSet.names[bestFeatureIndex[k]],
                                     voxelDistance: bestVoxel[k], featureDistance: bestFeature[k],
                                     nearCopyVoxels: bestVoxel[k] < voxels.threshold, nearCopyFeatures: bestFeature[k] < features.threshold))
        }
        let duplicates = bestVoxel[0..<nReal].filter { $0 == 0 }.count
        if duplicates > 0 {
            run.notes.append("Memorisation audit: \(duplicates) real volume(s) are identical to a training volume: the --real set is not held out from --train, so the near-copy threshold is 0 and the ratio means nothing.")
        }

        // The closest pairs, side by side (synthetic over its nearest training volume).
        let closest = (0..<ss.count).sorted { bestVoxel[nReal + $0] < bestVoxel[nReal + $1] }.prefix(3)
        var pairs: [ClosestPair] = []
        if case let .volumes(real, _) = run.inputs {
            let planes = MontagePlanes(shape: real.shape, affine: real.affine)
            var shownRows: [[Float]] = []
            for s in closest {
                for (set, i) in [(ss, s), (trainSet as EvaluationSet, bestVoxelIndex[nReal + s])] {
                    var shown = [Float](repeating: 0, count: planes.indices.count)
                    try run.forEachSlab([(set, i)]) { slabs, z0 in slabs[0].withUnsafeBufferPointer { planes.gather($0, firstDepth: z0, into: &shown) } }
                    shownRows.append(shown)
                }
                pairs.append(ClosestPair(synthetic: ss.names[s], train: trainSet.names[bestVoxelIndex[nReal + s]], voxelDistance: bestVoxel[nReal + s]))
            }
            if !shownRows.isEmpty {
                try run.saveFigure(Montage.render(planes: planes, rows: shownRows, options: MontageOptions(colorMap: .gray, zoom: 2, window: (0, run.real.hi))), "memorisation_pairs.png")
            }
        }
        let nearCopies = rows.filter { $0.nearCopyVoxels || $0.nearCopyFeatures }.count
        return Result(train: trainSet.path, nTrain: trainSet.count, nHeldOutReal: nReal, nSynthetic: ss.count, quantile: q,
                      voxels: voxels, features: features, nearCopies: nearCopies, nnRatio: voxels.nnRatio,
                      heldOutExactDuplicates: duplicates, closestPairs: pairs, perSynthetic: rows,
                      method: "Nearest training volume of every synthetic and every held-out real (--real) volume, over all \(trainSet.count) training volumes (streamed). Near-copy: closer than the nearest-rank \(String(format: "%g", 100 * q))th percentile of the held-out distances (the ⌈q·n⌉-th smallest) in that space. nn_ratio: median synthetic / median held-out distance; 95% interval by percentile bootstrap of both sets (\(o.bootstrapResamples) resamples).")
    }

    public static func reportSection(_ r: Result) -> String? {
        var h = "<h2>Memorisation audit</h2><p class=\"protocol\">\(Report.esc(r.method))</p>"
        h += "<p>Training store <code>\(Report.esc(r.train))</code>: \(r.nTrain) volumes; \(r.nSynthetic) synthetic, \(r.nHeldOutReal) held-out real volumes. <b>\(r.nearCopies) near-cop\(r.nearCopies == 1 ? "y" : "ies")</b> flagged; nn_ratio (voxels) <b>\(Report.num(r.nnRatio, 3))</b> (1: as far from the training set as unseen real volumes; well below 1: copying).</p>"
        h += "<table><thead><tr><th>space</th><th>synthetic: median (min)</th><th>held-out real: median (min)</th><th>near-copy threshold</th><th>near copies</th><th>nn_ratio (95%)</th></tr></thead><tbody>"
        for s in [r.voxels, r.features] {
            h += "<tr><td>\(Report.esc(s.space))</td><td>\(Report.num(s.synthetic.median, 4)) (\(Report.num(s.synthetic.min, 4)))</td><td>\(Report.num(s.heldOutReal.median, 4)) (\(Report.num(s.heldOutReal.min, 4)))</td><td>\(Report.num(s.threshold, 4))</td><td>\(s.nearCopies)</td><td>\(Report.num(s.nnRatio, 3)) (\(Report.interval(s.nnRatioInterval, 3)))</td></tr>"
        }
        h += "</tbody></table>"
        if !r.closestPairs.isEmpty {
            h += "<figure>{{memorisation_pairs.png}}<figcaption>The \(r.closestPairs.count) synthetic volumes closest to a training volume (voxel space), each row pair: synthetic, then its nearest training volume — "
            h += r.closestPairs.enumerated().map { "rows \(2 * $0.offset + 1)–\(2 * $0.offset + 2): \(Report.esc($0.element.synthetic)) / \(Report.esc($0.element.train)) (distance \(Report.num($0.element.voxelDistance, 4)))" }.joined(separator: "; ")
            h += ".</figcaption></figure>"
        }
        let flagged = r.perSynthetic.filter { $0.nearCopyVoxels || $0.nearCopyFeatures }
        if !flagged.isEmpty {
            h += "<table><thead><tr><th>flagged synthetic</th><th>class</th><th>nearest training (voxels)</th><th>voxel distance</th><th>feature distance</th></tr></thead><tbody>"
            for row in flagged.prefix(50) {
                h += "<tr><td>\(Report.esc(row.synthetic))</td><td>\(Report.esc(row.className))</td><td>\(Report.esc(row.nearestTrain))</td><td>\(Report.num(row.voxelDistance, 4))\(row.nearCopyVoxels ? " *" : "")</td><td>\(Report.num(row.featureDistance, 4))\(row.nearCopyFeatures ? " *" : "")</td></tr>"
            }
            h += "</tbody></table>"
        }
        return h
    }
}
