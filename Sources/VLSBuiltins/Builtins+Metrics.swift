import Foundation
import VLSCore
import VLSLanguage

/// Accumulated identifiability metrics as a language value: prints as a per-block table,
/// merges with other shards, saves as a partial result (JSON) or as CSV.
final class MetricsObject: DeclaredObject {
    var metrics: IdentifiabilityMetrics
    let label: String
    /// The statistics as a part file (Parts+Builtins.swift): what `.save("x.json")` writes.
    var part: Part?

    init(_ metrics: IdentifiabilityMetrics, label: String) { self.metrics = metrics; self.label = label }

    var typeName: String { "metrics" }

    var table: TableObject {
        let (cols, rows) = metrics.rows()
        return TableObject(columns: cols, rows: rows.map { r in r.enumerated().map { i, v in i == 0 ? .int(Int(v ?? 0)) : (v.map { .float($0) } ?? .nil) } },
                           title: "\(label): \(metrics.images) images, top-1 \(String(format: "%.2f", metrics.accuracy))%, mode \(metrics.mode.rawValue) (rates in %, s = 1 - rank/C)\(part.map(coverage) ?? "")")
    }

    func describe() -> String { table.describe() }

    static let members: Members<MetricsObject> = bridgedMembers("metrics")
        .property("table", "The per-block table (M1-M6).") { o, _ in .object(o.table) }
        .property("accuracy", "Top-1 accuracy in %.") { o, _ in .float(o.metrics.accuracy) }
        .property("images", "How many images were counted.") { o, _ in .int(o.metrics.images) }
        .property("mode", "\"correct\" or \"paper\".") { o, _ in .string(o.metrics.mode.rawValue) }
        .property("m1", "M1 at the last block (%).") { o, _ in .float(o.metrics.rows().rows.last?[1] ?? 0) }
        .property("m2", "M2 at the last block (%).") { o, _ in .float(o.metrics.rows().rows.last?[2] ?? 0) }
        .method("metrics.merge(other: metrics)", "Adds another shard's counts into this one (same model, data, selection and mode; a shard given twice is refused).") { o, a in
            let other = try a.object(0, "other", as: MetricsObject.self, expected: "metrics")
            guard let p = o.part, let q = other.part else { throw CoreError("metrics.merge: both metrics must come from identifiability_metrics") }
            if p.dataset.selection == q.dataset.selection && p.dataset.selected == q.dataset.selected {
                // shards of one selection: the same partition checks as vls merge (a shard given
                // twice is refused); shards not yet merged stay recorded as missing
                let merged = try PartMerge.merge([("these metrics", p), ("the other metrics", q)], partial: true)
                o.metrics = try IdentifiabilityMetrics(part: merged, name: "the merged metrics")
                o.part = merged
            } else {
                // different selections of one dataset (data.slice(0, 100) + data.slice(100, 400)):
                // counts add; the sum is no longer one selection's part, so it saves only as .csv
                guard p.model == q.model, p.analysis == q.analysis, p.arguments == q.arguments,
                      p.dataset.name == q.dataset.name, p.dataset.size == q.dataset.size, p.dataset.digest == q.dataset.digest else {
                    throw CoreError("metrics.merge: the metrics come from different models, datasets or modes")
                }
                try o.metrics.merge(other.metrics)
                o.part = nil
            }
            return .object(o)
        }
        .method("metrics.save(path: string)", "Writes the partial result (.json, mergeable by `vls merge`) or the table (.csv).") { o, a in
            try o.save(to: try a.string(0, "path"))
            return .nil
        }

    func save(to path: String) throws {
        if path.hasSuffix(".csv") { try table.save(to: path); return }
        guard let part else { throw CoreError("\(path): these metrics add up different selections, which no part describes; save them as .csv, or shard one selection (vls run --shard K/N) and merge its parts") }
        try PartFile.write(part, to: path)
    }
}

/// Index permutations given as a [S, n] tensor (numpy's draws), as rows of ints.
func permutationRows(_ p: Tensor, function: String) throws -> [[Int]] {
    guard p.rank == 2 else { throw RuntimeError("\(function): permutations must be a [S, n] tensor, got shape \(p.shape)") }
    let n = p.shape[1], v = p.contiguous().scalars
    guard v.allSatisfy({ $0.isFinite && $0 == $0.rounded() && abs($0) < 1e9 }) else {
        throw RuntimeError("\(function): permutations must hold integer indices")
    }
    return (0..<p.shape[0]).map { s in (0..<n).map { Int(v[s * n + $0]) } }
}

/// The paper's dataset-level metrics.
/// A permutation count: 0...2^24 (16.7 million relabellings; more is a hang, not a better p).
func shufflesArg(_ a: Arguments) throws -> Int {
    let n = try a.int(nil, "shuffles", default: 300)
    guard n >= 0, n <= 1 << 24 else { throw RuntimeError("\(a.functionName): shuffles must be in 0...\(1 << 24), got \(n)") }
    return n
}

func metricBuiltins(_ session: Session) -> [NativeFunction] {
    let area = "metrics"
    /// Streams a dataset through a collector.
    func collect(_ m: ModelObject, _ data: DatasetObject, mode: MetricsMode, batch: Int, keepRanks: Bool, label: String) throws -> MetricsCollector {
        let collector = MetricsCollector(model: m.model, mode: mode, keepRanks: keepRanks)
        try data.forEachBatch(batch, model: m, label: label) { x, labels in try collector.add(images: x, labels: labels) }
        return collector
    }
    func modeArg(_ a: Arguments) throws -> MetricsMode {
        let s = try a.string(nil, "mode", default: "correct")
        guard let m = MetricsMode(rawValue: s) else { throw RuntimeError("mode must be \"correct\" or \"paper\", got \"\(s)\"") }
        return m
    }
    return [
        native("identifiability_metrics", "identifiability_metrics(model: model, data: dataset, mode: string = \"correct\", batch: int = 32)", area: area,
               "M1-M6 of Vilas et al. per block, streamed over a dataset: M1 % of image tokens whose true class is top-1 through the lens, M2 % of images with at least one, the mean class identifiability s of CLS and image tokens (M3), M4 % of image tokens whose true-class logit rose from the previous block, M5 the same for the attention and MLP outputs against the block input (CLS and image tokens), M6 % of tokens whose residual top-1 equals that of attn_out / mlp_out / the previous residual / none. `mode: \"paper\"` reproduces the authors' token set (token 0 dropped for every model). Returns mergeable metrics (print them, .table, .save(path)).") { a in
            let m = try a.model(0)
            let data = try a.object(1, "data", as: DatasetObject.self, expected: "dataset")
            try requireSharded(data, session: session, "identifiability_metrics")
            let mode = try modeArg(a)
            let c = try collect(m, data, mode: mode, batch: try a.int(nil, "batch", default: 32), keepRanks: false, label: "metrics")
            let part = try makePart("identifiability", ["mode": mode.rawValue, "label": m.c.architecture ?? "model"], model: m, data: data,
                                session: session, statistics: c.metrics.partStatistics)
            return try bridged { try PartResults.finish(part, name: "identifiability_metrics") }
        },
        native("compare_random", "compare_random(model: model, data: dataset, seed: int = nil, mode: string = \"correct\", batch: int = 32)", area: area,
               "Class identifiability per block of the model against the same architecture with timm's random init (seeded): mean s of both and the one-sided paired Wilcoxon signed-rank test (greater; scipy options zero_method=\"wilcox\", correction=False, normal approximation), paired by image and position. mode \"correct\": one test per token type (CLS, image); \"paper\": one test per block over all tokens pooled, p rounded to 3 decimals before the < 0.05 star, as the authors' code.") { a in
            let m = try a.model(0)
            let data = try a.object(1, "data", as: DatasetObject.self, expected: "dataset")
            try requireSharded(data, session: session, "compare_random")
            let mode = try modeArg(a)
            let batch = try a.int(nil, "batch", default: 32)
            let seed = try a.int(nil, "seed", default: Int(truncatingIfNeeded: session.options.seed))
            let random = ModelObject(m.model.randomized(seed: UInt64(bitPattern: Int64(seed))), session: session)
            let trained = try collect(m, data, mode: mode, batch: batch, keepRanks: true, label: "trained")
            let baseline = try collect(random, data, mode: mode, batch: batch, keepRanks: true, label: "random")
            // per image, [block][token] ranks of the true class, for both models (rows in dataset order)
            let L = m.c.depth, T = m.c.numTokens, n = trained.metrics.images
            func rows(_ c: MetricsCollector) -> [Int] {
                var out = [Int](repeating: 0, count: n * L * T)
                for b in 0..<L { for i in 0..<n { for t in 0..<T { out[(i * L + b) * T + t] = Int(c.ranks[b][i * T + t]) } } }
                return out
            }
            let part = try makePart("compare_random", ["seed": "\(seed)", "mode": mode.rawValue], model: m, data: data, session: session,
                                statistics: ["ranks_trained": .counts(rows(trained), shape: [n, L, T], rows: true),
                                             "ranks_random": .counts(rows(baseline), shape: [n, L, T], rows: true)])
            return try bridged { try PartResults.finish(part, name: "compare_random") }
        },
        native("wilcoxon", "wilcoxon(a: tensorlike, b: tensorlike, alternative: string = \"greater\")", area: area,
               "Paired Wilcoxon signed-rank test of a - b (scipy.stats.wilcoxon with zero_method=\"wilcox\", correction=False, method=\"approx\"): a dict with statistic (sum of positive ranks), z, p and n (pairs after dropping zeros).") { a in
            let r = try Stats.wilcoxon(try doubles(try a.value(0, "a")), try doubles(try a.value(1, "b")),
                                       alternative: try a.string(nil, "alternative", default: "greater"))
            return .dict([("statistic", .float(r.statistic)), ("z", .float(r.z)), ("p", .float(r.pValue)), ("n", .int(r.n))])
        },
        native("permutation_test", "permutation_test(a: tensorlike, b: tensorlike, shuffles: int = 300, seed: int = 0, permutations: tensorlike = nil)", area: area,
               "One-sided permutation test of mean(a) - mean(b): pool a and b, relabel by a seeded random permutation `shuffles` times (or by the given `permutations`, a [S, len(a) + len(b)] tensor of index permutations, e.g. numpy's draws), p = share of relabellings whose difference is at least the observed one (ties within 1e-12 count). Returns a dict with mean_a, mean_b, difference, p and shuffles.") { a in
            let perms = try a.optionalTensor(nil, "permutations").map { try permutationRows($0, function: "permutation_test") }
            let r = try Stats.permutationTest(try doubles(try a.value(0, "a")), try doubles(try a.value(1, "b")),
                                              shuffles: try shufflesArg(a),
                                              seed: UInt64(bitPattern: Int64(try a.int(nil, "seed", default: 0))), permutations: perms)
            return .dict([("mean_a", .float(r.meanA)), ("mean_b", .float(r.meanB)), ("difference", .float(r.difference)),
                          ("p", .float(r.pValue)), ("shuffles", .int(r.shuffles))])
        },
        native("permutation", "permutation(n: int, seed: int = nil)", area: area,
               "A random permutation of 0..n-1 (Fisher-Yates on vls's seeded generator) as a list of ints; without `seed` the draw comes from the session's generator (`vls run --seed N`).") { a in
            let n = try a.int(0, "n")
            guard n >= 0, n <= 1 << 26 else { throw RuntimeError("permutation: n must be in 0...\(1 << 26), got \(n)") }
            if a.keyword("seed") != nil {
                var g = SeededGenerator(seed: UInt64(bitPattern: Int64(try a.int(nil, "seed"))))
                return .ints(g.permutation(n))
            }
            return .ints(session.rng.permutation(n))
        },
    ]
}
