import Foundation
import PETAutograd
import PETTensor

/// How a stack's output is cut: tile shape (D, H, W) of the output, the kernel scratch limit, and
/// the memory it was sized for.
public struct TilePlan: CustomStringConvertible, Sendable {
    /// Input shape (N, C, D, H, W) and output shape.
    public var inputShape: [Int]
    public var outputShape: [Int]
    /// Output tile (D, H, W); edge tiles are smaller when the tile does not divide the volume.
    public var tile: [Int]
    /// Tiles along D, H, W.
    public var tileCounts: [Int]
    /// Upper bound on the counted bytes one tile needs on top of what was in use when planning
    /// (activations of the tile at every layer, kernel scratch, the output slab).
    public var estimatedBytes: Int
    /// vol2col column-buffer limit for the kernels.
    public var columnLimitBytes: Int
    /// Budget the plan was made for (nil: none).
    public var budgetBytes: Int?
    /// Multiply-adds of the tiled run relative to the untiled one (halo recomputation).
    public var recomputeFactor: Double

    public var tileCount: Int { tileCounts.reduce(1, *) }
    public var description: String {
        "tile \(tile.map(String.init).joined(separator: "×")) (\(tileCounts.map(String.init).joined(separator: "×")) = \(tileCount) tiles) of output \(outputShape.suffix(3).map(String.init).joined(separator: "×")), "
            + "≤ \(formatBytes(estimatedBytes)) per tile, \(String(format: "%.2f", recomputeFactor))× the untiled work"
            + (budgetBytes.map { ", budget \(formatBytes($0))" } ?? "")
    }
}

/// Where the stitched output goes: consecutive depth slabs (N, C, depth, H, W) of the output in
/// depth order, then `finish()`.
public protocol SlabSink: AnyObject {
    func write(slab: Tensor, depthStart: Int) throws
    func finish() throws
}

extension TiledStack {
    /// Per-axis facts for one tile length: per stage, the largest region lengths over all tile
    /// positions (input, conv padded input / transposed cover, output) and the summed work length.
    struct AxisProfile {
        var tile: Int
        var tiles: Int
        var maxIn: [Int], maxMid: [Int], maxOut: [Int]
        var sumWork: [Double]
    }

    func axisProfile(axis a: Int, tile t: Int, shapes: [[Int]]) -> AxisProfile {
        let L = stages.count, S = shapes[L][2 + a]
        var p = AxisProfile(tile: t, tiles: (S + t - 1) / t, maxIn: .init(repeating: 0, count: L), maxMid: .init(repeating: 0, count: L),
                            maxOut: .init(repeating: 0, count: L), sumWork: .init(repeating: 0, count: L))
        var start = 0
        while start < S {
            var r = Span(start, min(S, start + t))
            for l in stride(from: L - 1, through: 0, by: -1) {
                let st = stages[l]
                let need = st.needed(r, axis: a)
                let inR = need.clamped(to: shapes[l][2 + a])
                var mid = 0, work = r.count
                switch st {
                case .conv: mid = need.count
                case .convTranspose: mid = inR.isEmpty ? 0 : st.covered(inR, axis: a).count; work = max(mid, 1)
                case .pointwise, .voxelwise: mid = 0
                case .upsampleNearest: mid = inR.count * (shapes[l + 1][2 + a] / max(1, shapes[l][2 + a]))
                }
                p.maxIn[l] = max(p.maxIn[l], inR.count)
                p.maxMid[l] = max(p.maxMid[l], mid)
                p.maxOut[l] = max(p.maxOut[l], r.count)
                p.sumWork[l] += Double(work)
                r = inR
            }
            start += t
        }
        return p
    }

    /// Candidate tile lengths along an axis of size S: ⌈S/k⌉ for k = 1, 2, … (distinct).
    static func candidateLengths(_ S: Int) -> [Int] {
        var out: [Int] = [], last = -1
        for k in 1...min(S, 40) { let t = (S + k - 1) / k; if t != last { out.append(t); last = t } }
        return out
    }

    /// Bytes one tile needs (see TilePlan.estimatedBytes) for per-axis profiles pd, ph, pw: the
    /// worst layer's live tensors (input, padded input or transposed cover, output) plus its kernel
    /// scratch (implicit GEMM's buffers, or im2col's column buffer), the idle cached scratch, the
    /// tile's input crop and the output slab.
    func tileBytes(_ pr: [AxisProfile], shapes: [[Int]], columnLimit: Int) -> Int {
        let n = shapes[0][0]
        // Scratch of one kernel call on geometry x (large, ci channels) → y (small, co channels), no
        // padding, as the tile ops run it: implicit GEMM's buffers, or im2col's column buffer (rows
        // ci·k, one column per small-side voxel, cut in depth slabs at the limit).
        func kernelScratchBytes(_ p: ConvParams, ci: Int, co: Int, large: [Int], small: [Int], role: ConvDispatch.Role) -> Int {
            if convPath == .implicitGEMM {
                let g = ConvGeometry(n: n, ci: ci, co: co, id: large[0], ih: large[1], iw: large[2], od: small[0], oh: small[1], ow: small[2],
                                     kd: p.kernel[0], kh: p.kernel[1], kw: p.kernel[2], sd: p.stride[0], sh: p.stride[1], sw: p.stride[2],
                                     pd: 0, ph: 0, pw: 0)
                return Conv3dImplicitGEMM.scratchFloats(g, role: role) * 4
            }
            let rows = ci * p.kernel.reduce(1, *)
            return min(max(columnLimit, rows * small[1] * small[2] * 4), rows * small.reduce(1, *) * n * 4)
        }
        var live: [Int] = [], columns: [Int] = []
        for (l, st) in stages.enumerated() {
            let ci = shapes[l][1], co = shapes[l + 1][1]
            let vin = pr[0].maxIn[l] * pr[1].maxIn[l] * pr[2].maxIn[l]
            let vmid = pr[0].maxMid[l] * pr[1].maxMid[l] * pr[2].maxMid[l]
            let vout = pr[0].maxOut[l] * pr[1].maxOut[l] * pr[2].maxOut[l]
            switch st {
            case .conv(_, _, let p):
                live.append(n * (ci * vin + ci * vmid + co * vout) * 4)
                // The kernel on the worst tile's padded input (the layer's padding made explicit).
                columns.append(kernelScratchBytes(p, ci: ci, co: co, large: pr.map { $0.maxMid[l] }, small: pr.map { $0.maxOut[l] }, role: .correlate))
            case .convTranspose(_, _, let p):
                live.append(n * (ci * vin + co * vmid + co * vout) * 4)
                // The adjoint from the worst tile's input (small, y) to what it covers (large, x).
                columns.append(kernelScratchBytes(p, ci: co, co: ci, large: pr.map { $0.maxMid[l] }, small: pr.map { $0.maxIn[l] }, role: .adjoint))
            case .pointwise:
                // Batch norm in eval mode: scale/shift then the affine, one intermediate (+ slack).
                live.append(n * (ci * vin + 3 * co * vout) * 4)
                columns.append(0)
            case .voxelwise:
                // GLU: its two halves, the sigmoid and the product (≤ 3 tensors of the input's size).
                live.append(n * (ci * vin + 3 * max(ci, co) * vout) * 4)
                columns.append(0)
            case .upsampleNearest:
                // The input region, its up-sampled cover and the output box cut from it.
                live.append(n * (ci * vin + co * vmid + co * vout) * 4)
                columns.append(0)
            }
        }
        // Idle buffers the scratch pool keeps (its cache limit is set to the column limit).
        let idle = min(columnLimit, 2 * (columns.max() ?? 0))
        let worst = zip(live, columns).map { $0 + $1 }.max() ?? 0
        let crop0 = n * shapes[0][1] * pr[0].maxIn[0] * pr[1].maxIn[0] * pr[2].maxIn[0] * 4
        let out = shapes[stages.count]
        let slab = n * out[1] * pr[0].maxOut[stages.count - 1] * out[3] * out[4] * 4
        // Small per-op tensors (bias, batch-norm scale and shift) and rounding: 5% + 64 KB.
        let total = worst + idle + crop0 + slab
        return total + total / 20 + (64 << 10)
    }

    /// Chooses the tile for input shape `input`: explicit `tile` (checked against the budget), else
    /// the cheapest tile (least recomputation, fewest tiles) whose memory fits `budgetBytes` minus
    /// what is already in use (the weights, the input). With no budget and no tile: one tile.
    /// Throws `TilingError.budgetTooSmall`, naming the budget that would work, when nothing fits.
    public func plan(input: [Int], budgetBytes: Int?, tile explicitTile: [Int]? = nil,
                     accountant: MemoryAccountant = .shared) throws -> TilePlan {
        let p = try planIgnoringIdle(input: input, budgetBytes: budgetBytes, tile: explicitTile, accountant: accountant)
        // Idle pooled buffers are resident but not needed (e.g. the copies a checkpoint load freed).
        // The plan was made as if they were gone; keep them only when they fit beside it (a warm pool
        // spares the run its page faults: ~8 ms of a 25 ms 64³ generation), else give them back.
        if let b = budgetBytes, accountant === MemoryAccountant.shared, accountant.bytesInUse + p.estimatedBytes > b {
            ScratchPool.shared.trim()
        }
        return p
    }

    func planIgnoringIdle(input: [Int], budgetBytes: Int?, tile explicitTile: [Int]?,
                          accountant: MemoryAccountant) throws -> TilePlan {
        let shapes = try self.shapes(input: input)
        let out = shapes.last!
        let outSpatial = Array(out[2...])
        let idle = budgetBytes != nil && accountant === MemoryAccountant.shared ? ScratchPool.shared.idleBytes : 0
        let inUse = accountant.bytesInUse - idle
        let available = budgetBytes.map { $0 - inUse } ?? Int.max / 4
        let columnLimit = budgetBytes == nil ? (64 << 20) : max(1 << 20, min(64 << 20, available / 10))

        func untiledWork() -> Double {
            var w = 0.0
            for (l, st) in stages.enumerated() {
                let c = shapes[l][1]
                let vox = Double(shapes[l + 1][2] * shapes[l + 1][3] * shapes[l + 1][4])
                if case .pointwise = st { w += vox * Double(2 * c) } else { w += vox * st.macsPerOutputVoxel(inChannels: c) }
            }
            return w * Double(input[0])
        }
        func work(_ pr: [AxisProfile]) -> Double {
            var w = 0.0
            for (l, st) in stages.enumerated() {
                let c = shapes[l][1], co = shapes[l + 1][1]
                let vox = pr[0].sumWork[l] * pr[1].sumWork[l] * pr[2].sumWork[l]
                switch st {
                case .pointwise, .voxelwise: w += vox * Double(2 * co)
                case .upsampleNearest: w += vox
                case .conv(let wt, _, _): w += vox * Double(wt.count)
                case .convTranspose(let wt, _, let p): w += vox * Double(wt.count) / Double(p.stride.reduce(1, *))
                }
                _ = c
            }
            return w * Double(input[0])
        }
        let base = max(untiledWork(), 1)

        if let t = explicitTile ?? (budgetBytes == nil ? outSpatial : nil) {
            guard t.count == 3, t.allSatisfy({ $0 > 0 }) else {
                throw TilingError.invalidShape("tile \(t) must be three positive sizes (D, H, W)")
            }
            let tt = zip(t, outSpatial).map { min($0, $1) }
            let pr = (0..<3).map { axisProfile(axis: $0, tile: tt[$0], shapes: shapes) }
            let bytes = tileBytes(pr, shapes: shapes, columnLimit: columnLimit)
            if let b = budgetBytes, bytes > available {
                throw TilingError.budgetTooSmall(budgetBytes: b, neededBytes: inUse + bytes,
                    detail: "tile \(tt.map(String.init).joined(separator: "×")) needs \(formatBytes(bytes)) with \(formatBytes(inUse)) already in use (weights, input)")
            }
            return TilePlan(inputShape: input, outputShape: out, tile: tt, tileCounts: pr.map(\.tiles), estimatedBytes: bytes,
                            columnLimitBytes: columnLimit, budgetBytes: budgetBytes, recomputeFactor: tt == outSpatial ? 1 : work(pr) / base)
        }

        // The whole output as one tile when it fits: no halo work at all.
        let one = (0..<3).map { axisProfile(axis: $0, tile: outSpatial[$0], shapes: shapes) }
        let oneBytes = tileBytes(one, shapes: shapes, columnLimit: columnLimit)
        if oneBytes <= available {
            return TilePlan(inputShape: input, outputShape: out, tile: outSpatial, tileCounts: [1, 1, 1], estimatedBytes: oneBytes,
                            columnLimitBytes: columnLimit, budgetBytes: budgetBytes, recomputeFactor: 1)
        }
        let profiles = (0..<3).map { a in Self.candidateLengths(outSpatial[a]).map { axisProfile(axis: a, tile: $0, shapes: shapes) } }
        // A tile costs about as much bookkeeping as this many multiply-adds.
        let perTileOverhead = 2e6
        var best: (cost: Double, pr: [AxisProfile], bytes: Int)?
        var smallest: (bytes: Int, pr: [AxisProfile])?
        for pd in profiles[0] { for ph in profiles[1] { for pw in profiles[2] {
            let pr = [pd, ph, pw]
            let bytes = tileBytes(pr, shapes: shapes, columnLimit: columnLimit)
            if smallest == nil || bytes < smallest!.bytes { smallest = (bytes, pr) }
            guard bytes <= available else { continue }
            let cost = work(pr) + perTileOverhead * Double(pd.tiles * ph.tiles * pw.tiles)
            if best == nil || cost < best!.cost { best = (cost, pr, bytes) }
        }}}
        guard let b = best else {
            let s = smallest!
            throw TilingError.budgetTooSmall(budgetBytes: budgetBytes ?? 0, neededBytes: inUse + s.bytes,
                detail: "the smallest tile (\(s.pr.map { String($0.tile) }.joined(separator: "×")) of \(outSpatial.map(String.init).joined(separator: "×"))) needs \(formatBytes(s.bytes)) "
                    + "and \(formatBytes(inUse)) are already in use (weights, input)")
        }
        return TilePlan(inputShape: input, outputShape: out, tile: b.pr.map(\.tile), tileCounts: b.pr.map(\.tiles), estimatedBytes: b.bytes,
                        columnLimitBytes: columnLimit, budgetBytes: budgetBytes, recomputeFactor: work(b.pr) / base)
    }

    /// Runs the stack over `x` tile by tile, stitching each depth slab of the output and handing it
    /// to `sink` (then `sink.finish()`). At most one slab and one tile's activations are alive.
    public func run(_ x: Tensor, plan: TilePlan, into sink: SlabSink,
                    progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws {
        let shapes = try self.shapes(input: x.shape)
        guard shapes[0] == plan.inputShape else {
            throw TilingError.invalidShape("the plan is for input \(shapeString(plan.inputShape)), got \(shapeString(x.shape))")
        }
        let out = shapes.last!
        let options = ConvOptions(path: convPath, columnLimitBytes: plan.columnLimitBytes)
        // Idle kernel scratch counts against the budget: keep at most one column limit cached (the
        // pool evicts the rest on its next return; the plan counted what was idle when it was made).
        let savedCache = ScratchPool.shared.cacheLimitBytes
        ScratchPool.shared.cacheLimitBytes = plan.columnLimitBytes
        defer { ScratchPool.shared.cacheLimitBytes = savedCache }
        let t = plan.tile
        var done = 0
        for d0 in stride(from: 0, to: out[2], by: t[0]) {
            let dSpan = Span(d0, min(out[2], d0 + t[0]))
            let slab = try Tensor.checked(shape: [out[0], out[1], dSpan.count, out[3], out[4]], op: "output slab")
            for h0 in stride(from: 0, to: out[3], by: t[1]) {
                for w0 in stride(from: 0, to: out[4], by: t[2]) {
                    let box: Box = [dSpan, Span(h0, min(out[3], h0 + t[1])), Span(w0, min(out[4], w0 + t[2]))]
                    let y = try computeTile(x, tile: box, shapes: shapes, options: options)
                    copyBox(src: y, srcOrigin: box.map(\.lo), dst: slab, dstOrigin: [d0, 0, 0], box: box)
                    done += 1
                    progress?(done, plan.tileCount)
                }
            }
            try sink.write(slab: slab, depthStart: d0)
        }
        try sink.finish()
    }

    /// The whole output in memory, computed with output tiles of shape `tile` (tests, small volumes).
    public func forwardTiled(_ x: Tensor, tile: [Int]) throws -> Tensor {
        let p = try plan(input: x.shape, budgetBytes: nil, tile: tile)
        let sink = TensorSink(shape: p.outputShape)
        try run(x, plan: p, into: sink)
        return sink.output
    }
}

/// Collects the slabs into one tensor (N, C, D, H, W).
public final class TensorSink: SlabSink {
    public let output: Tensor
    public init(shape: [Int]) { output = Tensor(shape: shape) }
    public func write(slab: Tensor, depthStart: Int) throws {
        let box: Box = [Span(depthStart, depthStart + slab.shape[2]), Span(0, slab.shape[3]), Span(0, slab.shape[4])]
        copyBox(src: slab, srcOrigin: [depthStart, 0, 0], dst: output, dstOrigin: [0, 0, 0], box: box)
    }
    public func finish() throws {}
}

/// Sends every slab to several sinks (e.g. NIfTI files and an HDF5 dataset).
public final class FanOutSink: SlabSink {
    public let sinks: [SlabSink]
    public init(_ sinks: [SlabSink]) { self.sinks = sinks }
    public func write(slab: Tensor, depthStart: Int) throws { for s in sinks { try s.write(slab: slab, depthStart: depthStart) } }
    public func finish() throws { for s in sinks { try s.finish() } }
}
