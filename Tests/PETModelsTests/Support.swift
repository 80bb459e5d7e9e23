import Foundation
import XCTest
@testable import PETModels
import PETTensor
import PETVolumes

/// A tiny two-class store: (D, H, W) volumes (3D) or (3, H, W) slice samples (2D). Class "HI" has a
/// bright blob, class "LO" a dim one, both with noise, in SUVR-like units mapped to [−1, 1] by
/// scale 2/3, offset −1 (as the phantom cohort does).
func makeStore(_ path: String, shape: [Int], count: Int = 12, seed: UInt64 = 7) throws {
    let w = try VolumeStoreWriter.create(path, volumeShape: shape, classNames: ["LO", "HI"], voxelSize: (4, 4, 4),
                                         normalization: "suvr(3)", extraAttributes: ["units": "SUVR (test)"])
    var rng = PETRandom(seed: seed)
    let map = IntensityMap(scale: 2.0 / 3.0, offset: -1)
    let affine = Affine([4, 0, 0, -30, 0, 4, 0, -40, 0, 0, 4, -20, 0, 0, 0, 1])
    for i in 0..<count {
        let label = i % 2
        var data = [Float](repeating: 0, count: shape.reduce(1, *))
        let (d, h, ww) = (shape[0], shape[1], shape[2])
        for z in 0..<d { for y in 0..<h { for x in 0..<ww {
            let dz = Double(z) - Double(d - 1) / 2, dy = Double(y) - Double(h - 1) / 2, dx = Double(x) - Double(ww - 1) / 2
            let r2 = (dz * dz) / Double(max(1, d * d)) * 4 + (dy * dy + dx * dx) / Double(h * ww) * 4
            let blob = exp(-r2 * 3) * (label == 1 ? 2.4 : 1.2)
            let raw = Float(blob) + 0.05 * rng.normal()
            data[(z * h + y) * ww + x] = map.forward(max(0, raw))
        } } }
        try w.append(Volume(shape: shape, data: data, affine: affine, space: .mni), label: label, intensity: map, sourceFile: "synthetic-\(i)")
    }
    try w.commit()
}

/// The tiny 3D store (8×12×8, 12 items) of a test class, made once per process in its own folder
/// `petgan-<name>-store-<pid>`.
func testStore3D(_ name: String) throws -> String {
    let dir = NSTemporaryDirectory() + "petgan-\(name)-store-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let path = dir + "/vol.h5"
    if !FileManager.default.fileExists(atPath: path) { try makeStore(path, shape: [8, 12, 8]) }
    return path
}

/// A small, fast configuration for `model` on the test stores.
func tinyConfig(_ model: ModelKind, data: String, out: String, extra: [String: SettingValue] = [:]) throws -> TrainConfig {
    var o: [String: SettingValue] = ["data": .string(data), "out": .string(out), "batch": 4, "epochs": 50, "g_channels": "8,4", "d_channels": "4,8",
                            "z_dim": 8, "checkpoint_every": 1000, "sample_count": 4, "seed": 3]
    for (k, v) in extra { o[k] = v }
    return try TrainConfig.resolve(model: model, preset: nil, yamlFile: nil, overrides: o)
}

func checkpointsEqual(_ a: Checkpoint, _ b: Checkpoint, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(Set(a.tensors.keys), Set(b.tensors.keys), file: file, line: line)
    for (k, t) in a.tensors {
        XCTAssertTrue(b.tensors[k].map { $0.bitwiseEqual(t) } ?? false, "tensor \(k) differs", file: file, line: line)
        // Bitwise equal NaNs are equal too: both runs must also have stayed finite.
        XCTAssertTrue(maxMagnitude(t.array).isFinite, "tensor \(k) holds a non-finite value", file: file, line: line)
    }
    XCTAssertEqual(a.optimizers, b.optimizers, "optimizer states differ", file: file, line: line)
    XCTAssertEqual(a.rngs, b.rngs, "random generator states differ", file: file, line: line)
    XCTAssertEqual(a.step, b.step, file: file, line: line)
}
