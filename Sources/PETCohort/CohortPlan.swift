import Foundation
import PETTensor

/// Which subjects a cohort holds: class per subject (counts from proportions by largest remainder,
/// order shuffled by the seed) and each subject's own seed.
public struct CohortPlan: Codable, Equatable, Sendable {
    public struct Entry: Codable, Equatable, Sendable {
        public var index: Int
        public var className: String
        public var seed: UInt64
    }
    public var seed: UInt64
    public var classNames: [String]
    public var subjects: [Entry]

    /// ADNI-1 baseline proportions used by the reference paper: 105 NC, 208 MCI, 98 AD.
    public static let adniProportions: [Double] = [105, 208, 98]

    /// - proportions: one weight per class (any positive scale); nil = equal.
    public init(count: Int, classNames: [String], proportions: [Double]?, seed: UInt64) throws {
        guard count > 0 else { throw PhantomError.invalidRequest("--count must be at least 1") }
        guard !classNames.isEmpty, Set(classNames).count == classNames.count else {
            throw PhantomError.invalidRequest("classes must be distinct and not empty: \(classNames)")
        }
        let w = proportions ?? [Double](repeating: 1, count: classNames.count)
        guard w.count == classNames.count else {
            throw PhantomError.invalidRequest("\(w.count) proportions for \(classNames.count) classes (\(classNames.joined(separator: ",")))")
        }
        guard w.allSatisfy({ $0 >= 0 && $0.isFinite }), w.reduce(0, +) > 0 else {
            throw PhantomError.invalidRequest("proportions must be non-negative with a positive sum: \(w)")
        }
        let total = w.reduce(0, +)
        let exact = w.map { $0 / total * Double(count) }
        var n = exact.map { Int($0.rounded(.down)) }
        let order = exact.indices.sorted { (exact[$0] - Double(n[$0]), -$0) > (exact[$1] - Double(n[$1]), -$1) }
        for i in order.prefix(count - n.reduce(0, +)) { n[i] += 1 }
        var labels: [String] = []
        for (c, k) in zip(classNames, n) { labels += [String](repeating: c, count: k) }
        var rng = PETRandom(seed: Draw.derivedSeed(seed, 0x0C0_4017))
        rng.shuffle(&labels)
        self.seed = seed
        self.classNames = classNames
        subjects = labels.enumerated().map { Entry(index: $0.offset, className: $0.element, seed: Draw.derivedSeed(seed, UInt64($0.offset))) }
    }
}
