import Foundation
import PETTensor

/// A non-trainable tensor saved with a model (batch-norm running statistics).
public final class Buffer {
    public var value: Tensor
    public init(_ value: Tensor) { self.value = value }
}

/// Base class of layers and models. Parameters (`Variable` properties), buffers (`Buffer` properties)
/// and sub-modules (`Module` or `[Module]` properties) are found by reflection under their property
/// names, so a model declared as
///
///     final class Generator: Module {
///         let block1 = Sequential(named: [("conv", ConvTranspose3dLayer(...)), ("bn", BatchNorm3d(512))])
///         override func forward(_ z: Variable) throws -> Variable { try block1(z) }
///     }
///
/// names its parameters `block1.conv.weight`, `block1.bn.weight`, … (prefix them, e.g. "gen", when
/// collecting). Subclasses override `forward`.
open class Module {
    public private(set) var isTraining = true

    public init() {}

    /// The layer's computation; every subclass overrides it.
    open func forward(_ x: Variable) throws -> Variable {
        throw TensorError.invalidArgument(op: String(describing: type(of: self)), detail: "forward is not implemented")
    }

    public func callAsFunction(_ x: Variable) throws -> Variable { try forward(x) }

    /// Direct sub-modules by name (default: found by reflection; `Sequential` overrides).
    open var namedChildren: [(String, Module)] { reflect().children }

    /// This module's own parameters and buffers (default: found by reflection).
    open var ownParameters: [(String, Variable)] { reflect().parameters }
    open var ownBuffers: [(String, Buffer)] { reflect().buffers }

    private func reflect() -> (children: [(String, Module)], parameters: [(String, Variable)], buffers: [(String, Buffer)]) {
        var children: [(String, Module)] = [], params: [(String, Variable)] = [], buffers: [(String, Buffer)] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        var levels: [Mirror] = []
        while let m = mirror, m.subjectType != Module.self { levels.append(m); mirror = m.superclassMirror }
        for m in levels.reversed() {   // base-class properties first
            for case let (label?, value) in m.children {
                let name = label.hasPrefix("_") ? String(label.dropFirst()) : label
                if let v = value as? Variable { params.append((name, v)) }
                else if let b = value as? Buffer { buffers.append((name, b)) }
                else if let c = value as? Module { children.append((name, c)) }
                else if let cs = value as? [Module] { for (i, c) in cs.enumerated() { children.append(("\(name).\(i)", c)) } }
            }
        }
        return (children, params, buffers)
    }

    /// Every parameter, depth first, named `prefix.child.name`.
    public func namedParameters(prefix: String = "") -> [(String, Variable)] {
        var out = ownParameters.map { (join(prefix, $0.0), $0.1) }
        for (n, c) in namedChildren { out += c.namedParameters(prefix: join(prefix, n)) }
        return out
    }

    public func namedBuffers(prefix: String = "") -> [(String, Buffer)] {
        var out = ownBuffers.map { (join(prefix, $0.0), $0.1) }
        for (n, c) in namedChildren { out += c.namedBuffers(prefix: join(prefix, n)) }
        return out
    }

    public var parameters: [Variable] { namedParameters().map(\.1) }

    /// Number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Training mode (batch statistics in batch norm) for this module and all sub-modules.
    public func train(_ on: Bool = true) {
        isTraining = on
        for (_, c) in namedChildren { c.train(on) }
    }

    /// Evaluation mode (running statistics).
    public func eval() { train(false) }

    public func zeroGrad() { for p in parameters { p.grad = nil } }

    /// Copies of every parameter and buffer by name (PyTorch's state_dict).
    public func stateDict(prefix: String = "") -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (n, p) in namedParameters(prefix: prefix) { d[n] = p.value.copy() }
        for (n, b) in namedBuffers(prefix: prefix) { d[n] = b.value.copy() }
        return d
    }

    /// The parameter and buffer tensors themselves by name (not copies): targets to load into.
    public func liveState(prefix: String = "") -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (n, p) in namedParameters(prefix: prefix) { d[n] = p.value }
        for (n, b) in namedBuffers(prefix: prefix) { d[n] = b.value }
        return d
    }

    /// Names and shapes of `stateDict` without copying any values (checkpoint manifests).
    public func stateShapes(prefix: String = "") -> [String: [Int]] {
        var d: [String: [Int]] = [:]
        for (n, p) in namedParameters(prefix: prefix) { d[n] = p.value.shape }
        for (n, b) in namedBuffers(prefix: prefix) { d[n] = b.value.shape }
        return d
    }

    /// Loads parameters and buffers by name, copying values in place. Checks everything first: a
    /// missing or unexpected name (within `prefix` when `strict`) or a shape difference throws
    /// `AutogradError.stateMismatch` listing all of them, and nothing is changed.
    public func loadStateDict(_ d: [String: Tensor], prefix: String = "", strict: Bool = true) throws {
        var targets: [(String, Tensor)] = namedParameters(prefix: prefix).map { ($0.0, $0.1.value) }
        targets += namedBuffers(prefix: prefix).map { ($0.0, $0.1.value) }
        var missing: [String] = [], shapes: [String] = []
        for (n, t) in targets {
            guard let s = d[n] else { missing.append(n); continue }
            if s.shape != t.shape { shapes.append("\(n): checkpoint \(shapeString(s.shape)), model \(shapeString(t.shape))") }
        }
        let known = Set(targets.map(\.0))
        let scope = prefix.isEmpty ? "" : prefix + "."
        let unexpected = strict ? d.keys.filter { $0.hasPrefix(scope) && !known.contains($0) }.sorted() : []
        if !missing.isEmpty || !shapes.isEmpty || !unexpected.isEmpty {
            throw AutogradError.stateMismatch(what: "state dict for \(prefix.isEmpty ? String(describing: type(of: self)) : prefix)",
                                              missing: missing, unexpected: unexpected, shapeMismatches: shapes)
        }
        // A tensor read in place (Checkpoint.load(into:)) is already there.
        for (n, t) in targets where d[n]!.data != t.data { t.data.update(from: d[n]!.data, count: t.count) }
    }
}

/// How many tensors of its input's size a layer's op keeps for backward: what memory estimates
/// (PETModels' `RecomputePlan`) count for it.
public protocol BackwardFootprint {
    var keptTensorsForBackward: Int { get }
}

@inline(__always) func join(_ prefix: String, _ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

/// Layers applied in order. Children are named "0", "1", … or by the given names.
public final class Sequential: Module {
    public let layers: [(String, Module)]
    public init(_ layers: [Module]) { self.layers = layers.enumerated().map { ("\($0.offset)", $0.element) } }
    public init(named layers: [(String, Module)]) { self.layers = layers }
    public override var namedChildren: [(String, Module)] { layers }
    public override var ownParameters: [(String, Variable)] { [] }
    public override var ownBuffers: [(String, Buffer)] { [] }
    public override func forward(_ x: Variable) throws -> Variable {
        var y = x
        for (_, l) in layers { y = try l(y) }
        return y
    }
}

/// Applies a function (activations, reshapes) as a layer without parameters.
public final class Lambda: Module {
    let body: (Variable) throws -> Variable
    public let name: String
    public init(_ name: String, _ body: @escaping (Variable) throws -> Variable) { self.name = name; self.body = body }
    public override func forward(_ x: Variable) throws -> Variable { try body(x) }
}
