// `petgan bench hierarchical` (issue 19, deliverable 5): one training step (time, peak RSS) of each
// given model at each given grid, the same channel widths everywhere: the full-resolution 3D
// WGAN-GP at 2 mm (96×112×96, the reference), 1.5 mm and 1 mm where it fits in the given memory,
// and any other model kind (hagan3d once merged) beside it. A case whose step-memory estimate
// (RecomputePlan, with activation checkpointing chosen to fit unless --no-recompute) is over the
// limit is reported as "does not fit in N GB" with the estimate, not run into swap. Each case runs
// in its own process (`--row-output`), so its peak RSS (VmHWM) is its own. Random data and weights:
// step time and memory do not depend on the values.
import Foundation
import PETAutograd
import PETModels
import PETTensor

/// A model the harness trains: its step and its memory estimate. GAN models (every `ModelKind`
/// GANModel builds) come through `GANModelTraining`; a model with its own training step conforms
/// itself and is returned by `HierarchicalBenchmark.training(for:)`.
public protocol BenchmarkedTraining: AnyObject {
    /// Estimated peak bytes of one step with the plan in use, and with no recomputation.
    var estimatedBytes: Int { get }
    var estimatedBytesWithout: Int { get }
    /// What is recomputed (or "none"), for the row.
    var planDescription: String { get }
    var parameterCount: Int { get }
    /// One training step (critic and generator updates) on random data.
    func step(rng: inout PETRandom) throws -> StepMetrics
}

/// A GANModel's training step on a random real batch (uniform in [−1, 1]), with the recomputation
/// plan chosen for the memory limit.
public final class GANModelTraining: BenchmarkedTraining {
    public let model: GANModel
    public let plan: RecomputePlan
    let real: [(Tensor, [Int])]

    /// Builds the model; nil plan limit: keep every activation.
    public init(_ c: HierarchicalBenchmark.Case, recomputeWithin limit: Int?) throws {
        var cfg = TrainConfig.defaults(for: c.model)
        cfg.gChannels = c.gChannels
        cfg.dChannels = c.dChannels
        cfg.batch = c.batch
        cfg.nCritic = 1
        cfg.conditional = c.classes > 0
        cfg.data = "benchmark"
        let geo = NetworkGeometry(dims: 3, channels: 1, imageShape: c.grid, layers: c.gChannels.count, conditionalClasses: c.classes)
        try geo.validate()
        var rng = PETRandom(seed: c.seed)
        model = try GANModel(config: cfg, geometry: geo, rng: &rng)
        var p = RecomputePlan()
        p.estimatedBytesWithout = RecomputePlan.estimate(model, batch: c.batch, plan: p)
        p.estimatedBytes = p.estimatedBytesWithout
        if let l = limit, p.estimatedBytes > l, let chosen = try? RecomputePlan.choose(model, batch: c.batch, budgetBytes: l) {
            p = chosen
        } else if let l = limit, p.estimatedBytes > l {
            p = RecomputePlan.all(model, batch: c.batch)   // the least it can need, reported as not fitting
        }
        plan = p
        plan.apply(to: model)
        let x = Tensor.uniform([c.batch, 1] + c.grid, low: -1, high: 1, rng: &rng)
        real = [(x, (0..<c.batch).map { c.classes > 0 ? $0 % c.classes : 0 })]
    }

    public var estimatedBytes: Int { plan.estimatedBytes }
    public var estimatedBytesWithout: Int { plan.estimatedBytesWithout }
    public var planDescription: String {
        func list(_ s: Set<Int>) -> String { s.isEmpty ? "none" : s.sorted().map(String.init).joined(separator: ",") }
        return "recompute G \(list(plan.generatorBlocks)) D \(list(plan.discriminatorBlocks))"
    }
    public var parameterCount: Int { model.generator.parameterCount + model.discriminator.parameterCount }
    public func step(rng: inout PETRandom) throws -> StepMetrics { try model.trainStep(real: real, rng: &rng) }
}

public enum HierarchicalBenchmark {
    public struct Case: Sendable {
        public var model: ModelKind
        /// Image grid (D, H, W).
        public var grid: [Int]
        /// Voxel size in mm the grid stands for (reported; the data are random).
        public var voxelMM: Double
        public var batch = 4
        /// Conditional on this many classes (the phantom's NC, MCI, AD); 0: unconditional.
        public var classes = 3
        public var gChannels = [256, 128, 64, 32]
        public var dChannels = [32, 64, 128, 256]
        /// Memory the case must fit in (its step estimate is checked before anything runs).
        public var limitBytes: Int
        /// Choose activation checkpointing so the estimate fits the limit (else keep every activation).
        public var recompute = true
        /// Training steps; the first is an untimed warm-up.
        public var steps = 2
        public var seed: UInt64 = 1
        public init(model: ModelKind, grid: [Int], voxelMM: Double, limitBytes: Int) {
            self.model = model; self.grid = grid; self.voxelMM = voxelMM; self.limitBytes = limitBytes
        }
    }

    /// The model the case trains. GANModel builds every `ModelKind` today; a kind with its own
    /// training step (not a GANModel) gets its `BenchmarkedTraining` here.
    public static func training(for c: Case) throws -> BenchmarkedTraining {
        try GANModelTraining(c, recomputeWithin: c.recompute ? c.limitBytes : nil)
    }

    /// Runs one case in this process: the estimate first; steps only when it fits the limit.
    public static func run(_ c: Case, log: (String) -> Void = { _ in }) throws -> HierarchicalRow {
        let t = try training(for: c)
        var row = HierarchicalRow(c, estimatedMB: t.estimatedBytes >> 20, estimatedWithoutMB: t.estimatedBytesWithout >> 20,
                                  plan: t.planDescription, parameters: t.parameterCount)
        log("\(c.model.rawValue) \(c.grid.map(String.init).joined(separator: "×")): \(t.planDescription), estimate \(formatBytes(t.estimatedBytes)) (\(formatBytes(t.estimatedBytesWithout)) keeping every activation), limit \(formatBytes(c.limitBytes))")
        guard t.estimatedBytes <= c.limitBytes else {
            row.fits = false
            row.note = String(format: "does not fit in %@: a step needs about %@ by the estimate%@", gigabytes(c.limitBytes), gigabytes(t.estimatedBytes),
                              c.recompute ? " with every block recomputed" : " keeping every activation")
            return row
        }
        var noise = PETRandom(seed: c.seed &+ 1)
        ScratchPool.shared.trim()
        _ = resetPeakResident()
        MemoryAccountant.shared.resetPeak()
        var times: [Double] = []
        var last: StepMetrics? = nil
        for s in 0..<max(1, c.steps) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            last = try t.step(rng: &noise)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            log(String(format: "step %d: %.2f s, peak RSS %.0f MB", s + 1, times.last!, Double(peakResidentBytes()) / 1_048_576))
        }
        let timed = times.count > 1 ? Array(times.dropFirst()) : times
        row.seconds = r3(timed.sorted()[timed.count / 2])
        row.firstStepSeconds = r3(times[0])
        row.steps = times.count
        row.peakRSSMB = r3(Double(peakResidentBytes()) / 1_048_576)
        row.countedPeakMB = r3(Double(MemoryAccountant.shared.peakBytes) / 1_048_576)
        row.lossD = last?.lossD
        row.lossG = last?.lossG
        return row
    }

    /// Every (model, grid) case, each measured by `measure` (in its own process); the time of each
    /// row against the reference row (`reference` model at the first grid) is filled in.
    public static func sweep(cases: [Case], reference: ModelKind, measure: (Case) throws -> HierarchicalRow,
                             say: (String) -> Void = { print($0) }) throws -> [HierarchicalRow] {
        guard let first = cases.first else { return [] }
        say("PETGAN \(PETGANVersion.string) hierarchical-training benchmark: batch \(first.batch), \(first.classes > 0 ? "conditional (\(first.classes) classes)" : "unconditional"), G \(first.gChannels.map(String.init).joined(separator: "→"))→1, D \(first.dChannels.map(String.init).joined(separator: "→")), \(first.steps) steps (first untimed), limit \(gigabytes(first.limitBytes)), \(Parallel.threads) threads; each case in its own process")
        say("machine: \(Machine.description)")
        var rows: [HierarchicalRow] = []
        for c in cases {
            let r = try measure(c)
            say(r.summary)
            rows.append(r)
        }
        if let ref = rows.first(where: { $0.model == reference.rawValue && $0.grid == first.grid }), let s = ref.seconds, s > 0 {
            for i in rows.indices { rows[i].timeVsReference = rows[i].seconds.map { r3($0 / s) } }
            say(String(format: "time against %@ at %@ (%.2f s/step): ", reference.rawValue, first.grid.map(String.init).joined(separator: "×"), s)
                + rows.map { "\($0.model) \($0.grid.map(String.init).joined(separator: "×")) " + ($0.timeVsReference.map { String(format: "%.2f×", $0) } ?? "-") }.joined(separator: ", "))
        }
        return rows
    }

    /// "16.0 GB", or "300 MB" below a gigabyte.
    static func gigabytes(_ b: Int) -> String {
        b >= 1 << 30 ? String(format: "%.1f GB", Double(b) / 1_073_741_824) : "\(b >> 20) MB"
    }
}

/// One case of `bench hierarchical`: a model's training step at a grid, or why it was not run.
public struct HierarchicalRow: Codable {
    public var kind = "hierarchical"
    public var model: String
    /// (D, H, W) and the voxel size it stands for.
    public var grid: [Int]
    public var voxelMM: Double
    public var batch: Int
    public var classes: Int
    public var gChannels: [Int], dChannels: [Int]
    public var parameters: Int
    public var limitMB: Int
    /// Whether the step estimate fits the limit (only then was the step run).
    public var fits = true
    public var recompute: Bool
    public var plan: String
    public var estimatedMB: Int, estimatedWithoutMB: Int
    @NullWhenAbsent public var seconds: Double?
    @NullWhenAbsent public var firstStepSeconds: Double?
    public var steps = 0
    @NullWhenAbsent public var peakRSSMB: Double?
    @NullWhenAbsent public var countedPeakMB: Double?
    @NullWhenAbsent public var lossD: Double?
    @NullWhenAbsent public var lossG: Double?
    /// Step time over the reference model's at the first grid (the full model at 2 mm).
    @NullWhenAbsent public var timeVsReference: Double?
    @NullWhenAbsent public var note: String?

    public init(_ c: HierarchicalBenchmark.Case, estimatedMB: Int, estimatedWithoutMB: Int, plan: String, parameters: Int) {
        model = c.model.rawValue; grid = c.grid; voxelMM = c.voxelMM; batch = c.batch; classes = c.classes
        gChannels = c.gChannels; dChannels = c.dChannels; self.parameters = parameters; limitMB = c.limitBytes >> 20
        recompute = c.recompute; self.plan = plan; self.estimatedMB = estimatedMB; self.estimatedWithoutMB = estimatedWithoutMB
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, model, grid, batch, classes, parameters, fits, recompute, plan, seconds, steps, note
        case voxelMM = "voxel_mm", gChannels = "g_channels", dChannels = "d_channels", limitMB = "limit_mb"
        case estimatedMB = "estimated_mb", estimatedWithoutMB = "estimated_without_mb", firstStepSeconds = "first_step_seconds"
        case peakRSSMB = "peak_rss_mb", countedPeakMB = "counted_peak_mb", lossD = "loss_d", lossG = "loss_g"
        case timeVsReference = "time_vs_reference"
    }

    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    /// The printed line of the case.
    public var summary: String {
        let g = grid.map(String.init).joined(separator: "×")
        guard fits, let s = seconds else {
            return String(format: "%-9@ %-12@ %3.1f mm  b%d  %@", model, g, voxelMM, batch, note ?? "not run")
        }
        return String(format: "%-9@ %-12@ %3.1f mm  b%d  %7.2f s/step  peak RSS %6.0f MB  (estimate %5d MB, %@)", model, g, voxelMM, batch, s,
                      peakRSSMB ?? .nan, estimatedMB, plan)
    }
}
