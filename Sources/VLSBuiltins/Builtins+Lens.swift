import Foundation
import VLSCore
import VLSLanguage

/// The class-embedding lens.
func lensBuiltins(_ session: Session) -> [NativeFunction] {
    let area = "lens"
    func classesTensor(_ a: Arguments, _ i: Int) throws -> Tensor {
        let v = try a.value(i, "classes")
        if case .int(let c) = v { return Tensor(scalar: Float(c)) }
        return try tensorValue(v)
    }
    /// Classes given per image [B] broadcast against logits [..., B, T, C] as [B, 1].
    func aligned(_ classes: Tensor, _ logits: Tensor) throws -> Tensor {
        let lead = Array(logits.shape.dropLast())
        if classes.rank == 1, lead.count >= 2, classes.shape[0] == lead[lead.count - 2] {
            // One class per image: [B] lines up with the image axis of [..., B, T, C]. When
            // B equals T the intent cannot be told from the shapes: say so, never guess.
            guard classes.shape[0] != lead.last else {
                throw RuntimeError("classes of length \(classes.shape[0]) match both the image axis and the token axis of logits \(logits.shape): reshape them to [\(classes.shape[0]), 1] for one class per image, or to [1, \(classes.shape[0])] for one per token")
            }
            return try classes.reshaped([classes.shape[0], 1])
        }
        return classes
    }
    return [
        native("nan_watch", "nan_watch(acts: tensorlike, analysis: string, *, logits: tensorlike = nil)", area: area,
               "Whether per-block activations acts [blocks, ...] (or, when they are finite, their lens `logits`) hold NaN; the first time a call of an analysis meets NaN, warns on stderr naming `analysis` and the first block that holds it (blocks.N, the tables' block N+1), or the final norm or head when only the logits do. The Stdlib drivers call it on what they capture, so their results over NaN are flagged, never silently taken for valid.") { a in
            let acts = try a.tensor(0, "acts").contiguous()
            let analysis = try a.string(1, "analysis")
            guard acts.rank >= 1 else { throw RuntimeError("nan_watch: acts must be [blocks, ...], got a scalar") }
            for b in 0..<acts.shape[0] {
                if NaNWatch.check(try acts.narrowed(axis: 0, start: b, count: 1), block: b, analysis: analysis) { return .bool(true) }
            }
            guard let logits = try a.optionalTensor(nil, "logits") else { return .bool(false) }
            return .bool(NaNWatch.check(logits, at: "the lens logits (final norm or head)", analysis: analysis))
        },
        native("project", "project(model: model, h: tensorlike, head: string = \"mean\")", area: area,
               "Class logits of residual-space vectors through the model's final norm and head, token by token: h [..., D] -> [..., C]. `project(m, run[\"resid_post\"])` is [blocks, B, T, C]. For a distilled model, `head:` is \"mean\" (timm's eval output, default), \"cls\" or \"dist\".") { a in
            let m = try a.model(0)
            let h = try a.tensor(1, "h")
            let headName = try a.string(nil, "head", default: "mean")
            guard let head = ViT.HeadChoice(rawValue: headName) else { throw RuntimeError("project: head must be \"mean\", \"cls\" or \"dist\"") }
            return .tensor(try m.model.project(h, head: head))
        },
        native("ranks", "ranks(logits: tensorlike, classes: classes)", area: area,
               "The rank of each class among the logits (strict count of larger logits; 0 = top-1). `classes` is one int, or one class per image (for [..., B, T, C] logits a [B] tensor/list lines up with the image axis; when B equals T that is ambiguous and an error: reshape to [B, 1]), or any shape broadcasting against the logits' leading shape.") { a in
            let logits = try a.tensor(0, "logits")
            return .tensor(try LensMath.ranks(logits, classes: try aligned(try classesTensor(a, 1), logits)))
        },
        native("identifiability", "identifiability(logits: tensorlike, classes: classes)", area: area,
               "Class identifiability s = 1 - r / C for each row (1 = top-1, chance about 0.5); classes as in ranks().") { a in
            let logits = try a.tensor(0, "logits")
            return .tensor(try LensMath.identifiability(logits, classes: try aligned(try classesTensor(a, 1), logits)))
        },
        native("topk", "topk(logits: tensorlike, k: int = 5, axis: int = -1)", area: area,
               "The k largest logits along `axis` (default the last), largest first, and their indices: [values, indices], each [..., k, ...] (as t.topk and PyTorch's topk).") { a in
            let t = try a.tensor(0, "logits")
            return try TensorObject.topk(t, k: try a.int(1, "k"), axis: try a.int(2, "axis", default: -1))
        },
        native("lens_table", "lens_table(run: run, token: int = 0, image: int = 0, k: int = 5, layer: string = \"resid_post\")", area: area,
               "A per-block table of the top-k classes (with names) of one token of one image through the lens. The run must have captured the layer (\"resid_post\", \"attn_out\" or \"mlp_out\").") { a in
            let r = try a.object(0, "run", as: RunObject.self, expected: "run")
            let token = try a.int(nil, "token", default: 0), image = try a.int(nil, "image", default: 0)
            let k = try a.int(nil, "k", default: 5)
            let layer = try a.string(nil, "layer", default: "resid_post")
            let acts = try r.result.activation(layer)   // [blocks, B, T, D]
            guard acts.rank == 4 else { throw RuntimeError("lens_table: '\(layer)' must be a per-block hook") }
            guard image >= 0, image < acts.shape[1] else { throw RuntimeError("lens_table: image \(image) out of range (0...\(acts.shape[1] - 1))") }
            guard token >= 0, token < acts.shape[2] else { throw RuntimeError("lens_table: token \(token) out of range (0...\(acts.shape[2] - 1))") }
            let rows = try (0..<acts.shape[0]).map { b -> Tensor in acts.select(b).select(image).select(token) }
            let logits = try r.model.model.project(try Tensor.stack(rows))
            guard k >= 1, k <= r.model.c.numClasses else { throw RuntimeError("lens_table: k must be in 1...\(r.model.c.numClasses), got \(k)") }
            let kk = k
            let (idx, val) = try LensMath.topk(logits, k: kk)
            let probs = logits.softmax()
            var out: [[Value]] = []
            for b in 0..<acts.shape[0] {
                var row: [Value] = [.int(b + 1)]
                for j in 0..<kk {
                    let c = Int(idx.item([b, j]))
                    row.append(.string("\(r.model.label(c)) (\(String(format: "%.2f", probs.item([b, c]))))"))
                }
                _ = val
                out.append(row)
            }
            return .object(TableObject(columns: ["block"] + (1...kk).map { "top-\($0)" }, rows: out,
                                       title: "\(layer), image \(image), token \(token)\(token < r.model.c.numPrefixTokens ? " (prefix)" : "")"))
        },
    ]
}
