import VLSCore
import VLSLanguage

/// An intervention as a language value; made concrete for a model when a run uses it
/// (hook names resolve against that model's blocks).
final class EditObject: VLSObject {
    let summary: String
    let make: (ModelObject, Interpreter) throws -> Edit

    init(_ summary: String, make: @escaping (ModelObject, Interpreter) throws -> Edit) {
        self.summary = summary
        self.make = make
    }

    var typeName: String { "edit" }
    func describe() -> String { "edit \(summary)" }
}

/// Interventions, passed to `model.run(x, edits: [...])`.
func editBuiltins(_ session: Session) -> [NativeFunction] {
    let area = "edits"
    func points(_ name: String, _ m: ModelObject) throws -> [HookPoint] { try bridged { try HookNames.resolve(name, model: m.model) } }
    return [
        native("ablate", "ablate(hook: string, how: string = \"zero\", heads: ints = nil, tokens: ints = nil, value: tensorlike = nil)", area: area,
               "Zero- or mean-ablates a hook (a full name or a short form such as \"attn_out\" for every block). `how: \"mean\"` replaces with the batch mean per position; `value:` gives a fixed replacement (e.g. a dataset mean). `heads:` limits it to heads (hooks with a head axis: q, k, v, z, pattern), `tokens:` to token positions.") { a in
            let hook = try a.string(0, "hook")
            let howName = try a.string(nil, "how", default: "zero")
            guard let how = Ablation.How(rawValue: howName) else { throw RuntimeError("ablate: how must be \"zero\" or \"mean\", got \"\(howName)\"") }
            let heads = try a.intList(nil, "heads"), tokens = try a.intList(nil, "tokens")
            let value = try a.optionalTensor(nil, "value")
            var s = "ablate(\"\(hook)\", how: \"\(howName)\""
            if let heads { s += ", heads: \(heads)" }
            if let tokens { s += ", tokens: \(tokens)" }
            return .object(EditObject(s + ")") { m, _ in
                Ablation(points: try points(hook, m), how: how, heads: heads, tokens: tokens, value: value)
            })
        },
        native("patch", "patch(hook: string, from: run, tokens: ints = nil)", area: area,
               "Activation patching: replaces the hook's activation with the one captured at the same point in another run (capture it there first); `tokens:` limits it to some positions.") { a in
            let hook = try a.string(0, "hook")
            guard let src = a.optional(1, "from"), case .object(let r as RunObject) = src else {
                throw RuntimeError("'patch' needs from: a run (made with capture: [\"\(hook)\"])")
            }
            let tokens = try a.intList(nil, "tokens")
            return .object(EditObject("patch(\"\(hook)\")") { m, _ in
                Patch(points: try points(hook, m), source: r.result, tokens: tokens)
            })
        },
        native("self_only", "self_only()", area: area,
               "Every image-token query row of the post-softmax attention attends only to itself (row zeroed, A[t, t] = 1); prefix-token rows (CLS, registers) unchanged. Applies to every block unless wrapped in at(blocks: ...).") { _ in
            .object(EditObject("self_only()") { m, _ in
                AttentionEdit(.selfOnly, prefixTokens: m.c.numPrefixTokens, hasClassToken: m.c.classToken)
            })
        },
        native("no_cls", "no_cls()", area: area,
               "Image-token query rows stop attending to CLS: A[t, 0] = 0 for t >= 1, without renormalising (the paper's edit). Needs a model with a CLS token.") { _ in
            .object(EditObject("no_cls()") { m, _ in
                guard m.c.classToken else { throw RuntimeError("no_cls(): this model has no CLS token") }
                return AttentionEdit(.noCls, prefixTokens: m.c.numPrefixTokens, hasClassToken: true)
            })
        },
        native("mask_attention", "mask_attention(mask: tensorlike, renorm: bool = false)", area: area,
               "Multiplies the post-softmax attention by a mask ([T, T], [H, T, T] or [B, H, T, T]); `renorm: true` renormalises each row to sum 1.") { a in
            let mask = try a.tensor(0, "mask")
            let renorm = try a.bool(nil, "renorm", default: false)
            return .object(EditObject("mask_attention(\(mask.shape), renorm: \(renorm))") { m, _ in
                AttentionEdit(.mask(mask, renormalize: renorm), prefixTokens: m.c.numPrefixTokens, hasClassToken: m.c.classToken)
            })
        },
        native("drop_tokens", "drop_tokens(keep: list|tensor)", area: area,
               "Token removal after the position embedding: keeps the prefix tokens (CLS, registers) and the listed patches (0-based patch indices, row-major), and runs the shorter sequence. `keep` is one list for every image, or one list per image (a list of lists or a [B, k] tensor, all of the same length k).") { a in
            if let perImage = try a.intLists(0, "keep") {
                return .object(EditObject("drop_tokens(keep \(perImage.first?.count ?? 0) patches per image)") { m, _ in
                    DropTokens(keepPerImage: perImage, prefixTokens: m.c.numPrefixTokens)
                })
            }
            guard let keep = try a.intList(0, "keep") else { throw RuntimeError("'drop_tokens' needs keep: a list of patch indices") }
            return .object(EditObject("drop_tokens(keep \(keep.count) patches)") { m, _ in
                DropTokens(keep: keep, prefixTokens: m.c.numPrefixTokens)
            })
        },
        native("at", "at(blocks: ints, edit: edit)", area: area,
               "Restricts an edit to some blocks (0-based), e.g. at([10, 11], self_only()) or at(blocks: [10, 11], edit: self_only()).") { a in
            guard let blocks = try a.intList(0, "blocks") else { throw RuntimeError("'at' needs blocks: a list of block indices") }
            let ev = try a.value(1, "edit")
            guard case .object(let inner as EditObject) = ev else { throw a.badArgument(1, "edit", expected: "edit", got: ev) }
            return .object(EditObject("\(inner.summary) at blocks \(blocks)") { m, i in
                for b in blocks where b < 0 || b >= m.c.depth {
                    throw RuntimeError("at: block \(b) out of range (the model has \(m.c.depth) blocks, 0...\(m.c.depth - 1))")
                }
                return BlockSelection(blocks: blocks, inner: try inner.make(m, i))
            })
        },
        native("hook", "hook(name: string, fn: function)", area: area,
               "A user function as a hook: fn(activation) or fn(activation, hook_name) is called at every point the name denotes; returning a tensor replaces the activation (same shape), returning nil leaves it.") { a in
            let name = try a.string(0, "name")
            let fn = try a.value(1, "fn")
            return .object(EditObject("hook(\"\(name)\")") { m, interp in
                FunctionEdit(points: try points(name, m), label: name) { point, t in
                    var args: [Value] = [.tensor(t)]
                    if case .function(let f) = fn, f.signature.contains(",") { args.append(.string(point.name)) }
                    let r = try interp.call(fn, args)
                    switch r {
                    case .nil: return nil
                    case .object(let o as TensorObject): return o.tensor
                    default: throw RuntimeError("hook(\"\(name)\"): the function must return a tensor or nil, got \(r.typeName)")
                    }
                }
            })
        },
    ]
}
