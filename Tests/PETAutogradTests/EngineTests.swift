import XCTest
import PETTensor
@testable import PETAutograd

/// Graph building, accumulation, freeing and the errors of the engine.
final class EngineTests: XCTestCase {
    func v(_ values: [Float], _ shape: [Int]? = nil, grad: Bool = false) -> Variable {
        Variable(Tensor(shape: shape ?? [values.count], values: values), requiresGrad: grad)
    }

    func testNoGraphWithoutGradients() throws {
        let a = v([1, 2, 3]), b = v([4, 5, 6])
        let c = try a * b + a
        XCTAssertFalse(c.requiresGrad)
        XCTAssertTrue(c.isLeaf, "no node is recorded when no input requires a gradient")
        let w = v([1, 2, 3], grad: true)
        let d = try withNoGrad { try w * w }
        XCTAssertFalse(d.requiresGrad)
        XCTAssertTrue(d.isLeaf, "withNoGrad records nothing")
        let e = try w * w
        XCTAssertTrue(e.requiresGrad)
        XCTAssertEqual(e.op, "mul")
        XCTAssertTrue(GradMode.isEnabled)
    }

    func testAccumulationOverSharedInputs() throws {
        let x = v([1, -2, 3], grad: true)
        let y = try (x * x + x * 3).sum()   // dy/dx = 2x + 3
        try y.backward()
        XCTAssertEqual(x.grad?.array, [5, -1, 9])
        // A second backward of a new graph accumulates into .grad.
        try (x * 2).sum().backward()
        XCTAssertEqual(x.grad?.array, [7, 1, 11])
    }

    /// add hands the same gradient tensor to both inputs; later accumulation into one leaf's .grad
    /// must not change the other's.
    func testLeafGradientsDoNotAlias() throws {
        let a = v([1, 2], grad: true), b = v([3, 4], grad: true)
        try (a + b).sum().backward()
        try (a * 3).sum().backward()
        XCTAssertEqual(a.grad?.array, [4, 4])
        XCTAssertEqual(b.grad?.array, [1, 1])
        let seed = Tensor(shape: [2], values: [1, 1])
        let c = v([0, 0], grad: true)
        try (c + 0).backward(seed: seed)
        try (c * 2).sum().backward()
        XCTAssertEqual(seed.array, [1, 1], "the caller's seed is never accumulated into")
    }

    func testGradWithSeedAndUnusedInput() throws {
        let x = v([1, 2], grad: true), unused = v([5], grad: true)
        let y = try x * x
        let g = try grad([y], [x, unused], gradOutputs: [Tensor(shape: [2], values: [1, 10])])
        XCTAssertEqual(g[0].value.array, [2, 40])
        XCTAssertEqual(g[1].value.array, [0])
    }

    func testBackwardTwiceOnFreedGraphThrows() throws {
        let x = v([1, 2], grad: true)
        let y = try (x.exp() * x).sum()
        try y.backward()
        XCTAssertThrowsError(try y.backward()) { e in
            guard case AutogradError.graphFreed = e else { return XCTFail("expected graphFreed, got \(e)") }
            XCTAssertTrue("\(e)".contains("retainGraph"))
        }
        x.grad = nil
        let z = try (x.exp() * x).sum()
        try z.backward(retainGraph: true)
        let once = x.grad!.copy()
        try z.backward()
        for i in 0..<2 { XCTAssertEqual(x.grad![i], 2 * once[i], accuracy: 1e-5) }
        XCTAssertThrowsError(try z.backward())
    }

    func testNonScalarWithoutSeedThrows() throws {
        let x = v([1, 2], grad: true)
        XCTAssertThrowsError(try (x * x).backward()) { e in
            XCTAssertEqual(e as? AutogradError, .nonScalarWithoutSeed(shape: [2]))
        }
        XCTAssertThrowsError(try (x * x).backward(seed: Tensor(shape: [3]))) { e in
            XCTAssertEqual(e as? AutogradError, .seedShapeMismatch(output: [2], seed: [3]))
        }
        XCTAssertThrowsError(try v([1]).sum().backward()) { e in
            guard case AutogradError.noGradient = e else { return XCTFail("expected noGradient, got \(e)") }
        }
    }

    func testShapeErrorsNameOpAndShapes() throws {
        let a = v([1, 2, 3], [3]), b = v([1, 2], [2])
        XCTAssertThrowsError(try a + b) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("add") && s.contains("[3]") && s.contains("[2]"), s)
        }
        let x = Variable(Tensor(shape: [1, 2, 4, 4, 4])), w = Variable(Tensor(shape: [3, 5, 3, 3, 3]))
        XCTAssertThrowsError(try conv3d(x, weight: w, params: ConvParams(k: 3))) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("conv3d") && s.contains("[1, 2, 4, 4, 4]") && s.contains("[3, 5, 3, 3, 3]"), s)
        }
        XCTAssertThrowsError(try matmul(Variable(Tensor(shape: [2, 3])), Variable(Tensor(shape: [4, 2])))) { e in
            XCTAssertTrue("\(e)".contains("matmul") && "\(e)".contains("[2, 3]") && "\(e)".contains("[4, 2]"))
        }
    }

    func testLayerShapeErrorsAreTyped() throws {
        var rng = PETRandom(seed: 1)
        func expectShapeError(_ what: String, _ mustContain: [String], _ body: () throws -> Variable) {
            XCTAssertThrowsError(try body(), what) { e in
                guard case TensorError.shapeMismatch = e else { return XCTFail("\(what): expected a shape mismatch, got \(e)") }
                for s in mustContain { XCTAssertTrue("\(e)".contains(s), "\(what): '\(e)' should mention \(s)") }
            }
        }
        let x = Variable(Tensor(shape: [2, 3, 4, 4, 4]))
        expectShapeError("batch norm channels", ["batch norm", "[4]", "3 channels"]) {
            try batchNorm(x, weight: Variable(Tensor(shape: [4])), bias: nil, runningMean: nil, runningVar: nil, training: true)
        }
        expectShapeError("layer norm shape", ["layer norm", "[2, 3, 4, 4, 4]", "[5, 4, 4]"]) {
            try layerNorm(x, normalizedShape: [5, 4, 4], weight: nil, bias: nil)
        }
        expectShapeError("conv transpose bias", ["conv_transpose3d", "[7]"]) {
            try convTranspose3d(x, weight: Variable(Tensor(shape: [3, 2, 2, 2, 2])), bias: Variable(Tensor(shape: [7])), params: ConvParams(k: 2, s: 2))
        }
        expectShapeError("linear", ["linear", "[2, 5]", "[3, 4]"]) {
            try Linear(4, 3, rng: &rng)(Variable(Tensor(shape: [2, 5])))
        }
        expectShapeError("concat", ["concat", "[2, 1, 3]", "[2, 1, 4]"]) {
            try concat([Variable(Tensor(shape: [2, 1, 3])), Variable(Tensor(shape: [2, 1, 4]))], axis: 1)
        }
        expectShapeError("gradient penalty ε", ["gradient penalty", "[3, 1]"]) {
            try Loss.gradientPenalty(critic: { $0 }, real: Tensor(shape: [2, 4]), fake: Tensor(shape: [2, 4]), epsilon: Tensor(shape: [3, 1]))
        }
        expectShapeError("BatchNorm3d rank", ["BatchNorm3d", "5-D"]) { try BatchNorm3d(3)(Variable(Tensor(shape: [2, 3, 4]))) }
    }

    /// d/dx of (d/dx x³) = 6x, through createGraph.
    func testSecondDerivativeOfCube() throws {
        let x = v([0.5, -2], grad: true)
        let g = try grad(try x.pow(3).sum(), x, createGraph: true)
        XCTAssertTrue(g.requiresGrad)
        XCTAssertEqual(g.value.array, [0.75, 12])
        let h = try grad(try g.sum(), x)
        XCTAssertEqual(h.value.array, [3, -12])
    }

    /// The first-order pass without createGraph records nothing new.
    func testPlainGradIsNotDifferentiable() throws {
        let x = v([1, 2], grad: true)
        let g = try grad(try (x * x).sum(), x)
        XCTAssertFalse(g.requiresGrad)
    }
}
