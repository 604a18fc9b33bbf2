import Foundation
import VLSCore
import VLSLanguage

/// Probes of one layer type for every block and token position.
final class ProbesObject: VLSObject {
    let model: ModelObject
    let kind: HookPoint.Kind
    let alpha: Double
    /// [block][position]
    let probes: [[Probe]]
    let trainImages: Int

    init(model: ModelObject, kind: HookPoint.Kind, alpha: Double, probes: [[Probe]], trainImages: Int) {
        self.model = model; self.kind = kind; self.alpha = alpha; self.probes = probes; self.trainImages = trainImages
    }

    var typeName: String { "probes" }
    var memberNames: [String] { ["evaluate", "layer", "alpha"] }
    func describe() -> String {
        "probes of \(kind.shortName): \(probes.count) blocks x \(probes.first?.count ?? 0) positions, ridge alpha \(alpha), trained on \(trainImages) images"
    }

    /// Per block, per image, per position: does the probe predict the label? And the lens?
    func evaluate(_ data: DatasetObject, batch: Int) throws -> TableObject {
        let m = model
        let L = m.c.depth, T = m.c.numTokens, first = m.c.numPrefixTokens
        var probeRight = [[Int]](repeating: [Int](repeating: 0, count: T), count: L)
        var lensRight = probeRight
        var n = 0
        let points = (0..<L).map { HookPoint(kind, block: $0) }
        try data.forEachBatch(batch, model: m, label: "probe evaluation") { x, labels in
            let run = try m.model.run(x, capture: points)
            for b in 0..<L {
                guard let act = run.captured[points[b]] else { continue }
                let lensTop = try m.model.project(act).reduce(.argmax, axis: -1)   // [B, T]
                for t in 0..<T {
                    let rows = try act.narrowed(axis: 1, start: t, count: 1).contiguous().reshaped([labels.count, m.c.width])
                    let pred = try probes[b][t].scores(rows).reduce(.argmax, axis: -1).scalars
                    for (i, l) in labels.enumerated() {
                        if Int(pred[i]) == l { probeRight[b][t] += 1 }
                        if Int(lensTop.item([i, t])) == l { lensRight[b][t] += 1 }
                    }
                }
            }
            n += labels.count
        }
        func stats(_ v: [Int]) -> (Double, Double) {
            let acc = v[first...].map { 100 * Double($0) / Double(max(n, 1)) }
            let mean = acc.reduce(0, +) / Double(acc.count)
            let sd = (acc.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(acc.count - 1, 1))).squareRoot()
            return (mean, 1.96 * sd / Double(acc.count).squareRoot())
        }
        let rows: [[Value]] = (0..<L).map { b in
            let p = stats(probeRight[b]), l = stats(lensRight[b])
            return [.int(b + 1), .float(p.0), .float(p.1), .float(l.0), .float(l.1)]
        }
        return TableObject(columns: ["block", "probe_acc", "probe_ci95", "lens_acc", "lens_ci95"], rows: rows,
                           title: "\(kind.shortName): probe vs lens accuracy (%), mean over image-token positions with 95% CI, \(n) images")
    }

    /// Probe-based token importance [B, N]: minus the sum over blocks of the true class's
    /// rank (C - 1 - position in the ascending argsort, i.e. 0 = top) in each position's probe.
    func importance(_ x: Tensor, labels: [Int]) throws -> Tensor {
        let m = model
        let L = m.c.depth, N = m.c.numPatches, first = m.c.numPrefixTokens, C = m.c.numClasses
        let points = (0..<L).map { HookPoint(kind, block: $0) }
        let run = try m.model.run(x, capture: points)
        let B = labels.count
        let out = Tensor(zeros: [B, N])
        for b in 0..<L {
            guard let act = run.captured[points[b]] else { continue }
            for j in 0..<N {
                let rows = try act.narrowed(axis: 1, start: first + j, count: 1).contiguous().reshaped([B, m.c.width])
                let scores = try probes[b][first + j].scores(rows)
                let r = try LensMath.ranks(scores, classes: Tensor(labels.map(Float.init), shape: [B]))
                for i in 0..<B { out.mutablePointer[i * N + j] -= r.pointer[i] }
            }
        }
        _ = C
        return out
    }

    func getProperty(_ name: String, interpreter: Interpreter) throws -> Value? {
        switch name {
        case "layer": return .string(kind.shortName)
        case "alpha": return .float(alpha)
        case "evaluate":
            return .native(NativeFunction(name: "probes.evaluate", signature: "probes.evaluate(data, batch: 32)",
                                          doc: "Probe accuracy against lens accuracy per block on a dataset: mean over image-token positions (CLS excluded) with 95% confidence intervals.", area: "probes") { a in
                let d = try a.object(0, "data", as: DatasetObject.self, expected: "dataset")
                return .object(try self.evaluate(d, batch: try a.int(nil, "batch", default: 32)))
            })
        default: return nil
        }
    }
}

func probeBuiltins(_ session: Session) -> [NativeFunction] {
    [
        native("probes", "probes(model, train, layer: \"resid_post\", alpha: 1.0, batch: 32)", area: "probes",
               "Trains ridge probes (alpha, intercept, targets +1/-1 over the classes, closed form by Cholesky as scikit-learn's Ridge(solver=\"cholesky\"); the paper's lsqr converges to the same solution) on the raw activations of `layer` (resid_post, attn_out or mlp_out) for every block and token position, streamed over `train` (e.g. dataset(..., split: \"train\").per_class(10)). The training set is never sharded. Returns probes: .evaluate(data) compares them with the lens; perturbation_test(..., method: \"probe\", probes: p) ranks tokens by them.") { a in
            try a.expectKeywords(["layer", "alpha", "batch"])
            let m = try a.model(0)
            let train = try a.object(1, "train", as: DatasetObject.self, expected: "dataset")
            let layer = try a.string(nil, "layer", default: "resid_post")
            let kinds: [String: HookPoint.Kind] = ["resid_post": .residPost, "attn_out": .attnOut, "mlp_out": .mlpOut]
            guard let kind = kinds[layer] else { throw RuntimeError("probes: layer must be resid_post, attn_out or mlp_out, got '\(layer)'") }
            let alpha = try a.double(nil, "alpha", default: 1)
            guard alpha > 0 else { throw RuntimeError("probes: alpha must be positive") }
            let batch = try a.int(nil, "batch", default: 32)
            let L = m.c.depth, T = m.c.numTokens, D = m.c.width, C = m.c.numClasses
            var stats = [[RidgeStats]](repeating: [RidgeStats](repeating: RidgeStats(width: D, classes: C), count: T), count: L)
            let points = (0..<L).map { HookPoint(kind, block: $0) }
            try train.forEachBatch(batch, model: m, label: "probes") { x, labels in
                let run = try m.model.run(x, capture: points)
                for b in 0..<L {
                    guard let act = run.captured[points[b]]?.contiguous() else { continue }
                    for t in 0..<T { stats[b][t].add(act.pointer + t * D, rows: labels.count, rowStride: T * D, labels: labels) }
                }
            }
            let probes = try (0..<L).map { b in try (0..<T).map { t in try bridged { try stats[b][t].solve(alpha: alpha) } } }
            return .object(ProbesObject(model: m, kind: kind, alpha: alpha, probes: probes, trainImages: train.indices.count))
        },
    ]
}
