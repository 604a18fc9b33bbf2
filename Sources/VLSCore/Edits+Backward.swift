import Foundation

/// Gradient rules of the edits (Edits.swift): from d/d the edited value to d/d the value
/// the edit received, for `ViT.gradients` on an edited run.
enum EditGradients {
    /// The gradient with respect to `input` of `output = edit(input)` given `grad` (d/d output).
    static func backward(_ e: Edit, at p: HookPoint, input: Tensor, output: Tensor, grad: Tensor) throws -> Tensor {
        let g = grad.contiguous()
        switch e {
        case let s as BlockSelection:
            return try backward(s.inner, at: p, input: input, output: output, grad: g)
        case let a as Ablation:
            return ablation(a, at: p, grad: g)
        case let pt as Patch:
            return patch(pt, grad: g)
        case let a as AttentionEdit:
            return try attention(a, input: input, grad: g)
        case let d as DropTokens:
            return dropTokens(d, inputShape: input.shape, grad: g)
        default:
            // A read-only hook (e.g. a function that returned nothing) passes gradients through.
            if input.shape == output.shape && input.scalars == output.scalars { return g }
            throw CoreError("gradients: the edit '\(e.summary)' changed '\(p.name)' and has no gradient rule; differentiable edits are ablate, patch, self_only, no_cls, mask_attention, drop_tokens (and at(blocks:) of them)")
        }
    }

    /// Replaced elements are constants (zero, fixed value) or the batch mean at their position.
    static func ablation(_ a: Ablation, at p: HookPoint, grad g: Tensor) -> Tensor {
        let shape = g.shape
        let strides = Tensor.contiguousStrides(shape)
        let hAxis = Ablation.headAxis(p.kind), tAxis = Ablation.tokenAxis(p.kind)
        let headSet = a.heads.map(Set.init), tokenSet = a.tokens.map(Set.init)
        func selected(_ i: Int) -> Bool {
            if let hs = headSet, let ax = hAxis, !hs.contains((i / strides[ax]) % shape[ax]) { return false }
            if let ts = tokenSet, let ax = tAxis, !ts.contains((i / strides[ax]) % shape[ax]) { return false }
            return true
        }
        let out = g.copy()
        let op = out.mutablePointer, gp = g.pointer
        let n = g.count
        if a.value != nil || a.how == .zero {
            for i in 0..<n where selected(i) { op[i] = 0 }
        } else {
            // Mean over the batch (axis 0): each image gets 1/B of the summed gradient.
            let B = shape.first ?? 1
            let inner = B > 0 ? n / B : 0
            let invB = 1 / Float(max(B, 1))
            for j in 0..<inner where selected(j) {
                var s: Float = 0
                for b in 0..<B { s += gp[b * inner + j] }
                for b in 0..<B { op[b * inner + j] = s * invB }
            }
        }
        return out
    }

    /// Patched elements come from another run: no gradient flows to this run's value.
    static func patch(_ pt: Patch, grad g: Tensor) -> Tensor {
        guard let tokens = pt.tokens else { return Tensor(zeros: g.shape) }
        let out = g.copy()
        let T = g.shape[1], inner = g.count / (g.shape[0] * T)
        for b in 0..<g.shape[0] {
            for tok in tokens where tok >= 0 && tok < T {
                (out.mutablePointer + (b * T + tok) * inner).initialize(repeating: 0, count: inner)
            }
        }
        return out
    }

    /// self_only rows are constants; no_cls zeroes A[t, 0]; a mask multiplies (and the
    /// renormalisation y = u / Σu, u = x ⊙ m, is differentiated).
    static func attention(_ a: AttentionEdit, input: Tensor, grad g: Tensor) throws -> Tensor {
        let shape = g.shape
        let T = shape[3], rowsTotal = shape[0] * shape[1]
        let out = g.copy()
        let op = out.mutablePointer
        switch a.kind {
        case .selfOnly:
            for bh in 0..<rowsTotal {
                for t in a.prefixTokens..<T { (op + (bh * T + t) * T).initialize(repeating: 0, count: T) }
            }
        case .noCls:
            for bh in 0..<rowsTotal {
                for t in a.prefixTokens..<T { op[(bh * T + t) * T] = 0 }
            }
        case .mask(let m, let renorm):
            let mb: Tensor
            do { mb = try m.broadcast(to: shape).contiguous() } catch {
                throw CoreError("mask_attention: mask of shape \(m.shape) does not fit the pattern [B, H, T, T] = \(shape)")
            }
            let mp = mb.pointer, xp = input.contiguous().pointer, gp = g.pointer
            if !renorm {
                for i in 0..<out.count { op[i] = gp[i] * mp[i] }
            } else {
                for r in 0..<(rowsTotal * T) {
                    let o = r * T
                    var s = 0.0
                    for j in 0..<T { s += Double(xp[o + j]) * Double(mp[o + j]) }
                    if s > 0 {
                        // du_j = (g_j - Σ_i g_i y_i) / s, y_i = u_i / s
                        var gy = 0.0
                        for j in 0..<T { gy += Double(gp[o + j]) * Double(xp[o + j]) * Double(mp[o + j]) / s }
                        for j in 0..<T { op[o + j] = Float((Double(gp[o + j]) - gy) / s) * mp[o + j] }
                    } else {
                        for j in 0..<T { op[o + j] = gp[o + j] * mp[o + j] }
                    }
                }
            }
        }
        return out
    }

    /// Kept tokens receive their gradient; dropped tokens none.
    static func dropTokens(_ d: DropTokens, inputShape: [Int], grad g: Tensor) -> Tensor {
        let B = inputShape[0], D = inputShape[2]
        let Tk = g.shape[1]
        let out = Tensor(zeros: inputShape)
        let op = out.mutablePointer, gp = g.pointer
        for b in 0..<B {
            let rows = Array(0..<d.prefixTokens) + d.keep[d.perImage ? b : 0].map { $0 + d.prefixTokens }
            for (i, r) in rows.enumerated() where i < Tk {
                for j in 0..<D { op[(b * inputShape[1] + r) * D + j] += gp[(b * Tk + i) * D + j] }
            }
        }
        return out
    }
}
