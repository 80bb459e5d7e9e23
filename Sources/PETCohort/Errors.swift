import Foundation

/// Errors of the phantom cohort, each naming the file or parameter and the reason.
public enum PhantomError: Error, CustomStringConvertible, Equatable {
    /// A template file is missing (the set-up script was not run, or PETGAN_TEMPLATES is wrong).
    case templatesMissing(directory: String, missing: [String])
    /// A file could not be read or parsed.
    case unreadable(path: String, reason: String)
    /// A template has an unexpected shape, type or content.
    case badTemplate(path: String, reason: String)
    /// A parameter file or value is invalid.
    case invalidParameters(source: String, reason: String)
    /// The literature table of docs/phantom.md (or `--literature FILE`) is malformed.
    case badLiteratureTable(path: String, reason: String)
    /// A requested grid, class list or option is invalid.
    case invalidRequest(String)
    /// An output could not be written.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .templatesMissing(dir, missing):
            return "phantom templates missing in \(dir): \(missing.joined(separator: ", ")); run Volumes/fetch-templates.sh "
                + "(or set PETGAN_TEMPLATES / --templates to the folder holding them)"
        case let .unreadable(path, reason): return "\(path): cannot read: \(reason)"
        case let .badTemplate(path, reason): return "\(path): unexpected template: \(reason)"
        case let .invalidParameters(source, reason): return "\(source): invalid phantom parameters: \(reason)"
        case let .badLiteratureTable(path, reason): return "\(path): literature table: \(reason)"
        case let .invalidRequest(reason): return "phantom: \(reason)"
        case let .writeFailed(path, reason): return "\(path): cannot write: \(reason)"
        }
    }
}
