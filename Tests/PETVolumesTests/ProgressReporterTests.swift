import XCTest
@testable import PETVolumes

/// The progress lines' rate and ETA (regression: training's step-0 quality evaluation counted as
/// time spent on steps, so the first lines of a 30-minute run showed an ETA of 4 hours).
final class ProgressReporterTests: XCTestCase {
    func lines(restart: Bool) -> [String] {
        var out: [String] = []
        let bar = ProgressReporter(label: "train", total: 10, rateUnit: " it/s", output: .lines({ out.append($0) }, seconds: 0))
        Thread.sleep(forTimeInterval: 1.2)   // work before the loop (an evaluation)
        if restart { bar.restartClock(at: 0) }
        bar.update(1)
        return out
    }

    func testRestartedClockLeavesEarlierWorkOutOfTheETA() {
        let without = lines(restart: false), with = lines(restart: true)
        XCTAssertEqual(without.count, 1); XCTAssertEqual(with.count, 1)
        // 1 of 10 after 1.2 s: 9 more at that rate take about 11 s; after the restart, about nothing.
        XCTAssertTrue(without.first?.contains("ETA 0:1") == true, without.first ?? "no line")
        XCTAssertTrue(with.first?.contains("ETA 0:00") == true, with.first ?? "no line")
        XCTAssertTrue(with.first?.contains("elapsed 0:00") == true, with.first ?? "no line")
    }

    /// A resumed job's rate counts only this process's items (startingAt), and a restart at a count
    /// keeps that meaning.
    func testRestartAtACountCountsFromThere() {
        var out: [String] = []
        let bar = ProgressReporter(label: "train", total: 100, startingAt: 40, rateUnit: " it/s", output: .lines({ out.append($0) }, seconds: 0))
        bar.restartClock(at: 50)
        Thread.sleep(forTimeInterval: 0.5)
        bar.update(55)
        // 5 items in about 0.5 s: about 10 it/s, not (55 − 40) / 0.5 = 30.
        let rate = out.last.flatMap { line -> Double? in
            guard let r = line.range(of: #"[0-9.]+ it/s"#, options: .regularExpression) else { return nil }
            return Double(line[r].dropLast(5))
        }
        XCTAssertNotNil(rate, out.last ?? "no line")
        if let rate { XCTAssertTrue(rate > 5 && rate < 11, "rate \(rate)") }
    }
}
