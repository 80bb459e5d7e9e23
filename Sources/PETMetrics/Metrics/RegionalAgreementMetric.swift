// Regional agreement per class: for every atlas region, the synthetic volumes' mean regional value
// (SUVR for the phantom and `generate` output) against the real volumes' mean, per class, from the
// regional statistics (RegionalMetric, which must finish first). Per region: the difference, Hedges' g
// (the difference over the pooled per-volume SD, small-sample corrected) and its approximate 95%
// interval. Per class, over regions: a Bland–Altman analysis of (real mean, synthetic mean) pairs —
// bias (mean difference, Student t 95% interval) and 95% limits of agreement bias ± 1.96·SD — and the
// mean absolute difference; overall, `regionalAbsErr` = the mean absolute difference over every
// (class, region). A Bland–Altman figure per class. Volumes only.

import Foundation
import PETTensor
import PETVolumes

public final class RegionalAgreementMetric: EvaluationMetric {
    public struct RegionRow: Codable {
        public var region: String
        public var realMean: Double, syntheticMean: Double, difference: Double
        public var nReal: Int, nSynthetic: Int
        public var hedgesG: Double, hedgesGLow: Double, hedgesGHigh: Double
        enum CodingKeys: String, CodingKey {
            case region, difference, realMean = "real_mean", syntheticMean = "synthetic_mean", nReal = "n_real", nSynthetic = "n_synthetic",
                 hedgesG = "hedges_g", hedgesGLow = "hedges_g_low", hedgesGHigh = "hedges_g_high"
        }
    }
    public struct ClassAgreement: Codable {
        public var className: String
        public var regions: [RegionRow]
        /// Bland–Altman over regions: mean (synthetic − real), its interval, and bias ± 1.96·SD.
        public var bias: Double, biasInterval: Interval
        public var lowerLimit: Double, upperLimit: Double
        public var meanAbsoluteDifference: Double
        /// Regions with |g| ≥ 0.8 (a large effect, Cohen's convention).
        public var largeEffectRegions: Int
        enum CodingKeys: String, CodingKey {
            case regions, bias, className = "class", biasInterval = "bias_interval", lowerLimit = "lower_limit_of_agreement",
                 upperLimit = "upper_limit_of_agreement", meanAbsoluteDifference = "mean_absolute_difference", largeEffectRegions = "large_effect_regions"
        }
    }
    public struct Result: Codable {
        public var units: String, atlas: String
        public var perClass: [ClassAgreement]
        /// Mean |synthetic − real| class-mean regional value over every (class, region).
        public var regionalAbsErr: Double
        enum CodingKeys: String, CodingKey { case units, atlas, perClass = "per_class", regionalAbsErr = "regional_abs_err" }
    }
    public static let placement = MetricPlacement.at(["regional_agreement"])
    public static func make(for run: EvaluationRun) throws -> RegionalAgreementMetric? { run.isVolumes ? RegionalAgreementMetric() : nil }

    /// Hedges' g of b − a from summaries, with the large-sample SE √((n₁+n₂)/(n₁n₂) + g²/(2(n₁+n₂))).
    public static func hedges(real a: Summary, synthetic b: Summary) -> (g: Double, low: Double, high: Double) {
        let n1 = Double(a.n), n2 = Double(b.n)
        guard a.n >= 2, b.n >= 2 else { return (.nan, .nan, .nan) }
        let pooled = (((n1 - 1) * a.sd * a.sd + (n2 - 1) * b.sd * b.sd) / (n1 + n2 - 2)).squareRoot()
        guard pooled > 0 else { return (a.mean == b.mean ? 0 : .nan, .nan, .nan) }
        let j = 1 - 3 / (4 * (n1 + n2) - 9)
        let g = j * (b.mean - a.mean) / pooled
        let se = ((n1 + n2) / (n1 * n2) + g * g / (2 * (n1 + n2))).squareRoot()
        return (g, g - 1.959963984540054 * se, g + 1.959963984540054 * se)
    }

    /// Bland–Altman of paired values: bias, SD of the differences, limits bias ± 1.96·SD.
    public static func blandAltman(_ a: [Double], _ b: [Double]) -> (bias: Double, sd: Double, low: Double, high: Double) {
        let d = zip(a, b).map { $1 - $0 }.filter { $0.isFinite }
        let bias = Statistics.mean(d), sd = Statistics.variance(d).squareRoot()
        return (bias, sd, bias - 1.96 * sd, bias + 1.96 * sd)
    }

    public func finish(_ run: EvaluationRun) throws -> Result? {
        guard let regional = run.finishedResult(of: RegionalMetric.self) else { return nil }
        var perClass: [ClassAgreement] = []
        for name in run.classNames.isEmpty ? ["all"] : run.classNames {
            var rows: [RegionRow] = []
            for m in regional.regions {
                guard let c = m.classStats.first(where: { $0.className == name }), c.real.n > 0, c.synthetic.n > 0 else { continue }
                let g = Self.hedges(real: c.real, synthetic: c.synthetic)
                rows.append(RegionRow(region: m.name, realMean: c.real.mean, syntheticMean: c.synthetic.mean, difference: c.synthetic.mean - c.real.mean,
                                      nReal: c.real.n, nSynthetic: c.synthetic.n, hedgesG: g.g, hedgesGLow: g.low, hedgesGHigh: g.high))
            }
            guard !rows.isEmpty else { continue }
            let ba = Self.blandAltman(rows.map(\.realMean), rows.map(\.syntheticMean))
            perClass.append(ClassAgreement(className: name, regions: rows, bias: ba.bias, biasInterval: Intervals.studentMean(rows.map(\.difference)),
                                           lowerLimit: ba.low, upperLimit: ba.high,
                                           meanAbsoluteDifference: Statistics.mean(rows.map { abs($0.difference) }.filter(\.isFinite)),
                                           largeEffectRegions: rows.filter { abs($0.hedgesG) >= 0.8 }.count))
        }
        guard !perClass.isEmpty else { return nil }
        let all = perClass.flatMap { $0.regions.map { abs($0.difference) } }.filter(\.isFinite)
        return Result(units: regional.units, atlas: regional.atlas, perClass: perClass, regionalAbsErr: Statistics.mean(all))
    }

    public static func reportSection(_ r: Result) -> String? {
        var h = "<h2>Regional agreement per class (Bland–Altman)</h2>"
        h += "<p class=\"protocol\">Per class and \(Report.esc(r.atlas)) region: the synthetic volumes' mean regional value against the real volumes' (\(Report.esc(r.units))). Bland–Altman over regions: bias = mean (synthetic − real) with a Student t 95% interval, limits of agreement bias ± 1.96·SD; Hedges' g per region (|g| ≥ 0.8: large). Mean absolute regional error over every class and region: <b>\(Report.num(r.regionalAbsErr, 4))</b>.</p>"
        h += "<table><thead><tr><th>class</th><th>regions</th><th>bias (95%)</th><th>limits of agreement</th><th>mean |difference|</th><th>regions with |g| ≥ 0.8</th></tr></thead><tbody>"
        for c in r.perClass {
            h += "<tr><td>\(Report.esc(c.className))</td><td>\(c.regions.count)</td><td>\(Report.num(c.bias, 4)) (\(Report.interval(c.biasInterval, 4)))</td><td>\(Report.num(c.lowerLimit, 4)) to \(Report.num(c.upperLimit, 4))</td><td>\(Report.num(c.meanAbsoluteDifference, 4))</td><td>\(c.largeEffectRegions)</td></tr>"
        }
        h += "</tbody></table>"
        for c in r.perClass { h += blandAltmanChart(c, units: r.units) }
        h += "<details><summary>Per-region values</summary><table><thead><tr><th>class</th><th>region</th><th>real mean (n)</th><th>synthetic mean (n)</th><th>difference</th><th>Hedges' g (95%)</th></tr></thead><tbody>"
        for c in r.perClass { for row in c.regions {
            h += "<tr><td>\(Report.esc(c.className))</td><td>\(Report.esc(row.region))</td><td>\(Report.num(row.realMean, 4)) (\(row.nReal))</td><td>\(Report.num(row.syntheticMean, 4)) (\(row.nSynthetic))</td><td>\(Report.num(row.difference, 4))</td><td>\(Report.num(row.hedgesG, 2)) (\(Report.num(row.hedgesGLow, 2)) to \(Report.num(row.hedgesGHigh, 2)))</td></tr>"
        } }
        return h + "</tbody></table></details>"
    }

    /// Bland–Altman plot (SVG): x = (real + synthetic) / 2 per region, y = synthetic − real, lines at the
    /// bias and the limits of agreement.
    static func blandAltmanChart(_ c: ClassAgreement, units: String, width: Int = 520, height: Int = 280) -> String {
        let pts = c.regions.filter { $0.realMean.isFinite && $0.syntheticMean.isFinite }
        let xs = pts.map { ($0.realMean + $0.syntheticMean) / 2 }, ys = pts.map(\.difference)
        let yv = (ys + [c.lowerLimit, c.upperLimit, 0]).filter(\.isFinite)
        var x0 = xs.min() ?? 0, x1 = xs.max() ?? 1, y0 = yv.min() ?? -1, y1 = yv.max() ?? 1
        if x1 - x0 < 1e-9 { x0 -= 0.5; x1 += 0.5 }
        if y1 - y0 < 1e-9 { y0 -= 0.5; y1 += 0.5 }
        let padY = 0.08 * (y1 - y0); y0 -= padY; y1 += padY
        let l = 64.0, r = 110.0, t = 28.0, b = 40.0
        let w = Double(width) - l - r, hgt = Double(height) - t - b
        func px(_ v: Double) -> Double { l + w * (v - x0) / (x1 - x0) }
        func py(_ v: Double) -> Double { t + hgt * (1 - (v - y0) / (y1 - y0)) }
        let title = "Bland–Altman, class \(c.className): regions (n = \(pts.count))"
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"\(Report.esc(title))\">"
        svg += "<text x=\"\(Int(l))\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(Report.esc(title))</text>"
        svg += "<rect x=\"\(l)\" y=\"\(t)\" width=\"\(w)\" height=\"\(hgt)\" fill=\"none\" stroke=\"#444\"/>"
        for k in 0...4 {
            let v = y0 + (y1 - y0) * Double(k) / 4, u = x0 + (x1 - x0) * Double(k) / 4
            svg += "<text x=\"\(l - 4)\" y=\"\(py(v) + 4)\" font-size=\"10\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>"
            svg += "<text x=\"\(px(u))\" y=\"\(t + hgt + 14)\" font-size=\"10\" text-anchor=\"middle\">\(String(format: "%.3g", u))</text>"
        }
        for (v, name, colour, dash) in [(c.bias, "bias", "#d62728", ""), (c.upperLimit, "+1.96 SD", "#1f77b4", " stroke-dasharray=\"5,3\""),
                                        (c.lowerLimit, "−1.96 SD", "#1f77b4", " stroke-dasharray=\"5,3\""), (0, "0", "#999", "")] where v.isFinite {
            svg += "<line x1=\"\(l)\" x2=\"\(l + w)\" y1=\"\(py(v))\" y2=\"\(py(v))\" stroke=\"\(colour)\"\(dash)/>"
            svg += "<text x=\"\(l + w + 4)\" y=\"\(py(v) + 4)\" font-size=\"10\" fill=\"\(colour)\">\(name) \(String(format: "%.3g", v))</text>"
        }
        for (k, p) in pts.enumerated() {
            svg += "<circle cx=\"\(String(format: "%.1f", px(xs[k])))\" cy=\"\(String(format: "%.1f", py(ys[k])))\" r=\"2.5\" fill=\"#333\" fill-opacity=\"0.7\"><title>\(Report.esc(p.region)): \(String(format: "%.4g", p.difference))</title></circle>"
        }
        svg += "<text x=\"\(l + w / 2)\" y=\"\(Double(height) - 6)\" font-size=\"11\" text-anchor=\"middle\">(real + synthetic) / 2, \(Report.esc(units))</text>"
        svg += "<text x=\"14\" y=\"\(t + hgt / 2)\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(t + hgt / 2))\">synthetic − real</text>"
        return svg + "</svg>"
    }
}
