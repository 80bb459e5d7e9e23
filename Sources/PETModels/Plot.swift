import Foundation
import PETVolumes

/// Reads metrics.jsonl into rows of numbers (lines that do not parse are skipped).
public enum MetricsFile {
    public static func read(_ path: String) -> [[String: Double]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let d = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            var r: [String: Double] = [:]
            for (k, v) in d { if let n = v as? Double { r[k] = n } else if let i = v as? Int { r[k] = Double(i) } }
            return r
        }
    }
}

/// Line plots of training curves into a PNG image, with a small bitmap font for axes and legend.
public enum LossPlot {
    /// One line: its legend name (empty: no legend entry), its row key and colour.
    public struct Series {
        public var name: String, key: String, color: (UInt8, UInt8, UInt8)
        public init(name: String, key: String, color: (UInt8, UInt8, UInt8)) { self.name = name; self.key = key; self.color = color }
    }

    /// Loss curves (discriminator and generator loss; the Wasserstein estimate for WGANs) against step,
    /// smoothed with a moving average (raw values faint behind).
    public static func render(_ rows: [[String: Double]], loss: LossKind, width: Int = 640, height: Int = 360) -> RGBImage {
        var series = [Series(name: "LOSS D", key: "loss_d", color: (220, 60, 50)), Series(name: "LOSS G", key: "loss_g", color: (40, 110, 220))]
        let objective = loss.objective
        if let gap = objective.scoreGapCurve { series.append(Series(name: gap, key: "wasserstein", color: (40, 160, 70))) }
        return plot(rows, series: series, width: width, height: height, title: objective.curveTitle)
    }

    /// Lines of `series` against the row key `xKey`; `smooth`: a moving average over about 1/50 of the
    /// rows drawn solid over the raw values (learning curves, a few points each, are drawn raw).
    public static func plot(_ rows: [[String: Double]], series: [Series], width: Int, height: Int, title: String,
                            xKey: String = "step", xLabel: String = "STEP", smooth: Bool = true) -> RGBImage {
        var img = RGBImage(width: width, height: height, fill: 255)
        let left = 56, right = 12, top = 24, bottom = 28
        let pw = width - left - right, ph = height - top - bottom
        let xs = rows.compactMap { $0[xKey] }
        var lo = Double.infinity, hi = -Double.infinity
        for s in series { for r in rows { if let v = r[s.key], v.isFinite { lo = min(lo, v); hi = max(hi, v) } } }
        if !lo.isFinite { lo = 0; hi = 1 }
        if hi - lo < 1e-9 { hi = lo + 1 }
        let pad = (hi - lo) * 0.05
        lo -= pad; hi += pad
        let x0 = xs.min() ?? 0, x1 = max((xs.max() ?? 1), x0 + 1)
        func px(_ x: Double) -> Int { left + Int((x - x0) / (x1 - x0) * Double(pw - 1)) }
        func py(_ y: Double) -> Int { top + ph - 1 - Int((y - lo) / (hi - lo) * Double(ph - 1)) }
        // Grid and ticks.
        for t in 0...4 {
            let v = lo + (hi - lo) * Double(t) / 4
            let y = py(v)
            for x in left..<(left + pw) where x % 3 == 0 { img[x, y] = (215, 215, 215) }
            drawText(&img, format(v), x: 2, y: y - 2, color: (60, 60, 60))
            let sx = x0 + (x1 - x0) * Double(t) / 4
            let xp = px(sx)
            for y in top..<(top + ph) where y % 3 == 0 { img[xp, y] = (215, 215, 215) }
            let label = !smooth && x1 - x0 < 20 ? format(sx) : String(Int(sx.rounded()))
            drawText(&img, label, x: min(width - 4 * label.count - 2, max(0, xp - 2 * label.count)), y: top + ph + 6, color: (60, 60, 60))
        }
        if lo < 0 && hi > 0 { let y = py(0); for x in left..<(left + pw) { img[x, y] = (150, 150, 150) } }
        for x in left..<(left + pw) { img[x, top + ph] = (0, 0, 0) }
        for y in top...(top + ph) { img[left, y] = (0, 0, 0) }
        drawText(&img, xLabel, x: left + pw / 2 - 2 * xLabel.count, y: height - 8, color: (0, 0, 0))
        drawText(&img, title, x: left, y: 6, color: (0, 0, 0))
        // Curves: raw (light) and moving average (solid).
        let smoothing = smooth
        let window = smoothing ? max(1, rows.count / 50) : 1
        var legendX = left + 4 * title.count + 24
        for s in series {
            let pts = rows.compactMap { r -> (Double, Double)? in
                guard let x = r[xKey], let y = r[s.key], y.isFinite else { return nil }
                return (x, y)
            }
            let light = (UInt8(255 - (255 - Int(s.color.0)) / 4), UInt8(255 - (255 - Int(s.color.1)) / 4), UInt8(255 - (255 - Int(s.color.2)) / 4))
            if window > 1 { drawPolyline(&img, pts.map { (px($0.0), py($0.1)) }, color: light) }
            var smooth: [(Int, Int)] = []
            var acc = 0.0
            for (i, p) in pts.enumerated() {
                acc += p.1
                if i >= window { acc -= pts[i - window].1 }
                smooth.append((px(p.0), py(acc / Double(min(i + 1, window)))))
            }
            drawPolyline(&img, smooth, color: s.color)
            // Few points: each marked, so a single evaluation shows.
            if !smoothing { for p in smooth { for d in -1...1 { plotPixel(&img, p.0 + d, p.1, s.color); plotPixel(&img, p.0, p.1 + d, s.color) } } }
            guard !s.name.isEmpty else { continue }
            for dy in 0..<5 { for dx in 0..<8 { plotPixel(&img, legendX + dx, 6 + dy, s.color) } }
            drawText(&img, s.name, x: legendX + 11, y: 6, color: (0, 0, 0))
            legendX += 11 + 4 * s.name.count + 12
        }
        return img
    }

    static func format(_ v: Double) -> String {
        let a = Swift.abs(v)
        if a != 0 && (a >= 10000 || a < 0.01) { return String(format: "%.1E", v) }
        return String(format: a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : "%.2f", v)
    }

    static func drawPolyline(_ img: inout RGBImage, _ pts: [(Int, Int)], color: (UInt8, UInt8, UInt8)) {
        guard !pts.isEmpty else { return }
        if pts.count == 1 { plotPixel(&img, pts[0].0, pts[0].1, color); return }
        for i in 1..<pts.count {
            var (x, y) = pts[i - 1]
            let (x1, y1) = pts[i]
            let dx = Swift.abs(x1 - x), dy = -Swift.abs(y1 - y)
            let sx = x < x1 ? 1 : -1, sy = y < y1 ? 1 : -1
            var err = dx + dy
            while true {
                plotPixel(&img, x, y, color)
                if x == x1 && y == y1 { break }
                let e2 = 2 * err
                if e2 >= dy { err += dy; x += sx }
                if e2 <= dx { err += dx; y += sy }
            }
        }
    }

    static func plotPixel(_ img: inout RGBImage, _ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < img.width, y < img.height else { return }
        img[x, y] = c
    }

    // 3×5 bitmap font: each glyph is five rows of three bits (most significant bit = left column).
    static let glyphs: [Character: [UInt8]] = [
        "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 3, 1, 7], "4": [5, 5, 7, 1, 1],
        "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 2, 2], "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7],
        "A": [2, 5, 7, 5, 5], "B": [6, 5, 6, 5, 6], "C": [3, 4, 4, 4, 3], "D": [6, 5, 5, 5, 6], "E": [7, 4, 6, 4, 7],
        "F": [7, 4, 6, 4, 4], "G": [3, 4, 5, 5, 3], "H": [5, 5, 7, 5, 5], "I": [7, 2, 2, 2, 7], "J": [1, 1, 1, 5, 2],
        "K": [5, 5, 6, 5, 5], "L": [4, 4, 4, 4, 7], "M": [5, 7, 7, 5, 5], "N": [6, 5, 5, 5, 5], "O": [2, 5, 5, 5, 2],
        "P": [6, 5, 6, 4, 4], "Q": [2, 5, 5, 6, 3], "R": [6, 5, 6, 5, 5], "S": [3, 4, 2, 1, 6], "T": [7, 2, 2, 2, 2],
        "U": [5, 5, 5, 5, 7], "V": [5, 5, 5, 5, 2], "W": [5, 5, 7, 7, 5], "X": [5, 5, 2, 5, 5], "Y": [5, 5, 2, 2, 2],
        "Z": [7, 1, 2, 4, 7], "-": [0, 0, 7, 0, 0], ".": [0, 0, 0, 0, 2], "+": [0, 2, 7, 2, 0], ":": [0, 2, 0, 2, 0],
        "(": [1, 2, 2, 2, 1], ")": [4, 2, 2, 2, 4], "/": [1, 1, 2, 4, 4], " ": [0, 0, 0, 0, 0],
    ]

    /// Draws upper-case text (4 px per character) with its top-left corner at (x, y).
    public static func drawText(_ img: inout RGBImage, _ text: String, x: Int, y: Int, color: (UInt8, UInt8, UInt8)) {
        var cx = x
        for ch in text.uppercased() {
            if let g = glyphs[ch] {
                for (r, bits) in g.enumerated() {
                    for c in 0..<3 where bits & (4 >> c) != 0 { plotPixel(&img, cx + c, y + r, color) }
                }
            }
            cx += 4
        }
    }
}
