import XCTest
import PETTensor
@testable import PETAutograd

// Finite-difference gradient checks. The scalar probed is L = Σ f(x)·r with a fixed random r,
// accumulated in Double; derivatives are central differences. Second order: S = Σ_k ⟨∂L/∂x_k, v_k⟩
// with random v_k, its autograd gradient (through createGraph) against central differences of S,
// where S itself is evaluated with first-order autograd.

struct GradCheckResult {
    var firstOrderError: Float
    var secondOrderError: Float?
}

/// max |a − b| / max(1, max |b|); +inf when either holds a non-finite value (a NaN gradient fails).
func scaledError(_ a: [Float], _ b: [Float]) -> Float { relativeError(a, b, floor: 1) }

func dot(_ a: Tensor, _ b: Tensor) -> Double {
    var s = 0.0
    for i in 0..<a.count { s += Double(a.data[i]) * Double(b.data[i]) }
    return s
}

/// Checks first (and optionally second) order gradients of `f` at `inputs` against finite differences.
/// `differentiable` limits which inputs are perturbed and differentiated (default all).
@discardableResult
func checkGradients(_ label: String, _ inputs: [Tensor], differentiable: [Bool]? = nil, secondOrder: Bool = true,
                    step h: Float = 1e-2, tolerance: Float = 1e-3, secondTolerance: Float = 2e-3, seed: UInt64 = 99,
                    recordFailures: Bool = true, file: StaticString = #filePath, line: UInt = #line,
                    _ f: ([Variable]) throws -> Variable) throws -> GradCheckResult {
    var rng = PETRandom(seed: seed)
    let diff = differentiable ?? inputs.map { _ in true }
    let probe = try f(inputs.map { Variable($0) })
    let r = Tensor.uniform(probe.shape, low: -1, high: 1, rng: &rng)
    let dirs = inputs.map { Tensor.uniform($0.shape, low: -1, high: 1, rng: &rng) }

    func lossValue(_ xs: [Tensor]) throws -> Double {
        // Not under withNoGrad: f may itself take gradients (the gradient penalty).
        dot(try f(xs.map { Variable($0) }).value, r)
    }
    func firstGrads(_ xs: [Tensor], createGraph: Bool) throws -> ([Variable], [Variable]) {
        let vars = xs.enumerated().map { Variable($0.element.copy(), requiresGrad: diff[$0.offset]) }
        let out = try f(vars)
        let loss = try (out * Variable(r)).sum()
        let targets = vars.enumerated().filter { diff[$0.offset] }.map(\.element)
        return (vars, try grad([loss], targets, createGraph: createGraph))
    }
    func fdGradient(_ xs: [Tensor], _ k: Int, _ value: ([Tensor]) throws -> Double) throws -> [Float] {
        var out = [Float](repeating: 0, count: xs[k].count)
        for i in 0..<xs[k].count {
            let saved = xs[k].data[i]
            xs[k].data[i] = saved + h
            let plus = try value(xs)
            xs[k].data[i] = saved - h
            let minus = try value(xs)
            xs[k].data[i] = saved
            out[i] = Float((plus - minus) / Double(2 * h))
        }
        return out
    }

    let xs = inputs.map { $0.copy() }
    let (_, analytic) = try firstGrads(xs, createGraph: false)
    var firstErr: Float = 0
    var j = 0
    for k in inputs.indices where diff[k] {
        let fd = try fdGradient(xs, k, lossValue)
        let e = scaledError(analytic[j].value.array, fd)
        firstErr = max(firstErr, e)
        if recordFailures { XCTAssertLessThanOrEqual(e, tolerance, "\(label): first-order gradient of input \(k) differs from finite differences", file: file, line: line) }
        j += 1
    }
    guard secondOrder else {
        if ProcessInfo.processInfo.environment["GRADCHECK_VERBOSE"] != nil { print(String(format: "gradcheck %-40@ first %.2e", label, firstErr)) }
        return GradCheckResult(firstOrderError: firstErr, secondOrderError: nil)
    }

    // S = Σ ⟨∂L/∂x_k, v_k⟩ over differentiable inputs
    let diffIdx = inputs.indices.filter { diff[$0] }
    func sValue(_ xs: [Tensor]) throws -> Double {
        let (_, g) = try firstGrads(xs, createGraph: false)
        return zip(diffIdx, g).reduce(0.0) { $0 + dot($1.1.value, dirs[$1.0]) }
    }
    let (vars, g) = try firstGrads(xs, createGraph: true)
    var s: Variable?
    for (k, gk) in zip(diffIdx, g) {
        let term = try (gk * Variable(dirs[k])).sum()
        s = try s.map { try $0 + term } ?? term
    }
    let targets = diffIdx.map { vars[$0] }
    var secondErr: Float = 0
    if let s, s.requiresGrad {
        let second = try grad([s], targets)
        for (j, k) in diffIdx.enumerated() {
            let fd = try fdGradient(xs, k, sValue)
            let e = scaledError(second[j].value.array, fd)
            secondErr = max(secondErr, e)
            if recordFailures { XCTAssertLessThanOrEqual(e, secondTolerance, "\(label): second-order gradient of input \(k) differs from finite differences", file: file, line: line) }
        }
    } else {
        // The function is linear in every input: the second derivative must be zero.
        for (j, k) in diffIdx.enumerated() {
            let fd = try fdGradient(xs, k, sValue)
            let e = scaledError([Float](repeating: 0, count: fd.count), fd)
            secondErr = max(secondErr, e)
            if recordFailures { XCTAssertLessThanOrEqual(e, secondTolerance, "\(label): second derivative of input \(k) (index \(j)) should be zero", file: file, line: line) }
        }
    }
    if ProcessInfo.processInfo.environment["GRADCHECK_VERBOSE"] != nil {
        print(String(format: "gradcheck %-40@ first %.2e second %.2e", label, firstErr, secondErr))
    }
    return GradCheckResult(firstOrderError: firstErr, secondOrderError: secondErr)
}

/// Uniform values in ±[lo, hi] (kept away from zero, where relu/abs/leaky relu have their kink).
func awayFromZero(_ shape: [Int], lo: Float = 0.1, hi: Float = 1, rng: inout PETRandom) -> Tensor {
    let t = Tensor(shape: shape)
    for i in 0..<t.count { let v = rng.uniform(lo, hi); t.data[i] = rng.uniform01() < 0.5 ? -v : v }
    return t
}
