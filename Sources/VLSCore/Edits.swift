import Foundation

/// The interventions of the paper and the usual mechanistic-interpretability set.
/// Every edit is a value passed to `ViT.run`; none is global state.

/// Restricts an edit to some blocks (`at(blocks: [...], edit)`).
public final class BlockSelection: Edit {
    public let blocks: Set<Int>
    public let inner: Edit
    public init(blocks: [Int], inner: Edit) { self.blocks = Set(blocks); self.inner = inner }
    public var summary: String { "\(inner.summary) at blocks \(blocks.sorted().map { String($0) }.joined(separator: ","))" }
    public func applies(to point: HookPoint) -> Bool {
        guard let b = point.block else { return false }
        return blocks.contains(b) && inner.applies(to: point)
    }
    public func apply(_ point: HookPoint, _ value: inout Tensor) throws { try inner.apply(point, &value) }
}

/// Zero- or mean-ablation of a hook, whole or per head / per token.
public final class Ablation: Edit {
    public enum How: String, Sendable { case zero, mean }
    public let kinds: Set<HookPoint.Kind>
    public let points: Set<HookPoint>
    public let how: How
    public let heads: [Int]?
    public let tokens: [Int]?
    /// A fixed replacement value (e.g. a dataset mean), broadcast to the activation.
    public let value: Tensor?

    public init(points: [HookPoint], how: How, heads: [Int]?, tokens: [Int]?, value: Tensor? = nil) {
        self.points = Set(points)
        self.kinds = Set(points.map(\.kind))
        self.how = how
        self.heads = heads
        self.tokens = tokens
        self.value = value
    }

    public var summary: String {
        var s = "ablate(\(kinds.map(\.shortName).sorted().joined(separator: ",")), \(how.rawValue)"
        if let heads { s += ", heads \(heads)" }
        if let tokens { s += ", tokens \(tokens)" }
        return s + ")"
    }

    public func applies(to point: HookPoint) -> Bool { points.contains(point) }

    /// The axis holding heads / tokens for a hook kind.
    static func headAxis(_ k: HookPoint.Kind) -> Int? {
        switch k {
        case .q, .k, .v, .z: return 2
        case .attnScores, .pattern: return 1
        default: return nil
        }
    }

    static func tokenAxis(_ k: HookPoint.Kind) -> Int? {
        switch k {
        case .attnScores, .pattern: return 2    // query rows
        case .lnFinal, .logits: return nil
        default: return 1
        }
    }

    public func apply(_ point: HookPoint, _ t: inout Tensor) throws {
        let out = t.copy()
        let shape = out.shape
        let replacement: Tensor
        if let value {
            replacement = try value.broadcast(to: shape).contiguous()
        } else if how == .mean {
            // Mean over the batch, per position.
            replacement = try out.reduce(.mean, axis: 0, keepDims: true).broadcast(to: shape).contiguous()
        } else {
            replacement = Tensor(zeros: shape)
        }
        if heads != nil && Ablation.headAxis(point.kind) == nil {
            throw CoreError("ablate: '\(point.kind.shortName)' has no head axis; ablate heads at 'z' (per-head attention output), 'q', 'k', 'v' or 'pattern'")
        }
        if tokens != nil && Ablation.tokenAxis(point.kind) == nil {
            throw CoreError("ablate: '\(point.kind.shortName)' has no token axis")
        }
        let hAxis = Ablation.headAxis(point.kind), tAxis = Ablation.tokenAxis(point.kind)
        for h in heads ?? [] where h < 0 || h >= shape[hAxis!] {
            throw CoreError("ablate: head \(h) out of range (0...\(shape[hAxis!] - 1))")
        }
        for tok in tokens ?? [] where tok < 0 || tok >= shape[tAxis!] {
            throw CoreError("ablate: token \(tok) out of range (0...\(shape[tAxis!] - 1))")
        }
        let headSet = heads.map(Set.init), tokenSet = tokens.map(Set.init)
        let strides = Tensor.contiguousStrides(shape)
        let dst = out.mutablePointer, src = replacement.pointer
        for i in 0..<out.count {
            if let hs = headSet, let a = hAxis, !hs.contains((i / strides[a]) % shape[a]) { continue }
            if let ts = tokenSet, let a = tAxis, !ts.contains((i / strides[a]) % shape[a]) { continue }
            dst[i] = src[i]
        }
        t = out
    }
}

/// Replaces activations with those captured in another run (activation patching).
public final class Patch: Edit {
    public let points: Set<HookPoint>
    public let source: RunResult
    public let tokens: [Int]?
    public init(points: [HookPoint], source: RunResult, tokens: [Int]? = nil) {
        self.points = Set(points); self.source = source; self.tokens = tokens
    }
    public var summary: String { "patch(\(Set(points.map(\.kind.shortName)).sorted().joined(separator: ",")) from another run)" }
    public func applies(to point: HookPoint) -> Bool { points.contains(point) }
    public func apply(_ point: HookPoint, _ t: inout Tensor) throws {
        guard let s = source.captured[point] else {
            throw CoreError("patch: the source run did not capture '\(point.name)'; capture it there first")
        }
        guard s.shape == t.shape else {
            throw CoreError("patch: '\(point.name)' has shape \(s.shape) in the source run but \(t.shape) here")
        }
        guard let tokens else { t = s; return }
        let out = t.copy()
        let T = t.shape[1], inner = t.count / (t.shape[0] * T)
        for tok in tokens where tok < 0 || tok >= T { throw CoreError("patch: token \(tok) out of range (0...\(T - 1))") }
        let src = s.contiguous()
        for b in 0..<t.shape[0] {
            for tok in tokens {
                (out.mutablePointer + (b * T + tok) * inner).update(from: src.pointer + (b * T + tok) * inner, count: inner)
            }
        }
        t = out
    }
}

/// Edits of the post-softmax attention pattern (Docs/method.md#attention-and-context-interventions).
public final class AttentionEdit: Edit {
    public enum Kind: Sendable {
        /// Every image-token query row attends only to itself; prefix rows unchanged.
        case selfOnly
        /// Image-token rows get A[t, 0] = 0 (no attention to CLS), not renormalised.
        case noCls
        /// Multiply by a mask ([T, T], [H, T, T] or [B, H, T, T]), optionally renormalising rows.
        case mask(Tensor, renormalize: Bool)
    }
    public let kind: Kind
    public let prefixTokens: Int
    public let hasClassToken: Bool

    public init(_ kind: Kind, prefixTokens: Int, hasClassToken: Bool) {
        self.kind = kind; self.prefixTokens = prefixTokens; self.hasClassToken = hasClassToken
    }

    public var summary: String {
        switch kind {
        case .selfOnly: return "self_only()"
        case .noCls: return "no_cls()"
        case .mask(let m, let r): return "mask_attention(\(m.shape), renorm: \(r))"
        }
    }

    public func applies(to point: HookPoint) -> Bool { point.kind == .pattern }

    public func apply(_ point: HookPoint, _ a: inout Tensor) throws {
        let shape = a.shape   // [B, H, T, T]
        let T = shape[3]
        let out = a.copy()
        let p = out.mutablePointer
        let rowsTotal = shape[0] * shape[1]
        switch kind {
        case .selfOnly:
            for bh in 0..<rowsTotal {
                for t in prefixTokens..<T {
                    let row = p + (bh * T + t) * T
                    row.initialize(repeating: 0, count: T)
                    row[t] = 1
                }
            }
        case .noCls:
            guard hasClassToken else { throw CoreError("no_cls(): this model has no CLS token") }
            for bh in 0..<rowsTotal {
                for t in prefixTokens..<T { p[(bh * T + t) * T] = 0 }
            }
        case .mask(let m, let renorm):
            let mb: Tensor
            do { mb = try m.broadcast(to: shape).contiguous() } catch {
                throw CoreError("mask_attention: mask of shape \(m.shape) does not fit the pattern [B, H, T, T] = \(shape)")
            }
            let mp = mb.pointer
            for i in 0..<out.count { p[i] *= mp[i] }
            if renorm {
                for r in 0..<(rowsTotal * T) {
                    let row = p + r * T
                    var s: Float = 0
                    for j in 0..<T { s += row[j] }
                    if s > 0 { for j in 0..<T { row[j] /= s } }
                }
            }
        }
        a = out
    }
}

/// Token removal after the position embedding: prefix tokens (CLS, registers) are always
/// kept; `keep` lists the patch indices (0-based over patches) that stay, in order — one
/// list for every image, or one list per image (all of the same length).
public final class DropTokens: Edit {
    public let keep: [[Int]]
    public let perImage: Bool
    public let prefixTokens: Int
    public init(keep: [Int], prefixTokens: Int) { self.keep = [keep]; perImage = false; self.prefixTokens = prefixTokens }
    public init(keepPerImage: [[Int]], prefixTokens: Int) { keep = keepPerImage; perImage = true; self.prefixTokens = prefixTokens }
    public var summary: String { "drop_tokens(keep \(keep.first?.count ?? 0) patches\(perImage ? " per image" : ""))" }
    public func applies(to point: HookPoint) -> Bool { point.kind == .posEmbed }
    public func apply(_ point: HookPoint, _ x: inout Tensor) throws {
        let B = x.shape[0], T = x.shape[1], D = x.shape[2]
        let patches = T - prefixTokens
        guard !perImage || keep.count == B else { throw CoreError("drop_tokens: \(keep.count) keep lists for \(B) images") }
        guard let n = keep.first?.count else { throw CoreError("drop_tokens: no keep list given") }
        for list in keep {
            guard list.count == n else { throw CoreError("drop_tokens: every image must keep the same number of patches") }
            for k in list where k < 0 || k >= patches {
                throw CoreError("drop_tokens: patch \(k) out of range (the model has \(patches) patches, 0...\(patches - 1))")
            }
        }
        let src = x.contiguous()
        let out = Tensor(uninitialized: [B, prefixTokens + n, D])
        for b in 0..<B {
            let rows = Array(0..<prefixTokens) + keep[perImage ? b : 0].map { $0 + prefixTokens }
            for (i, r) in rows.enumerated() {
                (out.mutablePointer + (b * rows.count + i) * D).update(from: src.pointer + (b * T + r) * D, count: D)
            }
        }
        x = out
    }
}

/// A user function as a hook: called with the activation; returns a replacement or nil.
public final class FunctionEdit: Edit {
    public let points: Set<HookPoint>
    public let label: String
    public let body: (HookPoint, Tensor) throws -> Tensor?
    public init(points: [HookPoint], label: String, body: @escaping (HookPoint, Tensor) throws -> Tensor?) {
        self.points = Set(points); self.label = label; self.body = body
    }
    public var summary: String { "hook(\(label))" }
    public func applies(to point: HookPoint) -> Bool { points.contains(point) }
    public func apply(_ point: HookPoint, _ t: inout Tensor) throws {
        if let r = try body(point, t.copy()) {
            guard r.shape == t.shape || point.kind == .posEmbed else {
                throw CoreError("hook(\(label)): the function returned shape \(r.shape) for '\(point.name)', expected \(t.shape)")
            }
            t = r
        }
    }
}
