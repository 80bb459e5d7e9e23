// `petgan evaluate` on 2D samples, the reference paper's unit: (channels, H, W) stacks of adjacent
// axial slices, as the 2D model (dcgan2d) trains on and `petgan generate` writes them. The real side is
// a slice store (`petgan phantom --slices axial`, what the 2D model trained on) or a volume store,
// which is cut into slices exactly as the slice store is (PETCohort's AxialSlices: same centres,
// channels, square field of view and resolution), so synthetic slices are compared with real slices
// at the training positions and resolution.
//
// Public API:
//   let s = try SampleSet2D.items(of: volumeSet)                   // a set whose items are 2D samples
//   let r = try SampleSet2D.slices(of: volumeSet, options: sliceOptions)   // slices cut from volumes
//   Evaluation.run(o) dispatches here when either input holds 2D samples.

import Foundation
import PETCohort
import PETTensor
import PETVolumes

/// 2D samples (channels, H, W) in physical units, read one at a time.
public final class SampleSet2D {
    public let path: String
    /// What the items are, for the report ("slice store", "NIfTI folder", "slices cut from …").
    public let kind: String
    public let units: String
    public let itemShape: [Int]
    public let classNames: [String]
    /// Class index into `classNames` per item, −1 when unknown.
    public let labels: [Int]
    public let names: [String]
    /// MNI z (mm) of each item's centre slice, when known.
    public let positionsMM: [Double?]
    let read: (Int) throws -> [Float]

    public var count: Int { labels.count }
    public func values(_ i: Int) throws -> [Float] { try read(i) }

    init(path: String, kind: String, units: String, itemShape: [Int], classNames: [String], labels: [Int], names: [String],
         positionsMM: [Double?], read: @escaping (Int) throws -> [Float]) {
        self.path = path; self.kind = kind; self.units = units; self.itemShape = itemShape; self.classNames = classNames
        self.labels = labels; self.names = names; self.positionsMM = positionsMM; self.read = read
    }

    /// The items of a set that already holds 2D samples (a slice store or 2D NIfTI files).
    public static func items(of set: VolumeSet) throws -> SampleSet2D {
        guard set.holdsSlices else {
            throw MetricsError.badInput(path: set.path, reason: "items have shape \(set.shape), not 2D samples (channels ≤ 16, H, W)")
        }
        // A phantom slice store records where each sample was cut (/slice_z_mm).
        var z: [Double?] = Array(repeating: nil, count: set.count)
        if set.kind == .store, let f = try? HDF5File.open(set.path), let ds = try? f.dataset("slice_z_mm"),
           let all = try? ds.read(Double.self) {
            z = set.indices.map { $0 < all.count ? all[$0] : nil }
        }
        return SampleSet2D(path: set.path, kind: set.kind == .store ? "2D sample store" : "2D NIfTI samples", units: set.units,
                           itemShape: set.shape, classNames: set.classNames, labels: set.labels, names: set.names, positionsMM: z,
                           read: { try set.values($0) })
    }

    /// Slices cut from each volume of `set` as the 2D training data is cut (AxialSlices with `options`):
    /// items are (volume, centre slice) in volume order. The last volume read is kept, so a volume's
    /// slices cost one read.
    public static func slices(of set: VolumeSet, options: SliceOptions) throws -> SampleSet2D {
        do { try options.validate() } catch { throw MetricsError.badInput(path: set.path, reason: "slice options: \(error)") }
        let grid = VoxelGrid(shape: set.shape, affine: set.affine.m)
        let centres = AxialSlices.centres(grid: grid, options: options)
        guard !centres.isEmpty else {
            throw MetricsError.badInput(path: set.path, reason: "no axial slice of its \(set.shape) grid lies in z \(options.zRangeMM[0])…\(options.zRangeMM[1]) mm (--slice-range)")
        }
        final class Cache { var index = -1; var values: [Float] = [] }
        let cache = Cache()
        let nc = centres.count
        var labels: [Int] = [], names: [String] = [], z: [Double?] = []
        for i in 0..<set.count {
            for k in centres {
                labels.append(set.labels[i]); names.append("\(set.names[i]):k=\(k)"); z.append(grid.world(0, 0, Double(k)).2)
            }
        }
        let kind = String(format: "axial slices cut from volumes (%d per volume, z %g…%g mm every %g mm, %d channels, %dx%d)",
                          nc, options.zRangeMM[0], options.zRangeMM[1], options.stepMM, options.channels, options.size[0], options.size[1])
        return SampleSet2D(path: set.path, kind: kind, units: set.units, itemShape: [options.channels] + options.size,
                           classNames: set.classNames, labels: labels, names: names, positionsMM: z, read: { item in
            let v = item / nc
            if cache.index != v { cache.values = try set.values(v); cache.index = v }
            return AxialSlices.extract(cache.values, grid: grid, centre: centres[item % nc], options: options)
        })
    }
}

extension VolumeSet {
    /// Whether the items are 2D samples (channels, H, W) rather than volumes: the rule the 2D model's
    /// training data follows (TrainingData: at most 16 channels).
    public var holdsSlices: Bool { shape[0] <= 16 }
}

extension Evaluation {
    /// Per channel block average by `factor` in H and W (channels kept): (C, H, W) → (C, H/f, W/f).
    static func downsampleChannels(_ x: [Float], shape: [Int], factor: Int) -> ([Float], [Int]) {
        let plane = shape[1] * shape[2]
        var out: [Float] = [], small: [Int] = []
        for c in 0..<shape[0] {
            let (s, ss) = ImageMetrics.downsample(Array(x[(c * plane)..<((c + 1) * plane)]), shape: [shape[1], shape[2]], factor: factor)
            out += s; small = ss
        }
        return (out, [shape[0]] + small)
    }

    /// SSIM of two (C, H, W) samples: the mean over channels of 2D SSIM (skimage's channel_axis rule).
    static func ssim2D(_ a: [Float], _ b: [Float], shape: [Int], dataRange: Double) throws -> Double {
        let plane = shape[1] * shape[2]
        var total = 0.0
        for c in 0..<shape[0] {
            total += try ImageMetrics.ssim(Array(a[(c * plane)..<((c + 1) * plane)]), Array(b[(c * plane)..<((c + 1) * plane)]),
                                           shape: [shape[1], shape[2]], dataRange: dataRange)
        }
        return total / Double(shape[0])
    }

    /// MS-SSIM of two (C, H, W) samples: the mean over channels.
    static func msssim2D(_ a: [Float], _ b: [Float], shape: [Int], dataRange: Double, scales: Int) throws -> Double {
        let plane = shape[1] * shape[2]
        var total = 0.0
        for c in 0..<shape[0] {
            total += try ImageMetrics.msssim(Array(a[(c * plane)..<((c + 1) * plane)]), Array(b[(c * plane)..<((c + 1) * plane)]),
                                             shape: [shape[1], shape[2]], dataRange: dataRange, scales: scales)
        }
        return total / Double(shape[0])
    }

    /// The evaluation of 2D samples: the paper protocol per sample against the nearest real sample of
    /// the same class, distribution metrics, classifiers, mean/SD images; no regional statistics (a
    /// slice has no atlas).
    static func run2D(_ o: EvaluationOptions, real realAll: VolumeSet, synthetic synthAll: VolumeSet, start t0: Date) throws -> [String: Any] {
        let log = o.log ?? { _ in }
        guard synthAll.holdsSlices else {
            throw MetricsError.mismatch(detail: "\(o.real) holds 2D samples \(realAll.shape) (channels, H, W) but \(o.synthetic) holds \(synthAll.shape) volumes; evaluate 3D volumes against a volume store")
        }
        synthAll.alignClasses(to: realAll.classNames)
        let synth = try SampleSet2D.items(of: try synthAll.restricted(toClasses: o.classes))
        let realVolumes = try realAll.restricted(toClasses: o.classes)
        let real: SampleSet2D
        if realAll.holdsSlices {
            real = try SampleSet2D.items(of: realVolumes)
        } else {
            var so = SliceOptions()
            so.channels = synth.itemShape[0]; so.size = [synth.itemShape[1], synth.itemShape[2]]
            if let r = o.sliceRangeMM { so.zRangeMM = r }
            if let s = o.sliceStepMM { so.stepMM = s }
            real = try SampleSet2D.slices(of: realVolumes, options: so)
        }
        guard real.itemShape == synth.itemShape else {
            throw MetricsError.mismatch(detail: "\(o.real) has 2D samples of shape \(real.itemShape) (channels, H, W) but \(o.synthetic) has \(synth.itemShape); compare with the slice store the 2D model trained on")
        }
        guard real.count >= 2, synth.count >= 2 else {
            throw MetricsError.tooSmall(detail: "evaluation needs at least 2 real and 2 synthetic samples (have \(real.count) and \(synth.count))")
        }
        let shape = real.itemShape
        let (nch, nh, nw) = (shape[0], shape[1], shape[2])
        guard nh >= ImageMetrics.gaussianTaps().count, nw >= ImageMetrics.gaussianTaps().count else {
            throw MetricsError.tooSmall(detail: "2D samples of \(nh)x\(nw) pixels are smaller than the 11-pixel SSIM window")
        }
        try FileManager.default.createDirectory(atPath: o.out, withIntermediateDirectories: true)
        let figures = (o.out as NSString).appendingPathComponent("figures")
        try FileManager.default.createDirectory(atPath: figures, withIntermediateDirectories: true)
        let classNames = realAll.classNames
        let nClasses = max(1, classNames.count)
        let unknownSynth = synth.labels.filter { $0 < 0 }.count
        let plane = nh * nw
        let centre = nch / 2

        // Pass 1: stream every sample once (block-averaged copies; per-class sums of the centre channel).
        let factor = max(1, Int((Double(max(nh, nw)) / 32).rounded(.up)))
        var smallShape: [Int] = []
        var sums = [[[Double]?]](repeating: [[Double]?](repeating: nil, count: nClasses), count: 2)
        var sumsSq = sums
        var counts = [[Int]](repeating: [Int](repeating: 0, count: nClasses), count: 2)
        func stream(_ set: SampleSet2D, source: Int) throws -> (small: [[Float]], lo: Float, hi: Float) {
            var small: [[Float]] = [], lo = Float.infinity, hi = -Float.infinity
            let p = ProgressReporter(label: source == 1 ? "reading synthetic" : "reading real", total: set.count, log: o.log, seconds: 2)
            for i in 0..<set.count {
                let v = try set.values(i)
                for x in v { lo = min(lo, x); hi = max(hi, x) }
                let (s, ss) = downsampleChannels(v, shape: shape, factor: factor)
                small.append(s); smallShape = ss
                let c = set.labels[i]
                if c >= 0 && c < nClasses {
                    if sums[source][c] == nil { sums[source][c] = [Double](repeating: 0, count: plane); sumsSq[source][c] = sums[source][c] }
                    for k in 0..<plane {
                        let x = Double(v[centre * plane + k])
                        sums[source][c]![k] += x; sumsSq[source][c]![k] += x * x
                    }
                    counts[source][c] += 1
                }
                p.update(i + 1)
            }
            return (small, lo, hi)
        }
        let r = try stream(real, source: 0)
        let s = try stream(synth, source: 1)
        let dataRange = Double(r.hi - min(0, r.lo))
        guard dataRange > 0 else { throw MetricsError.badInput(path: o.real, reason: "every real sample is constant (\(r.hi))") }

        // Pairs: each synthetic sample against its nearest real sample of the same class.
        let pairCount = min(synth.count, o.maxPairs ?? synth.count)
        var pairOrder = Array(0..<synth.count)
        var prng = PETRandom(seed: o.seed)
        if pairCount < synth.count { prng.shuffle(&pairOrder) }
        let bins = 96
        var joint = [Double](repeating: 0, count: bins * bins)
        var pairs: [(synth: Int, real: Int, psnr: Double, ssim: Double)] = []
        let pp = ProgressReporter(label: "nearest-real pairs", total: pairCount, log: o.log, seconds: 2)
        for (n, si) in pairOrder.prefix(pairCount).enumerated() {
            let c = synth.labels[si]
            var cand = (0..<real.count).filter { c < 0 || real.labels[$0] == c }
            if cand.isEmpty { cand = Array(0..<real.count) }
            let coarse = cand.map { ImageMetrics.mse(r.small[$0], s.small[si]) }
            let ranked = cand.indices.sorted { coarse[$0] < coarse[$1] }.map { cand[$0] }
            let sv = try synth.values(si)
            var best = -1, bestMSE = Double.infinity, bestValues: [Float] = []
            for ri in ranked.prefix(3) {
                let rv = try real.values(ri)
                let m = ImageMetrics.mse(rv, sv)
                if m < bestMSE { best = ri; bestMSE = m; bestValues = rv }
            }
            let psnr = ImageMetrics.psnr(real: bestValues, synthetic: sv)
            let ssim = try ssim2D(bestValues, sv, shape: shape, dataRange: dataRange)
            let lo = Double(min(0, r.lo)), span = dataRange
            addToJointHistogram(&joint, bins: bins, real: bestValues, synthetic: sv, lo: lo, span: span)
            pairs.append((si, best, psnr, ssim))
            pp.update(n + 1)
        }

        // Diversity: MS-SSIM between random same-class pairs, synthetic and (reference) real.
        let scales = msssimScales([nh, nw])
        func diversity(_ set: SampleSet2D, seed: UInt64) throws -> [String: Any] {
            try diversityPairs(labels: set.labels, classNames: classNames, maxPairs: o.diversityPairs, seed: seed) { a, b in
                try msssim2D(try set.values(a), try set.values(b), shape: shape, dataRange: dataRange, scales: scales)
            }
        }
        log("MS-SSIM diversity (\(scales) scales)")
        let divSynth = try diversity(synth, seed: o.seed &+ 11)
        let divReal = try diversity(real, seed: o.seed &+ 12)

        log("MMD on pixels")
        let mmdVox = DistributionMetrics.mmd(r.small, s.small, permutations: o.mmdPermutations, seed: o.seed &+ 21)

        var notes: [String] = ["2D samples (\(nch) channels of \(nh)x\(nw)): regional statistics need volumes and are not computed; the classifiers see each block-averaged sample as a \(smallShape.map(String.init).joined(separator: "x")) stack."]
        let cls = try classifierMetrics(real: r.small, realLabels: real.labels, synthetic: s.small, syntheticLabels: synth.labels,
                                        classNames: classNames, shape: smallShape, options: o, notes: &notes)
        if unknownSynth > 0 { notes.append("\(unknownSynth) synthetic sample(s) have no class (no sidecar 'class'): paired against every real sample.") }

        // Figures: the centre channel of one sample per class (real row, synthetic row); mean and SD per class.
        log("figures")
        var figs: [String: String] = [:]
        func save(_ img: RGBImage, _ name: String) throws {
            let p = (figures as NSString).appendingPathComponent(name)
            try PNGFile.write(img, to: p)
            figs[name] = p
        }
        var exampleRows: [[[Float]]] = [], exampleCaptions: [String] = []
        for (set, tag) in [(real, "real"), (synth, "synthetic")] {
            var row: [[Float]] = [], caps: [String] = []
            for c in (set.labels.contains(where: { $0 < 0 }) ? [-1] : Array(0..<nClasses)) {
                // The member nearest the middle of the cut positions (the first member when unknown):
                // the lowest slice would show mostly cerebellum.
                let members = (0..<set.count).filter { c < 0 || set.labels[$0] == c }
                let zs = members.compactMap { set.positionsMM[$0] }.sorted()
                let mid = zs.isEmpty ? nil : zs[zs.count / 2]
                guard let i = mid.flatMap({ m in members.first { set.positionsMM[$0] == m } }) ?? members.first else { continue }
                row.append(Array(try set.values(i)[(centre * plane)..<((centre + 1) * plane)]))
                caps.append("\(c >= 0 ? classNames[c] : "") \(set.names[i])")
            }
            exampleRows.append(row)
            exampleCaptions.append("\(tag): " + caps.joined(separator: ", "))
        }
        let realMax = r.hi
        try save(Figures.tiles(exampleRows, height: nh, width: nw, colorMap: .gray, window: (0, realMax)), "examples.png")
        var mapCaptions: [String: String] = [:]
        for c in 0..<nClasses {
            guard let sr = sums[0][c], let ss = sums[1][c] else { continue }
            let name = c < classNames.count ? classNames[c] : "all"
            func moments(_ sum: [Double], _ sq: [Double], _ n: Int) -> ([Float], [Float]) {
                let mean = sum.map { Float($0 / Double(n)) }
                let sd = zip(sum, sq).map { Float(max(0, $1 / Double(n) - ($0 / Double(n)) * ($0 / Double(n))).squareRoot()) }
                return (mean, sd)
            }
            let (mr, sdr) = moments(sr, sumsSq[0][c]!, counts[0][c]), (ms, sds) = moments(ss, sumsSq[1][c]!, counts[1][c])
            try save(Figures.tiles([[mr], [ms]], height: nh, width: nw, colorMap: .hot, window: (0, realMax)), "mean_\(name).png")
            let sdMax = max(Float(Normalize.percentile(sdr, 99.5)), Float(Normalize.percentile(sds, 99.5)), 1e-6)
            try save(Figures.tiles([[sdr], [sds]], height: nh, width: nw, colorMap: .viridis, window: (0, sdMax)), "sd_\(name).png")
            mapCaptions[name] = "centre channel; real n=\(counts[0][c]) (top), synthetic n=\(counts[1][c]) (bottom); mean window 0–\(String(format: "%.3g", realMax)), SD window 0–\(String(format: "%.3g", sdMax))"
        }
        try save(Figures.heatmap(joint, bins: bins, scale: 4), "joint_histogram.png")

        // Metrics.
        func summary(_ v: [Double]) -> [String: Any] {
            let f = v.filter { $0.isFinite }
            return ["mean": Statistics.mean(f), "sd": Summary(f).sd, "n": f.count]
        }
        var perClassPaper: [String: Any] = [:]
        for c in 0..<nClasses {
            let ps = pairs.filter { synth.labels[$0.synth] == c }
            guard !ps.isEmpty else { continue }
            perClassPaper[classNames.isEmpty ? "all" : classNames[c]] = [
                "psnr_2d": Statistics.mean(ps.map(\.psnr).filter(\.isFinite)), "ssim_2d": Statistics.mean(ps.map(\.ssim)), "pairs": ps.count]
        }
        let paper: [String: Any] = [
            "layout": "2D",
            "protocol": "2D samples (\(nch) adjacent axial slices of \(nh)x\(nw), the 2D model's unit). Each synthetic sample is paired with its nearest real sample of the same class among \(real.count) real samples (\(real.kind)): smallest MSE, candidates ranked on \(factor)x block-averaged samples, best of the top 3 at full resolution. PSNR = 10·log10(max(real)^2 / MSE) over the whole sample. SSIM: per channel, Gaussian window 11 (sigma 1.5), K1 0.01, K2 0.03, L = dynamic range of the real set (\(String(format: "%.4g", dataRange)) \(real.units)), mean over pixels whose window lies inside the image, then the mean over channels (= skimage structural_similarity(channel_axis=0, gaussian_weights=True, use_sample_covariance=False)). Averages are over pairs. Reference (Islam & Zhang 2020, 2D slices, 8-bit): PSNR 32.83, SSIM 77.48 (%).",
            "data_range": dataRange,
            "psnr_2d": summary(pairs.map(\.psnr)), "ssim_2d": summary(pairs.map(\.ssim)),
            "pairs": pairs.count, "per_class": perClassPaper,
            "pair_list": pairs.map { p -> [String: Any] in
                var d: [String: Any] = ["synthetic": synth.names[p.synth], "real": real.names[p.real], "psnr_2d": p.psnr, "ssim_2d": p.ssim]
                if let z = real.positionsMM[p.real] { d["real_z_mm"] = z }
                return d
            },
        ]
        var metrics: [String: Any] = [
            "petgan_version": PETGANVersion.string,
            "inputs": ["real": ["path": o.real, "kind": real.kind, "count": real.count, "units": real.units],
                       "synthetic": ["path": o.synthetic, "kind": synth.kind, "count": synth.count, "unlabelled": unknownSynth],
                       "layout": "2D samples (channels, H, W)", "shape_chw": shape, "classes": classNames, "class_filter": o.classes],
            "seed": o.seed,
            "paper_protocol": paper,
            "distribution": ["block_average_factor": factor, "block_shape_chw": smallShape,
                             "mmd_voxels": jsonObject(mmdVox),
                             "msssim_synthetic": divSynth, "msssim_real": divReal, "msssim_scales": scales,
                             "features": cls.features,
                             "joint_histogram": ["bins": bins, "range": [Double(min(0, r.lo)), Double(min(0, r.lo)) + dataRange],
                                                 "x": "real (nearest)", "y": "synthetic", "figure": "figures/joint_histogram.png"]],
            "notes": notes,
        ]
        if let c = cls.c2st { metrics["c2st"] = jsonObject(c) }
        metrics["augmentation"] = cls.augmentation.map { jsonObject($0) }
        metrics["seconds"] = Date().timeIntervalSince(t0)
        metrics["peak_rss_mb"] = Figures.peakRSSMegabytes()
        let sanitized = sanitize(metrics)
        let json = try JSONSerialization.data(withJSONObject: sanitized, options: [.prettyPrinted, .sortedKeys])
        try writeAtomically(json, to: (o.out as NSString).appendingPathComponent("metrics.json"))
        let html = Report.html(metrics: sanitized as! [String: Any], figures: figs, exampleCaptions: exampleCaptions, mapCaptions: mapCaptions,
                               c2st: cls.c2st, augmentation: cls.augmentation)
        try writeAtomically(Data(html.utf8), to: (o.out as NSString).appendingPathComponent("report.html"))
        log(String(format: "evaluation done in %.1f s", Date().timeIntervalSince(t0)))
        return sanitized as! [String: Any]
    }
}
