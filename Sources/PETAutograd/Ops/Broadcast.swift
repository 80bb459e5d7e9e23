import Foundation
import PETTensor

// Shape ops: broadcasting (numpy rules) and its adjoint sum-to-shape, reshape, sums and means,
// concatenation and slicing. Binary elementwise ops broadcast by inserting `broadcast(to:)`, so the
// reduction in their gradients is written once, here.

/// The broadcast shape of `a` and `b` (numpy/PyTorch rules), or a shape error naming `op` and both shapes.
public func broadcastShape(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        guard da == db || da == 1 || db == 1 else {
            throw TensorError.shapeMismatch(op: op, detail: "cannot broadcast \(shapeString(a)) with \(shapeString(b))")
        }
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Coalesced iteration plan between a small shape (broadcast source / reduction target) and a large one.
/// Each run is (size, kept): kept runs index both tensors, broadcast runs only the large one.
struct BroadcastPlan {
    var sizes: [Int] = []
    var kept: [Bool] = []
    var smallStrides: [Int] = []
    var largeStrides: [Int] = []

    init(small: [Int], large: [Int], op: String) throws {
        guard small.count <= large.count else {
            throw TensorError.shapeMismatch(op: op, detail: "cannot broadcast \(shapeString(small)) to \(shapeString(large))")
        }
        let padded = [Int](repeating: 1, count: large.count - small.count) + small
        for (s, l) in zip(padded, large) {
            guard s == l || s == 1 else {
                throw TensorError.shapeMismatch(op: op, detail: "cannot broadcast \(shapeString(small)) to \(shapeString(large))")
            }
            if l == 1 { continue }
            let k = s == l
            if let last = kept.last, last == k { sizes[sizes.count - 1] *= l } else { sizes.append(l); kept.append(k) }
        }
        if sizes.isEmpty { sizes = [1]; kept = [true] }
        var ls = 1, ss = 1
        largeStrides = [Int](repeating: 0, count: sizes.count)
        smallStrides = [Int](repeating: 0, count: sizes.count)
        for i in stride(from: sizes.count - 1, through: 0, by: -1) {
            largeStrides[i] = ls; ls *= sizes[i]
            if kept[i] { smallStrides[i] = ss; ss *= sizes[i] }
        }
    }

    /// large[i] = small[broadcast(i)]
    func expand(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        expand(0, src, dst)
    }
    private func expand(_ d: Int, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        let n = sizes[d]
        if d == sizes.count - 1 {
            if kept[d] { dst.update(from: src, count: n) } else { dst.update(repeating: src[0], count: n) }
            return
        }
        for i in 0..<n { expand(d + 1, src + i * smallStrides[d], dst + i * largeStrides[d]) }
    }

    /// small[j] += Σ large[i] over all i that broadcast from j (Double accumulation).
    func reduce(_ src: UnsafePointer<Float>, _ acc: UnsafeMutablePointer<Double>) {
        reduce(0, src, acc)
    }
    private func reduce(_ d: Int, _ src: UnsafePointer<Float>, _ acc: UnsafeMutablePointer<Double>) {
        let n = sizes[d]
        if d == sizes.count - 1 {
            if kept[d] { for i in 0..<n { acc[i] += Double(src[i]) } } else {
                // Float partial sums over short blocks, combined in Double: fast and accurate.
                var total = 0.0, i = 0
                while i < n {
                    let e = min(n, i + 256)
                    var part: Float = 0
                    for j in i..<e { part += src[j] }
                    total += Double(part)
                    i = e
                }
                acc[0] += total
            }
            return
        }
        for i in 0..<n { reduce(d + 1, src + i * largeStrides[d], acc + i * smallStrides[d]) }
    }
}

func broadcastKernel(_ x: Tensor, to shape: [Int]) throws -> Tensor {
    let plan = try BroadcastPlan(small: x.shape, large: shape, op: "broadcast")
    let y = Tensor(shape: shape, zeroed: false)
    if y.count > 0 { plan.expand(x.data, y.data) }
    return y
}

func sumToKernel(_ x: Tensor, shape: [Int]) throws -> Tensor {
    let plan = try BroadcastPlan(small: shape, large: x.shape, op: "sum to shape")
    let n = shape.reduce(1, *)
    let acc = UnsafeMutablePointer<Double>.allocate(capacity: max(n, 1))
    defer { acc.deallocate() }
    acc.initialize(repeating: 0, count: max(n, 1))
    if x.count > 0 { plan.reduce(x.data, acc) }
    let y = Tensor(shape: shape, zeroed: false)
    for i in 0..<n { y.data[i] = Float(acc[i]) }
    return y
}

extension Variable {
    /// Broadcasts to `shape` (numpy rules). Gradient: sum back to this shape.
    public func broadcast(to shape: [Int]) throws -> Variable {
        if shape == self.shape { return self }
        let inShape = self.shape
        return record(try broadcastKernel(value, to: shape), op: "broadcast", inputs: [self]) { _, g, _ in
            [try g.sum(toShape: inShape)]
        }
    }

    /// Sums over the broadcast axes so the result has `shape` (the adjoint of `broadcast(to:)`).
    public func sum(toShape shape: [Int]) throws -> Variable {
        if shape == self.shape { return self }
        let inShape = self.shape
        return record(try sumToKernel(value, shape: shape), op: "sum", inputs: [self]) { _, g, _ in
            [try g.broadcast(to: inShape)]
        }
    }

    /// The same values in another shape (-1 infers one size). Gradient: reshape back.
    public func reshaped(_ shape: [Int]) throws -> Variable {
        if shape == self.shape { return self }
        let inShape = self.shape
        // A view, not a copy: 2D convolutions run as 3D ones through reshapes of every activation.
        return record(try value.viewing(as: shape), op: "reshape", inputs: [self]) { _, g, _ in
            [try g.reshaped(inShape)]
        }
    }

    /// (N, ...) → (N, rest).
    public func flattened() throws -> Variable { try reshaped([shape.first ?? 1, -1]) }

    /// Sum of all elements, shape [].
    public func sum() throws -> Variable { try sum(toShape: []) }

    /// Mean of all elements, shape [].
    public func mean() throws -> Variable { try sum() * (1 / Float(max(count, 1))) }

    /// Sum over `axes` (negative counts from the end), keeping them as size 1 if `keepDims`.
    public func sum(axes: [Int], keepDims: Bool = false) throws -> Variable {
        let ax = try normalizedAxes(axes, rank: rank, op: "sum")
        var kept = shape
        for a in ax { kept[a] = 1 }
        let s = try sum(toShape: kept)
        if keepDims { return s }
        return try s.reshaped(shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element))
    }

    /// Mean over `axes`.
    public func mean(axes: [Int], keepDims: Bool = false) throws -> Variable {
        let ax = try normalizedAxes(axes, rank: rank, op: "mean")
        let n = ax.map { shape[$0] }.reduce(1, *)
        return try sum(axes: ax, keepDims: keepDims) * (1 / Float(max(n, 1)))
    }
}

func normalizedAxes(_ axes: [Int], rank: Int, op: String) throws -> [Int] {
    try axes.map { a in
        let b = a < 0 ? a + rank : a
        guard b >= 0, b < rank else { throw TensorError.invalidArgument(op: op, detail: "axis \(a) out of range for rank \(rank)") }
        return b
    }
}

// MARK: concatenation and slicing

/// Concatenates along `axis` (channels: 1). Gradient: the matching slices.
public func concat(_ parts: [Variable], axis: Int = 1) throws -> Variable {
    guard let first = parts.first else { throw TensorError.invalidArgument(op: "concat", detail: "no tensors to concatenate") }
    let ax = try normalizedAxes([axis], rank: first.rank, op: "concat")[0]
    for p in parts where p.rank != first.rank || p.shape.enumerated().contains(where: { $0.offset != ax && $0.element != first.shape[$0.offset] }) {
        throw TensorError.shapeMismatch(op: "concat", detail: "cannot concatenate \(shapeString(p.shape)) with \(shapeString(first.shape)) along axis \(ax)")
    }
    let outer = first.shape[..<ax].reduce(1, *), inner = first.shape[(ax + 1)...].reduce(1, *)
    var outShape = first.shape
    outShape[ax] = parts.map { $0.shape[ax] }.reduce(0, +)
    let total = outShape[ax]
    let y = Tensor(shape: outShape, zeroed: false)
    var offset = 0
    var starts: [Int] = []
    for p in parts {
        let a = p.shape[ax]
        starts.append(offset)
        for o in 0..<outer {
            (y.data + (o * total + offset) * inner).update(from: p.value.data + o * a * inner, count: a * inner)
        }
        offset += a
    }
    let sizes = parts.map { $0.shape[ax] }
    return record(y, op: "concat", inputs: parts) { _, g, needs in
        try needs.indices.map { i in needs[i] ? try g.slice(axis: ax, start: starts[i], length: sizes[i]) : nil }
    }
}

extension Variable {
    /// Elements `start ..< start+length` along `axis`. Gradient: placed back into zeros.
    public func slice(axis: Int, start: Int, length: Int) throws -> Variable {
        let ax = try normalizedAxes([axis], rank: rank, op: "slice")[0]
        let total = shape[ax]
        guard start >= 0, length >= 0, start + length <= total else {
            throw TensorError.invalidArgument(op: "slice", detail: "range \(start)..<\(start + length) outside axis \(ax) of \(shapeString(shape))")
        }
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        var outShape = shape
        outShape[ax] = length
        let y = Tensor(shape: outShape, zeroed: false)
        for o in 0..<outer {
            (y.data + o * length * inner).update(from: value.data + (o * total + start) * inner, count: length * inner)
        }
        return record(y, op: "slice", inputs: [self]) { _, g, _ in
            [try g.embedded(axis: ax, start: start, total: total)]
        }
    }

    /// Places this tensor at `start` along `axis` in zeros of size `total` (the adjoint of slice).
    func embedded(axis ax: Int, start: Int, total: Int) throws -> Variable {
        let length = shape[ax]
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        var outShape = shape
        outShape[ax] = total
        let y = Tensor(shape: outShape)
        for o in 0..<outer {
            (y.data + (o * total + start) * inner).update(from: value.data + o * length * inner, count: length * inner)
        }
        return record(y, op: "embed", inputs: [self]) { _, g, _ in
            [try g.slice(axis: ax, start: start, length: length)]
        }
    }
}
