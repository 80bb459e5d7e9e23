import Foundation
import PETAutograd
import PETTensor
import PETVolumes
import XCTest
import PETTestSupport
@testable import PETTiling

private func randInt(_ lo: Int, _ hi: Int, _ rng: inout PETRandom) -> Int { lo + rng.int(below: hi - lo + 1) }

/// Eval-mode batch norm with non-trivial running statistics and affine parameters.
private func randomBatchNorm(_ c: Int, _ rng: inout PETRandom) -> BatchNorm3d {
    let bn = BatchNorm3d(c)
    for i in 0..<c {
        bn.runningMean.value.data[i] = rng.uniform(-0.5, 0.5)
        bn.runningVar.value.data[i] = rng.uniform(0.5, 2)
        bn.weight!.value.data[i] = rng.uniform(0.5, 1.5)
        bn.bias!.value.data[i] = rng.uniform(-0.3, 0.3)
    }
    bn.eval()
    return bn
}

/// A random stack of convolutions and transposed convolutions with per-axis kernels, strides and
/// paddings (non-cubic), eval batch norm and activations, valid for `input`; nil if the drawn
/// geometry does not fit.
private func randomStack(input: [Int], _ rng: inout PETRandom) -> TiledStack? {
    var stages: [TileStage] = []
    var c = input[1]
    var spatial = Array(input[2...])
    for _ in 0..<randInt(2, 4, &rng) {
        let transposed = rng.int(below: 2) == 0
        var k: [Int] = [], s: [Int] = [], p: [Int] = [], op: [Int] = []
        for a in 0..<3 {
            k.append(randInt(1, 4, &rng)); s.append(randInt(1, 3, &rng)); p.append(randInt(0, k[a] - 1, &rng))
            op.append(transposed ? randInt(0, s[a] - 1, &rng) : 0)
        }
        let co = randInt(1, 3, &rng)
        let params = ConvParams(kernel: k, stride: s, padding: p, outputPadding: op)
        let fanIn = Float((transposed ? co : c) * k.reduce(1, *))
        let bound = 1 / fanIn.squareRoot()
        let w = Tensor.uniform(transposed ? [c, co] + k : [co, c] + k, low: -bound, high: bound, rng: &rng)
        let b: Tensor? = rng.int(below: 3) == 0 ? nil : Tensor.uniform([co], low: -0.2, high: 0.2, rng: &rng)
        let st: TileStage = transposed ? .convTranspose(weight: w, bias: b, params: params) : .conv(weight: w, bias: b, params: params)
        for a in 0..<3 {
            spatial[a] = st.outSize(spatial[a], axis: a)
            if spatial[a] < 1 || spatial[a] > 40 { return nil }
        }
        stages.append(st)
        c = co
        if rng.int(below: 2) == 0 { stages.append(.pointwise(randomBatchNorm(c, &rng), name: "bn")) }
        switch rng.int(below: 4) {
        case 0: stages.append(.pointwise(ReLU(), name: "relu"))
        case 1: stages.append(.pointwise(LeakyReLU(0.2), name: "lrelu"))
        case 2: stages.append(.pointwise(Tanh(), name: "tanh"))
        default: break
        }
    }
    return TiledStack(stages: stages)
}

final class TilingTests: XCTestCase {
    override func tearDown() { MemoryAccountant.shared.budgetBytes = nil }

    /// Random networks, odd non-cubic volumes, random tiles that do not divide them.
    func testTiledEqualsUntiledOnRandomNetworks() throws {
        var rng = PETRandom(seed: 7)
        var checked = 0, emptyTiles = 0, attempts = 0
        // First a stack known to leave gaps (a transposed conv with stride 3 > kernel 1): its 1-voxel
        // tiles between the taps have empty input regions, the case tiling must get right.
        let gapped = TiledStack(stages: [
            .convTranspose(weight: Tensor.uniform([2, 2, 1, 2, 1], low: -1, high: 1, rng: &rng), bias: Tensor.uniform([2], low: -1, high: 1, rng: &rng),
                           params: ConvParams(kernel: [1, 2, 1], stride: [3, 3, 2], padding: [0, 0, 0], outputPadding: [2, 1, 1])),
            .pointwise(ReLU(), name: "relu"),
            .conv(weight: Tensor.uniform([1, 2, 1, 1, 1], low: -1, high: 1, rng: &rng), bias: nil, params: ConvParams(k: 1)),
        ])
        while checked < 40 && attempts < 2000 {
            attempts += 1
            let input = checked == 0 ? [1, 2, 3, 4, 5] : [randInt(1, 2, &rng), randInt(1, 3, &rng), randInt(2, 9, &rng), randInt(2, 9, &rng), randInt(2, 9, &rng)]
            guard let stack = checked == 0 ? gapped : randomStack(input: input, &rng) else { continue }
            let x = Tensor.normal(input, rng: &rng)
            let want = try stack.forwardUntiled(x)
            let out = Array(want.shape[2...])
            for rep in 0..<3 {
                let tile = checked == 0 && rep == 0 ? [1, 1, 1] : out.map { randInt(1, max(1, $0), &rng) }
                let got = try stack.forwardTiled(x, tile: tile)
                XCTAssertEqual(got.shape, want.shape)
                let d = got.maxAbsDifference(to: want)
                XCTAssertLessThanOrEqual(d, 1e-5, "input \(input) tile \(tile) stages \(stack.stages.map(\.name))")
                // Count tiles whose transposed-conv input region is empty (stride > kernel gaps): every
                // tile position along each axis, the other axes at their first tile.
                let shapes = try stack.shapes(input: input)
                let first = (0..<3).map { Span(0, min(tile[$0], out[$0])) }
                for a in 0..<3 {
                    for lo in stride(from: 0, to: out[a], by: tile[a]) {
                        var box = first
                        box[a] = Span(lo, min(lo + tile[a], out[a]))
                        if stack.regions(for: box, shapes: shapes).contains(where: { $0.contains(where: \.isEmpty) }) { emptyTiles += 1 }
                    }
                }
            }
            checked += 1
        }
        XCTAssertEqual(checked, 40, "the random stacks must fit often enough to check 40 networks (\(attempts) drawn)")
        // Tiles whose transposed-conv input region is empty are the case that needs care: the
        // draw must exercise it, or this test says nothing about it.
        XCTAssertGreaterThan(emptyTiles, 0, "no tile with an empty input region was drawn")
    }

    /// The tiled writer's own kernel (implicit GEMM) sums every voxel in one order whatever the
    /// extent of the call, so odd tilings give the bits of one tile. Regression: with im2col the
    /// tiles' sgemm calls had other sizes than the whole volume's and OpenBLAS's SkylakeX, Cooperlake
    /// and Prescott kernels rounded them differently (a budgeted `generate` wrote other bits).
    func testDefaultTiledKernelGivesOneTilesBitsForEveryTiling() throws {
        var rng = PETRandom(seed: 23)
        func w(_ shape: [Int]) -> Tensor {
            let fan = Float(shape[1] * shape[2...].reduce(1, *))
            return Tensor.uniform(shape, low: -1 / fan.squareRoot(), high: 1 / fan.squareRoot(), rng: &rng)
        }
        let stack = TiledStack(stages: [
            .conv(weight: w([32, 24, 3, 3, 3]), bias: Tensor.uniform([32], low: -0.1, high: 0.1, rng: &rng), params: ConvParams(k: 3, p: 1)),
            .pointwise(LeakyReLU(0.2), name: "lrelu"),
            .convTranspose(weight: w([32, 16, 4, 4, 4]), bias: nil, params: ConvParams(k: 4, s: 2, p: 1)),
            .pointwise(randomBatchNorm(16, &rng), name: "bn"),
            .pointwise(ReLU(), name: "relu"),
            .conv(weight: w([1, 16, 3, 3, 3]), bias: nil, params: ConvParams(k: 3, p: 1)),
            .pointwise(Tanh(), name: "tanh"),
        ])
        if ConvOptions.environmentPath == nil { XCTAssertEqual(stack.convPath, .implicitGEMM) }
        // The kernel's property, whatever PETGAN_CONV forces elsewhere (forced im2col fails below).
        stack.convPath = .implicitGEMM
        let x = Tensor.normal([2, 24, 10, 12, 9], rng: &rng)
        let one = try stack.forwardTiled(x, tile: [20, 24, 18])
        XCTAssertEqual(one.shape, [2, 1, 20, 24, 18])
        XCTAssertGreaterThan(one.maxAbsDifference(to: Tensor(shape: one.shape)), 0.05, "a non-trivial output")
        XCTAssertLessThanOrEqual(one.maxAbsDifference(to: try stack.forwardUntiled(x, options: ConvOptions(path: .reference))), 1e-5)
        for tile in [[7, 5, 11], [20, 3, 18], [1, 24, 18], [13, 17, 5]] {
            let got = try stack.forwardTiled(x, tile: tile)
            XCTAssertTrue(got.bitwiseEqual(one), "tile \(tile): max |Δ| \(got.maxAbsDifference(to: one))")
        }
        // A budget-chosen tiling (several tiles) too.
        ScratchPool.shared.trim()
        let budget = MemoryAccountant.shared.bytesInUse + (4 << 20)
        let plan = try stack.plan(input: x.shape, budgetBytes: budget)
        XCTAssertGreaterThan(plan.tileCount, 1, "\(plan)")
        let sink = TensorSink(shape: one.shape)
        try stack.run(x, plan: plan, into: sink)
        XCTAssertTrue(sink.output.bitwiseEqual(one), "budget plan \(plan)")
    }

    /// With the reference kernels (same summation order for every voxel) tiling is bitwise exact.
    func testTiledIsBitwiseWithReferenceKernels() throws {
        var rng = PETRandom(seed: 11)
        var checked = 0
        while checked < 8 {
            let input = [1, randInt(1, 2, &rng), randInt(2, 6, &rng), randInt(2, 7, &rng), randInt(2, 6, &rng)]
            guard let stack = randomStack(input: input, &rng) else { continue }
            stack.convPath = .reference
            let x = Tensor.normal(input, rng: &rng)
            let want = try stack.forwardUntiled(x, options: ConvOptions(path: .reference))
            let tile = want.shape[2...].map { randInt(1, $0, &rng) }
            let got = try stack.forwardTiled(x, tile: tile)
            XCTAssertTrue(got.bitwiseEqual(want), "tile \(tile), max diff \(got.maxAbsDifference(to: want))")
            checked += 1
        }
    }

    /// A generator-like module stack (the layers the GAN uses) against the modules' own forward.
    func testGeneratorModulesTiledEqualUntiled() throws {
        var rng = PETRandom(seed: 3)
        let layers: [Module] = [
            randomBatchNorm(8, &rng), ReLU(),
            ConvTranspose3dLayer(8, 6, kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng), randomBatchNorm(6, &rng), ReLU(),
            ConvTranspose3dLayer(6, 4, kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng), randomBatchNorm(4, &rng), ReLU(),
            Conv3dLayer(4, 3, kernel: 3, stride: 1, padding: 1, rng: &rng), LeakyReLU(0.2),
            ConvTranspose3dLayer(3, 1, kernel: 4, stride: 2, padding: 1, rng: &rng), Tanh(),
        ]
        let net = Sequential(layers)
        net.eval()
        let x = Tensor.normal([2, 8, 3, 4, 3], rng: &rng)   // base grid 3×4×3 → 24×32×24
        let want = try withNoGrad { try net(Variable(x)) }.value
        let gen = try TiledGenerator(layers: layers)
        for tile in [[5, 7, 11], [24, 32, 24], [1, 32, 24], [9, 3, 24]] {
            let got = try gen.stack.forwardTiled(x, tile: tile)
            XCTAssertEqual(got.shape, [2, 1, 24, 32, 24])
            XCTAssertLessThanOrEqual(got.maxAbsDifference(to: want), 1e-5, "tile \(tile)")
        }
    }

    func testLayersWithoutBoundedReceptiveFieldAreRefused() throws {
        var rng = PETRandom(seed: 1)
        XCTAssertThrowsError(try TiledStack([ConvTranspose3dLayer(2, 2, kernel: 2, rng: &rng), InstanceNorm3d(2)])) { e in
            guard case TilingError.unsupportedLayer(let i, let n, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(i, 1); XCTAssertEqual(n, "InstanceNorm3d")
        }
        let bn = BatchNorm3d(2)   // training mode
        XCTAssertThrowsError(try TiledStack([bn])) { e in
            XCTAssertTrue("\(e)".contains("training mode"), "\(e)")
        }
    }

    /// A layer tiles by conforming to `Tileable` (here a test's own voxelwise layer); the identity and
    /// Sequential containers tile; a layer that does not conform is refused at its index.
    func testLayersTileByConformingToTileable() throws {
        var rng = PETRandom(seed: 2)
        let layers: [Module] = [
            Sequential([ConvTranspose3dLayer(3, 2, kernel: 4, stride: 2, padding: 1, rng: &rng), Identity()]),
            Negate(), Conv3dLayer(2, 1, kernel: 3, stride: 1, padding: 1, rng: &rng), Sigmoid(),
        ]
        let stack = try TiledStack(layers)
        XCTAssertEqual(stack.stages.map(\.name).filter { !$0.hasPrefix("conv") }, ["Identity", "negate", "Sigmoid"])
        let x = Tensor.normal([1, 3, 3, 4, 5], rng: &rng)
        let want = try withNoGrad { try Sequential(layers)(Variable(x)) }.value
        XCTAssertLessThanOrEqual(try stack.forwardTiled(x, tile: [2, 3, 4]).maxAbsDifference(to: want), 1e-5)
        XCTAssertThrowsError(try TiledStack([Identity(), Conv2dLayer(1, 1, kernel: 3, rng: &rng)])) { e in
            guard case TilingError.unsupportedLayer(let i, let n, let reason) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(i, 1); XCTAssertEqual(n, "Conv2dLayer")
            XCTAssertTrue(reason.contains("bounded receptive field"), reason)
        }
        XCTAssertThrowsError(try TiledStack([Sequential([Negate(), LayerNorm([2, 3, 3, 3])])])) { e in
            guard case TilingError.unsupportedLayer(let i, let n, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(i, 0); XCTAssertEqual(n, "LayerNorm")
        }
    }

    /// A plan made under a budget keeps every counted buffer within it, and a too-small budget is
    /// refused up front with the budget that would work (which then does).
    func testBudgetPlanAndTooSmallBudget() throws {
        var rng = PETRandom(seed: 5)
        let layers: [Module] = [
            ConvTranspose3dLayer(16, 8, kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng), randomBatchNorm(8, &rng), ReLU(),
            ConvTranspose3dLayer(8, 4, kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng), randomBatchNorm(4, &rng), ReLU(),
            ConvTranspose3dLayer(4, 1, kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng), Tanh(),
        ]
        let gen = try TiledGenerator(layers: layers)
        let x = Tensor.normal([1, 16, 5, 6, 4], rng: &rng)   // → 40×48×32
        let want = try gen.stack.forwardUntiled(x)

        // The budget: a third of what the untiled forward needs on top of what is in use.
        let sink = TensorSink(shape: [1, 1, 40, 48, 32])
        ScratchPool.shared.trim()
        let before = MemoryAccountant.shared.bytesInUse
        MemoryAccountant.shared.resetPeak()
        _ = try gen.stack.forwardUntiled(x)
        let untiledExtra = MemoryAccountant.shared.peakBytes - before
        ScratchPool.shared.trim()
        let budget = MemoryAccountant.shared.bytesInUse + untiledExtra / 3
        let plan = try gen.plan(latentGrid: x.shape, memoryBudget: budget)
        XCTAssertGreaterThan(plan.tileCount, 1)
        XCTAssertLessThanOrEqual(MemoryAccountant.shared.bytesInUse + plan.estimatedBytes, budget)
        MemoryAccountant.shared.budgetBytes = budget
        MemoryAccountant.shared.resetPeak()
        try gen.generate(x, plan: plan, into: sink)
        let peak = MemoryAccountant.shared.peakBytes
        MemoryAccountant.shared.budgetBytes = nil
        XCTAssertLessThanOrEqual(peak, budget, "every counted buffer stays within the budget")
        XCTAssertLessThanOrEqual(sink.output.maxAbsDifference(to: want), 1e-5)

        // Too small: the error names a budget that works.
        let sink2 = TensorSink(shape: [1, 1, 40, 48, 32])
        ScratchPool.shared.trim()   // planning with a budget frees idle pooled buffers before counting
        let tiny = MemoryAccountant.shared.bytesInUse + 1024
        var suggested = 0
        XCTAssertThrowsError(try gen.plan(latentGrid: x.shape, memoryBudget: tiny)) { e in
            guard case TilingError.budgetTooSmall(let b, let need, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(b, tiny)
            XCTAssertGreaterThan(need, tiny)
            XCTAssertTrue("\(e)".contains("would work (--memory-budget "), "\(e)")
            suggested = need
        }
        let ok = try gen.plan(latentGrid: x.shape, memoryBudget: suggested)
        MemoryAccountant.shared.budgetBytes = suggested
        MemoryAccountant.shared.resetPeak()
        try gen.generate(x, plan: ok, into: sink2)
        XCTAssertLessThanOrEqual(MemoryAccountant.shared.peakBytes, suggested)
        MemoryAccountant.shared.budgetBytes = nil
        XCTAssertLessThanOrEqual(sink2.output.maxAbsDifference(to: want), 1e-5)

        // An explicit tile over the budget is refused the same way.
        XCTAssertThrowsError(try gen.plan(latentGrid: x.shape, memoryBudget: budget, tile: [40, 48, 32])) { e in
            guard case TilingError.budgetTooSmall = e else { return XCTFail("\(e)") }
        }
    }

    /// The streaming writer produces exactly the file the in-memory writer does (.nii bytes, and
    /// the decompressed bytes of .nii.gz), slab sizes not dividing the depth.
    func testIdlePooledBuffersDoNotCountAgainstABudget() throws {
        // Regression: buffers freed before planning (a checkpoint load's copies of the weights) sat in
        // the scratch pool, were counted as in use, and made `generate --memory-budget` demand ~2× the
        // weights. Planning with a budget now frees them first.
        var rng = PETRandom(seed: 6)
        let gen = try TiledGenerator(layers: [ConvTranspose3dLayer(8, 1, kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng), Tanh()])
        let x = Tensor.normal([1, 8, 6, 6, 6], rng: &rng)
        ScratchPool.shared.trim()
        let base = MemoryAccountant.shared.bytesInUse
        let budget = base + (8 << 20)
        XCTAssertNoThrow(try gen.plan(latentGrid: x.shape, memoryBudget: budget))
        do { _ = Tensor(shape: [16 << 20]) }   // 64 MB, freed at once into the pool (idle)
        XCTAssertGreaterThanOrEqual(MemoryAccountant.shared.bytesInUse, base + (64 << 20), "the freed buffer is pooled and counted")
        XCTAssertNoThrow(try gen.plan(latentGrid: x.shape, memoryBudget: budget))
        XCTAssertLessThan(MemoryAccountant.shared.bytesInUse, base + (1 << 20), "planning gave the idle buffer back")
    }

    func testStreamedNIfTIEqualsInMemoryWrite() throws {
        let dir = try makeTempDir("nifti")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = PETRandom(seed: 9)
        let shape = [7, 6, 5]
        var values = (0..<shape.reduce(1, *)).map { _ in rng.normal() }
        values[3] = .nan   // the data range ignores non-finite voxels in both writers
        let affine = Affine([-2, 0, 0, 90, 0, 2, 0, -126, 0, 0, 2.5, -72, 0, 0, 0, 1])
        let vol = Volume(shape: shape, data: values, affine: affine, space: .mni)
        let prov: [String: Any] = ["command": "test", "seed": 9]
        for ext in ["nii", "nii.gz"] {
            let a = "\(dir)/memory.\(ext)", b = "\(dir)/streamed.\(ext)"
            try NIfTIFile.write(vol, to: a, provenance: prov)
            let w = try StreamingNIfTIWriter(path: b, shape: shape, affine: affine, space: .mni, provenance: prov)
            let plane = shape[1] * shape[2]
            var d = 0
            for depth in [3, 1, 3] {
                try w.write(Array(values[(d * plane)..<((d + depth) * plane)]), depth: depth)
                d += depth
                XCTAssertFalse(FileManager.default.fileExists(atPath: b), "nothing at the final path before finish")
            }
            try w.finish()
            XCTAssertEqual(try NIfTIFile.decompressedBytes(b), try NIfTIFile.decompressedBytes(a), ext)
            if ext == "nii" {
                XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: b)), try Data(contentsOf: URL(fileURLWithPath: a)))
            }
            let back = try NIfTIFile.read(b, options: NIfTIReadOptions(nonFinite: .keep))
            XCTAssertEqual(back.shape, shape)
            XCTAssertEqual(back.affine.maxAbsDifference(affine), 0, accuracy: 1e-5)
        }
        // Unfinished: an error, and no file left behind.
        let c = "\(dir)/partial.nii.gz"
        do {
            let w = try StreamingNIfTIWriter(path: c, shape: shape)
            try w.write([Float](repeating: 1, count: 2 * 30), depth: 2)
            XCTAssertThrowsError(try w.finish()) { e in XCTAssertTrue("\(e)".contains("only 2 of 7"), "\(e)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: c))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }, [], "no temporary files left")
    }

    /// Tiled generation streamed to NIfTI and to a chunked HDF5 dataset equals the untiled output.
    func testTiledGenerationStreamsToNIfTIAndHDF5() throws {
        let dir = try makeTempDir("stream")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = PETRandom(seed: 21)
        let layers: [Module] = [
            ConvTranspose3dLayer(6, 4, kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng), randomBatchNorm(4, &rng), ReLU(),
            ConvTranspose3dLayer(4, 1, kernel: 4, stride: 2, padding: 1, rng: &rng), Tanh(),
        ]
        let gen = try TiledGenerator(layers: layers)
        let x = Tensor.normal([2, 6, 3, 5, 4], rng: &rng)   // → 12×20×16, two samples
        let want = try gen.stack.forwardUntiled(x)
        let plan = try gen.plan(latentGrid: x.shape, tile: [5, 7, 16])
        let paths = ["\(dir)/s0.nii.gz", "\(dir)/s1.nii"]
        let nifti = try NIfTISlabSink(paths: paths, shape: [12, 20, 16], affine: .scaling(2, 2, 2), space: .mni,
                                      provenance: [["sample": 0], ["sample": 1]])
        let h5 = try HDF5File.create("\(dir)/gen.h5")
        let ds = try HDF5SlabSink.createDataset(in: h5, name: "volumes", outputShape: plan.outputShape, chunk: 8, deflate: 4)
        try gen.generate(x, plan: plan, into: FanOutSink([nifti, HDF5SlabSink(dataset: ds)]))
        try h5.commit()
        let per = 12 * 20 * 16
        for (n, p) in paths.enumerated() {
            let v = try NIfTIFile.read(p)
            XCTAssertEqual(v.shape, [12, 20, 16])
            let ref = Array(want.array[(n * per)..<((n + 1) * per)])
            XCTAssertLessThanOrEqual(maxAbsDifference(v.data, ref), 1e-5)
            // And byte-identical (decompressed) to writing the tiled result in one go.
            let mem = "\(dir)/mem\(n).nii"
            try NIfTIFile.write(Volume(shape: [12, 20, 16], data: v.data, affine: .scaling(2, 2, 2), space: .mni), to: mem, provenance: ["sample": n])
            XCTAssertEqual(try NIfTIFile.decompressedBytes(p), try NIfTIFile.decompressedBytes(mem))
        }
        let f = try HDF5File.open("\(dir)/gen.h5")
        let d = try f.dataset("volumes")
        XCTAssertEqual(d.shape, [2, 12, 20, 16])
        let stored: [Float] = try d.read()
        XCTAssertLessThanOrEqual(maxAbsDifference(stored, want.array), 1e-5)
    }
}

/// A voxelwise layer PETTiling does not know, made tileable by the test.
private final class Negate: Module {
    override func forward(_ x: Variable) throws -> Variable { x * -1 }
}

extension Negate: Tileable {
    func tileStages() throws -> [TileStage] { [.pointwise(self, name: "negate")] }
}
