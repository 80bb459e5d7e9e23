import ArgumentParser
import Foundation
import PETModels
import PETTiling
import PETTensor

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
    @Option(help: "Output folder.")
    var out: String
    @Option(help: "nifti (default), h5 (one volume store) or png.")
    var format: String = "nifti"
    @Option(name: .customLong("memory-budget"), help: "3D models: generate tile by tile within this memory budget, e.g. 512MB (NIfTI streamed slab by slab; the result equals untiled generation). Too small a budget fails with one that would work.")
    var memoryBudget: String?
    @Option(help: "3D models: explicit output tile D×H×W for tiled generation (default: chosen from --memory-budget).")
    var tile: String?
    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    static func parseTile(_ s: String) -> [Int]? {
        let p = s.lowercased().split(whereSeparator: { $0 == "x" || $0 == "×" }).compactMap { Int($0) }
        return p.count == 3 && p.allSatisfy({ $0 > 0 }) ? p : nil
    }

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard GenerationFormat(rawValue: format) != nil else { throw ValidationError("--format must be nifti, h5 or png (got '\(format)')") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if let m = memoryBudget, parseByteSize(m) == nil { throw ValidationError("--memory-budget must be a size like 512MB or 2GB (got '\(m)')") }
        if let t = tile, Self.parseTile(t) == nil { throw ValidationError("--tile must be D×H×W with positive sides, e.g. 64x224x192 (got '\(t)')") }
    }

    func run() throws {
        try runReportingErrors {
            if let t = threads { Parallel.setThreads(t) }
            let list = try seeds.map(Generation.parseSeeds) ?? (0..<UInt64(count)).map { seed + $0 }
            var req = GenerationRequest(checkpoint: checkpoint, seeds: list, out: out)
            req.classes = classes.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            req.format = GenerationFormat(rawValue: format)!
            req.memoryBudget = memoryBudget.flatMap(parseByteSize)
            req.tile = tile.flatMap(Self.parseTile)
            let s = try Generation.run(req) { done, total in
                FileHandle.standardError.write(Data("\rgenerate: \(done)/\(total)".utf8))
            }
            FileHandle.standardError.write(Data("\n".utf8))
            if let p = s.plan { print("generate: tiled: \(p)") }
            print("generate: \(s.samples) samples (\(s.classes.map { $0.isEmpty ? "unconditional" : $0 }.joined(separator: ", "))) from \(s.checkpoint) (sha256 \(s.checkpointSHA256.prefix(16))…)")
            print("generate: wrote \(s.files.count) files into \(out); montage \(s.montage)")
        }
    }
}
