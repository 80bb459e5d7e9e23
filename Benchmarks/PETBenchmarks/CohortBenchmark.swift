import Foundation
import PETCohort
import PETTensor

/// The phantom benchmark: one subject on the 2 mm 96×112×96 MNI grid (target: under 1 s on the
/// 2-core reference machine), plus the coarse 4 mm and 1.5 mm grids, with the one-off template
/// preparation timed separately and peak RSS.
public enum CohortBenchmark {
    public struct Case {
        public var name: String
        public var niftiShape: [Int]
        public var voxelSize: Double
    }

    public static let cases = [
        Case(name: "P4", niftiShape: [48, 56, 48], voxelSize: 4),
        Case(name: "P2", niftiShape: [96, 112, 96], voxelSize: 2),
        Case(name: "P1.5", niftiShape: [128, 152, 128], voxelSize: 1.5),
    ]

    public static func run(_ c: Case, timing: Timing, templates: String? = nil) throws -> BenchRow {
        resetPeakResident()
        let t0 = DispatchTime.now().uptimeNanoseconds
        let anatomy = try PhantomAnatomy.load(directory: templates, outputVoxelMM: c.voxelSize)
        let prepMs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        let gen = try PhantomGenerator(anatomy: anatomy, parameters: PhantomParameters(), grid: .mni(niftiShape: c.niftiShape, voxelSize: c.voxelSize))
        var i = 0
        let classes = ["NC", "MCI", "AD"]
        let ms = try timing.medianMs {
            _ = try gen.generate(index: i, className: classes[i % 3], seed: UInt64(1000 + i))
            i += 1
        }
        return ["name": c.name, "grid": c.niftiShape.map(String.init).joined(separator: "x"), "voxel_mm": c.voxelSize,
                "threads": Parallel.threads, "ms_per_subject": r3(ms), "ms_templates_once": r3(prepMs),
                "template_mb": r3(Double(anatomy.byteCount) / 1_048_576),
                "peak_rss_mb": r3(Double(peakResidentBytes()) / 1_048_576)]
    }
}

private func r3(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }
