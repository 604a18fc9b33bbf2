import Foundation
import XCTest
@testable import VLSCore

/// Key-value memory statistics against a PyTorch implementation of Docs/method.md#key-value-memories
/// (Scripts/fixtures_memories.py), in both modes: agreement counts per class with the
/// random-class baseline fed numpy's draws, CLS agreement per image, compositionality by
/// token group (correct) and pooled over every token (paper, the authors' definition), and
/// class-value agreement, for MLP and attention memories of every block.
final class MemoryTests: XCTestCase {
    /// Fixture variants with a memories.json: CLS, GAP pre- and post-norm, registers,
    /// layer scale, distillation token.
    static let variants = ["standard", "gap", "rpn", "registers", "deit3", "distilled"]

    func reference(_ name: String) throws -> (model: ViT, images: Tensor, labels: [Int], json: [String: Any]) {
        let folder = Fixtures.model(name)
        let m = try ViT(path: folder)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/memories.json"))) as! [String: Any]
        let labels = json["labels"] as! [Int]
        let images: Tensor
        if json["input"] as! String == "metrics_input" {
            images = try SafetensorsFile(path: folder + "/metrics_input.safetensors").tensor("images")
        } else {
            images = try SafetensorsFile(path: folder + "/reference.safetensors").tensor("input")
        }
        XCTAssertEqual(images.shape[0], labels.count)
        return (m, images, labels, json)
    }

    func testAgreementAndCompositionalityMatchTorchInBothModes() throws {
        for name in Self.variants {
            let (m, images, labels, json) = try reference(name)
            let draws = json["random_classes"] as! [Int]
            for mode in MemoryMode.allCases {
                let collector = try MemoryCollector(model: m, k: json["k"] as! Int, seed: 0, randomClasses: draws, mode: mode)
                try collector.add(images: images, labels: labels)
                let s = collector.stats
                XCTAssertEqual(s.randomClass, draws)
                XCTAssertEqual(s.correct.map(Int.init), json["correct_predictions"] as! [Int], "\(name) predictions")
                let ref = json[mode.rawValue] as! [String: Any]
                for (kd, kind) in MemoryKind.allCases.enumerated() {
                    let blocks = ref[kind.rawValue] as! [[String: Any]]
                    XCTAssertEqual(blocks.count, m.config.depth)
                    for (b, r) in blocks.enumerated() {
                        let at = "\(name) \(mode) \(kind) block \(b)"
                        XCTAssertEqual(s.agree[kd][b], r["agree"] as! [Int], "\(at) agreement")
                        XCTAssertEqual(s.agreeRandom[kd][b], r["agree_random"] as! [Int], "\(at) random-class agreement (numpy's draws)")
                        XCTAssertEqual(s.tokens[kd][b], r["tokens"] as! [Int], "\(at) tokens")
                        XCTAssertEqual(s.clsAgree[kd][b].map(Int.init), r["cls_agree"] as! [Int], "\(at) CLS agreement")
                        let composed = r["composed"] as! [String: Int], total = r["composed_total"] as! [String: Int]
                        for (group, key) in [(MemoryTokenGroup.cls, "cls"), (.image, "image"), (.otherPrefix, "other")] {
                            XCTAssertEqual(s.composed[kd][b][group.rawValue], composed[key], "\(at) compositionality, \(key) tokens")
                            XCTAssertEqual(s.composedTotal[kd][b][group.rawValue], total[key], "\(at) \(key) tokens counted")
                        }
                        if mode == .paper {
                            // The authors' figure: one percentage over every token of every image.
                            let pooled = try XCTUnwrap(s.compositionality(kind, block: b))
                            XCTAssertEqual(pooled, r["composed_pooled_percent"] as! Double, accuracy: 1e-4, "\(at) pooled %")
                        }
                    }
                }
                // Class-value agreement (cosines) of the same values and head.
                let cva = ref["class_value_agreement"] as! [String: [[Double]]]
                for kind in MemoryKind.allCases {
                    for b in 0..<m.config.depth {
                        let got = try m.classValueAgreement(kind, block: b, mode: mode).scalars.map(Double.init)
                        let want = cva[kind.rawValue]![b]
                        XCTAssertEqual(got.count, want.count)
                        for (g, w) in zip(got, want) { XCTAssertEqual(g, w, accuracy: 1e-5, "\(name) \(mode) \(kind) block \(b) class-value agreement") }
                    }
                }
            }
        }
    }

    /// Where the two definitions must differ, they do: layer scale (values and the sublayer
    /// output change), the distillation head, prefix tokens pooled in the paper's figure.
    func testModesDifferWhereTheDefinitionsDo() throws {
        for name in ["deit3", "distilled"] {
            let (m, _, _, json) = try reference(name)
            let correct = json["correct"] as! [String: Any], paper = json["paper"] as! [String: Any]
            let c = (correct["mlp"] as! [[String: Any]]).map { $0["composed"] as! [String: Int] }
            let p = (paper["mlp"] as! [[String: Any]]).map { $0["composed"] as! [String: Int] }
            XCTAssertNotEqual(c, p, "\(name): the fixture separates the two modes")
            XCTAssertNotEqual(try m.valueProjection(.mlp, block: 0, mode: .correct).scalars,
                              try m.valueProjection(.mlp, block: 0, mode: .paper).scalars)
        }
        let std = try ViT(path: Fixtures.model("standard"))
        XCTAssertEqual(try std.valueProjection(.attn, block: 1, mode: .correct).scalars,
                       try std.valueProjection(.attn, block: 1, mode: .paper).scalars, "no layer scale, one head: same values")
        // deit3: value j in correct mode is gamma ⊙ column j.
        let d3 = try ViT(path: Fixtures.model("deit3"))
        let raw = d3.memoryValues(.mlp, block: 1, mode: .paper), scaled = d3.memoryValues(.mlp, block: 1, mode: .correct)
        let gamma = try XCTUnwrap(d3.weights.blocks[1].ls2)
        XCTAssertEqual(scaled.item([3, 7]), raw.item([3, 7]) * gamma.item([3]))
    }

    func testSeededDrawsAreUsedWhenNoneAreGivenAndMergeExactly() throws {
        let (m, images, labels, _) = try reference("standard")
        let whole = try MemoryCollector(model: m, seed: 5, mode: .correct)
        try whole.add(images: images, labels: labels)
        XCTAssertEqual(whole.stats.randomClass, MemoryCollector.randomClasses(classes: 10, seed: 5))
        let a = try MemoryCollector(model: m, seed: 5), b = try MemoryCollector(model: m, seed: 5)
        try a.add(images: images.narrowed(axis: 0, start: 0, count: 4).contiguous(), labels: Array(labels[0..<4]))
        try b.add(images: images.narrowed(axis: 0, start: 4, count: 2).contiguous(), labels: Array(labels[4...]))
        var merged = a.stats
        try merged.merge(b.stats)
        XCTAssertEqual(merged.agreeRandom, whole.stats.agreeRandom)
        XCTAssertEqual(merged.composed, whole.stats.composed)
        XCTAssertEqual(merged.composedTotal, whole.stats.composedTotal)
        let other = try MemoryCollector(model: m, seed: 0, mode: .paper)
        XCTAssertThrowsError(try merged.merge(other.stats), "different modes or draws do not merge")
    }

    func testRandomClassesAreValidated() throws {
        let m = try ViT(path: Fixtures.model("standard"))
        XCTAssertThrowsError(try MemoryCollector(model: m, seed: 0, randomClasses: [1, 2, 3])) { e in
            XCTAssertTrue("\(e)".contains("one class per class of the model (10), got 3"), "\(e)")
        }
        XCTAssertThrowsError(try MemoryCollector(model: m, seed: 0, randomClasses: [0, 1, 2, 3, 4, 5, 6, 7, 8, 10])) { e in
            XCTAssertTrue("\(e)".contains("random_classes[9] = 10 is not a class"), "\(e)")
        }
        XCTAssertThrowsError(try MemoryCollector(model: m, seed: 0, randomClasses: [-1, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
    }

    /// vls's own draws are not numpy's, so they are checked statistically: over many seeds
    /// the classes are uniform (chi-square, 9 degrees of freedom, below the 0.1% critical
    /// value 27.88) and a draw equals its own class about 1/C of the time.
    func testSeededRandomClassesAreUniform() {
        let C = 10, seeds = 2000
        var counts = [Int](repeating: 0, count: C), same = 0
        for seed in 0..<seeds {
            let rc = MemoryCollector.randomClasses(classes: C, seed: UInt64(seed))
            XCTAssertEqual(rc.count, C)
            for (c, r) in rc.enumerated() {
                counts[r] += 1
                if r == c { same += 1 }
            }
        }
        let n = Double(C * seeds), expected = n / Double(C)
        let chi2 = counts.map { (Double($0) - expected) * (Double($0) - expected) / expected }.reduce(0, +)
        print("random classes: chi-square \(chi2) over \(C * seeds) draws, equal to the own class \(Double(same) / n)")
        XCTAssertLessThan(chi2, 27.88)
        // Binomial(n, 1/C): standard deviation sqrt(n p (1 - p)) = 42.4 draws; allow 4 sd.
        XCTAssertEqual(Double(same), n / Double(C), accuracy: 4 * (n * 0.1 * 0.9).squareRoot())
        XCTAssertNotEqual(MemoryCollector.randomClasses(classes: C, seed: 1), MemoryCollector.randomClasses(classes: C, seed: 2))
    }
}
