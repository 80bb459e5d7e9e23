import Foundation
import PETCohort
import PETTensor

/// The phantom benchmark: one subject on the 2 mm 96×112×96 MNI grid (target: under 1 s on the
/// 2-core reference machine) and on the 1 mm 192×224×192 grid (under 5 s), plus the coarse 4 mm and
/// 1.5 mm grids, with the one-off template
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
        Case(name: "P1", niftiShape: [192, 224, 192], voxelSize: 1),   // target: under 5 s
    ]

    public static func run(_ c: Case, timing: Timing, templates: String? = nil) throws -> CohortRow {
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
        return CohortRow(name: c.name, grid: c.niftiShape.map(String.init).joined(separator: "x"), voxelMM: c.voxelSize,
                         threads: Parallel.threads, msPerSubject: r3(ms), msTemplatesOnce: r3(prepMs),
                         templateMB: r3(Double(anatomy.byteCount) / 1_048_576), peakRSSMB: r3(Double(peakResidentBytes()) / 1_048_576))
    }

    /// `petgan bench phantom`: the cases named in `only` (nil: all), as a table.
    public static func runPrinted(only: Set<String>?, timing: Timing, templates: String?, say: (String) -> Void = { print($0) }) throws -> [CohortRow] {
        say("PETGAN \(PETGANVersion.string) phantom benchmark: \(Parallel.threads) threads, median of \(timing.reps) subjects after \(timing.warmup) warm-up")
        say(String(format: "%-5@ %-12@ %6@ %12@ %14@ %12@ %8@", "name", "grid", "mm", "ms/subject", "ms templates", "template MB", "RSS MB"))
        var rows: [CohortRow] = []
        for c in cases where only?.contains(c.name) ?? true {
            let r = try run(c, timing: timing, templates: templates)
            rows.append(r)
            say(String(format: "%-5@ %-12@ %6.1f %12.1f %14.1f %12.1f %8.0f", c.name, r.grid, c.voxelSize,
                       r.msPerSubject, r.msTemplatesOnce, r.templateMB, r.peakRSSMB))
        }
        return rows
    }
}

/// One row of `bench phantom`.
public struct CohortRow: Codable {
    public var name: String
    public var grid: String
    public var voxelMM: Double
    public var threads: Int
    public var msPerSubject: Double, msTemplatesOnce: Double
    public var templateMB: Double, peakRSSMB: Double
    enum CodingKeys: String, CodingKey {
        case name, grid, threads
        case voxelMM = "voxel_mm", msPerSubject = "ms_per_subject", msTemplatesOnce = "ms_templates_once"
        case templateMB = "template_mb", peakRSSMB = "peak_rss_mb"
    }
}
