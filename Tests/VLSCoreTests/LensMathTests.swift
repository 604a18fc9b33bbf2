import XCTest
@testable import VLSCore

/// Ranks and top-k against the definitions written out naively, with many ties.
final class LensMathTests: XCTestCase {
    /// Logits drawn from a few values, so ties are everywhere.
    func tiedLogits(rows: Int, classes: Int, seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor((0..<(rows * classes)).map { _ in Float(g.next() % 7) - 3 }, shape: [rows, classes])
    }

    func testTopkIsAStableDescendingSortsPrefix() throws {
        let saved = Threads.count
        defer { Threads.set(saved) }
        for workers in [1, 2] {
            Threads.set(workers)
            let rows = 300, C = 40
            let x = tiedLogits(rows: rows, classes: C, seed: 5)
            for k in [1, 3, 5, 16, 17, 40] {
                let (idx, val) = try LensMath.topk(x, k: k)
                XCTAssertEqual(idx.shape, [rows, k])
                for r in 0..<rows {
                    let row = (0..<C).map { x.item([r, $0]) }
                    let expected = (0..<C).sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k)
                    XCTAssertEqual((0..<k).map { Int(idx.item([r, $0])) }, Array(expected), "row \(r), k \(k)")
                    XCTAssertEqual((0..<k).map { val.item([r, $0]) }, expected.map { row[$0] }, "row \(r), k \(k)")
                }
            }
        }
    }

    func testRanksAreStrictCounts() throws {
        let rows = 500, C = 30
        let x = tiedLogits(rows: rows, classes: C, seed: 9)
        let classes = Tensor((0..<rows).map { Float($0 % C) }, shape: [rows])
        let r = try LensMath.ranks(x, classes: classes)
        for i in 0..<rows {
            let v = x.item([i, i % C])
            XCTAssertEqual(Int(r.item([i])), (0..<C).filter { x.item([i, $0]) > v }.count)
        }
        XCTAssertThrowsError(try LensMath.ranks(x, classes: Tensor([Float](repeating: 30, count: rows), shape: [rows])))
        XCTAssertThrowsError(try LensMath.ranks(x, classes: Tensor([Float](repeating: 1.5, count: rows), shape: [rows])))
        XCTAssertThrowsError(try LensMath.ranks(x, classes: Tensor([Float](repeating: .nan, count: rows), shape: [rows])))
    }
}
