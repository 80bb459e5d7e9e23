import Foundation
import XCTest
import PETTestSupport
@testable import PETVolumes

/// Tests/Fixtures/fuzz (seeds, dictionaries, crash inputs).
let fuzzFixtures = RepositoryPaths.fixtures.appendingPathComponent("fuzz").path

/// Runs a program; (status, stdout, stderr). A signal shows as status 128 + signal.
func runProgram(_ exe: String, _ args: [String]) throws -> (Int32, String, String) {
    var env = ["SWIFT_BACKTRACE": "enable=no"]
    if ProcessInfo.processInfo.environment["PETGAN_TEMPLATES"] == nil { env["PETGAN_TEMPLATES"] = RepositoryPaths.repositoryTemplates }
    let r = try runProcess(exe, args, environment: env)
    return (r.signalled ? 128 + r.status : r.status, r.stdout, r.stderr)
}

/// Asserts the command failed the PETGAN way: exit 1 (no signal), stderr exactly one
/// `petgan: error: FILE: …` line containing `reason`.
func assertOneErrorLine(_ r: (Int32, String, String), file path: String, reason: String, _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
    let (status, _, err) = r
    XCTAssertEqual(status, 1, "\(what): exit status (\(err))", file: file, line: line)
    let lines = err.split(separator: "\n", omittingEmptySubsequences: true).filter { !$0.hasPrefix("petgan: warning:") }
    XCTAssertEqual(lines.count, 1, "\(what): one error line expected, got:\n\(err)", file: file, line: line)
    let first = lines.first.map(String.init) ?? ""
    XCTAssertTrue(first.hasPrefix("petgan: error: ") && first.contains(path), "\(what): the error must name \(path): \(first)", file: file, line: line)
    XCTAssertTrue(first.contains(reason), "\(what): the error must say '\(reason)': \(first)", file: file, line: line)
}

/// A volume store written field by field, so that each field can be made wrong on its own.
struct StoreSpec {
    var volumesShape = [2, 3, 4, 5]
    var volumesInt = false
    var chunks: [Int]? = [1, 3, 4, 5]
    var writeVolumes = true
    var labels: [Int] = [0, 1]
    var labelsFloat = false
    var classNames: HDF5AttributeValue? = .strings(["AD", "NC"])
    var affinesShape = [2, 4, 4]
    var affine: [Double] = [2, 0, 0, -4, 0, 2, 0, -3, 0, 0, 2, -2, 0, 0, 0, 1]
    var affineOverride: [Int: [Double]] = [:]   // volume index → its 16 values
    var intensity: [[Double]]? = [[0.5, -1], [0.5, -1]]
    var rootAttributes: [String: HDF5AttributeValue] = [
        "voxel_size": .doubles([2, 2, 2]), "units": .string("mm"), "shape_xyz": .ints([5, 4, 3]),
        "normalization": .string("max"), "xform_code": .int(4), "source_files": .strings(["a.nii", "b.nii"]),
    ]
    var omit: Set<String> = []   // dataset names left out
    /// A /volumes_low_resolution dataset of this shape with this factor attribute (nil: none).
    var lowResolution: (shape: [Int], factor: HDF5AttributeValue?)? = nil

    func set(_ o: HDF5Object, _ name: String, _ v: HDF5AttributeValue) throws {
        switch v {
        case .string(let s): try o.setAttribute(name, s)
        case .strings(let a): try o.setAttribute(name, a)
        case .double(let d): try o.setAttribute(name, d)
        case .doubles(let a): try o.setAttribute(name, a)
        case .int(let i): try o.setAttribute(name, Int(i))
        case .ints(let a): try o.setAttribute(name, a.map { Int($0) })
        }
    }

    func write(_ path: String) throws {
        let f = try HDF5File.create(path)
        if !omit.contains("volumes") {
            let n = volumesShape.reduce(1, *)
            let maxShape: [Int?] = [nil] + volumesShape.dropFirst().map { $0 }
            if volumesInt {
                let d = try f.createDataset("volumes", type: Int32.self, shape: volumesShape, maxShape: chunks == nil ? nil : maxShape, chunks: chunks)
                if writeVolumes { try d.write((0..<n).map { Int32($0 % 7) }) }
            } else {
                let d = try f.createDataset("volumes", type: Float.self, shape: volumesShape, maxShape: chunks == nil ? nil : (volumesShape.count == 4 ? maxShape : nil), chunks: chunks)
                if writeVolumes { try d.write((0..<n).map { Float($0 % 11) / 10 - 0.5 }) }
            }
        }
        if !omit.contains("labels") {
            let l = labelsFloat ? try f.createDataset("labels", values: labels.map { Double($0) + 0.25 }, shape: [labels.count])
                                : try f.createDataset("labels", values: labels.map { Int32($0) }, shape: [labels.count])
            if let c = classNames { try set(l, "class_names", c) }
        }
        if !omit.contains("affines") {
            let count = affinesShape.reduce(1, *)
            var values = [Double](repeating: 0, count: count)
            if affinesShape.count == 3 && affinesShape[1] == 4 && affinesShape[2] == 4 {
                for i in 0..<affinesShape[0] { values.replaceSubrange((16 * i)..<(16 * i + 16), with: affineOverride[i] ?? affine) }
            }
            try f.createDataset("affines", values: values, shape: affinesShape)
        }
        if let t = intensity, !omit.contains("intensity") {
            try f.createDataset("intensity", values: t.flatMap { $0 }, shape: [t.count, t.first?.count ?? 2])
        }
        for (k, v) in rootAttributes { try set(f, k, v) }
        if let low = lowResolution {
            let d = try f.createDataset("volumes_low_resolution", type: Float.self, shape: low.shape)
            if let factor = low.factor { try set(d, "factor", factor) }
        }
        try f.commit()
    }
}
