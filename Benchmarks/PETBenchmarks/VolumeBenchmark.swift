// Volume-store benchmark: random 64³ patches from an N-volume HDF5 store read only the chunks they
// touch. Reports bytes the process read (rchar from /proc/self/io), chunks per patch, ms per patch
// and peak RSS while reading, against the bound (chunk cache budget + 64 MB) the issue sets.
import Foundation
import PETTensor
import PETVolumes

public enum VolumeBenchmark {
    public struct Config {
        public var volumes = 200
        /// x×y×z.
        public var shape = GridShape(nx: 96, ny: 112, nz: 96)
        public var patch = 64
        public var patches = 1000
        public var chunk = 32
        public var cacheBytes = 64 << 20
        public var deflate: Int? = 1
        /// Where the store is written (reused when it already has the requested layout).
        public var storePath: String
        public var seed: UInt64 = 1
        public init(storePath: String) { self.storePath = storePath }
    }

    /// Bytes read through read(2)/pread(2) so far (Linux /proc/self/io rchar).
    public static func bytesReadSoFar() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/io", encoding: .utf8) else { return 0 }
        for line in s.split(separator: "\n") where line.hasPrefix("rchar:") {
            return Int(line.split(separator: " ").last ?? "0") ?? 0
        }
        return 0
    }

    /// Writes a store of smooth, noisy synthetic volumes (one volume in memory at a time).
    public static func makeStore(_ cfg: Config, progress: (String) -> Void) throws {
        if let s = try? VolumeStore.open(cfg.storePath), s.count == cfg.volumes, s.volumeShape == cfg.shape.arrayShape,
           s.chunks == [1, cfg.chunk, cfg.chunk, cfg.chunk].enumerated().map({ $0.offset == 0 ? 1 : min($0.element, cfg.shape.arrayShape[$0.offset - 1]) }) {
            progress("reusing \(cfg.storePath)"); return
        }
        let shape = cfg.shape.arrayShape
        let w = try VolumeStoreWriter.create(cfg.storePath, volumeShape: shape, classNames: ["A", "B"], voxelSize: (2, 2, 2),
                                             normalization: "synthetic", options: VolumeStoreOptions(chunks: [1, cfg.chunk, cfg.chunk, cfg.chunk], deflate: cfg.deflate, shuffle: true))
        var rng = PETRandom(seed: cfg.seed)
        let (D, H, W) = (shape[0], shape[1], shape[2])
        var data = [Float](repeating: 0, count: D * H * W)
        // The reporter keeps its sink while the store is written, and only then.
        try withoutActuallyEscaping(progress) { progress in
            let bar = ProgressReporter(label: "writing store", total: cfg.volumes, output: .lines(progress))
            for n in 0..<cfg.volumes {
                let cx = Float(W) * rng.uniform(0.4, 0.6), cy = Float(H) * rng.uniform(0.4, 0.6), cz = Float(D) * rng.uniform(0.4, 0.6)
                let r2 = Float(min(D, H, W) * min(D, H, W)) / 8
                for d in 0..<D { for h in 0..<H { for x in 0..<W {
                    let q = ((Float(x) - cx) * (Float(x) - cx) + (Float(h) - cy) * (Float(h) - cy) + (Float(d) - cz) * (Float(d) - cz)) / r2
                    data[(d * H + h) * W + x] = exp(-q) * 2 - 1 + 0.02 * rng.uniform(-1, 1)
                } } }
                try w.append(Volume(shape: shape, data: data, affine: .scaling(2, 2, 2)), label: n % 2)
                bar.update(n + 1)
            }
        }
        try w.commit()
    }

    /// Reads `patches` random patches; returns one JSON row.
    public static func run(_ cfg: Config, progress: (String) -> Void = { _ in }) throws -> VolumeRow {
        try makeStore(cfg, progress: progress)
        let storeBytes = ((try? FileManager.default.attributesOfItem(atPath: cfg.storePath))?[.size] as? NSNumber)?.intValue ?? 0
        let s = try VolumeStore.open(cfg.storePath, memoryBudget: 2 * cfg.cacheBytes)   // cache = half the budget
        let p = [cfg.patch, cfg.patch, cfg.patch].enumerated().map { min($0.element, s.volumeShape[$0.offset]) }
        var rng = PETRandom(seed: cfg.seed &+ 1)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: p.reduce(1, *))
        defer { buffer.deallocate() }
        let c = s.chunks ?? [1] + s.volumeShape
        var chunksTouched = 0
        resetPeakResident()
        let rssBefore = currentResidentBytes()
        let read0 = bytesReadSoFar()
        let t0 = DispatchTime.now().uptimeNanoseconds
        var checksum = 0.0
        for _ in 0..<cfg.patches {
            let i = rng.int(below: s.count)
            let o = (0..<3).map { rng.int(below: s.volumeShape[$0] - p[$0] + 1) }
            try s.readPatch(i, origin: o, size: p, into: buffer)
            checksum += Double(buffer[0])
            var touched = 1
            for ax in 0..<3 {
                let first: Int = o[ax] / c[ax + 1], last: Int = (o[ax] + p[ax] - 1) / c[ax + 1]
                touched *= last - first + 1
            }
            chunksTouched += touched
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let bytesRead = bytesReadSoFar() - read0
        let peak = peakResidentBytes()
        let chunkBytes = c.reduce(4, *)
        let bound = cfg.cacheBytes + (64 << 20)
        return VolumeRow(volumes: s.count, shapeXYZ: cfg.shape.description, patch: p.map(String.init).joined(separator: "x"),
                         patches: cfg.patches, chunk: c.dropFirst().map(String.init).joined(separator: "x"), chunkCacheMB: Double(cfg.cacheBytes) / 1_048_576,
                         storeMB: Double(storeBytes) / 1_048_576, bytesReadMB: Double(bytesRead) / 1_048_576,
                         bytesReadPerPatchMB: Double(bytesRead) / Double(cfg.patches) / 1_048_576,
                         chunksPerPatch: Double(chunksTouched) / Double(cfg.patches),
                         uncompressedChunkBytesPerPatchMB: Double(chunksTouched * chunkBytes) / Double(cfg.patches) / 1_048_576,
                         wholeVolumeMB: Double(s.volumeBytes) / 1_048_576, msPerPatch: seconds * 1000 / Double(cfg.patches),
                         rssBeforeMB: Double(rssBefore) / 1_048_576, peakRSSMB: Double(peak) / 1_048_576,
                         rssBoundMB: Double(bound) / 1_048_576, withinBound: peak <= bound, checksum: checksum)
    }

    /// `petgan bench volumes`: one store per count in `volumes` (built once into `directory`), each read.
    public static func runPrinted(volumes counts: [Int], base: Config, directory: String, say: (String) -> Void = { print($0) }) throws -> [VolumeRow] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var rows: [VolumeRow] = []
        say("PETGAN \(PETGANVersion.string) volume-store benchmark")
        for n in counts {
            var cfg = base
            cfg.storePath = "\(directory)/store-\(n)-\(base.shape)-c\(base.chunk).h5"
            cfg.volumes = n
            let r = try run(cfg) { say("  " + $0) }
            rows.append(r)
            say(String(format: "N=%d %@ patch %@³: %.2f chunks/patch, read %.2f MB/patch (whole volume %.2f MB), %.2f ms/patch, peak RSS %.0f MB (bound %.0f MB: %@)",
                       n, cfg.shape.description, String(cfg.patch), r.chunksPerPatch, r.bytesReadPerPatchMB,
                       r.wholeVolumeMB, r.msPerPatch, r.peakRSSMB, r.rssBoundMB, r.withinBound ? "ok" : "EXCEEDED"))
        }
        return rows
    }
}

/// One row of `bench volumes`.
public struct VolumeRow: Codable {
    public var name = "patches"
    public var volumes: Int
    public var shapeXYZ: String
    public var patch: String
    public var patches: Int
    public var chunk: String
    public var chunkCacheMB: Double
    public var storeMB: Double
    public var bytesReadMB: Double, bytesReadPerPatchMB: Double
    public var chunksPerPatch: Double
    public var uncompressedChunkBytesPerPatchMB: Double
    public var wholeVolumeMB: Double
    public var msPerPatch: Double
    public var rssBeforeMB: Double, peakRSSMB: Double, rssBoundMB: Double
    public var withinBound: Bool
    public var checksum: Double
    enum CodingKeys: String, CodingKey {
        case name, volumes, patch, patches, chunk, checksum
        case shapeXYZ = "shape_xyz", chunkCacheMB = "chunk_cache_mb", storeMB = "store_mb", bytesReadMB = "bytes_read_mb"
        case bytesReadPerPatchMB = "bytes_read_per_patch_mb", chunksPerPatch = "chunks_per_patch"
        case uncompressedChunkBytesPerPatchMB = "uncompressed_chunk_bytes_per_patch_mb", wholeVolumeMB = "whole_volume_mb"
        case msPerPatch = "ms_per_patch", rssBeforeMB = "rss_before_mb", peakRSSMB = "peak_rss_mb", rssBoundMB = "rss_bound_mb"
        case withinBound = "within_bound"
    }
}
