// `petgan demo` (`make demo`): a few minutes from nothing to generated PET volumes — a phantom
// cohort, a conditional 3D WGAN-GP and the reduced 2D paper baseline trained on it, samples of both
// and an HTML report. In PETWorkflows because it drives every module from the cohort to the report.
import Foundation
import PETCohort
import PETModels
import PETTensor
import PETVolumes

public enum DemoError: Error, CustomStringConvertible {
    case templatesMissing(String)
    public var description: String { switch self { case .templatesMissing(let s): return s } }
}

public struct DemoSummary {
    /// A Ctrl-C stopped a training run (its checkpoint is saved): nothing after it was made.
    public var interrupted: Bool
}

/// The demo's knobs (the command's options; the defaults fit in a few minutes on two cores).
public struct DemoRun {
    public var out = "demo-output"
    /// Cohort grid, NIfTI order x×y×z.
    public var shape = GridShape(nx: 32, ny: 40, nz: 32)
    public var voxelSize = 6.0
    public var subjects = 60
    public var steps3d = 400
    public var steps2d = 600
    /// Time budgets of the two runs in seconds (0: none).
    public var seconds3d = 200.0
    public var seconds2d = 60.0
    public var gChannels = "32,16,8"
    public var dChannels = "8,16,32"
    public var batch = 4
    public var sliceSize = 32
    public var samples = 4
    public var seed: UInt64 = 1
    public var templates: String? = nil
    /// Where the demo's lines go (stdout in the tool); progress goes to stderr.
    public var say: (String) -> Void = { print($0); fflush(stdout) }

    public init() {}

    func trainOptions(_ label: String, _ seconds: Double) -> TrainingRunOptions {
        var o = TrainingRunOptions()
        o.label = label
        o.timeLimit = seconds > 0 ? seconds : nil
        o.say = say
        return o
    }

    @discardableResult
    public func run() throws -> DemoSummary {
        let t0 = Date()
        func elapsed() -> String { String(format: "%.0f s", Date().timeIntervalSince(t0)) }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        func p(_ name: String) -> String { (out as NSString).appendingPathComponent(name) }
        let tdir = TemplateFiles.directory(explicit: templates)
        do { try TemplateFiles.check(directory: tdir) } catch {
            throw DemoError.templatesMissing("the phantom templates are missing in \(tdir): run Volumes/fetch-templates.sh (make demo does) — \(error)")
        }

        // 1. Cohort (reused when it exists with the same grid, count and seed).
        let g = shape
        let cohort = p("cohort.h5"), slices = p("cohort_slices-axial.h5")
        let stamp = p("cohort.txt")
        let wanted = "shape \(shape) voxel \(voxelSize) subjects \(subjects) seed \(seed) slices \(sliceSize)"
        if (try? String(contentsOfFile: stamp, encoding: .utf8)) != wanted || !FileManager.default.fileExists(atPath: cohort) || !FileManager.default.fileExists(atPath: slices) {
            say("demo: [1/4] building the phantom cohort: \(subjects) subjects on \(shape) at \(voxelSize) mm (+ \(sliceSize)×\(sliceSize)×3 axial slices)")
            let plan = try CohortPlan(count: subjects, classNames: ["NC", "MCI", "AD"], proportions: CohortPlan.adniProportions, seed: seed)
            var req = CohortRequest(grid: VolumeGrid.mni(niftiShape: [g.nx, g.ny, g.nz], voxelSize: voxelSize), plan: plan, outputPath: cohort)
            req.templatesDirectory = templates
            var s = SliceOptions()
            s.size = [sliceSize, sliceSize]
            s.stepMM = 6
            req.slices = s
            req.slicePath = slices
            let bar = ProgressReporter(label: "phantom", total: subjects)
            let summary = try PhantomCohort.build(req) { done, _, subj in bar.update(done, detail: "\(subj.id) \(subj.className)") }
            bar.finish()
            try wanted.write(toFile: stamp, atomically: true, encoding: .utf8)
            say(String(format: "demo: cohort ready (%.2f s per subject, %d slice samples) — %@", summary.secondsPerSubject, summary.sliceCount, elapsed()))
        } else {
            say("demo: [1/4] reusing the cohort \(cohort)")
        }

        // 2. Conditional 3D WGAN-GP.
        say("demo: [2/4] training a class-conditional 3D WGAN-GP for \(steps3d) generator steps" + (seconds3d > 0 ? " or \(Int(seconds3d)) s" : ""))
        let runs = p("runs")
        let cfg3 = try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: nil, overrides: [
            "data": .string(cohort), "conditional": true, "out": .string(runs), "batch": .int(batch), "epochs": 100_000, "max_steps": .int(steps3d),
            "g_channels": .string(gChannels), "d_channels": .string(dChannels), "seed": .uint(seed), "checkpoint_every": 50,
            "plot_every": 20, "sample_count": 6, "critic_norm": "layer",
            "n_critic": 3, "lr_g": 2e-4, "lr_d": 2e-4])
        let run3 = try TrainingRun.run(cfg3, options: trainOptions("wgangp3d", seconds3d))
        if run3.interrupted { return DemoSummary(interrupted: true) }

        // 3. The 2D paper baseline at reduced size, one class (AD) as in the paper.
        var run2: TrainSummary? = nil
        if steps2d > 0 {
            say("demo: [3/4] training the 2D paper baseline (reduced: \(sliceSize)×\(sliceSize)×3, widths /8) on AD slices for \(steps2d) steps" + (seconds2d > 0 ? " or \(Int(seconds2d)) s" : ""))
            let cfg2 = try TrainConfig.resolve(model: .dcgan2d, preset: nil, yamlFile: nil, overrides: [
                "data": .string(slices), "class": "AD", "out": .string(runs), "batch": 32, "epochs": 100_000, "max_steps": .int(steps2d),
                "g_channels": "128,64,32", "d_channels": "32,64,128", "z_distribution": "uniform",
                "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "seed": .uint(seed), "checkpoint_every": 50,
                "plot_every": 50, "sample_count": 16])
            run2 = try TrainingRun.run(cfg2, options: trainOptions("dcgan2d", seconds2d))
            if run2!.interrupted { return DemoSummary(interrupted: true) }
        }

        // 4. Generation.
        say("demo: [4/4] generating samples")
        var req3 = GenerationRequest(checkpoint: run3.runDirectory, seeds: (0..<UInt64(samples)).map { $0 }, out: p("generated/wgangp3d"))
        req3.format = .nifti
        let gen3 = try Generation.run(req3)
        var gen2: GenerationSummary? = nil
        if let r2 = run2 {
            gen2 = try Generation.run(GenerationRequest(checkpoint: r2.runDirectory, seeds: (0..<UInt64(16)).map { $0 }, out: p("generated/dcgan2d")))
        }
        // Real next to generated, per class, both in SUVR with one window and colour map: the
        // training data's display window, which the generated montage uses too (the store holds
        // values mapped to [−1, 1]; they are shown in the units they came from).
        let store = try VolumeStore.open(cohort)
        let window = try DataInfo.displayWindow(store, item: 0) ?? (0, 2.2)
        var realVols: [Volume] = [], pairs: [[Volume]] = []
        for c in 0..<store.classNames.count {
            guard let i = store.labels.firstIndex(of: c) else { continue }
            let real = try store.readVolumeInRawUnits(i)
            realVols.append(real)
            if let k = gen3.classes.firstIndex(of: store.classNames[c]) { pairs.append([real, try NIfTIFile.read(gen3.files[k * samples])]) }
        }
        let side = realVols.first?.shape.max() ?? 64
        let look = MontageOptions(colorMap: .inferno, zoom: max(2, Int((160.0 / Double(side)).rounded(.up))), window: window)
        try PNGFile.write(Montage.render(realVols, options: look), to: p("real_examples.png"))
        try PNGFile.write(Montage.render(sideBySide: pairs, window: window, options: look), to: p("real_vs_generated.png"))
        let windowText = String(format: "SUVR %.2f–%.2f, inferno", window.0, window.1)

        // Report.
        var rep = HTMLReport(title: "PETGAN demo")
        rep.paragraph("PETGAN \(PETGANVersion.string), \(Parallel.threads) threads, total \(elapsed()). Phantom cohort: \(subjects) subjects (NC/MCI/AD), \(shape) voxels at \(voxelSize) mm, SUVR (pons).")
        rep.heading("Real and generated, side by side (rows NC, MCI, AD)")
        rep.image("real_vs_generated.png", caption: "Per class: the first real subject (axial | coronal | sagittal) | the first generated sample (seed 0), both in \(windowText)")
        rep.heading("Real phantom volumes (rows NC, MCI, AD)")
        rep.image("real_examples.png", caption: "First subject of each class: axial | coronal | sagittal mid-slices, \(windowText)")
        rep.heading("Conditional 3D WGAN-GP")
        let rel3 = String(run3.runDirectory.dropFirst(out.count + 1))
        rep.paragraph(String(format: "%d generator steps (3 critic steps each, batch %d) in %.0f s (%.2f s per step). Run directory: %@.", run3.steps, batch, run3.seconds, run3.secondsPerStep, rel3))
        rep.image(rel3 + "/loss_curve.png", caption: "Critic loss, generator loss and Wasserstein estimate per step")
        rep.image(rel3 + "/samples/latest.png", caption: "Fixed-noise samples at the end of training (rows cycle NC, MCI, AD)")
        rep.image("generated/wgangp3d/montage.png", caption: "Generated samples: \(samples) per class (rows NC×\(samples), MCI×\(samples), AD×\(samples)), in \(windowText), written as NIfTI in generated/wgangp3d/")
        if let r2 = run2, gen2 != nil {
            let rel2 = String(r2.runDirectory.dropFirst(out.count + 1))
            rep.heading("2D paper baseline (reduced), AD")
            rep.paragraph(String(format: "%d steps (batch 32) in %.0f s (%.2f s per step). Run directory: %@. The full-size paper model: petgan train --preset paper2d --class AD.", r2.steps, r2.seconds, r2.secondsPerStep, rel2))
            rep.image(rel2 + "/loss_curve.png", caption: "Discriminator and generator BCE losses")
            rep.image("generated/dcgan2d/montage.png", caption: "Generated AD slices (centre channel of 3 adjacent slices)")
        }
        rep.heading("Files")
        rep.preformatted(([cohort, slices, run3.runDirectory] + (run2.map { [$0.runDirectory] } ?? []) + [p("generated/wgangp3d"), p("generated/dcgan2d")]).joined(separator: "\n"))
        try rep.write(to: p("report.html"))

        say("")
        say("demo: done in \(elapsed())")
        say("  cohort          \(cohort) (+ \(slices))")
        say("  3D run          \(run3.runDirectory) (loss_curve.png, samples/, metrics.jsonl, checkpoints/)")
        if let r2 = run2 { say("  2D run          \(r2.runDirectory)") }
        say("  3D samples      \(p("generated/wgangp3d")) (\(gen3.samples) NIfTI + JSON sidecars, montage.png)")
        if let g2 = gen2 { say("  2D samples      \(p("generated/dcgan2d")) (\(g2.samples) PNG + NIfTI, montage.png)") }
        say("  pictures        \(p("real_vs_generated.png")) (real | generated per class, \(windowText))")
        say("  report          \(p("report.html"))")
        return DemoSummary(interrupted: false)
    }
}
