import Foundation
import PETTensor

// Activation checkpointing: a segment of a network runs without recording in the forward pass, so
// none of its intermediate activations is kept; only its input and output are. When the backward
// pass reaches the segment, it runs the segment again, this time recording, and backpropagates
// through that fresh graph. Memory of the segment's internals for one extra forward.
//
//   first-order backward (loss.backward(), grad without createGraph): the segment is re-run on a new
//   leaf holding the saved input; the gradients of (input, parameters) for the incoming gradient are
//   the same numbers the uncheckpointed graph gives (same ops, same order), so results are bitwise
//   equal;
//   recorded backward (createGraph: the WGAN-GP penalty): the segment is re-run on the saved input
//   variable itself and backpropagated with createGraph from the incoming gradient g as a
//   differentiable seed, so the returned gradients are differentiable in x, the parameters and g
//   (double backward stays exact). g's own graph leads through this node, so it is a seed the
//   engine does not walk (taking ∂⟨segment(x), g⟩/∂x with grad() would also differentiate g). That re-run graph is needed by the second backward, so during a penalty the segment's
//   activations are alive again: checkpointing saves nothing there (it still saves on the critic's
//   plain real/fake passes).
//
// Batch norm in training mode updates its running statistics in the forward run; while a segment is
// re-run `Recompute.isRecomputing` is true and `BatchNorm` leaves them alone, so they are updated
// exactly once, as without checkpointing (the re-run normalises with the same batch statistics).
// Segments must be deterministic (no dropout or noise inside).

/// Whether a checkpointed segment is being re-run in a backward pass.
public enum Recompute {
    nonisolated(unsafe) public internal(set) static var isRecomputing = false
}

/// Runs `segment` on `x` with activation checkpointing. `parameters` are every variable the segment
/// uses besides `x` that may require a gradient (its layers' weights). Without recording (no-grad
/// mode, or nothing requires a gradient) it is simply `segment(x)`.
public func checkpoint(_ x: Variable, parameters: [Variable], name: String = "checkpoint",
                       _ segment: @escaping (Variable) throws -> Variable) throws -> Variable {
    guard GradMode.isEnabled, x.requiresGrad || parameters.contains(where: \.requiresGrad) else { return try segment(x) }
    let y = try withNoGrad { try segment(x) }.value
    let inputs = [x] + parameters
    return record(y, op: name, inputs: inputs) { out, gy, needs in
        let saved = Recompute.isRecomputing
        Recompute.isRecomputing = true
        defer { Recompute.isRecomputing = saved }
        let wanted = needs.indices.filter { needs[$0] }
        var result = [Variable?](repeating: nil, count: inputs.count)
        if GradMode.isEnabled {
            // Recorded backward: differentiable in x, the parameters and gy.
            // The seed is gy itself (not walked: its graph runs through this very node).
            let y2 = try segment(out.inputs[0])
            guard y2.requiresGrad else { return result }
            let r = try Engine.run(outputs: [y2], seeds: nil, variableSeeds: [gy], targets: wanted.map { out.inputs[$0] },
                                   createGraph: true, retainGraph: true)
            for i in wanted { result[i] = r[ObjectIdentifier(out.inputs[i])] ?? Variable(Tensor(shape: out.inputs[i].shape)) }
        } else {
            // First order: a fresh leaf for the input; the parameters are the layers' own leaves.
            let xr = Variable(out.inputs[0].value, requiresGrad: needs[0])
            let y2 = try withGradMode(true) { try segment(xr) }
            let targets = wanted.map { $0 == 0 ? xr : out.inputs[$0] }
            guard y2.requiresGrad else { return result }
            let g = try grad([y2], targets, gradOutputs: [gy.value], createGraph: false, retainGraph: false)
            for (k, i) in wanted.enumerated() { result[i] = g[k] }
        }
        return result
    }
}
