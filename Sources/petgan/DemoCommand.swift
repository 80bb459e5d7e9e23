import ArgumentParser
import Foundation
import PETWorkflows

/// `petgan demo` (`make demo`): a few minutes from nothing to generated PET volumes (DemoRun in PETWorkflows).
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
    var shape = GridSides(32, 40, 32)
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
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        guard subjects >= 3 else { throw ValidationError("--subjects must be at least 3 (one per class)") }
        guard steps3d >= 1, steps2d >= 0 else { throw ValidationError("--steps-3d must be at least 1 and --steps-2d not negative") }
    }

    func run() throws {
        try runReportingErrors {
            threads.apply()
            var d = DemoRun()
            d.out = out; d.shape = shape.niftiShape; d.voxelSize = voxelSize; d.subjects = subjects
            d.steps3d = steps3d; d.steps2d = steps2d; d.seconds3d = seconds3d; d.seconds2d = seconds2d
            d.gChannels = gChannels; d.dChannels = dChannels; d.batch = batch; d.sliceSize = sliceSize
            d.samples = samples; d.seed = seed; d.templates = templates
            // Ctrl-C: the checkpoint is saved; status 130 tells scripts the demo did not finish.
            if try d.run().interrupted { throw ExitCode(130) }
        }
    }
}
