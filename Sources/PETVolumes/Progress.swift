import Foundation

/// Progress of a long job (subjects, volumes, steps, samples, pairs) with rate and ETA: the one
/// reporter of every long command. On a terminal a one-line bar redrawn in place on stderr; else
/// (a log file, a pipe, a test) plain lines about every 10% and at least every 30 s; or every line
/// handed to a sink (a library's `log` / `progress` callback). PETVolumes is the lowest module
/// that reports progress (`prepare`); the cohort, training, generation and evaluation use it too.
public final class ProgressReporter {
    public enum Output {
        /// stderr: the bar on a terminal, plain lines otherwise.
        case standardError
        /// Lines to a sink, about every 10% and at least every `seconds` (the first and last always).
        case lines((String) -> Void, seconds: Double = 30)
    }

    public let label: String
    public let total: Int
    /// Shown after the rate: "/s", " it/s".
    let rateUnit: String
    let output: Output
    let tty: Bool
    var start = DispatchTime.now().uptimeNanoseconds
    /// The count the job started from (a resumed run): the rate counts only what this process did.
    var first: Int
    var lastBucket = -1
    var lastLine: UInt64 = 0
    var lastDraw: UInt64 = 0
    var drawn = false
    let lock = NSLock()

    public init(label: String, total: Int, startingAt first: Int = 0, rateUnit: String = "/s", output: Output = .standardError) {
        self.label = label; self.total = total; self.first = first; self.rateUnit = rateUnit; self.output = output
        if case .standardError = output { tty = isatty(STDERR_FILENO) != 0 } else { tty = false }
    }

    /// A sink-or-nothing reporter for library code whose caller may give no log.
    public convenience init(label: String, total: Int, log: ((String) -> Void)?, seconds: Double = 30) {
        self.init(label: label, total: total, output: .lines(log ?? { _ in }, seconds: seconds))
    }

    /// The clock and the rate start again from here, at `done` items: work done before the job's own
    /// loop (training's step-0 quality evaluation, 16 s of a run whose steps take 2 s) would
    /// otherwise inflate the first ETAs (4 h shown for a 30-minute run).
    public func restartClock(at done: Int) {
        lock.lock(); defer { lock.unlock() }
        start = DispatchTime.now().uptimeNanoseconds
        first = done
    }

    /// `done` of `total` finished; `detail` (losses, the subject) ends the line.
    public func update(_ done: Int, detail: String = "") {
        lock.lock(); defer { lock.unlock() }
        let now = DispatchTime.now().uptimeNanoseconds
        let elapsed = Double(now - start) / 1e9
        let rate = Double(done - first) / max(elapsed, 1e-9)
        let eta = done >= total ? 0 : Double(total - done) / max(rate, 1e-9)
        let suffix = detail.isEmpty ? "" : " " + detail
        if tty {
            guard now - lastDraw > 100_000_000 || done >= total || !drawn else { return }
            lastDraw = now; drawn = true
            let width = 30
            let filled = min(width, Int(Double(width) * Double(done) / Double(max(1, total))))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            FileHandle.standardError.write(Data(("\r\(label) [\(bar)] \(done)/\(total) "
                + String(format: "%.2f%@ ETA %@", rate, rateUnit, Self.clock(eta)) + suffix + "\u{1B}[K").utf8))
            return
        }
        let line = Self.format(label: label, done: done, total: total, rate: rate, rateUnit: rateUnit, elapsed: elapsed, eta: eta) + suffix
        switch output {
        case .lines(let sink, let seconds):
            if shouldPrintLine(done, now: now, seconds: seconds) { sink(line) }
        case .standardError:
            if shouldPrintLine(done, now: now, seconds: 30) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
    }

    /// The plain line of `done` now, unthrottled: for a per-item log (`prepare` prints one per volume).
    public func line(_ done: Int, detail: String = "") -> String {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let rate = Double(done - first) / max(elapsed, 1e-9)
        let eta = done >= total ? 0 : Double(total - done) / max(rate, 1e-9)
        return Self.format(label: label, done: done, total: total, rate: rate, rateUnit: rateUnit, elapsed: elapsed, eta: eta)
            + (detail.isEmpty ? "" : " " + detail)
    }

    static func format(label: String, done: Int, total: Int, rate: Double, rateUnit: String, elapsed: Double, eta: Double) -> String {
        "\(label): \(done)/\(total) " + String(format: "(%.0f%%) %.2f%@ elapsed %@ ETA %@", 100 * Double(done) / Double(max(1, total)),
                                                rate, rateUnit, clock(elapsed), clock(eta))
    }

    func shouldPrintLine(_ done: Int, now: UInt64, seconds: Double) -> Bool {
        let bucket = done * 10 / max(1, total)
        guard bucket != lastBucket || done >= total || Double(now - lastLine) / 1e9 > seconds else { return false }
        lastBucket = bucket; lastLine = now
        return true
    }

    /// Ends the bar's line before other output (no-op without a bar).
    public func breakLine() {
        lock.lock(); defer { lock.unlock() }
        if tty && drawn { FileHandle.standardError.write(Data("\n".utf8)); drawn = false }
    }

    /// The job is over: the bar's line is ended.
    public func finish() { breakLine() }

    /// "m:ss", or "h:mm:ss" from an hour; "--:--" when unknown.
    public static func clock(_ s: Double) -> String {
        guard s.isFinite, s < 1e9 else { return "--:--" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}
