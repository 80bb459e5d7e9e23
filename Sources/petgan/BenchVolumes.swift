import ArgumentParser
import Foundation
import PETBenchmarks
import PETTensor
import PETVolumes

struct BenchVolumes: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volumes",
        abstract: "HDF5 volume store: bytes read, ms and peak RSS for random patches from an N-volume store (only touched chunks are read).")

    @Flag(help: "A small store and fewer patches (smoke run).")
    var quick = false
    @Option(help: "Volumes in the store (comma-separated list runs each, e.g. 50,200 to show RSS does not grow with N).")
    var volumes: String = "200"
    @Option(help: "Volume grid x×y×z.")
    var shape: String = "96x112x96"
    @Option(help: "Patch edge in voxels.")
    var patch: Int = 64
    @Option(help: "Patches to read.")
    var patches: Int = 1000
    @Option(help: "Chunk edge in voxels.")
    var chunk: Int = 32
    @Option(help: "Chunk cache budget, e.g. 64MB.")
    var cache: String = "64MB"
    @Option(help: "Folder for the generated stores (reused between runs when they match).")
    var dir: String = NSTemporaryDirectory() + "petgan-bench-volumes"
    @Option(help: "Write one JSON object per row to this file.")
    var json: String?

    func validate() throws {
        guard GridShape.parse(shape) != nil else { throw ValidationError("--shape must be x×y×z") }
        guard volumes.split(separator: ",").allSatisfy({ (Int($0) ?? 0) > 0 }) else { throw ValidationError("--volumes must be positive counts") }
        guard patch > 0, patches > 0, chunk > 0 else { throw ValidationError("--patch, --patches and --chunk must be positive") }
        guard parseByteSize(cache) != nil else { throw ValidationError("--cache must be a size like 64MB") }
    }

    func run() throws {
        try runReportingErrors {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let counts = quick ? [20] : volumes.split(separator: ",").map { Int($0)! }
            var rows: [BenchRow] = []
            print("PETGAN \(PETGANVersion.string) volume-store benchmark")
            for n in counts {
                let g = quick ? GridShape(nx: 64, ny: 64, nz: 64) : GridShape.parse(shape)!
                var cfg = VolumeBenchmark.Config(storePath: "\(dir)/store-\(n)-\(g)-c\(chunk).h5")
                cfg.volumes = n; cfg.shape = g; cfg.patch = quick ? 32 : patch; cfg.patches = quick ? 200 : patches
                cfg.chunk = chunk; cfg.cacheBytes = parseByteSize(cache)!
                let r = try VolumeBenchmark.run(cfg) { print("  " + $0) }
                rows.append(r)
                print(String(format: "N=%d %@ patch %@³: %.2f chunks/patch, read %.2f MB/patch (whole volume %.2f MB), %.2f ms/patch, peak RSS %.0f MB (bound %.0f MB: %@)",
                             n, g.description, String(cfg.patch), r["chunks_per_patch"] as! Double, r["bytes_read_per_patch_mb"] as! Double,
                             r["whole_volume_mb"] as! Double, r["ms_per_patch"] as! Double, r["peak_rss_mb"] as! Double, r["rss_bound_mb"] as! Double,
                             (r["within_bound"] as! Bool) ? "ok" : "EXCEEDED"))
            }
            if let j = json { try writeJSONRows(rows, to: j); print("wrote \(j)") }
        }
    }
}
