import Foundation

// Dimension legend: B batch, T tokens (prefix + patches), N patches, P patch size,
// C_in input channels, D width, H heads, dh head width (D / H), F mlp width, C classes.

/// What the backward pass differentiates: one class per image, the objective summed over
/// the batch, so each image receives the gradient of its own term.
public enum GradTarget: Sendable, CustomStringConvertible {
    /// Σ_b logits[b, classes[b]]: the raw logit of each image's class.
    case logit(classes: [Int])
    /// Σ_b cross-entropy(softmax(logits[b]), classes[b]) (summed, not averaged).
    case crossEntropy(classes: [Int])

    /// One class per image.
    public var classes: [Int] {
        switch self {
        case .logit(let c), .crossEntropy(let c): return c
        }
    }

    public var description: String {
        switch self {
        case .logit(let c): return "logit(classes: \(c))"
        case .crossEntropy(let c): return "cross_entropy(classes: \(c))"
        }
    }
}

/// The outcome of `ViT.gradients`: logits, the objective, and for each requested hook point
/// the activation and the gradient of the objective with respect to it (same shape).
///
/// Values and gradients are taken after the edits acting at a point (what flows on), as a
/// capture in `ViT.run` sees them.
public struct GradientResult: @unchecked Sendable {
    /// Logits [B, C] of the (edited) run.
    public let logits: Tensor
    /// The value of the target objective, summed over the batch.
    public let objective: Float
    /// d objective / d activation per requested hook point.
    public let gradients: [HookPoint: Tensor]
    /// The activation per requested hook point.
    public let activations: [HookPoint: Tensor]
    /// d objective / d image [B, C_in, H, W].
    public let inputGradient: Tensor
    /// Token count of the run (differs from the model's when tokens were dropped).
    public let tokens: Int
    /// The edits of the run, one line each.
    public let edits: [String]

    /// The gradient at `point`, or an error naming the points that were requested.
    public func gradient(at point: HookPoint) throws -> Tensor {
        guard let g = gradients[point] else {
            throw CoreError("no gradient for '\(point.name)': requested were \(requestedList); pass it in `at:`")
        }
        return g
    }

    /// The activation at `point`, or an error naming the points that were requested.
    public func activation(at point: HookPoint) throws -> Tensor {
        guard let a = activations[point] else {
            throw CoreError("no activation for '\(point.name)': requested were \(requestedList); pass it in `at:`")
        }
        return a
    }

    private var requestedList: String {
        gradients.isEmpty ? "none" : gradients.keys.map(\.name).sorted().joined(separator: ", ")
    }
}

extension ViT {
    /// Gradients of `target` with respect to the activations at `points` and to the input
    /// images [B, C_in, H, W], on a run with `edits` applied as `run` applies them.
    ///
    /// A tape forward (separate from the fast `forward`) keeps what the backward needs per
    /// block; memory grows with depth × B × (T·D + H·T²). Edits are differentiated by rule:
    /// ablations (zero, mean, fixed value), patches, attention edits (self_only, no_cls,
    /// mask), token removal and block selections; a user function edit only when it left
    /// the activation unchanged (a read-only hook), otherwise the call throws.
    public func gradients(_ images: Tensor, target: GradTarget, at points: [HookPoint], edits: [Edit] = []) throws -> GradientResult {
        let all = Set(hookPoints)
        for p in points where !all.contains(p) {
            if let b = p.block, b >= config.depth {
                throw CoreError("gradients: '\(p.name)' is out of range: the model has blocks 0...\(config.depth - 1)")
            }
            throw CoreError("gradients: this model has no hook point '\(p.name)'\(config.postNorm ? " (post-norm blocks have no ln1/ln2)" : "")")
        }
        let batch = try validate(images)
        guard target.classes.count == batch else {
            throw CoreError("gradients: \(target) gives \(target.classes.count) classes for a batch of \(batch) images; give one class per image")
        }
        for k in target.classes where k < 0 || k >= config.numClasses {
            throw CoreError("gradients: class \(k) is not a class index of this model (0..<\(config.numClasses))")
        }
        let tape = try GradTape(model: self, images: images, points: points, edits: edits)
        let logits = try tape.forward()
        return try tape.backward(logits: logits, target: target)
    }
}

/// Per-block values the backward needs (all post-edit unless named otherwise).
struct BlockTape {
    /// Block input (resid_pre): LN1 input (pre-norm) or attention input (post-norm).
    var x: Tensor
    var q: Tensor, k: Tensor, v: Tensor
    /// Softmax output before pattern edits [B, H, T, T].
    var softmax: Tensor
    /// Pattern after edits [B, H, T, T].
    var pattern: Tensor
    /// Post-norm only: attn.proj output (norm1 input).
    var proj: Tensor?
    /// resid_mid: LN2 input (pre-norm) or MLP input (post-norm).
    var mid: Tensor
    /// fc1 output (mlp.hook_pre, after edits).
    var mlpPre: Tensor
    /// Post-norm only: fc2 output (norm2 input).
    var fc2: Tensor?
}

/// One differentiable run: the tape forward, then the backward in reverse order.
final class GradTape {
    let model: ViT
    let c: ViTConfig
    let w: ViTWeights
    let edits: [Edit]
    let wanted: Set<HookPoint>
    let images: Tensor
    let B: Int
    var T: Int
    let D: Int, H: Int, dh: Int, F: Int

    /// Requested activations.
    var values: [HookPoint: Tensor] = [:]
    /// Requested gradients.
    var grads: [HookPoint: Tensor] = [:]
    /// Edits applied at a point: (edit, input, output), in order.
    var chains: [HookPoint: [(Edit, Tensor, Tensor)]] = [:]
    var blocks: [BlockTape] = []
    /// Token count before edits at hook_pos_embed.
    var tokensBeforeEdits: Int
    /// norm_pre input (when the model has norm_pre).
    var normPreInput: Tensor?
    /// Residual stream entering the final norm / pooling [B, T, D].
    var xFinal: Tensor?
    /// Pooled features before fc_norm [B, D] (fc_norm models).
    var pooledInput: Tensor?
    /// Final features after the token-wise norm [B, T, D] (the pooling input).
    var feats: Tensor?

    init(model: ViT, images: Tensor, points: [HookPoint], edits: [Edit]) throws {
        self.model = model
        c = model.config
        w = model.weights
        self.edits = edits
        wanted = Set(points)
        B = try model.validate(images)
        self.images = images.contiguous()
        T = c.numTokens
        tokensBeforeEdits = c.numTokens
        D = c.width; H = c.heads; dh = c.headWidth; F = c.mlpHidden
    }

    // MARK: - Hook points

    /// Applies the edits acting at `p` (recording them for the backward) and keeps the
    /// value when requested. The returned tensor is never written afterwards.
    func visit(_ p: HookPoint, _ t: Tensor) throws -> Tensor {
        var value = t
        let active = edits.filter { $0.applies(to: p) }
        if !active.isEmpty {
            var chain: [(Edit, Tensor, Tensor)] = []
            for e in active {
                let before = value
                var next = before.copy()
                try e.apply(p, &next)
                if p.kind == .posEmbed {
                    guard next.rank == 3, next.shape[0] == B, next.shape[2] == D, next.shape[1] >= 1 else {
                        throw CoreError("hook hook_pos_embed: replacement has shape \(next.shape), expected [\(B), T, \(D)]")
                    }
                } else if next.shape != before.shape {
                    throw CoreError("hook \(p.name): replacement has shape \(next.shape), expected \(before.shape)")
                }
                next = next.contiguous()
                chain.append((e, before, next))
                value = next
            }
            chains[p] = chain
        }
        if wanted.contains(p) { values[p] = value }
        return value
    }

    /// Keeps the gradient at `p` when requested, then carries it back through the edits
    /// acting at `p`: the result is the gradient with respect to the unedited value.
    func unvisit(_ p: HookPoint, _ g: Tensor) throws -> Tensor {
        if wanted.contains(p) { grads[p] = g }
        guard let chain = chains[p] else { return g }
        var g = g
        for (e, input, output) in chain.reversed() {
            g = try EditGradients.backward(e, at: p, input: input, output: output, grad: g)
        }
        return g
    }

    // MARK: - Tape forward

    func forward() throws -> Tensor {
        var x = try embed()
        for i in 0..<c.depth {
            try CoreInterrupt.check()
            x = try block(i, x)
        }
        return try head(x)
    }

    func embed() throws -> Tensor {
        let N = c.numPatches
        let cols = Tensor(uninitialized: [B * N, c.inChannels * c.patchSize * c.patchSize])
        model.im2col(images.pointer, batch: B, into: cols.mutablePointer)
        let patches = try GradOps.linear(cols, w.patchEmbed).reshaped([B, N, D])
        let e = try visit(HookPoint(.embed), patches)
        let seq = Tensor(uninitialized: [B, T, D])
        model.assembleTokens(e.contiguous().pointer, batch: B, into: seq.mutablePointer)
        var x = try visit(HookPoint(.posEmbed), seq)
        T = x.shape[1]
        if let np = w.normPre {
            normPreInput = x
            x = GradOps.layerNorm(x, np, eps: c.eps)
        }
        return x
    }

    func block(_ i: Int, _ input: Tensor) throws -> Tensor {
        let bw = w.blocks[i]
        let x = try visit(HookPoint(.residPre, block: i), input)
        var tape = BlockTape(x: x, q: x, k: x, v: x, softmax: x, pattern: x, proj: nil, mid: x, mlpPre: x, fc2: nil)
        var attnOut: Tensor
        if c.postNorm {
            let o = try attention(i, x, &tape)
            tape.proj = o
            attnOut = GradOps.layerNorm(o, bw.norm1, eps: c.eps)
        } else {
            let h1 = try visit(HookPoint(.ln1, block: i), GradOps.layerNorm(x, bw.norm1, eps: c.eps))
            attnOut = try attention(i, h1, &tape)
            if let ls = bw.ls1 { attnOut = GradOps.scaleColumns(attnOut, ls) }
        }
        attnOut = try visit(HookPoint(.attnOut, block: i), attnOut)
        let mid = try visit(HookPoint(.residMid, block: i), GradOps.add(x, attnOut))
        tape.mid = mid
        var mlpOut: Tensor
        if c.postNorm {
            let o = try mlp(i, mid, &tape)
            tape.fc2 = o
            mlpOut = GradOps.layerNorm(o, bw.norm2, eps: c.eps)
        } else {
            let h2 = try visit(HookPoint(.ln2, block: i), GradOps.layerNorm(mid, bw.norm2, eps: c.eps))
            mlpOut = try mlp(i, h2, &tape)
            if let ls = bw.ls2 { mlpOut = GradOps.scaleColumns(mlpOut, ls) }
        }
        mlpOut = try visit(HookPoint(.mlpOut, block: i), mlpOut)
        let out = try visit(HookPoint(.residPost, block: i), GradOps.add(mid, mlpOut))
        blocks.append(tape)
        return out
    }

    /// Attention of `input` [B, T, D] through attn.proj; records q, k, v and the patterns.
    func attention(_ i: Int, _ input: Tensor, _ tape: inout BlockTape) throws -> Tensor {
        let bw = w.blocks[i]
        let B = self.B, T = self.T, D = self.D, H = self.H, dh = self.dh
        let rows = B * T
        let qkv = GradOps.linear(input, bw.qkv)
        let parts = (0..<3).map { _ in Tensor(uninitialized: [B, T, H, dh]) }
        let src = qkv.pointer
        for r in 0..<rows {
            for j in 0..<3 { (parts[j].mutablePointer + r * D).update(from: src + r * 3 * D + j * D, count: D) }
        }
        let q = try visit(HookPoint(.q, block: i), parts[0])
        let k = try visit(HookPoint(.k, block: i), parts[1])
        let v = try visit(HookPoint(.v, block: i), parts[2])
        let scale = 1 / Float(dh).squareRoot()
        let scoresRaw = Tensor(uninitialized: [B, H, T, T])
        for bh in 0..<(B * H) {
            let b = bh / H, hd = bh % H
            let off = b * T * D + hd * dh
            BLAS.gemm(m: T, n: T, k: dh, a: q.pointer + off, lda: D, b: k.pointer + off, ldb: D, transB: true,
                      c: scoresRaw.mutablePointer + bh * T * T, ldc: T, alpha: scale)
        }
        let scores = try visit(HookPoint(.attnScores, block: i), scoresRaw)
        let soft = scores.copy()
        Kernels.softmaxRows(soft.mutablePointer, rows: B * H * T, n: T)
        let pattern = try visit(HookPoint(.pattern, block: i), soft)
        let zRaw = Tensor(uninitialized: [B, T, H, dh])
        for bh in 0..<(B * H) {
            let b = bh / H, hd = bh % H
            let off = b * T * D + hd * dh
            BLAS.gemm(m: T, n: dh, k: T, a: pattern.pointer + bh * T * T, lda: T, b: v.pointer + off, ldb: D, transB: false,
                      c: zRaw.mutablePointer + off, ldc: D)
        }
        let z = try visit(HookPoint(.z, block: i), zRaw)
        tape.q = q; tape.k = k; tape.v = v; tape.softmax = soft; tape.pattern = pattern
        return GradOps.linear(try z.reshaped([B, T, D]), bw.proj)
    }

    /// fc1 -> activation -> fc2 of `input` [B, T, D]; records the fc1 output.
    func mlp(_ i: Int, _ input: Tensor, _ tape: inout BlockTape) throws -> Tensor {
        let bw = w.blocks[i]
        let pre = try visit(HookPoint(.mlpPre, block: i), GradOps.linear(input, bw.fc1))
        tape.mlpPre = pre
        let post = try visit(HookPoint(.mlpPost, block: i), GradOps.activation(pre, c.activation))
        return GradOps.linear(post, bw.fc2)
    }

    /// Final norm, pooling, head.
    func head(_ x: Tensor) throws -> Tensor {
        xFinal = x
        let prefix = c.numPrefixTokens
        var f = x
        if let n = w.norm, !c.fcNorm {
            f = try visit(HookPoint(.lnFinal), GradOps.layerNorm(x, n, eps: c.eps))
        }
        feats = f
        var logits: Tensor
        if c.distilled {
            guard T >= 2, let hd = w.headDist else {
                throw CoreError("distilled model: needs head_dist and the CLS and distillation tokens")
            }
            let a = Tensor(uninitialized: [B, D]), d = Tensor(uninitialized: [B, D])
            for b in 0..<B {
                (a.mutablePointer + b * D).update(from: f.pointer + b * T * D, count: D)
                (d.mutablePointer + b * D).update(from: f.pointer + b * T * D + D, count: D)
            }
            let l1 = GradOps.linear(a, w.head), l2 = GradOps.linear(d, hd)
            logits = Tensor(uninitialized: l1.shape)
            for i in 0..<l1.count { logits.mutablePointer[i] = (l1.pointer[i] + l2.pointer[i]) / 2 }
        } else {
            var pooled = Tensor(zeros: [B, D])
            let pp = pooled.mutablePointer
            switch c.pooling {
            case .token:
                for b in 0..<B { (pp + b * D).update(from: f.pointer + b * T * D, count: D) }
            case .avg:
                let n = T - prefix
                guard n > 0 else { throw CoreError("average pooling needs at least one patch token (all were removed)") }
                let inv = 1 / Float(n)
                for b in 0..<B {
                    for t in prefix..<T {
                        let s = f.pointer + (b * T + t) * D
                        for d in 0..<D { pp[b * D + d] += s[d] }
                    }
                    for d in 0..<D { pp[b * D + d] *= inv }
                }
            }
            if c.fcNorm, let n = w.norm {
                pooledInput = pooled
                pooled = try visit(HookPoint(.lnFinal), GradOps.layerNorm(pooled, n, eps: c.eps))
            }
            logits = GradOps.linear(pooled, w.head)
        }
        return try visit(HookPoint(.logits), logits)
    }

    // MARK: - Backward

    func backward(logits: Tensor, target: GradTarget) throws -> GradientResult {
        let Cn = c.numClasses
        let classes = target.classes
        guard classes.count == B else {
            throw CoreError("gradients: \(target) gives \(classes.count) classes for a batch of \(B) images; give one class per image")
        }
        for k in classes where k < 0 || k >= Cn {
            throw CoreError("gradients: class \(k) is not a class index of this model (0..<\(Cn))")
        }
        // Objective and d objective / d logits.
        let gL = Tensor(zeros: [B, Cn])
        var objective = 0.0
        let lp = logits.pointer, gp = gL.mutablePointer
        for b in 0..<B {
            let row = lp + b * Cn, cls = classes[b]
            switch target {
            case .logit:
                objective += Double(row[cls])
                gp[b * Cn + cls] = 1
            case .crossEntropy:
                var m = -Double.infinity
                for j in 0..<Cn { m = max(m, Double(row[j])) }
                var s = 0.0
                for j in 0..<Cn { s += exp(Double(row[j]) - m) }
                objective += m + log(s) - Double(row[cls])
                for j in 0..<Cn { gp[b * Cn + j] = Float(exp(Double(row[j]) - m) / s) }
                gp[b * Cn + cls] -= 1
            }
        }
        var g = try unvisit(HookPoint(.logits), gL)
        var gx = try headBackward(g)
        for i in stride(from: c.depth - 1, through: 0, by: -1) {
            try CoreInterrupt.check()
            gx = try blockBackward(i, gx)
        }
        // Embedding.
        if let np = w.normPre, let input = normPreInput {
            gx = GradOps.layerNormBackward(input, gx, np, eps: c.eps)
        }
        g = try unvisit(HookPoint(.posEmbed), gx)
        let N = c.numPatches, prefix = c.numPrefixTokens, T0 = tokensBeforeEdits
        guard g.shape == [B, T0, D] else {
            throw CoreError("gradients: internal: gradient at hook_pos_embed has shape \(g.shape), expected [\(B), \(T0), \(D)]")
        }
        let gE = Tensor(uninitialized: [B, N, D])
        for b in 0..<B {
            (gE.mutablePointer + b * N * D).update(from: g.pointer + (b * T0 + prefix) * D, count: N * D)
        }
        let gPatches = try unvisit(HookPoint(.embed), gE)
        let p = c.patchSize, gs = c.gridSize, cin = c.inChannels, S = c.imageSize
        let k = cin * p * p
        let gCols = GradOps.linearBackward(gPatches, w.patchEmbed, shape: [B * N, k])
        let gImg = Tensor(zeros: [B, cin, S, S])
        let ip = gImg.mutablePointer, cp = gCols.pointer
        for b in 0..<B {
            for gy in 0..<gs {
                for gx in 0..<gs {
                    let row = cp + ((b * N) + gy * gs + gx) * k
                    for ch in 0..<cin {
                        for yy in 0..<p {
                            (ip + ((b * cin + ch) * S + gy * p + yy) * S + gx * p).update(from: row + (ch * p + yy) * p, count: p)
                        }
                    }
                }
            }
        }
        return GradientResult(logits: logits, objective: Float(objective), gradients: grads, activations: values,
                              inputGradient: gImg, tokens: T, edits: edits.map(\.summary))
    }

    /// From d/d logits (before logit edits) to d/d residual stream after the last block.
    func headBackward(_ g: Tensor) throws -> Tensor {
        let prefix = c.numPrefixTokens
        guard let x = xFinal, let f = feats else { throw CoreError("gradients: internal: the tape forward did not reach the head") }
        let gF = Tensor(zeros: [B, T, D])
        let fp = gF.mutablePointer
        if c.distilled {
            guard let hd = w.headDist else { throw CoreError("distilled model without head_dist") }
            let half = g.map { $0 / 2 }
            let ga = GradOps.linearBackward(half, w.head, shape: [B, D])
            let gd = GradOps.linearBackward(half, hd, shape: [B, D])
            for b in 0..<B {
                (fp + b * T * D).update(from: ga.pointer + b * D, count: D)
                (fp + b * T * D + D).update(from: gd.pointer + b * D, count: D)
            }
        } else {
            var gp = GradOps.linearBackward(g, w.head, shape: [B, D])
            if c.fcNorm, let n = w.norm, let input = pooledInput {
                gp = try unvisit(HookPoint(.lnFinal), gp)
                gp = GradOps.layerNormBackward(input, gp, n, eps: c.eps)
            }
            switch c.pooling {
            case .token:
                for b in 0..<B { (fp + b * T * D).update(from: gp.pointer + b * D, count: D) }
            case .avg:
                let inv = 1 / Float(T - prefix)
                for b in 0..<B {
                    for t in prefix..<T {
                        for d in 0..<D { fp[(b * T + t) * D + d] = gp.pointer[b * D + d] * inv }
                    }
                }
            }
        }
        _ = f
        if let n = w.norm, !c.fcNorm {
            let g2 = try unvisit(HookPoint(.lnFinal), gF)
            return GradOps.layerNormBackward(x, g2, n, eps: c.eps)
        }
        return gF
    }

    /// From d/d resid_post[i] (after its edits) to d/d the block's input (before resid_pre edits).
    func blockBackward(_ i: Int, _ gOut: Tensor) throws -> Tensor {
        let bw = w.blocks[i]
        let tape = blocks[i]
        let shape = [B, T, D]
        let g = try unvisit(HookPoint(.residPost, block: i), gOut)
        // MLP branch.
        var gm = try unvisit(HookPoint(.mlpOut, block: i), g)
        if let o = tape.fc2 {
            gm = GradOps.layerNormBackward(o, gm, bw.norm2, eps: c.eps)
        } else if let ls = bw.ls2 {
            gm = GradOps.scaleColumns(gm, ls)
        }
        var gPost = GradOps.linearBackward(gm, bw.fc2, shape: [B, T, F])
        gPost = try unvisit(HookPoint(.mlpPost, block: i), gPost)
        var gPre = GradOps.activationBackward(tape.mlpPre, gPost, c.activation)
        gPre = try unvisit(HookPoint(.mlpPre, block: i), gPre)
        var gIn = GradOps.linearBackward(gPre, bw.fc1, shape: shape)
        if !c.postNorm {
            gIn = try unvisit(HookPoint(.ln2, block: i), gIn)
            gIn = GradOps.layerNormBackward(tape.mid, gIn, bw.norm2, eps: c.eps)
        }
        let gMid = try unvisit(HookPoint(.residMid, block: i), GradOps.add(g, gIn))
        // Attention branch.
        var ga = try unvisit(HookPoint(.attnOut, block: i), gMid)
        if let o = tape.proj {
            ga = GradOps.layerNormBackward(o, ga, bw.norm1, eps: c.eps)
        } else if let ls = bw.ls1 {
            ga = GradOps.scaleColumns(ga, ls)
        }
        var gA = try attentionBackward(i, ga, tape)
        if !c.postNorm {
            gA = try unvisit(HookPoint(.ln1, block: i), gA)
            gA = GradOps.layerNormBackward(tape.x, gA, bw.norm1, eps: c.eps)
        }
        return try unvisit(HookPoint(.residPre, block: i), GradOps.add(gMid, gA))
    }

    /// From d/d attn.proj output to d/d attention input [B, T, D].
    func attentionBackward(_ i: Int, _ gO: Tensor, _ tape: BlockTape) throws -> Tensor {
        let bw = w.blocks[i]
        let T = self.T, D = self.D, H = self.H, dh = self.dh
        let scale = 1 / Float(dh).squareRoot()
        let gz = try unvisit(HookPoint(.z, block: i), GradOps.linearBackward(gO, bw.proj, shape: [B, T, H, dh]))
        let gPat = Tensor(uninitialized: [B, H, T, T])
        let gvRaw = Tensor(uninitialized: [B, T, H, dh])
        for bh in 0..<(B * H) {
            let b = bh / H, hd = bh % H
            let off = b * T * D + hd * dh
            // dA = dz · Vᵀ ; dV = Aᵀ · dz
            BLAS.gemm(m: T, n: T, k: dh, a: gz.pointer + off, lda: D, b: tape.v.pointer + off, ldb: D, transB: true,
                      c: gPat.mutablePointer + bh * T * T, ldc: T)
            BLAS.gemm(m: T, n: dh, k: T, a: tape.pattern.pointer + bh * T * T, lda: T, b: gz.pointer + off, ldb: D, transB: false,
                      c: gvRaw.mutablePointer + off, ldc: D, transA: true)
        }
        let gSoft = try unvisit(HookPoint(.pattern, block: i), gPat)
        let gS = try unvisit(HookPoint(.attnScores, block: i), GradOps.softmaxBackward(tape.softmax, gSoft, n: T))
        let gqRaw = Tensor(uninitialized: [B, T, H, dh]), gkRaw = Tensor(uninitialized: [B, T, H, dh])
        for bh in 0..<(B * H) {
            let b = bh / H, hd = bh % H
            let off = b * T * D + hd * dh
            // dQ = s · dS · K ; dK = s · dSᵀ · Q
            BLAS.gemm(m: T, n: dh, k: T, a: gS.pointer + bh * T * T, lda: T, b: tape.k.pointer + off, ldb: D, transB: false,
                      c: gqRaw.mutablePointer + off, ldc: D, alpha: scale)
            BLAS.gemm(m: T, n: dh, k: T, a: gS.pointer + bh * T * T, lda: T, b: tape.q.pointer + off, ldb: D, transB: false,
                      c: gkRaw.mutablePointer + off, ldc: D, transA: true, alpha: scale)
        }
        let gq = try unvisit(HookPoint(.q, block: i), gqRaw)
        let gk = try unvisit(HookPoint(.k, block: i), gkRaw)
        let gv = try unvisit(HookPoint(.v, block: i), gvRaw)
        let rows = B * T
        let gqkv = Tensor(uninitialized: [B, T, 3 * D])
        let dst = gqkv.mutablePointer
        for r in 0..<rows {
            (dst + r * 3 * D).update(from: gq.pointer + r * D, count: D)
            (dst + r * 3 * D + D).update(from: gk.pointer + r * D, count: D)
            (dst + r * 3 * D + 2 * D).update(from: gv.pointer + r * D, count: D)
        }
        return GradOps.linearBackward(gqkv, bw.qkv, shape: [B, T, D])
    }
}
