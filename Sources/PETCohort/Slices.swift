import Foundation
import PETVolumes

/// 2D slice sets for the 2D mode (the reference paper's 128×128×3 inputs): for each chosen axial
/// position, `channels` adjacent axial slices centred on it, resampled (bilinear) onto a square
/// field of view that holds the whole axial plane. Images follow the neurological display
/// convention of PETVolumes' montages: row 0 is anterior, the subject's right is on the right.
public struct SliceOptions: Codable, Equatable, Sendable {
    public var channels: Int = 3
    /// (height, width) in pixels.
    public var size: [Int] = [128, 128]
    /// Centre slices from zRangeMM[0] to zRangeMM[1] (MNI mm), every stepMM.
    public var zRangeMM: [Double] = [-24, 56]
    public var stepMM: Double = 8
    public init() {}

    public func validate() throws {
        guard channels >= 1, channels % 2 == 1 else { throw PhantomError.invalidRequest("--channels must be odd and positive (adjacent slices centred on one), got \(channels)") }
        guard size.count == 2, size.allSatisfy({ $0 >= 8 && $0 <= 4096 }) else { throw PhantomError.invalidRequest("--slice-shape must be HxW with sizes 8…4096, got \(size)") }
        guard zRangeMM.count == 2, zRangeMM[0] <= zRangeMM[1] else { throw PhantomError.invalidRequest("--slice-range must be lo:hi in mm with lo <= hi") }
        guard stepMM > 0 else { throw PhantomError.invalidRequest("--slice-step must be positive (mm)") }
    }
}

public enum AxialSlices {
    /// Axial indices k of the centre slices for `grid` (only those whose neighbours are inside).
    public static func centres(grid: VolumeGrid, options o: SliceOptions) -> [Int] {
        let half = o.channels / 2
        let dz = grid.affine[2, 2], z0 = grid.affine[2, 3]
        var ks: [Int] = []
        var z = o.zRangeMM[0]
        while z <= o.zRangeMM[1] + 1e-9 {
            let k = Int(((z - z0) / dz).rounded())
            if k - half >= 0, k + half < grid.depth, ks.last != k { ks.append(k) }
            z += o.stepMM
        }
        return ks
    }

    /// One sample: (channels, H, W) values around axial index `k`.
    public static func extract(_ values: [Float], grid: VolumeGrid, centre k: Int, options o: SliceOptions) -> [Float] {
        let (nh, nw) = (grid.height, grid.width)
        let vs = grid.voxelSize   // (x, y, z)
        let (oh, ow) = (o.size[0], o.size[1])
        let fov = max(Double(nh) * vs.1, Double(nw) * vs.0)
        let px = fov / Double(max(oh, ow))
        var out = [Float](repeating: 0, count: o.channels * oh * ow)
        for c in 0..<o.channels {
            let kk = k + c - o.channels / 2
            let base = kk * nh * nw
            for r in 0..<oh {
                // Row 0 is anterior: the largest y (j) at the top.
                let yMM = (Double(oh) / 2 - (Double(r) + 0.5)) * px
                let fj = (Double(nh) - 1) / 2 + yMM / vs.1
                for col in 0..<ow {
                    let xMM = ((Double(col) + 0.5) - Double(ow) / 2) * px
                    let fi = (Double(nw) - 1) / 2 + xMM / vs.0
                    guard fi > -1, fj > -1, fi < Double(nw), fj < Double(nh) else { continue }
                    let i0 = Int(fi.rounded(.down)), j0 = Int(fj.rounded(.down))
                    let ax = Float(fi - Double(i0)), ay = Float(fj - Double(j0))
                    @inline(__always) func v(_ i: Int, _ j: Int) -> Float {
                        (i < 0 || j < 0 || i >= nw || j >= nh) ? 0 : values[base + j * nw + i]
                    }
                    let top = v(i0, j0) + ax * (v(i0 + 1, j0) - v(i0, j0))
                    let bottom = v(i0, j0 + 1) + ax * (v(i0 + 1, j0 + 1) - v(i0, j0 + 1))
                    out[(c * oh + r) * ow + col] = top + ay * (bottom - top)
                }
            }
        }
        return out
    }
}

extension AxialSlices {
    /// Cuts the 2D slice samples of every volume of a volume store (e.g. one `petgan prepare`
    /// wrote) into a slice store at `slicePath`, as `petgan phantom --slices` does for its cohort:
    /// the same centres (per volume, from its own affine: world z in `zRangeMM`), resampling and
    /// layout ((channels, H, W) items, labels and intensity maps of their volume, /slice_subject,
    /// /slice_z_mm). Slices are cut from the raw intensities (outside the field of view is raw 0)
    /// and mapped back with the volume's map. The store appears only when complete. Returns the
    /// number of slice samples written.
    @discardableResult
    public static func writeStore(from volumeStorePath: String, to slicePath: String, options o: SliceOptions) throws -> Int {
        try o.validate()
        let store = try VolumeStore.open(volumeStorePath)
        let shape = store.volumeShape
        let tmp = temporaryName(for: slicePath) + ".h5"
        defer { unlink(tmp) }
        let vs = store.voxelSize
        let writer = try VolumeStoreWriter.create(tmp, volumeShape: [o.channels] + o.size, classNames: store.classNames,
                                                  voxelSize: (vs[0], vs.count > 1 ? vs[1] : vs[0], vs.count > 2 ? vs[2] : vs[0]),
                                                  normalization: store.normalization, options: VolumeStoreOptions(chunks: [1, o.channels] + o.size),
                                                  extraAttributes: ["kind": "axial slices", "source_store": volumeStorePath,
                                                                    "item_axes": "(channel = adjacent axial slice, row = anterior→posterior, column = right→left of the image = subject left→right)"])
        var sliceSubject: [Int32] = [], sliceZ: [Double] = []
        for i in 0..<store.count {
            let grid = VolumeGrid(shape: shape, affine: store.affine(i))
            let centres = centres(grid: grid, options: o)
            let map = store.intensity(i)
            let raw = try store.readVolume(i).data.map { map.inverse($0) }
            let source = i < store.sourceFiles.count ? store.sourceFiles[i] : "#\(i)"
            for k in centres {
                let item = extract(raw, grid: grid, centre: k, options: o).map { map.forward($0) }
                try writer.append(Volume(shape: [o.channels] + o.size, data: item, affine: .identity, space: .unknown),
                                  label: store.labels[i], intensity: map, sourceFile: "\(source):k=\(k)")
                sliceSubject.append(Int32(i))
                sliceZ.append(grid.affine.apply(0, 0, Double(k)).2)
            }
        }
        guard !sliceSubject.isEmpty else {
            throw PhantomError.invalidRequest("\(volumeStorePath): no axial slice of its volumes lies in world z \(o.zRangeMM[0])…\(o.zRangeMM[1]) mm (set --slice-range to the data's z range; MNI-registered data: -24:56)")
        }
        try writer.commit()
        do {   // closed before the rename
            let f = try HDF5File.open(tmp, mode: .readWrite)
            try f.createDataset("slice_subject", values: sliceSubject, shape: [sliceSubject.count])
            try f.createDataset("slice_z_mm", values: sliceZ, shape: [sliceZ.count])
            try f.flush()
        }
        guard rename(tmp, slicePath) == 0 else { throw PhantomError.writeFailed(path: slicePath, reason: String(cString: strerror(errno))) }
        return sliceSubject.count
    }
}
