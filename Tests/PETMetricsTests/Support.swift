import Foundation
import XCTest
import PETTestSupport
import PETCohort
import PETTensor
import PETVolumes
@testable import PETMetrics

/// An evaluation's result as the object tree of its metrics.json (what readers of the file see).
func jsonObject(_ result: EvaluationResult) throws -> [String: Any] {
    try XCTUnwrap(try JSONSerialization.jsonObject(with: try result.jsonData()) as? [String: Any])
}
