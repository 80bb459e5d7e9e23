import ArgumentParser
import Foundation
import PETCohort
import PETModels
import PETTensor
import PETVolumes

/// `petgan demo` (`make demo`): a few minutes from nothing to generated PET volumes.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Build a small phantom cohort, train a conditional 3D WGAN-GP and the 2D paper baseline (reduced), generate samples, write a report.",
        discussion: """
        Everything goes into --out: cohort.h5 (+ the 2D slice store), runs/ (two training runs), generated/ \
        (NIfTI + PNG samples of every class) and report.html. The defaults fit in a few minutes on two cores. \
        For a real run, scale the knobs: --shape 96x112x96 --voxel-size 2 (a 6×7×6 base grid with 4 upsamplings: \
        pass --g-channels 256,128,64,32 --d-channels 32,64,128,256), --subjects 411, --steps-3d 20000, and the \
        full paper preset on 128×128 slices with `petgan train --preset paper2d --class AD`.
        """)

    @Option(help: "Output folder.")
    var out: String = "demo-output"
    @Option(help: "Cohort grid, x by y by z voxels (each side a base size times 8 for the default 3 upsamplings).")
    var shape: String = "32x40x32"
    @Option(name: .customLong("voxel-size"), help: "Cohort voxel size in mm.")
    var voxelSize: Double = 6
    @Option(help: "Cohort subjects (NC/MCI/AD in ADNI proportions).")
    var subjects: Int = 60
    @Option(name: .customLong("steps-3d"), help: "Generator steps of the conditional 3D WGAN-GP (3 critic steps each, lr 2e-4: a demo setting; the model default is 5 and 1e-4).")
    var steps3d: Int = 400
    @Option(name: .customLong("steps-2d"), help: "Generator steps of the reduced 2D paper baseline (AD slices).")
    var steps2d: Int = 600
    @Option(name: .customLong("seconds-3d"), help: "Time budget of the 3D run in seconds (it stops after the step that passes it; 0: no budget).")
    var seconds3d: Double = 200
    @Option(name: .customLong("seconds-2d"), help: "Time budget of the 2D run in seconds (0: no budget).")
    var seconds2d: Double = 60
    @Option(name: .customLong("g-channels"), help: "3D generator widths (one per upsampling).")
    var gChannels: String = "32,16,8"
    @Option(name: .customLong("d-channels"), help: "3D critic widths (one per strided convolution).")
    var dChannels: String = "8,16,32"
    @Option(help: "3D batch size.")
    var batch: Int = 4
    @Option(name: .customLong("slice-size"), help: "2D slice size in pixels (square; 4·2^L for L = 3 layers: 32).")
    var sliceSize: Int = 32
    @Option(help: "Generated samples per class.")
    var samples: Int = 4
    @Option(help: "Seed of the cohort and both runs.")
    var seed: UInt64 = 1
    @Option(help: "Folder with the templates (default: $PETGAN_TEMPLATES or Volumes/templates).")
    var templates: String?
    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        guard subjects >= 3 else { throw ValidationError("--subjects must be at least 3 (one per class)") }
        guard steps3d >= 1, steps2d >= 0 else { throw ValidationError("--steps-3d must be at least 1 and --steps-2d not negative") }
        guard GridShape.parse(shape) != nil else { throw ValidationError("--shape must be XxYxZ, e.g. 32x40x32 (got '\(shape)')") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        try runReportingErrors {
            if let t = threads { Parallel.setThreads(t) }
            let t0 = Date()
            func elapsed() -> String { String(format: "%.0f s", Date().timeIntervalSince(t0)) }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            func p(_ name: String) -> String { (out as NSString).appendingPathComponent(name) }
            let tdir = TemplateFiles.directory(explicit: templates)
            do { try TemplateFiles.check(directory: tdir) } catch {
                throw ValidationError("the phantom templates are missing in \(tdir): run Volumes/fetch-templates.sh (make demo does) — \(error)")
            }

            // 1. Cohort (reused when it exists with the same grid, count and seed).
            let g = GridShape.parse(shape)!
            let cohort = p("cohort.h5"), slices = p("cohort_slices-axial.h5")
            let stamp = p("cohort.txt")
            let wanted = "shape \(shape) voxel \(voxelSize) subjects \(subjects) seed \(seed) slices \(sliceSize)"
            if (try? String(contentsOfFile: stamp, encoding: .utf8)) != wanted || !FileManager.default.fileExists(atPath: cohort) || !FileManager.default.fileExists(atPath: slices) {
                print("demo: [1/4] building the phantom cohort: \(subjects) subjects on \(shape) at \(voxelSize) mm (+ \(sliceSize)×\(sliceSize)×3 axial slices)")
                let plan = try CohortPlan(count: subjects, classNames: ["NC", "MCI", "AD"], proportions: CohortPlan.adniProportions, seed: seed)
                var req = CohortRequest(grid: VolumeGrid.mni(niftiShape: [g.nx, g.ny, g.nz], voxelSize: voxelSize), plan: plan, outputPath: cohort)
                req.templatesDirectory = templates
                var s = SliceOptions()
                s.size = [sliceSize, sliceSize]
                s.stepMM = 6
                req.slices = s
                req.slicePath = slices
                var bar = PhantomProgress(total: subjects, label: "phantom")
                let summary = try PhantomCohort.build(req) { done, _, subj in bar.update(done, detail: "\(subj.id) \(subj.className)") }
                bar.finish()
                try wanted.write(toFile: stamp, atomically: true, encoding: .utf8)
                print(String(format: "demo: cohort ready (%.2f s per subject, %d slice samples) — %@", summary.secondsPerSubject, summary.sliceCount, elapsed()))
            } else {
                print("demo: [1/4] reusing the cohort \(cohort)")
            }

            // 2. Conditional 3D WGAN-GP.
            print("demo: [2/4] training a class-conditional 3D WGAN-GP for \(steps3d) generator steps" + (seconds3d > 0 ? " or \(Int(seconds3d)) s" : ""))
            let runs = p("runs")
            let cfg3 = try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: nil, overrides: [
                "data": cohort, "conditional": true, "out": runs, "batch": batch, "epochs": 100_000, "max_steps": steps3d,
                "g_channels": gChannels, "d_channels": dChannels, "seed": Int(seed), "checkpoint_every": 50,
                "plot_every": 20, "sample_count": 6, "critic_norm": "layer",
                "n_critic": 3, "lr_g": 2e-4, "lr_d": 2e-4])
            let run3 = try TrainCommand.train(cfg3, label: "wgangp3d", timeLimit: seconds3d > 0 ? seconds3d : nil)
            if run3.interrupted { throw ExitCode(130) }

            // 3. The 2D paper baseline at reduced size, one class (AD) as in the paper.
            var run2: TrainSummary? = nil
            if steps2d > 0 {
                print("demo: [3/4] training the 2D paper baseline (reduced: \(sliceSize)×\(sliceSize)×3, widths /8) on AD slices for \(steps2d) steps" + (seconds2d > 0 ? " or \(Int(seconds2d)) s" : ""))
                let cfg2 = try TrainConfig.resolve(model: .dcgan2d, preset: nil, yamlFile: nil, overrides: [
                    "data": slices, "class": "AD", "out": runs, "batch": 32, "epochs": 100_000, "max_steps": steps2d,
                    "g_channels": "128,64,32", "d_channels": "32,64,128", "z_distribution": "uniform",
                    "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "seed": Int(seed), "checkpoint_every": 50,
                    "plot_every": 50, "sample_count": 16])
                run2 = try TrainCommand.train(cfg2, label: "dcgan2d", timeLimit: seconds2d > 0 ? seconds2d : nil)
                if run2!.interrupted { throw ExitCode(130) }
            }

            // 4. Generation.
            print("demo: [4/4] generating samples")
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

            print("")
            print("demo: done in \(elapsed())")
            print("  cohort          \(cohort) (+ \(slices))")
            print("  3D run          \(run3.runDirectory) (loss_curve.png, samples/, metrics.jsonl, checkpoints/)")
            if let r2 = run2 { print("  2D run          \(r2.runDirectory)") }
            print("  3D samples      \(p("generated/wgangp3d")) (\(gen3.samples) NIfTI + JSON sidecars, montage.png)")
            if let g2 = gen2 { print("  2D samples      \(p("generated/dcgan2d")) (\(g2.samples) PNG + NIfTI, montage.png)") }
            print("  pictures        \(p("real_vs_generated.png")) (real | generated per class, \(windowText))")
            print("  report          \(p("report.html"))")
        }
    }
}
