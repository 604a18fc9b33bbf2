import Foundation
import CBLAS

/// Linear probes (method.md section 6): ridge regression with intercept on raw activations,
/// targets one-hot coded as +1/-1 over C outputs, solved in closed form by Cholesky
/// (LAPACK dpotrf/dpotrs, double precision) — what scikit-learn's `Ridge(solver="cholesky")`
/// computes. The paper used `solver="lsqr"` (iterative, converging to the same solution).
///
/// Training is streamed: only the sufficient statistics Σx, Σy, XᵀX, XᵀY and N are kept.
public struct RidgeStats: Sendable {
    public let width: Int
    public let classes: Int
    public private(set) var n = 0
    var sumX: [Double]
    var sumY: [Double]
    var xtx: [Double]   // [D, D]
    var xty: [Double]   // [D, C]

    public init(width: Int, classes: Int) {
        self.width = width; self.classes = classes
        sumX = [Double](repeating: 0, count: width)
        sumY = [Double](repeating: 0, count: classes)
        xtx = [Double](repeating: 0, count: width * width)
        xty = [Double](repeating: 0, count: width * classes)
    }

    /// Adds rows x [R, D] (strided rows allowed through `rowStride`) with labels.
    public mutating func add(_ x: UnsafePointer<Float>, rows: Int, rowStride: Int, labels: [Int]) {
        let D = width, C = classes
        var xd = [Double](repeating: 0, count: rows * D)
        for r in 0..<rows { for d in 0..<D { xd[r * D + d] = Double(x[r * rowStride + d]) } }
        var y = [Double](repeating: -1, count: rows * C)
        for r in 0..<rows { y[r * C + labels[r]] = 1 }
        for r in 0..<rows {
            for d in 0..<D { sumX[d] += xd[r * D + d] }
            for c in 0..<C { sumY[c] += y[r * C + c] }
        }
        xd.withUnsafeBufferPointer { xp in
            xtx.withUnsafeMutableBufferPointer { g in
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(D), Int32(rows), 1, xp.baseAddress, Int32(D), 1, g.baseAddress, Int32(D))
            }
            y.withUnsafeBufferPointer { yp in
                xty.withUnsafeMutableBufferPointer { g in
                    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(D), Int32(C), Int32(rows), 1, xp.baseAddress, Int32(D),
                                yp.baseAddress, Int32(C), 1, g.baseAddress, Int32(C))
                }
            }
        }
        n += rows
    }

    /// Solves (XcᵀXc + αI) W = XcᵀYc on centred data; intercept b = ȳ - x̄ W.
    public func solve(alpha: Double) throws -> Probe {
        let D = width, C = classes
        guard n > 0 else { throw CoreError("probe: no training rows") }
        let N = Double(n)
        let mx = sumX.map { $0 / N }, my = sumY.map { $0 / N }
        var a = [Double](repeating: 0, count: D * D)
        for i in 0..<D { for j in i..<D {
            let v = xtx[i * D + j] - N * mx[i] * mx[j]
            a[i * D + j] = v; a[j * D + i] = v
        } }
        for i in 0..<D { a[i * D + i] += alpha }
        // Right-hand side in column-major [D, C] for LAPACK (a is symmetric: layout-free).
        var b = [Double](repeating: 0, count: D * C)
        for d in 0..<D { for c in 0..<C { b[c * D + d] = xty[d * C + c] - N * mx[d] * my[c] } }
        var uplo = Int8(UInt8(ascii: "U")), nn = Int32(D), nrhs = Int32(C), lda = Int32(D), info: Int32 = 0
        dpotrf_(&uplo, &nn, &a, &lda, &info)
        guard info == 0 else { throw CoreError("probe: the regularised Gram matrix is not positive definite (alpha \(alpha) too small?)") }
        dpotrs_(&uplo, &nn, &nrhs, &a, &lda, &b, &lda, &info)
        guard info == 0 else { throw CoreError("probe: Cholesky solve failed (\(info))") }
        var w = [Float](repeating: 0, count: D * C), bias = [Float](repeating: 0, count: C)
        for d in 0..<D { for c in 0..<C { w[d * C + c] = Float(b[c * D + d]) } }
        for c in 0..<C {
            var s = my[c]
            for d in 0..<D { s -= mx[d] * b[c * D + d] }
            bias[c] = Float(s)
        }
        return Probe(weight: Tensor(w, shape: [D, C]), bias: Tensor(bias, shape: [C]))
    }
}

/// A trained linear probe: scores = x · W + b.
public struct Probe: Sendable {
    public let weight: Tensor   // [D, C]
    public let bias: Tensor     // [C]

    /// Scores [R, C] for rows x [R, D].
    public func scores(_ x: Tensor) throws -> Tensor {
        try x.matmul(weight).binary(.add, bias)
    }
}
