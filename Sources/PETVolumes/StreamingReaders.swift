// Streaming NIfTI input: a volume read slab by slab (runs of whole z planes, i.e. depth slices of
// our (D, H, W) array) so that the full volume never has to be in memory. The reading twin of
// StreamingNIfTIWriter.
//
//   let r = try StreamingNIfTIReader(path: "x.nii.gz", options: NIfTIReadOptions(nonFinite: .zero))
//   r.shape, r.affine, r.space, r.metadata              // as NIfTIFile.read gives them
//   while r.depthRead < r.shape[0] { let slab = try r.read(depth: min(8, r.shape[0] - r.depthRead)) }
//
// Values are bitwise those of NIfTIFile.read (which is this reader reading all slices at once): the
// header is parsed by libnifti, the voxels are read sequentially through znz, a slab's bytes at a
// time, and decoded by the same code (NIfTIVoxelLayout). Memory is O(slab), also for .nii.gz.
// Non-finite voxels are handled per slab, so `.refuse` throws when the slab holding the first
// NaN/infinite voxel is read (its count is that slab's), and `.warn` warns once, with the total,
// when the last slice has been read (or on close). After an error other than a bad request
// (depth ≤ 0, past the end) the reader is closed.
// 4-D series (options.frames, Frames.swift): one selected frame is streamed like a 3-D volume (the
// reader seeks to it); several are reduced when the reader opens, frame by frame into one Double
// accumulator (memory: one volume), and then served slab by slab. A gzip stream is read to its end
// after the last slab so that zlib checks its CRC and length: a stream corrupt past the header fails
// when the voxels are read, naming the file.

import CNIfTI
import Foundation
import PETTensor

public final class StreamingNIfTIReader {
    public let path: String
    /// Array shape [D, H, W], as NIfTIFile.read(path).shape.
    public let shape: [Int]
    public let affine: Affine
    public let space: WorldSpace
    /// As NIfTIFile.read gives it (source file, NIfTI version, datatype, descrip, provenance).
    public let metadata: [String: String]
    public let options: NIfTIReadOptions
    /// Depth slices delivered so far.
    public private(set) var depthRead = 0
    private let layout: NIfTIVoxelLayout
    private var file: znzFile?
    private var scratch: UnsafeMutableRawPointer?
    private var scratchBytes = 0
    private var nonFiniteSeen = 0
    private var warned = false
    /// Frames reduced at open (several frames of a 4-D series), served instead of the file.
    private var reduced: [Float]?
    /// What a 4-D read applied (nil for a 3-D file).
    public let frameReduction: FrameReduction?
    /// The selected frame when one frame of a 4-D series is streamed (seeked to), else nil.
    private let streamedFrame: Int?

    /// Voxels of one depth slice (H·W).
    public var sliceVoxels: Int { shape[1] * shape[2] }

    public init(path: String, options: NIfTIReadOptions = NIfTIReadOptions()) throws {
        let layout = try NIfTIFile.voxelLayout(path, maxVoxels: options.maxVoxels)
        self.path = path
        self.options = options
        self.layout = layout
        shape = layout.header.arrayShape
        affine = layout.affine
        space = layout.space
        let h = layout.header
        var plan: FrameReduction? = nil
        if h.frames > 1 || options.frames != nil {
            if h.frames > 1 && options.frames == nil {
                throw NIfTIError.framesNeeded(path: path, frames: h.frames, detail: "dims \(Array(h.dims[1...h.dims[0]]))")
            }
            let timing = h.frames > 1 ? try options.frameTiming ?? FrameTiming.read(for: path, header: h) : FrameTiming(durations: nil, starts: nil, source: "none")
            plan = try FrameReduction.plan(options.frames!, header: h, timing: timing, path: path)
        }
        frameReduction = h.frames > 1 ? plan : nil
        var meta = layout.metadata
        if let p = frameReduction { meta["frames"] = p.description }
        metadata = meta
        if let p = plan { streamedFrame = p.indices.count == 1 ? p.indices[0] : nil } else { streamedFrame = 0 }
        guard let fp = znzopen(layout.dataPath, "rb", 1) else {
            throw NIfTIError.libraryFailure(path: path, operation: "open the voxel data")
        }
        file = fp
        let frameBytes = h.frameVoxels * layout.bytesPerVoxel
        let start = layout.dataOffset + (streamedFrame ?? 0) * frameBytes   // within the checked data extent
        if znzseek(fp, start, SEEK_SET) < 0 {
            close()
            throw NIfTIError.truncated(path: path, detail: "cannot seek to the voxel data at offset \(start)")
        }
        if let p = plan, streamedFrame == nil {
            do { try reduceFrames(p) } catch { close(); throw error }
        }
    }

    /// Reads every frame in file order once and combines the selected ones (see the file comment).
    private func reduceFrames(_ p: FrameReduction) throws {
        let n = layout.header.frameVoxels
        let bytes = n * layout.bytesPerVoxel
        var acc = [Double](repeating: 0, count: n)
        var frame = [Float](repeating: 0, count: n)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 16)
        defer { raw.deallocate() }
        let last = p.indices.max()!
        for f in 0...last {
            let got = znzread(raw, 1, bytes, file)
            if got != bytes {
                throw NIfTIError.truncated(path: path, detail: got < 0 ? "the compressed stream is corrupt or ends early (reading frame \(f) of \(p.framesInFile))"
                                                                      : "read \(got) of \(bytes) voxel bytes of frame \(f) of \(p.framesInFile)")
            }
            let uses = p.indices.enumerated().filter { $0.element == f }
            if uses.isEmpty { continue }
            try frame.withUnsafeMutableBufferPointer { out in
                layout.decode(raw, count: n, into: out.baseAddress!)
                nonFiniteSeen += try NIfTIFile.applyNonFinite(out.baseAddress!, count: n, policy: options.nonFinite, path: path)
            }
            let w = uses.reduce(0.0) { $0 + p.weights[$1.offset] }
            for k in 0..<n { acc[k] += w * Double(frame[k]) }
        }
        if last == p.framesInFile - 1 { try checkStreamEnd() }
        let total = p.divides ? p.weights.reduce(0, +) : 1
        reduced = acc.map { Float($0 / total) }
    }

    /// After the last voxel of a gzip stream: read to its end, so zlib verifies the CRC and length.
    private func checkStreamEnd() throws {
        guard layout.header.dataGzip, let fp = file else { return }
        var sink = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = znzread(&sink, 1, sink.count, fp)
            if got < 0 {
                throw NIfTIError.truncated(path: path, detail: "the gzip stream is corrupt after the voxels (CRC or length check failed): the voxel values cannot be trusted")
            }
            if got == 0 { break }
        }
        // zlib verifies the CRC when the trailer is whole, but a stream cut inside its 8-byte trailer
        // (or right after the deflate data) reads as a clean end: compare the trailer's ISIZE (the
        // last 4 bytes, little-endian) with the uncompressed length (single-member gzip, as NIfTI
        // writers make), and ask zlib's error state.
        var code: Int32 = 0
        var message = ""
        if fp.pointee.withz != 0, let z = fp.pointee.zfptr { message = gzerror(z, &code).map { String(cString: $0) } ?? "" }
        let length = znztell(fp)
        var isize: UInt32? = nil
        if let fh = FileHandle(forReadingAtPath: layout.dataPath), let end = try? fh.seekToEnd(), end >= 18 {
            try? fh.seek(toOffset: end - 4)
            let t = [UInt8](fh.readData(ofLength: 4))
            if t.count == 4 { isize = UInt32(t[0]) | UInt32(t[1]) << 8 | UInt32(t[2]) << 16 | UInt32(t[3]) << 24 }
            try? fh.close()
        }
        if code != Z_OK && code != Z_STREAM_END {
            throw NIfTIError.truncated(path: path, detail: "the gzip stream ends early or is corrupt after the voxels (\(message.isEmpty ? "zlib error \(code)" : message)): the voxel values cannot be trusted")
        }
        if length >= 0, let isize, isize != UInt32(truncatingIfNeeded: length) {
            throw NIfTIError.truncated(path: path, detail: "the gzip stream ends early: its trailer records \(isize) uncompressed bytes, the stream gave \(length) (cut inside the CRC/length trailer?): the voxel values cannot be trusted")
        }
    }

    deinit { close() }

    /// Releases the file and the scratch buffer (also on deinit). Reading afterwards is an error.
    public func close() {
        if file != nil { Xznzclose(&file) }
        scratch?.deallocate()
        scratch = nil; scratchBytes = 0
        warnIfNeeded()
    }

    private func warnIfNeeded() {
        if options.nonFinite == .warn && nonFiniteSeen > 0 && !warned {
            warned = true
            FileHandle.standardError.write("petgan: warning: \(path): \(nonFiniteSeen) NaN/infinite voxel(s) set to 0\n".data(using: .utf8)!)
        }
    }

    private func checkRequest(_ depth: Int) throws {
        guard file != nil else { throw NIfTIError.badRequest(path: path, reason: "cannot read after the streaming reader was closed") }
        guard depth > 0 else { throw NIfTIError.badRequest(path: path, reason: "cannot read a slab of \(depth) depth slices (must be positive)") }
        guard depth <= shape[0] - depthRead else {
            throw NIfTIError.badRequest(path: path, reason: "cannot read \(depth) depth slices at depth \(depthRead): that passes the volume depth \(shape[0])")
        }
    }

    /// The next `depth` depth slices into `out` (depth·H·W floats, W fastest).
    public func read(depth: Int, into out: UnsafeMutablePointer<Float>) throws {
        try checkRequest(depth)
        do { try readSlab(depth, into: out) } catch { close(); throw error }
        depthRead += depth
        if depthRead == shape[0] { warnIfNeeded() }
    }

    /// The next `depth` depth slices (depth·H·W floats, W fastest).
    public func read(depth: Int) throws -> [Float] {
        try checkRequest(depth)
        let count = depth * sliceVoxels
        return try [Float](unsafeUninitializedCapacity: count) { buf, initialized in
            try read(depth: depth, into: buf.baseAddress!)
            initialized = count
        }
    }

    private func readSlab(_ depth: Int, into out: UnsafeMutablePointer<Float>) throws {
        let count = depth * sliceVoxels
        if let r = reduced {
            r.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + depthRead * sliceVoxels, count: count) }
            return
        }
        let bytes = count * layout.bytesPerVoxel
        // float32 is decoded in place; other types go through a scratch buffer of one slab.
        let raw: UnsafeMutableRawPointer
        if layout.datatype == 16 {
            raw = UnsafeMutableRawPointer(out)
        } else {
            if scratchBytes < bytes {
                scratch?.deallocate()
                scratch = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
                scratchBytes = bytes
            }
            raw = scratch!
        }
        let got = znzread(raw, 1, bytes, file)
        if got != bytes {
            let first = depthRead, end = depthRead + depth
            let what = depth == shape[0] ? "\(count) \(layout.header.datatypeName) voxels" : "depth slices \(first)..<\(end) of \(shape[0])"
            throw NIfTIError.truncated(path: path, detail: got < 0
                ? "the compressed stream is corrupt or ends early (reading \(bytes) voxel bytes: \(what))"
                : "read \(got) of \(bytes) voxel bytes (\(what))")
        }
        layout.decode(raw, count: count, into: out)
        nonFiniteSeen += try NIfTIFile.applyNonFinite(out, count: count, policy: options.nonFinite, path: path)
        if depthRead + depth == shape[0] && (streamedFrame ?? 0) == layout.header.frames - 1 { try checkStreamEnd() }
    }
}

extension NIfTIFile {
    /// Every frame of a 4-D series (a 3-D file is one frame) in file order, one pass through the file
    /// (a .nii.gz is decompressed once, not once per frame); one frame in memory. `body` gets the
    /// frame index and its decoded values (scaling and the non-finite policy applied).
    /// Returns the file's metadata (as NIfTIFile.read gives it).
    @discardableResult
    static func forEachFrame(_ path: String, options: NIfTIReadOptions, _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void) throws -> [String: String] {
        let layout = try voxelLayout(path, maxVoxels: options.maxVoxels)
        let h = layout.header
        let n = h.frameVoxels, bytes = n * layout.bytesPerVoxel
        guard let fp = znzopen(layout.dataPath, "rb", 1) else { throw NIfTIError.libraryFailure(path: path, operation: "open the voxel data") }
        var file: znzFile? = fp
        defer { Xznzclose(&file) }
        if znzseek(fp, layout.dataOffset, SEEK_SET) < 0 {
            throw NIfTIError.truncated(path: path, detail: "cannot seek to the voxel data at offset \(layout.dataOffset)")
        }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 16)
        defer { raw.deallocate() }
        var frame = [Float](repeating: 0, count: n)
        for f in 0..<h.frames {
            let got = znzread(raw, 1, bytes, fp)
            if got != bytes {
                throw NIfTIError.truncated(path: path, detail: got < 0 ? "the compressed stream is corrupt or ends early (reading frame \(f) of \(h.frames))"
                                                                      : "read \(got) of \(bytes) voxel bytes of frame \(f) of \(h.frames)")
            }
            try frame.withUnsafeMutableBufferPointer { out in
                layout.decode(raw, count: n, into: out.baseAddress!)
                _ = try applyNonFinite(out.baseAddress!, count: n, policy: options.nonFinite, path: path)
                try body(f, UnsafeBufferPointer(out))
            }
        }
        return layout.metadata
    }
}
