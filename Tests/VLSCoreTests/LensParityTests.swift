import Foundation
import XCTest
@testable import VLSCore

/// Edits, the lens and the metrics M1-M6 against timm/PyTorch/scipy references
/// (Scripts/fixtures_lens.py) on the standard (CLS) and GAP fixture models.
final class LensParityTests: XCTestCase {
    static let tolerance: Float = 1e-4

    func edits(_ m: ViT, _ x: Tensor, _ x2: Tensor) throws -> [String: [Edit]] {
        let c = m.config, p = c.numPrefixTokens
        let patchSource = try m.run(x2, capture: [HookPoint(.residPost, block: 0)])
        let causal = Tensor((0..<(c.numTokens * c.numTokens)).map { i in Float(i % c.numTokens <= i / c.numTokens ? 1 : 0) },
                            shape: [c.numTokens, c.numTokens])
        var e: [String: [Edit]] = [
            "edit.self_only": [AttentionEdit(.selfOnly, prefixTokens: p, hasClassToken: c.classToken)],
            "edit.mask_renorm": [AttentionEdit(.mask(causal, renormalize: true), prefixTokens: p, hasClassToken: c.classToken)],
            "edit.self_only_last": [BlockSelection(blocks: [c.depth - 1], inner: AttentionEdit(.selfOnly, prefixTokens: p, hasClassToken: c.classToken))],
            "edit.drop_tokens": [DropTokens(keep: [0, 3, 5, 9], prefixTokens: p)],
            "edit.ablate_attn_out_1": [Ablation(points: [HookPoint(.attnOut, block: 1)], how: .zero, heads: nil, tokens: nil)],
            "edit.mean_ablate_mlp_out_0": [Ablation(points: [HookPoint(.mlpOut, block: 0)], how: .mean, heads: nil, tokens: nil)],
            "edit.ablate_z_heads_0": [Ablation(points: [HookPoint(.z, block: 0)], how: .zero, heads: [1, 3], tokens: nil)],
            "edit.patch_resid_post_0": [Patch(points: [HookPoint(.residPost, block: 0)], source: patchSource)],
        ]
        if c.classToken { e["edit.no_cls"] = [AttentionEdit(.noCls, prefixTokens: p, hasClassToken: true)] }
        return e
    }

    func testEditsAndLensMatchTimm() throws {
        for name in ["standard", "gap"] {
            let folder = Fixtures.model(name)
            let m = try ViT(path: folder)
            let ref = try SafetensorsFile(path: folder + "/edits.safetensors")
            let x = try SafetensorsFile(path: folder + "/reference.safetensors").tensor("input")
            let x2 = try ref.tensor("edit.input2")
            let all = try edits(m, x, x2)
            XCTAssertEqual(Set(all.keys), Set(ref.names.filter { $0.hasPrefix("edit.") && $0 != "edit.input2" }), "\(name): every reference edit is tested")
            for (key, e) in all.sorted(by: { $0.key < $1.key }) {
                let got = try m.run(x, capture: [], edits: e).logits
                let err = relativeError(got, try ref.tensor(key))
                print("edit parity \(name) \(key): max relative error \(err)")
                XCTAssertLessThan(err, Self.tolerance, "\(name) \(key)")
            }
            let points = (0..<m.config.depth).map { HookPoint(.residPost, block: $0) }
            let run = try m.run(x, capture: points)
            let lens = try m.project(try Tensor.stack(points.map { run.captured[$0]! }))
            let err = relativeError(lens, try ref.tensor("lens.resid_post"))
            print("lens parity \(name): max relative error \(err)")
            XCTAssertLessThan(err, Self.tolerance)
        }
    }

    /// `lens(run, layers:)` (resid_post from the sublayers' running sum) and `lensRanks`
    /// against timm's lens of resid_post and against `project` / `ranks` of every layer, on
    /// every fixture variant (layer scale, post-norm, registers, distilled heads, GAP).
    func testRunLensMatchesTimmAndProject() throws {
        let kinds: [HookPoint.Kind] = [.residPost, .attnOut, .mlpOut, .residPre, .residMid]
        for name in ["standard", "gap", "gap_norm", "rpn", "miil", "registers", "deit3", "distilled", "clip_quickgelu"] {
            let folder = Fixtures.model(name)
            let m = try ViT(path: folder)
            let c = m.config
            let x = try SafetensorsFile(path: folder + "/reference.safetensors").tensor("input")
            let points: [HookPoint] = kinds.flatMap { k -> [HookPoint] in (0..<c.depth).map { HookPoint(k, block: $0) } }
            let run = try m.run(x, capture: points)
            let post = (0..<c.depth).map { HookPoint(.residPost, block: $0) }
            for l in 1..<c.depth {
                XCTAssertTrue(ViT.residualSumHolds(post: run.captured[post[l]]!, prev: run.captured[post[l - 1]]!,
                                                   attn: run.captured[HookPoint(.attnOut, block: l)]!,
                                                   mlp: run.captured[HookPoint(.mlpOut, block: l)]!), "\(name): the derived path is taken at block \(l)")
            }
            let heads: [ViT.HeadChoice] = c.distilled ? [.mean, .cls, .dist] : [.mean]
            for head in heads {
                let lens = try m.lens(run, layers: kinds, head: head)
                if head == .mean, name == "standard" || name == "gap" {
                    let ref = try SafetensorsFile(path: folder + "/edits.safetensors").tensor("lens.resid_post")
                    let err = relativeError(lens[.residPost]!, ref)
                    print("run lens parity \(name) vs timm: resid_post max relative error \(err)")
                    XCTAssertLessThan(err, Self.tolerance)
                }
                let classes = Tensor((0..<(x.shape[0] * run.tokens)).map { Float(($0 * 7) % c.numClasses) }, shape: [x.shape[0], run.tokens])
                let ranks = try m.lensRanks(run, layers: kinds, classes: classes, head: head)
                for k in kinds {
                    let direct = try m.project(try run.activation(k.shortName), head: head)
                    let err = relativeError(lens[k]!, direct)
                    XCTAssertLessThan(err, 1e-5, "\(name) \(head) \(k.shortName)")
                    let want = try LensMath.ranks(direct, classes: classes)
                    XCTAssertEqual(ranks[k]!.shape, want.shape)
                    XCTAssertEqual(ranks[k]!.scalars, want.scalars, "\(name) \(head) \(k.shortName) ranks")
                }
            }
        }
    }

    /// An edit between blocks breaks resid_post[l] = resid_post[l-1] + attn_out[l] + mlp_out[l]
    /// for the captures: that block is detected and projected directly; results still equal
    /// `project`, including the blocks after it.
    func testRunLensFallsBackWhereAnEditBreaksTheResidualSum() throws {
        let m = try ViT(path: Fixtures.model("standard"))
        let x = try SafetensorsFile(path: Fixtures.model("standard") + "/reference.safetensors").tensor("input")
        let kinds: [HookPoint.Kind] = [.residPost, .attnOut, .mlpOut]
        let points: [HookPoint] = kinds.flatMap { k -> [HookPoint] in (0..<3).map { HookPoint(k, block: $0) } }
        let edit = Ablation(points: [HookPoint(.residPre, block: 1)], how: .zero, heads: nil, tokens: nil)
        let run = try m.run(x, capture: points, edits: [edit])
        XCTAssertFalse(ViT.residualSumHolds(post: run.captured[HookPoint(.residPost, block: 1)]!, prev: run.captured[HookPoint(.residPost, block: 0)]!,
                                            attn: run.captured[HookPoint(.attnOut, block: 1)]!, mlp: run.captured[HookPoint(.mlpOut, block: 1)]!))
        let lens = try m.lens(run, layers: kinds)
        for k in kinds {
            XCTAssertLessThan(relativeError(lens[k]!, try m.project(try run.activation(k.shortName))), 1e-5, k.shortName)
        }
        XCTAssertThrowsError(try m.lens(run, layers: [.z])) { e in
            XCTAssertTrue("\(e)".contains("not a residual-space layer"), "\(e)")
        }
        XCTAssertThrowsError(try m.lens(run, layers: [.residMid])) { e in
            XCTAssertTrue("\(e)".contains("was not captured"), "\(e)")
        }
    }

    func testMetricsMatchNumpyDefinitions() throws {
        for name in ["standard", "gap"] {
            let folder = Fixtures.model(name)
            let m = try ViT(path: folder)
            let input = try SafetensorsFile(path: folder + "/metrics_input.safetensors")
            let images = try input.tensor("images")
            let labels = try input.tensor("labels").scalars.map { Int($0) }
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/metrics.json"))) as! [String: Any]
            for mode in [MetricsMode.correct, .paper] {
                let ref = json[mode.rawValue] as! [String: Any]
                let rows = ref["rows"] as! [[String: Any]]
                // Two batches, merged, must equal one pass.
                let a = MetricsCollector(model: m, mode: mode), b = MetricsCollector(model: m, mode: mode)
                try a.add(images: images.narrowed(axis: 0, start: 0, count: 4).contiguous(), labels: Array(labels[0..<4]))
                try b.add(images: images.narrowed(axis: 0, start: 4, count: 2).contiguous(), labels: Array(labels[4...]))
                var merged = a.metrics
                try merged.merge(b.metrics)
                let whole = MetricsCollector(model: m, mode: mode)
                try whole.add(images: images, labels: labels)
                XCTAssertEqual(merged.identifiableTokens, whole.metrics.identifiableTokens)
                XCTAssertEqual(merged.m6Prev, whole.metrics.m6Prev)
                XCTAssertEqual(merged.accuracy, ref["accuracy"] as! Double, accuracy: 1e-9, "\(name) \(mode) accuracy")
                let (cols, got) = merged.rows()
                for (b, row) in rows.enumerated() {
                    for (key, value) in row {
                        guard let want = value as? Double, let ci = cols.firstIndex(of: key) else { continue }
                        guard let have = got[b][ci] else { XCTFail("\(name) \(mode) block \(b + 1) \(key): missing"); continue }
                        XCTAssertEqual(have, want, accuracy: 1e-6, "\(name) \(mode) block \(b + 1) \(key)")
                    }
                }
            }
        }
    }

    func testWilcoxonMatchesScipy() throws {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.model("standard") + "/metrics.json"))) as! [String: Any]
        let cases = json["wilcoxon"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 9)
        for c in cases {
            let r = try Stats.wilcoxon(c["a"] as! [Double], c["b"] as! [Double], alternative: c["alternative"] as! String)
            XCTAssertEqual(r.statistic, c["statistic"] as! Double, accuracy: 1e-9)
            XCTAssertEqual(r.pValue, c["p"] as! Double, accuracy: 1e-9, "\(c["alternative"]!)")
        }
    }

    func testRandomizedIsSeededAndTimmLike() throws {
        let m = try ViT(path: Fixtures.model("standard"))
        let a = m.randomized(seed: 3), b = m.randomized(seed: 3), c = m.randomized(seed: 4)
        XCTAssertEqual(a.weights.blocks[0].qkv.weight.scalars, b.weights.blocks[0].qkv.weight.scalars)
        XCTAssertNotEqual(a.weights.blocks[0].qkv.weight.scalars, c.weights.blocks[0].qkv.weight.scalars)
        let w = a.weights.blocks[1].fc1.weight.scalars.map(Double.init)
        let mean = w.reduce(0, +) / Double(w.count)
        let std = (w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(w.count)).squareRoot()
        XCTAssertEqual(std, 0.02, accuracy: 0.002, "timm's trunc_normal(std=0.02)")
        XCTAssertEqual(a.weights.blocks[0].norm1.weight.scalars, [Float](repeating: 1, count: 32))
        XCTAssertEqual(a.weights.head.bias!.scalars, [Float](repeating: 0, count: 10))
    }
}
