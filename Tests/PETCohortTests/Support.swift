import Foundation
import XCTest
@testable import PETCohort
import PETTensor

/// Shared test fixtures: the templates folder (fetched by Volumes/fetch-templates.sh when absent) and
/// anatomies cached per voxel size, so the suite reads the templates once.
enum Fixtures {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let lock = NSLock()
    nonisolated(unsafe) static var anatomies: [Double: PhantomAnatomy] = [:]
    nonisolated(unsafe) static var fetched = false

    static var templatesDirectory: String {
        if let env = ProcessInfo.processInfo.environment["PETGAN_TEMPLATES"], !env.isEmpty { return env }
        return repoRoot.appendingPathComponent("Volumes/templates").path
    }

    /// Runs the idempotent fetch script once if a template is missing (a fresh clone).
    static func ensureTemplates() throws {
        lock.lock(); defer { lock.unlock() }
        if fetched { return }
        if (try? TemplateFiles.check(directory: templatesDirectory)) == nil {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = [repoRoot.appendingPathComponent("Volumes/fetch-templates.sh").path]
            try p.run(); p.waitUntilExit()
        }
        try TemplateFiles.check(directory: templatesDirectory)
        fetched = true
    }

    static func anatomy(voxel: Double) throws -> PhantomAnatomy {
        try ensureTemplates()
        lock.lock(); defer { lock.unlock() }
        if let a = anatomies[voxel] { return a }
        let a = try PhantomAnatomy.load(directory: templatesDirectory, outputVoxelMM: voxel)
        anatomies[voxel] = a
        return a
    }

    /// The standard grids: 2 mm 96×112×96 and a coarse 4 mm 48×56×48 for fast tests.
    static func grid(voxel: Double) -> VoxelGrid {
        voxel >= 4 ? .mni(niftiShape: [48, 56, 48], voxelSize: 4) : .mni(niftiShape: [96, 112, 96], voxelSize: 2)
    }

    static func generator(voxel: Double = 4, parameters: PhantomParameters = PhantomParameters()) throws -> PhantomGenerator {
        try PhantomGenerator(anatomy: anatomy(voxel: voxel), parameters: parameters, grid: grid(voxel: voxel))
    }
}
