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
    func modeArg(_ a: Arguments, _ function: String) throws -> MetricsMode {
        let s = try a.string(nil, "mode", default: "correct")
        guard let m = MetricsMode(rawValue: s) else { throw RuntimeError("\(function): mode must be \"correct\" or \"paper\", got \"\(s)\"") }
        return m
    }
    return [
        native("identifiability_pass", "identifiability_pass(model: model, mode: string = \"correct\")", area: area,
               "The fused pass behind identifiability_metrics (Stdlib/metrics.vls): `.add(images, labels)` streams a batch through the model, projecting every block's residual stream and sublayer outputs through the lens as they are computed (no activation kept past its block), and counts M1-M6; finish_analysis(\"identifiability\", ...) makes the table.") { a in
            let m = try a.model(0)
            let mode = try modeArg(a, "identifiability_pass")
            let collector = MetricsCollector(model: m.model, mode: mode)
            return .object(AnalysisPass("identifiability", model: m, facts: [("mode", .string(mode.rawValue))], add: { x, y in try collector.add(images: x, labels: y) },
                                        statistics: { collector.metrics.partStatistics }))
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
