// report.html: one self-contained page (images inlined as data URIs, charts as inline SVG, no scripts
// or external resources) laying out metrics.json for a reader.

import Foundation

enum Report {
    static func esc(_ s: String) -> String { Figures.esc(s) }

    static func num(_ v: Double?, _ digits: Int = 3) -> String {
        guard let v, v.isFinite else { return "–" }
        return String(format: "%.\(digits)f", v)
    }

    static func int(_ v: Int?) -> String { v.map(String.init) ?? "–" }

    /// "low–high" of a 95% interval, with a mark when it rests on too few samples (see the notes).
    static func interval(_ i: Interval?, _ digits: Int = 3) -> String {
        guard let i, i.low.isFinite, i.high.isFinite else { return "–" }
        let text = "\(num(i.low, digits))–\(num(i.high, digits))"
        return i.tooFewSamples ? text + " <span title=\"\(esc(Intervals.smallSampleNote))\">(n = \(i.n) &lt; \(Intervals.minimumCount)†)</span>" : text
    }

    /// " [low–high]" after a number, or nothing when there is no interval.
    static func bracket(_ i: Interval?, _ digits: Int = 3) -> String {
        guard let i, i.low.isFinite else { return "" }
        return " [95% \(interval(i, digits))]"
    }

    /// A metric's own section with its figure placeholders ({{name.png}}) replaced by the inlined image.
    static func withFigures(_ section: String, _ figures: [String: String]) -> String {
        var h = section
        for name in figures.keys where h.contains("{{\(name)}}") { h = h.replacingOccurrences(of: "{{\(name)}}", with: img(figures, name, alt: name)) }
        return h
    }

    static func pval(_ v: Double?) -> String {
        guard let p = v, p.isFinite else { return "–" }
        return p < 1e-4 ? String(format: "%.1e", p) : String(format: "%.4f", p)
    }

    static func meanSD(_ v: Summary?, _ digits: Int = 3) -> String { "\(num(v?.mean, digits)) ± \(num(v?.sd, digits))" }

    static func img(_ figures: [String: String], _ name: String, alt: String) -> String {
        guard let p = figures[name] else { return "" }
        return "<img src=\"\(Figures.dataURI(p))\" alt=\"\(esc(alt))\">"
    }

    static func measureTable(_ measures: [RegionalMeasure], title: String) -> String {
        var h = "<table><thead><tr><th>\(esc(title))</th><th>class</th><th>real mean ± SD (n)</th><th>synthetic mean ± SD (n)</th><th>Welch t</th><th>df</th><th>p</th><th>ANOVA F (all groups)</th><th>ANOVA p</th></tr></thead><tbody>"
        for m in measures {
            let stats = m.classStats, an = m.anova
            for (k, c) in stats.enumerated() {
                let r = c.real, s = c.synthetic, w = c.welch
                h += "<tr>"
                if k == 0 { h += "<td rowspan=\"\(stats.count)\">\(esc(m.name))</td>" }
                h += "<td>\(esc(c.className))</td><td>\(num(r.mean)) ± \(num(r.sd)) (\(r.n))</td>"
                h += "<td>\(num(s.mean)) ± \(num(s.sd)) (\(s.n))</td><td>\(num(w.t, 2))</td><td>\(num(w.df, 1))</td><td>\(pval(w.p))</td>"
                if k == 0 { h += "<td rowspan=\"\(stats.count)\">\(num(an.f, 2)) (\(whole(an.dfBetween)), \(whole(an.dfWithin)))</td><td rowspan=\"\(stats.count)\">\(pval(an.p))</td>" }
                h += "</tr>"
            }
        }
        return h + "</tbody></table>"
    }

    static func whole(_ v: Double) -> String { v.isFinite ? String(Int(v)) : "–" }

    /// The page of one evaluation: every section reads the typed results metrics.json is encoded from.
    static func html(_ result: EvaluationResult) -> String {
        let m = result.header, inputs = m.inputs, realIn = inputs.real, synIn = inputs.synthetic
        let figures = result.figures
        let paper = result.result(of: PaperProtocolMetric.self), regional = result.result(of: RegionalMetric.self)
        let exampleCaptions = result.result(of: ExampleFigureMetric.self)?.captions ?? []
        let mapCaptions = result.result(of: ClassMapsMetric.self)?.captions ?? [:]
        let c2st = result.result(of: C2STMetric.self), augmentation = result.result(of: AugmentationMetric.self) ?? []
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>PETGAN evaluation report</title>
        <style>
        body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
        table{border-collapse:collapse;margin:0.6em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}
        th{background:#f3f3f3}img{max-width:100%;image-rendering:pixelated;border:1px solid #ddd}figure{margin:0.8em 0}
        figcaption{font-size:12px;color:#555}.note{background:#fff8e1;padding:0.5em 0.8em;border-left:4px solid #f0c000}
        .protocol{font-size:13px;color:#333}code{background:#f4f4f4;padding:0 3px}
        </style></head><body>
        <h1>PETGAN evaluation report</h1>
        <p>Real: <code>\(esc(realIn.path))</code> (\(esc(realIn.kind)), \(realIn.count) volumes, \(esc(realIn.units))).
        Synthetic: <code>\(esc(synIn.path))</code> (\(esc(synIn.kind)), \(synIn.count) volumes).
        \(inputs.shapeCHW != nil ? "2D samples (channels, H, W)" : "Grid (D, H, W)"): \((inputs.shapeDHW ?? inputs.shapeCHW ?? []).map(String.init).joined(separator: " × ")). Classes: \(esc(inputs.classes.joined(separator: ", "))).
        Seed \(m.seed); PETGAN \(esc(m.petganVersion)); \(num(m.seconds, 1)) s, peak RSS \(num(m.peakRSSMB, 0)) MiB. All numbers are in <code>metrics.json</code>.</p>

        """
        if !m.notes.isEmpty {
            h += "<div class=\"note\"><b>Notes</b><ul>" + m.notes.map { "<li>\(esc($0))</li>" }.joined() + "</ul></div>"
        }
        h += "<h2>1. Paper protocol: PSNR and SSIM against the nearest real sample</h2>"
        h += "<p class=\"protocol\">\(esc(paper?.protocolText ?? ""))</p>"
        let iv = result.result(of: IntervalsMetric.self)
        h += "<table><thead><tr><th></th><th>PSNR (dB): mean ± SD [95% interval of the mean]</th><th>SSIM</th><th>pairs</th></tr></thead><tbody>"
        let twoD = paper?.layout == "2D"
        h += "<tr><td>\(twoD ? "2D samples" : "2D (axial slices)")</td><td>\(meanSD(paper?.psnr2D, 2))\(bracket(iv?.psnr2D, 2))</td><td>\(meanSD(paper?.ssim2D, 4))\(bracket(iv?.ssim2D, 4))</td><td>\(int(paper?.pairs))</td></tr>"
        if !twoD { h += "<tr><td>3D (volume)</td><td>\(meanSD(paper?.psnr3D, 2))\(bracket(iv?.psnr3D, 2))</td><td>\(meanSD(paper?.ssim3D, 4))\(bracket(iv?.ssim3D, 4))</td><td>\(int(paper?.pairs))</td></tr>" }
        h += "<tr><td>Islam &amp; Zhang 2020 (2D DCGAN)</td><td>32.83</td><td>0.7748</td><td></td></tr></tbody></table>"
        let perClass = paper?.perClass ?? [:]
        if !perClass.isEmpty {
            h += "<table><thead><tr><th>class</th><th>PSNR 2D</th><th>SSIM 2D</th><th>PSNR 3D</th><th>SSIM 3D</th><th>pairs</th></tr></thead><tbody>"
            for k in perClass.keys.sorted() {
                let c = perClass[k]!
                h += "<tr><td>\(esc(k))</td><td>\(num(c.psnr2D, 2))</td><td>\(num(c.ssim2D, 4))</td><td>\(num(c.psnr3D, 2))</td><td>\(num(c.ssim3D, 4))</td><td>\(c.pairs)</td></tr>"
            }
            h += "</tbody></table>"
        }
        h += "<figure>\(img(figures, "examples.png", alt: "example volumes"))<figcaption>\(twoD ? "Centre channel of one sample per class" : "Mid-slice views (axial | coronal | sagittal), one row per volume"), common window: "
        h += exampleCaptions.enumerated().map { "row \($0.offset + 1): \(esc($0.element))" }.joined(separator: "; ") + "</figcaption></figure>"

        h += "<h2>2. Regional statistics (Werner et al.)</h2>"
        if let regional {
        h += "<p class=\"protocol\">Per volume: mean over the brain, left/right hemisphere ratio (world x &lt; 0 is left, RAS+) and mean per atlas region, in \(esc(regional.units)). Regions: \(esc(regional.atlas)), \(regional.brainVoxels) brain voxels. Welch's t-test compares real and synthetic within each class; one-way ANOVA runs over all (source, class) groups.</p>"
        h += measureTable(regional.global, title: "measure")
        } else {
            h += "<p>Regional statistics need volumes (an atlas); 2D samples get the pixelwise mean and SD of their centre channel per class only.</p>"
        }
        for name in mapCaptions.keys.sorted() {
            h += "<h3>Class \(esc(name)): voxelwise mean and SD</h3>"
            h += "<figure>\(img(figures, "mean_\(name).png", alt: "mean maps \(name)"))<figcaption>Mean: \(esc(mapCaptions[name]!)) (hot colour map)</figcaption></figure>"
            h += "<figure>\(img(figures, "sd_\(name).png", alt: "SD maps \(name)"))<figcaption>SD (viridis), same rows.</figcaption></figure>"
        }
        let regions = regional?.regions ?? []
        if !regions.isEmpty {
            h += "<details><summary>Regional table (\(regions.count) regions)</summary>"
            h += measureTable(regions, title: "region")
            h += "</details>"
        }

        h += "<h2>3. Distribution metrics</h2>"
        let mv = result.result(of: VoxelMMDMetric.self), feats = result.result(of: FeatureDistanceMetric.self), mf = feats?.mmdFeatures
        let diversity = result.result(of: DiversityMetric.self), dsyn = diversity?.synthetic, dreal = diversity?.real
        h += "<table><thead><tr><th>metric</th><th>value</th><th>reading</th></tr></thead><tbody>"
        h += "<tr><td>MMD² on \(twoD ? "pixels" : "voxels") (\(result.blockAverages.factor)× block averages, Gaussian kernel σ = \(num(mv?.sigma, 3)))</td><td>\(num(mv?.mmd2, 5))\(bracket(iv?.mmdVoxels, 5)) (permutation p = \(pval(mv?.pValue)))</td><td>0 when the distributions agree</td></tr>"
        if let mf { h += "<tr><td>MMD² on network features (σ = \(num(mf.sigma, 3)))</td><td>\(num(mf.mmd2, 5)) (p = \(pval(mf.pValue)))</td><td>0 when the distributions agree</td></tr>" }
        h += "<tr><td>MS-SSIM among synthetic pairs (\(int(diversity?.scales)) scales)</td><td>\(num(dsyn?.mean, 4)) ± \(num(dsyn?.sd, 4)) (\(int(dsyn?.pairs)) pairs)\(bracket(iv?.msssimSynthetic, 4))</td><td>diversity: compare with real; values near 1 mean mode collapse</td></tr>"
        h += "<tr><td>MS-SSIM among real pairs (reference)</td><td>\(num(dreal?.mean, 4)) ± \(num(dreal?.sd, 4)) (\(int(dreal?.pairs)) pairs)\(bracket(iv?.msssimReal, 4))</td><td></td></tr>"
        if let feats, let network = feats.network {
            h += "<tr><td>Fréchet distance (features: \(esc(network)))</td><td>\(num(feats.frechetDistance, 4))\(bracket(feats.frechetInterval, 4))</td><td>real half vs half: \(num(feats.frechetRealHalfVsHalf, 4)). Not comparable to ImageNet FID: a different, small network trained here.</td></tr>"
        }
        if let sf = result.result(of: SeededFrechetMetric.self) {
            h += "<tr><td>Seeded Fréchet distance (pinned extractor \(esc(sf.extractor)), section below)</td><td>\(num(sf.frechetDistance, 4))\(bracket(sf.interval, 4))</td><td>real half vs half: \(num(sf.frechetRealHalfVsHalf, 4)); comparable across runs on this grid and real set</td></tr>"
        }
        h += "</tbody></table>"
        if let iv { h += "<p class=\"protocol\">Intervals: \(esc(iv.method)), \(iv.resamples) resamples; the Fréchet distances resample both sets with the feature network fixed. † fewer than \(iv.minimumCount) samples: \(esc(Intervals.smallSampleNote)).</p>" }
        let jointRange = result.result(of: JointHistogramMetric.self)?.range ?? []
        let jr = jointRange.isEmpty ? [0, 1] : jointRange
        let joint = figures["joint_histogram.png"].map { Figures.framedImage(Figures.dataURI($0), lo: jr.first ?? 0, hi: jr.last ?? 1,
                                                                            xLabel: "nearest real voxel value", yLabel: "synthetic voxel value") } ?? ""
        h += "<figure>\(joint)<figcaption>Joint intensity histogram over all pairs (cf. the paper's Fig. 9): x = nearest real voxel value, y = synthetic voxel value, both over \(esc(jointRange.map { String(format: "%.3g", $0) }.joined(separator: " to "))); log counts (inferno), identity diagonal grey. Mass on the diagonal = matching intensities.</figcaption></figure>"

        h += "<h2>4. Classifier two-sample test</h2>"
        if let c = c2st {
            h += "<p>A small 3D CNN trained on \(c.nTrain) volumes (half real, half synthetic) tells them apart on \(c.nTest) held-out volumes with accuracy <b>\(String(format: "%.1f%%", 100 * c.accuracy))</b> (\(c.correct)/\(c.nTest); \(c.ciMethod) interval \(String(format: "%.1f–%.1f%%", 100 * c.ciLow, 100 * c.ciHigh))), AUC \(String(format: "%.3f", c.auc)). 50% is ideal: the classifier cannot tell synthetic from real; 100% means they are trivially separable.</p>"
            h += Figures.lineChart([("training loss", c.lossCurve)], title: "C2ST training loss (cross-entropy)", xLabel: "epoch", yLabel: "loss")
        } else { h += "<p>Not run (see notes).</p>" }

        if let critic = result.result(of: CriticMetric.self) {
            let cr = critic.real, cs = critic.synthetic
            h += "<h3>The run's own critic</h3><p>\(esc(critic.model)), from <code>\(esc(critic.checkpoint))</code>, run tile by tile (\(esc(critic.tile))). Real scores \(num(cr.mean, 4)) ± \(num(cr.sd, 4)) (n = \(cr.n)), synthetic \(num(cs.mean, 4)) ± \(num(cs.sd, 4)) (n = \(cs.n)); gap \(num(critic.gap, 4)); AUC <b>\(num(critic.auc, 3))</b> (0.5: the critic cannot tell the sets apart).</p>"
        }

        h += "<h2>5. Augmentation benefit</h2>"
        if augmentation.isEmpty { h += "<p>Not run (see notes).</p>" }
        for a in augmentation {
            h += "<h3>\(esc(a.task))</h3><p>Trained on \(a.nTrainReal) real volumes, or on those plus \(a.nTrainSynthetic) synthetic; tested on the same \(a.nTest) held-out real volumes; \(a.runs.count) seeds. Mean accuracy gain: <b>\(String(format: "%+.1f", a.accuracyGainPoints)) points</b> (Islam &amp; Zhang report +10).</p>"
            h += "<table><thead><tr><th></th><th>accuracy</th><th>balanced accuracy</th><th>AUC</th></tr></thead><tbody>"
            for (name, s) in [("real only", a.realOnly), ("real + synthetic", a.augmented)] {
                func ms(_ k: String) -> String { guard let v = s[k] else { return "–" }; return String(format: "%.3f ± %.3f", v.mean, v.sd) }
                h += "<tr><td>\(name)</td><td>\(ms("accuracy"))</td><td>\(ms("balanced_accuracy"))</td><td>\(ms("auc"))</td></tr>"
            }
            h += "</tbody></table>"
            let lossA = Summary(a.runs.map(\.realOnlyFinalLoss)), lossB = Summary(a.runs.map(\.augmentedFinalLoss))
            h += "<p class=\"protocol\">Final training loss (cross-entropy, mean over seeds): real only \(String(format: "%.3f", lossA.mean)) after \(a.runs.first?.realOnlyEpochs ?? 0) epochs, real + synthetic \(String(format: "%.3f", lossB.mean)) after \(a.runs.first?.augmentedEpochs ?? 0) epochs. A loss near ln K = \(String(format: "%.3f", Foundation.log(Double(max(2, a.classes.count))))) means a fit learned nothing beyond the class prior; the comparison is fair when both fits converged.</p>"
            let groups = ["accuracy", "balanced_accuracy", "auc"].map { k in
                (k.replacingOccurrences(of: "_", with: " "), [("real only", a.realOnly[k]?.mean ?? .nan, a.realOnly[k]?.sd ?? .nan),
                                                              ("real + synthetic", a.augmented[k]?.mean ?? .nan, a.augmented[k]?.sd ?? .nan)])
            }
            h += Figures.barChart(groups, title: "\(a.task): held-out real test set (mean ± SD over seeds)", yLabel: "score")
        }
        for (type, value) in result.results { if let section = type.reportSection(erased: value) { h += withFigures(section, figures) } }
        h += "<hr><p style=\"font-size:12px;color:#777\">Generated by <code>petgan evaluate</code>. Visual Turing test: <code>petgan turing-kit</code> / <code>petgan turing-score</code>.</p></body></html>\n"
        return h
    }
}
