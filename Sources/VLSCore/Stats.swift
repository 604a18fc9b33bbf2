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

    /// Two-sample permutation test of mean(a) - mean(b): the share of `shuffles` random
    /// relabellings whose difference is at least the observed one (one-sided, "greater";
    /// p = #(perm >= observed) / shuffles). Seeded.
    public static func permutationTest(_ a: [Double], _ b: [Double], shuffles: Int = 300, seed: UInt64) -> (difference: Double, pValue: Double) {
        func mean(_ v: ArraySlice<Double>) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }
        let all = a + b
        let observed = mean(a[...]) - mean(b[...])
        var g = SeededGenerator(seed: seed)
        var count = 0
        for _ in 0..<shuffles {
            let p = g.permutation(all.count)
            let perm = p.map { all[$0] }
            if mean(perm[..<a.count]) - mean(perm[a.count...]) >= observed { count += 1 }
        }
        return (observed, Double(count) / Double(max(shuffles, 1)))
    }
}
