// The trained critic as an evaluation instrument (`petgan evaluate --critic RUN_DIR`): the run's own
// discriminator scores every real and synthetic volume in evaluation mode, its convolutional trunk tile
// by tile within the memory budget (`TiledCritic`, issue 7 item 5), so that a 1 mm critic never holds
// a full-size activation. Reported: score summaries per set and class, the AUC of the scores as a
// real-vs-synthetic test (0.5: the critic cannot tell them apart) and the mean gap (for a WGAN critic,
// the Wasserstein estimate on these sets).
//
// Public API:
//   let r = try CriticScores.run(checkpoint: "runs/x", real: realSet, synthetic: synthSet, memoryBudget: 512 << 20)

import Foundation
import PETModels
import PETTensor
import PETTiling
import PETVolumes

public struct CriticScoresResult: Codable {
    public var checkpoint: String
    public var model: String
    public var tile: String
    public var real: Summary, synthetic: Summary
    /// P(score(real) > score(synthetic)) over all pairs (Mann–Whitney).
    public var auc: Double
    /// Mean real score − mean synthetic score.
    public var gap: Double
    public var perClass: [String: [String: Double]]
    public var skipped: Int
    public var note: String
}

public enum CriticScores {
    public static func run(checkpoint: String, real: VolumeSet, synthetic: VolumeSet, memoryBudget: Int?,
                           log: ((String) -> Void)? = nil) throws -> CriticScoresResult {
        let file = try Generation.checkpointFile(checkpoint)
        let (model, rec, _) = try Generation.loadModel(file)
        guard rec.geometry.dims == 3 else {
            throw MetricsError.badInput(path: file, reason: "--critic scores 3D volumes; this checkpoint holds a \(rec.geometry.dims)D model")
        }
        guard rec.geometry.imageShape == real.shape else {
            throw MetricsError.mismatch(detail: "the critic of \(file) takes volumes of shape \(rec.geometry.imageShape) (D,H,W) but \(real.path) holds \(real.shape)")
        }
        let conditional = rec.geometry.conditionalClasses > 0
        let map = rec.data.intensity
        var plans: [TilePlan] = []
        var skipped = 0
        func scores(_ set: VolumeSet, tag: String) throws -> [(score: Double, cls: String)] {
            var out: [(Double, String)] = []
            let p = ProgressReporter(label: "critic scores (\(tag))", total: set.count, log: log, seconds: 2)
            for i in 0..<set.count {
                let cls = set.labels[i] >= 0 && set.labels[i] < set.classNames.count ? set.classNames[set.labels[i]] : ""
                var label = 0
                if conditional {
                    guard let l = rec.data.classNames.firstIndex(of: cls) else { skipped += 1; continue }
                    label = l
                }
                // The critic sees what it was trained on: raw units mapped by the training store's map into [−1, 1].
                // Filled slab by slab, straight into the (counted) input tensor: no uncounted whole-volume copies.
                let x = Tensor(shape: [1, 1] + set.shape, zeroed: false)
                let reader = try set.slabReader(i)
                let plane = set.shape[1] * set.shape[2]
                while reader.depthRead < set.shape[0] {
                    let z = reader.depthRead
                    let slab = try reader.next(depth: min(16, set.shape[0] - z))
                    let dst = x.data + z * plane
                    for k in 0..<slab.count { dst[k] = map.forward(slab[k]) }
                }
                if model.isHierarchical {
                    // Two critics on a low-resolution whole and a slab: scored slab by slab, untiled
                    // (one slab's activations), HAGAN.swift's hierarchicalScores.
                    out.append((Double(try model.hierarchicalScores(x, labels: [label])[0]), cls))
                } else {
                    let (s, plan) = try TiledCritic.scores(model, images: x, labels: [label], memoryBudget: memoryBudget)
                    plans.append(plan)
                    out.append((Double(s.array[0]), cls))   // a copy: .data would not keep the tensor alive
                }
                p.update(i + 1)
            }
            return out
        }
        let r = try scores(real, tag: "real"), s = try scores(synthetic, tag: "synthetic")
        guard !r.isEmpty, !s.isEmpty else {
            throw MetricsError.tooSmall(detail: "the critic scored \(r.count) real and \(s.count) synthetic volumes (\(skipped) had a class the conditional model does not know: \(rec.data.classNames.joined(separator: ", ")))")
        }
        let all = r.map(\.score) + s.map(\.score)
        let auc = Statistics.auc(scores: all, positive: r.map { _ in true } + s.map { _ in false })
        var perClass: [String: [String: Double]] = [:]
        for c in Set(r.map(\.cls) + s.map(\.cls)) where !c.isEmpty {
            let rc = r.filter { $0.cls == c }.map(\.score), sc = s.filter { $0.cls == c }.map(\.score)
            guard !rc.isEmpty, !sc.isEmpty else { continue }
            perClass[c] = ["real_mean": Statistics.mean(rc), "synthetic_mean": Statistics.mean(sc),
                           "auc": Statistics.auc(scores: rc + sc, positive: rc.map { _ in true } + sc.map { _ in false })]
        }
        let finest = plans.max { $0.tileCount < $1.tileCount }
        let tile = model.isHierarchical
            ? "low-resolution whole + \(model.scoringSlabStarts.count) slabs (starts \(model.scoringSlabStarts.map(String.init).joined(separator: ", "))), score the mean of (low + slab) / 2"
            : finest.map { $0.tileCount <= 1 ? "whole volume (1 tile)" : $0.description } ?? "-"
        let kind = "\(rec.config.model.rawValue): \(rec.config.loss.objective.scoreDescription)"
        return CriticScoresResult(checkpoint: file, model: kind, tile: tile, real: Summary(r.map(\.score)), synthetic: Summary(s.map(\.score)),
                                  auc: auc, gap: Statistics.mean(r.map(\.score)) - Statistics.mean(s.map(\.score)), perClass: perClass,
                                  skipped: skipped,
                                  note: "The run's own discriminator in evaluation mode; AUC 0.5 means it cannot tell the sets apart, 1 that it always scores real higher. Volumes were mapped into [-1, 1] with the training store's intensity map.")
    }
}
