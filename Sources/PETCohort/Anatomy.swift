import Foundation
import PETTensor
import PETVolumes

/// The AAL2 label table: `codes[i]` is the code of dense region index i + 1 (0 is background).
public struct RegionTable: Codable, Equatable, Sendable {
    public var codes: [Int]
    public var names: [String]
    public init(codes: [Int], names: [String]) { self.codes = codes; self.names = names }

    /// Dense index (1-based) of an AAL2 code.
    public func index(ofCode code: Int) -> Int? { codes.firstIndex(of: code).map { $0 + 1 } }

    /// Parses atlas-AAL2_dseg.tsv (`roi_value<TAB>roi_name`, header line, 0 = Background).
    public static func parse(tsv path: String) throws -> RegionTable {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw PhantomError.unreadable(path: path, reason: "no such file or not UTF-8 text")
        }
        var codes: [Int] = [], names: [String] = []
        for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() where n > 0 {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count >= 2, let code = Int(f[0].trimmingCharacters(in: .whitespaces)) else {
                throw PhantomError.badTemplate(path: path, reason: "line \(n + 1) is not 'code<TAB>name'")
            }
            if code == 0 { continue }
            codes.append(code)
            names.append(f[1].trimmingCharacters(in: .whitespaces))
        }
        guard !codes.isEmpty, codes.count < 255 else {
            throw PhantomError.badTemplate(path: path, reason: "\(codes.count) regions (expected 1…254)")
        }
        return RegionTable(codes: codes, names: names)
    }
}

/// Template file names inside the templates folder (Volumes/templates after Volumes/fetch-templates.sh).
public enum TemplateFiles {
    public static let t1 = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    public static let gm = "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
    public static let wm = "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"
    public static let atlas = "atlas-AAL2_dseg.nii.gz"
    public static let atlasTable = "atlas-AAL2_dseg.tsv"
    public static let pons = "region-pons_eroded-6mm_mask.nii.gz"
    public static let all = [t1, gm, wm, atlas, atlasTable, pons]

    /// The templates folder: `explicit`, else $PETGAN_TEMPLATES, else Volumes/templates in the
    /// current directory or one of its parents.
    public static func directory(explicit: String? = nil) -> String {
        if let e = explicit { return e }
        if let env = ProcessInfo.processInfo.environment["PETGAN_TEMPLATES"], !env.isEmpty { return env }
        var url = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        for _ in 0..<8 {
            let candidate = url.appendingPathComponent("Volumes/templates")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent(t1).path) { return candidate.path }
            url.deleteLastPathComponent()
        }
        return "Volumes/templates"
    }

    /// Throws `templatesMissing` naming every absent file.
    public static func check(directory dir: String) throws {
        let missing = all.filter { !FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent($0)) }
        if !missing.isEmpty { throw PhantomError.templatesMissing(directory: dir, missing: missing) }
    }
}

/// The anatomy every subject is drawn from: tissue probability maps (GM, WM, CSF in [0, 1]) on a
/// template grid, the AAL2 atlas as dense region indices on its own grid, and the pons mask on its
/// own grid. All grids are MNI world millimetres; subjects sample them through the affines.
public struct PhantomAnatomy: Sendable {
    public var tissueGrid: VolumeGrid
    public var gm: [Float], wm: [Float], csf: [Float]
    public var atlasGrid: VolumeGrid
    /// Dense region index per atlas voxel (index i ↔ regions.codes[i − 1]; 0 background).
    public var atlas: [UInt8]
    public var regions: RegionTable
    public var ponsGrid: VolumeGrid
    /// Pons reference mask values (0/1) on `ponsGrid`.
    public var pons: [Float]

    /// Builds the anatomy from the raw template volumes.
    /// - t1, gm, wm: the ICBM152 maps (uint8 0–255 or probabilities); brain mask = T1 > 0, CSF ≈
    ///   mask × (1 − GM − WM).
    /// - atlas: AAL2 codes; pons: the reference mask.
    /// - outputVoxelMM: the voxel size subjects will be written at. Tissue maps are smoothed against
    ///   aliasing (σ = 0.4·voxel) and kept at half the output voxel size (never finer than native),
    ///   which bounds the memory and the per-subject sampling cost.
    public static func build(t1: Volume, gm: Volume, wm: Volume, atlas: Volume, regions: RegionTable,
                             pons: Volume, outputVoxelMM: Double, names: [String] = TemplateFiles.all) throws -> PhantomAnatomy {
        guard t1.shape == gm.shape, t1.shape == wm.shape else {
            throw PhantomError.badTemplate(path: names[1], reason: "GM/WM/T1 shapes differ: \(t1.shape), \(gm.shape), \(wm.shape)")
        }
        // Every template is sampled through the inverse of its affine.
        for (v, name) in [(t1, names[0]), (gm, names[1]), (wm, names[2]), (atlas, names[3]), (pons, names[5])] where v.affine.inverse == nil {
            throw PhantomError.badTemplate(path: name, reason: "its affine is singular")
        }
        let gmScale: Float = (gm.data.max() ?? 0) > 1.5 ? 1 / 255 : 1
        let wmScale: Float = (wm.data.max() ?? 0) > 1.5 ? 1 / 255 : 1
        let n = t1.count
        var g = [Float](repeating: 0, count: n), w = g, c = g
        for i in 0..<n where t1.data[i] > 0 {
            let gi = min(max(gm.data[i] * gmScale, 0), 1), wi = min(max(wm.data[i] * wmScale, 0), 1)
            g[i] = gi; w[i] = wi; c[i] = max(0, 1 - gi - wi)
        }
        let native = t1.voxelSize   // (x, y, z)
        let nativeMax = max(native.0, native.1, native.2)
        var tissueGrid = t1.grid
        if outputVoxelMM > 1.5 * nativeMax {
            let sigmaMM = (max(0, pow(0.4 * outputVoxelMM, 2) - pow(0.4 * nativeMax, 2))).squareRoot()
            let sig = [sigmaMM / native.2, sigmaMM / native.1, sigmaMM / native.0]
            GaussianFilter.smooth(&g, shape: t1.shape, sigmas: sig)
            GaussianFilter.smooth(&w, shape: t1.shape, sigmas: sig)
            GaussianFilter.smooth(&c, shape: t1.shape, sigmas: sig)
            // Resample onto a coarser grid with the same corner and orientation.
            let step = outputVoxelMM / 2
            let factor = step / nativeMax
            if factor > 1.01 {
                let newShape = t1.shape.map { Int((Double($0 - 1) / factor).rounded(.down)) + 1 }
                var a = t1.affine
                for r in 0..<3 { for col in 0..<3 { a[r, col] *= factor } }
                let dst = VolumeGrid(shape: newShape, affine: a)
                g = Resample.trilinear(g, from: t1.grid, to: dst)
                w = Resample.trilinear(w, from: t1.grid, to: dst)
                c = Resample.trilinear(c, from: t1.grid, to: dst)
                tissueGrid = dst
            }
        }
        // Atlas codes → dense indices.
        var lookup = [Int: UInt8]()
        for (i, code) in regions.codes.enumerated() { lookup[code] = UInt8(i + 1) }
        var dense = [UInt8](repeating: 0, count: atlas.count)
        var unknown = Set<Int>()
        for i in 0..<dense.count {
            let code = Int(atlas.data[i].rounded())
            if code == 0 { continue }
            if let d = lookup[code] { dense[i] = d } else { unknown.insert(code) }
        }
        guard unknown.isEmpty else {
            throw PhantomError.badTemplate(path: names[3], reason: "labels not in the table: \(unknown.sorted().prefix(8).map(String.init).joined(separator: ", "))")
        }
        guard pons.data.contains(where: { $0 > 0.5 }) else {
            throw PhantomError.badTemplate(path: names[5], reason: "the pons mask is empty")
        }
        return PhantomAnatomy(tissueGrid: tissueGrid, gm: g, wm: w, csf: c, atlasGrid: atlas.grid, atlas: dense,
                              regions: regions, ponsGrid: pons.grid, pons: pons.data.map { $0 > 0.5 ? 1 : 0 })
    }

    /// Bytes held by the anatomy (it is shared by every subject of a cohort).
    public var byteCount: Int { (gm.count + wm.count + csf.count + pons.count) * 4 + atlas.count }
}
