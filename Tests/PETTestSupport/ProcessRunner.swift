import Foundation

/// How a program run by a test ended: what the command-line tests judge (one `petgan: error:` line,
/// a named warning, exit status, never a signal).
public struct ProcessResult: Sendable {
    public var status: Int32
    /// Ended by a signal (then `status` is the signal number).
    public var signalled: Bool
    public var stdout: String
    public var stderr: String
    public var errorLines: [String] { stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("petgan: error:") } }
    public var warningLines: [String] { stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("petgan: warning:") } }
}

/// Runs `exe` with `args` (and `environment` merged over this process's) to the end, reading both
/// pipes while it runs (a full pipe would block it).
public func runProcess(_ exe: String, _ args: [String], environment: [String: String]? = nil) throws -> ProcessResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    if let e = environment { p.environment = ProcessInfo.processInfo.environment.merging(e) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    try p.run()
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let g = DispatchGroup()
    g.enter(); DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); g.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit(); g.wait()
    return ProcessResult(status: p.terminationStatus, signalled: p.terminationReason == .uncaughtSignal,
                         stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errBox.data, as: UTF8.self))
}
