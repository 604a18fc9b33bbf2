import Foundation
import VLSCore
import VLSLanguage

/// Measurements of the process itself, for benchmarks and memory checks.
func systemBuiltins(_ session: Session) -> [NativeFunction] {
    let area = "system"
    return [
        native("session_seed", "session_seed()", area: area,
               "The session's seed (vls run --seed N, 0 by default), from which every random draw without a seed of its own derives.") { _ in
            .int(Int(truncatingIfNeeded: session.options.seed))
        },
        native("rss_mb", "rss_mb(peak: bool = false)", area: area,
               "Resident memory of this process in MiB (from /proc/self/status), or its peak (VmHWM) with peak: true.") { a in
            let key = try a.bool(nil, "peak", default: false) ? "VmHWM:" : "VmRSS:"
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }),
                  let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else {
                throw RuntimeError("rss_mb: /proc/self/status is not readable here")
            }
            return .float(kb / 1024)
        },
        native("sgemm_gflops", "sgemm_gflops(m: int, n: int, k: int, runs: int = 5, trans_b: bool = true)", area: area,
               "The rate OpenBLAS's sgemm reaches on an m x k by k x n product (B transposed as a Linear weight), median of runs, in GFLOP/s: the ceiling the forward pass is measured against.") { a in
            let m = try a.int(0, "m"), n = try a.int(1, "n"), k = try a.int(2, "k")
            guard m > 0, n > 0, k > 0, m * k <= 1 << 28, n * k <= 1 << 28, m * n <= 1 << 28 else { throw RuntimeError("sgemm_gflops: sizes out of range") }
            let runs = max(1, try a.int(nil, "runs", default: 5))
            let tb = try a.bool(nil, "trans_b", default: true)
            var g = SeededGenerator(seed: 1)
            let A = (0..<(m * k)).map { _ in Float(g.uniform()) }, B = (0..<(n * k)).map { _ in Float(g.uniform()) }
            var C = [Float](repeating: 0, count: m * n)
            var times: [Double] = []
            for i in 0..<(runs + 1) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                BLAS.gemm(m: m, n: n, k: k, a: A, lda: k, b: B, ldb: tb ? k : n, transB: tb, c: &C, ldc: n)
                let t = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                if i > 0 { times.append(t) }
            }
            times.sort()
            return .float(2 * Double(m) * Double(n) * Double(k) / times[times.count / 2] / 1e9)
        },
    ]
}
