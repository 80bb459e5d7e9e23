// Comparisons used by tests and benchmarks to judge a kernel against its reference.
//
// Swift's `max` keeps its first argument when the second is NaN (`max(0, .nan) == 0`), so a fold
// with `max` scores a kernel that returns NaN everywhere as a perfect match. Every helper here
// returns +infinity as soon as either operand holds a non-finite value: `err <= tol` then fails and
// `err > tol` holds, whichever way the caller writes its check.

/// max |a − b| over all elements; +inf when the counts differ or any value of either is not finite.
@inlinable public func maxAbsDifference<A: Collection, B: Collection>(_ a: A, _ b: B) -> A.Element
where A.Element: BinaryFloatingPoint, B.Element == A.Element {
    guard a.count == b.count else { return .infinity }
    var m: A.Element = 0
    for (x, y) in zip(a, b) {
        guard x.isFinite, y.isFinite else { return .infinity }
        let d = abs(x - y)
        if d > m { m = d }
    }
    return m
}

/// max |a − b| / max(max |b|, floor); +inf on a count mismatch or any non-finite value.
/// `floor` 1e-30 gives the relative error of kernels; 1 the scaled error of gradient checks.
@inlinable public func relativeError<A: Collection, B: Collection>(_ a: A, _ b: B, floor: A.Element = 1e-30) -> A.Element
where A.Element: BinaryFloatingPoint, B.Element == A.Element {
    guard a.count == b.count else { return .infinity }
    var maxDiff: A.Element = 0, maxRef: A.Element = 0
    for (x, y) in zip(a, b) {
        guard x.isFinite, y.isFinite else { return .infinity }
        let d = abs(x - y)
        if d > maxDiff { maxDiff = d }
        if abs(y) > maxRef { maxRef = abs(y) }
    }
    return maxDiff / max(maxRef, floor)
}

/// max |x| over all elements; +inf when any is not finite (0 for an empty collection).
@inlinable public func maxMagnitude<A: Sequence>(_ a: A) -> A.Element where A.Element: BinaryFloatingPoint {
    var m: A.Element = 0
    for x in a {
        guard x.isFinite else { return .infinity }
        if abs(x) > m { m = abs(x) }
    }
    return m
}

/// The largest element, or +inf when any element is not finite; nil for an empty collection.
@inlinable public func finiteMaximum<A: Sequence>(_ a: A) -> A.Element? where A.Element: BinaryFloatingPoint {
    var m: A.Element? = nil
    for x in a {
        guard x.isFinite else { return .infinity }
        if m == nil || x > m! { m = x }
    }
    return m
}

/// The smallest element, or −inf when any element is not finite; nil for an empty collection.
@inlinable public func finiteMinimum<A: Sequence>(_ a: A) -> A.Element? where A.Element: BinaryFloatingPoint {
    var m: A.Element? = nil
    for x in a {
        guard x.isFinite else { return -.infinity }
        if m == nil || x < m! { m = x }
    }
    return m
}
