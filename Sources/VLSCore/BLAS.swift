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

    /// What a worker applies to its slice of a `linear` output right after computing it
    /// (still in cache): `(slice, ld, rows, columns)`, the slice starting at its first column.
    public typealias Epilogue = (UnsafeMutablePointer<Float>, Int, Int, Int) -> Void

    /// y[rows, out] = x[rows, in] · Wᵀ + bias, W stored [out, in] (PyTorch Linear), then
    /// `epilogue` (e.g. GELU) over the output.
    ///
    /// With several workers and enough work, the output columns (rows of W) are split in
    /// contiguous slices, one per worker, each a single-threaded sgemm followed by its
    /// bias and epilogue. One pool of threads then does everything: OpenBLAS's own threads
    /// would otherwise spin between calls and fight the workers for the cores (profiled at
    /// ViT-B/16 batch 1: ~10% of the time in sched_yield), and the small-M products of a
    /// batch-1 forward split better by columns than OpenBLAS splits them.
    ///
    /// `rowBlock` (the rows of one image, e.g. its T tokens) makes the result of each block
    /// independent of the others: every block is its own product, and the choice of path
    /// depends on one block's size only. An image's logits and activations are then the
    /// same bits whatever batch it is in (sgemm rounds a row differently with the row count
    /// and the row's position in it), so sharded analyses merge to the unsharded numbers.
    public static func linear(x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                              weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int,
                              y: UnsafeMutablePointer<Float>, rowBlock: Int? = nil, epilogue: Epilogue? = nil) {
        let block = max(1, min(rowBlock ?? rows, rows))
        let workers = Threads.count
        let flops = block * outFeatures * inFeatures
        func run(_ columns: Range<Int>) {
            var start = 0
            while start < rows {
                let n = min(block, rows - start)
                linearSlice(x: x + start * inFeatures, rows: n, inFeatures: inFeatures, weight: weight, bias: bias,
                            outFeatures: outFeatures, columns: columns, y: y + start * outFeatures, epilogue: epilogue)
                start += n
            }
        }
        if workers == 1 || flops < 4_000_000 || outFeatures < 64 * workers {
            run(0..<outFeatures)
            return
        }
        // Slices of whole 16-column panels, as even as the panels allow.
        let panels = (outFeatures + 15) / 16
        Threads.onWorkers(workers) { wk in
            let j0 = min(outFeatures, panels * wk / workers * 16)
            let j1 = min(outFeatures, panels * (wk + 1) / workers * 16)
            if j0 < j1 { run(j0..<j1) }
        }
    }

    /// Columns `columns` of `linear`, on the calling thread's BLAS.
    @inline(__always)
    static func linearSlice(x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                            weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int,
                            columns: Range<Int>, y: UnsafeMutablePointer<Float>, epilogue: Epilogue?) {
        let j0 = columns.lowerBound, n = columns.count
        let out = y + j0
        if let bias {
            for r in 0..<rows { (out + r * outFeatures).update(from: bias + j0, count: n) }
        }
        gemm(m: rows, n: n, k: inFeatures, a: x, lda: inFeatures, b: weight + j0 * inFeatures, ldb: inFeatures,
             transB: true, c: out, ldc: outFeatures, beta: bias == nil ? 0 : 1)
        epilogue?(out, outFeatures, rows, n)
    }
}
