import Foundation
import VLSCore
import VLSLanguage

/// Probes of one layer type for every block and token position.
final class ProbesObject: DeclaredObject {
    let model: ModelObject
    let kind: HookPoint.Kind
    let alpha: Double
    let solver: String
    /// [block][position]
    let probes: [[Probe]]
    let trainImages: Int

    init(model: ModelObject, kind: HookPoint.Kind, alpha: Double, solver: String, probes: [[Probe]], trainImages: Int) {
        self.model = model; self.kind = kind; self.alpha = alpha; self.solver = solver; self.probes = probes; self.trainImages = trainImages
    }

    var typeName: String { "probes" }
    func describe() -> String {
        "probes of \(kind.shortName): \(probes.count) blocks x \(probes.first?.count ?? 0) positions, ridge alpha \(alpha)\(solver == "cholesky" ? "" : " (\(solver))"), trained on \(trainImages) images"
    }

    /// Probe scores of activations [L, B, T, D] (every block and position, as run[layer]
    /// stacks them) -> [L, B, T, C]; or of one block's [B, T, D] with `block:`.
    func scores(_ acts: Tensor, block: Int?) throws -> Tensor {
        let L = probes.count, T = probes.first?.count ?? 0, D = model.c.width, C = model.c.numClasses
        let blocks: [Int]
        let x: Tensor
        if let block {
            guard block >= 0, block < L else { throw RuntimeError("probes.scores: block \(block) out of range (0...\(L - 1))") }
            guard acts.rank == 3, acts.shape[1] == T, acts.shape[2] == D else {
                throw RuntimeError("probes.scores: one block's activations must be [B, \(T), \(D)], got \(acts.shape)")
            }
            blocks = [block]; x = try acts.reshaped([1] + acts.shape)
        } else {
            guard acts.rank == 4, acts.shape[0] == L, acts.shape[2] == T, acts.shape[3] == D else {
                throw RuntimeError("probes.scores: activations must be [\(L), B, \(T), \(D)] (run[\"\(kind.shortName)\"]), got \(acts.shape)")
            }
            blocks = Array(0..<L); x = acts
        }
        let B = x.shape[1]
        let src = x.contiguous()
        let out = Tensor(uninitialized: [blocks.count, B, T, C])
        for (i, b) in blocks.enumerated() {
            for t in 0..<T {
                let rows = try src.select(i).narrowed(axis: 1, start: t, count: 1).contiguous().reshaped([B, D])
                let sc = try probes[b][t].scores(rows).contiguous()
                for r in 0..<B { (out.mutablePointer + ((i * B + r) * T + t) * C).update(from: sc.pointer + r * C, count: C) }
            }
        }
        return block == nil ? out : out.select(0)
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

    static let members: Members<ProbesObject> = bridgedMembers("probes")
        .property("layer", "The layer the probes read (resid_post, attn_out or mlp_out).") { o, _ in .string(o.kind.shortName) }
        .property("alpha", "The ridge penalty.") { o, _ in .float(o.alpha) }
        .property("solver", "\"cholesky\" or \"lsqr\".") { o, _ in .string(o.solver) }
        .method("probes.scores(acts: tensorlike, block: int = nil)",
                "Probe scores (x · W + b) of every block and position: activations [blocks, B, T, D] as run[layer] stacks them -> [blocks, B, T, C]; with `block:` one block's [B, T, D] -> [B, T, C].") { o, a in
            let acts = try a.tensor(0, "acts")
            let block = try a.optional(1, "block").map { _ in try a.int(1, "block") }
            return .tensor(try o.scores(acts, block: block))
        }
        .method("probes.weights(block: int, position: int)", "The weight [D, C] and intercept [C] of one probe, as a list [W, b].") { o, a in
            let b = try a.int(0, "block"), t = try a.int(1, "position")
            guard b >= 0, b < o.probes.count, t >= 0, t < (o.probes.first?.count ?? 0) else {
                throw RuntimeError("probes.weights: block \(b) / position \(t) out of range (\(o.probes.count) blocks x \(o.probes.first?.count ?? 0) positions)")
            }
            return .list([.tensor(o.probes[b][t].weight), .tensor(o.probes[b][t].bias)])
        }
        .method("probes.evaluate(data: dataset, batch: int = 32)",
                "Probe accuracy against lens accuracy per block on a dataset: mean over image-token positions (CLS excluded) with 95% confidence intervals.") { o, a in
            let d = try a.object(0, "data", as: DatasetObject.self, expected: "dataset")
            return .object(try o.evaluate(d, batch: try a.int(1, "batch")))
        }
}

func probeBuiltins(_ session: Session) -> [NativeFunction] {
    [
        native("probes", "probes(model: model, train: dataset, layer: string = \"resid_post\", alpha: number = 1.0, batch: int = 32, solver: string = \"cholesky\", tol: number = 0.0001)", area: "probes",
               "Trains ridge probes (alpha, intercept, targets +1/-1 over the classes) on the raw activations of `layer` (resid_post, attn_out or mlp_out) for every block and token position, streamed over `train` (e.g. dataset(..., split: \"train\").per_class(10)). `solver: \"cholesky\"` (default) solves in closed form, as scikit-learn's Ridge(solver=\"cholesky\"); `solver: \"lsqr\"` reproduces the paper's Ridge(solver=\"lsqr\"): LSQR with damp sqrt(alpha), atol = btol = `tol`, at most 2·D iterations, which stops before the exact solution. The training set is never sharded. Returns probes: .evaluate(data) compares them with the lens; .scores(acts) gives their outputs; perturbation_test(..., method: \"probe\", probes: p) ranks tokens by them.") { a in
            let m = try a.model(0)
            let train = try a.object(1, "train", as: DatasetObject.self, expected: "dataset")
            let layer = try a.string(nil, "layer", default: "resid_post")
            let kinds: [String: HookPoint.Kind] = ["resid_post": .residPost, "attn_out": .attnOut, "mlp_out": .mlpOut]
            guard let kind = kinds[layer] else { throw RuntimeError("probes: layer must be resid_post, attn_out or mlp_out, got '\(layer)'") }
            let alpha = try a.double(nil, "alpha", default: 1)
            guard alpha > 0, alpha.isFinite else { throw RuntimeError("probes: alpha must be positive") }
            let solverName = try a.string(nil, "solver", default: "cholesky")
            let tol = try a.double(nil, "tol", default: 1e-4)
            let solver: RidgeSolver
            switch solverName {
            case "cholesky": solver = .cholesky
            case "lsqr":
                guard tol > 0, tol.isFinite else { throw RuntimeError("probes: tol must be positive, got \(tol)") }
                solver = .lsqr(tol: tol)
            default: throw RuntimeError("probes: solver must be \"cholesky\" or \"lsqr\", got \"\(solverName)\"")
            }
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
            let probes = try (0..<L).map { b in try (0..<T).map { t in try bridged { try stats[b][t].solve(alpha: alpha, solver: solver) } } }
            return .object(ProbesObject(model: m, kind: kind, alpha: alpha, solver: solverName, probes: probes, trainImages: train.indices.count))
        },
    ]
}
