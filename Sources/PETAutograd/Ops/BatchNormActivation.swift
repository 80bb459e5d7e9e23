import Foundation
import PETTensor

// Batch norm (training mode) and a piecewise-linear activation in one op:
//   y = act((x − mean_c) · rstd_c · γ_c + β_c),  act(t) = t for t > 0, slope · t otherwise (relu: slope 0).
// The composite (standardize → affine → relu) keeps four full-size tensors per layer alive for the
// backward pass (the convolution output, the standardized values, the affine output and the
// activation); this op keeps two, the input x (the convolution's output, alive anyway) and y, as
// PyTorch does, and makes three passes instead of six. The standardized values are recomputed from x
// and the per-channel statistics in backward; the activation's mask is read from y (y > 0 exactly
// where the pre-activation is > 0, for any slope ≥ 0).
//   x: (N, C, ...)   weight γ, bias β: (C)   →   y: (N, C, ...)

/// Training-mode batch norm followed by leaky ReLU (`negativeSlope` 0: ReLU). Updates the running
/// statistics in place like `batchNorm`. Same values as `batchNorm(...).leakyReLU(negativeSlope)`.
public func batchNormActivation(_ x: Variable, weight: Variable?, bias: Variable?, runningMean: Tensor?, runningVar: Tensor?,
                                momentum: Float = 0.1, eps: Float = 1e-5, negativeSlope: Float) throws -> Variable {
    guard x.rank >= 2 else { throw TensorError.shapeMismatch(op: "batch norm", detail: "input \(shapeString(x.shape)) has no channel axis") }
    guard negativeSlope >= 0 else {
        throw TensorError.invalidArgument(op: "batch norm + activation", detail: "negative slope \(negativeSlope) < 0 (the mask is read from the output)")
    }
    let c = x.shape[1]
    try checkChannels(weight, c, "weight", op: "batch norm")
    try checkChannels(bias, c, "bias", op: "batch norm")
    for (t, what) in [(runningMean, "running mean"), (runningVar, "running variance")] {
        if let t, t.shape != [c] { throw TensorError.shapeMismatch(op: "batch norm", detail: "\(what) \(shapeString(t.shape)) but the input has \(c) channels") }
    }
    let v = channelView(x)
    guard v.count > 1 else {
        throw TensorError.invalidArgument(op: "batch norm", detail: "training needs more than one value per channel, got input \(shapeString(x.shape))")
    }
    let mean = Tensor(shape: [c]), variance = Tensor(shape: [c]), rstd = Tensor(shape: [c])
    let y = Tensor(shape: x.shape, zeroed: false)
    let px = x.value.data, py = y.data
    let pw = weight?.value.data, pb = bias?.value.data
    let slope = negativeSlope
    Parallel.forEach(v.b) { b in
        let (m, varB) = channelMoments(px, v, b)
        let r = Float(1 / (varB + Double(eps)).squareRoot())
        let mf = Float(m)
        mean.data[b] = mf; variance.data[b] = Float(varB); rstd.data[b] = r
        // t = (x − m)·(r·γ) + β (not x·s + (β − m·s), which cancels badly when |m| ≫ σ)
        let s = r * (pw?[b] ?? 1), beta = pb?[b] ?? 0
        for a in 0..<v.a {
            let off = (a * v.b + b) * v.k
            for i in 0..<v.k { let t = (px[off + i] - mf) * s + beta; py[off + i] = t > 0 ? t : slope * t }
        }
    }
    if let rm = runningMean, let rv = runningVar {
        let unbiased = Float(v.count) / Float(v.count - 1)
        for i in 0..<c {
            rm.data[i] = (1 - momentum) * rm.data[i] + momentum * mean.data[i]
            rv.data[i] = (1 - momentum) * rv.data[i] + momentum * variance.data[i] * unbiased
        }
    }
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    let hasWeight = weight != nil, hasBias = bias != nil
    return record(y, op: "batch norm + activation", inputs: inputs) { out, g, needs in
        let gamma = hasWeight ? out.inputs[1] : nil
        if GradMode.isEnabled {
            return try batchNormActivationRecordedBackward(out, g, gamma: gamma, hasBias: hasBias, needs: needs, view: v, eps: eps, slope: slope)
        }
        let gx = needs[0] ? Tensor(shape: out.shape, zeroed: false) : nil
        let gw = Tensor(shape: [v.b]), gb = Tensor(shape: [v.b])
        let px = out.inputs[0].value.data, pyo = out.value.data, pg = g.value.data
        let pgx = gx?.data, pgamma = gamma?.value.data
        let n = Double(v.count)
        Parallel.forEach(v.b) { b in
            let m = mean.data[b], r = rstd.data[b]
            // Σ g' and Σ g'·x̂ with g' = g · act'(pre).
            var sg = 0.0, sgx = 0.0
            for a in 0..<v.a {
                let off = (a * v.b + b) * v.k
                var p1: Float = 0, p2: Float = 0
                for i in 0..<v.k {
                    let gi = pyo[off + i] > 0 ? pg[off + i] : slope * pg[off + i]
                    p1 += gi; p2 += gi * (px[off + i] - m)
                }
                sg += Double(p1); sgx += Double(p2)
            }
            sgx *= Double(r)
            gb.data[b] = Float(sg); gw.data[b] = Float(sgx)
            guard let pgx else { return }
            // gx = γ·r·(g' − mean(g') − x̂·mean(g'·x̂))
            let k = (pgamma?[b] ?? 1) * r, mg = Float(sg / n), mgx = Float(sgx / n)
            for a in 0..<v.a {
                let off = (a * v.b + b) * v.k
                for i in 0..<v.k {
                    let gi = pyo[off + i] > 0 ? pg[off + i] : slope * pg[off + i]
                    pgx[off + i] = k * (gi - mg - (px[off + i] - m) * r * mgx)
                }
            }
        }
        var grads: [Variable?] = [gx.map { Variable($0) }]
        if hasWeight { grads.append(needs[1] ? Variable(gw) : nil) }
        if hasBias { grads.append(needs[grads.count] ? Variable(gb) : nil) }
        return grads
    }
}

/// Mean (rounded to Float) and biased variance of statistic b of the (A, B, K) view: two passes,
/// partial sums in Float per row, totals in Double. Shared by `standardizeFused` and `batchNormActivation`.
@inline(__always)
func channelMoments(_ px: UnsafeMutablePointer<Float>, _ v: NormView, _ b: Int) -> (Double, Double) {
    var s = 0.0
    for a in 0..<v.a {
        let p = px + (a * v.b + b) * v.k
        var part: Float = 0
        for i in 0..<v.k { part += p[i] }
        s += Double(part)
    }
    let mf = Float(s / Double(v.count))
    var q = 0.0
    for a in 0..<v.a {
        let p = px + (a * v.b + b) * v.k
        var part: Float = 0
        for i in 0..<v.k { let d = p[i] - mf; part += d * d }
        q += Double(part)
    }
    return (Double(mf), q / Double(v.count))
}

/// The backward rule written with differentiable ops (createGraph: a gradient penalty through a batch
/// norm), x̂ recomputed differentiably from x so that its derivative enters the second order.
func batchNormActivationRecordedBackward(_ out: Variable, _ g: Variable, gamma: Variable?, hasBias: Bool, needs: [Bool],
                                         view v: NormView, eps: Float, slope: Float) throws -> [Variable?] {
    let gPre = g.scaledBySlope(of: out.value, negativeSlope: slope)   // the mask's derivative is 0 a.e.
    let x3 = try out.inputs[0].reshaped(v.shape3)
    let m = try x3.mean(axes: [0, 2], keepDims: true)
    let centered = try x3 - m
    let r = try ((centered * centered).mean(axes: [0, 2], keepDims: true) + eps).pow(-0.5)
    let xhat = try centered * r
    let g3 = try gPre.reshaped(v.shape3)
    var gxhat = g3
    if let gamma { gxhat = try g3 * gamma.reshaped([1, v.b, 1]) }
    var grads: [Variable?] = []
    if needs[0] {
        let inner = try gxhat - gxhat.mean(axes: [0, 2], keepDims: true) - xhat * (gxhat * xhat).mean(axes: [0, 2], keepDims: true)
        grads.append(try (inner * r).reshaped(out.shape))
    } else {
        grads.append(nil)
    }
    if gamma != nil { grads.append(needs[1] ? try (g3 * xhat).sum(axes: [0, 2]) : nil) }
    if hasBias { grads.append(needs[grads.count] ? try g3.sum(axes: [0, 2]) : nil) }
    return grads
}
