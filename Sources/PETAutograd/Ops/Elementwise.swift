import Foundation
import PETTensor

// Elementwise primitives. Binary ops broadcast their operands first (see Broadcast.swift), so each
// rule below sees equal shapes. Every backward rule is written with differentiable ops.

// Closure-based maps serve the transcendental ops (their cost is in the math). The hot ops (add,
// mul, scalar affine, relu/leaky relu and its gradient) have explicit loops: Swift does not
// specialize a closure called inside a parallel worker, and the indirect call per element made them
// ~3x slower than a plain loop (measured on 4×64×32³).
@inline(__always)
func map1(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
    let y = Tensor(shape: x.shape, zeroed: false)
    let px = x.data, py = y.data
    Parallel.forRanges(x.count, minChunk: 1 << 15) { r in for i in r { py[i] = f(px[i]) } }
    return y
}

@inline(__always)
func map2(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    let y = Tensor(shape: a.shape, zeroed: false)
    let pa = a.data, pb = b.data, py = y.data
    Parallel.forRanges(a.count, minChunk: 1 << 15) { r in for i in r { py[i] = f(pa[i], pb[i]) } }
    return y
}

enum BinaryKernel { case add, sub, mul, div }

/// a ∘ b elementwise (equal shapes).
func binaryKernel(_ a: Tensor, _ b: Tensor, _ op: BinaryKernel) -> Tensor {
    let y = Tensor(shape: a.shape, zeroed: false)
    let pa = a.data, pb = b.data, py = y.data
    let n = a.count, chunk = 1 << 15
    switch op {
    case .add: Parallel.forRanges(n, minChunk: chunk) { r in for i in r { py[i] = pa[i] + pb[i] } }
    case .sub: Parallel.forRanges(n, minChunk: chunk) { r in for i in r { py[i] = pa[i] - pb[i] } }
    case .mul: Parallel.forRanges(n, minChunk: chunk) { r in for i in r { py[i] = pa[i] * pb[i] } }
    case .div: Parallel.forRanges(n, minChunk: chunk) { r in for i in r { py[i] = pa[i] / pb[i] } }
    }
    return y
}

/// x·s (shift nil), x + t (scale nil), or x·s + t.
func scalarAffineKernel(_ x: Tensor, scale s: Float?, shift t: Float?) -> Tensor {
    let y = Tensor(shape: x.shape, zeroed: false)
    let px = x.data, py = y.data
    let n = x.count, chunk = 1 << 15
    switch (s, t) {
    case let (s?, t?): Parallel.forRanges(n, minChunk: chunk) { r in for i in r { py[i] = px[i] * s + t } }
    case let (s?, nil): Parallel.forRanges(n, minChunk: chunk) { r in for i in r { py[i] = px[i] * s } }
    case let (nil, t?): Parallel.forRanges(n, minChunk: chunk) { r in for i in r { py[i] = px[i] + t } }
    case (nil, nil): y.data.update(from: px, count: n)
    }
    return y
}

/// x > 0 ? x : a·x
func piecewiseKernel(_ x: Tensor, negativeSlope a: Float) -> Tensor {
    let y = Tensor(shape: x.shape, zeroed: false)
    let px = x.data, py = y.data
    Parallel.forRanges(x.count, minChunk: 1 << 15) { r in for i in r { let v = px[i]; py[i] = v > 0 ? v : a * v } }
    return y
}

/// x > 0 ? g : a·g
func slopeGradientKernel(_ g: Tensor, _ x: Tensor, negativeSlope a: Float) -> Tensor {
    let y = Tensor(shape: g.shape, zeroed: false)
    let pg = g.data, px = x.data, py = y.data
    Parallel.forRanges(g.count, minChunk: 1 << 15) { r in for i in r { py[i] = px[i] > 0 ? pg[i] : a * pg[i] } }
    return y
}

/// Brings two operands to their common broadcast shape.
func broadcastPair(_ a: Variable, _ b: Variable, op: String) throws -> (Variable, Variable) {
    if a.shape == b.shape { return (a, b) }
    let s = try broadcastShape(a.shape, b.shape, op: op)
    return (try a.broadcast(to: s), try b.broadcast(to: s))
}

extension Variable {
    // MARK: binary (broadcasting)

    public static func + (a: Variable, b: Variable) throws -> Variable {
        let (a, b) = try broadcastPair(a, b, op: "add")
        return record(binaryKernel(a.value, b.value, .add), op: "add", inputs: [a, b]) { _, g, _ in [g, g] }
    }

    public static func - (a: Variable, b: Variable) throws -> Variable {
        let (a, b) = try broadcastPair(a, b, op: "sub")
        return record(binaryKernel(a.value, b.value, .sub), op: "sub", inputs: [a, b]) { _, g, needs in
            [g, needs[1] ? -g : nil]
        }
    }

    public static func * (a: Variable, b: Variable) throws -> Variable {
        let (a, b) = try broadcastPair(a, b, op: "mul")
        return record(binaryKernel(a.value, b.value, .mul), op: "mul", inputs: [a, b]) { _, g, needs in
            [needs[0] ? try g * b : nil, needs[1] ? try g * a : nil]
        }
    }

    public static func / (a: Variable, b: Variable) throws -> Variable {
        let (a, b) = try broadcastPair(a, b, op: "div")
        return record(binaryKernel(a.value, b.value, .div), op: "div", inputs: [a, b]) { _, g, needs in
            [needs[0] ? try g / b : nil,
             needs[1] ? -(try (g * a) / (b * b)) : nil]
        }
    }

    // MARK: with a scalar constant

    public static func * (a: Variable, s: Float) -> Variable {
        record(scalarAffineKernel(a.value, scale: s, shift: nil), op: "mul scalar", inputs: [a]) { _, g, _ in [g * s] }
    }
    public static func * (s: Float, a: Variable) -> Variable { a * s }
    public static func / (a: Variable, s: Float) -> Variable { a * (1 / s) }
    public static func + (a: Variable, s: Float) -> Variable {
        record(scalarAffineKernel(a.value, scale: nil, shift: s), op: "add scalar", inputs: [a]) { _, g, _ in [g] }
    }
    public static func + (s: Float, a: Variable) -> Variable { a + s }
    public static func - (a: Variable, s: Float) -> Variable { a + (-s) }
    /// s − a
    public static func - (s: Float, a: Variable) -> Variable {
        record(scalarAffineKernel(a.value, scale: -1, shift: s), op: "rsub scalar", inputs: [a]) { _, g, _ in [-g] }
    }
    public static prefix func - (a: Variable) -> Variable {
        record(scalarAffineKernel(a.value, scale: -1, shift: nil), op: "neg", inputs: [a]) { _, g, _ in [-g] }
    }

    // MARK: unary

    /// x^p for a constant exponent.
    public func pow(_ p: Float) -> Variable {
        let y: Tensor
        if p == 2 { y = binaryKernel(value, value, .mul) } else if p == 1 { y = value.copy() } else { y = map1(value) { Foundation.pow($0, p) } }
        return record(y, op: "pow", inputs: [self]) { out, g, _ in
            let x = out.inputs[0]
            if p == 1 { return [g] }
            if p == 2 { return [try g * (x * 2)] }
            return [try g * (x.pow(p - 1) * p)]
        }
    }

    public func sqrt() -> Variable {
        record(map1(value) { $0.squareRoot() }, op: "sqrt", inputs: [self]) { out, g, _ in
            [try (g / out) * 0.5]
        }
    }

    public func exp() -> Variable {
        record(map1(value) { Foundation.exp($0) }, op: "exp", inputs: [self]) { out, g, _ in [try g * out] }
    }

    public func log() -> Variable {
        record(map1(value) { Foundation.log($0) }, op: "log", inputs: [self]) { out, g, _ in [try g / out.inputs[0]] }
    }

    public func tanh() -> Variable {
        record(map1(value) { Foundation.tanh($0) }, op: "tanh", inputs: [self]) { out, g, _ in
            [try g * (1 - (try out * out))]
        }
    }

    public func sigmoid() -> Variable {
        record(map1(value, stableSigmoid), op: "sigmoid", inputs: [self]) { out, g, _ in
            [try g * (try out * (1 - out))]
        }
    }

    /// log(1 + eˣ), computed without overflow. Gradient: sigmoid(x).
    public func softplus() -> Variable {
        record(map1(value) { x in max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x))) }, op: "softplus", inputs: [self]) { out, g, _ in
            [try g * out.inputs[0].sigmoid()]
        }
    }

    public func relu() -> Variable { piecewiseLinear(negativeSlope: 0, op: "relu") }
    public func leakyReLU(_ negativeSlope: Float = 0.01) -> Variable { piecewiseLinear(negativeSlope: negativeSlope, op: "leaky relu") }
    public func abs() -> Variable { piecewiseLinear(negativeSlope: -1, op: "abs") }

    /// y = x for x > 0, slope·x otherwise (relu, leaky relu, abs).
    func piecewiseLinear(negativeSlope a: Float, op: String) -> Variable {
        let x = value
        return record(piecewiseKernel(x, negativeSlope: a), op: op, inputs: [self]) { _, g, _ in
            [g.scaledBySlope(of: x, negativeSlope: a)]
        }
    }

    /// g · (x > 0 ? 1 : slope) with x a constant: the gradient of a piecewise-linear op. Linear in g,
    /// so its own gradient is the same op (the second derivative of relu is zero almost everywhere).
    func scaledBySlope(of x: Tensor, negativeSlope a: Float) -> Variable {
        record(slopeGradientKernel(value, x, negativeSlope: a), op: "piecewise linear backward", inputs: [self]) { _, gg, _ in
            [gg.scaledBySlope(of: x, negativeSlope: a)]
        }
    }

    /// Clamps in place (no gradient): the WGAN weight-clipping helper uses it on parameters.
    public func clampInPlace(_ lo: Float, _ hi: Float) {
        let p = value.data
        for i in 0..<value.count { p[i] = min(max(p[i], lo), hi) }
    }
}

@inline(__always) func stableSigmoid(_ x: Float) -> Float {
    if x >= 0 { return 1 / (1 + Foundation.exp(-x)) }
    let e = Foundation.exp(x)
    return e / (1 + e)
}
