// Regional statistics in the manner of Werner et al. (brain SPECT GANs): per-volume global mean over the
// brain, left/right hemisphere ratio and AAL2 regional means; voxelwise mean and SD maps per class and
// source (streamed, Welford); one-way ANOVA over all (source, class) groups and Welch t-tests real vs
// synthetic per class. Volumes arrive slab by slab (tiled analysis, issue 7): per-volume sums are
// accumulated in voxel order, so the means are bitwise those of whole-volume sums; the mean/SD maps
// are kept only for the voxels the montage figures show (`MontagePlanes`), not the whole grid.
//
// Public API:
//   let atlas = try RegionAtlas.aal2(shape:, affine:, templatesDirectory:) ?? RegionAtlas.fallback(...)
//   let acc = RegionalAccumulator(atlas:, classes:, planes: MontagePlanes(shape:, affine:))
//   acc.beginVolume(label:, synthetic:) ; acc.addSlab(slab, firstDepth: z) … ; acc.endVolume()
//   acc.add(values, label:, synthetic:)      // a whole volume at once

import Foundation
import PETCohort
import PETTensor
import PETVolumes

/// Where each voxel belongs: brain mask, hemisphere (world x < 0 is left, RAS+) and atlas region.
public struct RegionAtlas {
    public var source: String
    public var shape: [Int]
    /// Region index per voxel (0 = none; i ↔ regionNames[i − 1]).
    public var region: [Int32]
    public var regionNames: [String]
    /// Per voxel: −1 left hemisphere, 1 right, 0 on the midline or outside the brain.
    public var hemisphere: [Int8]
    public var brainCount: Int, leftCount: Int, rightCount: Int
    /// Voxels per region (regionNames order).
    public var regionCounts: [Int]

    /// The AAL2 atlas of PETGAN's templates resampled to the grid (nil when templates are missing).
    public static func aal2(shape: [Int], affine: Affine, templatesDirectory: String? = nil) throws -> RegionAtlas? {
        let dir = TemplateFiles.directory(explicit: templatesDirectory)
        guard (try? TemplateFiles.check(directory: dir)) != nil else { return nil }
        // The atlas template alone (nearest neighbour), not the whole phantom anatomy: a fraction of the memory.
        let (codes, regions) = try GridAtlas.aal2Codes(directory: dir, grid: VolumeGrid(shape: shape, affine: affine))
        var index: [Int32: Int32] = [:]
        for (i, c) in regions.codes.enumerated() where index[Int32(c)] == nil { index[Int32(c)] = Int32(i + 1) }
        let region = codes.map { $0 > 0 ? (index[$0] ?? 0) : 0 }
        return make(source: "AAL2 (\(dir))", shape: shape, affine: affine, region: region, names: regions.names)
    }

    /// Without an atlas: the brain is where the reference mean volume exceeds 25% of its 99th percentile.
    public static func fallback(shape: [Int], affine: Affine, referenceMean: [Float]) -> RegionAtlas {
        let p99 = Float(Normalize.percentile(referenceMean, 99))
        let region = referenceMean.map { $0 > 0.25 * p99 ? Int32(1) : 0 }
        return make(source: "intensity mask (no atlas templates found)", shape: shape, affine: affine, region: region, names: ["brain"])
    }

    static func make(source: String, shape: [Int], affine: Affine, region: [Int32], names: [String]) -> RegionAtlas {
        var hemi = [Int8](repeating: 0, count: region.count)
        var brain = 0, left = 0, right = 0
        var counts = [Int](repeating: 0, count: names.count)
        for k in 0..<shape[0] { for j in 0..<shape[1] { for i in 0..<shape[2] {
            let idx = (k * shape[1] + j) * shape[2] + i
            guard region[idx] > 0 else { continue }
            brain += 1; counts[Int(region[idx]) - 1] += 1
            let x = affine.apply(Double(i), Double(j), Double(k)).0
            if x < 0 { hemi[idx] = -1; left += 1 } else if x > 0 { hemi[idx] = 1; right += 1 }
        } } }
        return RegionAtlas(source: source, shape: shape, region: region, regionNames: names, hemisphere: hemi,
                           brainCount: brain, leftCount: left, rightCount: right, regionCounts: counts)
    }
}

/// Running mean and variance per voxel (Welford).
public final class VoxelMoments {
    public private(set) var n = 0
    var mean: [Double], m2: [Double]
    public init(count: Int) { mean = [Double](repeating: 0, count: count); m2 = mean }
    public func add(_ x: [Float]) {
        n += 1
        let inv = 1 / Double(n)
        for i in 0..<x.count {
            let d = Double(x[i]) - mean[i]
            mean[i] += d * inv
            m2[i] += d * (Double(x[i]) - mean[i])
        }
    }
    public var meanMap: [Float] { mean.map(Float.init) }
    public var sdMap: [Float] { n < 2 ? [Float](repeating: 0, count: mean.count) : m2.map { Float(($0 / Double(n - 1)).squareRoot()) } }
}

public struct RegionalMeasure: Codable {
    public var name: String
    public var classStats: [RegionalClassStat]
    public var anova: AnovaResult
}

public struct RegionalClassStat: Codable {
    public var className: String
    public var real: Summary, synthetic: Summary
    public var welch: WelchResult
}

public final class RegionalAccumulator {
    public let atlas: RegionAtlas
    public let classCount: Int
    /// The voxels the mean/SD maps are kept for.
    public let planes: MontagePlanes
    /// [source 0 real / 1 synthetic][class] → per-volume values.
    var globalMean: [[[Double]]], lrRatio: [[[Double]]], regionMeans: [[[[Double]]]]
    /// Mean/SD maps over `planes.indices`.
    public var moments: [[VoxelMoments?]]
    /// The volume being added: its slot, sums in voxel order and its shown voxels.
    var current: (s: Int, c: Int)? = nil
    var brainSum = 0.0, leftSum = 0.0, rightSum = 0.0
    var regionSums: [Double]
    var shown: [Float]
    var depthSeen = 0

    public init(atlas: RegionAtlas, classes: Int, planes: MontagePlanes) {
        self.atlas = atlas; classCount = max(1, classes); self.planes = planes
        globalMean = Array(repeating: Array(repeating: [], count: classCount), count: 2)
        lrRatio = globalMean
        regionMeans = Array(repeating: Array(repeating: Array(repeating: [], count: atlas.regionNames.count), count: classCount), count: 2)
        moments = Array(repeating: Array(repeating: nil, count: classCount), count: 2)
        regionSums = [Double](repeating: 0, count: atlas.regionNames.count)
        shown = [Float](repeating: 0, count: planes.indices.count)
    }

    /// Starts a volume (label −1 = unknown class: counted as class 0 when there is one class only, else skipped for per-class statistics).
    public func beginVolume(label: Int, synthetic: Bool) {
        let c = label >= 0 && label < classCount ? label : (classCount == 1 ? 0 : -1)
        current = c >= 0 ? (synthetic ? 1 : 0, c) : nil
        brainSum = 0; leftSum = 0; rightSum = 0; depthSeen = 0
        for r in regionSums.indices { regionSums[r] = 0 }
    }

    /// The volume's next depth planes (whole planes, in order).
    public func addSlab(_ slab: UnsafeBufferPointer<Float>, firstDepth z0: Int) {
        guard current != nil else { return }
        precondition(z0 == depthSeen, "slabs must arrive in depth order")
        let plane = atlas.shape[1] * atlas.shape[2], base = z0 * plane
        atlas.region.withUnsafeBufferPointer { reg in atlas.hemisphere.withUnsafeBufferPointer { hem in
            for n in 0..<slab.count {
                let r = Int(reg[base + n])
                guard r > 0 else { continue }
                let v = Double(slab[n])
                brainSum += v; regionSums[r - 1] += v
                let h = hem[base + n]
                if h < 0 { leftSum += v } else if h > 0 { rightSum += v }
            }
        } }
        planes.gather(slab, firstDepth: z0, into: &shown)
        depthSeen += slab.count / plane
    }

    public func endVolume() {
        guard let (s, c) = current else { return }
        precondition(depthSeen == atlas.shape[0], "a volume ended after \(depthSeen) of \(atlas.shape[0]) depth planes")
        func mean(_ sum: Double, _ n: Int) -> Double { n == 0 ? .nan : sum / Double(n) }
        globalMean[s][c].append(mean(brainSum, atlas.brainCount))
        lrRatio[s][c].append(mean(leftSum, atlas.leftCount) / mean(rightSum, atlas.rightCount))
        for r in regionSums.indices { regionMeans[s][c][r].append(mean(regionSums[r], atlas.regionCounts[r])) }
        if moments[s][c] == nil { moments[s][c] = VoxelMoments(count: shown.count) }
        moments[s][c]!.add(shown)
        current = nil
    }

    /// Adds one whole volume.
    public func add(_ x: [Float], label: Int, synthetic: Bool) {
        beginVolume(label: label, synthetic: synthetic)
        x.withUnsafeBufferPointer { addSlab($0, firstDepth: 0) }
        endVolume()
    }

    func measure(_ name: String, _ values: [[[Double]]], classNames: [String]) -> RegionalMeasure {
        var stats: [RegionalClassStat] = []
        for c in 0..<classCount {
            let r = values[0][c].filter { $0.isFinite }, s = values[1][c].filter { $0.isFinite }
            if r.isEmpty && s.isEmpty { continue }
            stats.append(RegionalClassStat(className: c < classNames.count ? classNames[c] : "all", real: Summary(r), synthetic: Summary(s),
                                           welch: Statistics.welch(r, s)))
        }
        let groups = (0..<2).flatMap { s in (0..<classCount).map { values[s][$0].filter { $0.isFinite } } }
        return RegionalMeasure(name: name, classStats: stats, anova: Statistics.anova(groups))
    }

    public func globalMeasures(classNames: [String]) -> [RegionalMeasure] {
        [measure("global mean (brain)", globalMean, classNames: classNames),
         measure("left/right hemisphere ratio", lrRatio, classNames: classNames)]
    }

    public func regionMeasures(classNames: [String]) -> [RegionalMeasure] {
        (0..<atlas.regionNames.count).compactMap { r in
            atlas.regionCounts[r] == 0 ? nil : measure(atlas.regionNames[r], regionMeans.map { $0.map { $0[r] } }, classNames: classNames)
        }
    }
}
