// Memory-budgeted training benchmark (issue 7, item 4): peak RSS and step time of full training steps
// (one critic update + one generator update, n_critic = 1) of a 3D GAN with the DCGAN widths of
// TrainBenchmark (G 512→256→128→64→1, D 64→128→256→512) at whole-brain grids, with and without
// activation checkpointing chosen from a budget (RecomputePlan). Random data and weights: memory and
// time do not depend on the values. Each case is meant to run in its own process
// (`petgan bench memory --train --grid 96x112x96 --memory-budget 4GB [--no-recompute]`) so its peak
// RSS (VmHWM) is its own. The parameter checksum after the steps is the same with and without
// recomputation (first-order gradients are bitwise equal).
import Foundation
import PETAutograd
import PETModels
import PETTensor

public enum TrainMemoryBenchmark {
    public struct Case {
        /// Image grid (D, H, W), each side a multiple of 2^layers.
        public var grid: [Int]
        public var batch = 4
        public var model: ModelKind = .dcgan3d
        /// Budget the recomputation plan is chosen for (also reported); nil: no recomputation.
        public var budgetBytes: Int?
        public var recompute = true
        public var gChannels = [512, 256, 128, 64]
        public var dChannels = [64, 128, 256, 512]
        /// Training steps; the first is a warm-up (allocations, kernel plans), the rest are timed.
        public var steps = 2
        public var seed: UInt64 = 1
        public init(grid: [Int]) { self.grid = grid }
    }

    public static func run(_ c: Case, log: (String) -> Void = { _ in }) throws -> TrainMemoryRow {
        var cfg = TrainConfig.defaults(for: c.model)
        cfg.gChannels = c.gChannels
        cfg.dChannels = c.dChannels
        cfg.batch = c.batch
        cfg.nCritic = 1
        cfg.data = "benchmark"
        let geo = NetworkGeometry(dims: 3, channels: 1, imageShape: c.grid, layers: c.gChannels.count, conditionalClasses: 0)
        var rng = PETRandom(seed: c.seed)
        let model = try GANModel(config: cfg, geometry: geo, rng: &rng)
        var plan = RecomputePlan()
        if c.recompute, let b = c.budgetBytes {
            plan = try RecomputePlan.choose(model, batch: c.batch, budgetBytes: b)
        } else {
            plan.estimatedBytes = RecomputePlan.estimate(model, batch: c.batch, plan: plan)
            plan.estimatedBytesWithout = plan.estimatedBytes
            plan.budgetBytes = c.budgetBytes
        }
        plan.apply(to: model)
        log("plan: \(plan)")
        let real = Tensor.uniform([c.batch, 1] + c.grid, low: -1, high: 1, rng: &rng)
        let labels = [Int](repeating: 0, count: c.batch)
        var noise = PETRandom(seed: c.seed &+ 1)
        ScratchPool.shared.trim()
        _ = resetPeakResident()
        MemoryAccountant.shared.resetPeak()
        var times: [Double] = []
        var last: StepMetrics? = nil
        for s in 0..<max(1, c.steps) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            last = try model.trainStep(real: [(real, labels)], rng: &noise)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            log(String(format: "step %d: %.2f s, peak RSS %.0f MB", s + 1, times.last!, Double(peakResidentBytes()) / 1_048_576))
        }
        let timed = times.count > 1 ? Array(times.dropFirst()) : times
        var checksum = 0.0
        for p in model.generator.parameters + model.discriminator.parameters { for i in 0..<p.count { checksum += Double(p.value.data[i]) } }
        return TrainMemoryRow(grid: c.grid, batch: c.batch, model: c.model.rawValue, recompute: c.recompute, budgetMB: c.budgetBytes.map { $0 >> 20 },
                              gBlocks: plan.generatorBlocks.sorted(), dBlocks: plan.discriminatorBlocks.sorted(),
                              estimatedMB: plan.estimatedBytes >> 20, estimatedWithoutMB: plan.estimatedBytesWithout >> 20,
                              seconds: timed.sorted()[timed.count / 2], firstStepSeconds: times[0], steps: times.count,
                              peakRSSMB: Double(peakResidentBytes()) / 1_048_576, countedPeakMB: Double(MemoryAccountant.shared.peakBytes) / 1_048_576,
                              lossD: last?.lossD ?? 0, lossG: last?.lossG ?? 0, checksum: checksum)
    }

    /// The sweep of `bench memory --train`: every (grid, budget) case with and without recomputation,
    /// each measured by `measure` (in its own process), peak RSS checked against the budget.
    public static func sweep(cases: [(grid: [Int], budgetBytes: Int)], model: String, batch: Int, steps: Int,
                             measure: (_ grid: [Int], _ budgetBytes: Int, _ recompute: Bool) throws -> TrainMemoryRow,
                             say: (String) -> Void = { print($0) }) throws -> [TrainMemoryRow] {
        say("PETGAN \(PETGANVersion.string) training memory benchmark: \(model), batch \(batch), G 512→256→128→64→1, D 64→128→256→512, \(steps) steps (first untimed), \(Parallel.threads) threads; each case in its own process")
        var rows: [TrainMemoryRow] = []
        var failures: [String] = []
        for c in cases {
            let name = c.grid.map(String.init).joined(separator: "x")
            let off = try measure(c.grid, c.budgetBytes, false)
            say(off.summary)
            let on = try measure(c.grid, c.budgetBytes, true)
            say(on.summary)
            rows += [off, on]
            let limit = Double(c.budgetBytes >> 20)
            say(String(format: "  %@: recomputation time %.2f× keep-all, peak RSS %.0f → %.0f MB (budget %.0f MB); parameter checksums %.9g vs %.9g", name,
                       on.seconds / off.seconds, off.peakRSSMB, on.peakRSSMB, limit, on.checksum, off.checksum))
            if on.peakRSSMB > limit { failures.append(String(format: "%@: peak RSS %.0f MB > budget %.0f MB", name, on.peakRSSMB, limit)) }
        }
        say(failures.isEmpty ? "within budget at every grid" : "over budget:\n  " + failures.joined(separator: "\n  "))
        return rows
    }
}

/// One case of `bench memory --train`: training steps at a grid, with or without recomputation.
public struct TrainMemoryRow: Codable {
    public var kind = "train"
    public var grid: [Int]
    public var batch: Int
    public var model: String
    public var recompute: Bool
    @NullWhenAbsent public var budgetMB: Int?
    public var gBlocks: [Int], dBlocks: [Int]
    public var estimatedMB: Int, estimatedWithoutMB: Int
    public var seconds: Double, firstStepSeconds: Double
    public var steps: Int
    public var peakRSSMB: Double, countedPeakMB: Double
    public var lossD: Double, lossG: Double
    public var checksum: Double

    public init(grid: [Int], batch: Int, model: String, recompute: Bool, budgetMB: Int?, gBlocks: [Int], dBlocks: [Int], estimatedMB: Int,
                estimatedWithoutMB: Int, seconds: Double, firstStepSeconds: Double, steps: Int, peakRSSMB: Double, countedPeakMB: Double,
                lossD: Double, lossG: Double, checksum: Double) {
        self.grid = grid; self.batch = batch; self.model = model; self.recompute = recompute; self.budgetMB = budgetMB
        self.gBlocks = gBlocks; self.dBlocks = dBlocks; self.estimatedMB = estimatedMB; self.estimatedWithoutMB = estimatedWithoutMB
        self.seconds = seconds; self.firstStepSeconds = firstStepSeconds; self.steps = steps; self.peakRSSMB = peakRSSMB
        self.countedPeakMB = countedPeakMB; self.lossD = lossD; self.lossG = lossG; self.checksum = checksum
    }

    enum CodingKeys: String, CodingKey {
        case kind, grid, batch, model, recompute, seconds, steps, checksum
        case budgetMB = "budget_mb", gBlocks = "g_blocks", dBlocks = "d_blocks", estimatedMB = "estimated_mb"
        case estimatedWithoutMB = "estimated_without_mb", firstStepSeconds = "first_step_seconds", peakRSSMB = "peak_rss_mb"
        case countedPeakMB = "counted_peak_mb", lossD = "loss_d", lossG = "loss_g"
    }

    /// The printed line of the case.
    public var summary: String {
        func blocks(_ b: [Int]) -> String { b.isEmpty ? "-" : b.map(String.init).joined(separator: ",") }
        return String(format: "%-13@ b%d %@ %-10@ %7.2f s/step  peak RSS %6.0f MB  (estimate %5d MB)  recompute G %@ D %@",
                      grid.map(String.init).joined(separator: "×"), batch, model, recompute ? "recompute" : "keep-all", seconds,
                      peakRSSMB, estimatedMB, blocks(gBlocks), blocks(dBlocks))
    }
}
