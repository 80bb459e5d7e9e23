import Foundation

/// Why a shared helper could not do its job. Thrown, so the test that needed it fails with this text
/// (a missing tool or binary is a failure, never a skipped check).
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Places in the repository the tests read.
public enum RepositoryPaths {
    /// The repository root (this file is Tests/PETTestSupport/Fixtures.swift).
    public static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Tests/Fixtures (fuzz seeds and findings, reference files).
    public static var fixtures: URL { root.appendingPathComponent("Tests/Fixtures") }
    /// Volumes/templates in the repository, where Volumes/fetch-templates.sh puts the phantom templates.
    public static var repositoryTemplates: String { root.appendingPathComponent("Volumes/templates").path }
    /// The phantom templates the tests use: $PETGAN_TEMPLATES when set, else `repositoryTemplates`.
    public static var templates: String {
        if let env = ProcessInfo.processInfo.environment["PETGAN_TEMPLATES"], !env.isEmpty { return env }
        return repositoryTemplates
    }
}

private let templatesLock = NSLock()
nonisolated(unsafe) private var templatesChecked = false

/// Makes sure the phantom templates are in `RepositoryPaths.templates`: on a fresh clone runs the
/// idempotent Volumes/fetch-templates.sh once, then throws naming any of `required` still missing.
public func ensureTemplates(required: [String]) throws {
    templatesLock.lock(); defer { templatesLock.unlock() }
    if templatesChecked { return }
    func missing() -> [String] {
        required.filter { !FileManager.default.fileExists(atPath: (RepositoryPaths.templates as NSString).appendingPathComponent($0)) }
    }
    if !missing().isEmpty {
        _ = try runProcess("/bin/bash", [RepositoryPaths.root.appendingPathComponent("Volumes/fetch-templates.sh").path])
    }
    let still = missing()
    guard still.isEmpty else {
        throw TestSupportError("phantom templates missing in \(RepositoryPaths.templates): \(still.joined(separator: ", ")) (Volumes/fetch-templates.sh did not fetch them)")
    }
    templatesChecked = true
}

/// A fresh temporary folder for one test, petgan-test-<name>-<pid>-<random>; `name` defaults to the
/// calling test's name (letters and digits kept).
public func makeTempDir(_ name: String = #function) throws -> String {
    let clean = name.filter { $0.isLetter || $0.isNumber }
    let dir = NSTemporaryDirectory() + "petgan-test-\(clean)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// The `petgan` binary built beside the test bundle (.build/<configuration>/petgan). Throws when it
/// is missing: a command test must fail, not pass unrun (`swift build --build-tests` builds it).
public func petganBinary() throws -> String {
    let dir = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent()
    for candidate in [dir, dir.deletingLastPathComponent(), dir.deletingLastPathComponent().deletingLastPathComponent()] {
        let p = candidate.appendingPathComponent("petgan").path
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    throw TestSupportError("the petgan binary is not built next to the tests (\(dir.path)): swift build -c release -Xswiftc -enable-testing --build-tests")
}

/// The python3 on PATH (the one scripts/setup-python.sh installs nibabel and h5py into), nil if none.
public func python3Path() -> String? {
    let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
    return dirs.map { $0 + "/python3" }.first(where: { FileManager.default.isExecutableFile(atPath: $0) })
}

/// Runs a Python script (interop tests: files we write must open in nibabel/h5py, and we must read
/// theirs) with warnings always shown (`-W always`, so tests can assert "no warnings" on stderr).
/// Throws when python3 is missing or the script fails (missing module, failed assert).
@discardableResult
public func runPython(_ script: String) throws -> (stdout: String, stderr: String) {
    guard let python = python3Path() else {
        throw TestSupportError("python3 is required by the interop tests (run scripts/setup-python.sh)")
    }
    let r = try runProcess(python, ["-W", "always", "-c", script])
    guard r.status == 0, !r.signalled else {
        throw TestSupportError("python failed (status \(r.status); missing modules? run scripts/setup-python.sh):\n\(r.stderr)")
    }
    return (r.stdout, r.stderr)
}
