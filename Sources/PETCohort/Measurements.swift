import Foundation
import PETTensor
import PETVolumes

/// Region measurements on the output grid with the unwarped MNI atlas and tissue maps, the way an
/// analysis of spatially normalised PET would measure them (used by tests, reports and the bench).
public struct GridAtlas: Sendable {
    public let grid: VolumeGrid
    /// AAL2 code per output voxel (nearest neighbour; 0 background).
    public let codes: [Int32]
    /// Template GM and WM probability per output voxel (trilinear).
    public let gm: [Float], wm: [Float]

    public init(anatomy: PhantomAnatomy, grid: VolumeGrid) {
        self.grid = grid
        gm = Resample.trilinear(anatomy.gm, from: anatomy.tissueGrid, to: grid)
        wm = Resample.trilinear(anatomy.wm, from: anatomy.tissueGrid, to: grid)
        codes = Resample.nearest(from: anatomy.atlasGrid, to: grid, outside: 0) { a in
            let d = Int(anatomy.atlas[a])
            return d > 0 ? Int32(anatomy.regions.codes[d - 1]) : 0
        }
    }

    /// AAL2 codes on `grid` from the atlas template and its table alone: what an analysis needs, without
    /// the tissue maps `PhantomAnatomy.load` builds (at 1 mm those cost ~250 MB while loading).
    public static func aal2Codes(directory: String? = nil, grid: VolumeGrid) throws -> (codes: [Int32], regions: RegionTable) {
        let dir = TemplateFiles.directory(explicit: directory)
        try TemplateFiles.check(directory: dir)
        let atlasPath = (dir as NSString).appendingPathComponent(TemplateFiles.atlas)
        let regions = try RegionTable.parse(tsv: (dir as NSString).appendingPathComponent(TemplateFiles.atlasTable))
        let v = try NIfTIFile.read(atlasPath)
        let known = Set(regions.codes)
        if let bad = v.data.first(where: { $0 != 0 && !known.contains(Int($0.rounded())) }) {
            throw PhantomError.badTemplate(path: atlasPath, reason: "label \(Int(bad.rounded())) is not in the table")
        }
        let codes = v.data.withUnsafeBufferPointer { d in Resample.nearest(from: v.grid, to: grid, outside: 0) { Int32(d[$0].rounded()) } }
        return (codes, regions)
    }

    /// Output voxels whose code is in `codes` and whose template GM probability is at least `gmMin`.
    public func voxels(codes wanted: [Int], gmMin: Float = 0.5) -> [Int] {
        let set = Set(wanted.map(Int32.init))
        return codes.indices.filter { set.contains(codes[$0]) && gm[$0] >= gmMin }
    }

    /// Mean of `values` over voxel indices.
    public static func mean(_ values: [Float], _ idx: [Int]) -> Double {
        guard !idx.isEmpty else { return .nan }
        var s = 0.0
        for i in idx { s += Double(values[i]) }
        return s / Double(idx.count)
    }

    /// Cortical grey matter (AAL2 cerebral cortex labels, codes below 7000) with GM ≥ gmMin.
    public func corticalVoxels(gmMin: Float = 0.5) -> [Int] {
        codes.indices.filter { codes[$0] > 0 && codes[$0] < 7000 && gm[$0] >= gmMin }
    }

    /// Deep white matter (template WM ≥ wmMin).
    public func deepWhiteMatterVoxels(wmMin: Float = 0.95) -> [Int] { wm.indices.filter { wm[$0] >= wmMin } }

    /// GM:WM contrast as measured on a blurred image: 95th percentile over cortical GM divided by the
    /// median over deep WM.
    public func greyWhiteContrast(_ values: [Float]) -> Double {
        let c = corticalVoxels().map { values[$0] }.sorted()
        let w = deepWhiteMatterVoxels().map { values[$0] }.sorted()
        guard !c.isEmpty, !w.isEmpty else { return .nan }
        return Double(c[Int(0.95 * Double(c.count - 1))]) / Double(w[w.count / 2])
    }
}
