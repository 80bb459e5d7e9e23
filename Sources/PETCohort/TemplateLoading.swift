import Foundation
import PETTensor
import PETVolumes

extension PhantomAnatomy {
    /// Reads the templates (see `TemplateFiles`) through PETVolumes' NIfTI reader and builds the anatomy
    /// for subjects written at `outputVoxelMM`.
    public static func load(directory: String? = nil, outputVoxelMM: Double) throws -> PhantomAnatomy {
        let dir = TemplateFiles.directory(explicit: directory)
        try TemplateFiles.check(directory: dir)
        func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        func read(_ name: String) throws -> Volume {
            let v = try NIfTIFile.read(path(name))
            guard v.shape.allSatisfy({ $0 > 1 }) else {
                throw PhantomError.badTemplate(path: path(name), reason: "shape \(v.shape) is not a 3D volume")
            }
            return v
        }
        let t1 = try read(TemplateFiles.t1), gm = try read(TemplateFiles.gm), wm = try read(TemplateFiles.wm)
        let atlas = try read(TemplateFiles.atlas), pons = try read(TemplateFiles.pons)
        let table = try RegionTable.parse(tsv: path(TemplateFiles.atlasTable))
        return try build(t1: t1, gm: gm, wm: wm, atlas: atlas, regions: table, pons: pons, outputVoxelMM: outputVoxelMM,
                         names: TemplateFiles.all.map(path))
    }
}
