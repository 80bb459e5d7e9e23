import Foundation
import PETAutograd
import PETTensor

// Tiled execution of a fully convolutional stack (what follows a generator's dense input, or a
// critic's convolutional trunk): any output box is computed from exactly the input box it depends
// on, so tiles can be computed one at a time and stitched, and no full-size activation of any layer
// ever exists.
//
// Receptive-field arithmetic, per axis, for output interval [a, b) of a layer with kernel k,
// stride s, padding p (PyTorch semantics):
//   conv3d:            needs input [a·s − p, (b−1)·s − p + k), where indices outside [0, I) are the
//                      layer's zero padding;
//   conv_transpose3d:  y[i] = Σ_{o·s − p + j = i} w[j]·x[o], so it needs the inputs
//                      o ∈ [⌈(a + p − k + 1)/s⌉, ⌊(b − 1 + p)/s⌋], clamped to [0, I);
//   pointwise layers (eval-mode batch norm, activations, GLU, a fixed channel gate): the same interval;
//   nearest up-sampling by f: y[i] = x[⌊i/f⌋], so it needs [⌊a/f⌋, ⌊(b−1)/f⌋ + 1).
// Walking these back from an output tile gives every layer's region; walking forward, each layer
// computes exactly its region: a conv runs unpadded on its region zero-extended to the needed box
// (the zeros are the layer's padding, applied after the preceding pointwise layers as in the
// untiled network); a transposed conv runs unpadded on its input region and its output box is cut
// from the result. Biases are added after, as the untiled ops do, so the stitched output equals the
// untiled output up to the summation order of the GEMM (≤ 1e-5; tests check it).

/// Why a stack cannot be tiled or a tile plan cannot be made.
public enum TilingError: Error, CustomStringConvertible, Equatable {
    /// A layer whose output at a voxel depends on more than a fixed neighbourhood (instance/layer
    /// norm, training-mode batch norm, dense layers) or that tiling does not know.
    case unsupportedLayer(index: Int, name: String, reason: String)
    /// An input or tile shape that does not fit the stack.
    case invalidShape(String)
    /// Even the smallest tile does not fit the memory budget.
    case budgetTooSmall(budgetBytes: Int, neededBytes: Int, detail: String)

    public var description: String {
        switch self {
        case let .unsupportedLayer(i, n, r): return "tiling: layer \(i) (\(n)) cannot be tiled: \(r)"
        case let .invalidShape(s): return "tiling: \(s)"
        case let .budgetTooSmall(b, need, d):
            return "tiling: the memory budget of \(formatBytes(b)) is too small: \(d); a budget of at least "
                + "\(formatBytes(need)) would work (--memory-budget \(Int((Double(need) / 1_048_576).rounded(.up)))MB)"
        }
    }
}

/// A half-open interval [lo, hi) along one axis.
public struct Span: Equatable, Sendable, CustomStringConvertible {
    public var lo: Int, hi: Int
    public init(_ lo: Int, _ hi: Int) { self.lo = lo; self.hi = hi }
    public var count: Int { max(0, hi - lo) }
    public var isEmpty: Bool { hi <= lo }
    public func clamped(to n: Int) -> Span { Span(min(max(lo, 0), n), max(min(hi, n), 0)) }
    public var description: String { "[\(lo), \(hi))" }
}

/// A box of voxels: one span per spatial axis (D, H, W).
public typealias Box = [Span]

/// One stage of a tileable stack.
public enum TileStage {
    // weight (Co, Ci, k)
    case conv(weight: Tensor, bias: Tensor?, params: ConvParams)
    // weight (Ci, Co, k)
    case convTranspose(weight: Tensor, bias: Tensor?, params: ConvParams)
    /// A layer acting voxel by voxel (eval-mode batch norm, activations), applied as the module itself.
    case pointwise(Module, name: String)
    /// Nearest-neighbour up-sampling by an integer factor per axis (torch's Upsample(mode="nearest")).
    case upsampleNearest(factor: [Int])
    /// A layer acting voxel by voxel that changes the channel count (GLU: C → C/2) or multiplies by a
    /// fixed per-sample channel gate, applied as the module itself.
    case voxelwise(Module, name: String, outChannels: (Int) -> Int)

    public var name: String {
        switch self {
        case .conv(_, _, let p): return "conv3d \(p)"
        case .convTranspose(_, _, let p): return "conv_transpose3d \(p)"
        case .pointwise(_, let n): return n
        case .upsampleNearest(let f): return "upsample_nearest ×\(f.map(String.init).joined(separator: "×"))"
        case .voxelwise(_, let n, _): return n
        }
    }

    /// Output channels given input channels.
    func outChannels(_ c: Int) -> Int {
        switch self {
        case .conv(let w, _, _): return w.shape[0]
        case .convTranspose(let w, _, _): return w.shape[1]
        case .pointwise, .upsampleNearest: return c
        case .voxelwise(_, _, let f): return f(c)
        }
    }

    /// Output size along axis `a` for input size `n`.
    func outSize(_ n: Int, axis a: Int) -> Int {
        switch self {
        case .conv(_, _, let p):
            let padded = n + 2 * p.padding[a]
            return padded < p.kernel[a] ? 0 : (padded - p.kernel[a]) / p.stride[a] + 1
        case .convTranspose(_, _, let p): return (n - 1) * p.stride[a] - 2 * p.padding[a] + p.kernel[a] + p.outputPadding[a]
        case .pointwise, .voxelwise: return n
        case .upsampleNearest(let f): return n * f[a]
        }
    }

    /// Input interval (unclamped for conv: includes the padding) that output `out` depends on.
    func needed(_ out: Span, axis a: Int) -> Span {
        switch self {
        case .conv(_, _, let p):
            return Span(out.lo * p.stride[a] - p.padding[a], (out.hi - 1) * p.stride[a] - p.padding[a] + p.kernel[a])
        case .convTranspose(_, _, let p):
            let s = p.stride[a], k = p.kernel[a], pad = p.padding[a]
            return Span(ceilDiv(out.lo + pad - k + 1, s), floorDiv(out.hi - 1 + pad, s) + 1)
        case .pointwise, .voxelwise:
            return out
        case .upsampleNearest(let f):
            return out.isEmpty ? Span(floorDiv(out.lo, f[a]), floorDiv(out.lo, f[a])) : Span(floorDiv(out.lo, f[a]), floorDiv(out.hi - 1, f[a]) + 1)
        }
    }

    /// For a transposed conv run unpadded on input [lo, hi): the output interval its result covers.
    func covered(_ input: Span, axis a: Int) -> Span {
        if case .upsampleNearest(let f) = self { return Span(input.lo * f[a], input.hi * f[a]) }
        guard case .convTranspose(_, _, let p) = self else { return input }
        let start = input.lo * p.stride[a] - p.padding[a]
        return Span(start, start + (input.count - 1) * p.stride[a] + p.kernel[a])
    }

    /// Multiply-adds per output voxel (for the cost model).
    func macsPerOutputVoxel(inChannels c: Int) -> Double {
        switch self {
        case .conv(let w, _, _): return Double(w.count)
        case .convTranspose(let w, _, let p): return Double(w.count) / Double(p.stride.reduce(1, *))
        case .pointwise, .voxelwise: return Double(2 * c) / Double(max(c, 1))
        case .upsampleNearest: return 1 / Double(max(c, 1))
        }
    }
}

@inline(__always) func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
@inline(__always) func ceilDiv(_ a: Int, _ b: Int) -> Int { -floorDiv(-a, b) }

/// A fully convolutional stack ready for tiled execution.
public final class TiledStack {
    public let stages: [TileStage]
    /// The kernel of tiled runs: implicit GEMM, or the path PETGAN_CONV forces (as it does for the
    /// untiled ops). Implicit GEMM sums every output voxel in one order (taps, then channels, in
    /// fixed chunks) whatever the extent of the call, so a volume's bits do not depend on its tiling
    /// or budget. im2col does not give that: OpenBLAS picks its sgemm kernel and K blocking by the
    /// product's size (the SkylakeX/Cooperlake small-matrix kernels, Prescott's), and a tile's GEMM
    /// has another size than the whole volume's.
    public var convPath: ConvPath? = ConvOptions.environmentPath ?? .implicitGEMM

    /// Builds the stack from layers in order. Each must be `Tileable` (convolution and
    /// transposed-convolution layers, eval-mode 3-D batch norm, activations, the identity, Sequential
    /// containers of these); any other layer, or one that refuses, throws
    /// `TilingError.unsupportedLayer` with its index in `layers`.
    public init(_ layers: [Module]) throws {
        var out: [TileStage] = []
        for (i, m) in layers.enumerated() {
            do {
                guard let t = m as? any Tileable else { throw TilingRefusal(m, reason: TilingRefusal.boundedOnly) }
                out += try t.tileStages()
            } catch let r as TilingRefusal {
                throw TilingError.unsupportedLayer(index: i, name: r.layer, reason: r.reason)
            }
        }
        guard !out.isEmpty else { throw TilingError.invalidShape("the stack has no layers") }
        stages = out
    }

    public init(stages: [TileStage]) { self.stages = stages }

    /// Shapes (N, C, D, H, W) of the input of every stage and of the output (count = stages + 1).
    public func shapes(input x: [Int]) throws -> [[Int]] {
        guard x.count == 5, x.allSatisfy({ $0 > 0 }) else {
            throw TilingError.invalidShape("input \(shapeString(x)) is not a 5-D (N, C, D, H, W) shape")
        }
        var s = [x]
        for (i, st) in stages.enumerated() {
            let cur = s.last!
            switch st {
            case .conv(let w, _, _) where w.shape[1] != cur[1], .convTranspose(let w, _, _) where w.shape[0] != cur[1]:
                throw TilingError.invalidShape("layer \(i) (\(st.name)) expects \(st.name.hasPrefix("conv3d") ? w.shape[1] : w.shape[0]) channels, gets \(cur[1])")
            default: break
            }
            var next = [cur[0], st.outChannels(cur[1])]
            for a in 0..<3 {
                let o = st.outSize(cur[2 + a], axis: a)
                guard o > 0 else { throw TilingError.invalidShape("layer \(i) (\(st.name)) gives an empty output from \(shapeString(cur))") }
                next.append(o)
            }
            s.append(next)
        }
        return s
    }

    public func outputShape(input x: [Int]) throws -> [Int] { try shapes(input: x).last! }

    /// The region of every stage's input (and of the output, last) that output box `tile` needs,
    /// clamped to each layer's extent.
    public func regions(for tile: Box, shapes: [[Int]]) -> [Box] {
        var r = [Box](repeating: [], count: stages.count + 1)
        r[stages.count] = tile
        for l in stride(from: stages.count - 1, through: 0, by: -1) {
            r[l] = (0..<3).map { a in stages[l].needed(r[l + 1][a], axis: a).clamped(to: shapes[l][2 + a]) }
        }
        return r
    }

    /// Computes output box `tile` of the stack for input `x` (N, C, D, H, W).
    public func computeTile(_ x: Tensor, tile: Box, shapes: [[Int]], options: ConvOptions) throws -> Tensor {
        let r = regions(for: tile, shapes: shapes)
        var cur = try crop(x, r[0])
        for (l, st) in stages.enumerated() {
            let outBox = r[l + 1]
            let inBox = r[l]
            switch st {
            case .conv where outBox.contains(where: { $0.isEmpty }), .convTranspose where outBox.contains(where: { $0.isEmpty }):
                // Nothing of this layer is needed (a later transposed conv's stride skips it).
                cur = try Tensor.checked(shape: Array(shapes[l + 1].prefix(2)) + outBox.map(\.count), op: "tile")
            case .pointwise where cur.count == 0, .voxelwise where cur.count == 0:
                cur = try Tensor.checked(shape: Array(shapes[l + 1].prefix(2)) + outBox.map(\.count), op: "tile")
            case .upsampleNearest where cur.count == 0 || outBox.contains(where: { $0.isEmpty }):
                cur = try Tensor.checked(shape: Array(shapes[l + 1].prefix(2)) + outBox.map(\.count), op: "tile")
            case let .upsampleNearest(f):
                // Up-sample the needed input region, then cut the output box from what it covers.
                let v = cur
                let full = try withNoGrad { try upsampleNearest(Variable(v), factor: f).value }
                let cover: Box = (0..<3).map { st.covered(inBox[$0], axis: $0) }
                cur = cover == outBox ? full : try window(full, from: cover, to: outBox)
            case let .voxelwise(m, _, _):
                let v = cur
                cur = try withNoGrad { try m(Variable(v)).value }
            case let .conv(w, b, p) where isFull(inBox, shapes[l]) && isFull(outBox, shapes[l + 1]),
                 let .convTranspose(w, b, p) where isFull(inBox, shapes[l]) && isFull(outBox, shapes[l + 1]):
                // The whole extent: the layer's own padding does the job (no border work).
                if case .conv = st { cur = try Conv3d.forward(cur, weight: w, params: p, options: options) }
                else { cur = try ConvTranspose3d.forward(cur, weight: w, params: p, options: options) }
                if let b { addChannelBias(cur, b) }
            case let .conv(w, b, p):
                let need: Box = (0..<3).map { st.needed(outBox[$0], axis: $0) }
                let padded = need == inBox ? cur : try zeroExtend(cur, from: inBox, to: need)
                cur = try Conv3d.forward(padded, weight: w, params: ConvParams(kernel: p.kernel, stride: p.stride), options: options)
                if let b { addChannelBias(cur, b) }
            case let .convTranspose(w, b, p):
                let co = w.shape[1]
                if inBox.contains(where: { $0.isEmpty }) {
                    cur = try Tensor.checked(shape: [cur.shape[0], co] + outBox.map(\.count), op: "tile")
                } else {
                    let full = try ConvTranspose3d.forward(cur, weight: w, params: ConvParams(kernel: p.kernel, stride: p.stride), options: options)
                    let cover: Box = (0..<3).map { st.covered(inBox[$0], axis: $0) }
                    cur = cover == outBox ? full : try window(full, from: cover, to: outBox)
                }
                if let b { addChannelBias(cur, b) }
            case let .pointwise(m, _):
                let v = cur
                cur = try withNoGrad { try m(Variable(v)).value }
            }
        }
        return cur
    }

    /// Untiled forward through the same stages (the modules' own ops for convolutions), for checks.
    public func forwardUntiled(_ x: Tensor, options: ConvOptions = .automatic) throws -> Tensor {
        var cur = x
        for st in stages {
            switch st {
            case let .conv(w, b, p): cur = try Conv3d.forward(cur, weight: w, bias: b, params: p, options: options)
            case let .convTranspose(w, b, p): cur = try ConvTranspose3d.forward(cur, weight: w, bias: b, params: p, options: options)
            case let .pointwise(m, _), let .voxelwise(m, _, _): let v = cur; cur = try withNoGrad { try m(Variable(v)).value }
            case let .upsampleNearest(f): let v = cur; cur = try withNoGrad { try upsampleNearest(Variable(v), factor: f).value }
            }
        }
        return cur
    }
}

// MARK: box copies

func isFull(_ box: Box, _ shape: [Int]) -> Bool { (0..<3).allSatisfy { box[$0].lo == 0 && box[$0].hi == shape[2 + $0] } }

/// x[:, :, box] (box inside x's extent) as a new tensor.
func crop(_ x: Tensor, _ box: Box) throws -> Tensor {
    if box.enumerated().allSatisfy({ $0.element.lo == 0 && $0.element.hi == x.shape[2 + $0.offset] }) { return x }
    let y = try Tensor.checked(shape: [x.shape[0], x.shape[1]] + box.map(\.count), op: "tile input")
    copyBox(src: x, srcOrigin: [0, 0, 0], dst: y, dstOrigin: box.map(\.lo), box: box)
    return y
}

/// A tensor covering `to` whose part inside `from` is x and the rest zero.
func zeroExtend(_ x: Tensor, from: Box, to: Box) throws -> Tensor {
    let y = try Tensor.checked(shape: [x.shape[0], x.shape[1]] + to.map(\.count), op: "tile padding")
    copyBox(src: x, srcOrigin: from.map(\.lo), dst: y, dstOrigin: to.map(\.lo), box: from)
    return y
}

/// The part of x (covering `from`) inside `to`, zero where `to` passes `from`.
func window(_ x: Tensor, from: Box, to: Box) throws -> Tensor {
    let y = try Tensor.checked(shape: [x.shape[0], x.shape[1]] + to.map(\.count), op: "tile window")
    let both: Box = (0..<3).map { Span(max(from[$0].lo, to[$0].lo), min(from[$0].hi, to[$0].hi)) }
    if !both.contains(where: { $0.isEmpty }) {
        copyBox(src: x, srcOrigin: from.map(\.lo), dst: y, dstOrigin: to.map(\.lo), box: both)
    }
    return y
}

/// Copies the global box `box` from src (whose element [0,0,0] is global srcOrigin) to dst (global
/// dstOrigin), for every sample and channel. Same N and C.
func copyBox(src: Tensor, srcOrigin: [Int], dst: Tensor, dstOrigin: [Int], box: Box) {
    let nc = src.shape[0] * src.shape[1]
    let sd = src.shape[2], sh = src.shape[3], sw = src.shape[4]
    let dd = dst.shape[2], dh = dst.shape[3], dw = dst.shape[4]
    let len = box[2].count
    guard len > 0, box[0].count > 0, box[1].count > 0 else { return }
    let ps = src.data, pd = dst.data
    Parallel.forEach(nc) { c in
        let sBase = c * sd * sh * sw, dBase = c * dd * dh * dw
        for z in box[0].lo..<box[0].hi {
            for yy in box[1].lo..<box[1].hi {
                let s = sBase + ((z - srcOrigin[0]) * sh + (yy - srcOrigin[1])) * sw + (box[2].lo - srcOrigin[2])
                let d = dBase + ((z - dstOrigin[0]) * dh + (yy - dstOrigin[1])) * dw + (box[2].lo - dstOrigin[2])
                (pd + d).update(from: ps + s, count: len)
            }
        }
    }
}
