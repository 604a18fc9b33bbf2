import Foundation
import VLSCore
import VLSLanguage

/// Saliency maps and the perturbation test.
func saliencyBuiltins(_ session: Session) -> [NativeFunction] {
    let area = "saliency"
    let methods = ["lens", "chefer", "rollout", "attention", "grad_input", "random"]

    /// Importances [B, N] of the image tokens by `method`.
    func importance(_ m: ModelObject, _ x: Tensor, classes: [Int], method: String, loss: LensLoss,
                    blocks: [Int]?, heads: [Int]?, seed: UInt64) throws -> Tensor {
        switch method {
        case "lens": return try m.model.lensSaliency(x, classes: classes, loss: loss, blocks: blocks, heads: heads)
        case "chefer": return try m.model.cheferRelevance(x, target: .logit(classes: classes))
        case "grad_input": return try m.model.gradientTimesInput(x, target: .logit(classes: classes))
        case "rollout": return try m.model.rolloutSaliency(x)
        case "attention": return try m.model.attentionSaliency(x)
        case "random":
            var g = SeededGenerator(seed: seed)
            let B = x.shape[0], N = m.c.numPatches
            return Tensor((0..<(B * N)).map { _ in Float(g.uniform()) }, shape: [B, N])
        default:
            throw RuntimeError("unknown saliency method '\(method)' (\(methods.joined(separator: ", ")))")
        }
    }

    func lossArg(_ a: Arguments) throws -> LensLoss {
        let s = try a.string(nil, "loss", default: "ce")
        guard let l = LensLoss(rawValue: s) else { throw RuntimeError("loss must be \"ce\", \"paper\" (softmax applied twice, as the authors' code) or \"logit\", got \"\(s)\"") }
        return l
    }

    return [
        native("saliency", "saliency(run: run, method: string = \"lens\", target: classes = nil, block: ints = nil, head: ints = nil, loss: string = \"ce\", seed: int = 0)", area: area,
               "Importance of each image token for a class, [B, rows, cols] (the patch grid), from a run (its input and model). Methods: \"lens\" (the paper's: -Σ_b Σ_h ∂loss_b/∂A_b[h, 0, j] with loss_b the cross-entropy of the lens of block b's attention output at CLS, in closed form; `block:` / `head:` give single-block / single-head maps; `loss: \"paper\"` applies softmax twice as the authors' code, \"logit\" uses the raw class logit), \"chefer\" (Chefer et al. 2021: R += mean_h clamp(∂y_c/∂A ⊙ A, 0) · R over blocks, CLS row), \"grad_input\" (gradient × input per patch), \"rollout\" (attention rollout), \"attention\" (last block's CLS attention, mean over heads), \"random\" (seeded). `target:` a class for every image, a list, or nil for the run's predictions.") { a in
            let r = try a.object(0, "run", as: RunObject.self, expected: "run")
            let m = r.model
            let B = r.input.shape[0]
            var classes = try r.result.logits.reduce(.argmax, axis: -1).scalars.map { Int($0) }
            if let t = a.optional(nil, "target") {
                classes = try classIndices(t, images: B, classes: m.c.numClasses, function: "saliency")
            }
            let method = try a.string(nil, "method", default: "lens")
            if method != "lens" {
                for k in ["block", "head"] where a.optional(nil, k) != nil {
                    throw RuntimeError("saliency: \(k): applies to method \"lens\" only (method \"\(method)\" has no per-\(k) map)")
                }
            }
            let blocks = try a.intList(nil, "block"), heads = try a.intList(nil, "head")
            let seed = UInt64(bitPattern: Int64(try a.int(nil, "seed", default: 0)))
            let imp = try importance(m, r.input, classes: classes, method: method, loss: try lossArg(a), blocks: blocks, heads: heads, seed: seed)
            return .tensor(try imp.reshaped([B, m.c.gridSize, m.c.gridSize]))
        },
        native("removal_curve", "removal_curve(model: model, images: tensorlike, labels: classes, importance: tensorlike, order: string = \"negative\")", area: area,
               "The token-removal step of the perturbation test for one batch, fused (one run per k): for k = 1..n-1 keep the prefix tokens plus the k most important patches (order \"negative\") or the k least important (\"positive\"), dropping the others after the position embedding, and count the images whose top-1 is their label (a row holding NaN predicts nothing). images [B, 3, H, W] preprocessed, labels [B], importance [B, n] (higher = more important; ties: lower patch first). Returns [n-1] counts, an int64 tensor. The test over a dataset is perturbation_test (Stdlib/perturbation.vls).") { a in
            let m = try a.model(0)
            let x = try a.tensor(1, "images")
            guard x.rank == 4 else { throw RuntimeError("removal_curve: images must be [B, 3, H, W], got \(x.shape)") }
            let labels = try classIndices(try a.value(2, "labels"), images: x.shape[0], classes: m.c.numClasses, function: "removal_curve")
            let orderName = try a.string(nil, "order", default: "negative")
            guard let order = PerturbationCurve.Order(rawValue: orderName) else { throw RuntimeError("removal_curve: order must be \"negative\" or \"positive\", got \"\(orderName)\"") }
            var curve = PerturbationCurve(order: order, patches: m.c.numPatches)
            try bridged { try m.model.perturb(x, labels: labels, importance: try a.tensor(3, "importance"), into: &curve) }
            return try .indices(Tensor(curve.correct.map(Float.init), shape: [curve.correct.count]), "removal_curve")
        },
    ]
}

/// A perturbation test result: its curve as a table, and the AUCs.
final class PerturbationObject: DeclaredObject {
    let table: TableObject
    let auc: Double
    let trapezoid: Double
    init(table: TableObject, auc: Double, trapezoid: Double) { self.table = table; self.auc = auc; self.trapezoid = trapezoid }
    var typeName: String { "perturbation" }
    func describe() -> String { table.title ?? "perturbation" }
    static let members: Members<PerturbationObject> = bridgedMembers("perturbation")
        .property("table", "The curve: accuracy after keeping k tokens, k = 1..n-1.") { o, _ in .object(o.table) }
        .property("auc", "The area under the curve as the paper computes it.") { o, _ in .float(o.auc) }
        .property("trapezoid_auc", "The area under the curve by the trapezoid rule.") { o, _ in .float(o.trapezoid) }
        .method("perturbation.save(path: string)", "Writes the part file (.json, for vls merge and load_part) or the curve (.csv).") { o, a in
            try o.table.save(to: try a.string(0, "path"))
            return .nil
        }
}
