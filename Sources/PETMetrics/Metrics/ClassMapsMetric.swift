// figures/mean_<class>.png and sd_<class>.png: the voxelwise mean and SD of each class, real (top row)
// and synthetic (bottom row), streamed in pass 1. Volumes: the montage planes' voxels (Welford);
// 2D samples: the centre channel.

import Foundation
import PETTensor
import PETVolumes

public final class ClassMapsMetric: EvaluationMetric {
    public struct Result: Codable {
        /// Class name → caption of its maps.
        public var captions: [String: String]
    }
    public static let placement = MetricPlacement.none

    let planes: MontagePlanes?
    /// [side][class]: volumes' moments over the shown voxels.
    var moments: [[VoxelMoments?]]
    /// [side][class]: 2D samples' sums and sums of squares of the centre channel.
    var sums: [[[Double]?]], sumsSq: [[[Double]?]], counts: [[Int]]
    var shown: [Float] = []
    var current: (side: Int, cls: Int)? = nil
    var itemShape: [Int] = []

    init(planes: MontagePlanes?, classes: Int) {
        self.planes = planes
        moments = Array(repeating: Array(repeating: nil, count: classes), count: 2)
        sums = Array(repeating: Array(repeating: nil, count: classes), count: 2)
        sumsSq = sums
        counts = Array(repeating: Array(repeating: 0, count: classes), count: 2)
    }

    public static func make(for run: EvaluationRun) throws -> ClassMapsMetric? {
        switch run.inputs {
        case let .volumes(real, _): return ClassMapsMetric(planes: MontagePlanes(shape: real.shape, affine: real.affine), classes: run.classCount)
        case .samples2D: return ClassMapsMetric(planes: nil, classes: run.classCount)
        }
    }

    public func beginItem(_ item: EvaluationItem, run: EvaluationRun) {
        itemShape = run.itemShape
        // Unknown class: class 0 when there is one class only, else left out (as the regional statistics do).
        let n = run.classCount
        let c = item.label >= 0 && item.label < n ? item.label : (n == 1 && planes != nil ? 0 : -1)
        current = c >= 0 ? (item.side == .synthetic ? 1 : 0, c) : nil
        if let planes { shown = [Float](repeating: 0, count: planes.indices.count) }
    }

    public func addSlab(_ slab: [Float], firstDepth: Int) throws {
        guard let (s, c) = current else { return }
        if let planes {
            slab.withUnsafeBufferPointer { planes.gather($0, firstDepth: firstDepth, into: &shown) }
            return
        }
        let plane = itemShape[1] * itemShape[2], centre = itemShape[0] / 2
        if sums[s][c] == nil { sums[s][c] = [Double](repeating: 0, count: plane); sumsSq[s][c] = sums[s][c] }
        for k in 0..<plane {
            let x = Double(slab[centre * plane + k])
            sums[s][c]![k] += x; sumsSq[s][c]![k] += x * x
        }
        counts[s][c] += 1
    }

    public func endItem() throws {
        guard let (s, c) = current, planes != nil else { return }
        if moments[s][c] == nil { moments[s][c] = VoxelMoments(count: shown.count) }
        moments[s][c]!.add(shown)
        current = nil
    }

    public func finish(_ run: EvaluationRun) throws -> Result? {
        let realMax = run.real.hi
        var captions: [String: String] = [:]
        for c in 0..<run.classCount {
            let name = c < run.classNames.count ? run.classNames[c] : "all"
            if let planes {
                guard let mr = moments[0][c], let ms = moments[1][c] else { continue }
                try run.saveFigure(Montage.render(planes: planes, rows: [mr.meanMap, ms.meanMap], options: MontageOptions(colorMap: .hot, zoom: 2, window: (0, realMax))), "mean_\(name).png")
                let sds = [mr.sdMap, ms.sdMap]
                let sdMax = max(Float(Normalize.percentile(sds[0], 99.5)), Float(Normalize.percentile(sds[1], 99.5)), 1e-6)
                try run.saveFigure(Montage.render(planes: planes, rows: sds, options: MontageOptions(colorMap: .viridis, zoom: 2, window: (0, sdMax))), "sd_\(name).png")
                captions[name] = "real n=\(mr.n) (top row), synthetic n=\(ms.n) (bottom row); mean window 0–\(String(format: "%.3g", realMax)), SD window 0–\(String(format: "%.3g", sdMax)) (99.5th percentile of the shown voxels)"
            } else {
                guard let sr = sums[0][c], let ss = sums[1][c] else { continue }
                let (nh, nw) = (run.itemShape[1], run.itemShape[2])
                func moments(_ sum: [Double], _ sq: [Double], _ n: Int) -> ([Float], [Float]) {
                    let mean = sum.map { Float($0 / Double(n)) }
                    let sd = zip(sum, sq).map { Float(max(0, $1 / Double(n) - ($0 / Double(n)) * ($0 / Double(n))).squareRoot()) }
                    return (mean, sd)
                }
                let (mr, sdr) = moments(sr, sumsSq[0][c]!, counts[0][c]), (ms, sds) = moments(ss, sumsSq[1][c]!, counts[1][c])
                try run.saveFigure(Figures.tiles([[mr], [ms]], height: nh, width: nw, colorMap: .hot, window: (0, realMax)), "mean_\(name).png")
                let sdMax = max(Float(Normalize.percentile(sdr, 99.5)), Float(Normalize.percentile(sds, 99.5)), 1e-6)
                try run.saveFigure(Figures.tiles([[sdr], [sds]], height: nh, width: nw, colorMap: .viridis, window: (0, sdMax)), "sd_\(name).png")
                captions[name] = "centre channel; real n=\(counts[0][c]) (top), synthetic n=\(counts[1][c]) (bottom); mean window 0–\(String(format: "%.3g", realMax)), SD window 0–\(String(format: "%.3g", sdMax))"
            }
        }
        return Result(captions: captions)
    }
}
