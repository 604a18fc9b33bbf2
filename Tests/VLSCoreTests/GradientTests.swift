import Foundation
import XCTest
@testable import VLSCore

/// The backward pass and the explainers on it against PyTorch autograd through timm
/// (Scripts/fixtures_lens.py `write_grads`) on every fixture model variant: all hook points
/// on standard (pre-norm) and rpn (post-norm), the main ones on gap and distilled, pattern and
/// resid_post on the others.
final class GradientTests: XCTestCase {
    static let tolerance: Float = 1e-4
    /// Bound on max|a - b| / max(1e-4, max|ref|): the gradients of these tiny models are often
    /// far below 1, where the relative error above alone would be lenient. (The 1e-4 floor is
    /// for references that are zero up to rounding, e.g. gradient x embedding under norm_pre.)
    static let scaledTolerance: Float = 1e-4

    /// max|a - b| / max(1e-4, max|b|).
    func scaledError(_ a: Tensor, _ b: Tensor) -> Float {
        var diff: Float = 0, scale: Float = 1e-4
        for (u, v) in zip(a.scalars, b.scalars) {
            diff = max(diff, abs(u - v))
            scale = max(scale, abs(v))
        }
        return diff / scale
    }

    /// Compares within both bounds, printing the errors; `worst` keeps the largest relative one.
    func check(_ got: Tensor, _ ref: Tensor, _ label: String, worst: inout Float) {
        XCTAssertEqual(got.shape, ref.shape, "\(label): shape")
        guard got.shape == ref.shape else { return }
        let err = relativeError(got, ref), scaled = scaledError(got, ref)
        worst = max(worst, err)
        print("gradient parity \(label): max relative error \(err), scaled by max|ref| \(scaled)")
        XCTAssertLessThan(err, Self.tolerance, label)
        XCTAssertLessThan(scaled, Self.scaledTolerance, "\(label) (scaled by max|ref|)")
    }

    /// Every fixture model with a grads.safetensors (all but the hf and bare copies).
    static let models = ["standard", "gap", "gap_norm", "rpn", "miil", "registers", "deit3", "distilled", "clip_quickgelu"]
    /// Reference entries per target that are not hook points.
    static let extras: Set<String> = ["objective", "input", "chefer", "gxi_input", "gxi_tokens"]

    func testGradientsMatchAutograd() throws {
        var overall: Float = 0
        for name in Self.models {
            let folder = Fixtures.model(name)
            let m = try ViT(path: folder)
            let x = try SafetensorsFile(path: folder + "/reference.safetensors").tensor("input")
            let ref = try SafetensorsFile(path: folder + "/grads.safetensors")
            let classes = try ref.tensor("classes").scalars.map { Int($0) }
            var worst: Float = 0
            var kinds = Set<HookPoint.Kind>()
            for (key, target) in [("logit", GradTarget.logit(classes: classes)), ("ce", GradTarget.crossEntropy(classes: classes))] {
                guard ref.names.contains("\(key).input") else { continue }
                let r = try m.gradients(x, target: target, at: m.hookPoints)
                check(r.logits, try ref.tensor("logits"), "\(name) logits", worst: &worst)
                XCTAssertEqual(r.objective, try ref.tensor("\(key).objective").scalars[0], accuracy: 1e-4, "\(name) \(key) objective")
                check(r.inputGradient, try ref.tensor("\(key).input"), "\(name) \(key) input", worst: &worst)
                var compared = 0
                for entry in ref.names where entry.hasPrefix(key + ".") {
                    let rest = String(entry.dropFirst(key.count + 1))
                    if Self.extras.contains(rest) { continue }
                    guard let p = HookPoint(name: rest) else { XCTFail("\(name): reference \(entry) names no hook point"); continue }
                    check(try r.gradient(at: p), try ref.tensor(entry), "\(name) \(key) \(p.name)", worst: &worst)
                    kinds.insert(p.kind)
                    compared += 1
                }
                XCTAssertGreaterThanOrEqual(compared, 2 * m.config.depth, "\(name) \(key): hook gradients compared")
                // Explainers from the same result.
                if m.config.classToken {
                    check(try ViT.cheferRelevance(r, model: m), try ref.tensor("\(key).chefer"), "\(name) \(key) chefer", worst: &worst)
                }
                check(ViT.gradientTimesInput(r, images: x, config: m.config), try ref.tensor("\(key).gxi_input"),
                      "\(name) \(key) grad x input", worst: &worst)
                check(try ViT.gradientTimesEmbedding(r, config: m.config), try ref.tensor("\(key).gxi_tokens"),
                      "\(name) \(key) grad x embedding", worst: &worst)
            }
            print("gradient parity \(name): worst relative error \(worst) over \(kinds.map(\.shortName).sorted().joined(separator: ", "))")
            overall = max(overall, worst)
        }
        print("gradient parity: worst relative error over all models \(overall)")
    }

    func testPublicExplainers() throws {
        let folder = Fixtures.model("standard")
        let m = try ViT(path: folder)
        let x = try SafetensorsFile(path: folder + "/reference.safetensors").tensor("input")
        let ref = try SafetensorsFile(path: folder + "/grads.safetensors")
        let target = GradTarget.logit(classes: try ref.tensor("classes").scalars.map { Int($0) })
        var worst: Float = 0
        check(try m.cheferRelevance(x, target: target), try ref.tensor("logit.chefer"), "standard chefer (public)", worst: &worst)
        check(try m.gradientTimesInput(x, target: target), try ref.tensor("logit.gxi_input"), "standard grad x input (public)", worst: &worst)
        check(try m.gradientTimesEmbedding(x, target: target), try ref.tensor("logit.gxi_tokens"), "standard grad x embedding (public)", worst: &worst)
        XCTAssertEqual(try m.cheferRelevance(x, target: target).shape, [2, m.config.numPatches])
    }

    func testEditedRunsMatchAutograd() throws {
        let folder = Fixtures.model("standard")
        let m = try ViT(path: folder)
        let c = m.config, p = c.numPrefixTokens
        let x = try SafetensorsFile(path: folder + "/reference.safetensors").tensor("input")
        let ref = try SafetensorsFile(path: folder + "/grads.safetensors")
        let target = GradTarget.logit(classes: try ref.tensor("classes").scalars.map { Int($0) })
        let causal = Tensor((0..<(c.numTokens * c.numTokens)).map { i in Float(i % c.numTokens <= i / c.numTokens ? 1 : 0) },
                            shape: [c.numTokens, c.numTokens])
        let cases: [String: [Edit]] = [
            "no_cls": [AttentionEdit(.noCls, prefixTokens: p, hasClassToken: true)],
            "mask_renorm": [AttentionEdit(.mask(causal, renormalize: true), prefixTokens: p, hasClassToken: true)],
            "ablate_z_heads_tokens_1": [Ablation(points: [HookPoint(.z, block: 1)], how: .zero, heads: [1, 3], tokens: [0, 2])],
            "self_only_last": [BlockSelection(blocks: [c.depth - 1], inner: AttentionEdit(.selfOnly, prefixTokens: p, hasClassToken: true))],
            "drop_tokens": [DropTokens(keep: [0, 3, 5, 9], prefixTokens: p)],
            "mean_ablate_mlp_out_0": [Ablation(points: [HookPoint(.mlpOut, block: 0)], how: .mean, heads: nil, tokens: nil)],
            "ablate_pattern_heads_0": [Ablation(points: [HookPoint(.pattern, block: 0)], how: .zero, heads: [1, 3], tokens: nil)],
        ]
        XCTAssertEqual(Set(cases.keys), Set(ref.names.filter { $0.hasPrefix("edit.") && $0.hasSuffix(".input") }.map { String($0.dropFirst(5).dropLast(6)) }),
                       "every reference edit is tested")
        var worst: Float = 0
        let resid = (0..<c.depth).map { HookPoint(.residPost, block: $0) }
        for (key, edits) in cases.sorted(by: { $0.key < $1.key }) {
            let r = try m.gradients(x, target: target, at: resid, edits: edits)
            check(r.logits, try ref.tensor("edit.\(key).logits"), "edit \(key) logits", worst: &worst)
            // The tape forward agrees with the fast forward under the same edits.
            check(r.logits, try m.run(x, capture: [], edits: edits).logits, "edit \(key) logits vs run", worst: &worst)
            check(r.inputGradient, try ref.tensor("edit.\(key).input"), "edit \(key) input", worst: &worst)
            for q in resid {
                check(try r.gradient(at: q), try ref.tensor("edit.\(key).\(q.name)"), "edit \(key) \(q.name)", worst: &worst)
            }
        }
        print("gradient parity edits: worst relative error \(worst)")
    }

    /// Gradients run the model's one forward with a record: with every pattern and mlp.hook_pre
    /// captured (so the fast path also materialises attention and runs fc1 unfused) the
    /// logits agree bit for bit, on every variant, with and without edits.
    func testGradientsRunTheOneForward() throws {
        for name in Self.models {
            let m = try ViT(path: Fixtures.model(name))
            let c = m.config
            let x = try SafetensorsFile(path: Fixtures.model(name) + "/reference.safetensors").tensor("input")
            let B = x.shape[0]
            let target = GradTarget.logit(classes: (0..<B).map { $0 % c.numClasses })
            let forced = (0..<c.depth).flatMap { [HookPoint(.pattern, block: $0), HookPoint(.mlpPre, block: $0)] }
            let editSets: [[Edit]] = [[], [Ablation(points: [HookPoint(.mlpOut, block: 0)], how: .mean, heads: nil, tokens: nil)]]
            for edits in editSets {
                let g = try m.gradients(x, target: target, at: [], edits: edits)
                let run = try m.run(x, capture: forced, edits: edits)
                XCTAssertEqual(g.logits.shape, run.logits.shape, name)
                XCTAssertEqual(g.logits.scalars, run.logits.scalars, "\(name): gradients' forward differs from run (\(edits.count) edits)")
            }
        }
    }

    /// An image's logits, captured activations and lens scores are the same bits whatever
    /// batch it is in (sharded analyses merge to the unsharded numbers only so).
    func testResultsDoNotDependOnTheBatch() throws {
        for name in ["standard", "rpn", "distilled", "gap_norm"] {
            let m = try ViT(path: Fixtures.model(name))
            let c = m.config
            let per = c.inChannels * c.imageSize * c.imageSize
            var rng = SystemRandomNumberGenerator()
            let B = 7
            let batch = Tensor((0..<(B * per)).map { _ in Float.random(in: -1...1, using: &rng) },
                               shape: [B, c.inChannels, c.imageSize, c.imageSize])
            let points = [HookPoint(.residPost, block: c.depth - 1), HookPoint(.attnOut, block: 0)]
            let whole = try m.run(batch, capture: points)
            let wholeLens = try m.project(whole.captured[points[0]]!)
            for (start, count) in [(0, 1), (3, 1), (2, 3), (4, 3), (0, 5)] {
                let part = Tensor(Array(batch.scalars[(start * per)..<((start + count) * per)]),
                                  shape: [count, c.inChannels, c.imageSize, c.imageSize])
                let r = try m.run(part, capture: points)
                let C = c.numClasses
                XCTAssertEqual(r.logits.scalars, Array(whole.logits.scalars[(start * C)..<((start + count) * C)]),
                               "\(name): logits of images \(start)..<\(start + count) depend on the batch")
                for p in points {
                    let a = r.captured[p]!, b = whole.captured[p]!
                    let n = a.count / count
                    XCTAssertEqual(a.scalars, Array(b.scalars[(start * n)..<((start + count) * n)]), "\(name) \(p.name)")
                }
                let lens = try m.project(r.captured[points[0]]!)
                let n = lens.count / count
                XCTAssertEqual(lens.scalars, Array(wholeLens.scalars[(start * n)..<((start + count) * n)]), "\(name) lens")
            }
        }
    }

    /// A distilled head reads two tokens: removing all but one is an error on both paths,
    /// never a read past the batch.
    func testDistilledHeadNeedsTwoTokens() throws {
        let m = try ViT(path: Fixtures.model("distilled"))
        let x = try SafetensorsFile(path: Fixtures.model("distilled") + "/reference.safetensors").tensor("input")
        // Keep one token: the CLS only (prefix tokens are kept, so remove them by a hook).
        final class KeepFirst: HookHandler {
            func wants(_ p: HookPoint) -> Bool { p.kind == .posEmbed }
            func visit(_ p: HookPoint, _ v: inout Tensor) throws {
                let B = v.shape[0], D = v.shape[2]
                let out = Tensor(zeros: [B, 1, D])
                let src = v.contiguous()
                for b in 0..<B { (out.mutablePointer + b * D).update(from: src.pointer + b * v.shape[1] * D, count: D) }
                v = out
            }
        }
        XCTAssertThrowsError(try m.forward(x, hooks: KeepFirst())) { e in
            XCTAssertTrue("\(e)".contains("distillation tokens"), "\(e)")
        }
    }

    func testClearErrors() throws {
        let gap = try ViT(path: Fixtures.model("gap"))
        let x = try SafetensorsFile(path: Fixtures.model("gap") + "/reference.safetensors").tensor("input")
        XCTAssertThrowsError(try gap.cheferRelevance(x, target: .logit(classes: [0, 1]))) { e in
            XCTAssertTrue("\(e)".contains("no CLS token"), "\(e)")
        }
        XCTAssertThrowsError(try gap.gradients(x, target: .logit(classes: [0]), at: [])) { e in
            XCTAssertTrue("\(e)".contains("one class per image"), "\(e)")
        }
        XCTAssertThrowsError(try gap.gradients(x, target: .logit(classes: [0, 10]), at: [])) { e in
            XCTAssertTrue("\(e)".contains("class 10"), "\(e)")
        }
        XCTAssertThrowsError(try gap.gradients(x, target: .logit(classes: [0, 1]), at: [HookPoint(.residPost, block: 9)])) { e in
            XCTAssertTrue("\(e)".contains("blocks 0...1"), "\(e)")
        }
        let r = try gap.gradients(x, target: .logit(classes: [0, 1]), at: [])
        XCTAssertThrowsError(try r.gradient(at: HookPoint(.residPost, block: 0)))
        let changing = FunctionEdit(points: [HookPoint(.residPost, block: 0)], label: "double") { _, t in t.map { $0 * 2 } }
        XCTAssertThrowsError(try gap.gradients(x, target: .logit(classes: [0, 1]), at: [], edits: [changing])) { e in
            XCTAssertTrue("\(e)".contains("no gradient rule"), "\(e)")
        }
        let reading = FunctionEdit(points: [HookPoint(.residPost, block: 0)], label: "read") { _, _ in nil }
        let a = try gap.gradients(x, target: .logit(classes: [0, 1]), at: [], edits: [reading])
        XCTAssertEqual(a.inputGradient.scalars, r.inputGradient.scalars)
    }
}
