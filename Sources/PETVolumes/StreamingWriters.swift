// Streaming NIfTI output: a volume written slab by slab (runs of whole z planes, i.e. depth slices
// of our (D, H, W) array) so that the full volume never has to be in memory.
//
//   let w = try StreamingNIfTIWriter(path: "gen.nii.gz", shape: [192, 224, 192], affine: a, provenance: p)
//   for slab in ... { try w.write(slab, depth: n) }    // n·H·W floats, W fastest, in depth order
//   try w.finish()                                      // header patched, compressed, renamed
//
// The file is byte for byte what `NIfTIFile.write` produces for the same volume (NIfTI-1, float32,
// same geometry, descrip, provenance extension and sidecar). The one field that depends on all
// voxels, cal_min/cal_max (the finite data range), sits in the header before them, so the voxels
// are streamed through znz into an uncompressed temporary file whose header is patched at the end;
// for .nii.gz that file is then gzip-streamed through znz in blocks (disk, not memory, holds it).
// Nothing appears at `path` until `finish()` succeeds; an unfinished writer removes its files.

import CNIfTI
import Foundation
import PETTensor

public final class StreamingNIfTIWriter {
    public let path: String
    /// Array shape [D, H, W].
    public let shape: [Int]
    public private(set) var depthWritten = 0
    private let provenanceJSON: Data
    private let writeSidecar: Bool
    private let rawTemp: String
    private var file: znzFile?
    private var voxOffset = 0
    private var lo = Float.infinity, hi = -Float.infinity
    private var finished = false

    /// Bytes of one depth slice (H·W floats).
    public var sliceBytes: Int { shape[1] * shape[2] * 4 }

    public init(path: String, shape: [Int], affine: Affine = .identity, space: WorldSpace = .scanner,
                provenance: [String: Any] = [:], sidecar: Bool = true) throws {
        guard NIfTIFile.isNIfTIPath(path) else { throw NIfTIError.invalidPath(path: path, reason: "a NIfTI output must end in .nii or .nii.gz") }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw NIfTIError.invalidPath(path: path, reason: "folder \(dir) does not exist")
            }
        }
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
            throw NIfTIError.invalidDimensions(path: path, detail: "volume shape \(shape)")
        }
        guard shape.allSatisfy({ $0 <= 32767 }) else {
            throw NIfTIError.invalidDimensions(path: path, detail: "volume shape \(shape): streaming writes NIfTI-1, whose sides are at most 32767")
        }
        guard affine.inverse != nil else { throw NIfTIError.writeFailed(path: path, reason: "the affine is singular:\n\(affine)") }
        self.path = path
        self.shape = shape
        self.writeSidecar = sidecar
        provenanceJSON = try NIfTIFile.provenanceJSON(provenance)
        rawTemp = temporaryName(for: NIfTIFile.stem(path)) + ".nii"
        let json = provenanceJSON
        file = try NIfTIFile.lock.withLock { () throws -> znzFile in
            nifti_set_debug_level(0)
            // The image NIfTIFile.write builds, without its voxels; the data range is patched by finish().
            return try NIfTIFile.withImage(shape: shape, allocateVoxels: false, fileName: rawTemp, affine: affine, space: space,
                                           dataRange: (0, 0), provenance: provenance, provenanceJSON: json, path: path) { nim in
                // write_opts 2: header and extensions only, leave the file open for the voxels.
                guard let fp = nifti_image_write_hdr_img2(nim, 2, "wb", nil, nil) else {
                    throw NIfTIError.writeFailed(path: path, reason: "cannot create \(rawTemp)")
                }
                voxOffset = Int(nim.pointee.iname_offset)
                let pos = Int(znztell(fp))
                if pos < voxOffset {   // pad to the voxel offset (libnifti normally already is there)
                    var zeros = [UInt8](repeating: 0, count: voxOffset - pos)
                    _ = znzwrite(&zeros, 1, zeros.count, fp)
                }
                guard Int(znztell(fp)) == voxOffset else {
                    var f: znzFile? = fp
                    Xznzclose(&f)
                    throw NIfTIError.writeFailed(path: path, reason: "header of \(rawTemp) ends at \(pos), not at the voxel offset \(voxOffset)")
                }
                return fp
            }
        }
    }

    deinit {
        if !finished {
            if file != nil { Xznzclose(&file) }
            unlink(rawTemp)
        }
    }

    /// Appends `depth` whole depth slices (depth·H·W floats, W fastest).
    public func write(_ slab: UnsafePointer<Float>, depth: Int) throws {
        guard let fp = file, !finished else { throw NIfTIError.writeFailed(path: path, reason: "write after finish") }
        guard depth > 0, depthWritten + depth <= shape[0] else {
            throw NIfTIError.writeFailed(path: path, reason: "slab of \(depth) slices at depth \(depthWritten) passes the volume depth \(shape[0])")
        }
        let n = depth * shape[1] * shape[2]
        for i in 0..<n where slab[i].isFinite {
            let v = slab[i]
            if v < lo { lo = v }
            if v > hi { hi = v }
        }
        let bytes = n * 4
        guard znzwrite(UnsafeRawPointer(slab), 1, bytes, fp) == bytes else {
            throw NIfTIError.writeFailed(path: path, reason: "short write to \(rawTemp) (disk full?)")
        }
        depthWritten += depth
    }

    public func write(_ slab: [Float], depth: Int) throws {
        guard slab.count == depth * shape[1] * shape[2] else {
            throw NIfTIError.writeFailed(path: path, reason: "slab of \(slab.count) values is not \(depth) slices of \(shape[1])×\(shape[2])")
        }
        try slab.withUnsafeBufferPointer { try write($0.baseAddress!, depth: depth) }
    }

    /// Completes the file: every slice must have been written. Patches the data range, compresses
    /// (.nii.gz), writes the sidecar and renames into place.
    public func finish() throws {
        guard !finished else { return }
        guard depthWritten == shape[0] else {
            throw NIfTIError.writeFailed(path: path, reason: "only \(depthWritten) of \(shape[0]) depth slices were written")
        }
        Xznzclose(&file)
        // cal_max at byte 124, cal_min at 128 of the NIfTI-1 header (little-endian host).
        let range: (Float, Float) = lo <= hi ? (lo, hi) : (0, 0)
        guard let f = fopen(rawTemp, "r+b") else { throw NIfTIError.writeFailed(path: path, reason: "cannot reopen \(rawTemp)") }
        var pair: [Float] = [range.1, range.0]
        let ok = fseek(f, 124, SEEK_SET) == 0 && fwrite(&pair, 4, 2, f) == 2
        let closed = fclose(f) == 0
        guard ok, closed else { throw NIfTIError.writeFailed(path: path, reason: "cannot patch the header of \(rawTemp)") }
        let size = ((try? FileManager.default.attributesOfItem(atPath: rawTemp))?[.size] as? NSNumber)?.intValue ?? 0
        let need = voxOffset + shape.reduce(1, *) * 4
        guard size >= need else { throw NIfTIError.writeFailed(path: path, reason: "only \(size) of \(need) bytes were written (disk full?)") }
        var ready = rawTemp
        if path.lowercased().hasSuffix(".gz") {
            let gzTemp = temporaryName(for: NIfTIFile.stem(path)) + ".nii.gz"
            do { try Self.gzipCopy(from: rawTemp, to: gzTemp, finalPath: path) } catch { unlink(gzTemp); unlink(rawTemp); throw error }
            unlink(rawTemp)
            ready = gzTemp
        }
        if writeSidecar {
            let sidecar = NIfTIFile.sidecarPath(path)
            let pretty = (try? JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: provenanceJSON), options: [.prettyPrinted, .sortedKeys])) ?? provenanceJSON
            do { try pretty.write(to: URL(fileURLWithPath: sidecar), options: .atomic) } catch {
                unlink(ready)
                throw NIfTIError.writeFailed(path: sidecar, reason: error.localizedDescription)
            }
        }
        if rename(ready, path) != 0 {
            unlink(ready)
            throw NIfTIError.writeFailed(path: path, reason: "renaming the temporary file: \(String(cString: strerror(errno)))")
        }
        finished = true
    }

    /// Streams `source` through znz's gzip writer (the level libnifti uses) in 4 MB blocks.
    static func gzipCopy(from source: String, to target: String, finalPath: String) throws {
        guard let inp = fopen(source, "rb") else { throw NIfTIError.writeFailed(path: finalPath, reason: "cannot reopen \(source)") }
        defer { fclose(inp) }
        guard let out = znzopen(target, "wb", 1) else { throw NIfTIError.writeFailed(path: finalPath, reason: "cannot create \(target)") }
        var outVar: znzFile? = out
        let block = 4 << 20
        let buf = UnsafeMutableRawPointer.allocate(byteCount: block, alignment: 64)
        defer { buf.deallocate() }
        var ok = true
        while ok {
            let n = fread(buf, 1, block, inp)
            if n == 0 { break }
            ok = znzwrite(buf, 1, n, out) == n
        }
        let closeStatus = Xznzclose(&outVar)
        guard ok, ferror(inp) == 0, closeStatus == 0 else { throw NIfTIError.writeFailed(path: finalPath, reason: "short write to \(target) (disk full?)") }
    }
}

extension NIfTIFile {
    /// The file's bytes after gzip decompression (as stored for .nii), read through znz. For tests
    /// that compare two NIfTI files exactly.
    public static func decompressedBytes(_ path: String) throws -> [UInt8] {
        guard let fp = znzopen(path, "rb", 1) else { throw NIfTIError.fileNotFound(path: path) }
        var f: znzFile? = fp
        defer { Xznzclose(&f) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = znzread(&buf, 1, buf.count, fp)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }
}
