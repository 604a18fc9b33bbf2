import Foundation

/// The class-embedding lens: any residual-space vector through the model's final norm and
/// classifier head, token by token (Vilas et al. 2023, method.md section 1).
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
        let normed = Tensor(uninitialized: h.shape)
        if let n = weights.norm {
            Kernels.layerNorm(x.pointer, rows: rows, width: D, gamma: n.weight.pointer, beta: n.bias.pointer, eps: config.eps, out: normed.mutablePointer)
        } else {
            normed.mutablePointer.update(from: x.pointer, count: rows * D)
        }
        let out = Tensor(uninitialized: Array(h.shape.dropLast()) + [C])
        func apply(_ l: Linear, into y: UnsafeMutablePointer<Float>) {
            BLAS.linear(x: normed.pointer, rows: rows, inFeatures: D, weight: l.weight.pointer, bias: l.bias?.pointer, outFeatures: C, y: y)
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

    /// Raw value projection W_h · W (no norm, no bias) for value vectors as columns of
    /// `values` [D, n]: [C, n] (method.md section 3).
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

/// Ranks and identifiability of classes in lens logits (method.md section 2).
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
                let row = src + r * C
                let v = row[Int(cp[r])]
                var n = 0
                for j in 0..<C { n &+= row[j] > v ? 1 : 0 }
                dst[r] = Float(n)
            }
        }
        return out
    }

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
                        if n == k && !(v > row[order[k - 1]]) { continue }
                        // Insert after every kept entry that is >= v (earlier index wins ties).
                        var p = n == k ? k - 1 : n
                        while p > 0 && row[order[p - 1]] < v { order[p] = order[p - 1]; p -= 1 }
                        order[p] = j
                        if n < k { n += 1 }
                    }
                } else {
                    for j in 0..<C { order[j] = j }
                    order.sort { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
                }
                for j in 0..<k { ip[r * k + j] = Float(order[j]); vp[r * k + j] = row[order[j]] }
            }
        }
        return (idx, val)
    }
}
