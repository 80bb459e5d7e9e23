// figures/examples.png: one real and one synthetic example per class (at most 3 each), in the real
// set's window. Volumes: mid-slice views; 2D samples: the centre channel of the member nearest the
// middle of the cut positions.

import Foundation
import PETTensor
import PETVolumes

public final class ExampleFigureMetric: EvaluationMetric {
    public struct Result: Codable {
        /// One caption per row of the figure.
        public var captions: [String]
    }
    public static let placement = MetricPlacement.none
    public static func make(for run: EvaluationRun) throws -> ExampleFigureMetric? { ExampleFigureMetric() }

    public func finish(_ run: EvaluationRun) throws -> Result? {
        run.log("figures")
        let classNames = run.classNames, nClasses = run.classCount
        switch run.inputs {
        case let .volumes(realSet, synth):
            let planes = MontagePlanes(shape: realSet.shape, affine: realSet.affine)
            var examples: [[Float]] = [], captions: [String] = []
            for (set, tag) in [(realSet, "real"), (synth, "synthetic")] {
                var picked: [Int] = []
                for c in (set.labels.contains(where: { $0 < 0 }) ? [-1] : Array(0..<nClasses)) {
                    if let i = (0..<set.count).first(where: { c < 0 || set.labels[$0] == c }) { picked.append(i) }
                }
                for i in picked.prefix(3) {
                    // Only the voxels the figure shows are kept.
                    var shown = [Float](repeating: 0, count: planes.indices.count)
                    try run.forEachSlab([(set, i)]) { slabs, z0 in slabs[0].withUnsafeBufferPointer { planes.gather($0, firstDepth: z0, into: &shown) } }
                    examples.append(shown)
                    captions.append("\(tag) \(set.labels[i] >= 0 ? classNames[set.labels[i]] : "") (\(set.names[i]))")
                }
            }
            try run.saveFigure(Montage.render(planes: planes, rows: examples, options: MontageOptions(colorMap: .gray, zoom: 2, window: (0, run.real.hi))), "examples.png")
            return Result(captions: captions)
        case let .samples2D(real, synth):
            let (nh, nw) = (run.itemShape[1], run.itemShape[2]), plane = nh * nw, centre = run.itemShape[0] / 2
            var rows: [[[Float]]] = [], captions: [String] = []
            for (set, tag) in [(real, "real"), (synth, "synthetic")] {
                var row: [[Float]] = [], caps: [String] = []
                for c in (set.labels.contains(where: { $0 < 0 }) ? [-1] : Array(0..<nClasses)) {
                    // The member nearest the middle of the cut positions (the first member when unknown):
                    // the lowest slice would show mostly cerebellum.
                    let members = (0..<set.count).filter { c < 0 || set.labels[$0] == c }
                    let zs = members.compactMap { set.positionsMM[$0] }.sorted()
                    let mid = zs.isEmpty ? nil : zs[zs.count / 2]
                    guard let i = mid.flatMap({ m in members.first { set.positionsMM[$0] == m } }) ?? members.first else { continue }
                    row.append(Array(try set.values(i)[(centre * plane)..<((centre + 1) * plane)]))
                    caps.append("\(c >= 0 ? classNames[c] : "") \(set.names[i])")
                }
                rows.append(row)
                captions.append("\(tag): " + caps.joined(separator: ", "))
            }
            try run.saveFigure(Figures.tiles(rows, height: nh, width: nw, colorMap: .gray, window: (0, run.real.hi)), "examples.png")
            return Result(captions: captions)
        }
    }
}
