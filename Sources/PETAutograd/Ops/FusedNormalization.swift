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
        var s = 0.0
        for a in 0..<v.a {
            let p = px + (a * v.b + b) * v.k
            var part: Float = 0
            for i in 0..<v.k { part += p[i] }
            s += Double(part)
        }
        let m = s / Double(v.count)
        var q = 0.0
        let mf = Float(m)
        for a in 0..<v.a {
            let p = px + (a * v.b + b) * v.k
            var part: Float = 0
            for i in 0..<v.k { let d = p[i] - mf; part += d * d }
            q += Double(part)
        }
        let varB = q / Double(v.count)
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

// x: (N, C, ...)  scale, shift: (C)   →   x · scale[c] + shift[c]
/// Per-channel scale and shift in one pass (batch/instance norm affine, folded eval statistics).
func channelAffine(_ x: Variable, scale: Variable?, shift: Variable?) throws -> Variable {
    guard scale != nil || shift != nil else { return x }
    let n = x.shape[0], c = x.shape[1], s = x.count / max(1, n * c)
    for p in [scale, shift] { if let p, p.shape != [c] {
        throw TensorError.shapeMismatch(op: "channel affine", detail: "parameter \(shapeString(p.shape)) but the input \(shapeString(x.shape)) has \(c) channels")
    } }
    let y = Tensor(shape: x.shape, zeroed: false)
    let px = x.value.data, py = y.data
    let ps = scale?.value.data, pb = shift?.value.data
    Parallel.forEach(n * c) { nc in
        let ch = nc % c, off = nc * s
        let a = ps?[ch] ?? 1, b = pb?[ch] ?? 0
        for i in 0..<s { py[off + i] = px[off + i] * a + b }
    }
    var inputs = [x]
    if let scale { inputs.append(scale) }
    if let shift { inputs.append(shift) }
    let hasScale = scale != nil
    return record(y, op: "channel affine", inputs: inputs) { out, g, needs in
        var grads: [Variable?] = [needs[0] ? try channelAffine(g, scale: scale, shift: nil) : nil]
        if hasScale { grads.append(needs[1] ? try channelDot(g, out.inputs[0]) : nil) }
        if shift != nil { grads.append(needs[grads.count] ? try channelSum(g) : nil) }
        return grads
    }
}

// a, b: (N, C, ...)  →  (C): Σ over n and spatial of a·b
func channelDot(_ a: Variable, _ b: Variable) throws -> Variable {
    guard a.shape == b.shape, a.rank >= 2 else {
        throw TensorError.shapeMismatch(op: "channel dot", detail: "\(shapeString(a.shape)) vs \(shapeString(b.shape))")
    }
    let n = a.shape[0], c = a.shape[1], s = a.count / max(1, n * c)
    let y = Tensor(shape: [c])
    let pa = a.value.data, pb = b.value.data
    Parallel.forEach(c) { ch in
        var acc = 0.0
        for i in 0..<n {
            let off = (i * c + ch) * s
            var part: Float = 0
            for j in 0..<s { part += pa[off + j] * pb[off + j] }
            acc += Double(part)
        }
        y.data[ch] = Float(acc)
    }
    return record(y, op: "channel dot", inputs: [a, b]) { _, g, needs in
        [needs[0] ? try channelAffine(b, scale: g, shift: nil) : nil,
         needs[1] ? try channelAffine(a, scale: g, shift: nil) : nil]
    }
}
