import Foundation

/// Saliency from the lens and the attention-based reference maps (Docs/method.md#saliency-and-the-perturbation-test).
/// Every method returns importances of the image tokens, [B, N] (N patches, row-major).
public enum LensLoss: String, Sendable {
    /// Cross-entropy of softmax(z) against the class (plain).
    case crossEntropy = "ce"
    /// The authors' code: cross-entropy applied to softmax(z) as if they were logits
    /// (softmax twice).
    case doubleSoftmax = "paper"
    /// The raw class logit (the code's `cat_prob` option): I = d z_c / d A.
    case logit
}

extension ViT {
    /// Lens saliency in closed form, no autograd: with o_b the CLS row of attn_out[b],
    /// z_b = p(o_b) and loss_b as `loss`, the importance of image token j is
    /// I_j = -Σ_b Σ_h ∂loss_b/∂A_b[h, 0, j] = -Σ_b Σ_h g_bᵀ (γ ⊙ W_O,h v_{b,j,h}),
    /// g_b = ∂loss_b/∂o_b (back through the head and the final norm), γ the layer scale.
    /// `blocks` / `heads` restrict the sums (per-block and per-head maps).
    public func lensSaliency(_ images: Tensor, classes: [Int], loss: LensLoss = .crossEntropy,
                             blocks: [Int]? = nil, heads: [Int]? = nil) throws -> Tensor {
        guard config.classToken else {
            throw CoreError("lens saliency reads the CLS row of the attention: this model has no CLS token")
        }
        guard !config.postNorm else { throw CoreError("lens saliency needs pre-norm blocks") }
        let B = images.shape.first ?? 0
        guard classes.count == B else { throw CoreError("lens saliency: \(classes.count) classes for \(B) images") }
        for c in classes where c < 0 || c >= config.numClasses { throw CoreError("class \(c) out of range (0...\(config.numClasses - 1))") }
        for b in blocks ?? [] where b < 0 || b >= config.depth { throw CoreError("block \(b) out of range (0...\(config.depth - 1))") }
        for h in heads ?? [] where h < 0 || h >= config.heads { throw CoreError("head \(h) out of range (0...\(config.heads - 1))") }
        let handler = LensSaliencyHandler(model: self, classes: classes, loss: loss,
                                          blocks: Set(blocks ?? Array(0..<config.depth)), heads: Set(heads ?? Array(0..<config.heads)))
        let logits = try forward(images, hooks: handler)
        NaNWatch.check([logits, handler.importance], model: self, images: images, analysis: "saliency")
        return handler.importance
    }

    /// ∂loss/∂h for residual-space rows h [R, D] through the final norm and the head:
    /// dz [R, C] given; returns [R, D].
    func lensBackward(_ h: Tensor, dz: Tensor) throws -> Tensor {
        let D = config.width, C = config.numClasses
        let R = h.count / D
        // dy = dz · W_h (mean of both heads for distilled models)
        var dy = try dz.matmul(weights.head.weight)          // [R, D]
        if let hd = weights.headDist {
            dy = try dy.binary(.add, try dz.matmul(hd.weight)).binary(.mul, scalar: 0.5)
        }
        _ = C
        guard let n = weights.norm else { return dy }
        let x = h.contiguous(), out = Tensor(uninitialized: [R, D])
        let g = n.weight.pointer
        for r in 0..<R {
            let row = x.pointer + r * D, d = dy.pointer + r * D, o = out.mutablePointer + r * D
            var mean: Float = 0
            for i in 0..<D { mean += row[i] }
            mean /= Float(D)
            var v: Float = 0
            for i in 0..<D { let c = row[i] - mean; v += c * c }
            let inv = 1 / (v / Float(D) + config.eps).squareRoot()
            var m1: Float = 0, m2: Float = 0
            for i in 0..<D { let dh = d[i] * g[i]; m1 += dh; m2 += dh * (row[i] - mean) * inv }
            m1 /= Float(D); m2 /= Float(D)
            for i in 0..<D { o[i] = inv * (d[i] * g[i] - m1 - (row[i] - mean) * inv * m2) }
        }
        return out
    }
}

/// Computes the lens saliency block by block as the forward pass reaches each block.
final class LensSaliencyHandler: HookHandler {
    let model: ViT
    let classes: [Int]
    let loss: LensLoss
    let blocks: Set<Int>
    let heads: Set<Int>
    var values: Tensor?
    var importance: Tensor

    init(model: ViT, classes: [Int], loss: LensLoss, blocks: Set<Int>, heads: Set<Int>) {
        self.model = model; self.classes = classes; self.loss = loss; self.blocks = blocks; self.heads = heads
        importance = Tensor(zeros: [classes.count, model.config.numPatches])
    }

    func wants(_ p: HookPoint) -> Bool {
        guard let b = p.block, blocks.contains(b) else { return false }
        return p.kind == .v || p.kind == .attnOut
    }

    func visit(_ p: HookPoint, _ value: inout Tensor) throws {
        guard let b = p.block else { return }
        if p.kind == .v { values = value.copy(); return }
        guard p.kind == .attnOut, let v = values else { return }
        let c = model.config
        let B = value.shape[0], T = value.shape[1], D = c.width, H = c.heads, dh = c.headWidth, C = c.numClasses
        guard T == c.numTokens else { throw CoreError("lens saliency needs the full token sequence") }
        // o_b: CLS rows [B, D]
        let o = Tensor(uninitialized: [B, D])
        for i in 0..<B { (o.mutablePointer + i * D).update(from: value.pointer + i * T * D, count: D) }
        let z = try model.project(o)                      // [B, C]
        let dz = Tensor(zeros: [B, C])
        for i in 0..<B {
            let zr = z.pointer + i * C, d = dz.mutablePointer + i * C
            let cls = classes[i]
            func softmax(_ x: UnsafePointer<Float>) -> [Float] {
                var m = -Float.infinity
                for j in 0..<C { m = max(m, x[j]) }
                var e = (0..<C).map { expf(x[$0] - m) }
                let s = e.reduce(0, +)
                for j in 0..<C { e[j] /= s }
                return e
            }
            switch loss {
            case .crossEntropy:
                let q = softmax(zr)
                for j in 0..<C { d[j] = q[j] - (j == cls ? 1 : 0) }
            case .doubleSoftmax:
                let q = softmax(zr)
                let r = q.withUnsafeBufferPointer { softmax($0.baseAddress!) }
                // dL/dq = r - e_c; dq/dz = diag(q) - q qᵀ
                let dq = (0..<C).map { r[$0] - ($0 == cls ? 1 : 0) }
                var dot: Float = 0
                for j in 0..<C { dot += dq[j] * q[j] }
                for j in 0..<C { d[j] = q[j] * (dq[j] - dot) }
            case .logit:
                d[cls] = -1
            }
        }
        var g = try model.lensBackward(o, dz: dz)         // [B, D] = dloss/do
        if let ls = model.weights.blocks[b].ls1 { g = try g.binary(.mul, ls) }
        let u = try g.matmul(model.weights.blocks[b].proj.weight)   // [B, D]: u = W_Oᵀ g (per row)
        let prefix = c.numPrefixTokens
        let vp = v.contiguous()
        let imp = importance.mutablePointer
        let N = c.numPatches
        for i in 0..<B {
            let ui = u.pointer + i * D
            for j in 0..<N {
                let vj = vp.pointer + (i * T + prefix + j) * D
                var s: Float = 0
                for h in heads {
                    for d in (h * dh)..<((h + 1) * dh) { s += ui[d] * vj[d] }
                }
                imp[i * N + j] -= s
            }
        }
        _ = H
        values = nil
    }
}

/// Attention rollout (Abnar & Zuidema 2020) and raw attention, streamed over blocks.
final class RolloutHandler: HookHandler {
    let model: ViT
    let lastOnly: Bool
    var rollout: [Tensor] = []   // per image [T, T]
    var last: Tensor?

    init(model: ViT, lastOnly: Bool) { self.model = model; self.lastOnly = lastOnly }

    func wants(_ p: HookPoint) -> Bool {
        p.kind == .pattern && (!lastOnly || p.block == model.config.depth - 1)
    }

    func visit(_ p: HookPoint, _ a: inout Tensor) throws {
        let B = a.shape[0], H = a.shape[1], T = a.shape[2]
        let ap = a.contiguous()
        // mean over heads: [B, T, T]
        let mean = Tensor(zeros: [B, T, T])
        let mp = mean.mutablePointer
        for i in 0..<B { for h in 0..<H { for k in 0..<(T * T) { mp[i * T * T + k] += ap.pointer[(i * H + h) * T * T + k] / Float(H) } } }
        if lastOnly { last = mean; return }
        if rollout.isEmpty { rollout = (0..<B).map { _ in Tensor((0..<(T * T)).map { $0 % (T + 1) == 0 ? 1 : 0 }, shape: [T, T]) } }
        for i in 0..<B {
            // A' = 0.5 A + 0.5 I, rows renormalised; R = A' · R
            let ai = Tensor(uninitialized: [T, T])
            for r in 0..<T {
                var s: Float = 0
                for k in 0..<T { let v = 0.5 * mp[i * T * T + r * T + k] + (r == k ? 0.5 : 0); ai.mutablePointer[r * T + k] = v; s += v }
                for k in 0..<T { ai.mutablePointer[r * T + k] /= s }
            }
            rollout[i] = try ai.matmul(rollout[i])
        }
    }
}

extension ViT {
    /// Attention rollout: the CLS row of Π_b (0.5 mean_h A_b + 0.5 I) over image tokens, [B, N].
    public func rolloutSaliency(_ images: Tensor) throws -> Tensor {
        guard config.classToken else { throw CoreError("rollout reads the CLS row: this model has no CLS token") }
        let h = RolloutHandler(model: self, lastOnly: false)
        let logits = try forward(images, hooks: h)
        let out = try clsRow(h.rollout)
        NaNWatch.check([logits, out], model: self, images: images, analysis: "saliency")
        return out
    }

    /// The last block's attention of CLS to each image token, mean over heads, [B, N].
    public func attentionSaliency(_ images: Tensor) throws -> Tensor {
        guard config.classToken else { throw CoreError("attention saliency reads the CLS row: this model has no CLS token") }
        let h = RolloutHandler(model: self, lastOnly: true)
        let logits = try forward(images, hooks: h)
        guard let last = h.last else { throw CoreError("no attention captured") }
        let out = try clsRow((0..<last.shape[0]).map { last.select($0) })
        NaNWatch.check([logits, out], model: self, images: images, analysis: "saliency")
        return out
    }

    func clsRow(_ maps: [Tensor]) throws -> Tensor {
        let N = config.numPatches, prefix = config.numPrefixTokens
        let out = Tensor(uninitialized: [maps.count, N])
        for (i, m) in maps.enumerated() {
            let c = m.contiguous()
            for j in 0..<N { out.mutablePointer[i * N + j] = c.pointer[prefix + j] }
        }
        return out
    }
}
