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
        native("memory_pass", "memory_pass(model: model, k: int = 5, seed: int = nil, mode: string = \"correct\", random_classes: ints = nil)", area: area,
               "The fused pass behind memories (Stdlib/memory.vls): reads the top-k keys at mlp_pre and z and the sublayer outputs as the forward computes them, counting agreement with the true and the random class's top-k values, CLS agreement and compositionality; `.add(images, labels)` per batch, then finish_analysis(\"memories\", ...). The random class of each class is drawn from `seed` (the session's without one) or given as `random_classes`; `.facts` holds both as the part records them.") { a in
            let m = try a.model(0)
            let k = try a.int(nil, "k", default: 5)
            // at most the memories there are: a larger k would take every value and read 100%
            let most = min(m.c.width, m.c.mlpHidden)
            guard k >= 1, k <= most else { throw RuntimeError("memories: k must be in 1...\(most) (the values of the smaller memory: \(m.c.width) attention, \(m.c.mlpHidden) MLP), got \(k)") }
            let seed = UInt64(bitPattern: Int64(try a.int(nil, "seed", default: Int(truncatingIfNeeded: session.options.seed))))
            let given = try randomClassesArg(a, classes: m.c.numClasses)
            let collector = try bridged { try MemoryCollector(model: m.model, k: k, seed: seed, randomClasses: given, mode: try modeArg(a)) }
            return .object(AnalysisPass("memories", model: m,
                                        facts: [("k", .int(k)), ("mode", .string(try modeArg(a).rawValue)), ("seed", .string("\(seed)")),
                                                ("random_classes", .string(collector.stats.randomClass.map(String.init).joined(separator: ","))),
                                                ("random_classes_given", .string(given == nil ? "false" : "true"))],
                                        add: { x, y in try collector.add(images: x, labels: y) },
                                        statistics: { collector.stats.partStatistics }))
        },
    ]
}
