// Regional statistics in the manner of Werner et al. (brain SPECT GANs): per-volume global mean over the
// brain, left/right hemisphere ratio and AAL2 regional means; voxelwise mean and SD maps per class and
// source (streamed, Welford); one-way ANOVA over all (source, class) groups and Welch t-tests real vs
// synthetic per class.
//
// Public API:
//   let atlas = try RegionAtlas.aal2(shape:, affine:, templatesDirectory:) ?? RegionAtlas.fallback(...)
//   let acc = RegionalAccumulator(atlas:, classes:) ; acc.add(values, label:, synthetic:) ; acc.report(classNames)

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
    public var brain: [Int]
    public var left: [Int], right: [Int]

    /// The AAL2 atlas of PETGAN's templates resampled to the grid (nil when templates are missing).
    public static func aal2(shape: [Int], affine: Affine, templatesDirectory: String? = nil) throws -> RegionAtlas? {
        let dir = TemplateFiles.directory(explicit: templatesDirectory)
        guard (try? TemplateFiles.check(directory: dir)) != nil else { return nil }
        let vs = affine.voxelSizes
        let anatomy = try PhantomAnatomy.load(directory: dir, outputVoxelMM: min(vs.0, vs.1, vs.2))
        let grid = VoxelGrid(shape: shape, affine: affine.m)
        let ga = GridAtlas(anatomy: anatomy, grid: grid)
        var region = [Int32](repeating: 0, count: ga.codes.count)
        for i in 0..<region.count where ga.codes[i] > 0 {
            if let d = anatomy.regions.index(ofCode: Int(ga.codes[i])) { region[i] = Int32(d) }
        }
        return make(source: "AAL2 (\(dir))", shape: shape, affine: affine, region: region, names: anatomy.regions.names)
    }

    /// Without an atlas: the brain is where the reference mean volume exceeds 25% of its 99th percentile.
    public static func fallback(shape: [Int], affine: Affine, referenceMean: [Float]) -> RegionAtlas {
        let p99 = Float(Normalize.percentile(referenceMean, 99))
        let region = referenceMean.map { $0 > 0.25 * p99 ? Int32(1) : 0 }
        return make(source: "intensity mask (no atlas templates found)", shape: shape, affine: affine, region: region, names: ["brain"])
    }

    static func make(source: String, shape: [Int], affine: Affine, region: [Int32], names: [String]) -> RegionAtlas {
        var brain: [Int] = [], left: [Int] = [], right: [Int] = []
        for k in 0..<shape[0] { for j in 0..<shape[1] { for i in 0..<shape[2] {
            let idx = (k * shape[1] + j) * shape[2] + i
            guard region[idx] > 0 else { continue }
            brain.append(idx)
            let x = affine.apply(Double(i), Double(j), Double(k)).0
            if x < 0 { left.append(idx) } else if x > 0 { right.append(idx) }
        } } }
        return RegionAtlas(source: source, shape: shape, region: region, regionNames: names, brain: brain, left: left, right: right)
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
    /// [source 0 real / 1 synthetic][class] → per-volume values.
    var globalMean: [[[Double]]], lrRatio: [[[Double]]], regionMeans: [[[[Double]]]]
    public var moments: [[VoxelMoments?]]
    let regionVoxels: [[Int]]

    public init(atlas: RegionAtlas, classes: Int) {
        self.atlas = atlas; classCount = max(1, classes)
        globalMean = Array(repeating: Array(repeating: [], count: classCount), count: 2)
        lrRatio = globalMean
        var rv = Array(repeating: [Int](), count: atlas.regionNames.count)
        for i in atlas.brain { rv[Int(atlas.region[i]) - 1].append(i) }
        regionVoxels = rv
        regionMeans = Array(repeating: Array(repeating: Array(repeating: [], count: rv.count), count: classCount), count: 2)
        moments = Array(repeating: Array(repeating: nil, count: classCount), count: 2)
    }

    static func mean(_ x: [Float], _ idx: [Int]) -> Double {
        guard !idx.isEmpty else { return .nan }
        var s = 0.0
        for i in idx { s += Double(x[i]) }
        return s / Double(idx.count)
    }

    /// Adds one volume (label −1 = unknown class: counted as class 0 when there is one class only, else skipped for per-class statistics).
    public func add(_ x: [Float], label: Int, synthetic: Bool) {
        let c = label >= 0 && label < classCount ? label : (classCount == 1 ? 0 : -1)
        guard c >= 0 else { return }
        let s = synthetic ? 1 : 0
        globalMean[s][c].append(RegionalAccumulator.mean(x, atlas.brain))
        lrRatio[s][c].append(RegionalAccumulator.mean(x, atlas.left) / RegionalAccumulator.mean(x, atlas.right))
        for r in 0..<regionVoxels.count { regionMeans[s][c][r].append(RegionalAccumulator.mean(x, regionVoxels[r])) }
        if moments[s][c] == nil { moments[s][c] = VoxelMoments(count: x.count) }
        moments[s][c]!.add(x)
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
        (0..<regionVoxels.count).compactMap { r in
            regionVoxels[r].isEmpty ? nil : measure(atlas.regionNames[r], regionMeans.map { $0.map { $0[r] } }, classNames: classNames)
        }
    }
}
