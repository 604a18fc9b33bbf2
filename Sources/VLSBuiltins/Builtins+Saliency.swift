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
        native("perturbation_test", "perturbation_test(model: model, data: dataset, method: string = \"lens\", order: string = \"negative\", batch: int = 16, loss: string = \"ce\", seeds: int = 10, probes: probes = nil)", area: area,
               "The token-removal test over a dataset: for k = 1..n-1 keep CLS plus the k most important tokens (order \"negative\") or the k least important (\"positive\"), tokens dropped after the position embedding, and measure top-1 accuracy against the true labels. Importance from `method` (see saliency) for the true class, or \"probe\" (probes: p; tokens ranked by the sum over blocks of the true class's probe rank); \"random\" averages `seeds` random orders (seeds 0..9), each one permutation shared by every image, and gives the same curve for both orders, as the authors' code. Returns a table of k and accuracy, with the paper's AUC (sum(acc) / (max(acc) · n)) and the trapezoid AUC in its title; progress on stderr.") { a in
            let m = try a.model(0)
            let data = try a.object(1, "data", as: DatasetObject.self, expected: "dataset")
            try requireSharded(data, session: session, "perturbation_test")
            let method = try a.string(nil, "method", default: "lens")
            let orderName = try a.string(nil, "order", default: "negative")
            guard let order = PerturbationCurve.Order(rawValue: orderName) else { throw RuntimeError("order must be \"negative\" or \"positive\"") }
            let batch = try a.int(nil, "batch", default: 16)
            let loss = try lossArg(a)
            let N = m.c.numPatches
            let seeds = method == "random" ? try a.int(nil, "seeds", default: 10) : 1
            let total = data.indices.count
            var curves: [PerturbationCurve] = []
            // random: one curve serves both orders, as in the authors' code (a reversed random
            // order is just another random order); hence the paper's 0.7159 / 0.7159.
            let curveOrder: PerturbationCurve.Order = method == "random" ? .negative : order
            for s in 0..<seeds {
                var curve = PerturbationCurve(order: curveOrder, patches: N)
                var g = SeededGenerator(seed: UInt64(s))
                let shared = g.permutation(N)   // random: one order for every image
                try data.forEachBatch(batch, model: m, label: "perturbation \(method)\(seeds > 1 ? " seed \(s)" : "")") { x, labels in
                    let imp: Tensor
                    if method == "probe" {
                        guard let pv = a.keyword("probes"), case .object(let p as ProbesObject) = pv else {
                            throw RuntimeError("perturbation_test(method: \"probe\") needs probes: p (from probes(model, train))")
                        }
                        imp = try p.importance(x, labels: labels)
                    } else if method == "random" {
                        // importance = N - position in the shared permutation
                        var row = [Float](repeating: 0, count: N)
                        for (pos, j) in shared.enumerated() { row[j] = Float(N - pos) }
                        imp = Tensor(Array((0..<labels.count).map { _ in row }.joined()), shape: [labels.count, N])
                    } else {
                        imp = try importance(m, x, classes: labels, method: method, loss: loss, blocks: nil, heads: nil, seed: 0)
                    }
                    try m.model.perturb(x, labels: labels, importance: imp, into: &curve)
                }
                curves.append(curve)
            }
            var args = ["method": method, "order": order.rawValue, "seeds": "\(seeds)"]
            if method != "random" && method != "probe" { args["loss"] = try lossArg(a).rawValue }
            // the probes by their weights' digest (a description does not tell two probe sets apart)
            if method == "probe", let pv = a.keyword("probes"), case .object(let p as ProbesObject) = pv { args["probes"] = "\(p.describe()), sha256 \(p.weightDigest)" }
            let part = try makePart("perturbation", args, model: m, data: data, session: session,
                                statistics: ["images": .counts([curves.first?.images ?? 0], shape: []),
                                             "correct": .counts(curves.flatMap(\.correct), shape: [seeds, N - 1])])
            _ = total
            return .object(try bridged { try PartResults.perturbation(part, name: "perturbation_test") })
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
