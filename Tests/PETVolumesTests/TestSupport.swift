import Foundation
import XCTest
@testable import PETVolumes

/// A fresh temporary folder per test, removed at the end.
func makeTempDir(_ name: String = #function) throws -> String {
    let clean = name.filter { $0.isLetter || $0.isNumber }
    let dir = NSTemporaryDirectory() + "petgan-volumes-\(clean)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Runs a Python script (interop tests: files we write must open in nibabel/h5py, and we must read
/// theirs). Fails the test loudly when python3 or a module is missing; never skips silently.
/// Returns stdout; stderr is returned separately so tests can assert "no warnings".
@discardableResult
func runPython(_ script: String, file: StaticString = #filePath, line: UInt = #line) throws -> (stdout: String, stderr: String) {
    // The python3 on PATH: the one scripts/setup-python.sh installed nibabel/h5py into.
    let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
    guard let python = dirs.map({ $0 + "/python3" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        XCTFail("python3 is required by the interop tests (run scripts/setup-python.sh)", file: file, line: line)
        throw NSError(domain: "petgan.tests", code: 1)
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = ["-W", "always", "-c", script]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    try p.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let so = String(decoding: outData, as: UTF8.self), se = String(decoding: errData, as: UTF8.self)
    if p.terminationStatus != 0 {
        XCTFail("python failed (status \(p.terminationStatus); missing modules? run scripts/setup-python.sh):\n\(se)", file: file, line: line)
        throw NSError(domain: "petgan.tests", code: Int(p.terminationStatus))
    }
    return (so, se)
}

/// Parses the JSON object a Python script printed on its last line.
func jsonObject(_ text: String) throws -> [String: Any] {
    let last = text.split(separator: "\n").last.map(String.init) ?? ""
    return try JSONSerialization.jsonObject(with: Data(last.utf8)) as! [String: Any]
}

/// Same world content with the x axis stored reversed (RAS → LAS).
func flipX(_ v: Volume) -> Volume {
    var r = v
    let g = v.gridShape
    for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<g.nx { r[i, j, k] = v[g.nx - 1 - i, j, k] } } }
    r.affine = v.affine * Affine([-1, 0, 0, Double(g.nx - 1), 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
    return r
}
