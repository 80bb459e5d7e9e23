import Foundation
import XCTest
import PETTestSupport
import PETTensor
import PETVolumes
@testable import PETModels

/// The training checkpoint file (TrainingCheckpoint.swift; in PETVolumesTests before it moved up).
final class TrainingCheckpointTests: XCTestCase {
    func sample(seed: UInt64 = 1) -> Checkpoint {
        var rng = PETRandom(seed: seed)
        var c = Checkpoint()
        c.tensors["gen.block1.conv.weight"] = Tensor.normal([4, 3, 2, 2, 2], std: 0.02, rng: &rng)
        c.tensors["gen.block1.bn.running_mean"] = Tensor.normal([4], rng: &rng)
        c.tensors["gen.scale"] = Tensor.scalar(-0.0)   // rank 0, negative zero (bitwise!)
        c.tensors["critic.fc.weight"] = Tensor(shape: [1, 16], values: (0..<16).map { Float($0) * .ulpOfOne + .leastNonzeroMagnitude })
        c.optimizers["optG"] = .init(tensors: ["gen.block1.conv.weight.exp_avg": Tensor.normal([4, 3, 2, 2, 2], rng: &rng),
                                               "gen.block1.conv.weight.exp_avg_sq": Tensor.uniform([4, 3, 2, 2, 2], rng: &rng)],
                                     steps: ["gen.block1.conv.weight": 1234567])
        c.optimizers["optD"] = .init()
        _ = rng.normal()   // leaves a cached spare normal in the state
        c.rngs["train"] = rng
        c.rngs["noise"] = PETRandom(seed: 99)
        c.epoch = 7
        c.step = 4321
        c.configJSON = #"{"model":"dcgan3d","size":64,"lr":0.0002,"name":"ünïcode ✓"}"#
        return c
    }

    func assertBitwiseEqual(_ a: Checkpoint, _ b: Checkpoint, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(a.tensors.keys), Set(b.tensors.keys), file: file, line: line)
        for (k, t) in a.tensors { XCTAssertTrue(b.tensors[k].map { $0.bitwiseEqual(t) } ?? false, "tensor \(k)", file: file, line: line) }
        XCTAssertEqual(a.optimizers, b.optimizers, file: file, line: line)
        XCTAssertEqual(a.rngs, b.rngs, file: file, line: line)
        XCTAssertEqual(a.epoch, b.epoch, file: file, line: line)
        XCTAssertEqual(a.step, b.step, file: file, line: line)
        XCTAssertEqual(a.configJSON, b.configJSON, file: file, line: line)
        XCTAssertEqual(a.version, b.version, file: file, line: line)
    }

    func testRoundTripIsBitwise() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/run.ckpt.h5"
        let c = sample()
        XCTAssertNotNil(c.rngs["train"]!.spareNormal)
        try c.save(to: path)
        let back = try Checkpoint.load(from: path)
        assertBitwiseEqual(c, back)
        XCTAssertEqual(back.tensors["gen.scale"]!.shape, [])
        XCTAssertEqual(back.version, PETGANVersion.string)
        // Overwriting replaces the file and leaves no temporary files behind.
        var c2 = sample(seed: 2)
        c2.step = 5000
        try c2.save(to: path)
        assertBitwiseEqual(c2, try Checkpoint.load(from: path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["run.ckpt.h5"])
    }

    /// Loading into existing tensors (a model's own parameters): read in place when the shape agrees,
    /// bitwise the values of a normal load; a target of another shape is left alone; metadata-only reads.
    func testLoadIntoTargetsReadsInPlace() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/ck.h5"
        let c = sample()
        try c.save(to: path)
        let w = Tensor(shape: [4, 3, 2, 2, 2]), s = Tensor.scalar(5), wrong = Tensor(shape: [2, 8], repeating: 7)
        let back = try Checkpoint.load(from: path, into: ["gen.block1.conv.weight": w, "gen.scale": s, "critic.fc.weight": wrong])
        XCTAssertTrue(back.tensors["gen.block1.conv.weight"]! === w, "read into the target")
        XCTAssertTrue(back.tensors["gen.scale"]! === s, "rank-0 target")
        XCTAssertFalse(back.tensors["critic.fc.weight"]! === wrong, "a target of another shape is not used")
        XCTAssertTrue(wrong.array.allSatisfy { $0 == 7 }, "and not written")
        assertBitwiseEqual(c, back)
        let meta = try Checkpoint.load(from: path, readTensors: false)
        XCTAssertTrue(meta.tensors.isEmpty)
        XCTAssertEqual(meta.configJSON, c.configJSON); XCTAssertEqual(meta.step, c.step); XCTAssertEqual(meta.rngs, c.rngs)
    }

    func testManifestMismatchListsEveryDifference() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.h5"
        try sample().save(to: path)
        var m = Checkpoint.Manifest(
            tensors: ["gen.block1.conv.weight": [4, 3, 2, 2, 2], "gen.block1.bn.running_mean": [4], "gen.scale": [],
                      "critic.fc.weight": [1, 16]],
            optimizers: ["optG": ["gen.block1.conv.weight.exp_avg": [4, 3, 2, 2, 2], "gen.block1.conv.weight.exp_avg_sq": [4, 3, 2, 2, 2]],
                         "optD": [:]],
            rngs: ["train", "noise"])
        XCTAssertNoThrow(try Checkpoint.load(from: path, expecting: m))
        m.tensors["gen.block1.conv.weight"] = [4, 3, 3, 3, 3]
        m.tensors["gen.block2.conv.weight"] = [2]
        m.tensors["critic.fc.weight"] = nil
        m.rngs.insert("augment")
        XCTAssertThrowsError(try Checkpoint.load(from: path, expecting: m)) { e in
            guard case let CheckpointError.mismatch(file, missing, unexpected, shapes) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(file, path)
            XCTAssertEqual(missing, ["gen.block2.conv.weight", "rng augment"])
            XCTAssertEqual(unexpected, ["critic.fc.weight"])
            XCTAssertEqual(shapes, ["gen.block1.conv.weight: checkpoint [4, 3, 2, 2, 2], model [4, 3, 3, 3, 3]"])
            XCTAssertTrue("\(e)".contains(path))
        }
    }

    func testBadFilesGiveClearErrors() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Not HDF5 at all.
        let junk = dir + "/junk.h5"
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: junk))
        XCTAssertThrowsError(try Checkpoint.load(from: junk)) { e in
            guard case CheckpointError.notACheckpoint(let f, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(f, junk)
        }
        // HDF5, but not a checkpoint.
        let other = dir + "/other.h5"
        let f = try HDF5File.create(other)
        try f.createDataset("x", values: [Float(1)], shape: [1])
        try f.commit()
        XCTAssertThrowsError(try Checkpoint.load(from: other)) { e in
            guard case CheckpointError.notACheckpoint = e else { return XCTFail("\(e)") }
        }
        // A truncated checkpoint (a kill during a non-atomic copy) is refused, not half-read.
        let good = dir + "/good.h5"
        try sample().save(to: good)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        let cut = dir + "/cut.h5"
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
        XCTAssertThrowsError(try Checkpoint.load(from: cut))
        // Missing file.
        XCTAssertThrowsError(try Checkpoint.load(from: dir + "/nope.h5")) { e in XCTAssertTrue("\(e)".contains("nope.h5")) }
        // A name with '/' is refused before anything is written; a missing folder fails cleanly.
        var c = sample()
        c.tensors["a/b"] = Tensor(shape: [1])
        XCTAssertThrowsError(try c.save(to: dir + "/slash.h5")) { e in XCTAssertEqual(e as? CheckpointError, .invalidName(file: dir + "/slash.h5", name: "a/b")) }
        XCTAssertThrowsError(try sample().save(to: dir + "/no/such/folder/c.h5"))
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["junk.h5", "other.h5", "good.h5", "cut.h5"])
    }

    /// h5py sees the documented layout.
    func testLayoutReadableByH5py() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.h5"
        let c = sample()
        try c.save(to: path)
        let out = try runPython("""
        import h5py, json
        f = h5py.File('\(path)', 'r')
        w = f['tensors/gen.block1.conv.weight']
        cfg = f['config'][0]
        cfg = cfg.decode() if isinstance(cfg, bytes) else cfg
        print(json.dumps({"format": f.attrs['format'] if isinstance(f.attrs['format'], str) else f.attrs['format'].decode(),
                          "step": int(f.attrs['step']), "shape": list(w.shape), "w0": float(w[0,0,0,0,0]),
                          "steps": int(f['optimizers/optG/step_counts'][0]), "rng": [int(v) for v in f['rng/noise'][:]],
                          "config": json.loads(cfg)["model"]}))
        """)
        let last = out.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        XCTAssertEqual(j["format"] as? String, "petgan-checkpoint")
        XCTAssertEqual(j["step"] as? Int, 4321)
        XCTAssertEqual(j["shape"] as? [Int], [4, 3, 2, 2, 2])
        XCTAssertEqual((j["w0"] as? Double).map(Float.init), c.tensors["gen.block1.conv.weight"]![0])
        XCTAssertEqual(j["steps"] as? Int, 1234567)
        XCTAssertEqual((j["rng"] as? [NSNumber])?.map { $0.uint64Value }, PETRandom(seed: 99).state)
        XCTAssertEqual(j["config"] as? String, "dcgan3d")
    }

    /// A tiny training loop (noisy logistic regression with Adam-style moments, PETTensor only: the
    /// autograd-level resume test is in PETAutogradTests) stopped, checkpointed to disk and resumed
    /// gives bitwise the same weights, moments and generator as the uninterrupted run.
    func testResumeFromFileEqualsUninterrupted() throws {
        Parallel.setThreads(1)
        defer { Parallel.setThreads(max(1, ProcessInfo.processInfo.activeProcessorCount)) }
        struct State { var w: Tensor; var m: Tensor; var v: Tensor; var steps: Int; var rng: PETRandom }
        func fresh() -> State {
            var r = PETRandom(seed: 3)
            return State(w: Tensor.normal([5], std: 0.1, rng: &r), m: Tensor(shape: [5]), v: Tensor(shape: [5]), steps: 0, rng: r)
        }
        func step(_ s: inout State) {
            // One sample with 5 features (an odd number of normals: the spare normal matters).
            let x = (0..<5).map { _ in s.rng.normal() }
            let y: Float = x[0] - 0.5 * x[2] > 0 ? 1 : 0
            var z: Float = 0
            for i in 0..<5 { z += s.w[i] * x[i] }
            let p = 1 / (1 + exp(-z))
            s.steps += 1
            for i in 0..<5 {
                let g = (p - y) * x[i]
                s.m[i] = 0.9 * s.m[i] + 0.1 * g
                s.v[i] = 0.999 * s.v[i] + 0.001 * g * g
                s.w[i] -= 0.05 * (s.m[i] / (1 - pow(0.9, Float(s.steps)))) / ((s.v[i] / (1 - pow(0.999, Float(s.steps)))).squareRoot() + 1e-8)
            }
        }
        var a = fresh()
        for _ in 0..<40 { step(&a) }

        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/resume.h5"
        var b = fresh()
        for _ in 0..<18 { step(&b) }
        XCTAssertNotNil(b.rng.spareNormal)
        try Checkpoint(tensors: ["w": b.w], optimizers: ["opt": .init(tensors: ["w.exp_avg": b.m, "w.exp_avg_sq": b.v], steps: ["w": b.steps])],
                       rngs: ["train": b.rng], epoch: 0, step: 18).save(to: path)
        let c = try Checkpoint.load(from: path, expecting: .init(tensors: ["w": [5]], optimizers: ["opt": ["w.exp_avg": [5], "w.exp_avg_sq": [5]]], rngs: ["train"]))
        var r = State(w: c.tensors["w"]!, m: c.optimizers["opt"]!.tensors["w.exp_avg"]!, v: c.optimizers["opt"]!.tensors["w.exp_avg_sq"]!,
                      steps: c.optimizers["opt"]!.steps["w"]!, rng: c.rngs["train"]!)
        for _ in c.step..<40 { step(&r) }
        XCTAssertTrue(r.w.bitwiseEqual(a.w))
        XCTAssertTrue(r.m.bitwiseEqual(a.m))
        XCTAssertTrue(r.v.bitwiseEqual(a.v))
        XCTAssertEqual(r.rng, a.rng)
    }
}
