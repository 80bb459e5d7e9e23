import Foundation
import PETTensor

// The node of the autograd graph. A `Variable` wraps a `Tensor` value; if it was computed by a
// recorded op it remembers its inputs and the op's backward rule. Every op has exactly one output,
// so the graph is a DAG of variables and a reverse topological walk from the outputs is the tape.

/// Errors of the autograd layer (shape errors of the ops themselves are `TensorError`s).
public enum AutogradError: Error, CustomStringConvertible, Equatable {
    /// backward/grad reached a node whose saved values were released by an earlier backward pass.
    case graphFreed(op: String)
    /// backward/grad of a non-scalar output without an explicit seed gradient.
    case nonScalarWithoutSeed(shape: [Int])
    /// A seed gradient's shape differs from its output's.
    case seedShapeMismatch(output: [Int], seed: [Int])
    /// An output of grad/backward does not depend on anything that requires a gradient.
    case noGradient(detail: String)
    /// A state dict does not fit a model or optimizer: lists every key and shape that differs.
    case stateMismatch(what: String, missing: [String], unexpected: [String], shapeMismatches: [String])

    public var description: String {
        switch self {
        case let .graphFreed(op):
            return "autograd: the graph through '\(op)' was already freed by an earlier backward pass; "
                + "pass retainGraph: true to the first backward/grad to differentiate it again"
        case let .nonScalarWithoutSeed(shape):
            return "autograd: gradient of a non-scalar output \(shapeString(shape)) needs a seed gradient of that shape (gradOutputs)"
        case let .seedShapeMismatch(o, s):
            return "autograd: seed gradient \(shapeString(s)) does not match its output \(shapeString(o))"
        case let .noGradient(d):
            return "autograd: \(d)"
        case let .stateMismatch(what, missing, unexpected, shapes):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing: " + missing.joined(separator: ", ")) }
            if !unexpected.isEmpty { parts.append("unexpected: " + unexpected.joined(separator: ", ")) }
            if !shapes.isEmpty { parts.append("shape mismatch: " + shapes.joined(separator: "; ")) }
            return "\(what) does not match: " + parts.joined(separator: " | ")
        }
    }
}

/// Backward rule of one op: given the op's output variable and the gradient flowing into it, return
/// the gradient for each input (nil where `needs[i]` is false). Rules are written with differentiable
/// ops, so running them while recording gives gradients that can be differentiated again.
typealias BackwardRule = (_ output: Variable, _ gradOutput: Variable, _ needs: [Bool]) throws -> [Variable?]

public final class Variable: CustomStringConvertible {
    /// The value. Optimizers and state-dict loading update it in place.
    public var value: Tensor
    /// Whether gradients flow to (leaf) or through (computed) this variable.
    public internal(set) var requiresGrad: Bool
    /// Gradient accumulated by `backward()` (leaves only); `nil` until the first backward.
    public var grad: Tensor?
    /// The op that computed this variable ("leaf" for inputs and parameters).
    public let op: String
    let inputs: [Variable]
    var rule: BackwardRule?
    var freed = false

    /// A leaf: an input or a parameter.
    public init(_ value: Tensor, requiresGrad: Bool = false) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.op = "leaf"
        self.inputs = []
        self.rule = nil
    }

    init(value: Tensor, op: String, inputs: [Variable], rule: @escaping BackwardRule) {
        self.value = value
        self.requiresGrad = true
        self.op = op
        self.inputs = inputs
        self.rule = rule
    }

    public var shape: [Int] { value.shape }
    public var count: Int { value.count }
    public var rank: Int { value.shape.count }
    public var isLeaf: Bool { op == "leaf" }
    /// The single value of a one-element variable.
    public var scalar: Float { value.data[0] }

    /// The same value, cut from the graph.
    public func detached() -> Variable { Variable(value) }

    /// Marks a leaf as requiring a gradient (for example an interpolated input in the gradient penalty).
    @discardableResult
    public func requiringGrad(_ on: Bool = true) -> Variable {
        precondition(isLeaf, "requiringGrad: only leaves can be marked, '\(op)' is computed")
        requiresGrad = on
        return self
    }

    public var description: String { "Variable(\(op), \(value)\(requiresGrad ? ", requiresGrad" : ""))" }
}

/// Whether ops record the graph. Off inside `withNoGrad` and while a backward pass runs without
/// `createGraph`, so evaluation and plain first-order backward build no graph at all.
public enum GradMode {
    nonisolated(unsafe) public internal(set) static var isEnabled = true
}

/// Runs `body` without recording any graph (evaluation, sampling, optimizer-side arithmetic).
public func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    let saved = GradMode.isEnabled
    GradMode.isEnabled = false
    defer { GradMode.isEnabled = saved }
    return try body()
}

func withGradMode<T>(_ on: Bool, _ body: () throws -> T) rethrows -> T {
    let saved = GradMode.isEnabled
    GradMode.isEnabled = on
    defer { GradMode.isEnabled = saved }
    return try body()
}

/// Wraps an op's result: a graph node when recording and some input requires a gradient, else a
/// plain value (the cheap no-grad path: no closure, no saved inputs).
@inline(__always)
func record(_ value: Tensor, op: String, inputs: [Variable], rule: @escaping BackwardRule) -> Variable {
    guard GradMode.isEnabled else { return Variable(value) }
    for v in inputs where v.requiresGrad {
        return Variable(value: value, op: op, inputs: inputs, rule: rule)
    }
    return Variable(value)
}

extension Variable {
    /// A constant (never requires a gradient).
    public static func constant(_ t: Tensor) -> Variable { Variable(t) }
    public static func scalar(_ v: Float) -> Variable { Variable(Tensor.scalar(v)) }
}
