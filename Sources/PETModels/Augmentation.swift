import Foundation
import PETAutograd
import PETTensor

// Differentiable augmentation (`--augment translation,cutout,intensity[,flip-lr]`), in the manner of
// DiffAugment (Zhao et al., NeurIPS 2020): the discriminator sees every input, real or generated,
// through the same random policy, built of differentiable ops, so the generator is trained through
// the augmentation and the augmentation does not leak into its samples. Parameters are drawn
// independently per sample and per call (a real batch and a generated batch get different draws of
// the same policy) from the run's noise stream, so a run stays a function of its seed and resumes
// exactly. Adapted to PET in a normalised store ([−1, 1], background −1):
//   translation=r   integer shift per axis, uniform in [−⌊r·side + ½⌋, +⌊r·side + ½⌋] (DiffAugment's
//                   rule, r = 1/8), vacated voxels set to −1 (background), not 0 (DiffAugment's zero
//                   padding would be a mid-grey slab in a PET store);
//   cutout=r        one box per sample of ⌊r·side + ½⌋ voxels per axis, centre uniform (DiffAugment's
//                   rule, r = 1/2), set to −1;
//   intensity=a     uptake scaling about the background: (x + 1)·s − 1, s uniform in [1 − a, 1 + a]
//                   (a = 0.2). DiffAugment's brightness shift and contrast about the mean would move
//                   the background off −1; a global scale is the PET analogue (injected dose, body
//                   weight, reference region);
//   flip-lr=p       left-right flip (the last array axis, NIfTI x) with probability p (0.5). Not on
//                   by default: hemispheric asymmetry is part of AD's pattern (asymmetric
//                   temporoparietal hypometabolism), and a flipped scan is a different subject's.
// The ops run in this fixed order (intensity, flip, translation, cutout), whatever order they are
// written in, so a policy string has one meaning.
//   adaptive=t      ADA (Karras et al., NeurIPS 2020): each op is applied to each sample with a
//                   probability p that the run adjusts from the discriminator's overfitting signal
//                   (target t for r = E[sign(D(real))], 0.6 as in ADA; AdaptiveAugmentation.swift).

/// One augmentation op of `--augment`.
public enum AugmentOp: String, SettingChoice {
    case intensity
    case flipLR = "flip-lr"
    case translation
    case cutout

    /// The strength when none is written: DiffAugment's translation 1/8 and cutout 1/2; intensity
    /// ±20 %; flip probability 1/2.
    public var defaultStrength: Double {
        switch self {
        case .intensity: return 0.2
        case .flipLR: return 0.5
        case .translation: return 0.125
        case .cutout: return 0.5
        }
    }

    /// The allowed strengths: fractions of a side (translation, cutout), a scale range below 1
    /// (intensity) and a probability (flip).
    var strengthRange: ClosedRange<Double> {
        switch self {
        case .intensity: return 0...0.99
        case .flipLR, .translation, .cutout: return 0...1
        }
    }
}

/// A parsed `--augment` policy: each op at most once with its strength, in application order.
public struct AugmentPolicy: Equatable, Sendable, CustomStringConvertible {
    public private(set) var strengths: [AugmentOp: Double] = [:]
    /// `adaptive=t`: the target of the overfitting signal r (nil: every op on every sample, always).
    public private(set) var adaptiveTarget: Double?
    /// ADA's target for r = E[sign(D(real))] (Karras et al. 2020, section 3).
    public static let defaultAdaptiveTarget = 0.6
    /// The value background voxels have in a normalised store (and what translation and cutout fill).
    public static let background: Float = -1

    public init() {}

    public var isEmpty: Bool { strengths.isEmpty }

    /// Ops in the order they run.
    public var ops: [(AugmentOp, Double)] { AugmentOp.allCases.compactMap { op in strengths[op].map { (op, $0) } } }

    /// "translation=0.125,cutout=0.5": the canonical spelling (empty: no augmentation).
    public var description: String {
        (ops.map { "\($0.0.rawValue)=\(formatStrength($0.1))" } + (adaptiveTarget.map { ["adaptive=\(formatStrength($0))"] } ?? []))
            .joined(separator: ",")
    }

    /// Parses "translation,cutout=0.4,intensity" ("" or "none": no augmentation); the error names
    /// the setting and the reason.
    public static func parse(_ text: String, source: String = "--augment") throws -> AugmentPolicy {
        var p = AugmentPolicy()
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.isEmpty || t == "none" { return p }
        for item in t.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.first == "adaptive" {
                guard p.adaptiveTarget == nil else { throw ConfigError.badValue(source: source, key: "augment", reason: "'adaptive' is given more than once") }
                var t = defaultAdaptiveTarget
                if parts.count == 2 {
                    guard let v = Double(parts[1]), v.isFinite, v > 0, v < 1 else {
                        throw ConfigError.badValue(source: source, key: "augment", reason: "the target of adaptive (for E[sign(D(real))]) must be a number between 0 and 1, exclusive, got '\(parts[1])'")
                    }
                    t = v
                }
                p.adaptiveTarget = t
                continue
            }
            guard let name = parts.first, let op = AugmentOp(rawValue: name) else {
                throw ConfigError.badValue(source: source, key: "augment", reason: "unknown augmentation '\(item)' (known: \(AugmentOp.choiceList), each optionally =strength, and adaptive[=target])")
            }
            guard p.strengths[op] == nil else { throw ConfigError.badValue(source: source, key: "augment", reason: "'\(op.rawValue)' is given more than once") }
            var s = op.defaultStrength
            if parts.count == 2 {
                guard let v = Double(parts[1]), v.isFinite, op.strengthRange.contains(v) else {
                    throw ConfigError.badValue(source: source, key: "augment", reason: "strength of \(op.rawValue) must be a number in \(op.strengthRange.lowerBound)…\(op.strengthRange.upperBound), got '\(parts[1])'")
                }
                s = v
            }
            p.strengths[op] = s
        }
        if p.adaptiveTarget != nil && p.strengths.isEmpty {
            throw ConfigError.badValue(source: source, key: "augment", reason: "'adaptive' adjusts how often the listed ops apply, but none is listed (e.g. translation,cutout,intensity,adaptive)")
        }
        return p
    }

    /// The per-sample parameters of one call, drawn from `rng` in a fixed order (op by op, sample by
    /// sample): what `apply(_:parameters:)` uses. Drawing them apart from applying them lets tests
    /// check the ops against plain references with the very same parameters.
    public struct Draw: Equatable, Sendable {
        public var scales: [Float]? = nil
        public var flips: [Bool]? = nil
        public var shifts: [[Int]]? = nil
        /// Per sample and axis, the half-open box [lo, hi).
        public var boxes: [[(Int, Int)]]? = nil

        public static func == (a: Draw, b: Draw) -> Bool {
            a.scales == b.scales && a.flips == b.flips && a.shifts == b.shifts
                && a.boxes?.map { $0.map { [$0.0, $0.1] } } == b.boxes?.map { $0.map { [$0.0, $0.1] } }
        }

        /// The draws of samples `r` only (a rank's share of a global batch's draw).
        public func rows(_ r: Range<Int>) -> Draw {
            Draw(scales: scales.map { Array($0[r]) }, flips: flips.map { Array($0[r]) },
                 shifts: shifts.map { Array($0[r]) }, boxes: boxes.map { Array($0[r]) })
        }
    }

    /// Parameters for a batch of `n` samples of spatial shape `spatial`. With a `probability` p
    /// (adaptive policies), each op's parameters are drawn as always and then, per sample, kept with
    /// probability p and otherwise replaced by the op's identity (scale 1, no flip, no shift, an empty
    /// box); one uniform number per op and sample, drawn after the op's parameters.
    public func draw(n: Int, spatial: [Int], probability: Double? = nil, rng: inout PETRandom) -> Draw {
        var d = Draw()
        for (op, s) in ops {
            switch op {
            case .intensity:
                d.scales = (0..<n).map { _ in rng.uniform(Float(1 - s), Float(1 + s)) }
            case .flipLR:
                d.flips = (0..<n).map { _ in rng.uniformDouble() < s }
            case .translation:
                d.shifts = (0..<n).map { _ in
                    spatial.map { side in let m = Int(Double(side) * s + 0.5); return rng.int(below: 2 * m + 1) - m }
                }
            case .cutout:
                d.boxes = (0..<n).map { _ in
                    spatial.map { side -> (Int, Int) in
                        let size = Int(Double(side) * s + 0.5)
                        let centre = rng.int(below: side + (1 - size % 2))
                        let lo = centre - size / 2
                        return (max(0, lo), min(side, lo + size))
                    }
                }
            }
            guard let p = probability else { continue }
            for i in 0..<n where !(rng.uniformDouble() < p) {
                switch op {
                case .intensity: d.scales![i] = 1
                case .flipLR: d.flips![i] = false
                case .translation: d.shifts![i] = spatial.map { _ in 0 }
                case .cutout: d.boxes![i] = spatial.map { _ in (0, 0) }
                }
            }
        }
        return d
    }

    /// x: (N, C, spatial...) → the augmented batch, differentiable in x.
    public func apply(_ x: Variable, rng: inout PETRandom) throws -> Variable {
        guard !isEmpty else { return x }
        return try apply(x, parameters: draw(n: x.shape[0], spatial: Array(x.shape.dropFirst(2)), rng: &rng))
    }

    /// x augmented with given parameters.
    public func apply(_ x: Variable, parameters d: Draw) throws -> Variable {
        let n = x.shape[0], ones = [Int](repeating: 1, count: x.rank - 1)
        var y = x
        if let scales = d.scales {
            // (x − b)·s + b with b = −1, in this order: the background stays exactly −1.
            let s = Tensor(shape: [n] + ones)
            for i in 0..<n { s.data[i] = scales[i] }
            y = try (y - AugmentPolicy.background) * Variable(s) + AugmentPolicy.background
        }
        if let flips = d.flips, flips.contains(true) { y = try flipped(y, axis: y.rank - 1, samples: flips) }
        if let shifts = d.shifts { y = try translated(y, shifts: shifts, fill: AugmentPolicy.background) }
        if let boxes = d.boxes {
            // y·keep + background·(1 − keep), keep = 0 inside the box: constants broadcast over channels.
            let spatial = Array(y.shape.dropFirst(2))
            let keep = Tensor(shape: [n, 1] + spatial), filled = Tensor(shape: [n, 1] + spatial)
            let per = spatial.reduce(1, *)
            for i in 0..<n {
                forEachPosition(spatial) { idx, c in
                    let inside = zip(c, boxes[i]).allSatisfy { $0 >= $1.0 && $0 < $1.1 }
                    keep.data[i * per + idx] = inside ? 0 : 1
                    filled.data[i * per + idx] = inside ? AugmentPolicy.background : 0
                }
            }
            y = try y * Variable(keep) + Variable(filled)
        }
        return y
    }
}

/// Calls `body(linearIndex, coordinates)` for every position of a row-major grid.
func forEachPosition(_ shape: [Int], _ body: (Int, [Int]) -> Void) {
    let n = shape.reduce(1, *)
    var c = [Int](repeating: 0, count: shape.count)
    for i in 0..<n {
        body(i, c)
        var a = shape.count - 1
        while a >= 0 { c[a] += 1; if c[a] < shape[a] { break }; c[a] = 0; a -= 1 }
    }
}

func formatStrength(_ x: Double) -> String {
    x == x.rounded() ? String(Int(x)) : String(x)
}
