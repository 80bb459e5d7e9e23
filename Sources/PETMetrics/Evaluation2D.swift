// `petgan evaluate` on 2D samples, the reference paper's unit: (channels, H, W) stacks of adjacent
// axial slices, as the 2D model (dcgan2d) trains on and `petgan generate` writes them. The real side is
// a slice store (`petgan phantom --slices axial`, what the 2D model trained on) or a volume store,
// which is cut into slices exactly as the slice store is (PETCohort's AxialSlices: same centres,
// channels, square field of view and resolution), so synthetic slices are compared with real slices
// at the training positions and resolution.
//
// Public API:
//   let s = try SampleSet2D.items(of: volumeSet)                   // a set whose items are 2D samples
//   let r = try SampleSet2D.slices(of: volumeSet, options: sliceOptions)   // slices cut from volumes
//   Evaluation.run(o) evaluates 2D samples when either input holds them (Evaluation.inputs2D).

import Foundation
import PETCohort
import PETTensor
import PETVolumes

/// 2D samples (channels, H, W) in physical units, read one at a time.
public final class SampleSet2D {
    public let path: String
    /// What the items are, for the report ("slice store", "NIfTI folder", "slices cut from …").
    public let kind: String
    public let units: String
    public let itemShape: [Int]
    public let classNames: [String]
    /// Class index into `classNames` per item, −1 when unknown.
    public let labels: [Int]
    public let names: [String]
    /// MNI z (mm) of each item's centre slice, when known.
    public let positionsMM: [Double?]
    let read: (Int) throws -> [Float]

    public var count: Int { labels.count }
    public func values(_ i: Int) throws -> [Float] { try read(i) }

    init(path: String, kind: String, units: String, itemShape: [Int], classNames: [String], labels: [Int], names: [String],
         positionsMM: [Double?], read: @escaping (Int) throws -> [Float]) {
        self.path = path; self.kind = kind; self.units = units; self.itemShape = itemShape; self.classNames = classNames
        self.labels = labels; self.names = names; self.positionsMM = positionsMM; self.read = read
    }

    /// The items of a set that already holds 2D samples (a slice store or 2D NIfTI files).
    public static func items(of set: VolumeSet) throws -> SampleSet2D {
        guard set.holdsSlices else {
            throw MetricsError.badInput(path: set.path, reason: "items have shape \(set.shape), not 2D samples (channels ≤ 16, H, W)")
        }
        // A phantom slice store records where each sample was cut (/slice_z_mm).
        var z: [Double?] = Array(repeating: nil, count: set.count)
        if set.kind == .store, let f = try? HDF5File.open(set.path), let ds = try? f.dataset("slice_z_mm"),
           let all = try? ds.read(Double.self) {
            z = set.indices.map { $0 < all.count ? all[$0] : nil }
        }
        return SampleSet2D(path: set.path, kind: set.kind == .store ? "2D sample store" : "2D NIfTI samples", units: set.units,
                           itemShape: set.shape, classNames: set.classNames, labels: set.labels, names: set.names, positionsMM: z,
                           read: { try set.values($0) })
    }

    /// Slices cut from each volume of `set` as the 2D training data is cut (AxialSlices with `options`):
    /// items are (volume, centre slice) in volume order. The last volume read is kept, so a volume's
    /// slices cost one read.
    public static func slices(of set: VolumeSet, options: SliceOptions) throws -> SampleSet2D {
        do { try options.validate() } catch { throw MetricsError.badInput(path: set.path, reason: "slice options: \(error)") }
        let grid = VolumeGrid(shape: set.shape, affine: set.affine)
        let centres = AxialSlices.centres(grid: grid, options: options)
        guard !centres.isEmpty else {
            throw MetricsError.badInput(path: set.path, reason: "no axial slice of its \(set.shape) grid lies in z \(options.zRangeMM[0])…\(options.zRangeMM[1]) mm (--slice-range)")
        }
        final class Cache { var index = -1; var values: [Float] = [] }
        let cache = Cache()
        let nc = centres.count
        var labels: [Int] = [], names: [String] = [], z: [Double?] = []
        for i in 0..<set.count {
            for k in centres {
                labels.append(set.labels[i]); names.append("\(set.names[i]):k=\(k)"); z.append(grid.affine.apply(0, 0, Double(k)).2)
            }
        }
        let kind = String(format: "axial slices cut from volumes (%d per volume, z %g…%g mm every %g mm, %d channels, %dx%d)",
                          nc, options.zRangeMM[0], options.zRangeMM[1], options.stepMM, options.channels, options.size[0], options.size[1])
        return SampleSet2D(path: set.path, kind: kind, units: set.units, itemShape: [options.channels] + options.size,
                           classNames: set.classNames, labels: labels, names: names, positionsMM: z, read: { item in
            let v = item / nc
            if cache.index != v { cache.values = try set.values(v); cache.index = v }
            return AxialSlices.extract(cache.values, grid: grid, centre: centres[item % nc], options: options)
        })
    }
}

extension VolumeSet {
    /// Whether the items are 2D samples (channels, H, W) rather than volumes: the rule the 2D model's
    /// training data follows (TrainingData: at most 16 channels).
    public var holdsSlices: Bool { shape[0] <= 16 }
}

extension Evaluation {
    /// Per channel block average by `factor` in H and W (channels kept): (C, H, W) → (C, H/f, W/f).
    static func downsampleChannels(_ x: [Float], shape: [Int], factor: Int) -> ([Float], [Int]) {
        let plane = shape[1] * shape[2]
        var out: [Float] = [], small: [Int] = []
        for c in 0..<shape[0] {
            let (s, ss) = ImageMetrics.downsample(Array(x[(c * plane)..<((c + 1) * plane)]), shape: [shape[1], shape[2]], factor: factor)
            out += s; small = ss
        }
        return (out, [shape[0]] + small)
    }

    /// SSIM of two (C, H, W) samples: the mean over channels of 2D SSIM (skimage's channel_axis rule).
    static func ssim2D(_ a: [Float], _ b: [Float], shape: [Int], dataRange: Double) throws -> Double {
        let plane = shape[1] * shape[2]
        var total = 0.0
        for c in 0..<shape[0] {
            total += try ImageMetrics.ssim(Array(a[(c * plane)..<((c + 1) * plane)]), Array(b[(c * plane)..<((c + 1) * plane)]),
                                           shape: [shape[1], shape[2]], dataRange: dataRange)
        }
        return total / Double(shape[0])
    }

    /// MS-SSIM of two (C, H, W) samples: the mean over channels.
    static func msssim2D(_ a: [Float], _ b: [Float], shape: [Int], dataRange: Double, scales: Int) throws -> Double {
        let plane = shape[1] * shape[2]
        var total = 0.0
        for c in 0..<shape[0] {
            total += try ImageMetrics.msssim(Array(a[(c * plane)..<((c + 1) * plane)]), Array(b[(c * plane)..<((c + 1) * plane)]),
                                             shape: [shape[1], shape[2]], dataRange: dataRange, scales: scales)
        }
        return total / Double(shape[0])
    }

    /// The 2D protocol's sets: synthetic 2D samples against real 2D samples, or against slices cut from
    /// a volume store as the 2D training data is cut; both of one (channels, H, W) shape.
    static func inputs2D(_ o: EvaluationOptions, real realAll: VolumeSet, synthetic synthAll: VolumeSet) throws -> EvaluationInputs {
        guard synthAll.holdsSlices else {
            throw MetricsError.mismatch(detail: "\(o.real) holds 2D samples \(realAll.shape) (channels, H, W) but \(o.synthetic) holds \(synthAll.shape) volumes; evaluate 3D volumes against a volume store")
        }
        synthAll.alignClasses(to: realAll.classNames)
        let synth = try SampleSet2D.items(of: try synthAll.restricted(toClasses: o.classes))
        let realVolumes = try realAll.restricted(toClasses: o.classes)
        let real: SampleSet2D
        if realAll.holdsSlices {
            real = try SampleSet2D.items(of: realVolumes)
        } else {
            var so = SliceOptions()
            so.channels = synth.itemShape[0]; so.size = [synth.itemShape[1], synth.itemShape[2]]
            if let r = o.sliceRangeMM { so.zRangeMM = r }
            if let s = o.sliceStepMM { so.stepMM = s }
            real = try SampleSet2D.slices(of: realVolumes, options: so)
        }
        guard real.itemShape == synth.itemShape else {
            throw MetricsError.mismatch(detail: "\(o.real) has 2D samples of shape \(real.itemShape) (channels, H, W) but \(o.synthetic) has \(synth.itemShape); compare with the slice store the 2D model trained on")
        }
        guard real.count >= 2, synth.count >= 2 else {
            throw MetricsError.tooSmall(detail: "evaluation needs at least 2 real and 2 synthetic samples (have \(real.count) and \(synth.count))")
        }
        let (nh, nw) = (real.itemShape[1], real.itemShape[2])
        guard nh >= ImageMetrics.gaussianTaps().count, nw >= ImageMetrics.gaussianTaps().count else {
            throw MetricsError.tooSmall(detail: "2D samples of \(nh)x\(nw) pixels are smaller than the 11-pixel SSIM window")
        }
        return .samples2D(real: real, synthetic: synth)
    }
}
