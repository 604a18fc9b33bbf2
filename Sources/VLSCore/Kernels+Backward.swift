import Foundation

/// Allocating building blocks of the tape forward and the backward pass (ViT+Backward.swift).
///
/// Every function returns a fresh tensor and never writes into its arguments: the tape keeps
/// activations and gradients that later steps (and the caller) read.
enum GradOps {
    /// y = x · Wᵀ + b over the last axis of `x` (contiguous); shape `x.shape` with the last
    /// axis replaced by the layer's output width.
    static func linear(_ x: Tensor, _ l: Linear) -> Tensor {
        let inF = l.inFeatures, outF = l.outFeatures
        let rows = x.count / inF
        let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outF])
        BLAS.linear(x: x.pointer, rows: rows, inFeatures: inF, weight: l.weight.pointer, bias: l.bias?.pointer,
                    outFeatures: outF, y: y.mutablePointer)
        return y
    }

    /// Input gradient of a linear layer: dx = dy · W, W stored [out, in]; `shape` is the
    /// input's shape.
    static func linearBackward(_ dy: Tensor, _ l: Linear, shape: [Int]) -> Tensor {
        let inF = l.inFeatures, outF = l.outFeatures
        let rows = dy.count / outF
        let dx = Tensor(uninitialized: shape)
        BLAS.gemm(m: rows, n: inF, k: outF, a: dy.pointer, lda: outF, b: l.weight.pointer, ldb: inF, transB: false,
                  c: dx.mutablePointer, ldc: inF)
        return dx
    }

    /// Layer norm with the norm's affine weights over the last axis (width `d`).
    static func layerNorm(_ x: Tensor, _ n: Norm, eps: Float) -> Tensor {
        let d = n.weight.count
        let y = Tensor(uninitialized: x.shape)
        Kernels.layerNorm(x.pointer, rows: x.count / d, width: d, gamma: n.weight.pointer, beta: n.bias.pointer, eps: eps,
                          out: y.mutablePointer)
        return y
    }

    /// Input gradient of `layerNorm` at input `x` (statistics recomputed, double accumulation):
    /// dx = rstd · (ĝ - mean(ĝ) - x̂ · mean(ĝ ⊙ x̂)), ĝ = dy ⊙ γ.
    static func layerNormBackward(_ x: Tensor, _ dy: Tensor, _ n: Norm, eps: Float) -> Tensor {
        let d = n.weight.count
        let rows = x.count / d
        let dx = Tensor(uninitialized: x.shape)
        let xp = x.pointer, gp = dy.pointer, gamma = n.weight.pointer, out = dx.mutablePointer
        Threads.parallelFor(rows, costPerItem: d * 8) { r0, r1 in
            var xhat = [Double](repeating: 0, count: d)
            for r in r0..<r1 {
                let row = xp + r * d, g = gp + r * d, o = out + r * d
                var mean = 0.0
                for i in 0..<d { mean += Double(row[i]) }
                mean /= Double(d)
                var v = 0.0
                for i in 0..<d { let c = Double(row[i]) - mean; v += c * c }
                let rstd = 1 / (v / Double(d) + Double(eps)).squareRoot()
                var sg = 0.0, sgx = 0.0
                for i in 0..<d {
                    xhat[i] = (Double(row[i]) - mean) * rstd
                    let gh = Double(g[i]) * Double(gamma[i])
                    sg += gh
                    sgx += gh * xhat[i]
                }
                sg /= Double(d)
                sgx /= Double(d)
                for i in 0..<d {
                    let gh = Double(g[i]) * Double(gamma[i])
                    o[i] = Float(rstd * (gh - sg - xhat[i] * sgx))
                }
            }
        }
        return dx
    }

    /// a + b (same shapes, contiguous).
    static func add(_ a: Tensor, _ b: Tensor) -> Tensor {
        let y = Tensor(uninitialized: a.shape)
        let ap = a.pointer, bp = b.pointer, yp = y.mutablePointer
        Threads.parallelFor(a.count) { s, e in for i in s..<e { yp[i] = ap[i] + bp[i] } }
        return y
    }

    /// x · γ per column of the last axis (layer scale, and its own backward).
    static func scaleColumns(_ x: Tensor, _ gamma: Tensor) -> Tensor {
        let d = gamma.count
        let y = Tensor(uninitialized: x.shape)
        let xp = x.pointer, gp = gamma.pointer, yp = y.mutablePointer
        for r in 0..<(x.count / d) {
            for i in 0..<d { yp[r * d + i] = xp[r * d + i] * gp[i] }
        }
        return y
    }

    /// The activation applied to a copy of `pre`.
    static func activation(_ pre: Tensor, _ kind: ViTConfig.Activation) -> Tensor {
        let y = pre.copy()
        switch kind {
        case .gelu: Kernels.gelu(y.mutablePointer, count: y.count)
        case .quickGelu: Kernels.quickGelu(y.mutablePointer, count: y.count)
        }
        return y
    }

    /// dy ⊙ act'(pre): exact GELU Φ(x) + x·φ(x); quick GELU s + 1.702·x·s·(1 - s), s = σ(1.702x).
    static func activationBackward(_ pre: Tensor, _ dy: Tensor, _ kind: ViTConfig.Activation) -> Tensor {
        let dx = Tensor(uninitialized: pre.shape)
        let xp = pre.pointer, gp = dy.pointer, out = dx.mutablePointer
        let invSqrt2Pi = 1 / (2 * Double.pi).squareRoot()
        Threads.parallelFor(pre.count, costPerItem: 16) { s, e in
            for i in s..<e {
                let x = Double(xp[i])
                let d: Double
                switch kind {
                case .gelu:
                    d = 0.5 * (1 + erf(x / 2.0.squareRoot())) + x * exp(-0.5 * x * x) * invSqrt2Pi
                case .quickGelu:
                    let sg = 1 / (1 + exp(-1.702 * x))
                    d = sg + 1.702 * x * sg * (1 - sg)
                }
                out[i] = Float(Double(gp[i]) * d)
            }
        }
        return dx
    }

    /// Input gradient of a row softmax with output `y`: dx = y ⊙ (dy - Σ dy ⊙ y), rows of `n`.
    static func softmaxBackward(_ y: Tensor, _ dy: Tensor, n: Int) -> Tensor {
        let dx = Tensor(uninitialized: y.shape)
        let yp = y.pointer, gp = dy.pointer, out = dx.mutablePointer
        Threads.parallelFor(y.count / n, costPerItem: n * 4) { r0, r1 in
            for r in r0..<r1 {
                let o = r * n
                var s = 0.0
                for j in 0..<n { s += Double(gp[o + j]) * Double(yp[o + j]) }
                let sf = Float(s)
                for j in 0..<n { out[o + j] = yp[o + j] * (gp[o + j] - sf) }
            }
        }
        return dx
    }
}
