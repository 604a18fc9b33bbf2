import Foundation

/// What the backward pass needs from a forward (all values after edits unless named
/// otherwise): a `ForwardPass` given one fills it as it goes; the fast path passes nil and
/// keeps nothing. One forward serves both `ViT.forward` and `ViT.gradients`.
final class ForwardRecord {
    var blocks: [BlockTape] = []
    /// norm_pre input (models with norm_pre).
    var normPreInput: Tensor?
    /// Residual stream entering the final norm / pooling [B, T, D].
    var xFinal: Tensor?
    /// Pooled features before fc_norm [B, D] (fc_norm models).
    var pooledInput: Tensor?
}

/// One forward pass: the model's blocks applied in order over working buffers, with hook
/// points visited only where a handler asked for them.
struct ForwardPass {
    let model: ViT
    let c: ViTConfig
    let w: ViTWeights
    let hooks: HookHandler?
    let wanted: Set<HookPoint>
    let images: Tensor
    let B: Int
    var T: Int
    let D: Int, H: Int, dh: Int, F: Int
    /// Residual stream [B, T, D].
    var x: UnsafeMutablePointer<Float>
    /// Set for a differentiable run: keeps the activations the backward needs.
    let record: ForwardRecord?

    init(model: ViT, images: Tensor, hooks: HookHandler?, record: ForwardRecord? = nil) throws {
        self.model = model
        self.record = record
        c = model.config
        w = model.weights
        self.hooks = hooks
        B = try model.validate(images)
        self.images = images.contiguous()
        T = c.numTokens
        D = c.width; H = c.heads; dh = c.headWidth; F = c.mlpHidden
        if let hooks {
            wanted = Set(model.hookPoints.filter { hooks.wants($0) })
        } else {
            wanted = []
        }
        x = model.workspace.buffer("x", B * T * D)
    }

    func buf(_ name: String, _ n: Int) -> UnsafeMutablePointer<Float> { model.workspace.buffer(name, n) }

    /// The whole pass: embedding, blocks, head; logits [B, C].
    mutating func run() throws -> Tensor {
        try embed()
        for b in 0..<c.depth {
            try CoreInterrupt.check()
            try block(b)
        }
        return try head()
    }

    /// An owned copy of a working buffer (for the record; buffers are reused).
    func snapshot(_ p: UnsafePointer<Float>, _ shape: [Int]) -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.mutablePointer.update(from: p, count: t.count)
        return t
    }

    /// Checks a hook's replacement: the same shape, except at hook_pos_embed where the
    /// token count may change (token removal).
    static func checkReplacement(_ point: HookPoint, _ got: [Int], expected: [Int]) throws {
        if point.kind == .posEmbed {
            guard got.count == 3, got[0] == expected[0], got[2] == expected[2], got[1] >= 1 else {
                throw CoreError("hook \(point.name): replacement has shape \(got), expected [\(expected[0]), T, \(expected[2])]")
            }
        } else if got != expected {
            throw CoreError("hook \(point.name): replacement has shape \(got), expected \(expected)")
        }
    }

    /// Visits a hook point if wanted; writes a replacement back into the buffer.
    func visit(_ kind: HookPoint.Kind, block: Int? = nil, _ p: UnsafeMutablePointer<Float>,
               shape: [Int], strides: [Int]? = nil) throws {
        let point = HookPoint(kind, block: block)
        guard let hooks, wanted.contains(point) else { return }
        let count = shape.reduce(1, *)
        let storage = TensorStorage(borrowing: p, count: count, owner: model.workspace)
        let view = Tensor(storage: storage, shape: shape, strides: strides)
        var value = view
        try hooks.visit(point, &value)
        if value.storage !== storage || value.offset != 0 || value.strides != view.strides {
            try ForwardPass.checkReplacement(point, value.shape, expected: shape)
            Tensor.copyElements(from: value, into: view, pointer: p)
        }
    }

    // MARK: - Embedding

    mutating func embed() throws {
        let N = c.numPatches
        let k = c.inChannels * c.patchSize * c.patchSize
        // im2col: patches [B*N, C_in*P*P] in (c, y, x) order, matching the conv weight.
        let cols = buf("im2col", B * N * k)
        model.im2col(images.pointer, batch: B, into: cols)
        let patches = buf("patches", B * N * D)
        BLAS.linear(x: cols, rows: B * N, inFeatures: k, weight: w.patchEmbed.weight.pointer,
                    bias: w.patchEmbed.bias?.pointer, outFeatures: D, y: patches, rowBlock: N)
        try visit(.embed, patches, shape: [B, N, D])

        // Prefix tokens (cls, dist, registers) then patches; positions as timm's _pos_embed.
        model.assembleTokens(patches, batch: B, into: x)
        let posPoint = HookPoint(.posEmbed)
        if let hooks, wanted.contains(posPoint) {
            // The one point where a replacement may change the token count (token removal).
            let storage = TensorStorage(borrowing: x, count: B * T * D, owner: model.workspace)
            var value = Tensor(storage: storage, shape: [B, T, D])
            try hooks.visit(posPoint, &value)
            if value.storage !== storage {
                try ForwardPass.checkReplacement(posPoint, value.shape, expected: [B, T, D])
                let src = value.contiguous()
                T = value.shape[1]
                x = buf("x", B * T * D)
                x.update(from: src.pointer, count: B * T * D)
            }
        }
        if let np = w.normPre {
            if let record { record.normPreInput = snapshot(x, [B, T, D]) }
            let tmp = buf("h", B * T * D)
            Kernels.layerNorm(x, rows: B * T, width: D, gamma: np.weight.pointer, beta: np.bias.pointer, eps: c.eps, out: tmp)
            x.update(from: tmp, count: B * T * D)
        }
    }

    // MARK: - Blocks

    /// Block `i` on the residual stream: pre-norm (timm's `Block`) or post-norm
    /// (`ResPostBlock`).
    mutating func block(_ i: Int) throws {
        let btd = [B, T, D]
        try visit(.residPre, block: i, x, shape: btd)
        if let record {
            let input = snapshot(x, btd)
            record.blocks.append(BlockTape(x: input, q: input, k: input, v: input, softmax: input, pattern: input,
                                           proj: nil, mid: input, mlpPre: input, fc2: nil))
        }
        if c.postNorm { try postNormBlock(i) } else { try preNormBlock(i) }
    }

    /// x = x + ls1(attn(norm1(x))); x = x + ls2(mlp(norm2(x))).
    func preNormBlock(_ i: Int) throws {
        let bw = w.blocks[i]
        let rows = B * T, btd = [B, T, D]
        let h = buf("h", rows * D)
        let attnOut = buf("attn_out", rows * D)
        Kernels.layerNorm(x, rows: rows, width: D, gamma: bw.norm1.weight.pointer, beta: bw.norm1.bias.pointer, eps: c.eps, out: h)
        try visit(.ln1, block: i, h, shape: btd)
        try attention(i, input: h, out: attnOut)
        if let ls = bw.ls1 { scaleColumns(attnOut, rows: rows, gamma: ls.pointer) }
        try residualAdd(attnOut, out: .attnOut, then: .residMid, block: i)

        let mlpOut = buf("mlp_out", rows * D)
        Kernels.layerNorm(x, rows: rows, width: D, gamma: bw.norm2.weight.pointer, beta: bw.norm2.bias.pointer, eps: c.eps, out: h)
        try visit(.ln2, block: i, h, shape: btd)
        try mlp(i, input: h, out: mlpOut)
        if let ls = bw.ls2 { scaleColumns(mlpOut, rows: rows, gamma: ls.pointer) }
        try residualAdd(mlpOut, out: .mlpOut, then: .residPost, block: i)
    }

    /// x = x + norm1(attn(x)); x = x + norm2(mlp(x)).
    func postNormBlock(_ i: Int) throws {
        let bw = w.blocks[i]
        let rows = B * T, btd = [B, T, D]
        let h = buf("h", rows * D)
        let attnOut = buf("attn_out", rows * D)
        try attention(i, input: x, out: attnOut)
        if let record { record.blocks[i].proj = snapshot(attnOut, btd) }
        Kernels.layerNorm(attnOut, rows: rows, width: D, gamma: bw.norm1.weight.pointer, beta: bw.norm1.bias.pointer, eps: c.eps, out: h)
        attnOut.update(from: h, count: rows * D)
        try residualAdd(attnOut, out: .attnOut, then: .residMid, block: i)

        let mlpOut = buf("mlp_out", rows * D)
        try mlp(i, input: x, out: mlpOut)
        if let record { record.blocks[i].fc2 = snapshot(mlpOut, btd) }
        Kernels.layerNorm(mlpOut, rows: rows, width: D, gamma: bw.norm2.weight.pointer, beta: bw.norm2.bias.pointer, eps: c.eps, out: h)
        mlpOut.update(from: h, count: rows * D)
        try residualAdd(mlpOut, out: .mlpOut, then: .residPost, block: i)
    }

    /// Visits a branch output at `out`, adds it to the residual stream and visits the
    /// stream at `then` (resid_mid is recorded for the backward).
    func residualAdd(_ branch: UnsafeMutablePointer<Float>, out: HookPoint.Kind, then: HookPoint.Kind, block i: Int) throws {
        let btd = [B, T, D]
        try visit(out, block: i, branch, shape: btd)
        add(into: x, branch, B * T * D)
        try visit(then, block: i, x, shape: btd)
        if then == .residMid, let record { record.blocks[i].mid = snapshot(x, btd) }
    }

    /// Multi-head self-attention of `input` [B, T, D] into `out` [B, T, D] (after proj).
    func attention(_ i: Int, input: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) throws {
        let bw = w.blocks[i]
        let rows = B * T
        let qkv = buf("qkv", rows * 3 * D)
        BLAS.linear(x: input, rows: rows, inFeatures: D, weight: bw.qkv.weight.pointer, bias: bw.qkv.bias?.pointer,
                    outFeatures: 3 * D, y: qkv, rowBlock: T)
        let headView = [T * 3 * D, 3 * D, dh, 1]
        try visit(.q, block: i, qkv, shape: [B, T, H, dh], strides: headView)
        try visit(.k, block: i, qkv + D, shape: [B, T, H, dh], strides: headView)
        try visit(.v, block: i, qkv + 2 * D, shape: [B, T, H, dh], strides: headView)
        if let record {
            let headShape = [B, self.T, self.H, self.dh]
            let parts = (0..<3).map { _ in Tensor(uninitialized: headShape) }
            for r in 0..<rows {
                for j in 0..<3 { (parts[j].mutablePointer + r * D).update(from: qkv + r * 3 * D + j * D, count: D) }
            }
            record.blocks[i].q = parts[0]; record.blocks[i].k = parts[1]; record.blocks[i].v = parts[2]
        }
        let z = buf("z", rows * D)
        let scale = 1 / Float(dh).squareRoot()
        let needPattern = record != nil || wanted.contains(HookPoint(.attnScores, block: i))
            || wanted.contains(HookPoint(.pattern, block: i))
        let T = self.T, D = self.D, H = self.H, dh = self.dh
        if needPattern {
            // Materialise scores [B, H, T, T] so hooks can read or edit them.
            let scores = buf("scores", B * H * T * T)
            for bh in 0..<(B * H) {
                let b = bh / H, hd = bh % H
                let q = qkv + b * T * 3 * D + hd * dh
                BLAS.gemm(m: T, n: T, k: dh, a: q, lda: 3 * D, b: q + D, ldb: 3 * D, transB: true,
                          c: scores + bh * T * T, ldc: T, alpha: scale)
            }
            try visit(.attnScores, block: i, scores, shape: [B, H, T, T])
            Kernels.softmaxRows(scores, rows: B * H * T, n: T)
            if let record { record.blocks[i].softmax = snapshot(scores, [B, H, T, T]) }
            try visit(.pattern, block: i, scores, shape: [B, H, T, T])
            if let record { record.blocks[i].pattern = snapshot(scores, [B, H, T, T]) }
            for bh in 0..<(B * H) {
                let b = bh / H, hd = bh % H
                let v = qkv + b * T * 3 * D + 2 * D + hd * dh
                BLAS.gemm(m: T, n: dh, k: T, a: scores + bh * T * T, lda: T, b: v, ldb: 3 * D, transB: false,
                          c: z + b * T * D + hd * dh, ldc: D)
            }
        } else {
            // Fused: one [T, T] tile per (image, head), never stored. The (image, head)
            // pairs are spread over the workers, each running single-threaded GEMMs:
            // OpenBLAS's own threads would fight the workers (measured: 37% of the time
            // spinning in exec_blas_async at ViT-B/16 batch 8).
            let workers = max(1, min(Threads.count, B * H))
            let tiles = buf("score_tiles", workers * T * T)
            Threads.onWorkers(workers) { wk in
                let s = tiles + wk * T * T
                var bh = wk
                while bh < B * H {
                    let b = bh / H, hd = bh % H
                    let q = qkv + b * T * 3 * D + hd * dh
                    BLAS.gemm(m: T, n: T, k: dh, a: q, lda: 3 * D, b: q + D, ldb: 3 * D, transB: true, c: s, ldc: T, alpha: scale)
                    Kernels.softmaxRows(s, rows: T, n: T)
                    BLAS.gemm(m: T, n: dh, k: T, a: s, lda: T, b: q + 2 * D, ldb: 3 * D, transB: false,
                              c: z + b * T * D + hd * dh, ldc: D)
                    bh += workers
                }
            }
        }
        try visit(.z, block: i, z, shape: [B, T, H, dh])
        BLAS.linear(x: z, rows: rows, inFeatures: D, weight: bw.proj.weight.pointer, bias: bw.proj.bias?.pointer,
                    outFeatures: D, y: out, rowBlock: T)
    }

    /// fc1 -> activation -> fc2 of `input` [B, T, D] into `out` [B, T, D].
    func mlp(_ i: Int, input: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) throws {
        let bw = w.blocks[i]
        let rows = B * T
        let hidden = buf("mlp_hidden", rows * F)
        let activation = c.activation
        if record != nil || wanted.contains(HookPoint(.mlpPre, block: i)) {
            BLAS.linear(x: input, rows: rows, inFeatures: D, weight: bw.fc1.weight.pointer, bias: bw.fc1.bias?.pointer,
                        outFeatures: F, y: hidden, rowBlock: T)
            try visit(.mlpPre, block: i, hidden, shape: [B, T, F])
            if let record { record.blocks[i].mlpPre = snapshot(hidden, [B, T, F]) }
            switch activation {
            case .gelu: Kernels.gelu(hidden, count: rows * F)
            case .quickGelu: Kernels.quickGelu(hidden, count: rows * F)
            }
        } else {
            // The activation runs on each worker's slice of fc1 while it is in cache.
            BLAS.linear(x: input, rows: rows, inFeatures: D, weight: bw.fc1.weight.pointer, bias: bw.fc1.bias?.pointer,
                        outFeatures: F, y: hidden, rowBlock: T) { p, ld, r, n in
                for row in 0..<r {
                    switch activation {
                    case .gelu: Kernels.geluSerial(p + row * ld, count: n)
                    case .quickGelu: Kernels.quickGeluSerial(p + row * ld, count: n)
                    }
                }
            }
        }
        try visit(.mlpPost, block: i, hidden, shape: [B, T, F])
        BLAS.linear(x: hidden, rows: rows, inFeatures: F, weight: bw.fc2.weight.pointer, bias: bw.fc2.bias?.pointer,
                    outFeatures: D, y: out, rowBlock: T)
    }

    // MARK: - Head

    /// Final norm, pooling, head: logits [B, C].
    mutating func head() throws -> Tensor {
        let Cn = c.numClasses
        let prefix = c.numPrefixTokens
        if let record { record.xFinal = snapshot(x, [B, T, D]) }
        var feats = buf("x_final", B * T * D)
        if let n = w.norm, !c.fcNorm {
            Kernels.layerNorm(x, rows: B * T, width: D, gamma: n.weight.pointer, beta: n.bias.pointer, eps: c.eps, out: feats)
            try visit(.lnFinal, feats, shape: [B, T, D])
        } else {
            feats = x
        }
        let logits = Tensor(zeros: [B, Cn])
        let pooled = buf("pooled", B * D)
        if c.distilled {
            // Mean of the class head on CLS and the distillation head on the dist token.
            guard T >= 2 else {
                throw CoreError("distilled model: the head reads the CLS and distillation tokens, but only \(T) token is left")
            }
            let dist = buf("pooled_dist", B * D)
            for b in 0..<B {
                (pooled + b * D).update(from: feats + b * T * D, count: D)
                (dist + b * D).update(from: feats + b * T * D + D, count: D)
            }
            let l2 = buf("logits_dist", B * Cn)
            guard let hd = w.headDist else { throw CoreError("distilled model without head_dist") }
            BLAS.linear(x: pooled, rows: B, inFeatures: D, weight: w.head.weight.pointer, bias: w.head.bias?.pointer, outFeatures: Cn, y: logits.mutablePointer, rowBlock: 1)
            BLAS.linear(x: dist, rows: B, inFeatures: D, weight: hd.weight.pointer, bias: hd.bias?.pointer, outFeatures: Cn, y: l2, rowBlock: 1)
            let lp = logits.mutablePointer
            for i in 0..<(B * Cn) { lp[i] = (lp[i] + l2[i]) / 2 }
        } else {
            switch c.pooling {
            case .token:
                for b in 0..<B { (pooled + b * D).update(from: feats + b * T * D, count: D) }
            case .avg:
                let n = T - prefix
                guard n > 0 else { throw CoreError("average pooling needs at least one patch token (all were removed)") }
                for b in 0..<B {
                    let dst = pooled + b * D
                    dst.initialize(repeating: 0, count: D)
                    for t in prefix..<T {
                        let src = feats + (b * T + t) * D
                        for d in 0..<D { dst[d] += src[d] }
                    }
                    let inv = 1 / Float(n)
                    for d in 0..<D { dst[d] *= inv }
                }
            }
            if c.fcNorm, let n = w.norm {
                if let record { record.pooledInput = snapshot(pooled, [B, D]) }
                let tmp = buf("pooled_norm", B * D)
                Kernels.layerNorm(pooled, rows: B, width: D, gamma: n.weight.pointer, beta: n.bias.pointer, eps: c.eps, out: tmp)
                pooled.update(from: tmp, count: B * D)
                try visit(.lnFinal, pooled, shape: [B, D])
            }
            BLAS.linear(x: pooled, rows: B, inFeatures: D, weight: w.head.weight.pointer, bias: w.head.bias?.pointer, outFeatures: Cn, y: logits.mutablePointer, rowBlock: 1)
        }
        try visit(.logits, logits.mutablePointer, shape: [B, Cn])
        return logits
    }

    // MARK: - Small helpers

    func add(into dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
        Threads.parallelFor(n) { a, b in for i in a..<b { dst[i] += src[i] } }
    }

    func scaleColumns(_ p: UnsafeMutablePointer<Float>, rows: Int, gamma: UnsafePointer<Float>) {
        let D = self.D
        for r in 0..<rows {
            let row = p + r * D
            for d in 0..<D { row[d] *= gamma[d] }
        }
    }
}

extension Tensor {
    /// Copies `src`'s elements (any strides) into the strided view `dst` at `pointer`.
    static func copyElements(from src: Tensor, into dst: Tensor, pointer: UnsafeMutablePointer<Float>) {
        let values = src.scalars
        var i = 0
        let base = pointer - dst.offset
        dst.forEachOffset { off in
            base[off] = values[i]
            i += 1
        }
    }
}
