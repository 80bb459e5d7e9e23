import Foundation
import XCTest
import PETTestSupport
import PETCohort
import PETTensor
import PETVolumes
import PETMetrics

/// The `petgan` binary next to the test bundle; a missing binary fails the test (a command test must
/// not pass unrun). `swift build -c release -Xswiftc -enable-testing --build-tests` builds both.
func petganExecutable(file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let dir = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent()
    for candidate in [dir, dir.deletingLastPathComponent(), dir.deletingLastPathComponent().deletingLastPathComponent()] {
        let p = candidate.appendingPathComponent("petgan").path
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    XCTFail("petgan binary not built next to the tests (\(dir.path)): swift build -c release -Xswiftc -enable-testing --build-tests", file: file, line: line)
    throw CocoaError(.fileNoSuchFile)
}

/// The command-line tests' fixtures: temporary folders, templates (fetched once on a fresh clone),
/// a small phantom cohort built once for the suite, and runs of the binary.
enum Fixtures {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let lock = NSLock()
    nonisolated(unsafe) static var cohortPath: String?

    static func tempDirectory(_ name: String) -> String { newTemporaryFolder("cli-\(name)") }

    static var templatesDirectory: String {
        if let env = ProcessInfo.processInfo.environment["PETGAN_TEMPLATES"], !env.isEmpty { return env }
        return repoRoot.appendingPathComponent("Volumes/templates").path
    }

    static func ensureTemplates() throws {
        if (try? TemplateFiles.check(directory: templatesDirectory)) == nil {
            _ = try run("/bin/bash", [repoRoot.appendingPathComponent("Volumes/fetch-templates.sh").path])
        }
        try TemplateFiles.check(directory: templatesDirectory)
    }

    /// 12 phantom subjects (4 NC, 4 MCI, 4 AD) on the 4 mm 48×56×48 grid, built once.
    static func smallCohort() throws -> String {
        lock.lock(); defer { lock.unlock() }
        if let p = cohortPath { return p }
        try ensureTemplates()
        let p = tempDirectory("cohort") + "/real.h5"
        try PhantomCohort.makeSmallCohort(at: p, count: 12, seed: 3, templatesDirectory: templatesDirectory)
        cohortPath = p
        return p
    }

    /// Runs a program; returns (status, stdout, stderr).
    @discardableResult
    static func run(_ exe: String, _ args: [String], environment: [String: String]? = nil) throws -> (Int32, String, String) {
        let r = try runProcess(exe, args, environment: environment)
        return (r.status, r.stdout, r.stderr)
    }

    /// Writes perturbed copies of a store's volumes (raw units + `offset`) as NIfTI files with
    /// sidecars naming their class, the way `petgan generate` writes samples.
    static func writePerturbedNIfTI(from storePath: String, to dir: String, offset: Float, indices: [Int]? = nil) throws -> [String] {
        let s = try VolumeSet.open(storePath)   // raw units, whichever way the store holds them
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var names: [String] = []
        for i in indices ?? Array(0..<s.count) {
            var v = try s.volume(i)
            for k in 0..<v.data.count { v.data[k] += offset }
            let name = String(format: "%@_seed%05d.nii.gz", s.classNames[s.labels[i]], i)
            try NIfTIFile.write(v, to: dir + "/" + name, provenance: ["kind": "generated", "class": s.classNames[s.labels[i]], "label": s.labels[i]])
            names.append(name)
        }
        return names
    }
}

/// A smooth ellipsoid (peak 2) plus Gaussian noise, any 2-D/3-D shape (as PETMetricsTests' fixture).
func blobVolume(_ shape: [Int], seed: UInt64, noise: Float = 0.05) -> [Float] {
    var rng = PETRandom(seed: seed)
    let n = shape.reduce(1, *)
    var out = [Float](repeating: 0, count: n)
    let c = shape.map { Double($0) / 2 }
    for i in 0..<n {
        var rem = i, d2 = 0.0
        for a in shape.indices.reversed() { let x = Double(rem % shape[a]); rem /= shape[a]; d2 += (x - c[a]) * (x - c[a]) / (c[a] * c[a]) }
        out[i] = Float(max(0, 1 - d2)) * 2 + noise * rng.normal()
    }
    return out
}
