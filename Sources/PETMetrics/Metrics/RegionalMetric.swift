// Regional statistics of volumes (Werner et al.): per-volume brain mean, left/right ratio and atlas
// region means, compared real vs synthetic per class (Welch) and over all groups (ANOVA). Volumes only.

import Foundation
import PETTensor
import PETVolumes

public final class RegionalMetric: EvaluationMetric {
    public struct Result: Codable {
        public var atlas: String, units: String
        public var brainVoxels: Int
        public var global: [RegionalMeasure], regions: [RegionalMeasure]
        enum CodingKeys: String, CodingKey { case atlas, units, global, regions, brainVoxels = "brain_voxels" }
    }
    public static let placement = MetricPlacement.at(["regional"])

    let accumulator: RegionalAccumulator
    let units: String

    init(accumulator: RegionalAccumulator, units: String) { self.accumulator = accumulator; self.units = units }

    public static func make(for run: EvaluationRun) throws -> RegionalMetric? {
        guard case let .volumes(real, _) = run.inputs else { return nil }
        let o = run.options
        var atlas = try RegionAtlas.aal2(shape: real.shape, affine: real.affine, templatesDirectory: o.templatesDirectory)
        if atlas == nil { atlas = RegionAtlas.fallback(shape: real.shape, affine: real.affine, referenceMean: try real.values(0)) }
        run.log("atlas: \(atlas!.source), \(atlas!.brainCount) brain voxels, \(atlas!.regionNames.count) regions")
        run.heldBytes += atlas!.region.count * 5
        let planes = MontagePlanes(shape: real.shape, affine: real.affine)
        return RegionalMetric(accumulator: RegionalAccumulator(atlas: atlas!, classes: run.classCount, planes: planes), units: run.opened.real.units)
    }

    public func beginItem(_ item: EvaluationItem, run: EvaluationRun) {
        accumulator.beginVolume(label: item.label, synthetic: item.side == .synthetic)
    }
    public func addSlab(_ slab: [Float], firstDepth: Int) throws {
        slab.withUnsafeBufferPointer { accumulator.addSlab($0, firstDepth: firstDepth) }
    }
    public func endItem() throws { accumulator.endVolume() }

    public func finish(_ run: EvaluationRun) throws -> Result? {
        Result(atlas: accumulator.atlas.source, units: units, brainVoxels: accumulator.atlas.brainCount,
               global: accumulator.globalMeasures(classNames: run.classNames), regions: accumulator.regionMeasures(classNames: run.classNames))
    }
}
