// A small 3D CNN on block-averaged volumes (about 24×28×24 voxels), built from PETAutograd layers:
// three stride-2 convolutions (3×3×3, LeakyReLU 0.2), the coarse map (32 channels × 3×4×3) flattened
// into a 32-feature hidden layer (LeakyReLU 0.2), and a linear head. Used for the classifier two-sample
// test (real vs synthetic), the augmentation benefit (class labels), and as the fixed feature network
// of the Fréchet distance.
//
// The coarse map is flattened, not averaged: class differences in FDG-PET are regional (posterior
// cingulate, parietal, medial temporal hypometabolism), and global average pooling threw away where
// they are — the 3-class real-only baseline then predicted one class (issue 8).
//
// Public API:
//   let c = SmallCNN(classes: 2, inputShape: [24, 28, 24], seed: 1) ; let log = try c.fit(x, labels, options)
//   try c.probabilities(x) -> [[Double]] ; try c.features(x) -> [[Float]]

import Foundation
import PETAutograd
import PETTensor

public final class SmallCNN: Module {
    let conv1: Conv3dLayer, conv2: Conv3dLayer, conv3: Conv3dLayer
    let hidden: Linear
    let head: Linear
    public let classes: Int
    /// (D, H, W) of the inputs: fixes the size of the flattened coarse map.
    public let inputShape: [Int]
    public static let featureCount = 32
    /// Input standardization (fitted on the training set).
    public var inputMean: Float = 0, inputStd: Float = 1

    public init(classes: Int, inputShape: [Int], seed: UInt64) {
        precondition(inputShape.count == 3 && inputShape.allSatisfy { $0 >= 1 }, "SmallCNN inputs are (D, H, W) volumes")
        var rng = PETRandom(seed: seed)
        conv1 = Conv3dLayer(1, 8, kernel: 3, stride: 2, padding: 1, rng: &rng)
        conv2 = Conv3dLayer(8, 16, kernel: 3, stride: 2, padding: 1, rng: &rng)
        conv3 = Conv3dLayer(16, SmallCNN.featureCount, kernel: 3, stride: 2, padding: 1, rng: &rng)
        // Each stride-2 convolution (kernel 3, padding 1) maps a size n to ⌈n/2⌉.
        var coarse = inputShape
        for _ in 0..<3 { coarse = coarse.map { ($0 + 1) / 2 } }
        hidden = Linear(SmallCNN.featureCount * coarse.reduce(1, *), SmallCNN.featureCount, rng: &rng)
        head = Linear(SmallCNN.featureCount, classes, rng: &rng)
        self.classes = classes
        self.inputShape = inputShape
        super.init()
    }

    // x: (N, 1, D, H, W) → (N, featureCount)
    func featureMap(_ x: Variable) throws -> Variable {
        let h1 = try conv1(x).leakyReLU(0.2)
        let h2 = try conv2(h1).leakyReLU(0.2)
        let h3 = try conv3(h2).leakyReLU(0.2)
        return try hidden(h3.flattened()).leakyReLU(0.2)
    }

    // x: (N, 1, D, H, W) → logits (N, classes)
    public override func forward(_ x: Variable) throws -> Variable { try head(featureMap(x)) }

    public struct FitOptions {
        public var epochs: Int, batchSize: Int, learningRate: Double, seed: UInt64
        /// Small training sets get more epochs, so that every fit takes at least this many Adam steps
        /// (150 left the 3-class phantom baseline near its starting loss; 400 converge, issue 8).
        public var minSteps: Int
        public init(epochs: Int = 25, batchSize: Int = 8, learningRate: Double = 1e-3, seed: UInt64 = 1, minSteps: Int = 400) {
            self.epochs = epochs; self.batchSize = batchSize; self.learningRate = learningRate; self.seed = seed; self.minSteps = minSteps
        }
    }

    /// Stacks samples (each D·H·W values) into a standardized (N, 1, D, H, W) tensor.
    func batch(_ xs: [[Float]], _ idx: ArraySlice<Int>, shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        let t = Tensor(shape: [idx.count, 1] + shape)
        for (b, i) in idx.enumerated() {
            let dst = t.data + b * n
            let src = xs[i]
            for k in 0..<n { dst[k] = (src[k] - inputMean) / inputStd }
        }
        return t
    }

    /// Softmax cross-entropy of logits (N, K) against integer labels, averaged over the batch.
    static func crossEntropy(_ logits: Variable, _ labels: [Int]) throws -> Variable {
        let n = logits.shape[0], k = logits.shape[1]
        // Shift by the (constant) row maximum for stability; it cancels in log-softmax.
        let shift = Tensor(shape: [n, 1]), onehot = Tensor(shape: [n, k])
        for i in 0..<n {
            var m = -Float.infinity
            for j in 0..<k { m = max(m, logits.value.data[i * k + j]) }
            shift.data[i] = m
            onehot.data[i * k + labels[i]] = 1
        }
        let z = try logits - Variable(shift)
        let lse = try z.exp().sum(axes: [1], keepDims: true).log()
        let picked = try (z * Variable(onehot)).sum(axes: [1], keepDims: true)
        return try (lse - picked).mean()
    }

    /// Trains with Adam on the given samples; returns the mean training loss per epoch.
    @discardableResult
    public func fit(_ xs: [[Float]], labels: [Int], shape: [Int], options o: FitOptions = FitOptions()) throws -> [Double] {
        precondition(xs.count == labels.count && !xs.isEmpty)
        try checkShape(shape)
        // Standardize with the training set's voxel mean and SD.
        var s = 0.0, s2 = 0.0, c = 0.0
        for x in xs { for v in x { s += Double(v); s2 += Double(v) * Double(v) }; c += Double(x.count) }
        inputMean = Float(s / c)
        inputStd = Float(max(1e-6, (s2 / c - (s / c) * (s / c)).squareRoot()))
        train()
        let opt = Adam(namedParameters(), learningRate: o.learningRate)
        var rng = PETRandom(seed: o.seed)
        var order = Array(0..<xs.count)
        var curve: [Double] = []
        let batchesPerEpoch = (xs.count + o.batchSize - 1) / o.batchSize
        let epochs = max(o.epochs, (o.minSteps + batchesPerEpoch - 1) / batchesPerEpoch)
        for _ in 0..<epochs {
            rng.shuffle(&order)
            var total = 0.0, batches = 0
            for start in stride(from: 0, to: order.count, by: o.batchSize) {
                let idx = order[start..<min(order.count, start + o.batchSize)]
                let x = Variable(batch(xs, idx, shape: shape))
                opt.zeroGrad()
                let loss = try SmallCNN.crossEntropy(try self(x), idx.map { labels[$0] })
                try loss.backward()
                try opt.step()
                total += Double(loss.scalar); batches += 1
            }
            curve.append(total / Double(max(1, batches)))
        }
        eval()
        return curve
    }

    func checkShape(_ shape: [Int]) throws {
        guard shape == inputShape else {
            throw MetricsError.mismatch(detail: "the classifier was built for inputs \(inputShape) (D,H,W) but got \(shape)")
        }
    }

    /// Class probabilities (softmax) per sample.
    public func probabilities(_ xs: [[Float]], shape: [Int]) throws -> [[Double]] {
        try checkShape(shape)
        return try withNoGrad {
            var out: [[Double]] = []
            for start in stride(from: 0, to: xs.count, by: 16) {
                let idx = Array(start..<min(xs.count, start + 16))[...]
                let logits = try self(Variable(batch(xs, idx, shape: shape))).value
                for b in 0..<idx.count {
                    let row = (0..<classes).map { Double(logits.data[b * classes + $0]) }
                    let m = row.max()!
                    let e = row.map { Foundation.exp($0 - m) }
                    let z = e.reduce(0, +)
                    out.append(e.map { $0 / z })
                }
            }
            return out
        }
    }

    /// Pooled feature vectors (the Fréchet distance's feature space).
    public func features(_ xs: [[Float]], shape: [Int]) throws -> [[Float]] {
        try checkShape(shape)
        return try withNoGrad {
            var out: [[Float]] = []
            for start in stride(from: 0, to: xs.count, by: 16) {
                let idx = Array(start..<min(xs.count, start + 16))[...]
                let f = try featureMap(Variable(batch(xs, idx, shape: shape))).value
                let d = SmallCNN.featureCount
                for b in 0..<idx.count { out.append(Array(UnsafeBufferPointer(start: f.data + b * d, count: d))) }
            }
            return out
        }
    }
}

/// Classification scores of a held-out set.
public struct ClassificationScores: Codable, Equatable {
    public var accuracy: Double, balancedAccuracy: Double, auc: Double
    public var n: Int

    /// From predicted probabilities and true labels; AUC: binary, or macro one-vs-rest for K > 2.
    public init(probabilities p: [[Double]], labels: [Int]) {
        n = labels.count
        let k = p.first?.count ?? 2
        let pred = p.map { row in row.indices.max { row[$0] < row[$1] }! }
        accuracy = Double(zip(pred, labels).filter { $0 == $1 }.count) / Double(max(1, n))
        var recalls: [Double] = [], aucs: [Double] = []
        for c in 0..<k {
            let members = labels.indices.filter { labels[$0] == c }
            if members.isEmpty { continue }
            recalls.append(Double(members.filter { pred[$0] == c }.count) / Double(members.count))
            let a = Statistics.auc(scores: p.map { $0[c] }, positive: labels.map { $0 == c })
            if a.isFinite { aucs.append(a) }
            if k == 2 { break }   // binary AUC: class 0 vs 1 once (class 1 is the mirror image)
        }
        if k == 2 {
            let members1 = labels.indices.filter { labels[$0] == 1 }
            if !members1.isEmpty { recalls.append(Double(members1.filter { pred[$0] == 1 }.count) / Double(members1.count)) }
        }
        balancedAccuracy = recalls.isEmpty ? .nan : recalls.reduce(0, +) / Double(recalls.count)
        auc = aucs.isEmpty ? .nan : aucs.reduce(0, +) / Double(aucs.count)
    }
}
