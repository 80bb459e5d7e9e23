import Foundation
import PETAutograd
import PETTensor

// A network is a list of blocks; its forward pass, activation recomputation, layer trace, tiled
// execution and memory estimate are all read from that list (Networks.swift, RecomputePlan.swift,
// TiledCritic.swift, Generation.swift), so a block is written once.

/// One block of a network: a layer (convolution or transposed convolution, 2D or 3D, or a dense
/// projection / head), then an optional normalization, then an optional activation. Batch norm
/// followed by a (leaky) ReLU runs as one fused op (`BatchNorm.forwardActivated`: half the kept
/// activations of the composite).
public final class NetworkBlock {
    /// The layer's name in the network's state dict ("ups.0", "project"); the block's name in layer
    /// traces and recomputation.
    public let name: String
    public let layer: Module
    /// The norm's name in the state dict ("norms.0", "bn0").
    public let normName: String?
    public let norm: (Module & BackwardFootprint)?
    public let activation: (Module & BackwardFootprint)?
    /// Output shape of one sample (C, spatial...): what memory estimates count.
    public let outputShape: [Int]

    public init(_ name: String, _ layer: Module, norm: (name: String, layer: Module & BackwardFootprint)? = nil,
                activation: (Module & BackwardFootprint)? = nil, outputShape: [Int]) {
        self.name = name
        self.layer = layer
        normName = norm?.name
        self.norm = norm?.layer
        self.activation = activation
        self.outputShape = outputShape
    }

    /// x → activation(norm(layer(x))).
    public func callAsFunction(_ x: Variable) throws -> Variable { try normalizedAndActivated(layer(x)) }

    /// The part after the layer: norm, then activation (fused for batch norm + rectifier).
    public func normalizedAndActivated(_ y: Variable) throws -> Variable {
        if let bn = norm as? BatchNorm, let r = activation as? Rectifier {
            return try bn.forwardActivated(y, negativeSlope: r.negativeSlope)
        }
        let n = try norm.map { try $0(y) } ?? y
        return try activation.map { try $0(n) } ?? n
    }

    /// Its layers in the order they run: layer, norm, activation (tiled execution runs these).
    public var layers: [Module] { [layer] + [norm, activation].compactMap { $0 } }

    /// Its state-dict entries: (name, layer) and (name, norm).
    var namedLayers: [(String, Module)] { [(name, layer)] + (norm.map { [(normName!, $0)] } ?? []) }

    /// Every variable it uses that may require a gradient (what activation checkpointing re-runs it with).
    public var parameters: [Variable] { layer.parameters + (norm?.parameters ?? []) }

    /// Tensors of its output's size the block keeps for backward: its layer's output (the next op's
    /// input), then what the norm and the activation keep (fused batch norm + activation: one).
    public var keptTensorsForBackward: Int {
        if let bn = norm as? BatchNorm, activation is Rectifier { return 1 + bn.keptTensorsForBackwardActivated }
        return 1 + (norm?.keptTensorsForBackward ?? 0) + (activation?.keptTensorsForBackward ?? 0)
    }

    /// Runs the block, with activation checkpointing when `recompute` (its internals are recomputed in
    /// backward instead of kept; the gradients are the same). `owner` prefixes the checkpoint's name.
    func run(_ x: Variable, recompute: Bool, owner: String) throws -> Variable {
        guard recompute else { return try self(x) }
        return try checkpoint(x, parameters: parameters, name: "checkpoint(\(owner).\(name))") { v in try self(v) }
    }
}

extension Array where Element == NetworkBlock {
    /// The blocks' state-dict entries grouped by family (a name without its index: "ups", "norms"),
    /// families in order of first appearance, members in block order. Module reflection listed the
    /// networks' stored properties this way before they were lists of blocks; weight initialization
    /// draws its random numbers in this order, so the order is part of a seeded run.
    var familyOrderedLayers: [(String, Module)] {
        func family(_ name: String) -> Substring {
            guard let dot = name.lastIndex(of: "."), Int(name[name.index(after: dot)...]) != nil else { return Substring(name) }
            return name[..<dot]
        }
        let all = flatMap(\.namedLayers)
        var families: [Substring] = []
        for (n, _) in all where !families.contains(family(n)) { families.append(family(n)) }
        return families.flatMap { f in all.filter { family($0.0) == f } }
    }

    /// Runs the blocks in order on `x`, returning the output and each block's name with the shape
    /// of its layer's output.
    func traced(_ x: Variable) throws -> (Variable, [(String, [Int])]) {
        var x = x, trace: [(String, [Int])] = []
        for b in self {
            let y = try b.layer(x)
            trace.append((b.name, y.shape))
            x = try b.normalizedAndActivated(y)
        }
        return (x, trace)
    }
}
