import XCTest
import PETTensor
@testable import PETAutograd

/// Activation checkpointing (ActivationCheckpointing.swift): the same gradients as keeping the activations.
final class ActivationCheckpointingTests: XCTestCase {
    /// Two identical networks (same seed): conv → training batch norm → LeakyReLU → transposed conv
    /// → batch norm → ReLU → conv, split into two segments.
    final class Net: Module {
        let a: Sequential, b: Sequential, head: Conv3dLayer
        var checkpointed = false
        init(seed: UInt64) {
            var rng = PETRandom(seed: seed)
            a = Sequential([Conv3dLayer(2, 4, kernel: 3, stride: 2, padding: 1, rng: &rng), BatchNorm3d(4), LeakyReLU(0.2)])
            b = Sequential([ConvTranspose3dLayer(4, 3, kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng), BatchNorm3d(3), ReLU()])
            head = Conv3dLayer(3, 1, kernel: 3, padding: 1, rng: &rng)
            super.init()
            for bn in [a.layers[1].1, b.layers[1].1] {
                let p = (bn as! BatchNorm).weight!.value
                for i in 0..<p.count { p.data[i] = rng.uniform(0.5, 1.5) }
            }
        }
        override func forward(_ x: Variable) throws -> Variable {
            guard checkpointed else { return try head(b(a(x))) }
            let h = try checkpoint(x, parameters: a.parameters) { [unowned self] v in try self.a(v) }
            let h2 = try checkpoint(h, parameters: b.parameters) { [unowned self] v in try self.b(v) }
            return try head(h2)
        }
    }

    func buffers(_ m: Module) -> [Tensor] { m.namedBuffers().map(\.1.value) }

    /// First order: parameter and input gradients, the loss and the running statistics are bitwise
    /// equal; the checkpointed graph holds only segment boundaries.
    func testFirstOrderGradientsAreBitwiseEqual() throws {
        var rng = PETRandom(seed: 3)
        let input = Tensor.normal([2, 2, 6, 5, 7], rng: &rng)
        let weights = Tensor.normal([2, 1, 6, 6, 8], rng: &rng)
        var results: [(loss: Float, grads: [Tensor], gx: Tensor, stats: [Tensor])] = []
        for on in [false, true] {
            let net = Net(seed: 11)
            net.checkpointed = on
            let x = Variable(input, requiresGrad: true)
            let y = try net(x)
            XCTAssertEqual(y.shape, [2, 1, 6, 6, 8])
            let loss = try (y * Variable(weights)).sum()
            try loss.backward()
            results.append((loss.scalar, net.parameters.map { $0.grad! }, x.grad!, buffers(net)))
        }
        let (u, c) = (results[0], results[1])
        XCTAssertEqual(u.loss.bitPattern, c.loss.bitPattern)
        XCTAssertTrue(u.gx.bitwiseEqual(c.gx), "input gradient")
        for (i, (g1, g2)) in zip(u.grads, c.grads).enumerated() {
            XCTAssertTrue(g1.bitwiseEqual(g2), "parameter \(i): max diff \(g1.maxAbsDifference(to: g2))")
        }
        // Running statistics moved once (a second update would differ from the plain run).
        for (s1, s2) in zip(u.stats, c.stats) { XCTAssertTrue(s1.bitwiseEqual(s2)) }
        XCTAssertFalse(u.stats[0].bitwiseEqual(Tensor(shape: [4])), "statistics did move")
    }

    /// Second order (the WGAN-GP penalty): ‖∂score/∂x‖² differentiated again through checkpointed
    /// segments gives the parameter gradients of the plain graph (≤ 1e-5 relative to their size).
    func testDoubleBackwardThroughCheckpointsMatches() throws {
        var rng = PETRandom(seed: 5)
        let input = Tensor.normal([2, 2, 6, 6, 6], rng: &rng)
        var grads: [[Tensor?]] = [], stats: [[Tensor]] = []
        var penalties: [Float] = []
        for on in [false, true] {
            let net = Net(seed: 13)
            net.checkpointed = on
            let x = Variable(input, requiresGrad: true)
            let score = try net(x).sum()
            let g = try grad(score, x, createGraph: true)
            let penalty = try (g * g).sum()
            try penalty.backward()
            penalties.append(penalty.scalar)
            grads.append(net.parameters.map(\.grad))
            stats.append(buffers(net))
        }
        XCTAssertEqual(penalties[0], penalties[1], accuracy: 1e-5 * abs(penalties[0]))
        // The head's bias and segment b's batch-norm β (it reaches ∂score/∂x only through ReLU's
        // mask) do not move ∂score/∂x: no gradient either way.
        XCTAssertEqual(grads[0].map { $0 == nil }, grads[1].map { $0 == nil })
        XCTAssertEqual(grads[0].compactMap { $0 }.count, 7)
        let largest = finiteMaximum(grads[0].compactMap { $0?.maxAbsDifference(to: Tensor(shape: $0!.shape)) })!
        for (i, (o1, o2)) in zip(grads[0], grads[1]).enumerated() {
            guard let g1 = o1, let g2 = o2 else { continue }
            let size = g1.maxAbsDifference(to: Tensor(shape: g1.shape))
            if i == 1 {
                // Segment a's conv bias feeds a training batch norm, which removes it: its gradient
                // is zero up to rounding in both graphs.
                XCTAssertLessThanOrEqual(max(size, g2.maxAbsDifference(to: Tensor(shape: g2.shape))), 1e-6 * largest)
                continue
            }
            XCTAssertLessThanOrEqual(g1.maxAbsDifference(to: g2) / size, 1e-5, "parameter \(i)")
            XCTAssertGreaterThan(size, 1e-3 * largest, "parameter \(i) has a real gradient")
        }
        for (s1, s2) in zip(stats[0], stats[1]) { XCTAssertTrue(s1.bitwiseEqual(s2), "running statistics updated once") }
    }

    /// Without recording (evaluation) a checkpoint is just the segment; frozen parameters get no
    /// gradient and an input that needs none is not differentiated.
    func testNoGradAndFrozenParameters() throws {
        let net = Net(seed: 17)
        net.checkpointed = true
        var rng = PETRandom(seed: 2)
        let x = Tensor.normal([1, 2, 4, 4, 4], rng: &rng)
        net.eval()
        let plain = try withNoGrad { try net(Variable(x)) }
        XCTAssertFalse(plain.requiresGrad)
        net.train()
        for p in net.a.parameters { p.requiringGrad(false) }
        let y = try net(Variable(x))
        try y.sum().backward()
        XCTAssertTrue(net.a.parameters.allSatisfy { $0.grad == nil })
        XCTAssertTrue(net.b.parameters.allSatisfy { $0.grad != nil })
    }
}
