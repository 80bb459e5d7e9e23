import Foundation

/// Training progress on stderr: a one-line bar (epoch, step/total, it/s, ETA, losses) redrawn on a
/// terminal; plain lines (about every 5% and at least every 30 s) when stderr is not a terminal.
public struct TrainProgress {
    public let total: Int
    public let stepsPerEpoch: Int
    let start = DispatchTime.now().uptimeNanoseconds
    let tty = isatty(STDERR_FILENO) != 0
    var lastPrinted = -1
    var lastTime: UInt64 = 0
    var lastDraw: UInt64 = 0

    public init(total: Int, stepsPerEpoch: Int) { self.total = total; self.stepsPerEpoch = stepsPerEpoch }

    public mutating func update(step: Int, metrics m: StepMetrics, itPerSecond: Double, firstStep: Int = 0) {
        let now = DispatchTime.now().uptimeNanoseconds
        let eta = Double(total - step) / max(itPerSecond, 1e-9)
        let epoch = (step - 1) / stepsPerEpoch + 1, epochs = (total + stepsPerEpoch - 1) / stepsPerEpoch
        let losses = String(format: "D %.3f G %.3f", m.lossD, m.lossG) + (m.gradientPenalty != 0 ? String(format: " W %.3f", m.wasserstein) : "")
        if tty {
            guard now - lastDraw > 100_000_000 || step == total else { return }
            lastDraw = now
            let width = 24
            let filled = Int(Double(width) * Double(step) / Double(max(1, total)))
            let line = "\repoch \(epoch)/\(epochs) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(step)/\(total) "
                + String(format: "%.2f it/s ETA %@ %@", itPerSecond, TrainProgress.clock(eta), losses) + "\u{1B}[K"
            FileHandle.standardError.write(Data(line.utf8))
        } else {
            let pct = step * 20 / max(1, total)
            guard pct != lastPrinted || step == total || now - lastTime > 30_000_000_000 else { return }
            lastPrinted = pct
            lastTime = now
            let elapsed = Double(now - start) / 1e9
            let line = "train: epoch \(epoch)/\(epochs) step \(step)/\(total) "
                + String(format: "(%.0f%%) %.2f it/s elapsed %@ ETA %@ %@\n", 100 * Double(step) / Double(max(1, total)), itPerSecond,
                         TrainProgress.clock(elapsed), TrainProgress.clock(eta), losses)
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    /// Ends the bar's line before other output.
    public func breakLine() { if tty { FileHandle.standardError.write(Data("\n".utf8)) } }

    public static func clock(_ s: Double) -> String {
        guard s.isFinite else { return "--:--" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}
