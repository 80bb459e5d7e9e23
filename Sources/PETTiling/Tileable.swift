import Foundation
import PETAutograd
import PETTensor

// Which layers a tiled stack can run, said by each layer (by extension here, so PETAutograd knows
// nothing of tiling): a layer is tileable when its output at a voxel depends on a bounded
// neighbourhood of its input; it runs as one or more `TileStage`s.

/// A layer that can run in a tiled stack.
public protocol Tileable {
    /// The stages this layer runs as, in order. Throws `TilingRefusal` when it cannot be tiled in
    /// its current state (e.g. batch norm in training mode).
    func tileStages() throws -> [TileStage]
}

/// Why one layer cannot be tiled; `TiledStack` reports it as `TilingError.unsupportedLayer` with the
/// layer's index.
public struct TilingRefusal: Error {
    public var layer: String
    public var reason: String
    public init(_ layer: Module, reason: String) {
        self.layer = String(describing: type(of: layer))
        self.reason = reason
    }
    static let boundedOnly = "only convolutions, transposed convolutions, nearest up-sampling, eval-mode batch norm and pointwise activations have a bounded receptive field"
}

/// A layer applied as itself, voxel by voxel, named by its type.
private func pointwise(_ m: Module) -> TileStage { .pointwise(m, name: String(describing: type(of: m))) }

extension Conv3dLayer: Tileable {
    public func tileStages() throws -> [TileStage] { [.conv(weight: weight.value, bias: bias?.value, params: params)] }
}

extension ConvTranspose3dLayer: Tileable {
    public func tileStages() throws -> [TileStage] { [.convTranspose(weight: weight.value, bias: bias?.value, params: params)] }
}

extension BatchNorm: Tileable {
    public func tileStages() throws -> [TileStage] {
        guard !isTraining else {
            throw TilingRefusal(self, reason: "batch norm in training mode normalises with statistics of the whole batch; call eval() first")
        }
        guard self is BatchNorm3d else { throw TilingRefusal(self, reason: "only 3-D (N, C, D, H, W) stacks are tiled") }
        return [pointwise(self)]
    }
}

/// Voxel by voxel: the same interval in and out.
extension ReLU: Tileable { public func tileStages() throws -> [TileStage] { [pointwise(self)] } }
extension LeakyReLU: Tileable { public func tileStages() throws -> [TileStage] { [pointwise(self)] } }
extension Tanh: Tileable { public func tileStages() throws -> [TileStage] { [pointwise(self)] } }
extension Sigmoid: Tileable { public func tileStages() throws -> [TileStage] { [pointwise(self)] } }
extension Identity: Tileable { public func tileStages() throws -> [TileStage] { [pointwise(self)] } }
/// Voxel by voxel, the first half of the channels gated by the second: C → C/2.
extension GLU: Tileable { public func tileStages() throws -> [TileStage] { [.voxelwise(self, name: "GLU", outChannels: { $0 / 2 })] } }
/// Voxel by voxel with a per-sample constant (the gate of a skip-layer excitation, computed whole).
extension ChannelGate: Tileable { public func tileStages() throws -> [TileStage] { [.voxelwise(self, name: "ChannelGate", outChannels: { $0 })] } }
/// y[i] = x[⌊i/f⌋]: a bounded (one-voxel) neighbourhood.
extension UpsampleNearest: Tileable {
    public func tileStages() throws -> [TileStage] { [.upsampleNearest(factor: [factor, factor, factor])] }
}

/// Its layers in order, flattened.
extension Sequential: Tileable {
    public func tileStages() throws -> [TileStage] {
        try layers.flatMap { _, m -> [TileStage] in
            guard let t = m as? any Tileable else { throw TilingRefusal(m, reason: TilingRefusal.boundedOnly) }
            return try t.tileStages()
        }
    }
}

/// Statistics over a whole sample: every output voxel depends on every input voxel.
extension LayerNorm: Tileable {
    public func tileStages() throws -> [TileStage] {
        throw TilingRefusal(self, reason: "it normalises with statistics of the whole sample; " + TilingRefusal.boundedOnly)
    }
}

extension InstanceNorm3d: Tileable {
    public func tileStages() throws -> [TileStage] {
        throw TilingRefusal(self, reason: "it normalises with statistics of the whole volume; " + TilingRefusal.boundedOnly)
    }
}

extension InstanceNormAny: Tileable {
    public func tileStages() throws -> [TileStage] {
        throw TilingRefusal(self, reason: "it normalises with statistics of the whole volume; " + TilingRefusal.boundedOnly)
    }
}
