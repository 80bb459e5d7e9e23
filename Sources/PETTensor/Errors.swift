import Foundation
// Typed errors of the compute core. Every message names the operation and the shapes involved, so a
// user can tell which layer of a model is wrong without a debugger.

public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// An operation received shapes it cannot combine.
    case shapeMismatch(op: String, detail: String)
    /// A size or parameter is zero, negative or otherwise out of range.
    case invalidArgument(op: String, detail: String)
    /// An allocation would exceed the memory budget set by the user.
    case overBudget(what: String, requestedBytes: Int, inUseBytes: Int, budgetBytes: Int)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, detail): return "\(op): shape mismatch: \(detail)"
        case let .invalidArgument(op, detail): return "\(op): invalid argument: \(detail)"
        case let .overBudget(what, req, used, budget):
            let need = used + req
            return "\(what): needs \(formatBytes(req)) more while \(formatBytes(used)) are in use, "
                + "over the memory budget of \(formatBytes(budget)); a budget of at least "
                + "\(formatBytes(need)) would work (--memory-budget \(Int((Double(need) / 1_048_576).rounded(.up)))MB)"
        }
    }
}

/// Formats a byte count the way users read it (MB with one decimal, binary megabytes).
public func formatBytes(_ bytes: Int) -> String {
    let mb = Double(bytes) / 1_048_576
    if mb >= 1024 { return String(format: "%.2f GB", mb / 1024) }
    return String(format: "%.1f MB", mb)
}

/// Renders a shape as `[4, 64, 32, 32, 32]`.
@inlinable public func shapeString(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }
