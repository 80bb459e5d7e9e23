// The value types of the command line's options: parsed once, where the option is read, into what
// the commands use (no command re-parses a string). A value that does not parse is one
// `petgan: error: The value '…' is invalid for '--option <…>': reason` line (see PETGAN.main).
import ArgumentParser
import PETModels
import PETTensor
import PETVolumes

/// Why an option's value did not parse; ArgumentParser prints it after the option's name.
struct ArgumentFormatError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A size in bytes as users write it: `512MB`, `4GB`, `1.5G`, `64KB`, `800M`; a bare number is MB
/// in every command (`--memory-budget 512` is 512 MB).
struct ByteSize: ExpressibleByArgument, Equatable, CustomStringConvertible {
    var bytes: Int

    init(bytes: Int) { self.bytes = bytes }
    static func megabytes(_ n: Int) -> ByteSize { ByteSize(bytes: n << 20) }

    /// Nil for anything but a positive size below an exabyte (larger ones would overflow Int).
    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces)
        let number = text.prefix { "0123456789.eE+-".contains($0) }
        let unit = text.dropFirst(number.count).uppercased()
        let multiplier: Double = unit.isEmpty || unit.hasPrefix("M") ? 1_048_576 : unit.hasPrefix("G") ? 1_073_741_824 : unit.hasPrefix("K") ? 1024 : 1
        guard let value = Double(number), value > 0, value * multiplier < 1e18 else { return nil }
        if number.count == text.count {
            bytes = Int(value * 1_048_576)
        } else {
            guard let b = parseByteSize(text) else { return nil }
            bytes = b
        }
        guard bytes > 0 else { return nil }
    }

    /// The parser of `@Option(transform:)`: the reason in the error names the accepted forms.
    static func parse(_ text: String) throws -> ByteSize {
        guard let s = ByteSize(argument: text) else {
            throw ArgumentFormatError("not a size like 512MB, 4GB or 64KB (a bare number is MB)")
        }
        return s
    }

    var megabytes: Int { bytes >> 20 }

    /// "4GB", "512MB", else bytes with a unit of KB or B (how defaults show in --help).
    var description: String {
        if bytes % (1 << 30) == 0 { return "\(bytes >> 30)GB" }
        if bytes % (1 << 20) == 0 { return "\(bytes >> 20)MB" }
        if bytes % (1 << 10) == 0 { return "\(bytes >> 10)KB" }
        return "\(bytes)B"
    }
    var defaultValueDescription: String { description }
}

/// Three grid sides as the user wrote them, "AxBxC" (or A×B×C, A,B,C, or one N for a cube). What
/// the sides mean (x×y×z in NIfTI order, or D×H×W) is the option's; each command checks its own
/// ranges (multiples of 16, 8…1024 …) in `validate()`.
struct GridSides: ExpressibleByArgument, Equatable, CustomStringConvertible {
    var sides: [Int]

    init(_ a: Int, _ b: Int, _ c: Int) { sides = [a, b, c] }
    /// "AxBxC" (x, × or comma between) or one N; an empty side ("3x") is not a grid.
    init?(argument: String) {
        let parts = argument.lowercased().split(omittingEmptySubsequences: false, whereSeparator: { $0 == "x" || $0 == "×" || $0 == "," })
            .map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 1 || parts.count == 3, parts.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        let v = parts.map { $0! }
        sides = v.count == 1 ? [v[0], v[0], v[0]] : v
    }

    static func parse(_ text: String) throws -> GridSides {
        guard let g = GridSides(argument: text) else {
            throw ArgumentFormatError("not a grid AxBxC of positive sides, e.g. 96x112x96")
        }
        return g
    }

    /// A comma-separated list of grids, "64x64x64,128x128x128".
    static func parseList(_ text: String) throws -> [GridSides] {
        let items = text.split(separator: ",").map(String.init)
        guard !items.isEmpty else { throw ArgumentFormatError("no grid given") }
        return try items.map { item in
            guard let g = GridSides(argument: item), item.lowercased().contains("x") || item.contains("×") else {
                throw ArgumentFormatError("'\(item)' is not a grid AxBxC of positive sides")
            }
            return g
        }
    }

    /// The sides read as NIfTI x×y×z.
    var niftiShape: GridShape { GridShape(nx: sides[0], ny: sides[1], nz: sides[2]) }
    var description: String { sides.map(String.init).joined(separator: "x") }
    var defaultValueDescription: String { description }
    func allSides(_ condition: (Int) -> Bool) -> Bool { sides.allSatisfy(condition) }
}

/// One case of `bench memory --train-cases`: "GRID:BUDGET", e.g. 96x112x96:4GB.
struct GridBudget: CustomStringConvertible {
    var grid: GridSides
    var budget: ByteSize

    static func parseList(_ text: String) throws -> [GridBudget] {
        try text.split(separator: ",").map { pair in
            let parts = pair.split(separator: ":").map(String.init)
            guard parts.count == 2, let g = GridSides(argument: parts[0]), let b = ByteSize(argument: parts[1]) else {
                throw ArgumentFormatError("'\(pair)' must be grid:budget, e.g. 96x112x96:4GB")
            }
            return GridBudget(grid: g, budget: b)
        }
    }
    var description: String { "\(grid):\(budget)" }
}

/// "2" or "2x2x2.5": a voxel size in mm (x×y×z), positive.
struct VoxelSize: ExpressibleByArgument, CustomStringConvertible {
    var x: Double, y: Double, z: Double
    let text: String

    init(isotropic mm: Double) { (x, y, z) = (mm, mm, mm); text = String(format: "%g", mm) }
    init?(argument: String) {
        let p = argument.lowercased().split(whereSeparator: { $0 == "x" || $0 == "," }).map { Double($0) }
        if p.count == 1, let a = p[0], a > 0 { (x, y, z) = (a, a, a) } else {
            guard p.count == 3, let a = p[0], let b = p[1], let c = p[2], a > 0, b > 0, c > 0 else { return nil }
            (x, y, z) = (a, b, c)
        }
        text = argument
    }
    static func parse(_ text: String) throws -> VoxelSize {
        guard let v = VoxelSize(argument: text) else { throw ArgumentFormatError("must be a positive number or x×y×z mm") }
        return v
    }
    var millimetres: (Double, Double, Double) { (x, y, z) }
    var description: String { text }
}

/// A comma-separated list of positive integers ("50,200", "256,128,64,32").
struct PositiveIntegers: CustomStringConvertible {
    var values: [Int]
    static func parse(_ text: String) throws -> PositiveIntegers {
        let v = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ ($0 ?? 0) > 0 }) else { throw ArgumentFormatError("must be positive integers, comma-separated") }
        return PositiveIntegers(values: v.map { $0! })
    }
    var description: String { values.map(String.init).joined(separator: ",") }
}

/// "lo:hi" in mm (a world z range), e.g. -24:56; write `--option=-24:56` when lo is negative.
struct MillimetreRange: CustomStringConvertible {
    var low: Double, high: Double
    static func parse(_ text: String) throws -> MillimetreRange {
        let v = text.split(separator: ":", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard v.count == 2, let lo = v[0], let hi = v[1] else { throw ArgumentFormatError("must be lo:hi in mm, e.g. --slice-range=-24:56") }
        return MillimetreRange(low: lo, high: hi)
    }
    var values: [Double] { [low, high] }
    var description: String { "\(low.formatted()):\(high.formatted())" }
}

extension Double {
    /// "-24" for whole numbers, else the shortest form.
    fileprivate func formatted() -> String { self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}

/// Comma-separated seeds, e.g. 1,2,3.
struct SeedList: CustomStringConvertible {
    var seeds: [UInt64]
    static func parse(_ text: String) throws -> SeedList {
        let s = text.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        guard !s.isEmpty, s.allSatisfy({ $0 != nil }) else { throw ArgumentFormatError("must be comma-separated integers") }
        return SeedList(seeds: s.map { $0! })
    }
    var description: String { seeds.map(String.init).joined(separator: ",") }
}

// `--model`: PETModels' enum parsed by its raw values, which --help and the error for a value that is
// not one of them list (a new model case appears in both with no edit here).
extension ModelKind: ExpressibleByArgument {}
