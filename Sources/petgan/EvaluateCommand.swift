import ArgumentParser
import Foundation
import PETMetrics
import PETTensor

/// `petgan evaluate`: the evaluation report of synthetic volumes against real ones.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate synthetic volumes against real ones: PSNR/SSIM (paper protocol), regional statistics, MMD, MS-SSIM, Fréchet distance, classifier two-sample test, augmentation benefit; writes report.html and metrics.json.",
        discussion: """
        Inputs are an HDF5 volume store (petgan phantom / prepare / generate --format h5) or a folder of \
        .nii/.nii.gz files (petgan generate; each sample's class is read from its JSON sidecar). Both sets \
        must share one grid. Volumes are read in depth slabs (--slab-depth) and every voxelwise metric \
        (PSNR, SSIM, MS-SSIM, regional means, histograms) is accumulated slab by slab, so no whole \
        volume is held: only block-averaged copies (at most 32 voxels a side) and the voxels the \
        figures show stay in memory. --critic RUN_DIR also scores both sets with the run's own \
        critic, tile by tile within --memory-budget. Store values are mapped back to raw units with each volume's \
        intensity map. 2D samples (channels, H, W) from a 2D model (petgan generate on a dcgan2d run, \
        NIfTI or --format h5) are compared with real 2D samples: the slice store the model trained on \
        (petgan phantom --slices axial), or slices cut from a volume store the same way (--slice-range, \
        --slice-step).
        """)

    @Option(help: "Real volumes: an HDF5 volume store (.h5) or a folder of NIfTI files.")
    var real: String
    @Option(help: "Synthetic volumes: an HDF5 volume store (.h5) or a folder of NIfTI files with JSON sidecars.")
    var synthetic: String
    @Option(name: .customLong("class"), help: "Evaluate only these classes (comma-separated names, e.g. AD or NC,AD).")
    var classes: String?
    @Option(help: "Report folder (report.html, metrics.json, figures/).")
    var out: String
    @Option(help: "Seed of pair sampling, splits and classifiers (recorded in metrics.json).")
    var seed: UInt64 = 1
    @Option(name: .customLong("max-pairs"), help: "Pair at most this many synthetic samples with their nearest real sample (default: all).")
    var maxPairs: Int?
    @Option(name: .customLong("diversity-pairs"), help: "Random same-class pairs per class for MS-SSIM diversity.")
    var diversityPairs: Int = 20
    @Option(help: "Training epochs of each small classifier (C2ST, augmentation, feature network).")
    var epochs: Int = 25
    @Option(name: .customLong("min-steps"), help: "Adam steps each small classifier takes at least (small training sets get more epochs).")
    var minSteps: Int = 400
    @Option(name: .customLong("augmentation-seeds"), help: "Seeds of the augmentation-benefit classifiers, comma-separated (default: 1,2,3).",
            transform: { try SeedList.parse($0) })
    var augmentationSeeds = SeedList(seeds: [1, 2, 3])
    @Option(name: .customLong("mmd-permutations"), help: "Label permutations of the MMD permutation test.")
    var mmdPermutations: Int = 200
    @Option(help: "Folder with the atlas templates (default: $PETGAN_TEMPLATES or Volumes/templates).")
    var templates: String?
    @Option(name: .customLong("slab-depth"), help: "Depth planes read per slab (rounded up to the block-averaging factor); results do not depend on it.")
    var slabDepth: Int = 16
    @Option(help: "A training run directory (or checkpoint .h5) of a 3D model on this grid: its critic scores every real and synthetic volume (AUC, mean gap), tile by tile.")
    var critic: String?
    @OptionGroup var runtime: RuntimeOptions<EvaluateBudget>
    @Option(name: .customLong("slice-range"), help: "2D samples against a volume store: MNI z range (mm, lo:hi) of the real centre slices, as given to `petgan phantom --slices axial` for the 2D training data (default -24:56; write --slice-range=-24:56 when lo is negative).",
            transform: { try MillimetreRange.parse($0) })
    var sliceRange: MillimetreRange?
    @Option(name: .customLong("slice-step"), help: "2D samples against a volume store: distance between real centre slices in mm (default 8, as `petgan phantom`).")
    var sliceStep: Double?
    @Option(help: "The store the model trained on (HDF5 volume store on the same grid): the memorisation audit finds every synthetic and held-out real volume's nearest training volume (streamed).")
    var train: String?
    @Option(name: .customLong("near-copy-quantile"), help: "Memorisation audit: a synthetic volume closer to a training volume than this quantile of the held-out real volumes' distances is a near-copy (0 < q < 1).")
    var nearCopyQuantile: Double = 0.05
    @Option(name: .customLong("bootstrap-resamples"), help: "Resamples of each percentile-bootstrap 95% interval (seeded by --seed).")
    var bootstrapResamples: Int = 1000
    @Flag(name: .customLong("skip-classifiers"), help: "Skip the CNN-based metrics (C2ST, augmentation, Fréchet distance, feature MMD).")
    var skipClassifiers = false

    func validate() throws {
        if let r = sliceRange, r.low > r.high {
            throw ValidationError("--slice-range must be lo:hi in mm with lo <= hi, e.g. --slice-range=-24:56 (got '\(r)')")
        }
        if let s = sliceStep, !(s > 0) { throw ValidationError("--slice-step must be positive (mm)") }
        if let m = maxPairs, m < 1 { throw ValidationError("--max-pairs must be at least 1") }
        guard diversityPairs >= 1 else { throw ValidationError("--diversity-pairs must be at least 1") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard minSteps >= 1 else { throw ValidationError("--min-steps must be at least 1") }
        guard mmdPermutations >= 0 else { throw ValidationError("--mmd-permutations must be 0 or more") }
        guard slabDepth >= 1 else { throw ValidationError("--slab-depth must be at least 1") }
        guard nearCopyQuantile > 0, nearCopyQuantile < 1 else { throw ValidationError("--near-copy-quantile must lie strictly between 0 and 1 (got \(nearCopyQuantile))") }
        guard bootstrapResamples >= 1 else { throw ValidationError("--bootstrap-resamples must be at least 1") }
        if let t = train, t.isEmpty { throw ValidationError("--train needs a path to an HDF5 volume store") }
    }

    func run() throws {
        try runReportingErrors {
            runtime.apply()
            var o = EvaluationOptions(real: real, synthetic: synthetic, out: out)
            o.classes = (classes ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            o.seed = seed
            o.maxPairs = maxPairs
            o.diversityPairs = diversityPairs
            o.classifierEpochs = epochs
            o.classifierMinSteps = minSteps
            o.augmentationSeeds = augmentationSeeds.seeds
            o.mmdPermutations = mmdPermutations
            o.templatesDirectory = templates
            o.memoryBudget = runtime.memoryBudget?.bytes
            o.skipClassifiers = skipClassifiers
            o.slabDepth = slabDepth
            o.critic = critic
            o.sliceRangeMM = sliceRange?.values
            o.sliceStepMM = sliceStep
            o.train = train
            o.nearCopyQuantile = nearCopyQuantile
            o.bootstrapResamples = bootstrapResamples
            o.log = { FileHandle.standardError.write(Data(("evaluate: " + $0 + "\n").utf8)) }
            let m = try Evaluation.run(o)
            let paper = m.result(of: PaperProtocolMetric.self)
            func mean(_ s: Summary?) -> String {
                guard let v = s?.mean, v.isFinite else { return "–" }
                return String(format: "%.4g", v)
            }
            if paper?.layout == "2D" {
                print("PSNR 2D \(mean(paper?.psnr2D)) dB, SSIM 2D \(mean(paper?.ssim2D)) (2D samples, \(paper?.pairs ?? 0) pairs)")
            } else {
                print("PSNR 2D \(mean(paper?.psnr2D)) dB, SSIM 2D \(mean(paper?.ssim2D)); PSNR 3D \(mean(paper?.psnr3D)) dB, SSIM 3D \(mean(paper?.ssim3D))")
            }
            if let c = m.result(of: C2STMetric.self), c.accuracy.isFinite {
                print(String(format: "C2ST accuracy %.1f%% (%.1f–%.1f%%)", 100 * c.accuracy, 100 * c.ciLow, 100 * c.ciHigh))
            }
            if let c = m.result(of: CriticMetric.self) {
                print(String(format: "critic AUC %.3f (real vs synthetic; 0.5 = indistinguishable), mean score gap %.4g", c.auc, c.gap))
            }
            let q = m.summary
            func show(_ v: Double?, _ f: String = "%.4g") -> String { v.map { $0.isFinite ? String(format: f, $0) : "–" } ?? "–" }
            if q.fdSeeded != nil || q.fdTask != nil {
                print("FD seeded \(show(q.fdSeeded)) (95% \(show(q.fdSeededLow))–\(show(q.fdSeededHigh))), FD task \(show(q.fdTask))")
            }
            if let f = q.classFidelity { print("class fidelity \(show(f, "%.3f")) (held-out real ceiling \(show(q.classFidelityCeiling, "%.3f")))") }
            if let r = q.regionalAbsErr { print("regional mean |error| \(show(r))") }
            if let r = q.nnRatio { print("memorisation: nn_ratio \(show(r, "%.3f")), near copies \(q.nearCopies ?? 0)") }
            print("report: \((out as NSString).appendingPathComponent("report.html"))")
            print("metrics: \((out as NSString).appendingPathComponent("metrics.json"))")
        }
    }
}
