import ArgumentParser
import Foundation
import PETModels
import PETTiling
import PETTensor
import PETVolumes

/// `petgan generate`: samples from a trained checkpoint in the training data's geometry and units.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate samples from a trained model (NIfTI in the training data's geometry and units, with provenance).",
        discussion: """
        3D models write one .nii.gz per sample on the training grid (affine, voxel size) with intensities \
        mapped back to the training data's units (SUVR for phantom cohorts), and a JSON sidecar (checkpoint \
        SHA-256, model, class, seed, PETGAN version). 2D models write NIfTI stacks of the adjacent slices \
        and a PNG per sample. Every format also writes montage.png of the set. A sample depends only on \
        (checkpoint, class, seed).
        """)

    @Option(help: "A run directory (uses checkpoints/final.h5, else latest.h5) or a checkpoint file.")
    var checkpoint: String
    @Option(name: .customLong("class"), help: "Class to generate, e.g. AD (conditional models; default: every class). Repeatable or comma-separated.")
    var classes: [String] = []
    @Option(help: "Samples per class (seeds --seed … --seed+count−1).")
    var count: Int = 8
    @Option(help: "First seed.")
    var seed: UInt64 = 0
    @Option(help: "Explicit seeds, e.g. 0-99 or 3,5,8 (overrides --seed and --count).")
    var seeds: String?
    @Option(help: "Output folder (or --bids).")
    var out: String?
    @Option(help: "A BIDS dataset: write the samples as the derivative dataset DIR/derivatives/petgan (3D models, NIfTI; docs/BIDS.md).")
    var bids: String?
    @Option(help: "nifti (default), h5 (one volume store) or png.")
    var format: GenerationFormat = .nifti
    @OptionGroup var runtime: RuntimeOptions<GenerateBudget>
    @OptionGroup var precision: PrecisionOptions
    @Option(help: "3D models: explicit output tile D×H×W for tiled generation (default: chosen from --memory-budget).", transform: { try GridSides.parse($0) })
    var tile: GridSides?
    @Flag(help: "Sample the raw generator instead of its moving average (runs trained with --g-ema keep both; the average is the default).")
    var raw = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard (out == nil) != (bids == nil) else { throw ValidationError("give one of --out DIR or --bids DIR") }
    }

    func run() throws {
        try runReportingErrors {
            runtime.apply()
            precision.apply()
            let list = try seeds.map(Generation.parseSeeds) ?? (0..<UInt64(count)).map { seed + $0 }
            var req = GenerationRequest(checkpoint: checkpoint, seeds: list, out: out ?? "")
            req.classes = classes.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            req.format = format
            req.memoryBudget = runtime.memoryBudget?.bytes
            req.tile = tile?.sides
            req.raw = raw
            var bar: ProgressReporter?
            let report = { (done: Int, total: Int) in
                if bar == nil { bar = ProgressReporter(label: "generate", total: total) }
                bar?.update(done)
            }
            var destination = out ?? ""
            let s: GenerationSummary
            if let bids {
                (s, destination) = try GenerationBIDS.run(req, bidsRoot: bids, progress: report)
            } else {
                s = try Generation.run(req, progress: report)
            }
            bar?.finish()
            if let p = s.plan { print("generate: tiled: \(p)") }
            print("generate: generator weights: \(s.weights)")
            print("generate: \(s.samples) samples (\(s.classes.map { $0.isEmpty ? "unconditional" : $0 }.joined(separator: ", "))) from \(s.checkpoint) (sha256 \(s.checkpointSHA256.prefix(16))…)")
            print("generate: wrote \(s.files.count) \(bids != nil ? "images into the BIDS derivative dataset" : "files into") \(destination); montage \(s.montage)")
        }
    }
}

extension GenerationFormat: ExpressibleByArgument {}
