// `evaluate --critic RUN`: the run's own critic scores every real and synthetic volume, tile by tile
// within what the memory budget leaves (AUC, mean gap). Volumes only.

import Foundation
import PETTensor
import PETTiling
import PETVolumes

public final class CriticMetric: EvaluationMetric {
    public typealias Result = CriticScoresResult
    public static let placement = MetricPlacement.at(["critic"])

    let checkpoint: String
    init(checkpoint: String) { self.checkpoint = checkpoint }
    public static func make(for run: EvaluationRun) throws -> CriticMetric? {
        guard run.isVolumes, let ck = run.options.critic else { return nil }
        return CriticMetric(checkpoint: ck)
    }

    public func finish(_ run: EvaluationRun) throws -> CriticScoresResult? {
        guard case let .volumes(realSet, synth) = run.inputs else { return nil }
        let o = run.options, ck = checkpoint, (real, synthAll) = run.opened
        run.log("critic scores (\(ck))")
        // What this run holds besides the critic: the process itself (runtime and libraries, ~30 MB
        // measured), chunk caches, the atlas maps, the block-averaged copies.
        let held = (32 << 20) + (real.cacheBytes + synthAll.cacheBytes) + run.heldBytes
            + (run.real.blockAverages.count + run.synthetic.blockAverages.count) * run.blockShape.reduce(4, *)
        var criticBudget: Int? = nil
        if let b = o.memoryBudget {
            guard b - held > 0 else {
                throw MetricsError.tooSmall(detail: "--memory-budget \(b >> 20) MB leaves nothing for the critic: the evaluation already holds \(held >> 20) MB (chunk caches, atlas, block-averaged copies); try --memory-budget \((held >> 20) * 2 + 64)")
            }
            criticBudget = b - held
        }
        do {
            return try CriticScores.run(checkpoint: ck, real: realSet, synthetic: synth, memoryBudget: criticBudget, log: o.log)
        } catch TilingError.budgetTooSmall(_, let need, let detail) {
            // Name the evaluate-level budget that works, not the critic's share of it.
            // The chunk caches grow with the budget (an eighth each), so solve total = need + fixed + k·total/8.
            let stores = [real, synthAll].filter { $0.cacheBytes > 0 }.count
            let total = Int(Double(need + held - real.cacheBytes - synthAll.cacheBytes) / (1 - Double(stores) / 8)) + (1 << 20)
            throw MetricsError.tooSmall(detail: "--memory-budget \((o.memoryBudget ?? 0) >> 20) MB is too small for the critic of \(ck): \(detail), and the evaluation holds \(formatBytes(held)) besides; --memory-budget \(Int((Double(total) / 1_048_576).rounded(.up))) would work")
        }
    }
}
