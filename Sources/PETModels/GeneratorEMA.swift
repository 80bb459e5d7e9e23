import Foundation
import PETAutograd
import PETTensor

// The generator's exponential moving average (`--g-ema 0.999`), for every model: after each
// generator update, θ̄ ← β_t·θ̄ + (1 − β_t)·θ over the generator's parameters, as FastGAN's train.py
// (β = 0.999), StyleGAN and BigGAN keep one and sample with it. Ramp-up: β_t = min(β, (1 + t)/(10 + t))
// after t earlier updates (tf.train.ExponentialMovingAverage's num_updates rule), so the average
// does not remember the random initialization for thousands of steps. Batch-norm running
// statistics are not averaged: sampling with θ̄ uses the raw generator's (as FastGAN's
// copy_G_params / load_params swap the parameters only). Checkpoints keep θ̄ beside θ as "GEMA.<name>".

/// Moving averages of a generator's parameters.
public final class GeneratorEMA {
    public let decay: Double
    /// Parameter name → its average, for the generator's parameters in state-dict order.
    public let names: [String]
    public let averages: [Tensor]
    let parameters: [Variable]
    /// Updates so far (the ramp-up's t); equals the training step.
    public var updates = 0

    public static let prefix = "GEMA"

    /// Starts the averages at the generator's current parameters.
    public init(_ generator: Generator, decay: Double) {
        self.decay = decay
        let named = generator.namedParameters()
        names = named.map(\.0)
        parameters = named.map(\.1)
        averages = parameters.map { $0.value.copy() }
    }

    /// β_t for the next update.
    public var currentDecay: Double { min(decay, (1 + Double(updates)) / (10 + Double(updates))) }

    /// θ̄ ← β_t·θ̄ + (1 − β_t)·θ (in Double per element, then rounded: the same bits on any thread count).
    public func update() {
        let b = currentDecay
        for (a, p) in zip(averages, parameters) {
            let pa = a.data, pp = p.value.data
            for i in 0..<a.count { pa[i] = Float(b * Double(pa[i]) + (1 - b) * Double(pp[i])) }
        }
        updates += 1
    }

    /// Runs `body` with the averages in the generator's parameters, then puts the raw ones back.
    public func withAverages<T>(_ body: () throws -> T) rethrows -> T {
        let raw = parameters.map(\.value)
        for (p, a) in zip(parameters, averages) { p.value = a }
        defer { for (p, r) in zip(parameters, raw) { p.value = r } }
        return try body()
    }

    /// Copies the averages into the generator's parameters for good (a loaded model that samples).
    public func install() {
        for (p, a) in zip(parameters, averages) { p.value.data.update(from: a.data, count: a.count) }
    }

    public func stateDict() -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: zip(names, averages).map { (GeneratorEMA.prefix + "." + $0.0, $0.1) })
    }

    public func stateShapes() -> [String: [Int]] {
        Dictionary(uniqueKeysWithValues: zip(names, averages).map { (GeneratorEMA.prefix + "." + $0.0, $0.1.shape) })
    }

    /// Loads averages saved by `stateDict` (their presence and shapes are checked by the checkpoint manifest).
    public func load(_ tensors: [String: Tensor]) throws {
        for (n, a) in zip(names, averages) {
            guard let t = tensors[GeneratorEMA.prefix + "." + n], t.shape == a.shape else {
                throw CheckpointError.notACheckpoint(file: "", reason: "the generator average \(GeneratorEMA.prefix).\(n) is missing or has another shape")
            }
            a.data.update(from: t.data, count: a.count)
        }
    }
}
