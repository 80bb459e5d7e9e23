// Figures of the report: log-scaled 2D histograms as PNG, line and bar charts as inline SVG, PNG files
// as base64 data URIs (the report is a single self-contained file).
//
// Public API:
//   Figures.heatmap(counts, bins:, scale:) -> RGBImage ; Figures.lineChart(series, ...) -> String (SVG)
//   Figures.dataURI(pngPath) -> String ; Figures.peakRSSMegabytes() -> Double

import Foundation
import PETTensor
import PETVolumes

public enum Figures {
    /// counts[y * bins + x] drawn with y upwards, log(1 + count) on the inferno map, `scale` px per bin,
    /// with the identity diagonal in grey.
    public static func heatmap(_ counts: [Double], bins: Int, scale: Int = 4) -> RGBImage {
        let maxLog = counts.map { Foundation.log1p($0) }.max() ?? 1
        var img = RGBImage(width: bins * scale, height: bins * scale)
        for y in 0..<bins { for x in 0..<bins {
            let t = maxLog > 0 ? Foundation.log1p(counts[y * bins + x]) / maxLog : 0
            var c = ColorMap.inferno.rgb(t)
            if x == y && counts[y * bins + x] == 0 { c = (90, 90, 90) }
            for dy in 0..<scale { for dx in 0..<scale {
                let px = x * scale + dx, py = (bins - 1 - y) * scale + dy
                let o = (py * img.width + px) * 3
                img.pixels[o] = c.0; img.pixels[o + 1] = c.1; img.pixels[o + 2] = c.2
            } }
        } }
        return img
    }

    /// 2D images (H×W each, row-major, row 0 at the top) in rows of a grid, one colour window for all,
    /// nearest-neighbour zoomed to at least 96 px, 2 px gaps.
    public static func tiles(_ rows: [[[Float]]], height h: Int, width w: Int, colorMap: ColorMap, window: (Float, Float)) -> RGBImage {
        let zoom = max(1, Int((96.0 / Double(max(h, w))).rounded(.up)))
        let cols = max(1, rows.map(\.count).max() ?? 1), gap = 2
        var img = RGBImage(width: cols * (w * zoom + gap) + gap, height: max(1, rows.count) * (h * zoom + gap) + gap, fill: 255)
        let span = Double(window.1 - window.0) > 0 ? Double(window.1 - window.0) : 1
        for (ri, row) in rows.enumerated() {
            for (ci, im) in row.enumerated() {
                let x0 = gap + ci * (w * zoom + gap), y0 = gap + ri * (h * zoom + gap)
                for y in 0..<(h * zoom) { for x in 0..<(w * zoom) {
                    img[x0 + x, y0 + y] = colorMap.rgb((Double(im[(y / zoom) * w + x / zoom]) - Double(window.0)) / span)
                } }
            }
        }
        return img
    }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A line chart of named series (x = index + 1) as an SVG element.
    public static func lineChart(_ series: [(String, [Double])], title: String, xLabel: String, yLabel: String,
                                 width: Int = 520, height: Int = 260) -> String {
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
        let all = series.flatMap { $0.1 }.filter { $0.isFinite }
        let lo = min(0, all.min() ?? 0), hi = max(all.max() ?? 1, lo + 1e-9)
        let n = max(2, series.map { $0.1.count }.max() ?? 2)
        let l = 56.0, r = 12.0, t = 28.0, b = 40.0
        let w = Double(width) - l - r, h = Double(height) - t - b
        func px(_ i: Int) -> Double { l + w * Double(i) / Double(n - 1) }
        func py(_ v: Double) -> Double { t + h * (1 - (v - lo) / (hi - lo)) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"\(esc(title))\">"
        svg += "<text x=\"\(Int(l))\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(esc(title))</text>"
        svg += "<line x1=\"\(l)\" y1=\"\(t + h)\" x2=\"\(l + w)\" y2=\"\(t + h)\" stroke=\"#444\"/><line x1=\"\(l)\" y1=\"\(t)\" x2=\"\(l)\" y2=\"\(t + h)\" stroke=\"#444\"/>"
        for k in 0...4 {
            let v = lo + (hi - lo) * Double(k) / 4
            svg += "<text x=\"\(l - 4)\" y=\"\(py(v) + 4)\" font-size=\"10\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>"
            svg += "<line x1=\"\(l)\" y1=\"\(py(v))\" x2=\"\(l + w)\" y2=\"\(py(v))\" stroke=\"#ddd\"/>"
        }
        svg += "<text x=\"\(l + w / 2)\" y=\"\(Double(height) - 6)\" font-size=\"11\" text-anchor=\"middle\">\(esc(xLabel)) (1–\(n))</text>"
        svg += "<text x=\"12\" y=\"\(t + h / 2)\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(t + h / 2))\">\(esc(yLabel))</text>"
        for (k, (name, ys)) in series.enumerated() {
            let pts = ys.enumerated().filter { $0.element.isFinite }.map { String(format: "%.1f,%.1f", px($0.offset), py($0.element)) }.joined(separator: " ")
            let c = colors[k % colors.count]
            svg += "<polyline fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\" points=\"\(pts)\"/>"
            svg += "<text x=\"\(l + w - 4)\" y=\"\(t + 14 + 14 * Double(k))\" font-size=\"11\" text-anchor=\"end\" fill=\"\(c)\">\(esc(name))</text>"
        }
        return svg + "</svg>"
    }

    /// Grouped bars with error bars: groups × (name, mean, sd).
    public static func barChart(_ groups: [(String, [(String, Double, Double)])], title: String, yLabel: String, yMax: Double = 1,
                                width: Int = 520, height: Int = 260) -> String {
        let colors = ["#7f7f7f", "#1f77b4", "#d62728", "#2ca02c"]
        let l = 56.0, r = 12.0, t = 28.0, b = 40.0
        let w = Double(width) - l - r, h = Double(height) - t - b
        func py(_ v: Double) -> Double { t + h * (1 - min(max(v, 0), yMax) / yMax) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"\(esc(title))\">"
        svg += "<text x=\"\(Int(l))\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(esc(title))</text>"
        svg += "<line x1=\"\(l)\" y1=\"\(t + h)\" x2=\"\(l + w)\" y2=\"\(t + h)\" stroke=\"#444\"/><line x1=\"\(l)\" y1=\"\(t)\" x2=\"\(l)\" y2=\"\(t + h)\" stroke=\"#444\"/>"
        for k in 0...4 {
            let v = yMax * Double(k) / 4
            svg += "<text x=\"\(l - 4)\" y=\"\(py(v) + 4)\" font-size=\"10\" text-anchor=\"end\">\(String(format: "%.2g", v))</text>"
        }
        svg += "<text x=\"12\" y=\"\(t + h / 2)\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(t + h / 2))\">\(esc(yLabel))</text>"
        let gw = w / Double(max(1, groups.count))
        for (g, (gname, bars)) in groups.enumerated() {
            let bw = gw * 0.8 / Double(max(1, bars.count))
            for (k, (name, mean, sd)) in bars.enumerated() {
                let x = l + gw * Double(g) + gw * 0.1 + bw * Double(k)
                let c = colors[k % colors.count]
                if mean.isFinite {
                    svg += "<rect x=\"\(x)\" y=\"\(py(mean))\" width=\"\(bw * 0.9)\" height=\"\(t + h - py(mean))\" fill=\"\(c)\"><title>\(esc(name)): \(String(format: "%.3f", mean))</title></rect>"
                    if sd.isFinite { svg += "<line x1=\"\(x + bw * 0.45)\" x2=\"\(x + bw * 0.45)\" y1=\"\(py(mean - sd))\" y2=\"\(py(mean + sd))\" stroke=\"#000\"/>" }
                }
                if g == 0 { svg += "<text x=\"\(l + w - 4)\" y=\"\(t + 14 + 14 * Double(k))\" font-size=\"11\" text-anchor=\"end\" fill=\"\(c)\">\(esc(name))</text>" }
            }
            svg += "<text x=\"\(l + gw * (Double(g) + 0.5))\" y=\"\(t + h + 16)\" font-size=\"11\" text-anchor=\"middle\">\(esc(gname))</text>"
        }
        return svg + "</svg>"
    }

    /// A square PNG (data URI) inside SVG axes running from lo to hi on both axes, with labels.
    public static func framedImage(_ uri: String, lo: Double, hi: Double, xLabel: String, yLabel: String, size: Int = 384) -> String {
        let l = 60.0, t = 10.0, s = Double(size), b = 44.0
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(l + s + 16))\" height=\"\(Int(t + s + b))\" role=\"img\" aria-label=\"\(esc(yLabel)) vs \(esc(xLabel))\">"
        svg += "<image href=\"\(uri)\" x=\"\(l)\" y=\"\(t)\" width=\"\(s)\" height=\"\(s)\" style=\"image-rendering:pixelated\"/>"
        svg += "<rect x=\"\(l)\" y=\"\(t)\" width=\"\(s)\" height=\"\(s)\" fill=\"none\" stroke=\"#444\"/>"
        for k in 0...4 {
            let v = lo + (hi - lo) * Double(k) / 4, f = Double(k) / 4
            svg += "<text x=\"\(l + s * f)\" y=\"\(t + s + 14)\" font-size=\"10\" text-anchor=\"middle\">\(String(format: "%.3g", v))</text>"
            svg += "<text x=\"\(l - 4)\" y=\"\(t + s * (1 - f) + 4)\" font-size=\"10\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>"
        }
        svg += "<text x=\"\(l + s / 2)\" y=\"\(t + s + 34)\" font-size=\"11\" text-anchor=\"middle\">\(esc(xLabel))</text>"
        svg += "<text x=\"14\" y=\"\(t + s / 2)\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(t + s / 2))\">\(esc(yLabel))</text>"
        return svg + "</svg>"
    }

    /// A PNG file as a data URI.
    public static func dataURI(_ pngPath: String) -> String {
        let d = FileManager.default.contents(atPath: pngPath) ?? Data()
        return "data:image/png;base64," + d.base64EncodedString()
    }

    /// Peak resident set size of this process (VmHWM), in MiB.
    public static func peakRSSMegabytes() -> Double {
        // PETTensor's parser: from 10 GB on, "VmHWM:\t12345678 kB" has no space before the number.
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8), let kb = statusKilobytes(s, field: "VmHWM") else { return .nan }
        return Double(kb) / 1024
    }
}
