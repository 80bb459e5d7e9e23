import Foundation

/// A new, empty folder under the system's temporary folder, named after the test (`label`) and
/// unique per process and call, so parallel test runs never share one.
public func newTemporaryFolder(_ label: String) -> String {
    let clean = label.filter { $0.isLetter || $0.isNumber || $0 == "-" }
    let p = NSTemporaryDirectory() + "petgan-\(clean)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
}
