import XCTest
@testable import VLSCore

/// Ridge probes against scikit-learn's Ridge(solver="cholesky") (Scripts/fixtures_probes.py).
final class ProbeTests: XCTestCase {
    func testRidgeMatchesScikitLearn() throws {
        let f = try SafetensorsFile(path: Fixtures.root + "/probes.safetensors")
        let x = try f.tensor("x"), labels = try f.tensor("labels").scalars.map { Int($0) }
        for alpha in ["1", "10"] {
            var stats = RidgeStats(width: x.shape[1], classes: 5)
            // two streamed chunks
            stats.add(x.pointer, rows: 25, rowStride: x.shape[1], labels: Array(labels[0..<25]))
            stats.add(x.pointer + 25 * x.shape[1], rows: 15, rowStride: x.shape[1], labels: Array(labels[25...]))
            let p = try stats.solve(alpha: Double(alpha)!)
            let ew = relativeError(p.weight, try f.tensor("alpha\(alpha).weight"))
            let eb = relativeError(p.bias, try f.tensor("alpha\(alpha).bias"))
            print("ridge alpha \(alpha): weight max rel. error \(ew), intercept \(eb)")
            XCTAssertLessThan(ew, 1e-4)
            XCTAssertLessThan(eb, 1e-4)
        }
        XCTAssertThrowsError(try RidgeStats(width: 3, classes: 2).solve(alpha: 1))
    }
}
