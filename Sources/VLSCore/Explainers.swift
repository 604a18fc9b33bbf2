import Foundation

/// Reference saliency methods on the backward pass (Docs/method.md#saliency-and-the-perturbation-test). Each returns a
/// saliency tensor [B, n_patches], patches in row-major order of the patch grid, larger =
/// more important for the target.
extension ViT {
    /// Chefer et al. 2021 relevance: R = I; for each block b, Ā = mean over heads of
    /// max(0, ∂y/∂A_b ⊙ A_b); R += Ā · R; the saliency is the CLS row over the patch tokens,
    /// R[0, prefix:]. `target` is usually `.logit(classes:)` (y = the final logit of the
    /// class). Needs a CLS token and every patch token (no token removal).
    public func cheferRelevance(_ images: Tensor, target: GradTarget, edits: [Edit] = []) throws -> Tensor {
        guard config.classToken else {
            throw CoreError("chefer: the rule reads the CLS row of the relevance matrix, and this model has no CLS token (pooling \(config.pooling.rawValue)); use gradient × input instead")
        }
        let points = (0..<config.depth).map { HookPoint(.pattern, block: $0) }
        let r = try gradients(images, target: target, at: points, edits: edits)
        let out = try Self.cheferRelevance(r, model: self)
        NaNWatch.check([r.logits, out], model: self, images: images, analysis: "saliency")
        return out
    }

    /// Chefer relevance from a gradient result that holds the pattern and its gradient at
    /// every block.
    static func cheferRelevance(_ r: GradientResult, model: ViT) throws -> Tensor {
        let c = model.config
        guard c.classToken else {
            throw CoreError("chefer: the rule reads the CLS row of the relevance matrix, and this model has no CLS token")
        }
        let T = r.tokens, prefix = c.numPrefixTokens, N = c.numPatches
        guard T == c.numTokens else {
            throw CoreError("chefer: saliency is per patch and needs all \(c.numTokens) tokens; this run kept \(T) (drop_tokens); give the edits without token removal")
        }
        let B = r.logits.shape[0], H = c.heads
        let out = Tensor(uninitialized: [B, N])
        var R = [Float](repeating: 0, count: T * T)
        var abar = [Float](repeating: 0, count: T * T)
        var next = [Float](repeating: 0, count: T * T)
        for b in 0..<B {
            for i in 0..<(T * T) { R[i] = i / T == i % T ? 1 : 0 }
            for blk in 0..<c.depth {
                let point = HookPoint(.pattern, block: blk)
                let A = try r.activation(at: point).contiguous(), G = try r.gradient(at: point).contiguous()
                let ap = A.pointer + b * H * T * T, gp = G.pointer + b * H * T * T
                for i in 0..<(T * T) {
                    var s: Float = 0
                    for h in 0..<H { s += max(0, gp[h * T * T + i] * ap[h * T * T + i]) }
                    abar[i] = s / Float(H)
                }
                // R ← R + Ā · R
                next = R
                abar.withUnsafeBufferPointer { a in
                    R.withUnsafeBufferPointer { rr in
                        next.withUnsafeMutableBufferPointer { n in
                            if let ab = a.baseAddress, let rb = rr.baseAddress, let nb = n.baseAddress {
                                BLAS.gemm(m: T, n: T, k: T, a: ab, lda: T, b: rb, ldb: T, transB: false, c: nb, ldc: T, beta: 1)
                            }
                        }
                    }
                }
                swap(&R, &next)
            }
            for j in 0..<N { out.mutablePointer[b * N + j] = R[prefix + j] }
        }
        return out
    }

    /// Gradient × input on the pixels: Σ over channels of ∂y/∂x ⊙ x, summed over each
    /// patch's pixels: [B, n_patches].
    public func gradientTimesInput(_ images: Tensor, target: GradTarget, edits: [Edit] = []) throws -> Tensor {
        let r = try gradients(images, target: target, at: [], edits: edits)
        let out = Self.gradientTimesInput(r, images: images.contiguous(), config: config)
        NaNWatch.check([r.logits, out], model: self, images: images, analysis: "saliency")
        return out
    }

    static func gradientTimesInput(_ r: GradientResult, images x: Tensor, config c: ViTConfig) -> Tensor {
        let B = x.shape[0], cin = c.inChannels, S = c.imageSize, p = c.patchSize, g = c.gridSize
        let out = Tensor(zeros: [B, c.numPatches])
        let xp = x.pointer, gp = r.inputGradient.pointer, op = out.mutablePointer
        for b in 0..<B {
            for ch in 0..<cin {
                for yy in 0..<(g * p) {
                    for xx in 0..<(g * p) {
                        let i = ((b * cin + ch) * S + yy) * S + xx
                        op[b * g * g + (yy / p) * g + xx / p] += xp[i] * gp[i]
                    }
                }
            }
        }
        return out
    }

    /// Gradient × input on the token sequence: Σ over D of ∂y/∂e ⊙ e at `hook_pos_embed`
    /// (patch embedding plus position), per patch token: [B, n_patches]. Needs every patch
    /// token (no token removal). For models with `norm_pre` (CLIP) it is zero up to rounding:
    /// a layer norm's input gradient is orthogonal to its input (g · x = 0 per token), so
    /// use the pixel version there.
    public func gradientTimesEmbedding(_ images: Tensor, target: GradTarget, edits: [Edit] = []) throws -> Tensor {
        let point = HookPoint(.posEmbed)
        let r = try gradients(images, target: target, at: [point], edits: edits)
        let out = try Self.gradientTimesEmbedding(r, config: config)
        NaNWatch.check([r.logits, out], model: self, images: images, analysis: "saliency")
        return out
    }

    static func gradientTimesEmbedding(_ r: GradientResult, config c: ViTConfig) throws -> Tensor {
        let point = HookPoint(.posEmbed)
        let a = try r.activation(at: point).contiguous(), g = try r.gradient(at: point).contiguous()
        let B = a.shape[0], T = a.shape[1], D = a.shape[2], prefix = c.numPrefixTokens, N = c.numPatches
        guard T == c.numTokens else {
            throw CoreError("gradient × embedding: saliency is per patch and needs all \(c.numTokens) tokens; this run kept \(T) (drop_tokens)")
        }
        let out = Tensor(zeros: [B, N])
        for b in 0..<B {
            for j in 0..<N {
                let o = (b * T + prefix + j) * D
                var s: Float = 0
                for d in 0..<D { s += a.pointer[o + d] * g.pointer[o + d] }
                out.mutablePointer[b * N + j] = s
            }
        }
        return out
    }
}
