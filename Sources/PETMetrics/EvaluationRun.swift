// The one two-pass driver of `petgan evaluate`, shared by the 3D protocol (volumes read in depth
// slabs) and the 2D protocol (2D samples, each read whole as one slab):
//   pass 1  every item of both sets once: block-averaged copies, value range, per-item maxima, and
//           each metric's `addSlab`;
//   pairing each synthetic sample with its nearest real sample (same class when known): candidates
//           ranked on the block averages, the best of the top 3 by full-resolution MSE;
//   pass 2  every pair in lockstep, each metric's `addPairSlabs`;
//   finish  each metric in `Evaluation.metrics` order → its Codable result.
// The slab schedule does not change a single bit of the results (a test compares slab depth 2 with
// whole volumes).

import Foundation
import PETTensor
import PETVolumes

/// A set the driver reads: items (volumes or 2D samples) in runs of whole depth planes.
public protocol EvaluationSet: AnyObject {
    var path: String { get }
    var count: Int { get }
    var labels: [Int] { get }
    var names: [String] { get }
    var units: String { get }
    /// (D, H, W) of a volume, (channels, H, W) of a 2D sample.
    var itemShape: [Int] { get }
    func planeReader(_ i: Int) throws -> PlaneReading
}

/// Reads one item's depth planes in order.
public protocol PlaneReading {
    func next(depth: Int) throws -> [Float]
}

extension VolumeSlabReader: PlaneReading {}

extension VolumeSet: EvaluationSet {
    public var itemShape: [Int] { shape }
    public func planeReader(_ i: Int) throws -> PlaneReading { try slabReader(i) }
}

extension SampleSet2D: EvaluationSet {
    /// A 2D sample is read whole: its one slab holds every channel.
    final class WholeItemReader: PlaneReading {
        let values: [Float]
        init(_ values: [Float]) { self.values = values }
        func next(depth: Int) throws -> [Float] { values }
    }
    public func planeReader(_ i: Int) throws -> PlaneReading { WholeItemReader(try values(i)) }
}

/// The two sets of a run, by protocol.
public enum EvaluationInputs {
    /// 3D: volumes on one grid.
    case volumes(real: VolumeSet, synthetic: VolumeSet)
    /// 2D: (channels, H, W) samples.
    case samples2D(real: SampleSet2D, synthetic: SampleSet2D)
}

/// What pass 1 learned about one set.
public struct SetSummary {
    /// Block-averaged copy of every item (the classifiers' and MMD's input).
    public var blockAverages: [[Float]] = []
    public var lo = Float.infinity, hi = -Float.infinity
    /// Maximum of every item.
    public var maxima: [Float] = []
}

/// One evaluation in progress: its options and inputs, what pass 1 and the pairing found, the notes
/// and figures written so far. Metrics read it; the driver fills it.
public final class EvaluationRun {
    public let options: EvaluationOptions
    public let inputs: EvaluationInputs
    /// The sets as first opened (unrestricted; their chunk caches are what the run holds).
    public let opened: (real: VolumeSet, synthetic: VolumeSet)
    public let classNames: [String]
    public var classCount: Int { max(1, classNames.count) }
    public let itemShape: [Int]
    /// Depth planes per slab (2D samples: all channels, one slab per item).
    public let slabDepth: Int
    /// Block-averaging factor (in H and W; in depth too for volumes) and the averaged item shape.
    public let blockFactor: Int
    public private(set) var blockShape: [Int]
    public let figuresDirectory: String
    public internal(set) var real = SetSummary(), synthetic = SetSummary()
    /// Dynamic range of the real set (max − min(0, min)): SSIM's L, the joint histogram's span.
    public internal(set) var dataRange = 0.0
    public internal(set) var pairs: [EvaluationPair] = []
    public var notes: [String] = []
    /// Figure file name → path, for the report.
    public var figures: [String: String] = [:]
    /// Bytes metrics hold for the whole run besides slabs (an atlas), for the critic's budget.
    public var heldBytes = 0
    public let log: (String) -> Void
    /// Results of the metrics that have finished, in list order (a later metric may read an earlier one's).
    var finished: [(type: any EvaluationMetric.Type, value: any Encodable)] = []

    /// The result of a metric that finished before the caller (nil when it did not run or is later).
    public func finishedResult<M: EvaluationMetric>(of metric: M.Type) -> M.Result? {
        finished.first { ObjectIdentifier($0.type) == ObjectIdentifier(metric) }?.value as? M.Result
    }

    public var realSet: EvaluationSet { switch inputs { case let .volumes(r, _): return r; case let .samples2D(r, _): return r } }
    public var syntheticSet: EvaluationSet { switch inputs { case let .volumes(_, s): return s; case let .samples2D(_, s): return s } }
    public var isVolumes: Bool { if case .volumes = inputs { return true } else { return false } }

    init(options: EvaluationOptions, inputs: EvaluationInputs, opened: (real: VolumeSet, synthetic: VolumeSet), classNames: [String]) throws {
        self.options = options; self.inputs = inputs; self.opened = opened; self.classNames = classNames
        log = options.log ?? { _ in }
        switch inputs {
        case let .volumes(r, _):
            let shape = r.shape
            itemShape = shape
            blockFactor = Evaluation.smallFactor(shape)
            let fd = shape[0] > 1 ? blockFactor : 1
            slabDepth = fd * max(1, (options.slabDepth + fd - 1) / fd)
            blockShape = [max(1, shape[0] / fd), max(1, shape[1] / blockFactor), max(1, shape[2] / blockFactor)]
        case let .samples2D(r, _):
            itemShape = r.itemShape
            blockFactor = max(1, Int((Double(max(itemShape[1], itemShape[2])) / 32).rounded(.up)))
            slabDepth = itemShape[0]
            blockShape = []
        }
        figuresDirectory = (options.out as NSString).appendingPathComponent("figures")
    }

    /// Reads items (set, index) in lockstep, `slabDepth` planes at a time: body(slabs, first depth plane).
    public func forEachSlab(_ items: [(EvaluationSet, Int)], _ body: ([[Float]], Int) throws -> Void) throws {
        let readers = try items.map { try $0.0.planeReader($0.1) }
        let d = items[0].0.itemShape[0]
        var z = 0
        while z < d {
            let n = min(slabDepth, d - z)
            try body(try readers.map { try $0.next(depth: n) }, z)
            z += n
        }
    }

    /// Writes a figure into figures/ and records it for the report.
    public func saveFigure(_ img: RGBImage, _ name: String) throws {
        let p = (figuresDirectory as NSString).appendingPathComponent(name)
        try PNGFile.write(img, to: p)
        figures[name] = p
    }

    /// The block average of one slab: volumes average whole depth blocks (a trailing partial block is
    /// dropped, as `ImageMetrics.downsample` does), 2D samples each channel.
    func blockAverage(_ slab: [Float]) -> [Float] {
        if isVolumes {
            let plane = itemShape[1] * itemShape[2], fd = itemShape[0] > 1 ? blockFactor : 1
            let whole = (slab.count / plane / fd) * fd
            guard whole > 0 else { return [] }
            return ImageMetrics.downsample(Array(slab[0..<(whole * plane)]), shape: [whole, itemShape[1], itemShape[2]], factor: blockFactor).0
        }
        let (s, shape) = Evaluation.downsampleChannels(slab, shape: itemShape, factor: blockFactor)
        blockShape = shape
        return s
    }

    /// Runs the two passes and every metric; the results in list order.
    func drive(_ metrics: [any EvaluationMetric]) throws -> [(any EvaluationMetric.Type, (any Encodable)?)] {
        // Pass 1.
        func stream(_ set: EvaluationSet, side: EvaluationItem.Side) throws -> SetSummary {
            var summary = SetSummary()
            let p = ProgressReporter(label: side == .synthetic ? "reading synthetic" : "reading real", total: set.count, log: options.log, seconds: 2)
            for i in 0..<set.count {
                var small: [Float] = [], vmax = -Float.infinity
                let item = EvaluationItem(side: side, index: i, label: set.labels[i])
                for m in metrics { m.beginItem(item, run: self) }
                try forEachSlab([(set, i)]) { slabs, z0 in
                    let v = slabs[0]
                    for x in v { summary.lo = min(summary.lo, x); summary.hi = max(summary.hi, x); vmax = max(vmax, x) }
                    small += blockAverage(v)
                    for m in metrics { try m.addSlab(v, firstDepth: z0) }
                }
                for m in metrics { try m.endItem() }
                summary.blockAverages.append(small); summary.maxima.append(vmax)
                p.update(i + 1)
            }
            return summary
        }
        real = try stream(realSet, side: .real)
        synthetic = try stream(syntheticSet, side: .synthetic)
        dataRange = Double(real.hi - min(0, real.lo))
        guard dataRange > 0 else {
            throw MetricsError.badInput(path: options.real, reason: "every real \(isVolumes ? "volume" : "sample") is constant (\(real.hi))")
        }

        // Pairing, then pass 2 pair by pair.
        let rs = realSet, ss = syntheticSet
        let pairCount = min(ss.count, options.maxPairs ?? ss.count)
        var pairOrder = Array(0..<ss.count)
        var prng = PETRandom(seed: options.seed)
        if pairCount < ss.count { prng.shuffle(&pairOrder) }
        let pp = ProgressReporter(label: "nearest-real pairs", total: pairCount, log: options.log, seconds: 2)
        let voxels = Double(itemShape.reduce(1, *))
        for (n, si) in pairOrder.prefix(pairCount).enumerated() {
            let c = ss.labels[si]
            var cand = (0..<rs.count).filter { c < 0 || rs.labels[$0] == c }
            if cand.isEmpty { cand = Array(0..<rs.count) }
            let coarse = Dictionary(uniqueKeysWithValues: cand.map { ($0, ImageMetrics.mse(real.blockAverages[$0], synthetic.blockAverages[si])) })
            cand.sort { coarse[$0]! < coarse[$1]! }
            // Full-resolution MSE of the top 3 in one pass over the synthetic sample.
            let top = Array(cand.prefix(3))
            var sums = [Double](repeating: 0, count: top.count)
            try forEachSlab([(ss, si)] + top.map { (rs, $0) }) { slabs, _ in
                let sv = slabs[0]
                for t in 0..<top.count {
                    let rv = slabs[t + 1]
                    var acc = sums[t]
                    for i in 0..<sv.count { let d = Double(rv[i]) - Double(sv[i]); acc += d * d }
                    sums[t] = acc
                }
            }
            var best = -1, bestMSE = Double.infinity
            for (t, ri) in top.enumerated() where sums[t] / voxels < bestMSE { best = ri; bestMSE = sums[t] / voxels }
            let pair = EvaluationPair(synthetic: si, real: best)
            pairs.append(pair)
            for m in metrics { try m.beginPair(pair, run: self) }
            try forEachSlab([(rs, best), (ss, si)]) { slabs, z0 in
                for m in metrics { try m.addPairSlabs(real: slabs[0], synthetic: slabs[1], firstDepth: z0) }
            }
            for m in metrics { try m.endPair() }
            pp.update(n + 1)
        }

        return try metrics.map { m in
            let r = try m.finish(self)
            if let r { finished.append((type(of: m), r)) }
            return (type(of: m), r)
        }
    }
}

extension Evaluation {
    /// Block-averaging factor that brings the largest axis to at most 32 voxels.
    static func smallFactor(_ shape: [Int]) -> Int { max(1, Int((Double(shape.max()!) / 32).rounded(.up))) }

    /// Scales of MS-SSIM that fit: the coarsest scale must still hold an 11-voxel window.
    static func msssimScales(_ shape: [Int]) -> Int {
        var s = 1, m = shape.filter { $0 > 1 }.min()!
        while s < 5 && m / 2 >= 11 { s += 1; m /= 2 }
        return s
    }
}
