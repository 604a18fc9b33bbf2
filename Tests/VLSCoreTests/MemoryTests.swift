import Foundation
import XCTest
@testable import VLSCore

/// Key-value memory statistics against a PyTorch implementation of method.md section 3
/// (Scripts/fixtures_memories.py): agreement counts per class, CLS agreement per image,
/// compositionality, for MLP and attention memories of every block.
final class MemoryTests: XCTestCase {
    func testAgreementAndCompositionalityMatchTorch() throws {
        let folder = Fixtures.model("standard")
        let m = try ViT(path: folder)
        let input = try SafetensorsFile(path: folder + "/metrics_input.safetensors")
        let labels = try input.tensor("labels").scalars.map { Int($0) }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/memories.json"))) as! [String: Any]
        let collector = try MemoryCollector(model: m, k: json["k"] as! Int, seed: 0)
        try collector.add(images: try input.tensor("images"), labels: labels)
        let s = collector.stats
        for (kd, kind) in ["mlp", "attn"].enumerated() {
            let blocks = json[kind] as! [[String: Any]]
            XCTAssertEqual(blocks.count, m.config.depth)
            for (b, ref) in blocks.enumerated() {
                XCTAssertEqual(s.agree[kd][b], ref["agree"] as! [Int], "\(kind) block \(b) agreement")
                XCTAssertEqual(s.tokens[kd][b], ref["tokens"] as! [Int], "\(kind) block \(b) tokens")
                XCTAssertEqual(s.clsAgree[kd][b].map(Int.init), ref["cls_agree"] as! [Int], "\(kind) block \(b) CLS agreement")
                XCTAssertEqual(s.composed[kd][b], ref["composed"] as! Int, "\(kind) block \(b) compositionality")
                XCTAssertEqual(s.composedTotal[kd][b], ref["composed_total"] as! Int)
            }
        }
        XCTAssertGreaterThan(s.agree.flatMap { $0.flatMap { $0 } }.reduce(0, +), 0, "the fixture exercises agreement")
    }
}
