import Foundation
import VLSCore
import VLSLanguage

/// Key-value memory analyses (Docs/method.md#key-value-memories).
func memoryBuiltins(_ session: Session) -> [NativeFunction] {
    let area = "memories"
    func kindArg(_ a: Arguments) throws -> MemoryKind {
        let s = try a.string(nil, "kind", default: "mlp")
        guard let k = MemoryKind(rawValue: s) else { throw RuntimeError("kind must be \"mlp\" or \"attn\", got \"\(s)\"") }
        return k
    }
    func modeArg(_ a: Arguments) throws -> MemoryMode {
        let s = try a.string(nil, "mode", default: "correct")
        guard let m = MemoryMode(rawValue: s) else { throw RuntimeError("mode must be \"correct\" or \"paper\", got \"\(s)\"") }
        return m
    }
    /// `random_classes:` as C class indices (a list of ints or a 1-d tensor of integral values).
    func randomClassesArg(_ a: Arguments, classes: Int) throws -> [Int]? {
        guard let v = a.optional(nil, "random_classes") else { return nil }
        var out: [Int] = []
        switch v {
        case .nil: return nil
        case .range(let r): out = (0..<r.count).map { r[$0] }
        case .list(let l):
            for (i, item) in l.items.enumerated() {
                guard case .int(let c) = item else { throw RuntimeError("random_classes[\(i)] must be an int class index, got \(item.typeName)") }
                out.append(c)
            }
        case .object(let o as TensorObject):
            guard o.tensor.rank == 1 else { throw RuntimeError("random_classes must be a 1-d list of \(classes) class indices, got a tensor of shape \(o.tensor.shape)") }
            for (i, x) in o.tensor.scalars.enumerated() {
                guard x.isFinite, x == x.rounded(), abs(x) < 1e9 else { throw RuntimeError("random_classes[\(i)] must be an integral class index, got \(x)") }
                out.append(Int(x))
            }
        default:
            throw a.badArgument(nil, "random_classes", expected: "list of ints", got: v)
        }
        guard out.count == classes else {
            throw RuntimeError("random_classes needs one random class per class of the model (\(classes) entries), got \(out.count)")
        }
        if let bad = out.firstIndex(where: { $0 < 0 || $0 >= classes }) {
            throw RuntimeError("random_classes[\(bad)] = \(out[bad]) is not a class of the model (0...\(classes - 1))")
        }
        return out
    }
    return [
        native("value_projection", "value_projection(model: model, block: int, kind: string = \"mlp\", mode: string = \"correct\")", area: area,
               "Raw value projection P = W_head · W_values [C, n_values] of one block (no norm, no bias): MLP values are the columns of fc2.weight, attention values the columns of attn.proj.weight. `mode: \"correct\"` takes the values as they enter the residual (gamma ⊙ column on layer-scale models such as DeiT-3) and, on a distilled model, the mean of the class and distillation heads (as project); `mode: \"paper\"` the raw columns and model.head alone, as the authors' code.") { a in
            let m = try a.model(0)
            let b = try a.int(1, "block")
            guard b >= 0, b < m.c.depth else { throw RuntimeError("block \(b) out of range (0...\(m.c.depth - 1))") }
            return .tensor(try m.model.valueProjection(try kindArg(a), block: b, mode: try modeArg(a)))
        },
        native("class_value_agreement", "class_value_agreement(model: model, kind: string = \"mlp\", mode: string = \"correct\")", area: area,
               "Per block and class, the highest cosine between the class's head row and any value vector (both normalised on copies; the model is never changed): [blocks, C]. Compare with model.randomized(seed) for the baseline. `mode:` chooses values and head as in value_projection (\"correct\": gamma ⊙ column on layer-scale models, mean head on distilled ones; \"paper\": raw columns, model.head).") { a in
            let m = try a.model(0)
            let kind = try kindArg(a)
            let mode = try modeArg(a)
            return .tensor(try Tensor.stack(try (0..<m.c.depth).map { try m.model.classValueAgreement(kind, block: $0, mode: mode) }))
        },
        native("memories", "memories(model: model, data: dataset, k: int = 5, seed: int = nil, batch: int = 32, shuffles: int = 300, mode: string = \"correct\", random_classes: ints = nil)", area: area,
               """
               Key-value memories over a dataset, per block for MLP and attention memories (Docs/method.md#key-value-memories). \
               Agreement: % of tokens whose top-k keys (largest signed coefficients) meet the top-k values of the true class (by raw projection), averaged over classes, \
               with the random-class baseline: one random class per class, shared by its images, possibly the class itself, drawn from `seed` \
               (vls's generator) or given as `random_classes:` (C class indices, e.g. numpy's draws, to reproduce another implementation). \
               Accuracy effect: CLS agreement of correctly minus wrongly classified images, `shuffles`-shuffle permutation test. \
               Compositionality: % of tokens whose sublayer top-1 class through the lens is the class (argmax of the raw projection) of one of their top-k memories. \
               `mode: \"correct\"` (default): values as they enter the residual (gamma ⊙ column on layer-scale models) for agreement and compositionality, \
               compared with the sublayer output added to the residual (attn_out / mlp_out); distilled models through the mean of both heads, as project; \
               compositionality of CLS and image tokens separately (registers and the distillation token in neither). \
               `mode: \"paper\"`: the authors' code: raw fc2 / attn.proj columns and model.head alone, the sublayer output before the layer scale, \
               one compositionality pooled over every token (CLS and prefix tokens included). Agreement counts every token in both modes. \
               `k`: memories per token and values per class (5 in the paper); `batch`: images per forward pass.
               """) { a in
            let m = try a.model(0)
            let data = try a.object(1, "data", as: DatasetObject.self, expected: "dataset")
            let k = try a.int(nil, "k", default: 5)
            guard k >= 1 else { throw RuntimeError("memories: k must be at least 1, got \(k)") }
            let seed = UInt64(bitPattern: Int64(try a.int(nil, "seed", default: Int(truncatingIfNeeded: session.options.seed))))
            let batch = try a.int(nil, "batch", default: 32)
            let shuffles = try a.int(nil, "shuffles", default: 300)
            guard shuffles >= 1, shuffles <= Part.maxShuffles else { throw RuntimeError("memories: shuffles must be in 1...\(Part.maxShuffles), got \(shuffles)") }
            try requireSharded(data, session: session, "memories")
            let mode = try modeArg(a)
            let given = try randomClassesArg(a, classes: m.c.numClasses)
            let collector = try bridged { try MemoryCollector(model: m.model, k: k, seed: seed, randomClasses: given, mode: mode) }
            try data.forEachBatch(batch, model: m, label: "memories") { x, labels in try collector.add(images: x, labels: labels) }
            let s = collector.stats
            let part = try makePart("memories", ["k": "\(k)", "seed": "\(seed)", "shuffles": "\(shuffles)", "mode": mode.rawValue,
                                             "random_classes": s.randomClass.map(String.init).joined(separator: ","),
                                             "random_classes_given": given == nil ? "false" : "true"],
                                model: m, data: data, session: session, statistics: s.partStatistics)
            return try bridged { try PartResults.finish(part, name: "memories") }
        },
    ]
}
