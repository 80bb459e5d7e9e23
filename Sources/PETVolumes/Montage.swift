// PNG pictures of volumes: the three orthogonal mid-slices (axial, coronal, sagittal; the views of
// Islam & Zhang 2020, Fig. 1) side by side, one row per volume, through libpng's simplified API.
//
// Public API:
//   let img = Montage.render([v1, v2], options: MontageOptions(colorMap: .hot, zoom: 2))
//   try PNGFile.write(img, to: "samples.png")        // temporary name, then rename
//   let back = try PNGFile.read("samples.png")       // RGB8 (tests)
//
// Display convention (neurological): volumes are first reoriented to the closest RAS grid; axial
// and coronal views show the subject's right on the image's right and superior/anterior at the top;
// sagittal views show anterior on the right. Each pixel has the same size in mm in all three views
// (anisotropic voxels are stretched), `zoom` pixels per smallest voxel.

import CPNG
import Foundation

public enum PNGError: Error, CustomStringConvertible, Equatable {
    case writeFailed(path: String, reason: String)
    case readFailed(path: String, reason: String)
    public var description: String {
        switch self {
        case let .writeFailed(p, r): return "\(p): could not write PNG: \(r)"
        case let .readFailed(p, r): return "\(p): could not read PNG: \(r)"
        }
    }
}

/// An 8-bit RGB image, rows top to bottom.
public struct RGBImage: Equatable {
    public var width: Int, height: Int
    public var pixels: [UInt8]
    public init(width: Int, height: Int, fill: UInt8 = 0) {
        self.width = width; self.height = height; pixels = [UInt8](repeating: fill, count: width * height * 3)
    }
    public subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        get { let o = (y * width + x) * 3; return (pixels[o], pixels[o + 1], pixels[o + 2]) }
        set { let o = (y * width + x) * 3; pixels[o] = newValue.0; pixels[o + 1] = newValue.1; pixels[o + 2] = newValue.2 }
    }
}

public enum PNGFile {
    /// Writes an RGB PNG atomically.
    public static func write(_ image: RGBImage, to path: String) throws {
        guard image.width > 0, image.height > 0 else { throw PNGError.writeFailed(path: path, reason: "empty image \(image.width)x\(image.height)") }
        let tmp = temporaryName(for: path)
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width); png.height = UInt32(image.height)
        png.format = UInt32(PNG_FORMAT_RGB)
        let ok = image.pixels.withUnsafeBytes { b in
            png_image_write_to_file(&png, tmp, 0, b.baseAddress, png_int_32(image.width * 3), nil)
        }
        if ok == 0 {
            let msg = withUnsafeBytes(of: png.message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            png_image_free(&png); unlink(tmp)
            throw PNGError.writeFailed(path: path, reason: msg.isEmpty ? "libpng failed" : msg)
        }
        if rename(tmp, path) != 0 {
            let r = String(cString: strerror(errno)); unlink(tmp)
            throw PNGError.writeFailed(path: path, reason: r)
        }
    }

    /// Reads any PNG as 8-bit RGB.
    public static func read(_ path: String) throws -> RGBImage {
        guard FileManager.default.fileExists(atPath: path) else { throw PNGError.readFailed(path: path, reason: "no such file") }
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_file(&png, path) != 0 else {
            let msg = withUnsafeBytes(of: png.message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            throw PNGError.readFailed(path: path, reason: msg)
        }
        png.format = UInt32(PNG_FORMAT_RGB)
        var img = RGBImage(width: Int(png.width), height: Int(png.height))
        let ok = img.pixels.withUnsafeMutableBytes { b in png_image_finish_read(&png, nil, b.baseAddress, png_int_32(img.width * 3), nil) }
        if ok == 0 { png_image_free(&png); throw PNGError.readFailed(path: path, reason: "decoding failed") }
        return img
    }
}

/// Colour maps for display.
public enum ColorMap: String, CaseIterable {
    case gray, hot, viridis, inferno

    private static let viridisStops: [(Double, Double, Double)] = [
        (0.267, 0.005, 0.329), (0.283, 0.141, 0.458), (0.254, 0.265, 0.530), (0.207, 0.372, 0.553),
        (0.164, 0.471, 0.558), (0.128, 0.567, 0.551), (0.135, 0.659, 0.518), (0.267, 0.749, 0.441),
        (0.478, 0.821, 0.318), (0.741, 0.873, 0.150), (0.993, 0.906, 0.144)]
    private static let infernoStops: [(Double, Double, Double)] = [
        (0.001, 0.000, 0.014), (0.087, 0.045, 0.225), (0.258, 0.039, 0.406), (0.416, 0.090, 0.433),
        (0.578, 0.148, 0.404), (0.735, 0.216, 0.330), (0.865, 0.317, 0.226), (0.955, 0.450, 0.104),
        (0.988, 0.645, 0.040), (0.964, 0.843, 0.273), (0.988, 0.998, 0.645)]

    /// RGB for t in [0, 1] (clamped).
    public func rgb(_ t: Double) -> (UInt8, UInt8, UInt8) {
        let t = min(1, max(0, t.isFinite ? t : 0))
        func byte(_ x: Double) -> UInt8 { UInt8(min(255, max(0, (x * 255).rounded()))) }
        switch self {
        case .gray: let g = byte(t); return (g, g, g)
        case .hot: return (byte(t * 3), byte(t * 3 - 1), byte(t * 3 - 2))
        case .viridis, .inferno:
            let stops = self == .viridis ? ColorMap.viridisStops : ColorMap.infernoStops
            let pos = t * Double(stops.count - 1)
            let i = min(Int(pos), stops.count - 2), f = pos - Double(i)
            let a = stops[i], b = stops[i + 1]
            return (byte(a.0 + (b.0 - a.0) * f), byte(a.1 + (b.1 - a.1) * f), byte(a.2 + (b.2 - a.2) * f))
        }
    }
}

public struct MontageOptions {
    public var colorMap: ColorMap
    /// Pixels per smallest voxel edge.
    public var zoom: Int
    /// Display window (low, high); nil = each volume's 0.5–99.5 percentile range.
    public var window: (Float, Float)?
    /// Pixels between tiles.
    public var gap: Int
    public init(colorMap: ColorMap = .gray, zoom: Int = 2, window: (Float, Float)? = nil, gap: Int = 2) {
        self.colorMap = colorMap; self.zoom = zoom; self.window = window; self.gap = gap
    }
}

public enum Montage {
    /// A 2-D view: values row-major (rows top to bottom), its size and pixel size in mm.
    struct View { var width: Int; var height: Int; var values: [Float]; var mmX: Double; var mmY: Double }

    /// The three mid-slice views (axial, coronal, sagittal) of a RAS-reoriented volume.
    static func views(_ volume: Volume) -> [View] {
        volume.data.withUnsafeBufferPointer { d in views(shape: volume.shape, affine: volume.affine) { d[$0] } }
    }

    /// The same views of any (D, H, W) grid, reading voxel values by their linear index in the
    /// original array (no reoriented copy; `MontagePlanes` reads only these voxels).
    static func views(shape: [Int], affine: Affine, value: (Int) -> Float) -> [View] {
        let r = RASReorientation(shape: shape, affine: affine)
        let grid = r?.newGrid ?? [shape[2], shape[1], shape[0]]
        let (dx, dy, dz) = (r?.newAffine ?? affine).voxelSizes
        func at(_ i: Int, _ j: Int, _ k: Int) -> Float {
            value(r?.oldIndex(i, j, k) ?? (k * shape[1] + j) * shape[2] + i)
        }
        let (nx, ny, nz) = (grid[0], grid[1], grid[2])
        let ci = nx / 2, cj = ny / 2, ck = nz / 2
        var axial = View(width: nx, height: ny, values: [], mmX: dx, mmY: dy)
        for row in 0..<ny { let j = ny - 1 - row; for i in 0..<nx { axial.values.append(at(i, j, ck)) } }
        var coronal = View(width: nx, height: nz, values: [], mmX: dx, mmY: dz)
        for row in 0..<nz { let k = nz - 1 - row; for i in 0..<nx { coronal.values.append(at(i, cj, k)) } }
        var sagittal = View(width: ny, height: nz, values: [], mmX: dy, mmY: dz)
        for row in 0..<nz { let k = nz - 1 - row; for j in 0..<ny { sagittal.values.append(at(ci, j, k)) } }
        return [axial, coronal, sagittal]
    }

    /// The display window of a volume: its 0.5 and 99.5 percentiles (min/max when flat).
    public static func autoWindow(_ v: Volume) -> (Float, Float) {
        // A strided sample keeps this cheap on big volumes.
        let step = max(1, v.count / 200_000)
        let sample = stride(from: 0, to: v.count, by: step).map { v.data[$0] }
        var lo = Float(Normalize.percentile(sample, 0.5)), hi = Float(Normalize.percentile(sample, 99.5))
        if !(hi > lo) { let r = v.finiteRange; lo = r.min; hi = r.max > r.min ? r.max : r.min + 1 }
        return (lo, hi)
    }

    /// One row per volume: axial | coronal | sagittal.
    public static func render(_ volumes: [Volume], options: MontageOptions = MontageOptions()) -> RGBImage {
        render(rows: volumes.map { views($0) }, windows: volumes.map { options.window ?? autoWindow($0) }, options: options)
    }

    /// Volumes side by side: each row holds several volumes (e.g. real | generated of one class), each
    /// shown axial | coronal | sagittal, all in one window and colour map so equal values look equal.
    public static func render(sideBySide rows: [[Volume]], window: (Float, Float), options: MontageOptions = MontageOptions()) -> RGBImage {
        render(rows: rows.map { $0.flatMap { views($0) } }, windows: rows.map { _ in window }, options: options)
    }

    /// The same picture from volumes of which only the shown voxels were kept (`MontagePlanes.gather`):
    /// one row per values array. Without a window, each row's 0.5–99.5 percentiles of the shown voxels.
    public static func render(planes: MontagePlanes, rows values: [[Float]], options: MontageOptions = MontageOptions()) -> RGBImage {
        let rows = values.map { v in views(shape: planes.shape, affine: planes.affine) { v[planes.position[$0]!] } }
        let windows = values.map { v -> (Float, Float) in
            if let w = options.window { return w }
            var lo = Float(Normalize.percentile(v, 0.5)), hi = Float(Normalize.percentile(v, 99.5))
            if !(hi > lo) { lo = v.min() ?? 0; hi = max(v.max() ?? 1, lo + 1) }
            return (lo, hi)
        }
        return render(rows: rows, windows: windows, options: options)
    }

    static func render(rows: [[View]], windows: [(Float, Float)], options: MontageOptions) -> RGBImage {
        let zoom = max(1, options.zoom)
        // Common pixel size: the smallest voxel edge over everything, divided by zoom.
        let minMM = rows.flatMap { $0.flatMap { [$0.mmX, $0.mmY] } }.filter { $0 > 0 }.min() ?? 1
        let px = minMM / Double(zoom)
        func size(_ view: View) -> (Int, Int) {
            (max(1, Int((Double(view.width) * view.mmX / px).rounded())), max(1, Int((Double(view.height) * view.mmY / px).rounded())))
        }
        let columns = rows.map(\.count).max() ?? 0
        let colWidths = (0..<columns).map { c in rows.map { c < $0.count ? size($0[c]).0 : 0 }.max() ?? 1 }
        let rowHeights = rows.map { r in r.map { size($0).1 }.max() ?? 1 }
        let gap = max(0, options.gap)
        let width = colWidths.reduce(0, +) + gap * (columns + 1)
        let height = rowHeights.reduce(0, +) + gap * (rows.count + 1)
        var img = RGBImage(width: width, height: max(1, height))
        var y0 = gap
        for (r, viewsOfRow) in rows.enumerated() {
            let (lo, hi) = windows[r]
            let span = Double(hi - lo) == 0 ? 1 : Double(hi - lo)
            var x0 = gap
            for (c, view) in viewsOfRow.enumerated() {
                let (w, h) = size(view)
                // Centre the view in its cell; nearest-neighbour scaling.
                let ox = x0 + (colWidths[c] - w) / 2, oy = y0 + (rowHeights[r] - h) / 2
                for y in 0..<h {
                    let sy = min(view.height - 1, Int(Double(y) * Double(view.height) / Double(h)))
                    for x in 0..<w {
                        let sx = min(view.width - 1, Int(Double(x) * Double(view.width) / Double(w)))
                        let value = view.values[sy * view.width + sx]
                        img[ox + x, oy + y] = options.colorMap.rgb((Double(value) - Double(lo)) / span)
                    }
                }
                x0 += colWidths[c] + gap
            }
            y0 += rowHeights[r] + gap
        }
        return img
    }
}

/// The voxels a montage shows (the three RAS mid-slices) of a (D, H, W) grid, so that a volume read
/// slab by slab can keep just those (a few planes instead of the whole volume) and still be drawn.
public struct MontagePlanes {
    public let shape: [Int]
    public let affine: Affine
    /// Linear indices into the (D, H, W) array, ascending.
    public let indices: [Int]
    /// Index → position in `indices` (and in gathered values).
    let position: [Int: Int]

    public init(shape: [Int], affine: Affine) {
        var set = Set<Int>()
        _ = Montage.views(shape: shape, affine: affine) { set.insert($0); return 0 }
        indices = set.sorted()
        var pos: [Int: Int] = [:]
        for (p, i) in indices.enumerated() { pos[i] = p }
        position = pos
        self.shape = shape; self.affine = affine
    }

    /// Copies the shown voxels of a slab (depth planes z0 ..< z0 + n) into `values` (indices.count long).
    public func gather(_ slab: UnsafeBufferPointer<Float>, firstDepth z0: Int, into values: inout [Float]) {
        let plane = shape[1] * shape[2]
        let lo = z0 * plane, hi = lo + slab.count
        var p = lowerBound(lo)
        while p < indices.count && indices[p] < hi { values[p] = slab[indices[p] - lo]; p += 1 }
    }

    /// Positions p..<q of `indices` that fall in the slab (for callers that accumulate per shown voxel).
    public func range(firstDepth z0: Int, depth n: Int) -> Range<Int> {
        let plane = shape[1] * shape[2]
        return lowerBound(z0 * plane)..<lowerBound((z0 + n) * plane)
    }

    func lowerBound(_ x: Int) -> Int {
        var a = 0, b = indices.count
        while a < b { let m = (a + b) / 2; if indices[m] < x { a = m + 1 } else { b = m } }
        return a
    }
}
