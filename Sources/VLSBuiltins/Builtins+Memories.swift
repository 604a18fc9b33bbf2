import Foundation
import VLSCore
import VLSLanguage

/// Key-value memory analyses (method.md section 3).
func memoryBuiltins(_ session: Session) -> [NativeFunction] {
    let area = "memories"
    func kindArg(_ a: Arguments) throws -> MemoryKind {
        let s = try a.string(nil, "kind", default: "mlp")
        guard let k = MemoryKind(rawValue: s) else { throw RuntimeError("kind must be \"mlp\" or \"attn\", got \"\(s)\"") }
        return k
    }
    return [
        native("value_projection", "value_projection(model, block, kind: \"mlp\")", area: area,
               "Raw value projection P = W_head · W_values [C, n_values] of one block (no norm, no bias): MLP values are the columns of fc2.weight, attention values the columns of attn.proj.weight.") { a in
            try a.expectKeywords(["kind"])
            let m = try a.model(0)
            let b = try a.int(1, "block")
            guard b >= 0, b < m.c.depth else { throw RuntimeError("block \(b) out of range (0...\(m.c.depth - 1))") }
            return .tensor(try m.model.valueProjection(try kindArg(a), block: b))
        },
        native("class_value_agreement", "class_value_agreement(model, kind: \"mlp\")", area: area,
               "Per block and class, the highest cosine between the class's head row and any value vector (both normalised on copies; the model is never changed): [blocks, C]. Compare with model.randomized(seed) for the baseline.") { a in
            try a.expectKeywords(["kind"])
            let m = try a.model(0)
            let kind = try kindArg(a)
            return .tensor(try Tensor.stack(try (0..<m.c.depth).map { try m.model.classValueAgreement(kind, block: $0) }))
        },
        native("memories", "memories(model, data, k: 5, seed: 0, batch: 32, shuffles: 300)", area: area,
               "Key-value agreement over a dataset, per block for MLP and attention memories: % of tokens whose top-k keys (largest signed coefficients) meet the top-k values of the true class (by raw projection), averaged over classes, with the random-class baseline (one seeded random class per class, shared by its images); the accuracy effect (CLS agreement of correctly minus wrongly classified images, 300-shuffle permutation test); and compositionality (% of tokens whose sublayer top-1 class is the class of one of their top-k memories).") { a in
            try a.expectKeywords(["k", "seed", "batch", "shuffles"])
            let m = try a.model(0)
            let data = try a.object(1, "data", as: DatasetObject.self, expected: "dataset")
            let k = try a.int(nil, "k", default: 5)
            let seed = UInt64(bitPattern: Int64(try a.int(nil, "seed", default: Int(truncatingIfNeeded: session.options.seed))))
            let batch = try a.int(nil, "batch", default: 32)
            let shuffles = try a.int(nil, "shuffles", default: 300)
            let collector = try bridged { try MemoryCollector(model: m.model, k: k, seed: seed) }
            try data.forEachBatch(batch, model: m, label: "memories") { x, labels in try collector.add(images: x, labels: labels) }
            let s = collector.stats
            var rows: [[Value]] = []
            for b in 0..<s.depth {
                var row: [Value] = [.int(b + 1)]
                for kd in 0..<2 {
                    let classes = (0..<s.classes).filter { s.tokens[kd][b][$0] > 0 }
                    func mean(_ v: [[[Int]]]) -> Double {
                        classes.isEmpty ? .nan : 100 * classes.map { Double(v[kd][b][$0]) / Double(s.tokens[kd][b][$0]) }.reduce(0, +) / Double(classes.count)
                    }
                    row += [.float(mean(s.agree)), .float(mean(s.agreeRandom))]
                    if m.c.classToken {
                        let agree = s.clsAgree[kd][b].map(Double.init)
                        let right = zip(agree, s.correct).filter { $0.1 == 1 }.map(\.0)
                        let wrong = zip(agree, s.correct).filter { $0.1 == 0 }.map(\.0)
                        if right.isEmpty || wrong.isEmpty {
                            row += [.nil, .nil]
                        } else {
                            let t = try bridged { try Stats.permutationTest(right, wrong, shuffles: shuffles, seed: seed &+ UInt64(b)) }
                            row += [.float(100 * t.difference), .float(t.pValue)]
                        }
                    } else {
                        row += [.nil, .nil]
                    }
                    row.append(.float(100 * Double(s.composed[kd][b]) / Double(max(s.composedTotal[kd][b], 1))))
                }
                rows.append(row)
            }
            var cols = ["block"]
            for kd in ["mlp", "attn"] { cols += ["\(kd)_agree", "\(kd)_agree_random", "\(kd)_cls_acc_effect", "\(kd)_acc_p", "\(kd)_composed"] }
            return .object(TableObject(columns: cols, rows: rows,
                                       title: "key-value memories, top-\(k), \(s.correct.count) images (rates in %, random classes seed \(seed))"))
        },
    ]
}
