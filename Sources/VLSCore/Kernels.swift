import Foundation

/// Row-wise kernels of the ViT: layer norm, GELU, softmax. Each fast kernel has a naive
/// reference beside it (double precision), tested against each other.
public enum Kernels {
    // MARK: - Layer norm

    /// out[r, :] = (x[r, :] - mean) / sqrt(var + eps) * gamma + beta, biased variance (as torch).
    public static func layerNorm(_ x: UnsafePointer<Float>, rows: Int, width d: Int,
                                 gamma: UnsafePointer<Float>?, beta: UnsafePointer<Float>?, eps: Float,
                                 out: UnsafeMutablePointer<Float>) {
        Threads.parallelFor(rows, costPerItem: d * 4) { r0, r1 in
            for r in r0..<r1 {
                let row = x + r * d
                let o = out + r * d
                let (mean, inv) = layerNormStatistics(row, width: d, eps: eps)
                if let gamma, let beta {
                    for i in 0..<d { o[i] = (row[i] - mean) * inv * gamma[i] + beta[i] }
                } else if let gamma {
                    for i in 0..<d { o[i] = (row[i] - mean) * inv * gamma[i] }
                } else {
                    for i in 0..<d { o[i] = (row[i] - mean) * inv }
                }
            }
        }
    }

    /// The mean and 1 / sqrt(var + eps) of one row, computed as `layerNorm` does.
    @inline(__always)
    public static func layerNormStatistics(_ row: UnsafePointer<Float>, width d: Int, eps: Float) -> (Float, Float) {
        var sum: Float = 0
        for i in 0..<d { sum += row[i] }
        let mean = sum / Float(d)
        var sq: Float = 0
        for i in 0..<d { let c = row[i] - mean; sq += c * c }
        return (mean, 1 / (sq / Float(d) + eps).squareRoot())
    }

    /// Reference layer norm in double precision.
    public static func layerNormNaive(_ x: UnsafePointer<Float>, rows: Int, width d: Int,
                                      gamma: UnsafePointer<Float>?, beta: UnsafePointer<Float>?, eps: Float,
                                      out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            var mean = 0.0
            for i in 0..<d { mean += Double(x[r * d + i]) }
            mean /= Double(d)
            var v = 0.0
            for i in 0..<d { let c = Double(x[r * d + i]) - mean; v += c * c }
            v /= Double(d)
            for i in 0..<d {
                var y = (Double(x[r * d + i]) - mean) / (v + Double(eps)).squareRoot()
                if let gamma { y *= Double(gamma[i]) }
                if let beta { y += Double(beta[i]) }
                out[r * d + i] = Float(y)
            }
        }
    }

    // MARK: - Activations

    /// Exact GELU, x · Φ(x) = 0.5 x (1 + erf(x / √2)), in place. erf is evaluated by a
    /// branch-free rational approximation (the one Eigen and XLA use for float erf, within
    /// a few float ulps of erff) so the loop vectorises; tested against `geluNaive`.
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        Threads.parallelFor(n, costPerItem: 4) { a, b in geluSerial(x + a, count: b - a) }
    }

    /// `gelu` on the calling thread (for work already split across the workers).
    @inline(__always)
    public static func geluSerial(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n {
            let v = x[i]
            x[i] = 0.5 * v * (1 + fastErf(v * 0.70710678118654752))
        }
    }

    /// erf(x) for Float, rational approximation on [-4, 4] (|erf| = 1 beyond in float).
    @inline(__always)
    public static func fastErf(_ x0: Float) -> Float {
        let x = min(max(x0, -4), 4)
        let x2 = x * x
        var p: Float = -2.72614225801306e-10
        p = p * x2 + 2.77068142495902e-08
        p = p * x2 + -2.10102402082508e-06
        p = p * x2 + -5.69250639462346e-05
        p = p * x2 + -7.34990630326855e-04
        p = p * x2 + -2.95459980854025e-03
        p = p * x2 + -1.60960333262415e-02
        p = p * x
        var q: Float = -1.45660718464996e-05
        q = q * x2 + -2.13374055278905e-04
        q = q * x2 + -1.68282697438203e-03
        q = q * x2 + -7.37332916720468e-03
        q = q * x2 + -1.42647390514189e-02
        return p / q
    }

    /// Reference exact GELU in double precision.
    public static func geluNaive(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n {
            let v = Double(x[i])
            x[i] = Float(0.5 * v * (1 + erf(v / 2.0.squareRoot())))
        }
    }

    /// CLIP's quick GELU, x · sigmoid(1.702 x), in place.
    public static func quickGelu(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        Threads.parallelFor(n, costPerItem: 8) { a, b in quickGeluSerial(x + a, count: b - a) }
    }

    /// `quickGelu` on the calling thread.
    @inline(__always)
    public static func quickGeluSerial(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n {
            let v = x[i]
            x[i] = v / (1 + expf(-1.702 * v))
        }
    }

    // MARK: - Softmax

    /// Row-wise softmax of `rows` rows of length `n` (stride `ld`), in place, max-subtracted.
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, n: Int, ld: Int? = nil) {
        let ld = ld ?? n
        for r in 0..<rows {
            let row = x + r * ld
            var m = -Float.infinity
            for i in 0..<n where row[i] > m { m = row[i] }
            var s: Float = 0
            for i in 0..<n { row[i] = fastExp(row[i] - m) }
            for i in 0..<n { s += row[i] }
            let inv = 1 / s
            for i in 0..<n { row[i] *= inv }
        }
    }

    /// e^x for x <= 0 (softmax after max subtraction; any x in [-87, 88] works): 2^n · p(r)
    /// with x = n·ln2 + r, |r| <= ln2/2, p a degree-6 polynomial (Cephes expf coefficients);
    /// branch-free so the loop vectorises; within 2 ulp of expf, tested.
    @inline(__always)
    public static func fastExp(_ x0: Float) -> Float {
        let x = min(max(x0, -87.3), 88.3)
        // Round to nearest by adding and subtracting 1.5 * 2^23 (exact for |v| < 2^22): plain
        // adds that vectorise on baseline x86-64, where `rounded()` is a call to roundf
        // per element (2.4% of a ViT-B/16 forward, profiled).
        let magic: Float = 12582912
        let t = x * 1.44269504088896341 + magic
        let n = t - magic
        // n as an integer from t's low mantissa bits (exact for |n| < 2^22), not Int32(n):
        // with checks on, Int32(NaN) traps, and a NaN activation must give NaN, not a crash
        // (the clamp above lets NaN through; p(r) below is then NaN).
        let ni = Int32(bitPattern: t.bitPattern &- magic.bitPattern)
        let r = x - n * 0.693359375 + n * 2.12194440e-4
        var p: Float = 1.9875691500E-4
        p = p * r + 1.3981999507E-3
        p = p * r + 8.3334519073E-3
        p = p * r + 4.1665795894E-2
        p = p * r + 1.6666665459E-1
        p = p * r + 5.0000001201E-1
        let e = p * r * r + r + 1
        return e * Float(bitPattern: UInt32(bitPattern: (ni &+ 127) << 23))
    }

    /// Reference softmax in double precision.
    public static func softmaxRowsNaive(_ x: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows {
            var m = -Double.infinity
            for i in 0..<n { m = max(m, Double(x[r * n + i])) }
            var s = 0.0
            var e = [Double](repeating: 0, count: n)
            for i in 0..<n { e[i] = exp(Double(x[r * n + i]) - m); s += e[i] }
            for i in 0..<n { x[r * n + i] = Float(e[i] / s) }
        }
    }
}
