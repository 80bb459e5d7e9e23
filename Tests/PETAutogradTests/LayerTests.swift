import XCTest
import PETTensor
@testable import PETAutograd

final class TinyGenerator: Module {
    let block1: Sequential
    let out: Conv3dLayer
    init(rng: inout PETRandom) {
        block1 = Sequential(named: [("conv", ConvTranspose3dLayer(3, 4, kernel: 2, stride: 2, bias: false, rng: &rng)),
                                    ("bn", BatchNorm3d(4)), ("act", ReLU())])
        out = Conv3dLayer(4, 1, kernel: 3, padding: 1, rng: &rng)
    }
    override func forward(_ x: Variable) throws -> Variable { try out(block1(x)).tanh() }
}

final class LayerTests: XCTestCase {
    func testParametersAndBuffersAreNamed() {
        var rng = PETRandom(seed: 1)
        let g = TinyGenerator(rng: &rng)
        XCTAssertEqual(g.namedParameters(prefix: "gen").map(\.0),
                       ["gen.block1.conv.weight", "gen.block1.bn.weight", "gen.block1.bn.bias", "gen.out.weight", "gen.out.bias"])
        XCTAssertEqual(g.namedBuffers(prefix: "gen").map(\.0), ["gen.block1.bn.running_mean", "gen.block1.bn.running_var"])
        XCTAssertEqual(g.parameterCount, 3 * 4 * 8 + 4 + 4 + 4 * 27 + 1)
        XCTAssertEqual(Set(g.stateDict(prefix: "gen").keys).count, 7)
        let seq = Sequential([Linear(2, 3, rng: &rng), ReLU(), Linear(3, 1, bias: false, rng: &rng)])
        XCTAssertEqual(seq.namedParameters().map(\.0), ["0.weight", "0.bias", "2.weight"])
    }

    func testTrainEvalPropagates() {
        var rng = PETRandom(seed: 1)
        let g = TinyGenerator(rng: &rng)
        g.eval()
        XCTAssertFalse(g.block1.layers[1].1.isTraining)
        g.train()
        XCTAssertTrue(g.block1.layers[1].1.isTraining)
    }

    /// PyTorch BatchNorm2d on a known batch: biased variance to normalize, unbiased into the running
    /// variance, momentum 0.1.
    func testBatchNormMatchesPyTorchSemantics() throws {
        let bn = BatchNorm2d(1)
        let x = Variable(Tensor(shape: [2, 1, 1, 2], values: [1, 2, 3, 4]))
        let y = try bn(x)
        let sd = (1.25 + 1e-5).squareRoot()
        for (i, xv) in [1.0, 2, 3, 4].enumerated() { XCTAssertEqual(Double(y.value[i]), (xv - 2.5) / sd, accuracy: 1e-6) }
        XCTAssertEqual(bn.runningMean.value[0], 0.25, accuracy: 1e-7)
        XCTAssertEqual(bn.runningVar.value[0], Float(0.9 + 0.1 * 5.0 / 3.0), accuracy: 1e-6)
        bn.eval()
        let z = try bn(x)
        let rsd = (Double(bn.runningVar.value[0]) + 1e-5).squareRoot()
        for (i, xv) in [1.0, 2, 3, 4].enumerated() { XCTAssertEqual(Double(z.value[i]), (xv - 0.25) / rsd, accuracy: 1e-6) }
        XCTAssertEqual(bn.runningMean.value[0], 0.25, "eval mode leaves the running statistics alone")
        XCTAssertThrowsError(try bn(Variable(Tensor(shape: [2, 1, 3]))))
    }

    func testStateDictRoundTripAndMismatchReport() throws {
        var rng = PETRandom(seed: 3)
        let a = TinyGenerator(rng: &rng), b = TinyGenerator(rng: &rng)
        _ = try a(Variable(Tensor.normal([2, 3, 1, 1, 1], rng: &rng)))   // moves running stats
        let sd = a.stateDict(prefix: "gen")
        try b.loadStateDict(sd, prefix: "gen")
        for ((n1, p1), (_, p2)) in zip(a.namedParameters(), b.namedParameters()) { XCTAssertTrue(p1.value.bitwiseEqual(p2.value), n1) }
        for ((n1, p1), (_, p2)) in zip(a.namedBuffers(), b.namedBuffers()) { XCTAssertTrue(p1.value.bitwiseEqual(p2.value), n1) }

        var bad = sd
        bad["gen.out.bias"] = nil
        bad["gen.extra.weight"] = Tensor(shape: [1])
        bad["gen.block1.conv.weight"] = Tensor(shape: [3, 4, 3, 3, 3])
        let before = b.out.weight.value.copy()
        XCTAssertThrowsError(try b.loadStateDict(bad, prefix: "gen")) { e in
            guard case let AutogradError.stateMismatch(_, missing, unexpected, shapes) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(missing, ["gen.out.bias"])
            XCTAssertEqual(unexpected, ["gen.extra.weight"])
            XCTAssertEqual(shapes.count, 1)
            XCTAssertTrue(shapes[0].contains("gen.block1.conv.weight") && shapes[0].contains("[3, 4, 3, 3, 3]") && shapes[0].contains("[3, 4, 2, 2, 2]"), shapes[0])
        }
        XCTAssertTrue(b.out.weight.value.bitwiseEqual(before), "a failed load changes nothing")
    }

    func testInitializers() {
        var rng = PETRandom(seed: 9)
        let c = Conv3dLayer(8, 16, kernel: 4, rng: &rng)
        Init.dcgan(Sequential([c]), rng: &rng)
        let w = c.weight.value.array
        let mean = w.reduce(0, +) / Float(w.count)
        let std = (w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(w.count)).squareRoot()
        XCTAssertEqual(std, 0.02, accuracy: 0.002)
        XCTAssertEqual(c.bias!.value.array, [Float](repeating: 0, count: 16))
        Init.kaimingUniform(c.weight, rng: &rng)
        let bound = (2 as Float).squareRoot() * (3 / Float(8 * 64)).squareRoot()
        XCTAssertLessThanOrEqual(maxMagnitude(c.weight.value.array), bound)
        XCTAssertGreaterThan(maxMagnitude(c.weight.value.array), 0.9 * bound)
        Init.clipWeights(Sequential([c]), to: 0.01)
        XCTAssertLessThanOrEqual(maxMagnitude(c.weight.value.array), 0.01)
    }

    /// The layer types compute what their functional ops compute, 2D variants included.
    func testLayerShapes() throws {
        var rng = PETRandom(seed: 4)
        let x2 = Variable(Tensor.normal([2, 3, 8, 8], rng: &rng))
        XCTAssertEqual(try Conv2dLayer(3, 5, kernel: 4, stride: 2, padding: 1, rng: &rng)(x2).shape, [2, 5, 4, 4])
        XCTAssertEqual(try ConvTranspose2dLayer(3, 2, kernel: 4, stride: 2, padding: 1, rng: &rng)(x2).shape, [2, 2, 16, 16])
        XCTAssertEqual(try BatchNorm2d(3)(x2).shape, [2, 3, 8, 8])
        let x3 = Variable(Tensor.normal([2, 3, 4, 4, 4], rng: &rng))
        XCTAssertEqual(try ConvTranspose3dLayer(3, 2, kernel: 3, stride: 2, padding: 1, outputPadding: 1, rng: &rng)(x3).shape, [2, 2, 8, 8, 8])
        XCTAssertEqual(try InstanceNorm3d(3)(x3).shape, [2, 3, 4, 4, 4])
        XCTAssertEqual(try LayerNorm([3, 4, 4, 4])(x3).shape, [2, 3, 4, 4, 4])
        XCTAssertEqual(try Sequential([Flatten(), Linear(192, 7, rng: &rng)])(x3).shape, [2, 7])
    }
}
