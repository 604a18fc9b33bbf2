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
    /// The model's forward, given a record, keeps what the backward needs per block;
    /// memory grows with depth × B × (T·D + H·T²). Edits are differentiated by rule:
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

/// Applies the edits at each point in order, keeping (edit, input, output) for the
/// backward, and keeps owned copies of the requested activations.
final class TapeHooks: HookHandler {
    let edits: [Edit]
    let wanted: Set<HookPoint>
    /// Requested activations (after edits).
    var values: [HookPoint: Tensor] = [:]
    /// Edits applied at a point: (edit, input, output), in order.
    var chains: [HookPoint: [(Edit, Tensor, Tensor)]] = [:]

    init(edits: [Edit], wanted: Set<HookPoint>) {
        self.edits = edits
        self.wanted = wanted
    }

    func wants(_ point: HookPoint) -> Bool {
        wanted.contains(point) || edits.contains { $0.applies(to: point) }
    }

    func visit(_ point: HookPoint, _ value: inout Tensor) throws {
        let active = edits.filter { $0.applies(to: point) }
        if !active.isEmpty {
            // Owned copies: the pass reuses its buffers, the backward needs every step.
            var current = value.copy()
            var chain: [(Edit, Tensor, Tensor)] = []
            for e in active {
                var next = current.copy()
                try e.apply(point, &next)
                try ForwardPass.checkReplacement(point, next.shape, expected: current.shape)
                next = next.contiguous()
                chain.append((e, current, next))
                current = next
            }
            chains[point] = chain
            value = current
        }
        if wanted.contains(point) { values[point] = active.isEmpty ? value.copy() : value }
    }
}

/// One differentiable run: the model's one forward (`ForwardPass`) with a record, then
/// the backward in reverse order.
final class GradTape {
    let model: ViT
    let c: ViTConfig
    let w: ViTWeights
    let edits: [Edit]
    let images: Tensor
    let B: Int
    /// Token count after the edits at hook_pos_embed (set by the forward).
    var T: Int
    let D: Int, H: Int, dh: Int, F: Int
    let hooks: TapeHooks
    let record = ForwardRecord()
    /// Requested gradients.
    var grads: [HookPoint: Tensor] = [:]

    init(model: ViT, images: Tensor, points: [HookPoint], edits: [Edit]) throws {
        self.model = model
        c = model.config
        w = model.weights
        self.edits = edits
        hooks = TapeHooks(edits: edits, wanted: Set(points))
        B = try model.validate(images)
        self.images = images
        T = c.numTokens
        D = c.width; H = c.heads; dh = c.headWidth; F = c.mlpHidden
    }

    var wanted: Set<HookPoint> { hooks.wanted }

    /// Keeps the gradient at `p` when requested, then carries it back through the edits
    /// acting at `p`: the result is the gradient with respect to the unedited value.
    func unvisit(_ p: HookPoint, _ g: Tensor) throws -> Tensor {
        if wanted.contains(p) { grads[p] = g }
        guard let chain = hooks.chains[p] else { return g }
        var g = g
        for (e, input, output) in chain.reversed() {
            g = try EditGradients.backward(e, at: p, input: input, output: output, grad: g)
        }
        return g
    }

    /// The forward, keeping the record; logits [B, C].
    func forward() throws -> Tensor {
        try model.enter()
        defer { model.leave() }
        var pass = try ForwardPass(model: model, images: images, hooks: hooks, record: record)
        let logits = try pass.run()
        T = pass.T
        return logits
    }

    // MARK: - Backward

    func backward(logits: Tensor, target: GradTarget) throws -> GradientResult {
        let Cn = c.numClasses
        let classes = target.classes  // checked by `gradients`
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
        if let np = w.normPre, let input = record.normPreInput {
            gx = GradOps.layerNormBackward(input, gx, np, eps: c.eps)
        }
        g = try unvisit(HookPoint(.posEmbed), gx)
        let N = c.numPatches, prefix = c.numPrefixTokens, T0 = c.numTokens
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
        return GradientResult(logits: logits, objective: Float(objective), gradients: grads, activations: hooks.values,
                              inputGradient: gImg, tokens: T, edits: edits.map(\.summary))
    }

    /// From d/d logits (before logit edits) to d/d residual stream after the last block.
    func headBackward(_ g: Tensor) throws -> Tensor {
        let prefix = c.numPrefixTokens
        guard let x = record.xFinal else { throw CoreError("gradients: internal: the tape forward did not reach the head") }
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
            if c.fcNorm, let n = w.norm, let input = record.pooledInput {
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
        if let n = w.norm, !c.fcNorm {
            let g2 = try unvisit(HookPoint(.lnFinal), gF)
            return GradOps.layerNormBackward(x, g2, n, eps: c.eps)
        }
        return gF
    }

    /// From d/d resid_post[i] (after its edits) to d/d the block's input (before resid_pre edits).
    func blockBackward(_ i: Int, _ gOut: Tensor) throws -> Tensor {
        let bw = w.blocks[i]
        let tape = record.blocks[i]
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
