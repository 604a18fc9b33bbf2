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
    /// The sufficient statistics, when trained on a sharded set: what `.save(path)` writes.
    var part: Part?

    init(model: ModelObject, kind: HookPoint.Kind, alpha: Double, solver: String, probes: [[Probe]], trainImages: Int) {
        self.model = model; self.kind = kind; self.alpha = alpha; self.solver = solver; self.probes = probes; self.trainImages = trainImages
    }

    /// One shard's statistics are not probes: solve them after `vls merge` (load_part(path, model: m)).
    func requireSolved() throws {
        guard probes.isEmpty else { return }
        throw RuntimeError("these probes hold one shard's sufficient statistics (trained on shard \(part.map { PartMerge.ranges($0.shards) } ?? "?") of \(part?.shardCount ?? 0)): save them with .save(path), merge the parts with vls merge, and solve with load_part(merged, model: m)")
    }

    var typeName: String { "probes" }
    func describe() -> String {
        if probes.isEmpty, let part { return "probes of \(kind.shortName): sufficient statistics of shard \(PartMerge.ranges(part.shards)) of \(part.shardCount), \(trainImages) images (merge, then load_part(path, model: m))" }
        return "probes of \(kind.shortName): \(probes.count) blocks x \(probes.first?.count ?? 0) positions, ridge alpha \(alpha)\(solver == "cholesky" ? "" : " (\(solver))"), trained on \(trainImages) images"
    }

    /// Probe scores of activations [L, B, T, D] (every block and position, as run[layer]
    /// stacks them) -> [L, B, T, C]; or of one block's [B, T, D] with `block:`.
    func scores(_ acts: Tensor, block: Int?) throws -> Tensor {
        try requireSolved()
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
        if let block { NaNWatch.check(src, block: block, analysis: "probes.scores") } else { NaNWatch.check(blocks: src, analysis: "probes.scores") }
        let out = try Tensor(uninitialized: [blocks.count, B, T, C], for: "probes.scores")
        for (i, b) in blocks.enumerated() {
            for t in 0..<T {
                let rows = try src.select(i).narrowed(axis: 1, start: t, count: 1).contiguous().reshaped([B, D])
                let sc = try probes[b][t].scores(rows).contiguous()
                for r in 0..<B { (out.mutablePointer + ((i * B + r) * T + t) * C).update(from: sc.pointer + r * C, count: C) }
            }
        }
        return block == nil ? out : out.select(0)
    }

    /// SHA-256 of every probe's weight and intercept: the probes' identity in part files.
    var weightDigest: String {
        var h = SHA256()
        for row in probes {
            for p in row {
                for t in [p.weight, p.bias] {
                    let c = t.contiguous()
                    h.update("\(t.shape);")
                    h.update(UnsafeRawBufferPointer(start: UnsafeRawPointer(c.pointer), count: c.count * MemoryLayout<Float>.size))
                }
            }
        }
        return h.hexDigest()
    }


    static let members: Members<ProbesObject> = bridgedMembers("probes")
        .property("model", "The model the probes read.") { o, _ in .object(o.model) }
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
            try o.requireSolved()
            let b = try a.int(0, "block"), t = try a.int(1, "position")
            guard b >= 0, b < o.probes.count, t >= 0, t < (o.probes.first?.count ?? 0) else {
                throw RuntimeError("probes.weights: block \(b) / position \(t) out of range (\(o.probes.count) blocks x \(o.probes.first?.count ?? 0) positions)")
            }
            return .list([.tensor(o.probes[b][t].weight), .tensor(o.probes[b][t].bias)])
        }
        .method("probes.save(path: string)", "Writes the sufficient statistics (a part file, for vls merge and load_part(path, model: m)) of probes trained on a sharded set.") { o, a in
            let path = try a.string(0, "path")
            guard let part = o.part else {
                throw RuntimeError("probes.save: only probes trained on a sharded set (dataset(..., sharded: true)) keep their sufficient statistics")
            }
            try PartFile.write(part, to: path)
            return .nil
        }
        .method("probes.evaluate(data: dataset, batch: int = 32)",
                "Probe accuracy against lens accuracy per block on a dataset: mean over image-token positions (CLS excluded) with 95% confidence intervals; saves its part with .save(path). Defined in the Stdlib as probing.evaluate(probes, data).") { o, a in
            try o.requireSolved()
            let d = try a.object(0, "data", as: DatasetObject.self, expected: "dataset")
            let evaluate = try a.interpreter.stdlibFunction("probing", "evaluate")
            return try a.interpreter.call(evaluate, [.object(o), .object(d)], keywords: [("batch", .int(try a.int(1, "batch")))])
        }
}

func probeBuiltins(_ session: Session) -> [NativeFunction] {
    [
        native("probe_pass", "probe_pass(model: model, layer: string = \"resid_post\")", area: "probes",
               "The fused pass behind probes (Stdlib/probing.vls): `.add(images, labels)` runs a batch and adds the raw activations of `layer` (resid_post, attn_out or mlp_out) at every block and token position to the ridge regressions' sufficient statistics (sums, X^T X, X^T Y in double precision); finish_analysis(\"probes\", ...) solves them.") { a in
            let m = try a.model(0)
            let layer = try a.string(nil, "layer", default: "resid_post")
            let kinds: [String: HookPoint.Kind] = ["resid_post": .residPost, "attn_out": .attnOut, "mlp_out": .mlpOut]
            guard let kind = kinds[layer] else { throw RuntimeError("probes: layer must be resid_post, attn_out or mlp_out, got '\(layer)'") }
            let L = m.c.depth, T = m.c.numTokens, D = m.c.width, C = m.c.numClasses
            var stats = [[RidgeStats]](repeating: [RidgeStats](repeating: RidgeStats(width: D, classes: C), count: T), count: L)
            let points = (0..<L).map { HookPoint(kind, block: $0) }
            return .object(AnalysisPass("probes", model: m, facts: [("layer", .string(layer))], add: { x, labels in
                let run = try m.model.run(x, capture: points)
                NaNWatch.check(run, points: points, analysis: "probes")
                for b in 0..<L {
                    guard let act = run.captured[points[b]]?.contiguous() else { continue }
                    for t in 0..<T { stats[b][t].add(act.pointer + t * D, rows: labels.count, rowStride: T * D, labels: labels) }
                }
            }, statistics: { RidgeStats.partStatistics(stats) }))
        },
    ]
}

/// Ridge probes for every block and position from their sufficient statistics.
func solveProbes(_ stats: [[RidgeStats]], alpha: Double, solver: RidgeSolver) throws -> [[Probe]] {
    try stats.map { row in try row.map { try $0.solve(alpha: alpha, solver: solver) } }
}
