import Foundation
import XCTest
import PETTestSupport
@testable import PETFuzzing
@testable import PETModels

/// Malformed YAML settings: each refused naming the file, the setting and the reason.
final class ConfigValidationTests: XCTestCase {
    override func setUp() {
        super.setUp()
        FuzzTargets.onFinding = { XCTFail("fuzz target finding: \($0)") }
    }

    /// (YAML text, setting the error must name (nil: none), what the error must say)
    static let cases: [(String, String?, String)] = [
        ("model: wgangp3d\nlr_gg: 1e-4\n", "lr_gg", "did you mean 'lr_g'?"),
        ("n-critic: 2\n", "n-critic", "did you mean 'n_critic'?"),
        ("learning_rate: 3\n", "learning_rate", "unknown setting"),
        ("epochs: .inf\n", "epochs", "expected an integer, got inf"),
        ("epochs: 1.5\n", "epochs", "expected an integer"),
        ("epochs: 99999999999999999999\n", "epochs", "epochs"),
        ("epochs: 0\n", "epochs", "must be 1…"),
        ("epochs: 2000000\n", "epochs", "must be 1…"),
        ("batch: true\n", "batch", "expected an integer"),
        ("batch: [4]\n", "batch", "expected a single value"),
        ("batch: -3\n", "batch", "must be 1…"),
        ("max_steps: -1\n", "max_steps", "must not be negative"),
        ("seed: -1\n", "seed", "non-negative integer"),
        ("seed: 18446744073709551616\n", "seed", "non-negative integer"),
        ("threads: 5000\n", "threads", "threads"),
        ("z_dim: 0\n", "z_dim", "must be 1…"),
        ("g_channels: [64, 0, 16]\n", "g_channels", "widths of 1…"),
        ("g_channels: [64, [32], 16]\n", "g_channels", "flat list"),
        ("g_channels: [64, 32.5, 16]\n", "g_channels", "list of integers"),
        ("g_channels: [1000000000, 32, 16]\n", "g_channels", "widths of 1…16384"),
        ("g_channels: [64, 32]\n", "d_channels", "needs 2 widths"),
        ("g_channels: [1, 1, 1, 1, 1, 1, 1, 1, 1]\nd_channels: [1, 1, 1, 1, 1, 1, 1, 1, 1]\n", "g_channels", "1…8 widths"),
        ("lr_g: .nan\n", "lr_g", "finite number, got nan"),
        ("lr_g: nan\n", "lr_g", "finite number, got nan"),
        ("lr_d: -.inf\n", "lr_d", "finite number, got -inf"),
        ("lr_g: -1e-4\n", "lr_g", "positive finite number"),
        ("lr_g: 0\n", "lr_g", "positive finite number"),
        ("beta1: 1\n", "beta1", "[0, 1)"),
        ("beta2: -0.1\n", "beta2", "[0, 1)"),
        ("model: wgan3d\nrms_alpha: 1.5\n", "rms_alpha", "[0, 1)"),
        ("n_critic: 0\n", "n_critic", "must be 1…"),
        ("gp_lambda: -1\n", "gp_lambda", "≥ 0"),
        ("clip: 0\n", "clip", "positive finite"),
        ("init_std: 1e999\n", "init_std", "finite number, got inf"),
        ("sample_count: 100\n", "sample_count", "1…64"),
        ("checkpoint_every: 0\n", "checkpoint_every", "at least 1"),
        ("plot_every: -2\n", "plot_every", "must not be negative"),
        ("z_distribution: gaussian\n", "z_distribution", "uniform or normal"),
        ("optimizer: sgd\n", "optimizer", "adam or rmsprop"),
        ("model: wgangp3d\ncritic_norm: batch\n", "critic_norm", "must not use batch norm"),
        ("conditional: true\nclass: AD\n", "class", "conditional model trains on every class"),
        ("conditional: maybe\n", "conditional", "true or false"),
        ("model: 3\n", "model", "unknown model '3'"),
        ("model: [wgan3d]\n", "model", "expected a single value"),
        ("model: resnet\n", "model", "unknown model 'resnet'"),
        ("preset: paper2d\nmodel: wgangp3d\n", "model", "is a dcgan2d model"),
        ("preset: paper3d\n", "preset", "unknown preset"),
        ("batch: 4\nbatch: 8\n", "batch", "given more than once"),
        ("lr_g: {a: 1}\n", "lr_g", "found a mapping"),
        ("- model: wgan3d\n", nil, "top level must be a mapping"),
        ("just text\n", nil, "top level must be a mapping"),
        ("model: [unclosed\n", nil, "not valid YAML"),
        ("a: &x [1, 2]\nb: *x\n", "a", "unknown setting"),
        ("? [1, 2]\n: 3\n", nil, "setting name must be a plain word"),
        ("model: wgan3d\u{0}\n", nil, "NUL"),
        ("epochs: 504467440737095516:15\n", "epochs", "expected an integer"),
        ("epochs: !!int 99999999999:99999999999:99\n", "epochs", "expected an integer"),
        ("batch: !!int a:b\n", "batch", "expected an integer"),
    ]

    func testEveryMalformedSettingsFileIsRefusedNamingFileKeyAndReason() throws {
        let dir = try makeTempDir()
        for (i, (text, key, reason)) in Self.cases.enumerated() {
            let path = dir + "/case\(i).yaml"
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try TrainConfig.resolve(model: nil, preset: nil, yamlFile: path, overrides: ["data": "x.h5"]), text) { e in
                let msg = "\(e)"
                XCTAssertTrue(msg.hasPrefix(path) || msg.contains(path), "\(text): the error must name \(path): \(msg)")
                if let k = key { XCTAssertTrue(msg.contains("'\(k)'"), "\(text): the error must name '\(k)': \(msg)") }
                XCTAssertTrue(msg.contains(reason), "\(text): expected '\(reason)' in: \(msg)")
            }
            // The fuzz target takes the same file the same way (no trap, the file named).
            XCTAssertEqual(FuzzTargets.config(Data(text.utf8)).messages.count, 1, text)
        }
    }

    func testTextWithColonsKeepsItsMeaning() throws {
        let dir = try makeTempDir()
        try "data: !!int /data/PET:2024/cohort.h5\nclass: AD:early\n".write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let c = try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: dir + "/c.yaml", overrides: [:])
        XCTAssertEqual(c.data, "/data/PET:2024/cohort.h5")
        XCTAssertEqual(c.classFilter, "AD:early")
    }

    /// Values YAML 1.1 would construct as something other than a number, a Bool or text (a
    /// timestamp) keep the text as written: `class: 2024-01-15` was "2024-01-15 00:00:00 +0000".
    func testTimestampLikeTextKeepsItsText() throws {
        let dir = try makeTempDir()
        try "data: 2024-01-15\nclass: 2024-01-15T10:30:00Z\n".write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let c = try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: dir + "/c.yaml", overrides: [:])
        XCTAssertEqual(c.data, "2024-01-15")
        XCTAssertEqual(c.classFilter, "2024-01-15T10:30:00Z")
        // Text settings keep the text even where YAML reads a number (`007` was "7", `1e3` "1000.0").
        try "data: 1e3\nclass: 007\n".write(toFile: dir + "/n.yaml", atomically: true, encoding: .utf8)
        let n = try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: dir + "/n.yaml", overrides: [:])
        XCTAssertEqual(n.data, "1e3")
        XCTAssertEqual(n.classFilter, "007")
        try "class: ~\n".write(toFile: dir + "/z.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: dir + "/z.yaml", overrides: [:]).classFilter, "")
        // A number setting given such text is refused by name.
        try "epochs: 2024-01-15\n".write(toFile: dir + "/e.yaml", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: dir + "/e.yaml", overrides: [:])) { e in
            XCTAssertEqual("\(e)", "\(dir)/e.yaml: setting 'epochs': expected an integer, got '2024-01-15'")
        }
    }

    /// A configuration's settings read back with their types (JSON `true` only as a Bool, `3` only as
    /// a number), and assemble to the same configuration for every model.
    func testSettingsKeepTheirTypes() throws {
        for kind in ModelKind.allCases {
            let c = TrainConfig.defaults(for: kind)
            let s = try c.settings()
            XCTAssertEqual(Set(s.keys), Set(TrainConfig.keys), kind.rawValue)
            XCTAssertEqual(s["conditional"], .bool(false), kind.rawValue)
            XCTAssertEqual(s["epochs"], .int(c.epochs), kind.rawValue)
            XCTAssertEqual(s["g_channels"], .list(c.gChannels.map { .int($0) }), kind.rawValue)
            XCTAssertEqual(s["model"], .string(kind.rawValue), kind.rawValue)
            XCTAssertEqual(try TrainConfig.resolve(model: kind, preset: nil, yamlFile: nil, overrides: s), c, kind.rawValue)
        }
        XCTAssertEqual(try JSONDecoder().decode([SettingValue].self, from: Data("[true, 3, 0.5, 18446744073709551615, null, \"x\", [1]]".utf8)),
                       [.bool(true), .int(3), .double(0.5), .uint(.max), .null, .string("x"), .list([.int(1)])])
        XCTAssertThrowsError(try JSONDecoder().decode(SettingValue.self, from: Data("{\"a\": 1}".utf8)))
    }

    func testInvalidBytesAndOversizedFiles() throws {
        let dir = try makeTempDir()
        try Data([0x6D, 0x3A, 0x20, 0xFF, 0xFE, 0x0A]).write(to: URL(fileURLWithPath: dir + "/latin.yaml"))
        try Data(repeating: 0x23, count: TrainConfig.maxSettingsFileBytes + 1).write(to: URL(fileURLWithPath: dir + "/big.yaml"))
        for (name, reason) in [("latin.yaml", "not UTF-8"), ("big.yaml", "at most")] {
            XCTAssertThrowsError(try TrainConfig.resolve(model: nil, preset: nil, yamlFile: dir + "/" + name, overrides: [:])) { e in
                XCTAssertTrue("\(e)".contains(dir + "/" + name) && "\(e)".contains(reason), "\(e)")
            }
        }
        // An empty file is no settings at all, not an error.
        try Data().write(to: URL(fileURLWithPath: dir + "/empty.yaml"))
        XCTAssertEqual(try TrainConfig.resolve(model: nil, preset: nil, yamlFile: dir + "/empty.yaml", overrides: [:]),
                       try TrainConfig.resolve(model: nil, preset: nil, yamlFile: nil, overrides: [:]))
    }

    func testCommandLineValuesAreCheckedToo() throws {
        for (over, key, reason) in [(["lr_g": "nan"] as [String: SettingValue], "lr_g", "finite"), (["epochs": "inf"], "epochs", "integer"),
                                    (["lr-g": "1"], "lr-g", "did you mean 'lr_g'?"), (["seed": "-4"], "seed", "non-negative")] {
            XCTAssertThrowsError(try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: nil, overrides: over)) { e in
                XCTAssertTrue("\(e)".hasPrefix("command line: ") && "\(e)".contains("'\(key)'") && "\(e)".contains(reason), "\(e)")
            }
        }
    }

    func testResolvedYAMLReadsBackExactlyWithOddStringsAndTheLargestSeed() throws {
        let dir = try makeTempDir()
        var c = try TrainConfig.resolve(model: .wgangp3d, preset: nil, yamlFile: nil,
                                        overrides: ["data": "a \"b\"\\c\nd\te\u{7}f.h5", "seed": .uint(UInt64.max), "lr_g": "1e-05"])
        XCTAssertEqual(c.seed, UInt64.max)
        try c.yaml().write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let back = try TrainConfig.resolve(model: nil, preset: nil, yamlFile: dir + "/c.yaml", overrides: [:])
        XCTAssertEqual(back, c)
        XCTAssertEqual(back.data, "a \"b\"\\c\nd\te\u{7}f.h5")
        c.seed = 0
        XCTAssertNotEqual(back, c)
    }

    func testPetganTrainRefusesBadSettingsWithOneLine() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir()
        for (i, (text, key, reason)) in Self.cases.enumerated() where [0, 3, 22, 39, 47, 48].contains(i) {
            let path = dir + "/bad\(i).yaml"
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            let r = try runProgram(exe, ["train", "--config", path, "--data", dir + "/none.h5", "--dry-run"])
            assertOneErrorLine(r, file: path, reason: reason, "train --config \(text)")
            if let k = key { XCTAssertTrue(r.2.contains("'\(k)'"), r.2) }
        }
        let r = try runProgram(exe, ["train", "--data", dir + "/none.h5", "--set", "lr_gg=1", "--dry-run"])
        XCTAssertEqual(r.0, 1, r.2); XCTAssertTrue(r.2.contains("command line: unknown setting 'lr_gg' (did you mean 'lr_g'?"), r.2)
        // The largest seed is a valid seed (it trapped in Int(UInt64) before).
        let s = try runProgram(exe, ["train", "--data", dir + "/none.h5", "--seed", "18446744073709551615", "--dry-run"])
        XCTAssertEqual(s.0, 0, s.2); XCTAssertTrue(s.1.contains("seed: 18446744073709551615"), s.1)
    }
}
