import CBLAS

/// Matrix products over OpenBLAS, with a naive reference beside each.
///
/// All matrices are row-major. `transB` means B is stored as [n, k] (a PyTorch Linear
/// weight), so the product is A · Bᵀ.
public enum BLAS {
    /// C[m, n] = alpha · A[m, k] · op(B) + beta · C, with leading dimensions given.
    @inline(__always)
    public static func gemm(m: Int, n: Int, k: Int,
                            a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, transB: Bool,
                            c: UnsafeMutablePointer<Float>, ldc: Int,
                            transA: Bool = false, alpha: Float = 1, beta: Float = 0) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Reference kernel for `gemm` (double accumulation), for tests.
    public static func gemmNaive(m: Int, n: Int, k: Int,
                                 a: UnsafePointer<Float>, lda: Int,
                                 b: UnsafePointer<Float>, ldb: Int, transB: Bool,
                                 c: UnsafeMutablePointer<Float>, ldc: Int,
                                 transA: Bool = false, alpha: Float = 1, beta: Float = 0) {
        for i in 0..<m {
            for j in 0..<n {
                var acc = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    acc += Double(av) * Double(bv)
                }
                let prev = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * Float(acc) + prev
            }
        }
    }

    /// y[rows, out] = x[rows, in] · Wᵀ + bias, W stored [out, in] (PyTorch Linear).
    public static func linear(x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                              weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int,
                              y: UnsafeMutablePointer<Float>) {
        if let bias {
            for r in 0..<rows { (y + r * outFeatures).update(from: bias, count: outFeatures) }
        }
        gemm(m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, b: weight, ldb: inFeatures,
             transB: true, c: y, ldc: outFeatures, beta: bias == nil ? 0 : 1)
    }
}
