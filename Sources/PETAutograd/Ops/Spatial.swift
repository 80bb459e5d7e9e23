import Foundation
import PETTensor

// Spatial ops on (N, C, spatial...) tensors of any number of spatial axes (2D and 3D alike), for
// FastGAN's networks and differentiable augmentation:
//   upsampleNearest   torch.nn.functional.interpolate(mode="nearest", scale_factor=f) for integer f
//   sumPool / avgPool torch's avg_pool{2,3}d(kernel=f, stride=f) (avgPool), and f^d times it (sumPool)
//   glu               torch.nn.functional.glu(x, dim=1): first half · sigmoid(second half)
//   swish             x · sigmoid(x) (torch's SiLU)
//   translated        per-sample integer shift, vacated voxels filled with a constant
//   flipped           per-sample reversal of one spatial axis
// The kernels are plain loops (they are memory-bound and small next to the convolutions); every
// backward rule is written with these differentiable ops, so second order comes free:
// upsampleNearest and sumPool are each other's adjoints, translated(−s, fill 0) is translated(s)'s,
// flipped is its own.

/// Row-major strides of `shape`.
@inline(__always)
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
    return s
}

/// Calls `body(outIndex, inIndex)` for every spatial position of an output of `outShape` (spatial
/// only), where the input index is `map(outCoordinates)` in an input of `inShape` (nil: outside).
@inline(__always)
func forEachSpatial(_ outShape: [Int], _ inShape: [Int], _ map: ([Int]) -> [Int]?, _ body: (Int, Int?) -> Void) {
    let n = outShape.reduce(1, *)
    let inStrides = rowMajorStrides(inShape)
    var c = [Int](repeating: 0, count: outShape.count)
    for o in 0..<n {
        if let src = map(c) {
            var idx = 0, inside = true
            for a in 0..<src.count {
                if src[a] < 0 || src[a] >= inShape[a] { inside = false; break }
                idx += src[a] * inStrides[a]
            }
            body(o, inside ? idx : nil)
        } else { body(o, nil) }
        var a = outShape.count - 1
        while a >= 0 { c[a] += 1; if c[a] < outShape[a] { break }; c[a] = 0; a -= 1 }
    }
}

func checkSpatial(_ x: Variable, factor: [Int], op: String) throws -> [Int] {
    guard x.rank >= 3, factor.count == x.rank - 2, factor.allSatisfy({ $0 >= 1 }) else {
        throw TensorError.invalidArgument(op: op, detail: "needs (N, C, spatial...) and one factor ≥ 1 per spatial axis, got \(shapeString(x.shape)) and \(factor)")
    }
    return Array(x.shape.dropFirst(2))
}

/// x: (N, C, s...) → (N, C, s·f...): every voxel repeated f times along each axis.
public func upsampleNearest(_ x: Variable, factor: [Int]) throws -> Variable {
    let spatial = try checkSpatial(x, factor: factor, op: "upsample nearest")
    let outSpatial = zip(spatial, factor).map { $0 * $1 }
    let planes = x.shape[0] * x.shape[1], inCount = spatial.reduce(1, *), outCount = outSpatial.reduce(1, *)
    let y = Tensor(shape: Array(x.shape.prefix(2)) + outSpatial, zeroed: false)
    // The source index of every output position, computed once and used for every plane.
    var source = [Int](repeating: 0, count: outCount)
    forEachSpatial(outSpatial, spatial, { c in zip(c, factor).map { $0 / $1 } }) { o, i in source[o] = i! }
    let px = x.value.data, py = y.data
    source.withUnsafeBufferPointer { src in
        Parallel.forRanges(planes, minChunk: 1) { r in
            for p in r { let xi = px + p * inCount, yo = py + p * outCount; for o in 0..<outCount { yo[o] = xi[src[o]] } }
        }
    }
    return record(y, op: "upsample nearest", inputs: [x]) { _, g, _ in [try sumPool(g, factor: factor)] }
}

/// x: (N, C, s...) → (N, C, s/f...): the sum over each f-block (sides must be multiples of f).
public func sumPool(_ x: Variable, factor: [Int]) throws -> Variable {
    let spatial = try checkSpatial(x, factor: factor, op: "sum pool")
    guard zip(spatial, factor).allSatisfy({ $0 % $1 == 0 }) else {
        throw TensorError.invalidArgument(op: "sum pool", detail: "spatial sides \(spatial) are not multiples of the factor \(factor)")
    }
    let outSpatial = zip(spatial, factor).map { $0 / $1 }
    let planes = x.shape[0] * x.shape[1], inCount = spatial.reduce(1, *), outCount = outSpatial.reduce(1, *)
    let y = Tensor(shape: Array(x.shape.prefix(2)) + outSpatial)
    var target = [Int](repeating: 0, count: inCount)
    forEachSpatial(spatial, outSpatial, { c in zip(c, factor).map { $0 / $1 } }) { i, o in target[i] = o! }
    let px = x.value.data, py = y.data
    target.withUnsafeBufferPointer { dst in
        Parallel.forRanges(planes, minChunk: 1) { r in
            for p in r { let xi = px + p * inCount, yo = py + p * outCount; for i in 0..<inCount { yo[dst[i]] += xi[i] } }
        }
    }
    return record(y, op: "sum pool", inputs: [x]) { _, g, _ in [try upsampleNearest(g, factor: factor)] }
}

/// torch's avg_pool with kernel = stride = f: the mean over each f-block.
public func avgPool(_ x: Variable, factor: [Int]) throws -> Variable {
    try sumPool(x, factor: factor) * (1 / Float(factor.reduce(1, *)))
}

/// torch.nn.functional.glu(x, dim=1): x (N, 2C, ...) → a · sigmoid(b), a and b the channel halves.
public func glu(_ x: Variable) throws -> Variable {
    guard x.rank >= 2, x.shape[1] % 2 == 0 else {
        throw TensorError.invalidArgument(op: "glu", detail: "needs an even number of channels (axis 1), got \(shapeString(x.shape))")
    }
    let c = x.shape[1] / 2
    return try x.slice(axis: 1, start: 0, length: c) * x.slice(axis: 1, start: c, length: c).sigmoid()
}

/// x · sigmoid(x) (torch's SiLU; FastGAN's Swish).
public func swish(_ x: Variable) throws -> Variable { try x * x.sigmoid() }

/// x: (N, C, s...) with sample n moved by `shifts[n]` voxels along each spatial axis:
/// y[n, c, p] = x[n, c, p − shifts[n]] where that is inside, else `fill`. Gradient: the gradient
/// moved back by −shifts[n] (zeros where it came from the fill).
public func translated(_ x: Variable, shifts: [[Int]], fill: Float) throws -> Variable {
    let spatial = Array(x.shape.dropFirst(2))
    guard x.rank >= 3, shifts.count == x.shape[0], shifts.allSatisfy({ $0.count == spatial.count }) else {
        throw TensorError.invalidArgument(op: "translate", detail: "needs (N, C, spatial...) and one shift per sample and spatial axis, got \(shapeString(x.shape)) and \(shifts.count) shifts")
    }
    let n = x.shape[0], c = x.shape[1], count = spatial.reduce(1, *)
    let y = Tensor(shape: x.shape, zeroed: false)
    let px = x.value.data, py = y.data
    for s in 0..<n {
        let shift = shifts[s]
        var source = [Int](repeating: -1, count: count)
        forEachSpatial(spatial, spatial, { p in zip(p, shift).map { $0 - $1 } }) { o, i in source[o] = i ?? -1 }
        for ch in 0..<c {
            let base = (s * c + ch) * count
            for o in 0..<count { let i = source[o]; py[base + o] = i >= 0 ? px[base + i] : fill }
        }
    }
    return record(y, op: "translate", inputs: [x]) { _, g, _ in
        [try translated(g, shifts: shifts.map { $0.map { -$0 } }, fill: 0)]
    }
}

/// x: (N, C, s...) with `axis` (a tensor axis ≥ 2) reversed in the samples where `samples[n]`.
/// Its own adjoint.
public func flipped(_ x: Variable, axis: Int, samples: [Bool]) throws -> Variable {
    guard x.rank >= 3, (2..<x.rank).contains(axis), samples.count == x.shape[0] else {
        throw TensorError.invalidArgument(op: "flip", detail: "needs (N, C, spatial...), a spatial axis and one flag per sample, got \(shapeString(x.shape)), axis \(axis), \(samples.count) flags")
    }
    let inner = x.shape[(axis + 1)...].reduce(1, *), side = x.shape[axis]
    let outer = x.shape[1..<axis].reduce(1, *), per = x.count / max(1, x.shape[0])
    let y = x.value.copy()
    let px = x.value.data, py = y.data
    for s in 0..<x.shape[0] where samples[s] {
        for o in 0..<outer {
            for k in 0..<side {
                let src = px + s * per + (o * side + k) * inner, dst = py + s * per + (o * side + side - 1 - k) * inner
                dst.update(from: src, count: inner)
            }
        }
    }
    return record(y, op: "flip", inputs: [x]) { _, g, _ in [try flipped(g, axis: axis, samples: samples)] }
}
