// `petgan evaluate`: every metric of the evaluation on a real and a synthetic set, written to
// REPORT_DIR/metrics.json and REPORT_DIR/report.html with figures. Tiled analysis (issue 7): volumes
// are read in depth slabs (`VolumeSet.slabReader`) and every voxelwise metric is accumulated slab by
// slab (PSNR and MSE sums in voxel order, `StreamingSSIM`/`StreamingMSSSIM` with a 10-plane halo,
// regional sums, the joint histogram, 2D slices), so no whole volume is held: only block-averaged
// copies (≤ 32 voxels a side) for the classifiers and the voxels the montage figures show. The slab
// schedule does not change a single bit of the results (a test compares slab depth 2 with whole
// volumes).
//
// Public API:
//   var o = EvaluationOptions(real: "data.h5", synthetic: "gen/", out: "report")
//   let metrics = try Evaluation.run(o)          // [String: Any], also written as metrics.json

import Foundation
import PETTensor
import PETTiling
import PETVolumes

public struct EvaluationOptions {
    public var real: String, synthetic: String, out: String
    public var classes: [String] = []
    public var seed: UInt64 = 1
    public var memoryBudget: Int? = nil
    public var templatesDirectory: String? = nil
    /// Synthetic samples paired with their nearest real sample (nil: all).
    public var maxPairs: Int? = nil
    /// Random pairs per class for MS-SSIM diversity.
    public var diversityPairs = 20
    public var classifierEpochs = 25
    /// Every classifier fit takes at least this many Adam steps (small sets get more epochs).
    public var classifierMinSteps = SmallCNN.FitOptions().minSteps
    public var augmentationSeeds: [UInt64] = [1, 2, 3]
    public var mmdPermutations = 200
    public var skipClassifiers = false
    /// A run directory or checkpoint whose critic scores both sets (tiled within `memoryBudget`).
    public var critic: String? = nil
    /// Depth planes per slab (rounded up to a multiple of the block-averaging factor; ≥ D: whole volumes).
    public var slabDepth = 16
    /// 2D samples against a volume store: where real slices are cut (MNI z range in mm and step),
    /// as `petgan phantom --slices axial --slice-range … --slice-step …` cut the 2D training data
    /// (nil: that command's defaults).
    public var sliceRangeMM: [Double]? = nil
    public var sliceStepMM: Double? = nil
    public var log: ((String) -> Void)? = nil
    public init(real: String, synthetic: String, out: String) { self.real = real; self.synthetic = synthetic; self.out = out }
}

public enum Evaluation {
    /// Block-averaging factor that brings the largest axis to at most 32 voxels.
    static func smallFactor(_ shape: [Int]) -> Int { max(1, Int((Double(shape.max()!) / 32).rounded(.up))) }

    /// Scales of MS-SSIM that fit: the coarsest scale must still hold an 11-voxel window.
    static func msssimScales(_ shape: [Int]) -> Int {
        var s = 1, m = shape.filter { $0 > 1 }.min()!
        while s < 5 && m / 2 >= 11 { s += 1; m /= 2 }
        return s
    }

    struct PairResult { var synth: Int, real: Int, psnr3D: Double, ssim3D: Double, psnr2D: Double, ssim2D: Double, slices: Int }

    public static func run(_ o: EvaluationOptions) throws -> [String: Any] {
        let t0 = Date()
        let log = o.log ?? { _ in }
        // The budget is for the whole run: each store's chunk cache gets an eighth of it (a chunk row per
        // open slab reader is what streaming needs: 5.5 MB at 1 mm), the critic's tiles what is left.
        let storeBudget = o.memoryBudget.map { max(8 << 20, $0 / 4) }
        let real = try VolumeSet.open(o.real, memoryBudget: storeBudget)
        let synthAll = try VolumeSet.open(o.synthetic, memoryBudget: storeBudget)
        // 2D samples (the 2D model's (channels, H, W) slices) follow the 2D protocol.
        if real.holdsSlices || synthAll.holdsSlices { return try run2D(o, real: real, synthetic: synthAll, start: t0) }
        guard real.shape == synthAll.shape else {
            throw MetricsError.mismatch(detail: "\(o.real) has volumes of shape \(real.shape) (D,H,W) but \(o.synthetic) has \(synthAll.shape); resample one onto the other's grid (petgan prepare)")
        }
        synthAll.alignClasses(to: real.classNames)
        let realSet = try real.restricted(toClasses: o.classes)
        let synth = try synthAll.restricted(toClasses: o.classes)
        guard realSet.count >= 2, synth.count >= 2 else {
            throw MetricsError.tooSmall(detail: "evaluation needs at least 2 real and 2 synthetic volumes (have \(realSet.count) and \(synth.count))")
        }
        try FileManager.default.createDirectory(atPath: o.out, withIntermediateDirectories: true)
        let figures = (o.out as NSString).appendingPathComponent("figures")
        try FileManager.default.createDirectory(atPath: figures, withIntermediateDirectories: true)
        let shape = real.shape
        let classNames = real.classNames
        let nClasses = max(1, classNames.count)
        let unknownSynth = synth.labels.filter { $0 < 0 }.count

        // Atlas.
        var atlas = try RegionAtlas.aal2(shape: shape, affine: real.affine, templatesDirectory: o.templatesDirectory)
        if atlas == nil { atlas = RegionAtlas.fallback(shape: shape, affine: real.affine, referenceMean: try realSet.values(0)) }
        let planes = MontagePlanes(shape: shape, affine: real.affine)
        let regional = RegionalAccumulator(atlas: atlas!, classes: nClasses, planes: planes)
        log("atlas: \(atlas!.source), \(atlas!.brainCount) brain voxels, \(atlas!.regionNames.count) regions")

        // Pass 1: stream every volume once, slab by slab.
        let factor = smallFactor(shape)
        let fd = shape[0] > 1 ? factor : 1
        let slabDepth = fd * max(1, (o.slabDepth + fd - 1) / fd)
        let plane = shape[1] * shape[2]
        let smallShape = [max(1, shape[0] / fd), max(1, shape[1] / factor), max(1, shape[2] / factor)]
        func stream(_ set: VolumeSet, synthetic: Bool) throws -> (small: [[Float]], lo: Float, hi: Float, maxima: [Float]) {
            var small: [[Float]] = [], lo = Float.infinity, hi = -Float.infinity, maxima: [Float] = []
            let p = ProgressReporter(label: synthetic ? "reading synthetic" : "reading real", total: set.count, log: o.log, seconds: 2)
            for i in 0..<set.count {
                var sm: [Float] = [], vmax = -Float.infinity
                regional.beginVolume(label: set.labels[i], synthetic: synthetic)
                try forEachSlab([(set, i)], depth: slabDepth) { slabs, z0 in
                    let v = slabs[0]
                    for x in v { lo = min(lo, x); hi = max(hi, x); vmax = max(vmax, x) }
                    // Whole depth blocks only (slabs are multiples of fd; a trailing partial block is dropped, as downsample does).
                    let whole = (v.count / plane / fd) * fd
                    if whole > 0 { sm += ImageMetrics.downsample(Array(v[0..<(whole * plane)]), shape: [whole, shape[1], shape[2]], factor: factor).0 }
                    v.withUnsafeBufferPointer { regional.addSlab($0, firstDepth: z0) }
                }
                regional.endVolume()
                small.append(sm); maxima.append(vmax)
                p.update(i + 1)
            }
            return (small, lo, hi, maxima)
        }
        let r = try stream(realSet, synthetic: false)
        let s = try stream(synth, synthetic: true)
        let dataRange = Double(r.hi - min(0, r.lo))
        guard dataRange > 0 else { throw MetricsError.badInput(path: o.real, reason: "every real volume is constant (\(r.hi))") }

        // Pairs: each synthetic sample against its nearest real sample (same class when known).
        let pairCount = min(synth.count, o.maxPairs ?? synth.count)
        var pairOrder = Array(0..<synth.count)
        var prng = PETRandom(seed: o.seed)
        if pairCount < synth.count { prng.shuffle(&pairOrder) }
        let bins = 96
        var joint = [Double](repeating: 0, count: bins * bins)
        var pairs: [PairResult] = []
        let pp = ProgressReporter(label: "nearest-real pairs", total: pairCount, log: o.log, seconds: 2)
        let voxels = Double(shape.reduce(1, *))
        for (n, si) in pairOrder.prefix(pairCount).enumerated() {
            let c = synth.labels[si]
            var cand = (0..<realSet.count).filter { c < 0 || realSet.labels[$0] == c }
            if cand.isEmpty { cand = Array(0..<realSet.count) }
            let coarse = Dictionary(uniqueKeysWithValues: cand.map { ($0, ImageMetrics.mse(r.small[$0], s.small[si])) })
            cand.sort { coarse[$0]! < coarse[$1]! }
            // Full-resolution MSE of the top 3 in one pass over the synthetic sample.
            let top = Array(cand.prefix(3))
            var sums = [Double](repeating: 0, count: top.count)
            try forEachSlab([(synth, si)] + top.map { (realSet, $0) }, depth: slabDepth) { slabs, _ in
                let sv = slabs[0]
                for t in 0..<top.count {
                    let rv = slabs[t + 1]
                    var acc = sums[t]
                    for i in 0..<sv.count { let d = Double(rv[i]) - Double(sv[i]); acc += d * d }
                    sums[t] = acc
                }
            }
            var best = -1, bestMSE = Double.infinity
            for (t, ri) in top.enumerated() where sums[t] / voxels < bestMSE { best = ri; bestMSE = sums[t] / voxels }
            // The pair's metrics in a second pass: PSNR, SSIM (streamed), 2D slices, joint histogram.
            var psnr = PSNRAccumulator()
            let ssim3 = try StreamingSSIM(shape: shape, dataRange: dataRange)
            let vmax = r.maxima[best]
            var p2: [Double] = [], s2: [Double] = []
            let lo = Double(min(0, r.lo)), span = dataRange
            try forEachSlab([(realSet, best), (synth, si)], depth: slabDepth) { slabs, _ in
                let rv = slabs[0], sv = slabs[1]
                psnr.add(real: rv, synthetic: sv)
                ssim3.add(rv, sv)
                // 2D protocol (the paper's): axial slices whose real slice reaches 10% of the volume maximum.
                for k in 0..<(rv.count / plane) {
                    let rs = Array(rv[(k * plane)..<((k + 1) * plane)])
                    guard (rs.max() ?? 0) >= 0.1 * vmax else { continue }
                    let ss = Array(sv[(k * plane)..<((k + 1) * plane)])
                    let pv = ImageMetrics.psnr(real: rs, synthetic: ss)
                    if pv.isFinite { p2.append(pv) }
                    s2.append(try ImageMetrics.ssim(rs, ss, shape: [shape[1], shape[2]], dataRange: dataRange))
                }
                addToJointHistogram(&joint, bins: bins, real: rv, synthetic: sv, lo: lo, span: span)
            }
            pairs.append(PairResult(synth: si, real: best, psnr3D: psnr.value, ssim3D: try ssim3.finish().ssim,
                                    psnr2D: Statistics.mean(p2), ssim2D: Statistics.mean(s2), slices: s2.count))
            pp.update(n + 1)
        }

        // Diversity: MS-SSIM between random pairs of the same class, synthetic and (reference) real.
        let scales = msssimScales(shape)
        func diversity(_ set: VolumeSet, seed: UInt64) throws -> [String: Any] {
            try diversityPairs(labels: set.labels, classNames: classNames, maxPairs: o.diversityPairs, seed: seed) { a, b in
                let m = try StreamingMSSSIM(shape: shape, dataRange: dataRange, scales: scales)
                try forEachSlab([(set, a), (set, b)], depth: slabDepth) { slabs, _ in m.add(slabs[0], slabs[1]) }
                return try m.finish()
            }
        }
        log("MS-SSIM diversity (\(scales) scales)")
        let divSynth = try diversity(synth, seed: o.seed &+ 11)
        let divReal = try diversity(realSet, seed: o.seed &+ 12)

        // Distribution metrics on block-averaged voxels.
        log("MMD on voxels")
        let mmdVox = DistributionMetrics.mmd(r.small, s.small, permutations: o.mmdPermutations, seed: o.seed &+ 21)

        // The run's own critic, tile by tile.
        var criticResult: CriticScoresResult? = nil
        if let ck = o.critic {
            log("critic scores (\(ck))")
            // What this run holds besides the critic: the process itself (runtime and libraries, ~30 MB
            // measured), chunk caches, the atlas maps, the block-averaged copies.
            let held = (32 << 20) + (real.cacheBytes + synthAll.cacheBytes) + atlas!.region.count * 5
                + (r.small.count + s.small.count) * smallShape.reduce(4, *)
            var criticBudget: Int? = nil
            if let b = o.memoryBudget {
                guard b - held > 0 else {
                    throw MetricsError.tooSmall(detail: "--memory-budget \(b >> 20) MB leaves nothing for the critic: the evaluation already holds \(held >> 20) MB (chunk caches, atlas, block-averaged copies); try --memory-budget \((held >> 20) * 2 + 64)")
                }
                criticBudget = b - held
            }
            do {
                criticResult = try CriticScores.run(checkpoint: ck, real: realSet, synthetic: synth, memoryBudget: criticBudget, log: o.log)
            } catch TilingError.budgetTooSmall(_, let need, let detail) {
                // Name the evaluate-level budget that works, not the critic's share of it.
                // The chunk caches grow with the budget (an eighth each), so solve total = need + fixed + k·total/8.
                let stores = [real, synthAll].filter { $0.cacheBytes > 0 }.count
                let total = Int(Double(need + held - real.cacheBytes - synthAll.cacheBytes) / (1 - Double(stores) / 8)) + (1 << 20)
                throw MetricsError.tooSmall(detail: "--memory-budget \((o.memoryBudget ?? 0) >> 20) MB is too small for the critic of \(ck): \(detail), and the evaluation holds \(formatBytes(held)) besides; --memory-budget \(Int((Double(total) / 1_048_576).rounded(.up))) would work")
            }
        }

        // Classifiers: feature network (real classes), Fréchet, MMD on features, C2ST, augmentation.
        var notes: [String] = []
        let cls = try classifierMetrics(real: r.small, realLabels: realSet.labels, synthetic: s.small, syntheticLabels: synth.labels,
                                        classNames: classNames, shape: smallShape, options: o, notes: &notes)
        let metricsFeatures = cls.features, c2st = cls.c2st, augmentation = cls.augmentation
        if unknownSynth > 0 { notes.append("\(unknownSynth) synthetic sample(s) have no class (no sidecar 'class'): paired against every real sample and left out of per-class statistics.") }

        // Figures.
        log("figures")
        var figs: [String: String] = [:]
        func save(_ img: RGBImage, _ name: String) throws {
            let p = (figures as NSString).appendingPathComponent(name)
            try PNGFile.write(img, to: p)
            figs[name] = p
        }
        let realMax = Float(r.hi)
        var examples: [[Float]] = [], exampleCaptions: [String] = []
        for (set, tag) in [(realSet, "real"), (synth, "synthetic")] {
            var picked: [Int] = []
            for c in (set.labels.contains(where: { $0 < 0 }) ? [-1] : Array(0..<nClasses)) {
                if let i = (0..<set.count).first(where: { c < 0 || set.labels[$0] == c }) { picked.append(i) }
            }
            for i in picked.prefix(3) {
                // Only the voxels the figure shows are kept.
                var shown = [Float](repeating: 0, count: planes.indices.count)
                try forEachSlab([(set, i)], depth: slabDepth) { slabs, z0 in slabs[0].withUnsafeBufferPointer { planes.gather($0, firstDepth: z0, into: &shown) } }
                examples.append(shown)
                exampleCaptions.append("\(tag) \(set.labels[i] >= 0 ? classNames[set.labels[i]] : "") (\(set.names[i]))")
            }
        }
        try save(Montage.render(planes: planes, rows: examples, options: MontageOptions(colorMap: .gray, zoom: 2, window: (0, realMax))), "examples.png")
        var mapCaptions: [String: String] = [:]
        for c in 0..<nClasses {
            guard let mr = regional.moments[0][c], let ms = regional.moments[1][c] else { continue }
            let name = c < classNames.count ? classNames[c] : "all"
            try save(Montage.render(planes: planes, rows: [mr.meanMap, ms.meanMap], options: MontageOptions(colorMap: .hot, zoom: 2, window: (0, realMax))), "mean_\(name).png")
            let sds = [mr.sdMap, ms.sdMap]
            let sdMax = max(Float(Normalize.percentile(sds[0], 99.5)), Float(Normalize.percentile(sds[1], 99.5)), 1e-6)
            try save(Montage.render(planes: planes, rows: sds, options: MontageOptions(colorMap: .viridis, zoom: 2, window: (0, sdMax))), "sd_\(name).png")
            mapCaptions[name] = "real n=\(mr.n) (top row), synthetic n=\(ms.n) (bottom row); mean window 0–\(String(format: "%.3g", realMax)), SD window 0–\(String(format: "%.3g", sdMax)) (99.5th percentile of the shown voxels)"
        }
        try save(Figures.heatmap(joint, bins: bins, scale: 4), "joint_histogram.png")

        // Metrics.
        func pairSummary(_ f: (PairResult) -> Double) -> [String: Any] {
            let v = pairs.map(f).filter { $0.isFinite }
            return ["mean": Statistics.mean(v), "sd": Summary(v).sd, "n": v.count]
        }
        var perClassPaper: [String: Any] = [:]
        for c in 0..<nClasses {
            let ps = pairs.filter { synth.labels[$0.synth] == c }
            guard !ps.isEmpty else { continue }
            perClassPaper[classNames.isEmpty ? "all" : classNames[c]] = [
                "psnr_2d": Statistics.mean(ps.map(\.psnr2D).filter(\.isFinite)), "ssim_2d": Statistics.mean(ps.map(\.ssim2D)),
                "psnr_3d": Statistics.mean(ps.map(\.psnr3D).filter(\.isFinite)), "ssim_3d": Statistics.mean(ps.map(\.ssim3D)), "pairs": ps.count]
        }
        let paper: [String: Any] = [
            "protocol": "Each synthetic sample is paired with its nearest real sample of the same class (smallest MSE; candidates ranked on \(factor)x block-averaged volumes, best of the top 3 at full resolution). PSNR = 10·log10(max(real)^2 / MSE). SSIM: Gaussian window 11 (sigma 1.5), K1 0.01, K2 0.03, L = dynamic range of the real set (\(String(format: "%.4g", dataRange)) \(real.units)), mean over voxels whose window lies inside the image (= skimage structural_similarity(gaussian_weights=True, use_sample_covariance=False)). 2D: axial slices whose real slice reaches 10% of the volume maximum, averaged per pair; 3D: whole volume. Averages are over pairs. Reference (Islam & Zhang 2020, 2D slices, 8-bit): PSNR 32.83, SSIM 77.48 (%).",
            "data_range": dataRange,
            "psnr_2d": pairSummary(\.psnr2D), "ssim_2d": pairSummary(\.ssim2D),
            "psnr_3d": pairSummary(\.psnr3D), "ssim_3d": pairSummary(\.ssim3D),
            "pairs": pairs.count, "per_class": perClassPaper,
            "pair_list": pairs.map { ["synthetic": synth.names[$0.synth], "real": realSet.names[$0.real], "psnr_3d": $0.psnr3D, "ssim_3d": $0.ssim3D,
                                      "psnr_2d": $0.psnr2D, "ssim_2d": $0.ssim2D, "slices": $0.slices] as [String: Any] },
        ]
        let regionalJSON: [String: Any] = [
            "atlas": atlas!.source, "units": real.units, "brain_voxels": atlas!.brainCount,
            "global": regional.globalMeasures(classNames: classNames).map { jsonObject($0) },
            "regions": regional.regionMeasures(classNames: classNames).map { jsonObject($0) },
        ]
        var metrics: [String: Any] = [
            "petgan_version": PETGANVersion.string,
            "inputs": ["real": ["path": o.real, "kind": real.kind.rawValue, "count": realSet.count, "units": real.units],
                       "synthetic": ["path": o.synthetic, "kind": synth.kind.rawValue, "count": synth.count, "unlabelled": unknownSynth],
                       "shape_dhw": shape, "classes": classNames, "class_filter": o.classes],
            "seed": o.seed,
            "streaming": ["slab_depth": slabDepth, "note": "volumes read and measured in depth slabs; no whole volume held"],
            "paper_protocol": paper,
            "regional": regionalJSON,
            "distribution": ["block_average_factor": factor, "block_shape_dhw": smallShape,
                             "mmd_voxels": jsonObject(mmdVox),
                             "msssim_synthetic": divSynth, "msssim_real": divReal, "msssim_scales": scales,
                             "features": metricsFeatures,
                             "joint_histogram": ["bins": bins, "range": [Double(min(0, r.lo)), Double(min(0, r.lo)) + dataRange],
                                                 "x": "real (nearest)", "y": "synthetic", "figure": "figures/joint_histogram.png"]],
            "notes": notes,
        ]
        if let c = c2st { metrics["c2st"] = jsonObject(c) }
        if let c = criticResult { metrics["critic"] = jsonObject(c) }
        metrics["augmentation"] = augmentation.map { jsonObject($0) }
        metrics["seconds"] = Date().timeIntervalSince(t0)
        metrics["peak_rss_mb"] = Figures.peakRSSMegabytes()
        let sanitized = sanitize(metrics)
        let json = try JSONSerialization.data(withJSONObject: sanitized, options: [.prettyPrinted, .sortedKeys])
        try writeAtomically(json, to: (o.out as NSString).appendingPathComponent("metrics.json"))
        let html = Report.html(metrics: sanitized as! [String: Any], figures: figs, exampleCaptions: exampleCaptions, mapCaptions: mapCaptions,
                               c2st: c2st, augmentation: augmentation)
        try writeAtomically(Data(html.utf8), to: (o.out as NSString).appendingPathComponent("report.html"))
        log(String(format: "evaluation done in %.1f s", Date().timeIntervalSince(t0)))
        return sanitized as! [String: Any]
    }

    /// The CNN-based metrics on block-averaged samples: the feature network trained on the real classes
    /// (Fréchet distance, MMD on features), the classifier two-sample test and the augmentation benefit.
    static func classifierMetrics(real: [[Float]], realLabels: [Int], synthetic: [[Float]], syntheticLabels: [Int], classNames: [String],
                                  shape smallShape: [Int], options o: EvaluationOptions, notes: inout [String])
        throws -> (features: [String: Any], c2st: C2STResult?, augmentation: [AugmentationResult]) {
        let log = o.log ?? { _ in }
        let nClasses = max(1, classNames.count)
        var metricsFeatures: [String: Any] = [:]
        var c2st: C2STResult? = nil
        var augmentation: [AugmentationResult] = []
        guard !o.skipClassifiers else {
            notes.append("Classifier-based metrics skipped (--skip-classifiers).")
            return (metricsFeatures, c2st, augmentation)
        }
        let realClasses = Set(realLabels.filter { $0 >= 0 })
        let featureNet = SmallCNN(classes: max(2, nClasses), inputShape: smallShape, seed: o.seed &+ 31)
        var featureNote = ""
        if realClasses.count >= 2 {
            log("training the feature network on the real classes")
            try featureNet.fit(real, labels: realLabels.map { max(0, $0) }, shape: smallShape,
                               options: .init(epochs: o.classifierEpochs, seed: o.seed &+ 32, minSteps: o.classifierMinSteps))
            featureNote = "SmallCNN trained on the real set's classes (\(classNames.joined(separator: ", "))), \(SmallCNN.featureCount) features"
        } else {
            featureNote = "SmallCNN with fixed random weights (seed \(o.seed &+ 31)): the real set has one class, so no class network could be trained"
            notes.append("Fréchet distance uses a random fixed network (one real class).")
        }
        let fr = try featureNet.features(real, shape: smallShape), fs = try featureNet.features(synthetic, shape: smallShape)
        let fd = DistributionMetrics.frechet(fr, fs)
        let fdRealHalves = DistributionMetrics.frechet(Array(fr.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)),
                                                       Array(fr.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)))
        let mmdFeat = DistributionMetrics.mmd(fr, fs, permutations: o.mmdPermutations, seed: o.seed &+ 22)
        metricsFeatures = ["network": featureNote, "frechet_distance": fd, "frechet_real_half_vs_half": fdRealHalves,
                           "mmd_features": jsonObject(mmdFeat)]
        log("classifier two-sample test")
        do { c2st = try TwoSampleTests.c2st(real: real, synthetic: synthetic, shape: smallShape, epochs: o.classifierEpochs, seed: o.seed &+ 41,
                                                  minSteps: o.classifierMinSteps) }
        catch { notes.append("C2ST skipped: \(error)") }
        // Augmentation: NC vs AD (or the first and last class) and all classes, when synthetic labels are known.
        let labelled = syntheticLabels.filter { $0 >= 0 }.count
        if realClasses.count >= 2 && labelled >= 2 {
            var tasks: [[Int]] = []
            let nc = classNames.firstIndex(of: "NC") ?? classNames.firstIndex(of: "CN") ?? 0
            let ad = classNames.firstIndex(of: "AD") ?? (nClasses - 1)
            if realClasses.contains(nc) && realClasses.contains(ad) && nc != ad { tasks.append([nc, ad]) }
            if realClasses.count >= 3 { tasks.append(realClasses.sorted()) }
            for t in tasks {
                log("augmentation benefit: \(t.map { classNames[$0] }.joined(separator: " vs "))")
                do {
                    augmentation.append(try TwoSampleTests.augmentation(real: real, realLabels: realLabels, synthetic: synthetic,
                                                                        syntheticLabels: syntheticLabels, classes: t, classNames: classNames,
                                                                        shape: smallShape, seeds: o.augmentationSeeds, epochs: o.classifierEpochs,
                                                                        splitSeed: o.seed &+ 51, minSteps: o.classifierMinSteps))
                } catch { notes.append("augmentation \(t.map { classNames[$0] }.joined(separator: " vs ")) skipped: \(error)") }
            }
        } else {
            notes.append("Augmentation benefit needs ≥ 2 real classes and class-labelled synthetic samples.")
        }
        return (metricsFeatures, c2st, augmentation)
    }

    /// Writes to a temporary name and renames (never a half-written file).
    static func writeAtomically(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        do { try data.write(to: URL(fileURLWithPath: tmp)) } catch { throw MetricsError.writeFailed(path: path, reason: "\(error)") }
        if rename(tmp, path) != 0 { throw MetricsError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
    }
}

/// A Codable value as a JSON object tree (non-finite numbers become null).
func jsonObject<T: Encodable>(_ v: T) -> Any {
    let e = JSONEncoder()
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "__inf__", negativeInfinity: "__-inf__", nan: "__nan__")
    guard let d = try? e.encode(v), let o = try? JSONSerialization.jsonObject(with: d) else { return NSNull() }
    return sanitize(o)
}

/// Replaces non-finite numbers (and their encoder placeholders) with null.
func sanitize(_ v: Any) -> Any {
    switch v {
    case let d as [String: Any]: return d.mapValues(sanitize)
    case let a as [Any]: return a.map(sanitize)
    case let s as String: return s.hasPrefix("__") && s.hasSuffix("__") && ["__inf__", "__-inf__", "__nan__"].contains(s) ? NSNull() : s
    case let x as Double: return x.isFinite ? x : NSNull()
    case let x as Float: return x.isFinite ? Double(x) : NSNull()
    case let x as UInt64: return x <= UInt64(Int.max) ? Int(x) : String(x)
    default: return v
    }
}

extension Evaluation {
    /// The joint intensity histogram (bins × bins, row = synthetic, column = real) over the voxels where
    /// either value is above 5% of the range [lo, lo + span]. Shared by the 3D and 2D protocols.
    static func addToJointHistogram(_ joint: inout [Double], bins: Int, real rv: [Float], synthetic sv: [Float], lo: Double, span: Double) {
        for i in 0..<sv.count {
            let a = Double(rv[i]), b = Double(sv[i])
            guard a - lo > 0.05 * span || b - lo > 0.05 * span else { continue }
            let ia = min(bins - 1, max(0, Int((a - lo) / span * Double(bins))))
            let ib = min(bins - 1, max(0, Int((b - lo) / span * Double(bins))))
            joint[ib * bins + ia] += 1
        }
    }

    /// Reads volumes (set, index) in lockstep, `depth` planes at a time: body(slabs, first depth plane).
    static func forEachSlab(_ items: [(VolumeSet, Int)], depth: Int, _ body: ([[Float]], Int) throws -> Void) throws {
        let readers = try items.map { try $0.0.slabReader($0.1) }
        let d = items[0].0.shape[0]
        var z = 0
        while z < d {
            let n = min(depth, d - z)
            try body(try readers.map { try $0.next(depth: n) }, z)
            z += n
        }
    }

    /// Diversity (MS-SSIM among samples): `metric` over up to `maxPairs` distinct random pairs within
    /// each class (all samples when unlabelled or one class), seeded; mean, SD and pair count overall
    /// and per class. Shared by the 3D and 2D protocols.
    static func diversityPairs(labels: [Int], classNames: [String], maxPairs limit: Int, seed: UInt64,
                               metric: (Int, Int) throws -> Double) throws -> [String: Any] {
        var rng = PETRandom(seed: seed)
        let nClasses = max(1, classNames.count)
        var values: [Double] = [], perClass: [String: Any] = [:]
        let groups: [(String, [Int])] = labels.contains(where: { $0 < 0 }) || nClasses == 1
            ? [("all", Array(0..<labels.count))]
            : (0..<nClasses).map { c in (classNames[c], (0..<labels.count).filter { labels[$0] == c }) }
        for (name, members) in groups where members.count >= 2 {
            var vals: [Double] = []
            var seen = Set<[Int]>()
            let maxPairs = min(limit, members.count * (members.count - 1) / 2)
            var tries = 0
            while vals.count < maxPairs && tries < maxPairs * 20 {
                tries += 1
                let a = members[rng.int(below: members.count)], b = members[rng.int(below: members.count)]
                guard a != b, !seen.contains([min(a, b), max(a, b)]) else { continue }
                seen.insert([min(a, b), max(a, b)])
                vals.append(try metric(a, b))
            }
            perClass[name] = ["mean": Statistics.mean(vals), "sd": Summary(vals).sd, "pairs": vals.count]
            values += vals
        }
        return ["mean": Statistics.mean(values), "sd": Summary(values).sd, "pairs": values.count, "per_class": perClass]
    }
}
