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
            let g = GridShape(arrayShape: shape)
            var dims: [Int64] = [3, Int64(g.nx), Int64(g.ny), Int64(g.nz), 1, 1, 1, 1]
            // data_fill 0: libnifti allocates no voxel buffer (we never hold the volume).
            guard let nim = nifti_make_new_nim(&dims, 16 /* DT_FLOAT32 */, 0) else {
                throw NIfTIError.writeFailed(path: path, reason: "libnifti could not allocate the image header")
            }
            defer { nifti_image_free(nim) }
            guard nifti_set_filenames(nim, rawTemp, 0, 1) == 0 else {
                throw NIfTIError.writeFailed(path: path, reason: "libnifti rejected the file name \(rawTemp)")
            }
            // Exactly the header fields NIfTIFile.write sets, except the data range (patched later).
            nim.pointee.nifti_type = 1
            var dm = nifti_dmat44()
            withUnsafeMutableBytes(of: &dm.m) { b in for n in 0..<16 { b.storeBytes(of: affine.m[n], toByteOffset: n * 8, as: Double.self) } }
            let code: Int32 = space == .mni ? 4 : 1
            nim.pointee.sto_xyz = dm
            nim.pointee.sto_ijk = nifti_dmat44_inverse(dm)
            nim.pointee.sform_code = code
            var qb = 0.0, qc = 0.0, qd = 0.0, qx = 0.0, qy = 0.0, qz = 0.0, dx = 0.0, dy = 0.0, dz = 0.0, qfac = 0.0
            nifti_dmat44_to_quatern(dm, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac)
            nim.pointee.quatern_b = qb; nim.pointee.quatern_c = qc; nim.pointee.quatern_d = qd
            nim.pointee.qoffset_x = qx; nim.pointee.qoffset_y = qy; nim.pointee.qoffset_z = qz
            nim.pointee.qfac = qfac
            nim.pointee.qto_xyz = nifti_quatern_to_dmat44(qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac)
            nim.pointee.qto_ijk = nifti_dmat44_inverse(nim.pointee.qto_xyz)
            nim.pointee.qform_code = code
            nim.pointee.dx = dx; nim.pointee.dy = dy; nim.pointee.dz = dz
            nim.pointee.pixdim.1 = dx; nim.pointee.pixdim.2 = dy; nim.pointee.pixdim.3 = dz
            nim.pointee.xyz_units = 2
            nim.pointee.time_units = 0
            nim.pointee.cal_min = 0; nim.pointee.cal_max = 0
            nim.pointee.scl_slope = 1; nim.pointee.scl_inter = 0
            let desc = Array(NIfTIFile.shortDescription(provenance).utf8.prefix(79))
            withUnsafeMutableBytes(of: &nim.pointee.descrip) { b in
                for n in 0..<b.count { b[n] = 0 }
                for (n, c) in desc.enumerated() { b[n] = c }
            }
            let status = json.withUnsafeBytes { b in
                nifti_add_extension(nim, b.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(b.count), 6)
            }
            guard status == 0 else { throw NIfTIError.writeFailed(path: path, reason: "libnifti could not add the provenance extension") }
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
