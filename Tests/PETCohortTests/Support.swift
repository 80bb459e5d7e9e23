import Foundation
import XCTest
import PETTestSupport
@testable import PETCohort
import PETTensor
import PETVolumes

/// Shared test fixtures: the templates folder (fetched by Volumes/fetch-templates.sh when absent) and
/// anatomies cached per voxel size, so the suite reads the templates once.
enum Fixtures {
    static let lock = NSLock()
    nonisolated(unsafe) static var anatomies: [Double: PhantomAnatomy] = [:]

    static func anatomy(voxel: Double) throws -> PhantomAnatomy {
        try ensureTemplates(required: TemplateFiles.all)
        lock.lock(); defer { lock.unlock() }
        if let a = anatomies[voxel] { return a }
        let a = try PhantomAnatomy.load(directory: RepositoryPaths.templates, outputVoxelMM: voxel)
        anatomies[voxel] = a
        return a
    }

    /// The standard grids: 2 mm 96×112×96 and a coarse 4 mm 48×56×48 for fast tests.
    static func grid(voxel: Double) -> VolumeGrid {
        voxel >= 4 ? .mni(niftiShape: [48, 56, 48], voxelSize: 4) : .mni(niftiShape: [96, 112, 96], voxelSize: 2)
    }

    static func generator(voxel: Double = 4, parameters: PhantomParameters = PhantomParameters()) throws -> PhantomGenerator {
        try PhantomGenerator(anatomy: anatomy(voxel: voxel), parameters: parameters, grid: grid(voxel: voxel))
    }
}
