import Foundation
import XCTest
@testable import PETVolumes

/// Parses the JSON object a Python script printed on its last line.
func jsonObject(_ text: String) throws -> [String: Any] {
    let last = text.split(separator: "\n").last.map(String.init) ?? ""
    return try JSONSerialization.jsonObject(with: Data(last.utf8)) as! [String: Any]
}

/// Same world content with the x axis stored reversed (RAS → LAS).
func flipX(_ v: Volume) -> Volume {
    var r = v
    let g = v.gridShape
    for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<g.nx { r[i, j, k] = v[g.nx - 1 - i, j, k] } } }
    r.affine = v.affine * Affine([-1, 0, 0, Double(g.nx - 1), 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
    return r
}
