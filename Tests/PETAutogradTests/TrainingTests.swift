import XCTest
import PETTensor
@testable import PETAutograd

/// The small critic of the issue: conv → leaky relu → layer norm → linear.
final class SmallCritic: Module {
    let conv: Conv3dLayer
    let norm: LayerNorm
    let fc: Linear
    init(rng: inout PETRandom) {
        conv = Conv3dLayer(1, 2, kernel: 3, stride: 2, padding: 1, rng: &rng)
        norm = LayerNorm([2, 2, 2, 2])
        fc = Linear(16, 1, rng: &rng)
    }
    override func forward(_ x: Variable) throws -> Variable {
        try fc(norm(conv(x).leakyReLU(0.2)).flattened())
    }
}

/// The same critic as a function of its parameters (for finite differences over the weights).
func criticFunction(_ x: Variable, _ w: [Variable]) throws -> Variable {
    let h = try conv3d(x, weight: w[0], bias: w[1], params: ConvParams(k: 3, s: 2, p: 1)).leakyReLU(0.2)
    let n = try layerNorm(h, normalizedShape: [2, 2, 2, 2], weight: w[2], bias: w[3])
    return try linear(n.flattened(), weight: w[4], bias: w[5])
}

final class TrainingTests: XCTestCase {
    /// The gradient penalty's gradient with respect to every critic weight (a double backward through
    /// conv, leaky relu, layer norm and linear) against finite differences of the penalty itself.
    func testGradientPenaltyOfSmallCriticMatchesFiniteDifferences() throws {
        var rng = PETRandom(seed: 77)
        let critic = SmallCritic(rng: &rng)
        for (_, p) in critic.namedParameters() where p.shape == [2, 2, 2, 2] {   // non-trivial layer-norm affine
            for i in 0..<p.count { p.value.data[i] = rng.uniform(0.5, 1.5) * (p.value.data[i] == 0 ? 0.3 : 1) }
        }
        let real = Tensor.uniform([2, 1, 4, 4, 4], low: -1, high: 1, rng: &rng)
        let fake = Tensor.uniform([2, 1, 4, 4, 4], low: -1, high: 1, rng: &rng)
        let eps = Tensor(shape: [2, 1, 1, 1, 1], values: [0.3, 0.8])
        let weights = critic.parameters.map { $0.value }
        try checkGradients("gradient penalty w.r.t. critic weights", weights, secondOrder: true, step: 2e-3) { w in
            let gp = try Loss.gradientPenalty(critic: { try criticFunction($0, w) }, real: real, fake: fake, epsilon: eps)
            return try gp.reshaped([1])
        }
        // The layer version through backward() gives the same gradients as the functional one.
        let gp = try Loss.gradientPenalty(critic: critic.callAsFunction, real: real, fake: fake, epsilon: eps)
        XCTAssertGreaterThan(gp.scalar, 0)
        try gp.backward()
        let vars = weights.map { Variable($0.copy(), requiresGrad: true) }
        let gpF = try Loss.gradientPenalty(critic: { try criticFunction($0, vars) }, real: real, fake: fake, epsilon: eps)
        let gF = try grad([gpF], vars)
        for ((name, p), g) in zip(critic.namedParameters(), gF) {
            // The penalty does not depend on the last bias: no gradient reaches it (nil, as in PyTorch).
            let pg = p.grad ?? Tensor(shape: p.shape)
            if name == "fc.bias" { XCTAssertNil(p.grad); XCTAssertEqual(g.value.array, [0]); continue }
            XCTAssertLessThan(pg.relativeError(to: g.value), 1e-5, name)
        }
    }

    /// The critic itself: first and second order with respect to its input and every weight.
    func testSmallCriticFirstAndSecondOrder() throws {
        var rng = PETRandom(seed: 78)
        let critic = SmallCritic(rng: &rng)
        let x = Tensor.uniform([2, 1, 4, 4, 4], low: -1, high: 1, rng: &rng)
        try checkGradients("small critic (input and weights)", [x] + critic.parameters.map { $0.value }, step: 2e-3) { v in
            try criticFunction(v[0], Array(v[1...]))
        }
    }

    /// Penalty is λ·mean(‖∇‖ − 1)² exactly, for a linear critic whose input gradient is known.
    func testGradientPenaltyOfLinearCritic() throws {
        var rng = PETRandom(seed: 5)
        let w = Tensor(shape: [1, 8], values: [1, 2, 0, 0, 0, 0, 2, 0])   // ‖w‖ = 3
        let critic: (Variable) throws -> Variable = { try linear($0.flattened(), weight: Variable(w)) }
        let real = Tensor.uniform([3, 1, 2, 2, 2], rng: &rng), fake = Tensor.uniform([3, 1, 2, 2, 2], rng: &rng)
        let gp = try Loss.gradientPenalty(critic: critic, real: real, fake: fake, lambda: 10, rng: &rng)
        XCTAssertEqual(gp.scalar, 10 * 4, accuracy: 1e-4)   // (3 − 1)² per sample
    }

    /// A tiny conv net drives its loss on one batch to (near) zero.
    func testTinyConvNetOverfitsOneBatch() throws {
        var rng = PETRandom(seed: 11)
        let net = Sequential([Conv3dLayer(1, 4, kernel: 3, padding: 1, rng: &rng), BatchNorm3d(4), LeakyReLU(0.2),
                              Conv3dLayer(4, 4, kernel: 2, stride: 2, rng: &rng), LeakyReLU(0.2),
                              Flatten(), Linear(32, 1, rng: &rng)])
        let x = Variable(Tensor.normal([4, 1, 4, 4, 4], rng: &rng))
        let labels = Tensor(shape: [4, 1], values: [1, 0, 0, 1])
        let opt = Adam(net.namedParameters(), learningRate: 0.01)
        var first: Float = 0, last: Float = 0
        for i in 0..<150 {
            opt.zeroGrad()
            let loss = try Loss.bceWithLogits(net(x), targets: labels)
            try loss.backward()
            try opt.step()
            if i == 0 { first = loss.scalar }
            last = loss.scalar
        }
        XCTAssertGreaterThan(first, 0.3)
        XCTAssertLessThan(last, 0.01, "loss went from \(first) to \(last)")
    }

    /// Training state saved mid-run (parameters, buffers, optimizer moments and steps, RNG) and
    /// restored into fresh objects continues bitwise like the uninterrupted run.
    func testResumeFromStateEqualsUninterruptedTraining() throws {
        Parallel.setThreads(1)
        defer { Parallel.setThreads(max(1, ProcessInfo.processInfo.activeProcessorCount)) }
        func makeModel() -> (SmallCritic, Adam) {
            var r = PETRandom(seed: 21)
            let m = SmallCritic(rng: &r)
            return (m, Adam(m.namedParameters(prefix: "critic"), learningRate: 1e-3, beta1: 0.5, beta2: 0.9))
        }
        func trainStep(_ m: SmallCritic, _ opt: Adam, _ rng: inout PETRandom) throws {
            let real = Tensor.uniform([2, 1, 4, 4, 4], low: -1, high: 1, rng: &rng)
            let fake = Tensor.uniform([2, 1, 4, 4, 4], low: -1, high: 1, rng: &rng)
            opt.zeroGrad()
            let loss = try Loss.wassersteinCritic(real: m(Variable(real)), fake: m(Variable(fake)))
                + Loss.gradientPenalty(critic: m.callAsFunction, real: real, fake: fake, rng: &rng)
            try loss.backward()
            try opt.step()
        }
        let (a, optA) = makeModel()
        var rngA = PETRandom(seed: 5)
        for _ in 0..<6 { try trainStep(a, optA, &rngA) }

        let (b, optB) = makeModel()
        var rngB = PETRandom(seed: 5)
        for _ in 0..<3 { try trainStep(b, optB, &rngB) }
        let saved = (b.stateDict(prefix: "critic"), optB.state(), rngB)
        let (c, optC) = makeModel()
        try c.loadStateDict(saved.0, prefix: "critic")
        try optC.load(saved.1)
        var rngC = saved.2
        for _ in 0..<3 { try trainStep(c, optC, &rngC) }
        for ((name, pa), (_, pc)) in zip(a.namedParameters(), c.namedParameters()) {
            XCTAssertTrue(pa.value.bitwiseEqual(pc.value), "\(name) differs after resuming")
        }
        XCTAssertEqual(rngA, rngC)
    }
}
