// SSIM and MS-SSIM of two (D, H, W) volumes fed depth slab by depth slab (issue 7, item 5: tiled
// analysis), so that neither volume, nor any of SSIM's five full-size Double filter maps, is ever
// held: only the last 10 depth planes of each input (the Gaussian window's depth halo) and one slab
// of output planes. `ImageMetrics.ssim`/`msssim` on whole arrays stay as the plain reference.
//
// The result is bitwise the reference's: the same separable "valid" filter in the same axis order
// (depth, then height, then width), the same per-element summation order over the taps, the same
// per-voxel formula, and the map summed in the same voxel order. Only the schedule differs.
//
// Public API:
//   let s = try StreamingSSIM(shape: [D, H, W], dataRange: L)
//   for slab in … { s.add(x: xSlab, y: ySlab, depth: n) }     // n·H·W floats each, in depth order
//   let (ssim, cs) = try s.finish()
//   let m = try StreamingMSSSIM(shape:, dataRange:, scales:) ; m.add(…) ; try m.finish()
//   StreamingSSIM.bytes(shape:slabDepth:)                     // what it holds, for memory planning

import Foundation
import PETTensor

public final class StreamingSSIM {
    public let shape: [Int]
    public let dataRange: Double
    /// Taps per axis: the Gaussian on axes longer than 1, [1] on the others (an unfiltered axis: 0 + 1·v = v exactly).
    let tD: [Double], tH: [Double], tW: [Double]
    let plane: Int, outH: Int, outW: Int
    /// Input planes not yet consumed (the last tD.count − 1 planes stay for the next output plane).
    var ringX: [Float] = [], ringY: [Float] = []
    var held = 0
    public private(set) var planesAdded = 0
    var sSum = 0.0, csSum = 0.0, outputs = 0
    let c1: Double, c2: Double

    public init(shape: [Int], dataRange: Double) throws {
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
            throw MetricsError.mismatch(detail: "streaming SSIM needs a (D, H, W) shape, got \(shape)")
        }
        let taps = ImageMetrics.gaussianTaps()
        for a in 0..<3 where shape[a] > 1 && shape[a] < taps.count {
            throw MetricsError.tooSmall(detail: "SSIM needs every image axis ≥ \(taps.count) voxels, got shape \(shape)")
        }
        self.shape = shape; self.dataRange = dataRange
        tD = shape[0] > 1 ? taps : [1]; tH = shape[1] > 1 ? taps : [1]; tW = shape[2] > 1 ? taps : [1]
        plane = shape[1] * shape[2]
        outH = shape[1] - tH.count + 1; outW = shape[2] - tW.count + 1
        c1 = (ImageMetrics.k1 * dataRange) * (ImageMetrics.k1 * dataRange)
        c2 = (ImageMetrics.k2 * dataRange) * (ImageMetrics.k2 * dataRange)
    }

    /// Bytes held while slabs of `slabDepth` planes are fed (input ring, per-slab output maps, per-thread scratch).
    public static func bytes(shape: [Int], slabDepth: Int, threads: Int = 2) -> Int {
        let plane = shape[1] * shape[2], halo = shape[0] > 1 ? 10 : 0
        let ring = 2 * (halo + slabDepth) * plane * 4
        let maps = 2 * slabDepth * plane * 8
        let scratch = threads * 8 * plane * 8
        return ring + maps + scratch
    }

    public func add(_ x: [Float], _ y: [Float]) {
        precondition(x.count == y.count && x.count % plane == 0, "slabs must be whole depth planes of \(shape)")
        x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { yp in add(x: xp.baseAddress!, y: yp.baseAddress!, depth: x.count / plane) } }
    }

    /// Adds the next `depth` planes of both volumes.
    public func add(x: UnsafePointer<Float>, y: UnsafePointer<Float>, depth n: Int) {
        guard n > 0 else { return }
        let (tD, tH, tW, W, outH, outW, c1, c2) = (self.tD, self.tH, self.tW, shape[2], self.outH, self.outW, self.c1, self.c2)
        let plane = self.plane
        precondition(planesAdded + n <= shape[0], "more than \(shape[0]) depth planes fed to SSIM")
        let need = (held + n) * plane
        if ringX.count < need { ringX.append(contentsOf: repeatElement(0, count: need - ringX.count)); ringY.append(contentsOf: repeatElement(0, count: need - ringY.count)) }
        ringX.withUnsafeMutableBufferPointer { r in r.baseAddress!.advanced(by: held * plane).update(from: x, count: n * plane) }
        ringY.withUnsafeMutableBufferPointer { r in r.baseAddress!.advanced(by: held * plane).update(from: y, count: n * plane) }
        held += n; planesAdded += n
        let kd = tD.count
        let ready = held - kd + 1
        guard ready > 0 else { return }
        // Output planes 0..<ready of the ring, in parallel; their maps are summed afterwards in voxel
        // order so that the sums are the reference's bit for bit.
        let outPlane = outH * outW
        var sMap = [Double](repeating: 0, count: ready * outPlane), csMap = sMap
        ringX.withUnsafeBufferPointer { rx in ringY.withUnsafeBufferPointer { ry in
            sMap.withUnsafeMutableBufferPointer { sm in csMap.withUnsafeMutableBufferPointer { cm in
                let rxp = rx.baseAddress!, ryp = ry.baseAddress!, smp = sm.baseAddress!, cmp = cm.baseAddress!
                Parallel.forRanges(ready, minChunk: 1) { range in
                    var dBuf = [Double](repeating: 0, count: plane), hBuf = [Double](repeating: 0, count: outH * W)
                    var u = [[Double]](repeating: [Double](repeating: 0, count: outPlane), count: 5)
                    for p in range {
                        for ch in 0..<5 {
                            // Depth: dBuf = Σ_k tD[k]·v(plane p + k).
                            dBuf.withUnsafeMutableBufferPointer { d in
                                let dp = d.baseAddress!
                                dp.update(repeating: 0, count: plane)
                                for k in 0..<kd {
                                    let w = tD[k]
                                    let xs = rxp + (p + k) * plane, ys = ryp + (p + k) * plane
                                    switch ch {
                                    case 0: for c in 0..<plane { dp[c] += w * Double(xs[c]) }
                                    case 1: for c in 0..<plane { dp[c] += w * Double(ys[c]) }
                                    case 2: for c in 0..<plane { let a = Double(xs[c]); dp[c] += w * (a * a) }
                                    case 3: for c in 0..<plane { let b = Double(ys[c]); dp[c] += w * (b * b) }
                                    default: for c in 0..<plane { dp[c] += w * (Double(xs[c]) * Double(ys[c])) }
                                    }
                                }
                            }
                            // Height, then width (valid).
                            dBuf.withUnsafeBufferPointer { d in hBuf.withUnsafeMutableBufferPointer { h in
                                let dp = d.baseAddress!, hp = h.baseAddress!
                                hp.update(repeating: 0, count: outH * W)
                                for i in 0..<outH {
                                    let row = hp + i * W
                                    for k in 0..<tH.count {
                                        let w = tH[k], src = dp + (i + k) * W
                                        for c in 0..<W { row[c] += w * src[c] }
                                    }
                                }
                            } }
                            hBuf.withUnsafeBufferPointer { h in u[ch].withUnsafeMutableBufferPointer { o in
                                let hp = h.baseAddress!, op = o.baseAddress!
                                op.update(repeating: 0, count: outPlane)
                                for r in 0..<outH {
                                    for i in 0..<outW {
                                        let src = hp + r * W + i
                                        var acc = 0.0
                                        for k in 0..<tW.count { acc += tW[k] * src[k] }
                                        op[r * outW + i] = acc
                                    }
                                }
                            } }
                        }
                        let sRow = smp + p * outPlane, cRow = cmp + p * outPlane
                        for i in 0..<outPlane {
                            let ux = u[0][i], uy = u[1][i]
                            let vx = u[2][i] - ux * ux, vy = u[3][i] - uy * uy, vxy = u[4][i] - ux * uy
                            let cs = (2 * vxy + c2) / (vx + vy + c2)
                            let l = (2 * ux * uy + c1) / (ux * ux + uy * uy + c1)
                            sRow[i] = l * cs; cRow[i] = cs
                        }
                    }
                }
            } }
        } }
        for i in 0..<sMap.count { sSum += sMap[i]; csSum += csMap[i] }
        outputs += sMap.count
        // Keep the last kd − 1 planes (the next output plane's window).
        let keep = held - ready
        if keep > 0 {
            ringX.withUnsafeMutableBufferPointer { r in r.baseAddress!.update(from: r.baseAddress! + ready * plane, count: keep * plane) }
            ringY.withUnsafeMutableBufferPointer { r in r.baseAddress!.update(from: r.baseAddress! + ready * plane, count: keep * plane) }
        }
        held = keep
    }

    /// Mean SSIM and mean contrast-structure term; every depth plane must have been added.
    public func finish() throws -> (ssim: Double, cs: Double) {
        guard planesAdded == shape[0] else {
            throw MetricsError.mismatch(detail: "streaming SSIM received \(planesAdded) of \(shape[0]) depth planes")
        }
        return (sSum / Double(outputs), csSum / Double(outputs))
    }
}

/// MS-SSIM (`ImageMetrics.msssim`'s definition) fed by depth slabs: one `StreamingSSIM` per scale,
/// each scale's planes block-averaged in pairs (the reference `downsample`'s arithmetic) into the next.
public final class StreamingMSSSIM {
    public let shape: [Int]
    let levels: [StreamingSSIM]
    let shapes: [[Int]]
    /// Planes of level j waiting for their depth partner (downsampling to level j + 1).
    var pendingX: [[Float]], pendingY: [[Float]]
    let weights: [Double]

    public init(shape: [Int], dataRange: Double, scales: Int = 3) throws {
        let all = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
        let m = max(1, min(scales, all.count))
        let w = Array(all[0..<m]), ws = w.reduce(0, +)
        weights = w.map { $0 / ws }
        var s = shape, shs: [[Int]] = [], lv: [StreamingSSIM] = []
        for j in 0..<m {
            shs.append(s); lv.append(try StreamingSSIM(shape: s, dataRange: dataRange))
            if j < m - 1 { s = [max(1, s[0] / (s[0] > 1 ? 2 : 1)), max(1, s[1] / 2), max(1, s[2] / 2)] }
        }
        self.shape = shape; levels = lv; shapes = shs
        pendingX = Array(repeating: [], count: m); pendingY = pendingX
    }

    public func add(_ x: [Float], _ y: [Float]) { feed(0, x, y) }

    public func add(x: UnsafePointer<Float>, y: UnsafePointer<Float>, depth n: Int) {
        let c = n * shape[1] * shape[2]
        feed(0, Array(UnsafeBufferPointer(start: x, count: c)), Array(UnsafeBufferPointer(start: y, count: c)))
    }

    func feed(_ j: Int, _ x: [Float], _ y: [Float]) {
        let s = shapes[j]
        let plane = s[1] * s[2]
        // The reference drops a trailing partial depth block; so do we (planes past the last whole block).
        let fd = s[0] > 1 ? 2 : 1
        let usable = (s[0] / fd) * fd
        let already = levels[j].planesAdded
        levels[j].add(x, y)
        guard j + 1 < levels.count else { return }
        let n = x.count / plane
        let take = max(0, min(n, usable - already))
        pendingX[j] += x[0..<(take * plane)]; pendingY[j] += y[0..<(take * plane)]
        let blocks = pendingX[j].count / (fd * plane)
        guard blocks > 0 else { return }
        let dx = StreamingMSSSIM.downsample(pendingX[j], blocks: blocks, fd: fd, shape: s)
        let dy = StreamingMSSSIM.downsample(pendingY[j], blocks: blocks, fd: fd, shape: s)
        pendingX[j].removeFirst(blocks * fd * plane); pendingY[j].removeFirst(blocks * fd * plane)
        feed(j + 1, dx, dy)
    }

    /// `blocks` depth blocks of `fd` planes → `blocks` planes averaged over 2×2 (×fd) blocks, exactly as
    /// `ImageMetrics.downsample` sums them (Float, dd then hh then ww).
    static func downsample(_ x: [Float], blocks: Int, fd: Int, shape s: [Int]) -> [Float] {
        let f = 2, oh = max(1, s[1] / f), ow = max(1, s[2] / f)
        var out = [Float](repeating: 0, count: blocks * oh * ow)
        let norm = 1 / Float(fd * f * f)
        for d in 0..<blocks { for h in 0..<oh { for w in 0..<ow {
            var acc: Float = 0
            for dd in 0..<fd { for hh in 0..<f {
                let base = ((d * fd + dd) * s[1] + h * f + hh) * s[2] + w * f
                for ww in 0..<f { acc += x[base + ww] }
            } }
            out[(d * oh + h) * ow + w] = acc * norm
        } } }
        return out
    }

    public func finish() throws -> Double {
        var result = 1.0
        for j in 0..<levels.count {
            let t = try levels[j].finish()
            let term = j == levels.count - 1 ? t.ssim : t.cs
            result *= Foundation.pow(Swift.max(0, term), weights[j])
        }
        return result
    }
}

/// The paper's PSNR (`ImageMetrics.psnr`) accumulated over slabs in voxel order: the same sums, so the
/// same bits as on whole arrays.
public struct PSNRAccumulator {
    var sum = 0.0, peak = -Double.infinity, count = 0
    public init() {}
    public mutating func add(real: [Float], synthetic: [Float]) {
        precondition(real.count == synthetic.count)
        for i in 0..<real.count {
            let d = Double(real[i]) - Double(synthetic[i])
            sum += d * d
            peak = Swift.max(peak, Double(real[i]))
        }
        count += real.count
    }
    public var mse: Double { sum / Double(count) }
    public var value: Double { mse == 0 ? .infinity : 10 * Foundation.log10(peak * peak / mse) }
}
