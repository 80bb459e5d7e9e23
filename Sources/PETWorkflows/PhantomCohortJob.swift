// `petgan phantom`: a phantom cohort from the command line's choices (classes, proportions, grid),
// with progress and an optional montage of the first subject of each class.
import Foundation
import PETCohort
import PETTensor
import PETVolumes

public struct PhantomCohortJob {
    public var count = 411
    /// Classes to draw (nil: those of the parameters).
    public var classes: [String]? = nil
    /// Weights in the order of `classes` (nil: ADNI-1 proportions for NC, MCI, AD, else equal).
    public var proportions: [Double]? = nil
    /// NIfTI order x×y×z.
    public var niftiShape = [96, 112, 96]
    public var voxelSize = 2.0
    /// The volume store to write.
    public var out: String
    public var niftiDirectory: String? = nil
    /// Also write the cohort as a BIDS raw dataset into this (new) folder.
    public var bidsDirectory: String? = nil
    public var seed: UInt64 = 1
    public var parameters = PhantomParameters()
    public var templatesDirectory: String? = nil
    public var slices: SliceOptions? = nil
    public var slicePath: String? = nil
    public var suvrMax = 4.0
    /// Also store each volume's f×f×f block means (/volumes_low_resolution); nil for none.
    public var lowResolutionFactor: Int? = nil
    /// A PNG of the first subject of each class (axial, coronal, sagittal mid-slices).
    public var montage: String? = nil
    /// Where the job's lines go (stdout in the tool); progress goes to stderr.
    public var say: (String) -> Void = { print($0) }

    public init(out: String) { self.out = out }

    /// Checks what can be checked before the templates are read, then builds the cohort.
    @discardableResult
    public func run() throws -> CohortSummary {
        let classNames = classes ?? parameters.classes.map(\.name)
        for c in classNames where parameters.classModel(named: c) == nil {
            throw PhantomError.invalidRequest("class '\(c)' in --classes is not defined (defined: \(parameters.classes.map(\.name).joined(separator: ", ")))")
        }
        let outDir = (out as NSString).deletingLastPathComponent
        if !outDir.isEmpty, !FileManager.default.fileExists(atPath: outDir) {
            throw PhantomError.writeFailed(path: out, reason: "folder \(outDir) does not exist")
        }
        let weights = proportions ?? (classNames == ["NC", "MCI", "AD"] ? CohortPlan.adniProportions : nil)
        let plan = try CohortPlan(count: count, classNames: classNames, proportions: weights, seed: seed)
        let grid = VolumeGrid.mni(niftiShape: niftiShape, voxelSize: voxelSize)
        var req = CohortRequest(grid: grid, parameters: parameters, plan: plan, outputPath: out)
        req.niftiDirectory = niftiDirectory
        req.bidsDirectory = bidsDirectory
        req.templatesDirectory = templatesDirectory
        req.suvrMax = suvrMax
        req.lowResolutionFactor = lowResolutionFactor
        req.slicePath = slicePath
        req.slices = slices
        let counts = Dictionary(grouping: plan.subjects, by: \.className).mapValues(\.count)
        say("phantom: \(count) subjects (\(classNames.map { "\($0) \(counts[$0] ?? 0)" }.joined(separator: ", "))) on \(grid), seed \(seed)")
        let t0 = DispatchTime.now().uptimeNanoseconds
        let anatomy = try PhantomAnatomy.load(directory: templatesDirectory, outputVoxelMM: voxelSize)
        say(String(format: "phantom: templates ready in %.1f s (%@ shared)", Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, formatBytes(anatomy.byteCount)))
        let bar = ProgressReporter(label: "phantom", total: count)
        var firstOfClass: [String: Int] = [:]
        let summary = try PhantomCohort.build(req, anatomy: anatomy) { done, _, s in
            if firstOfClass[s.className] == nil { firstOfClass[s.className] = s.index }
            bar.update(done, detail: "\(s.id) \(s.className)")
        }
        bar.finish()
        say(String(format: "phantom: wrote %@ (%d volumes, %.2f s per subject)", summary.outputPath, summary.subjects, summary.secondsPerSubject))
        if let f = lowResolutionFactor {
            say("phantom: with a low-resolution copy (/\(LowResolution.datasetName), \(f)×\(f)×\(f) block means, \(GridShape(arrayShape: grid.shape.map { $0 / f })))")
        }
        if let sp = summary.slicePath, let so = slices {
            say("phantom: wrote \(sp) (\(summary.sliceCount) slice samples of \(so.channels)x\(so.size.map(String.init).joined(separator: "x")))")
        }
        if let d = summary.niftiDirectory { say("phantom: wrote \(summary.subjects) NIfTI volumes into \(d)") }
        if let d = bidsDirectory { say("phantom: wrote BIDS dataset \(d) (\(summary.subjects) subjects; participants.tsv column 'class')") }
        if let m = montage {
            let store = try VolumeStore.open(out)
            let order = classNames.compactMap { firstOfClass[$0] }
            let w = CohortRequest.displayWindowSUVR
            try PNGFile.write(try PhantomCohort.montage(store: store, indices: order), to: m)
            say("phantom: wrote \(m) (rows: \(order.map { plan.subjects[$0].className }.joined(separator: ", ")); SUVR \(Int(w.0))–\(Int(w.1)))")
        }
        return summary
    }
}
