import XCTest
import PETTensor
@testable import PETAutograd

/// `syncBatchNorm` (`--sync-bn`) against the fused `batchNorm` on the batch the replicas hold together.
/// A reducer that multiplies by `count` stands for `count` replicas holding the same items: the
/// global batch is then `count` copies of x, and by symmetry each replica's gradient is the
/// per-copy share of the single-batch gradient.
final class SyncBatchNormTests: XCTestCase {
    final class IdenticalReplicas: ReplicaReducer {
        let replicaCount: Int
        init(_ n: Int) { replicaCount = n }
        func sumInPlace(_ t: Tensor) throws { for i in 0..<t.count { t.data[i] *= Float(replicaCount) } }
    }

    func random(_ shape: [Int], _ rng: inout PETRandom) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t.data[i] = rng.normal() * 1.5 + 0.3 }
        return t
    }

    func maxDiff(_ a: Tensor, _ b: Tensor, scale: Float = 1) -> Float {
        precondition(a.count == b.count)
        var d: Float = 0
        for i in 0..<a.count { let e = Swift.abs(a.data[i] - scale * b.data[i]); if !e.isFinite { return .infinity }; d = max(d, e) }
        return d
    }

    func testMatchesBatchNormOverTheReplicasJointBatch() throws {
        var rng = PETRandom(seed: 7)
        for replicas in [1, 2, 3] {
            let shape = [3, 5, 3, 4, 5]   // odd sizes
            let xt = random(shape, &rng), r = random(shape, &rng)
            let w = Variable(random([5], &rng), requiresGrad: true), b = Variable(random([5], &rng), requiresGrad: true)
            let rmS = Tensor(shape: [5]), rvS = Tensor(shape: [5], repeating: 1)
            let x = Variable(xt, requiresGrad: true)
            let y = try syncBatchNorm(x, weight: w, bias: b, runningMean: rmS, runningVar: rvS, reducer: IdenticalReplicas(replicas))
            try (y * Variable(r)).sum().backward()

            let w2 = Variable(w.value.copy(), requiresGrad: true), b2 = Variable(b.value.copy(), requiresGrad: true)
            let rmR = Tensor(shape: [5]), rvR = Tensor(shape: [5], repeating: 1)
            let x2 = Variable(xt, requiresGrad: true)
            let joint = try concat([Variable](repeating: x2, count: replicas), axis: 0)
            let yr = try batchNorm(joint, weight: w2, bias: b2, runningMean: rmR, runningVar: rvR, training: true)
            try (yr * concat([Variable](repeating: Variable(r), count: replicas), axis: 0)).sum().backward()

            XCTAssertLessThan(maxDiff(y.value, try yr.slice(axis: 0, start: 0, length: 3).value), 1e-5, "output, \(replicas) replicas")
            XCTAssertLessThan(maxDiff(rmS, rmR), 1e-6); XCTAssertLessThan(maxDiff(rvS, rvR), 1e-6)
            // x appears `replicas` times in the joint batch; γ and β gather every copy's share.
            XCTAssertLessThan(maxDiff(try XCTUnwrap(x2.grad), try XCTUnwrap(x.grad), scale: Float(replicas)), 1e-4, "dx, \(replicas) replicas")
            XCTAssertLessThan(maxDiff(try XCTUnwrap(w2.grad), try XCTUnwrap(w.grad), scale: Float(replicas)), 1e-3, "dγ")
            XCTAssertLessThan(maxDiff(try XCTUnwrap(b2.grad), try XCTUnwrap(b.grad), scale: Float(replicas)), 1e-3, "dβ")
        }
    }

    /// The layer takes the synchronised path only when given a reducer, in training mode.
    func testBatchNormLayerUsesTheReducer() throws {
        var rng = PETRandom(seed: 3)
        let bn = BatchNorm3d(2)
        let x = Variable(random([2, 2, 3, 3, 3], &rng))
        let alone = try bn(x).value
        bn.replicaReducer = IdenticalReplicas(1)
        XCTAssertLessThan(maxDiff(try bn(x).value, alone), 1e-5)
        XCTAssertLessThan(maxDiff(try bn.forwardActivated(x, negativeSlope: 0.2).value, try bn(x).leakyReLU(0.2).value), 1e-6)
    }
}
