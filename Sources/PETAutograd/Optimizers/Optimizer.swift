import Foundation
import PETTensor

/// An optimizer's resumable state: per-parameter tensors (moments) and step counts, by name.
/// Tensor keys are `<parameter name>.<slot>` (e.g. `gen.block1.conv.weight.exp_avg`); step keys are
/// parameter names. Training checkpoints (PETModels) store this type as it is.
public struct OptimizerState: Equatable {
    public var tensors: [String: Tensor]
    public var steps: [String: Int]
    public init(tensors: [String: Tensor] = [:], steps: [String: Int] = [:]) { self.tensors = tensors; self.steps = steps }
    /// Equal when the step counts are and every tensor is bitwise (what an exact resume needs).
    public static func == (a: OptimizerState, b: OptimizerState) -> Bool {
        a.steps == b.steps && a.tensors.count == b.tensors.count
            && a.tensors.allSatisfy { k, t in b.tensors[k].map { $0.bitwiseEqual(t) } ?? false }
    }
}

/// Shared per-parameter bookkeeping; subclasses implement `update` for one parameter (torch.optim's
/// single-tensor step). Parameters whose gradient is nil are skipped, as in PyTorch.
public class Optimizer {
    public let parameters: [(String, Variable)]
    /// Names of this optimizer's per-parameter tensor slots (e.g. exp_avg, exp_avg_sq).
    let slotNames: [String]
    var slots: [[Tensor?]]
    public private(set) var steps: [Int]
    public var learningRate: Double

    init(_ parameters: [(String, Variable)], learningRate: Double, slotNames: [String]) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.slotNames = slotNames
        slots = parameters.map { _ in slotNames.map { _ in nil } }
        steps = [Int](repeating: 0, count: parameters.count)
    }

    /// One update of every parameter that has a gradient.
    public func step() throws {
        for (i, (name, p)) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            guard g.shape == p.shape else {
                throw TensorError.shapeMismatch(op: "\(type(of: self)).step", detail: "gradient \(shapeString(g.shape)) for parameter \(name) \(shapeString(p.shape))")
            }
            for s in slotNames.indices where slots[i][s] == nil && slotIsUsed(s) { slots[i][s] = Tensor(shape: p.shape) }
            steps[i] += 1
            update(p.value, grad: g, slots: slots[i], step: steps[i])
        }
    }

    func slotIsUsed(_ s: Int) -> Bool { true }
    func update(_ p: Tensor, grad: Tensor, slots: [Tensor?], step: Int) { fatalError("subclass") }

    /// Clears every parameter's gradient.
    public func zeroGrad() { for (_, p) in parameters { p.grad = nil } }

    /// Copies of the state (moments and step counts) by parameter name.
    public func state() -> OptimizerState {
        var st = OptimizerState()
        for (i, (name, _)) in parameters.enumerated() where steps[i] > 0 {
            st.steps[name] = steps[i]
            for (s, slot) in slotNames.enumerated() { if let t = slots[i][s] { st.tensors[name + "." + slot] = t.copy() } }
        }
        return st
    }

    /// Restores a state saved by `state()`. Checks every name and shape before changing anything and
    /// reports all differences.
    public func load(_ st: OptimizerState) throws {
        let names = Set(parameters.map(\.0))
        var shapes: [String] = [], missing: [String] = []
        var expected = Set<String>()
        for (i, (name, p)) in parameters.enumerated() where st.steps[name] != nil {
            for (s, slot) in slotNames.enumerated() where slotIsUsed(s) {
                let key = name + "." + slot
                expected.insert(key)
                guard let t = st.tensors[key] else { missing.append(key); continue }
                if t.shape != p.shape { shapes.append("\(key): state \(shapeString(t.shape)), parameter \(shapeString(p.shape))") }
            }
            _ = i
        }
        let unexpected = (st.steps.keys.filter { !names.contains($0) } + st.tensors.keys.filter { !expected.contains($0) }).sorted()
        if !missing.isEmpty || !shapes.isEmpty || !unexpected.isEmpty {
            throw AutogradError.stateMismatch(what: "\(type(of: self)) state", missing: missing, unexpected: unexpected, shapeMismatches: shapes)
        }
        for (i, (name, _)) in parameters.enumerated() {
            steps[i] = st.steps[name] ?? 0
            for (s, slot) in slotNames.enumerated() { slots[i][s] = st.tensors[name + "." + slot]?.copy() }
        }
    }
}
