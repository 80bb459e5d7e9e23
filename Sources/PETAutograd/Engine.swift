import Foundation
import PETTensor

// The reverse pass. `grad` returns gradients of outputs with respect to chosen inputs (optionally as
// differentiable variables: createGraph), `backward` accumulates gradients into every leaf that
// requires one (parameters), like PyTorch's `.backward()`.

/// Gradients of `outputs` (seeded with `gradOutputs`, or 1 for one-element outputs) with respect to
/// `inputs`. With `createGraph`, the backward rules run while recording, so the returned gradients
/// are differentiable (WGAN-GP). The graph is kept when `retainGraph` (default: `createGraph`);
/// otherwise saved values are released and a second pass over it throws `graphFreed`.
/// Inputs the outputs do not depend on get zero gradients.
public func grad(_ outputs: [Variable], _ inputs: [Variable], gradOutputs: [Tensor?]? = nil,
                 createGraph: Bool = false, retainGraph: Bool? = nil) throws -> [Variable] {
    let result = try Engine.run(outputs: outputs, seeds: gradOutputs, targets: inputs,
                                createGraph: createGraph, retainGraph: retainGraph ?? createGraph)
    return inputs.map { v in result[ObjectIdentifier(v)] ?? Variable(Tensor(shape: v.shape)) }
}

/// One output, one input.
public func grad(_ output: Variable, _ input: Variable, createGraph: Bool = false, retainGraph: Bool? = nil) throws -> Variable {
    try grad([output], [input], createGraph: createGraph, retainGraph: retainGraph)[0]
}

extension Variable {
    /// Accumulates d(self)/d(leaf) into `leaf.grad` for every leaf that requires a gradient.
    /// `seed` is required unless the output has one element.
    public func backward(seed: Tensor? = nil, retainGraph: Bool = false) throws {
        guard requiresGrad else {
            throw AutogradError.noGradient(detail: "backward of a value that does not require a gradient (computed by '\(op)' from inputs without requiresGrad, or under withNoGrad)")
        }
        let result = try Engine.run(outputs: [self], seeds: [seed], targets: nil, createGraph: false, retainGraph: retainGraph)
        // Leaves get their gradients accumulated; `result` holds only leaves in this mode. A gradient
        // tensor is adopted without a copy unless it is (a view of) the caller's seed or was already handed to
        // another leaf (pass-through rules such as add give several inputs the same tensor), since
        // later backward passes accumulate into `.grad` in place.
        // Keyed by storage, since a reshape's gradient is a view of the tensor it came from.
        var handedOut = Set<UnsafeMutablePointer<Float>>()
        if let s = seed { handedOut.insert(s.data) }
        for (leaf, g) in result.leaves {
            if let existing = leaf.grad {
                addInPlace(existing, g.value)
            } else if handedOut.contains(g.value.data) {
                leaf.grad = g.value.copy()
            } else {
                leaf.grad = g.value
                handedOut.insert(g.value.data)
            }
        }
    }
}

enum Engine {
    struct Result {
        var byID: [ObjectIdentifier: Variable] = [:]
        var leaves: [(Variable, Variable)] = []
        subscript(_ id: ObjectIdentifier) -> Variable? { byID[id] }
    }

    /// Reverse pass. `targets == nil`: accumulate for all leaves requiring grad (backward()).
    /// `variableSeeds` (instead of `seeds`): differentiable seed gradients, whose own graphs are not
    /// walked (activation checkpointing's recorded backward: a vector–Jacobian product in the seed).
    static func run(outputs: [Variable], seeds: [Tensor?]?, variableSeeds: [Variable]? = nil, targets: [Variable]?, createGraph: Bool, retainGraph: Bool) throws -> Result {
        if let s = seeds, s.count != outputs.count {
            throw AutogradError.noGradient(detail: "\(s.count) seed gradients for \(outputs.count) outputs")
        }
        // 1. Topological order (inputs before outputs) of every variable that requires a gradient.
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Variable, Bool)] = []
        for o in outputs where o.requiresGrad { stack.append((o, false)) }
        while let (v, expanded) = stack.popLast() {
            let id = ObjectIdentifier(v)
            if expanded { order.append(v); continue }
            if visited.contains(id) { continue }
            visited.insert(id)
            if !v.isLeaf && v.freed { throw AutogradError.graphFreed(op: v.op) }
            stack.append((v, true))
            for i in v.inputs where i.requiresGrad && !visited.contains(ObjectIdentifier(i)) { stack.append((i, false)) }
        }
        // 2. Which variables lead to a target (only their gradients are computed).
        let targetIDs = targets.map { Set($0.map(ObjectIdentifier.init)) }
        var needed = Set<ObjectIdentifier>()
        for v in order {
            let id = ObjectIdentifier(v)
            if let t = targetIDs {
                if t.contains(id) || v.inputs.contains(where: { needed.contains(ObjectIdentifier($0)) }) { needed.insert(id) }
            } else if v.isLeaf || v.inputs.contains(where: { needed.contains(ObjectIdentifier($0)) }) {
                needed.insert(id)
            }
        }
        // 3. Seeds.
        var grads: [ObjectIdentifier: Variable] = [:]
        var owned = Set<ObjectIdentifier>()   // gradient tensors created by accumulation (safe to add into)
        for (k, o) in outputs.enumerated() where o.requiresGrad {
            if let vs = variableSeeds {
                try accumulate(&grads, &owned, o, vs[k], createGraph: createGraph)
                continue
            }
            let seed: Tensor
            if let s = seeds?[k] {
                guard s.shape == o.shape else { throw AutogradError.seedShapeMismatch(output: o.shape, seed: s.shape) }
                seed = s
            } else {
                guard o.count == 1 else { throw AutogradError.nonScalarWithoutSeed(shape: o.shape) }
                seed = Tensor(shape: o.shape, repeating: 1)
            }
            try accumulate(&grads, &owned, o, Variable(seed), createGraph: createGraph)
        }
        // 4. Reverse walk.
        var result = Result()
        let targetSet = targetIDs
        try withGradMode(createGraph) {
            for v in order.reversed() {
                let id = ObjectIdentifier(v)
                guard needed.contains(id), let gy = grads[id] else { continue }
                if let t = targetSet {
                    if t.contains(id) { result.byID[id] = gy }
                } else if v.isLeaf {
                    result.leaves.append((v, gy))
                }
                if v.isLeaf { continue }
                guard let rule = v.rule else { throw AutogradError.graphFreed(op: v.op) }
                let needs = v.inputs.map { $0.requiresGrad && needed.contains(ObjectIdentifier($0)) }
                if needs.contains(true) {
                    let gin = try rule(v, gy, needs)
                    for (i, g) in gin.enumerated() where needs[i] {
                        if let g { try accumulate(&grads, &owned, v.inputs[i], g, createGraph: createGraph) }
                    }
                }
                grads[id] = nil
                if !retainGraph { v.rule = nil; v.freed = true }
            }
        }
        return result
    }

    static func accumulate(_ grads: inout [ObjectIdentifier: Variable], _ owned: inout Set<ObjectIdentifier>,
                           _ v: Variable, _ g: Variable, createGraph: Bool) throws {
        guard g.shape == v.shape else {
            throw TensorError.shapeMismatch(op: "autograd (gradient of '\(v.op)')", detail: "gradient \(shapeString(g.shape)) for a value of shape \(shapeString(v.shape))")
        }
        let id = ObjectIdentifier(v)
        guard let existing = grads[id] else { grads[id] = g; return }
        if createGraph {
            grads[id] = try existing + g
        } else if owned.contains(id) {
            addInPlace(existing.value, g.value)
        } else {
            let sum = existing.value.copy()
            addInPlace(sum, g.value)
            grads[id] = Variable(sum)
            owned.insert(id)
        }
    }
}

/// a += b elementwise (same shape; used for gradient accumulation and optimizer arithmetic).
func addInPlace(_ a: Tensor, _ b: Tensor) {
    precondition(a.count == b.count)
    let pa = a.data, pb = b.data
    Parallel.forRanges(a.count, minChunk: 1 << 16) { r in for i in r { pa[i] += pb[i] } }
}
