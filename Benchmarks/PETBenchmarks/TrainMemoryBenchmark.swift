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

    public static func run(_ c: Case, log: (String) -> Void = { _ in }) throws -> BenchRow {
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
        return ["kind": "train", "grid": c.grid, "batch": c.batch, "model": c.model.rawValue, "recompute": c.recompute,
                "budget_mb": c.budgetBytes.map { $0 >> 20 } as Any? ?? NSNull(),
                "g_blocks": plan.generatorBlocks.sorted(), "d_blocks": plan.discriminatorBlocks.sorted(),
                "estimated_mb": plan.estimatedBytes >> 20, "estimated_without_mb": plan.estimatedBytesWithout >> 20,
                "seconds": timed.sorted()[timed.count / 2], "first_step_seconds": times[0], "steps": times.count,
                "peak_rss_mb": Double(peakResidentBytes()) / 1_048_576,
                "counted_peak_mb": Double(MemoryAccountant.shared.peakBytes) / 1_048_576,
                "loss_d": last?.lossD ?? 0, "loss_g": last?.lossG ?? 0, "checksum": checksum]
    }
}
