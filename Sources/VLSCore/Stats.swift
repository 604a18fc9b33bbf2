import Foundation

/// Statistical tests of the paper, with their options pinned to scipy's.
public enum Stats {
    public struct WilcoxonResult: Sendable {
        /// Sum of the ranks of positive differences (one-sided), min(r+, r-) (two-sided), as scipy.
        public let statistic: Double
        public let z: Double
        public let pValue: Double
        /// Pairs left after dropping zero differences.
        public let n: Int
    }

    /// Paired Wilcoxon signed-rank test of x - y, as scipy.stats.wilcoxon(x, y,
    /// zero_method="wilcox", correction=False, alternative=..., method="approx"):
    /// zero differences dropped, average ranks for ties, normal approximation with the
    /// tie-corrected variance.
    public static func wilcoxon(_ x: [Double], _ y: [Double], alternative: String = "greater") throws -> WilcoxonResult {
        guard x.count == y.count else { throw CoreError("wilcoxon: paired samples differ in length (\(x.count) vs \(y.count))") }
        // NaN would be dropped or ranked arbitrarily (scipy's default propagates it to a NaN
        // p-value): refused, naming the sample and the position.
        for (name, sample) in [("a", x), ("b", y)] {
            if let i = sample.firstIndex(where: { !$0.isFinite }) {
                throw CoreError("wilcoxon: \(name)[\(i)] is \(sample[i]); every value must be a finite number")
            }
        }
        let d = zip(x, y).map { $0 - $1 }.filter { $0 != 0 }
        let n = d.count
        guard n > 0 else { return WilcoxonResult(statistic: 0, z: 0, pValue: 1, n: 0) }
        let order = d.indices.sorted { abs(d[$0]) < abs(d[$1]) }
        var ranks = [Double](repeating: 0, count: n)
        var tieTerm = 0.0
        var i = 0
        while i < n {
            var j = i
            while j + 1 < n && abs(d[order[j + 1]]) == abs(d[order[i]]) { j += 1 }
            let avg = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = avg }
            let t = Double(j - i + 1)
            if t > 1 { tieTerm += t * (t * t - 1) }
            i = j + 1
        }
        let rPlus = zip(d, ranks).filter { $0.0 > 0 }.map(\.1).reduce(0, +)
        let nn = Double(n)
        let mean = nn * (nn + 1) / 4
        var variance = nn * (nn + 1) * (2 * nn + 1)
        variance -= 0.5 * tieTerm
        let se = (variance / 24).squareRoot()
        let z = se > 0 ? (rPlus - mean) / se : 0
        let p: Double
        switch alternative {
        case "greater": p = normalSF(z)
        case "less": p = normalSF(-z)
        case "two-sided": p = min(1, 2 * normalSF(abs(z)))
        default: throw CoreError("wilcoxon: alternative must be \"greater\", \"less\" or \"two-sided\", got \"\(alternative)\"")
        }
        // scipy reports min(r+, r-) for the two-sided test, r+ for one-sided ones.
        let rMinus = nn * (nn + 1) / 2 - rPlus
        return WilcoxonResult(statistic: alternative == "two-sided" ? min(rPlus, rMinus) : rPlus, z: z, pValue: p, n: n)
    }

    /// Survival function of the standard normal.
    public static func normalSF(_ z: Double) -> Double { 0.5 * erfc(z / 2.0.squareRoot()) }

    /// The result of a two-sample permutation test.
    public struct PermutationResult: Sendable {
        public let meanA: Double
        public let meanB: Double
        /// mean(a) - mean(b).
        public let difference: Double
        /// Share of the relabellings whose difference is at least the observed one.
        public let pValue: Double
        public let shuffles: Int
    }

    /// Two-sample permutation test of mean(a) - mean(b) (one-sided, "greater"): pool a and b,
    /// and for each permutation p of the pool take its first |a| values as the new a;
    /// p-value = #(permuted difference >= observed) / shuffles. A permuted difference within
    /// 1e-12 (relative) of the observed one counts as equal, so ties of discrete data (ranks)
    /// do not hang on summation order. `permutations` gives the draws (each a permutation of
    /// 0..<|a|+|b|, e.g. from numpy, to check against a reference); by default `shuffles`
    /// seeded draws.
    public static func permutationTest(_ a: [Double], _ b: [Double], shuffles: Int = 300, seed: UInt64,
                                       permutations: [[Int]]? = nil) throws -> PermutationResult {
        // An empty sample has no mean: the difference would be NaN, no draw would count as
        // at least it, and p came out 0, the strongest possible evidence, from no data.
        guard !a.isEmpty, !b.isEmpty else {
            throw CoreError("permutation_test: both samples need at least one value (got \(a.count) and \(b.count))")
        }
        if let bad = (a + b).first(where: { !$0.isFinite }) {
            throw CoreError("permutation_test: the samples hold \(bad); every value must be a finite number")
        }
        func mean(_ v: ArraySlice<Double>) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
        let all = a + b
        let observed = mean(a[...]) - mean(b[...])
        let tie = 1e-12 * max(1, abs(observed))
        if let permutations {
            for p in permutations {
                guard p.count == all.count, Set(p).count == all.count, p.allSatisfy({ $0 >= 0 && $0 < all.count }) else {
                    throw CoreError("permutation_test: each permutation must hold 0..<\(all.count) once each (got \(p.count) values)")
                }
            }
        }
        guard shuffles > 0 || permutations != nil else { throw CoreError("permutation_test: shuffles must be positive, got \(shuffles)") }
        var g = SeededGenerator(seed: seed)
        let draws = permutations?.count ?? shuffles
        var count = 0
        for s in 0..<draws {
            let p = permutations?[s] ?? g.permutation(all.count)
            let perm = p.map { all[$0] }
            if mean(perm[..<a.count]) - mean(perm[a.count...]) >= observed - tie { count += 1 }
        }
        return PermutationResult(meanA: mean(a[...]), meanB: mean(b[...]), difference: observed,
                                 pValue: draws > 0 ? Double(count) / Double(draws) : .nan, shuffles: draws)
    }
}
