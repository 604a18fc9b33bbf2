import Foundation

/// The class-embedding lens: any residual-space vector through the model's final norm and
/// classifier head, token by token (Vilas et al. 2023, Docs/method.md#the-class-embedding-lens).
extension ViT {
    /// Which classifier a distilled model projects through.
    public enum HeadChoice: String, Sendable { case mean, cls, dist }

    /// Class logits for `h` [..., D]: p(h) = W_h · LN_f(h) + b_h, one GEMM over all rows.
    /// LN_f is `norm` (or `fc_norm` for pooled models) with its own affine weights.
    public func project(_ h: Tensor, head: HeadChoice = .mean) throws -> Tensor {
        let D = config.width, C = config.numClasses
        guard h.rank >= 1, h.shape.last == D else {
            throw CoreError("project: the last axis must be the model width \(D), got shape \(h.shape)")
        }
        let rows = h.count / D
        let x = h.contiguous()
        let normed = try Tensor(uninitialized: h.shape, for: "project")
        if let n = weights.norm {
            Kernels.layerNorm(x.pointer, rows: rows, width: D, gamma: n.weight.pointer, beta: n.bias.pointer, eps: config.eps, out: normed.mutablePointer)
        } else {
            normed.mutablePointer.update(from: x.pointer, count: rows * D)
        }
        let out = try Tensor(uninitialized: Array(h.shape.dropLast()) + [C], for: "project")
        func apply(_ l: Linear, into y: UnsafeMutablePointer<Float>) {
            // One image's tokens per product: its scores do not depend on its batch-mates.
            BLAS.linear(x: normed.pointer, rows: rows, inFeatures: D, weight: l.weight.pointer, bias: l.bias?.pointer, outFeatures: C, y: y,
                        rowBlock: h.rank >= 2 ? max(1, h.shape[h.rank - 2]) : rows)
        }
        if let hd = weights.headDist, head != .cls {
            if head == .dist {
                apply(hd, into: out.mutablePointer)
            } else {
                apply(weights.head, into: out.mutablePointer)
                let tmp = workspaceFreeBuffer(rows * C)
                defer { tmp.deallocate() }
                apply(hd, into: tmp)
                let o = out.mutablePointer
                for i in 0..<(rows * C) { o[i] = (o[i] + tmp[i]) / 2 }
            }
        } else {
            apply(weights.head, into: out.mutablePointer)
        }
        return out
    }

    /// The residual-space layers whose lens `lens(_:layers:)` computes.
    public static let lensKinds: [HookPoint.Kind] = [.residPre, .residMid, .residPost, .attnOut, .mlpOut]

    /// Lens logits of several per-block layers of one run together: [blocks, B, T, C] for
    /// each layer in `layers` (residual-space kinds of `lensKinds`, captured at every block).
    ///
    /// The lens is linear up to two scalars per token: with W' = W_h diag(γ), s = W' 1 and
    /// c = W_h β + b_h, p(v) = (W' v - μ_v s) / σ_v + c, where μ_v, σ_v are v's layer-norm
    /// statistics. So when resid_post, attn_out and mlp_out are all asked for and the
    /// captures satisfy resid_post[l] = (resid_post[l-1] + attn_out[l]) + mlp_out[l] bit for
    /// bit (as the forward computes them; an edit that breaks it is detected and the plain
    /// way taken), W' resid_post[l] is the running sum of W' over the sublayers and the
    /// three layers cost two head GEMMs instead of three. A distilled model's mean head is
    /// one GEMM through the mean of both heads. Equal to `project` up to float rounding
    /// (a few 1e-6 relative; tested against it and against timm).
    public func lens(_ run: RunResult, layers: [HookPoint.Kind], head: HeadChoice = .mean) throws -> [HookPoint.Kind: Tensor] {
        let (acts, lead) = try lensInputs(run, layers: layers)
        let n = lead.reduce(1, *) * config.numClasses
        var out: [HookPoint.Kind: Tensor] = [:]
        for kind in acts.keys { out[kind] = try Tensor(uninitialized: [config.depth] + lead + [config.numClasses], for: "lens") }
        let base = out.mapValues { $0.mutablePointer }
        try lensPass(acts, lead: lead, head: head, buffer: { kind, l in base[kind]! + l * n }, row: nil)
        return out
    }

    /// The lens ranks r(h, c) (strictly larger logits; 0 = top-1) of `classes` for the layers
    /// of `lens(_:layers:)`: [blocks, B, T] each, without keeping any logits (each block's
    /// rows are ranked while in cache). `classes` [B, T] (one class per token; broadcast one
    /// per image or one for all before calling). Equal to `ranks(project(...))` except where
    /// float rounding reorders two logits within a few 1e-6 of each other.
    public func lensRanks(_ run: RunResult, layers: [HookPoint.Kind], classes: Tensor, head: HeadChoice = .mean) throws -> [HookPoint.Kind: Tensor] {
        let (acts, lead) = try lensInputs(run, layers: layers)
        let C = config.numClasses, rows = lead.reduce(1, *), L = config.depth
        guard classes.shape == lead else { throw CoreError("lens ranks: classes of shape \(classes.shape), expected \(lead)") }
        let cls = try classes.contiguous().scalars.map { c -> Int in
            guard c >= 0, c < Float(C), c == c.rounded() else { throw CoreError("ranks: class \(c) is not a class index in 0..<\(C)") }
            return Int(c)
        }
        let kinds = Array(acts.keys)
        var out: [HookPoint.Kind: Tensor] = [:]
        for kind in kinds { out[kind] = try Tensor(uninitialized: [L] + lead, for: "lens ranks") }
        _ = try Limits.checkTensor(lead + [C], for: "lens ranks")   // each layer's scratch logits
        let scratch = kinds.map { _ in UnsafeMutablePointer<Float>.allocate(capacity: rows * C) }
        defer { scratch.forEach { $0.deallocate() } }
        let dst = kinds.map { out[$0]!.mutablePointer }
        try cls.withUnsafeBufferPointer { cp in
            try lensPass(acts, lead: lead, head: head, buffer: { kind, _ in scratch[kinds.firstIndex(of: kind)!] }, row: { kind, l, r, y in
                dst[kinds.firstIndex(of: kind)!][l * rows + r] = Float(LensMath.rank(y, count: C, of: cp[r]))
            })
        }
        return out
    }

    /// The captured per-block tensors of `layers` (each [B, T, D] at every block) and [B, T].
    private func lensInputs(_ run: RunResult, layers: [HookPoint.Kind]) throws -> ([HookPoint.Kind: [Tensor]], [Int]) {
        let D = config.width, L = config.depth
        var acts: [HookPoint.Kind: [Tensor]] = [:]
        var lead: [Int]? = nil
        for kind in layers where acts[kind] == nil {
            guard ViT.lensKinds.contains(kind) else {
                throw CoreError("lens: '\(kind.shortName)' is not a residual-space layer (one of \(ViT.lensKinds.map(\.shortName).joined(separator: ", ")))")
            }
            var ts: [Tensor] = []
            for l in 0..<L {
                guard let t = run.captured[HookPoint(kind, block: l)] else {
                    throw CoreError("lens: 'blocks.\(l).\(kind.rawValue)' was not captured in this run; pass capture: [\"\(kind.shortName)\"] to model.run")
                }
                guard t.rank == 3, t.shape[2] == D, lead == nil || lead! == Array(t.shape.prefix(2)) else {
                    throw CoreError("lens: '\(kind.shortName)' has shape \(t.shape) at block \(l), not one [B, T, \(D)] for every block (tokens dropped mid-run? project each block with project(m, h))")
                }
                lead = Array(t.shape.prefix(2))
                let c = t.contiguous()
                NaNWatch.check(c, block: l, analysis: "lens")
                ts.append(c)
            }
            acts[kind] = ts
        }
        guard let lead else { throw CoreError("lens: no layers given") }
        return (acts, lead)
    }

    /// Block by block: the head GEMMs (raw W' v) into `buffer(kind, block)`, then one pass
    /// over the rows that keeps the running W' resid_post and turns every buffer row into
    /// logits, (P - μ s) / σ + c, handing each finished row to `row` (kind, block, row, logits).
    private func lensPass(_ acts: [HookPoint.Kind: [Tensor]], lead: [Int], head: HeadChoice,
                          buffer: (HookPoint.Kind, Int) -> UnsafeMutablePointer<Float>,
                          row: ((HookPoint.Kind, Int, Int, UnsafePointer<Float>) -> Void)?) throws {
        let D = config.width, C = config.numClasses, L = config.depth
        let rows = lead[0] * lead[1], tokensPerImage = max(1, lead[1])
        // The effective head: W' = W diag(γ), s = W' 1, c = W β + b (double sums).
        var heads: [Linear] = [weights.head]
        if let hd = weights.headDist, head != .cls { heads = head == .dist ? [hd] : [weights.head, hd] }
        let wEff = Tensor(uninitialized: [C, D])
        var s = [Float](repeating: 0, count: C), cb = [Float](repeating: 0, count: C)
        let norm = weights.norm
        let we = wEff.mutablePointer
        for c in 0..<C {
            var sum = 0.0, shift = 0.0
            for d in 0..<D {
                var w: Float = 0
                for h in heads { w += h.weight.pointer[c * D + d] }
                w /= Float(heads.count)
                let g = norm.map { $0.weight.pointer[d] } ?? 1
                we[c * D + d] = w * g
                sum += Double(w * g)
                if let n = norm { shift += Double(w) * Double(n.bias.pointer[d]) }
            }
            var b = 0.0
            for h in heads { b += Double(h.bias?.pointer[c] ?? 0) }
            s[c] = Float(sum)
            cb[c] = Float(shift + b / Double(heads.count))
        }

        // Block by block: the head GEMMs (raw W' v), then one pass over the rows that keeps
        // the running W' resid_post and applies (P - μ s) / σ + c to every output.
        let derivable = norm != nil && [.residPost, .attnOut, .mlpOut].allSatisfy { acts[$0] != nil }
        let kinds = Array(acts.keys)
        let running = derivable ? UnsafeMutablePointer<Float>.allocate(capacity: rows * C) : nil
        defer { running?.deallocate() }
        let hasNorm = norm != nil, eps = config.eps
        for l in 0..<L {
            try CoreInterrupt.check()
            let derive = derivable && l > 0
                && Self.residualSumHolds(post: acts[.residPost]![l], prev: acts[.residPost]![l - 1],
                                         attn: acts[.attnOut]![l], mlp: acts[.mlpOut]![l])
            for kind in kinds where !(derive && kind == .residPost) {
                BLAS.linear(x: acts[kind]![l].pointer, rows: rows, inFeatures: D, weight: wEff.pointer, bias: nil,
                            outFeatures: C, y: buffer(kind, l), rowBlock: tokensPerImage)
            }
            let targets = kinds.map { (buffer($0, l), acts[$0]![l].pointer, $0) }
            let pa = derivable ? UnsafePointer(buffer(.attnOut, l)) : nil, pm = derivable ? UnsafePointer(buffer(.mlpOut, l)) : nil
            let pp = derivable ? UnsafePointer(buffer(.residPost, l)) : nil
            s.withUnsafeBufferPointer { sp in
                cb.withUnsafeBufferPointer { cp in
                    Threads.parallelFor(rows, costPerItem: 4 * C + 2 * D) { r0, r1 in
                        for r in r0..<r1 {
                            // The running sum first: the sublayers' raw rows are read before
                            // their own transform below overwrites them.
                            if let running, let pa, let pm, let pp {
                                let run = running + r * C, a = pa + r * C, m = pm + r * C
                                if derive {
                                    for c in 0..<C { run[c] = run[c] + a[c] + m[c] }
                                } else {
                                    run.update(from: pp + r * C, count: C)
                                }
                            }
                            for (y, v, kind) in targets {
                                let yr = y + r * C
                                if kind == .residPost && derive { yr.update(from: running! + r * C, count: C) }
                                if hasNorm {
                                    let (mean, inv) = Kernels.layerNormStatistics(v + r * D, width: D, eps: eps)
                                    for c in 0..<C { yr[c] = (yr[c] - mean * sp[c]) * inv + cp[c] }
                                } else {
                                    for c in 0..<C { yr[c] += cp[c] }
                                }
                                row?(kind, l, r, yr)
                            }
                        }
                    }
                }
            }
        }
    }

    /// True when post == (prev + attn) + mlp exactly, as the forward computes resid_post.
    static func residualSumHolds(post: Tensor, prev: Tensor, attn: Tensor, mlp: Tensor) -> Bool {
        let n = post.count
        let workers = max(1, Threads.count)
        var bad = [UInt32](repeating: 0, count: workers)
        let p = prev.pointer, cur = post.pointer, a = attn.pointer, m = mlp.pointer
        bad.withUnsafeMutableBufferPointer { bp in
            Threads.onWorkers(workers) { wk in
                var any: UInt32 = 0
                for i in (n * wk / workers)..<(n * (wk + 1) / workers) { any |= (p[i] + a[i]) + m[i] != cur[i] ? 1 : 0 }
                bp[wk] = any
            }
        }
        return !bad.contains { $0 != 0 }
    }

    /// Raw value projection W_h · W (no norm, no bias) for value vectors as columns of
    /// `values` [D, n]: [C, n] (Docs/method.md#key-value-memories).
    public func projectValues(_ values: Tensor) throws -> Tensor {
        guard values.rank == 2, values.shape[0] == config.width else {
            throw CoreError("projectValues: expected [\(config.width), n], got \(values.shape)")
        }
        return try weights.head.weight.matmul(values)
    }

    private func workspaceFreeBuffer(_ n: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
    }
}

/// Ranks and identifiability of classes in lens logits (Docs/method.md#ranks-and-identifiability).
public enum LensMath {
    /// r(h, c): the number of classes with a strictly larger logit than class c (0 = top-1).
    /// `logits` [..., C]; `classes` broadcast against the leading shape (one class per row,
    /// or one per image when the rows are [.., B, T]: give classes shaped to broadcast).
    public static func ranks(_ logits: Tensor, classes: Tensor) throws -> Tensor {
        guard let C = logits.shape.last, C > 0 else { throw CoreError("ranks: logits need a class axis, got shape \(logits.shape)") }
        let lead = Array(logits.shape.dropLast())
        let cls = try classes.broadcast(to: lead).contiguous()
        let x = logits.contiguous()
        let rows = x.count / C
        let out = Tensor(uninitialized: lead)
        let src = x.pointer, cp = cls.pointer, dst = out.mutablePointer
        for r in 0..<rows {
            let c = cp[r]
            guard c >= 0, c < Float(C), c == c.rounded() else { throw CoreError("ranks: class \(c) is not a class index in 0..<\(C)") }
        }
        Threads.parallelFor(rows, costPerItem: C) { r0, r1 in
            for r in r0..<r1 {
                dst[r] = Float(rank(src + r * C, count: C, of: Int(cp[r])))
            }
        }
        return out
    }

    /// r(h, c) of one row of `count` logits: how many are strictly larger than `row[c]`.
    /// NaN never wins: a NaN logit of `c` ranks last (count - 1), and another class's NaN
    /// is never larger than a number (one NaN weight used to make every rank 0).
    @inline(__always)
    public static func rank(_ row: UnsafePointer<Float>, count: Int, of c: Int) -> Int {
        let v = row[c]
        if v.isNaN { return count - 1 }
        var n = 0
        for j in 0..<count { n &+= row[j] > v ? 1 : 0 }
        return n
    }

    /// No prediction: the top-1 of a row holding NaN, equal to no class and to no other
    /// row's top-1 (callers compare with `>= 0` before matching two top-1s).
    public static let noPrediction = -1

    /// The index of the largest of `count` logits, the lowest index on ties; `noPrediction`
    /// when the row holds a NaN (a NaN weight or activation: whichever class wins among
    /// the numbers, the row is broken, so it counts as wrong, never as class 0 or as
    /// numpy's argmax, the first NaN).
    @inline(__always)
    public static func top1(_ row: UnsafePointer<Float>, count: Int) -> Int {
        var best = 0
        if count < 1 || row[0].isNaN { return noPrediction }
        for j in 1..<max(count, 1) {
            let v = row[j]
            if v.isNaN { return noPrediction }
            if v > row[best] { best = j }
        }
        return best
    }

    /// `top1` of every row of `logits` [..., C] (`noPrediction` for a row holding NaN).
    public static func predictions(_ logits: Tensor) -> [Int] {
        guard let C = logits.shape.last, C > 0 else { return [] }
        let x = logits.contiguous()
        return (0..<(x.count / C)).map { top1(x.pointer + $0 * C, count: C) }
    }

    /// `predictions` for a caller that hands classes to the user (`run.predictions`,
    /// `model.predict`, a gradient's default target): a row holding NaN is an error naming
    /// `operation` and the row, never a class.
    public static func requirePredictions(_ logits: Tensor, for operation: String) throws -> [Int] {
        let p = predictions(logits)
        if let i = p.firstIndex(of: noPrediction) {
            throw CoreError("\(operation): the logits of image \(i) hold NaN (a NaN weight, input or edit upstream), so no class is predicted")
        }
        return p
    }

    /// True when "a" should come before "b" in a descending order where NaN is lowest.
    @inline(__always)
    static func above(_ a: Float, _ b: Float) -> Bool { a > b || (b.isNaN && !a.isNaN) }

    /// s = 1 - r / C (1 = top-1, chance about 0.5).
    public static func identifiability(_ logits: Tensor, classes: Tensor) throws -> Tensor {
        let C = Float(logits.shape.last ?? 1)
        return try ranks(logits, classes: classes).map { 1 - $0 / C }
    }

    /// Top-k along the last axis: (indices, values), each [..., k], largest first.
    public static func topk(_ logits: Tensor, k: Int) throws -> (Tensor, Tensor) {
        guard let C = logits.shape.last, k >= 1, k <= C else {
            throw CoreError("topk: k must be in 1...\(logits.shape.last ?? 0), got \(k)")
        }
        let x = logits.contiguous()
        let rows = x.count / C
        let shape = Array(logits.shape.dropLast()) + [k]
        let idx = Tensor(uninitialized: shape), val = Tensor(uninitialized: shape)
        let ip = idx.mutablePointer, vp = val.mutablePointer, src = x.pointer
        // Largest first, ties by the lower index (a stable descending sort's first k). For a
        // small k, one pass keeping the best k in order (O(C k)) instead of sorting each row.
        Threads.parallelFor(rows, costPerItem: C * 2) { r0, r1 in
            var order = [Int](repeating: 0, count: C)
            for r in r0..<r1 {
                let row = src + r * C
                if k <= 16 {
                    var n = 0
                    for j in 0..<C {
                        let v = row[j]
                        if n == k && !above(v, row[order[k - 1]]) { continue }
                        // Insert after every kept entry that is >= v (earlier index wins ties;
                        // NaN below every number).
                        var p = n == k ? k - 1 : n
                        while p > 0 && above(v, row[order[p - 1]]) { order[p] = order[p - 1]; p -= 1 }
                        order[p] = j
                        if n < k { n += 1 }
                    }
                } else {
                    for j in 0..<C { order[j] = j }
                    order.sort { above(row[$0], row[$1]) || (!above(row[$1], row[$0]) && $0 < $1) }
                }
                for j in 0..<k { ip[r * k + j] = Float(order[j]); vp[r * k + j] = row[order[j]] }
            }
        }
        return (idx, val)
    }
}
