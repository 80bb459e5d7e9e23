import Foundation
import XCTest
import PETTestSupport
@testable import PETModels
import PETAutograd
import PETTensor
import PETTiling
import PETVolumes

/// Tiled FastGAN generation (`generate --memory-budget` / `--tile`): the low-resolution features the
/// skip-layer excitations read, and their gates, run whole; the rest tile by tile with each gate a
/// per-sample constant.
final class FastGANTiledGenerationTests: XCTestCase {
    override func tearDown() { MemoryAccountant.shared.budgetBytes = nil }

    /// A 3D FastGAN generator with 5 up-sampling blocks on an odd base grid (3×5×1 → 96×160×32) and
    /// 3 excitations (f1 gates f5, f0 gates f4 and f3): f0, f1 run whole, the rest tile by tile.
    func generator(seed: UInt64) throws -> (FastGANGenerator, Variable) {
        let g = NetworkGeometry(dims: 3, channels: 1, imageShape: [96, 160, 32], layers: 5, conditionalClasses: 2)
        var rng = PETRandom(seed: seed)
        let gen = try FastGANGenerator(geometry: g, zDim: 8, channels: [8, 6, 4, 4, 2], excitations: 3, rng: &rng)
        // Non-trivial running statistics and affine parameters (the defaults would hide mistakes).
        for (_, b) in gen.namedBuffers() { for i in 0..<b.value.count { b.value.data[i] += rng.uniform(0.1, 0.5) } }
        for p in gen.parameters { for i in 0..<p.count { p.value.data[i] += rng.uniform(-0.2, 0.2) } }
        gen.eval()
        let z = Tensor.normal([1, 10], rng: &rng)
        z.data[8] = 0; z.data[9] = 1
        return (gen, Variable(z))
    }

    func convLayers(_ m: Module) -> [Conv3dLayer] {
        (m as? Conv3dLayer).map { [$0] } ?? m.namedChildren.flatMap { convLayers($0.1) }
    }

    /// The stitched output is bitwise the untiled forward when the convolutions run a kernel whose
    /// sums do not depend on the extent it is given (the reference kernel, `PETGAN_CONV=reference`),
    /// for tiles that do not divide the grid and for a budget-chosen tiling within its budget. With
    /// GEMM kernels a tile's GEMM has another shape than the whole volume's, and OpenBLAS blocks it
    /// differently: the tiled default (implicit GEMM) against the untiled automatic choice (Winograd /
    /// implicit GEMM / im2col) within 1e-5, as every tiled generation.
    func testTiledEqualsUntiledOnAnOddGrid() throws {
        let (gen, z) = try generator(seed: 31)
        XCTAssertEqual(gen.pairs.map { [$0.low, $0.high] }, [[1, 5], [0, 4], [0, 3]])
        XCTAssertEqual(gen.tiledPrefix, 1)
        let automatic = try withNoGrad { try gen(z) }.value
        XCTAssertEqual(automatic.shape, [1, 1, 96, 160, 32])
        XCTAssertGreaterThan(automatic.maxAbsDifference(to: Tensor(shape: automatic.shape)), 0.05, "a non-trivial output")
        let x = try withNoGrad { try gen.tiledInput(z) }.value
        XCTAssertEqual(x.shape, [1, 6, 6, 10, 2], "f1: the last feature an excitation reads")
        let tg = try TiledGenerator(gen)
        for tile in [[7, 13, 5], [96, 37, 32]] {
            let got = try tg.stack.forwardTiled(x, tile: tile)
            XCTAssertLessThanOrEqual(got.maxAbsDifference(to: automatic), 1e-5, "tile \(tile) (the tiled default) against the automatic kernels")
        }

        for c in convLayers(gen) { c.options.path = .reference }
        defer { for c in convLayers(gen) { c.options.path = nil } }
        tg.stack.convPath = .reference
        let want = try withNoGrad { try gen(z) }.value
        // The whole part (f0 → f1) has a convolution too: the same kernel for it.
        let xr = try withNoGrad { try gen.tiledInput(z) }.value
        for tile in [[7, 13, 5], [96, 37, 32], [40, 160, 9]] {
            let got = try tg.stack.forwardTiled(xr, tile: tile)
            XCTAssertTrue(got.bitwiseEqual(want), "tile \(tile): max |Δ| \(got.maxAbsDifference(to: want))")
        }

        // Within a budget far below the untiled activations: counted peak within it, still bitwise.
        ScratchPool.shared.trim()
        let budget = MemoryAccountant.shared.bytesInUse + (6 << 20)
        let plan = try tg.plan(latentGrid: xr.shape, memoryBudget: budget)
        XCTAssertGreaterThan(plan.tileCount, 1, "\(plan)")
        let sink = TensorSink(shape: plan.outputShape)
        let counted = budget + sink.output.count * 4
        MemoryAccountant.shared.budgetBytes = counted
        MemoryAccountant.shared.resetPeak()
        try tg.generate(xr, plan: plan, into: sink)
        XCTAssertLessThanOrEqual(MemoryAccountant.shared.peakBytes, counted)
        MemoryAccountant.shared.budgetBytes = nil
        XCTAssertTrue(sink.output.bitwiseEqual(want), "budget plan \(plan): max |Δ| \(sink.output.maxAbsDifference(to: want))")
    }

    /// The gate is the whole volume's: a tile's output uses the gate of the whole low-resolution map,
    /// not of the tile's part of it (gating by a tile's own map would differ).
    func testGateIsComputedOnceFromTheWholeMap() throws {
        let (gen, z) = try generator(seed: 32)
        let x = try withNoGrad { try gen.tiledInput(z) }.value
        let gates = gen.tileGates.map { try! XCTUnwrap($0.gate) }
        XCTAssertEqual(gates.map(\.shape), [[1, 2, 1, 1, 1], [1, 2, 1, 1, 1], [1, 4, 1, 1, 1]])
        let f = try withNoGrad { try gen.features(z).features }
        for (j, p) in gen.pairs.enumerated() {
            let whole = try withNoGrad { try gen.excitations[j].gate(f[p.low]) }.value
            XCTAssertTrue(gates[j].bitwiseEqual(whole), "gate \(j)")
        }
        // A stale gate (another sample's) changes the tiled output: the gate is really used.
        let tg = try TiledGenerator(gen)
        let a = try tg.stack.forwardTiled(x, tile: [32, 40, 32])
        gen.tileGates[0].gate = Tensor(shape: gates[0].shape)
        let b = try tg.stack.forwardTiled(x, tile: [32, 40, 32])
        XCTAssertGreaterThan(a.maxAbsDifference(to: b), 1e-3)
    }

    /// `petgan generate` on a trained FastGAN checkpoint: tiled (explicit tiles that do not divide the
    /// grid, and a budget that forces tiles) writes the untiled samples (within 1e-5 of the generator's
    /// output with the automatic kernels), where it used to refuse FastGAN by name.
    func testGenerateTilesAFastGANCheckpoint() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = dir + "/vol.h5"
        try makeStore(store, shape: [16, 24, 16])
        let s = try Trainer(config: tinyConfig(.fastgan3d, data: store, out: dir + "/runs",
                                               extra: ["max_steps": 2, "conditional": true, "g_channels": "8,6,4", "d_channels": "4,6,8", "sle": 2])).run()
        var plain = GenerationRequest(checkpoint: s.runDirectory, seeds: [4, 5], out: dir + "/untiled")
        plain.classes = ["HI", "LO"]
        let u = try Generation.run(plain)
        XCTAssertNil(u.plan)
        var probe = plain
        probe.out = dir + "/probe"
        probe.memoryBudget = 4096
        var tightest: Int?
        XCTAssertThrowsError(try Generation.run(probe)) { e in
            guard case TilingError.budgetTooSmall(_, let need, _) = e else { return XCTFail("\(e)") }
            tightest = need
        }
        let tolerance: Float = 1e-5 * 1.5
        for (name, tile, budget) in [("tiles", [5, 7, 3] as [Int]?, nil as Int?), ("budget", nil, try XCTUnwrap(tightest))] {
            var req = plain
            req.out = dir + "/" + name
            req.tile = tile
            req.memoryBudget = budget
            let t = try Generation.run(req)
            let plan = try XCTUnwrap(t.plan, name)
            XCTAssertGreaterThan(plan.tileCount, 1, name)
            if let b = budget { XCTAssertLessThanOrEqual(plan.estimatedBytes, b, name) }
            XCTAssertEqual(t.files.count, 4)
            for (a, b) in zip(t.files, u.files) {
                let va = try NIfTIFile.read(a), vb = try NIfTIFile.read(b)
                XCTAssertEqual(va.shape, [16, 24, 16])
                XCTAssertLessThanOrEqual(maxAbsDifference(va.data, vb.data), tolerance, "\(name) \(a)")
                XCTAssertGreaterThan(va.finiteRange.max - va.finiteRange.min, 0, "a non-constant sample")
            }
        }
    }

    /// The same through the command line with `PETGAN_CONV=reference` (a kernel whose sums do not
    /// depend on the extent): the tiled NIfTI volumes are bitwise the untiled ones.
    func testGenerateCommandTiledIsBitwiseWithOneKernel() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = dir + "/vol.h5"
        try makeStore(store, shape: [16, 24, 16])
        let s = try Trainer(config: tinyConfig(.fastgan3d, data: store, out: dir + "/runs",
                                               extra: ["max_steps": 1, "conditional": true, "g_channels": "8,6,4", "d_channels": "4,6,8"])).run()
        let bin = try petganBinary()
        var outputs: [[Float]] = []
        for (name, extra) in [("untiled", [String]()), ("tiled", ["--tile", "5x7x3"]), ("budget", ["--memory-budget", "64MB"])] {
            let r = try runProcess(bin, ["generate", "--checkpoint", s.runDirectory, "--class", "HI", "--seeds", "3", "--out", dir + "/" + name, "--threads", "1"] + extra,
                                   environment: ["PETGAN_CONV": "reference"])
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            let file = dir + "/\(name)/HI_seed00003.nii.gz"
            outputs.append(try NIfTIFile.read(file).data)
        }
        XCTAssertEqual(outputs[1], outputs[0], "--tile: bitwise")
        XCTAssertEqual(outputs[2], outputs[0], "--memory-budget: bitwise")
        XCTAssertGreaterThan((outputs[0].max() ?? 0) - (outputs[0].min() ?? 0), 0, "a non-constant sample")
    }
}
