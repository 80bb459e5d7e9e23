import Foundation
import XCTest
import PETTestFixtures
import PETTestSupport

/// The options shared by the commands: a bare `--memory-budget` number is MB in every command that
/// takes one, sizes with units (KB, MB, GB) work everywhere, and a bad size or grid is one
/// `petgan: error:` line naming the option (exit 64, like every other bad option).
final class OptionTests: XCTestCase {
    func petgan() throws -> String { try petganBinary() }

    /// The single `petgan: error:` line of a refused run, which must name `option`.
    func assertOneErrorLine(_ args: [String], naming option: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try runProcess(try petgan(), args)
        XCTAssertEqual(r.status, 64, "\(args.joined(separator: " ")): \(r.stderr)", file: file, line: line)
        XCTAssertFalse(r.signalled, file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "\(args.joined(separator: " ")): one line only: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(lines.first?.hasPrefix("petgan: error:") == true && lines.first?.contains(option) == true,
                      "\(args.joined(separator: " ")): \(r.stderr)", file: file, line: line)
    }

    /// `--model` is PETModels' `ModelKind`: an unknown name is one error line that lists every model
    /// (hinge3d, the newest, included with no CLI edit), and --help lists them too.
    func testModelIsATypedChoice() throws {
        let dir = try makeTempDir("cli-badmodel")
        try assertOneErrorLine(["train", "--data", dir + "/d.h5", "--model", "wgan-gp3d"], naming: "--model")
        let r = try runProcess(try petgan(), ["train", "--data", dir + "/d.h5", "--model", "nope"])
        XCTAssertTrue(r.stderr.contains("hinge3d") && r.stderr.contains("dcgan2d"), r.stderr)
        try assertOneErrorLine(["bench", "memory", "--train", "--model", "dcgan2d"], naming: "--model")
        try assertOneErrorLine(["bench", "memory", "--train", "--model", "nope"], naming: "--model")
        let help = try runProcess(try petgan(), ["train", "--help"])
        XCTAssertEqual(help.status, 0, help.stderr)
        XCTAssertTrue(help.stdout.contains("hinge3d"), help.stdout)
    }

    /// `--precision` is PETTensor's `ConvPrecision` in every command that takes it.
    func testPrecisionIsATypedChoice() throws {
        let dir = try makeTempDir("cli-badprecision")
        for c in [["train", "--data", dir + "/d.h5"], ["generate", "--checkpoint", dir, "--out", dir + "/g"], ["bench", "conv"], ["bench", "train"]] {
            try assertOneErrorLine(c + ["--precision", "fp16"], naming: "--precision")
            let help = try runProcess(try petgan(), Array(c.prefix(c[0] == "bench" ? 2 : 1)) + ["--help"])
            XCTAssertTrue(help.stdout.contains("--precision") && help.stdout.contains("bf16"), help.stdout)
        }
    }

    func testBadSizesAndGridsAreOneErrorLineNamingTheOption() throws {
        let dir = try makeTempDir("cli-badoptions")
        let badSizes = ["lots", "-3MB", "0", "12XB", "1e30GB"]
        let sizeCommands: [[String]] = [
            ["train", "--data", dir + "/d.h5"],
            ["generate", "--checkpoint", dir, "--out", dir + "/g"],
            ["prepare", "--input", dir, "--labels", dir + "/l.csv", "--out", dir + "/p.h5"],
            ["evaluate", "--real", dir + "/r.h5", "--synthetic", dir + "/s.h5", "--out", dir + "/e"],
            ["bench", "evaluate"],
            ["bench", "memory", "--grid", "16x16x16"],
        ]
        for c in sizeCommands { for s in badSizes { try assertOneErrorLine(c + ["--memory-budget", s], naming: "--memory-budget") } }
        try assertOneErrorLine(["bench", "volumes", "--cache", "lots"], naming: "--cache")
        try assertOneErrorLine(["bench", "memory", "--train", "--train-cases", "96x112x96:lots"], naming: "--train-cases")

        for g in ["3x", "axbxc", "2x3", "0x4x4", "4x4x4x4", "4x-4x4"] {
            try assertOneErrorLine(["phantom", "--out", dir + "/c.h5", "--shape", g], naming: "--shape")
            try assertOneErrorLine(["prepare", "--input", dir, "--labels", dir + "/l.csv", "--out", dir + "/p.h5", "--shape", g], naming: "--shape")
            try assertOneErrorLine(["prepare", "--input", dir, "--labels", dir + "/l.csv", "--out", dir + "/p.h5", "--chunk", g], naming: "--chunk")
            try assertOneErrorLine(["generate", "--checkpoint", dir, "--out", dir + "/g", "--tile", g], naming: "--tile")
            try assertOneErrorLine(["demo", "--out", dir + "/demo", "--shape", g], naming: "--shape")
            try assertOneErrorLine(["bench", "memory", "--grid", g], naming: "--grid")
            try assertOneErrorLine(["bench", "memory", "--tile", g], naming: "--tile")
            try assertOneErrorLine(["bench", "memory", "--grids", "64x64x64,\(g)"], naming: "--grids")
            try assertOneErrorLine(["bench", "volumes", "--shape", g], naming: "--shape")
        }
        // Checks of a parsed value (ranges) are one line naming the option too.
        try assertOneErrorLine(["bench", "memory", "--grid", "20x20x20"], naming: "--grid")
        try assertOneErrorLine(["phantom", "--out", dir + "/c.h5", "--shape", "4x400x400"], naming: "--shape")
        try assertOneErrorLine(["train", "--data", dir + "/d.h5", "--threads", "0"], naming: "--threads")
        try assertOneErrorLine(["bench", "conv", "--paths", "auto,magic"], naming: "--paths")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/c.h5"))
    }

    /// `evaluate` and `bench evaluate` take at least 8 MB: a bare 4 is refused as 4 MB, a bare 8 and
    /// 1GB pass the check (and the run then fails on its missing inputs, not on the budget).
    func testEvaluateBudgetsAreMegabytes() throws {
        let exe = try petgan()
        let dir = try makeTempDir("cli-evalbudget")
        let evaluate = ["evaluate", "--real", dir + "/missing.h5", "--synthetic", dir + "/missing.h5", "--out", dir + "/e"]
        try assertOneErrorLine(evaluate + ["--memory-budget", "4"], naming: "--memory-budget")
        let four = try runProcess(exe, evaluate + ["--memory-budget", "4"])
        XCTAssertTrue(four.stderr.contains("at least 8 MB"), four.stderr)
        for ok in ["8", "512", "1GB", "8192KB"] {
            let r = try runProcess(exe, evaluate + ["--memory-budget", ok])
            XCTAssertEqual(r.status, 1, "\(ok): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("missing.h5") && !r.stderr.contains("--memory-budget"), "\(ok): \(r.stderr)")
        }
        try assertOneErrorLine(["bench", "evaluate", "--memory-budget", "4"], naming: "--memory-budget")
        // A budget that passes leaves --count as the only problem.
        for ok in ["8", "1GB"] { try assertOneErrorLine(["bench", "evaluate", "--memory-budget", ok, "--count", "3"], naming: "--count") }
    }

    /// `bench memory` records the budget it ran with: 512 and 512MB are the same, 1GB is 1024 MB.
    func testBenchMemoryBudgetIsMegabytes() throws {
        let exe = try petgan()
        for (given, mb) in [("512", 512), ("512MB", 512), ("1GB", 1024), ("0.5GB", 512)] {
            let r = try runProcess(exe, ["bench", "memory", "--grid", "16x16x16", "--tiled", "--channels", "8,8,8,8", "--memory-budget", given,
                                         "--row-output", "--threads", "1"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let line = try XCTUnwrap(r.stdout.split(separator: "\n").last { $0.hasPrefix("ROW ") }, r.stdout)
            let row = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.dropFirst(4).utf8)) as? [String: Any])
            XCTAssertEqual(row["budget_mb"] as? Int, mb, "\(given): \(line)")
            XCTAssertEqual(row["grid"] as? [Int], [16, 16, 16])
            XCTAssertEqual(row["tiled"] as? Bool, true)
        }
    }

    /// `prepare` refuses a grid over its budget before reading anything: a bare 1 is 1 MB (a 96×112×96
    /// volume needs about 12 MB), 1GB fits.
    func testPrepareBudgetIsMegabytes() throws {
        let exe = try petgan()
        let dir = try makeTempDir("cli-preparebudget")
        let names = try Fixtures.writePerturbedNIfTI(from: try Fixtures.smallCohort(), to: dir + "/nifti", offset: 0, indices: [0, 4])
        try ("file,label\n" + names.map { "\($0),\($0.split(separator: "_")[0])\n" }.joined()).write(toFile: dir + "/labels.csv", atomically: true, encoding: .utf8)
        let prepare = ["prepare", "--input", dir + "/nifti", "--labels", dir + "/labels.csv", "--voxel-size", "4", "--center", "origin"]
        let small = try runProcess(exe, prepare + ["--out", dir + "/small.h5", "--shape", "96x112x96", "--memory-budget", "1"])
        XCTAssertEqual(small.status, 1, small.stderr)
        XCTAssertEqual(small.errorLines.count, 1, small.stderr)
        XCTAssertTrue(small.stderr.contains("over the memory budget of 1.0 MB"), small.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/small.h5"))
        for (given, name) in [("1GB", "gb"), ("64", "mb")] {
            let r = try runProcess(exe, prepare + ["--out", dir + "/\(name).h5", "--shape", "48x56x48", "--memory-budget", given])
            XCTAssertEqual(r.status, 0, "\(given): \(r.stderr)")
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/\(name).h5"))
        }
    }

    /// `train` and `generate` within a budget: a bare 512 is 512 MB (the plans print their budget),
    /// 1GB is 1 GB; the progress lines on stderr carry an ETA.
    func testTrainAndGenerateBudgetsAreMegabytes() throws {
        let exe = try petgan()
        let dir = try makeTempDir("cli-traingenbudget")
        let cohort = try Fixtures.smallCohort()
        let t = try runProcess(exe, ["train", "--data", cohort, "--model", "dcgan3d", "--max-steps", "2", "--batch", "2", "--threads", "2",
                                     "--set", "g_channels=8,4,2", "--set", "d_channels=2,4,8", "--set", "plot_every=100", "--set", "sample_count=2",
                                     "--out", dir + "/runs", "--memory-budget", "512"])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertTrue(t.stdout.contains("train: memory budget: ") && t.stdout.contains("budget 512.0 MB"), t.stdout)
        XCTAssertTrue(t.stderr.contains("train: 2/2") && t.stderr.contains("ETA"), t.stderr)
        let run = try XCTUnwrap(t.stdout.split(separator: "\n").first { $0.hasPrefix("train: run directory ") }, t.stdout)
            .replacingOccurrences(of: "train: run directory ", with: "")
        for (given, shown) in [("512", "budget 512.0 MB"), ("1GB", "budget 1.00 GB")] {
            let g = try runProcess(exe, ["generate", "--checkpoint", run, "--count", "1", "--out", dir + "/gen-\(given)", "--memory-budget", given, "--threads", "2"])
            XCTAssertEqual(g.status, 0, g.stderr)
            XCTAssertTrue(g.stdout.contains("generate: tiled: ") && g.stdout.contains(shown), "\(given): \(g.stdout)")
            XCTAssertTrue(g.stderr.contains("generate: ") && g.stderr.contains("ETA"), g.stderr)
        }
    }

    /// Every bench command still answers --help (the user's command), and the option groups show
    /// in it.
    func testBenchCommandsHelp() throws {
        let exe = try petgan()
        for c in ["conv", "autograd", "phantom", "volumes", "train", "memory", "evaluate"] {
            let r = try runProcess(exe, ["bench", c, "--help"])
            XCTAssertEqual(r.status, 0, "\(c): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("USAGE: petgan bench \(c)"), r.stdout)
            if c != "volumes" { XCTAssertTrue(r.stdout.contains("--threads"), "\(c): \(r.stdout)") }
            XCTAssertTrue(r.stdout.contains("--json"), "\(c): \(r.stdout)")
        }
        let m = try runProcess(exe, ["bench", "memory", "--help"])
        let text = m.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")   // help wraps its lines
        XCTAssertTrue(text.contains("--memory-budget") && text.contains("a bare number is MB; default: 512MB"), m.stdout)
    }
}
