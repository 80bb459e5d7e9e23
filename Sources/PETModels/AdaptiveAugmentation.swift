import PETTensor

// Adaptive augmentation strength (`--augment …,adaptive[=0.6]`), after ADA (Karras et al., "Training
// generative adversarial networks with limited data", NeurIPS 2020, section 3): every op of the
// policy is applied to each sample with a probability p that starts at 0 and is adjusted from the
// discriminator's overfitting signal r = E[sign(D(real) − threshold)] on the real batches (ADA's
// r_t; the threshold is 0 for BCE logits and hinge scores, and the midpoint of the batch's real and
// generated mean scores for Wasserstein critics, whose scores have no fixed zero: the same rule as
// the logged acc_d). A discriminator that overfits puts every real sample on the real side (r → 1).
// Every `interval` critic batches (ADA's N = 4) p moves by sign(r̄ − target) · images / speed, where
// images is the number of real samples those batches held (the whole global batch under mpirun) and
// speed the number of images over which p could go from 0 to 1 (`augment_speed`; ADA: 500k images,
// for runs of many millions; this project's runs see tens of thousands, hence the smaller default).
// The state is four floats kept in checkpoints ("augment_ada"), so a resumed run continues exactly.

/// The adaptive probability of an augmentation policy, and the rule that moves it.
public struct AdaptiveAugmentation: Equatable, Sendable {
    /// The target of r (ADA: 0.6).
    public let target: Double
    /// Real images over which p can go from 0 to 1.
    public let speedImages: Double
    /// Critic batches between adjustments (ADA's N = 4).
    public static let interval = 4
    /// Name of the state tensor in checkpoints: [p, Σ sign, real samples, batches] since the last adjustment.
    public static let stateName = "augment_ada"

    /// The probability each op is applied to a sample with, in [0, 1].
    public private(set) var probability: Float = 0
    /// r summed over the real samples since the last adjustment, and how many samples and batches.
    private(set) var signSum: Float = 0
    private(set) var samples: Float = 0
    private(set) var batches: Float = 0
    /// r̄ of the last adjustment (nil before the first).
    public private(set) var lastSignal: Float?

    public init(target: Double, speedImages: Double) {
        self.target = target
        self.speedImages = speedImages
    }

    /// Records `batches` critic batches of `samples` real samples in all whose signs summed to
    /// `signs`, and adjusts p once `interval` batches have been recorded. Integer counts (exact in
    /// the Float state up to 2^24) keep p independent of how the samples were split over ranks.
    public mutating func record(signs: Int, batches k: Int, samples n: Int) {
        signSum += Float(signs)
        samples += Float(n)
        batches += Float(k)
        guard batches >= Float(AdaptiveAugmentation.interval), samples > 0 else { return }
        let r = signSum / samples
        let direction: Float = Double(r) > target ? 1 : (Double(r) < target ? -1 : 0)
        probability = min(1, max(0, probability + direction * samples / Float(speedImages)))
        lastSignal = r
        (signSum, samples, batches) = (0, 0, 0)
    }

    public func stateDict() -> [String: Tensor] {
        [AdaptiveAugmentation.stateName: Tensor(shape: [4], values: [probability, signSum, samples, batches])]
    }

    public static var stateShapes: [String: [Int]] { [stateName: [4]] }

    /// Loads what `stateDict` saved (presence and shape are checked by the checkpoint manifest).
    public mutating func load(_ tensors: [String: Tensor]) throws {
        guard let t = tensors[AdaptiveAugmentation.stateName], t.shape == [4] else {
            throw CheckpointError.notACheckpoint(file: "", reason: "the adaptive augmentation state \(AdaptiveAugmentation.stateName) is missing or has another shape")
        }
        let v = (0..<4).map { t.data[$0] }
        guard v.allSatisfy(\.isFinite), (0...1).contains(v[0]), v[2] >= 0, v[3] >= 0 else {
            throw CheckpointError.notACheckpoint(file: "", reason: "the adaptive augmentation state \(AdaptiveAugmentation.stateName) holds \(v), not a probability in [0, 1] and counts")
        }
        (probability, signSum, samples, batches) = (v[0], v[1], v[2], v[3])
    }
}

/// ADA's r for one batch of scores: the mean of sign(score − threshold) (threshold nil: the midpoint
/// of the real and generated mean scores, as `accuracy` uses).
func meanSign(real: Tensor, fake: Tensor, threshold: Float?) -> Double {
    let t = threshold ?? (mean(real) + mean(fake)) / 2
    var s = 0
    for i in 0..<real.count { s += real.data[i] > t ? 1 : (real.data[i] < t ? -1 : 0) }
    return Double(s) / Double(max(1, real.count))
}
