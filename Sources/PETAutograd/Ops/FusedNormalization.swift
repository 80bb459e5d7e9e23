import Foundation
import PETTensor

// Fused kernels for the normalization layers. The composite versions (Normalization.swift's
// `standardize`, broadcasting ops) make ~10 full-size passes and temporaries per layer, which on
// 64³ feature maps costs more than the convolutions around them. These primitives make one or two
// passes. Their first-order backward is a fused loop; when the backward itself is recorded
// (createGraph, i.e. a gradient penalty), the rule is written with differentiable ops instead, so
// double backward stays exact.
//
// Data is viewed as (A, B, K): statistics are per b over (A, K).
//   batch norm:    A = N, B = C,   K = spatial
//   instance norm: A = 1, B = N·C, K = spatial
//   layer norm:    A = 1, B = N,   K = features

struct NormView {
    var a: Int, b: Int, k: Int
    var count: Int { a * k }   // values per statistic
    /// Reshaped (A, B, K) shape, and the shape of per-b statistics broadcastable against it.
    var shape3: [Int] { [a, b, k] }
    var statShape3: [Int] { [1, b, 1] }
}

/// y = (x − mean_b) / sqrt(var_b + eps) with biased variance; returns y, the batch mean and the
/// biased variance (for running statistics).
func standardizeFused(_ x: Variable, view v: NormView, eps: Float) throws -> (y: Variable, mean: Tensor, variance: Tensor) {
    precondition(v.a * v.b * v.k == x.count)
    let mean = Tensor(shape: [v.b]), variance = Tensor(shape: [v.b]), rstd = Tensor(shape: [v.b])
    let y = Tensor(shape: x.shape, zeroed: false)
    let px = x.value.data, py = y.data
    Parallel.forEach(v.b) { b in
        let (m, varB) = channelMoments(px, v, b)
        let mf = Float(m)
        let r = Float(1 / (varB + Double(eps)).squareRoot())
        mean.data[b] = mf; variance.data[b] = Float(varB); rstd.data[b] = r
        for a in 0..<v.a {
            let off = (a * v.b + b) * v.k
            for i in 0..<v.k { py[off + i] = (px[off + i] - mf) * r }
        }
    }
    let out = record(y, op: "standardize", inputs: [x]) { out, g, _ in
        if GradMode.isEnabled {
            // Recorded backward: gx = rstd · (g − mean(g) − y · mean(g·y)), with rstd recomputed
            // differentiably from x (its derivative enters the second order).
            let x3 = try out.inputs[0].reshaped(v.shape3)
            let m = try x3.mean(axes: [0, 2], keepDims: true)
            let c = try x3 - m
            let r = try (c * c).mean(axes: [0, 2], keepDims: true) + eps
            let y3 = try out.reshaped(v.shape3), g3 = try g.reshaped(v.shape3)
            let inner = try g3 - g3.mean(axes: [0, 2], keepDims: true) - y3 * (g3 * y3).mean(axes: [0, 2], keepDims: true)
            return [try (inner * r.pow(-0.5)).reshaped(out.shape)]
        }
        let gx = Tensor(shape: out.shape, zeroed: false)
        let pg = g.value.data, pyo = out.value.data, pgx = gx.data
        Parallel.forEach(v.b) { b in
            var sg = 0.0, sgy = 0.0
            for a in 0..<v.a {
                let off = (a * v.b + b) * v.k
                var pg1: Float = 0, pg2: Float = 0
                for i in 0..<v.k { pg1 += pg[off + i]; pg2 += pg[off + i] * pyo[off + i] }
                sg += Double(pg1); sgy += Double(pg2)
            }
            let mg = Float(sg / Double(v.count)), mgy = Float(sgy / Double(v.count)), r = rstd.data[b]
            for a in 0..<v.a {
                let off = (a * v.b + b) * v.k
                for i in 0..<v.k { pgx[off + i] = r * (pg[off + i] - mg - pyo[off + i] * mgy) }
            }
        }
        return [Variable(gx)]
    }
    return (out, mean, variance)
}

// Per-parameter affine on the (A, B, K) view: out[a,b,k] = x[a,b,k] · scale[b] + shift[b]. With
// (N, C, spatial) this is the per-channel affine of batch/instance norm; with (rows, features, 1) the
// elementwise affine of layer norm (parameters of the normalized shape), without broadcasting copies.

/// Views x (N, C, ...) as (N, C, spatial): per-channel parameters.
func channelView(_ x: Variable) -> NormView {
    NormView(a: x.shape[0], b: x.shape[1], k: x.count / max(1, x.shape[0] * x.shape[1]))
}

// x: (N, C, ...)  scale, shift: (C)   →   x · scale[c] + shift[c]
func channelAffine(_ x: Variable, scale: Variable?, shift: Variable?) throws -> Variable {
    guard x.rank >= 2 else { throw TensorError.shapeMismatch(op: "channel affine", detail: "input \(shapeString(x.shape)) has no channel axis") }
    return try paramAffine(x, view: channelView(x), paramShape: [x.shape[1]], scale: scale, shift: shift)
}

// a, b: (N, C, ...)  →  (C): Σ over n and spatial of a·b
func channelDot(_ a: Variable, _ b: Variable) throws -> Variable {
    guard a.shape == b.shape, a.rank >= 2 else {
        throw TensorError.shapeMismatch(op: "channel dot", detail: "\(shapeString(a.shape)) vs \(shapeString(b.shape))")
    }
    return try paramDot(a, b, view: channelView(a), paramShape: [a.shape[1]])
}

/// Runs body over b-ranges (K small: rows of the view are short) or (a, b) rows (K large), in parallel.
@inline(__always)
func forEachRow(_ v: NormView, _ body: (_ a: Int, _ b: Int) -> Void) {
    if v.k >= 64 {
        Parallel.forRanges(v.a * v.b, minChunk: max(1, 16384 / v.k)) { r in for row in r { body(row / v.b, row % v.b) } }
    } else {
        Parallel.forRanges(v.a, minChunk: max(1, 16384 / max(1, v.b * v.k))) { r in for a in r { for b in 0..<v.b { body(a, b) } } }
    }
}

/// Σ over (a, k) per b of f(offset of row (a, b)), in Double, parallel over b.
@inline(__always)
func reducePerParam(_ v: NormView, _ rowSum: (_ offset: Int) -> Float) -> Tensor {
    let out = Tensor(shape: [v.b])
    let po = out.data
    Parallel.forRanges(v.b, minChunk: max(1, 4096 / max(1, v.a * v.k))) { r in
        var acc = [Double](repeating: 0, count: r.count)
        for a in 0..<v.a { for b in r { acc[b - r.lowerBound] += Double(rowSum((a * v.b + b) * v.k)) } }
        for b in r { po[b] = Float(acc[b - r.lowerBound]) }
    }
    return out
}

func checkParam(_ p: Variable?, _ v: NormView, _ shape: [Int], op: String) throws {
    if let p, p.shape != shape || p.count != v.b {
        throw TensorError.shapeMismatch(op: op, detail: "parameter \(shapeString(p.shape)) but the input expects \(shapeString(shape))")
    }
}

func paramAffine(_ x: Variable, view v: NormView, paramShape: [Int], scale: Variable?, shift: Variable?) throws -> Variable {
    guard scale != nil || shift != nil else { return x }
    try checkParam(scale, v, paramShape, op: "affine")
    try checkParam(shift, v, paramShape, op: "affine")
    let y = Tensor(shape: x.shape, zeroed: false)
    let px = x.value.data, py = y.data
    let ps = scale?.value.data, pb = shift?.value.data
    forEachRow(v) { a, b in
        let off = (a * v.b + b) * v.k
        let s = ps?[b] ?? 1, t = pb?[b] ?? 0
        for i in 0..<v.k { py[off + i] = px[off + i] * s + t }
    }
    var inputs = [x]
    if let scale { inputs.append(scale) }
    if let shift { inputs.append(shift) }
    let hasScale = scale != nil
    return record(y, op: "affine", inputs: inputs) { out, g, needs in
        var grads: [Variable?] = [needs[0] ? try paramAffine(g, view: v, paramShape: paramShape, scale: scale, shift: nil) : nil]
        if hasScale { grads.append(needs[1] ? try paramDot(g, out.inputs[0], view: v, paramShape: paramShape) : nil) }
        if shift != nil { grads.append(needs[grads.count] ? try paramSum(g, view: v, paramShape: paramShape) : nil) }
        return grads
    }
}

/// Σ over (a, k) of x·y per b, shaped `paramShape`.
func paramDot(_ x: Variable, _ y: Variable, view v: NormView, paramShape: [Int]) throws -> Variable {
    let px = x.value.data, py = y.value.data
    let out = reducePerParam(v) { off in
        var s: Float = 0
        for i in 0..<v.k { s += px[off + i] * py[off + i] }
        return s
    }
    return record(try out.reshaped(paramShape), op: "affine dot", inputs: [x, y]) { _, g, needs in
        [needs[0] ? try paramAffine(y, view: v, paramShape: paramShape, scale: g, shift: nil) : nil,
         needs[1] ? try paramAffine(x, view: v, paramShape: paramShape, scale: g, shift: nil) : nil]
    }
}

/// Σ over (a, k) of x per b, shaped `paramShape`.
func paramSum(_ x: Variable, view v: NormView, paramShape: [Int]) throws -> Variable {
    let px = x.value.data
    let out = reducePerParam(v) { off in
        var s: Float = 0
        for i in 0..<v.k { s += px[off + i] }
        return s
    }
    let xShape = x.shape
    return record(try out.reshaped(paramShape), op: "affine sum", inputs: [x]) { _, g, _ in
        [try paramBroadcast(g, view: v, shape: xShape)]
    }
}

/// out[a, b, k] = p[b] (the adjoint of paramSum).
func paramBroadcast(_ p: Variable, view v: NormView, shape: [Int]) throws -> Variable {
    let y = Tensor(shape: shape, zeroed: false)
    let pp = p.value.data, py = y.data
    forEachRow(v) { a, b in
        let off = (a * v.b + b) * v.k
        py.advanced(by: off).update(repeating: pp[b], count: v.k)
    }
    let pShape = p.shape
    return record(y, op: "affine broadcast", inputs: [p]) { _, g, _ in
        [try paramSum(g, view: v, paramShape: pShape)]
    }
}
