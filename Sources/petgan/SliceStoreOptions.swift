import ArgumentParser
import PETCohort

/// The 2D slice-store options shared by `petgan phantom` and `petgan prepare`: with `--slices axial`
/// they also write `<out stem>_slices-axial.h5` of (channels, H, W) samples, by default the reference
/// paper's 128×128×3 (three adjacent axial slices), the input of `train --preset paper2d`.
struct SliceStoreOptions: ParsableArguments {
    @Option(help: "Also write 2D slice sets along this axis (only 'axial'): 3 adjacent slices of 128×128 by default, the paper2d preset's input.")
    var slices: String?
    @Option(name: .customLong("slice-shape"), help: "Slice size in pixels, HxW.")
    var sliceShape = SliceShape(height: 128, width: 128)
    @Option(help: "Adjacent slices per 2D sample (channels, odd).")
    var channels: Int = 3
    @Option(name: .customLong("slice-range"), help: "World (MNI) z range of the centre slices in mm, lo:hi (default: -24:56; write --slice-range=-24:56).",
            transform: { try MillimetreRange.parse($0) })
    var sliceRange = MillimetreRange(low: -24, high: 56)
    @Option(name: .customLong("slice-step"), help: "Distance between centre slices in mm.")
    var sliceStep: Double = 8
    @Option(name: .customLong("slices-out"), help: "Slice store path (default: <out stem>_slices-axial.h5).")
    var slicesOut: String?

    func validate() throws {
        if let s = slices, s != "axial" { throw ValidationError("--slices supports 'axial' only (got '\(s)')") }
        do { _ = try options() } catch { throw ValidationError("\(error)") }   // before anything is written
    }

    /// The slice options, or nil without --slices.
    func options() throws -> SliceOptions? {
        guard slices != nil else { return nil }
        var s = SliceOptions()
        s.channels = channels
        s.size = [sliceShape.height, sliceShape.width]
        s.zRangeMM = sliceRange.values
        s.stepMM = sliceStep
        try s.validate()
        return s
    }

    /// Where the slice store goes for the volume store `out`.
    func path(for out: String) -> String { slicesOut ?? CohortRequest.defaultSlicePath(for: out) }
}

/// `--slice-shape HxW`: two positive sides.
struct SliceShape: ExpressibleByArgument, CustomStringConvertible {
    var height: Int, width: Int
    init(height: Int, width: Int) { self.height = height; self.width = width }
    init?(argument: String) {
        let p = argument.lowercased().split(omittingEmptySubsequences: false, whereSeparator: { $0 == "x" || $0 == "×" }).map { Int($0) }
        guard p.count == 2, let h = p[0], let w = p[1], h > 0, w > 0 else { return nil }
        (height, width) = (h, w)
    }
    var description: String { "\(height)x\(width)" }
    var defaultValueDescription: String { description }
}
