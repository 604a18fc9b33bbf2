import Foundation
import CBLAS

/// Linear probes (Docs/method.md#linear-probes): ridge regression with intercept on raw activations,
/// targets one-hot coded as +1/-1 over C outputs. Two solvers:
/// - `.cholesky` (default): closed form by Cholesky (LAPACK dpotrf/dpotrs, double
///   precision), what scikit-learn's `Ridge(solver="cholesky")` computes;
/// - `.lsqr`: the paper's `Ridge(solver="lsqr")`, Paige & Saunders' LSQR per target column
///   with damp = √alpha on the centred data and scikit-learn's stopping settings
///   (atol = btol = tol = 1e-4, conlim 1e8, at most 2·D iterations). It stops early, so its
///   weights differ from the exact solution by about `tol` (relative).
///
/// Training is streamed: only the sufficient statistics Σx, Σy, Σy², XᵀX, XᵀY and N are kept.
/// LSQR's Golub-Kahan bidiagonalisation of the centred X needs X only through products
/// Xc·v and Xcᵀ·u; it is run on the Gram matrix instead, carrying Xcᵀ·u_k in place of u_k
/// (β_{k+1}² = ‖Xc v_k - α_k u_k‖² = v_kᵀG v_k - 2α_k (Xcᵀu_k)ᵀv_k + α_k²), which gives
/// the same iterates in exact arithmetic.
public enum RidgeSolver: Sendable, Equatable {
    case cholesky
    /// tol: atol = btol of LSQR (scikit-learn's Ridge default 1e-4); maxIterations: nil = 2·D.
    case lsqr(tol: Double = 1e-4, maxIterations: Int? = nil)
}
public struct RidgeStats: Sendable {
    public let width: Int
    public let classes: Int
    public internal(set) var n = 0
    var sumX: [Double]
    var sumY: [Double]
    var sumYY: [Double]
    var xtx: [Double]   // [D, D]
    var xty: [Double]   // [D, C]

    public init(width: Int, classes: Int) {
        self.width = width; self.classes = classes
        sumX = [Double](repeating: 0, count: width)
        sumY = [Double](repeating: 0, count: classes)
        sumYY = [Double](repeating: 0, count: classes)
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
            for c in 0..<C { sumY[c] += y[r * C + c]; sumYY[c] += y[r * C + c] * y[r * C + c] }
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

    /// The centred Gram matrix XcᵀXc [D, D] (symmetric) and XcᵀYc column by column [C][D].
    func centred() -> (gram: [Double], rhs: [Double], mx: [Double], my: [Double]) {
        let D = width, C = classes, N = Double(n)
        let mx = sumX.map { $0 / N }, my = sumY.map { $0 / N }
        var a = [Double](repeating: 0, count: D * D)
        for i in 0..<D { for j in i..<D {
            let v = xtx[i * D + j] - N * mx[i] * mx[j]
            a[i * D + j] = v; a[j * D + i] = v
        } }
        var b = [Double](repeating: 0, count: D * C)
        for d in 0..<D { for c in 0..<C { b[c * D + d] = xty[d * C + c] - N * mx[d] * my[c] } }
        return (a, b, mx, my)
    }

    /// The probe from centred weights [C][D] (column c of W contiguous): intercept b = ȳ - x̄ W.
    func probe(weights b: [Double], mx: [Double], my: [Double]) -> Probe {
        let D = width, C = classes
        var w = [Float](repeating: 0, count: D * C), bias = [Float](repeating: 0, count: C)
        for d in 0..<D { for c in 0..<C { w[d * C + c] = Float(b[c * D + d]) } }
        for c in 0..<C {
            var s = my[c]
            for d in 0..<D { s -= mx[d] * b[c * D + d] }
            bias[c] = Float(s)
        }
        return Probe(weight: Tensor(w, shape: [D, C]), bias: Tensor(bias, shape: [C]))
    }

    /// Solves the ridge problem with the chosen solver.
    public func solve(alpha: Double, solver: RidgeSolver) throws -> Probe {
        switch solver {
        case .cholesky: return try solve(alpha: alpha)
        case .lsqr(let tol, let maxIterations): return try solveLSQR(alpha: alpha, tol: tol, maxIterations: maxIterations).probe
        }
    }

    /// Solves (XcᵀXc + αI) W = XcᵀYc on centred data; intercept b = ȳ - x̄ W.
    public func solve(alpha: Double) throws -> Probe {
        let D = width, C = classes
        guard n > 0 else { throw CoreError("probe: no training rows") }
        var (a, b, mx, my) = centred()
        for i in 0..<D { a[i * D + i] += alpha }
        // b is column-major [D, C] for LAPACK (a is symmetric: layout-free).
        var uplo = Int8(UInt8(ascii: "U")), nn = Int32(D), nrhs = Int32(C), lda = Int32(D), info: Int32 = 0
        dpotrf_(&uplo, &nn, &a, &lda, &info)
        guard info == 0 else { throw CoreError("probe: the regularised Gram matrix is not positive definite (alpha \(alpha) too small?)") }
        dpotrs_(&uplo, &nn, &nrhs, &a, &lda, &b, &lda, &info)
        guard info == 0 else { throw CoreError("probe: Cholesky solve failed (\(info))") }
        return probe(weights: b, mx: mx, my: my)
    }

    /// LSQR (Paige & Saunders 1982) on min ‖Xc w - yc‖² + α‖w‖² for every class column,
    /// damp = √α, with its standard stopping tests (atol = btol = `tol`, conlim 1e8, at most
    /// `maxIterations` = 2·D by default), as scipy.sparse.linalg.lsqr under scikit-learn's
    /// `Ridge(solver="lsqr")`. Returns the probe and the iterations each column took.
    public func solveLSQR(alpha: Double, tol: Double = 1e-4, maxIterations: Int? = nil) throws -> (probe: Probe, iterations: [Int]) {
        let D = width, C = classes
        guard n > 0 else { throw CoreError("probe: no training rows") }
        guard alpha >= 0, alpha.isFinite else { throw CoreError("probe: alpha must be a finite number >= 0, got \(alpha)") }
        guard tol >= 0, tol.isFinite else { throw CoreError("probe: lsqr tol must be a finite number >= 0, got \(tol)") }
        let limit = maxIterations ?? 2 * D
        guard limit >= 1 else { throw CoreError("probe: lsqr needs at least one iteration, got \(limit)") }
        let (gram, rhs, mx, my) = centred()
        let N = Double(n)
        var columns = [LSQRColumn]()
        columns.reserveCapacity(C)
        for c in 0..<C {
            let bnorm = max(0, sumYY[c] - N * (sumY[c] / N) * (sumY[c] / N)).squareRoot()
            columns.append(LSQRColumn(atb: Array(rhs[(c * D)..<((c + 1) * D)]), bnorm: bnorm, damp: alpha.squareRoot(),
                                      tol: tol, limit: limit))
        }
        // One Gram product for all running columns per iteration: Q = V · G ([k, D] x [D, D]).
        var v = [Double](repeating: 0, count: C * D), q = v
        while true {
            let running = columns.indices.filter { !columns[$0].done }
            if running.isEmpty { break }
            try CoreInterrupt.check()
            for (r, c) in running.enumerated() { for d in 0..<D { v[r * D + d] = columns[c].v[d] } }
            v.withUnsafeBufferPointer { vp in gram.withUnsafeBufferPointer { gp in q.withUnsafeMutableBufferPointer { qp in
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(running.count), Int32(D), Int32(D), 1,
                            vp.baseAddress, Int32(D), gp.baseAddress, Int32(D), 0, qp.baseAddress, Int32(D))
            } } }
            for (r, c) in running.enumerated() { columns[c].step(gv: Array(q[(r * D)..<((r + 1) * D)])) }
        }
        var w = [Double](repeating: 0, count: C * D)
        for c in 0..<C { for d in 0..<D { w[c * D + d] = columns[c].x[d] } }
        return (probe(weights: w, mx: mx, my: my), columns.map(\.iterations))
    }
}

/// The state of LSQR on one right-hand side, with A known only through its Gram matrix
/// G = AᵀA and Aᵀb: `p` holds Aᵀu_k for the Golub-Kahan vector u_k (‖u_k‖ = 1).
struct LSQRColumn {
    var x: [Double], v: [Double], w: [Double], p: [Double]
    var alpha = 0.0, beta = 0.0
    let damp: Double, bnorm: Double, atol: Double, btol: Double, ctol = 1e-8, limit: Int
    var anorm = 0.0, ddnorm = 0.0, res2 = 0.0, xxnorm = 0.0, z = 0.0, cs2 = -1.0, sn2 = 0.0
    var rhobar = 0.0, phibar = 0.0
    var iterations = 0
    var done = false

    init(atb: [Double], bnorm: Double, damp: Double, tol: Double, limit: Int) {
        let D = atb.count
        self.damp = damp; self.bnorm = bnorm; atol = tol; btol = tol; self.limit = limit
        x = [Double](repeating: 0, count: D)
        v = x; w = x; p = x
        beta = bnorm
        if beta > 0 {
            p = atb.map { $0 / beta }                       // Aᵀu_1, u_1 = b / β_1
            alpha = LSQRColumn.norm(p)
            if alpha > 0 { v = p.map { $0 / alpha } }
        }
        w = v
        rhobar = alpha; phibar = beta
        if alpha * beta == 0 { done = true }               // x = 0 is exact
    }

    static func norm(_ a: [Double]) -> Double { a.reduce(0) { $0 + $1 * $1 }.squareRoot() }
    static func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    /// Givens rotation (c, s, r) with r = √(a² + b²), c = a / r, s = b / r.
    static func rotation(_ a: Double, _ b: Double) -> (Double, Double, Double) {
        if b == 0 { return (a == 0 ? 1 : (a < 0 ? -1 : 1), 0, abs(a)) }
        if a == 0 { return (0, b < 0 ? -1 : 1, abs(b)) }
        let r = (a * a + b * b).squareRoot()
        return (a / r, b / r, r)
    }

    /// One iteration, given G·v_k.
    mutating func step(gv: [Double]) {
        let D = x.count
        iterations += 1
        // Bidiagonalisation: β u_{k+1} = A v_k - α u_k, α v_{k+1} = Aᵀu_{k+1} - β v_k.
        let b2 = LSQRColumn.dot(v, gv) - 2 * alpha * LSQRColumn.dot(p, v) + alpha * alpha
        beta = b2 > 0 ? b2.squareRoot() : 0
        if beta > 0 {
            anorm = (anorm * anorm + alpha * alpha + beta * beta + damp * damp).squareRoot()
            for d in 0..<D { p[d] = (gv[d] - alpha * p[d]) / beta }
            var nv = [Double](repeating: 0, count: D)
            for d in 0..<D { nv[d] = p[d] - beta * v[d] }
            alpha = LSQRColumn.norm(nv)
            if alpha > 0 { for d in 0..<D { nv[d] /= alpha } }
            v = nv
        }
        // Eliminate the damping term, then the subdiagonal β.
        var psi = 0.0, rhobar1 = rhobar
        if damp > 0 {
            rhobar1 = (rhobar * rhobar + damp * damp).squareRoot()
            let cs1 = rhobar / rhobar1, sn1 = damp / rhobar1
            psi = sn1 * phibar
            phibar = cs1 * phibar
        }
        let (cs, sn, rho) = LSQRColumn.rotation(rhobar1, beta)
        let theta = sn * alpha
        rhobar = -cs * alpha
        let phi = cs * phibar
        phibar = sn * phibar
        let tau = sn * phi
        // Update x and the search direction w.
        let t1 = phi / rho, t2 = -theta / rho
        var dk2 = 0.0
        for d in 0..<D {
            let dk = w[d] / rho
            dk2 += dk * dk
            x[d] += t1 * w[d]
            w[d] = v[d] + t2 * w[d]
        }
        ddnorm += dk2
        // Estimates of ‖x‖, cond(Ā), ‖r‖ and ‖Āᵀr‖ for the stopping tests.
        let delta = sn2 * rho, gambar = -cs2 * rho
        let rhs = phi - delta * z
        let zbar = rhs / gambar
        let xnorm = (xxnorm + zbar * zbar).squareRoot()
        let gamma = (gambar * gambar + theta * theta).squareRoot()
        cs2 = gambar / gamma; sn2 = theta / gamma
        z = rhs / gamma
        xxnorm += z * z
        let acond = anorm * ddnorm.squareRoot()
        res2 += psi * psi
        let rnorm = (phibar * phibar + res2).squareRoot()
        let arnorm = alpha * abs(tau)
        let eps = Double.ulpOfOne
        let test1 = rnorm / bnorm
        let test2 = arnorm / (anorm * rnorm + eps)
        let test3 = 1 / (acond + eps)
        let t1n = test1 / (1 + anorm * xnorm / bnorm)
        let rtol = btol + atol * anorm * xnorm / bnorm
        if iterations >= limit || 1 + test3 <= 1 || 1 + test2 <= 1 || 1 + t1n <= 1
            || test3 <= ctol || test2 <= atol || test1 <= rtol {
            done = true
        }
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
