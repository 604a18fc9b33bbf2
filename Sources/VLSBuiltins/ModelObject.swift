import Foundation
import VLSCore
import VLSImaging
import VLSLanguage

/// A loaded ViT as a language value.
final class ModelObject: VLSObject {
    let model: ViT
    let session: Session
    init(_ model: ViT, session: Session) { self.model = model; self.session = session }

    var typeName: String { "model" }
    var c: ViTConfig { model.config }

    func describe() -> String {
        let name = c.architecture.map { "\($0) " } ?? ""
        return "model \(name)(\(c.summary))"
    }

    var memberNames: [String] {
        ["config", "hooks", "labels", "depth", "width", "heads", "classes", "tokens", "prefix_tokens", "patches", "grid",
         "image_size", "patch_size", "preprocessing", "path", "notes"] + Array(ModelObject.methodDocs.keys).sorted()
    }

    /// The checkpoint's own preprocessing, or the named pipeline with the checkpoint's size.
    func preprocessing(_ pipeline: String?) throws -> Preprocessing {
        let p = c.preprocessing
        let filter = ResampleFilter(name: p.interpolation) ?? .bicubic
        let mean = p.mean.map(Float.init), std = p.std.map(Float.init)
        switch pipeline ?? p.pipeline {
        case "timm": return try Preprocessing.timm(size: c.imageSize, cropPct: p.cropPct, interpolation: filter, mean: mean, std: std)
        case "squash":
            // The paper's squash: bilinear, 0.5/0.5 unless the checkpoint is itself squashed (HF).
            if p.pipeline == "squash" { return try Preprocessing.squash(size: c.imageSize, interpolation: filter, mean: mean, std: std) }
            return try Preprocessing.squash(size: c.imageSize)
        case let other: throw RuntimeError("unknown pipeline '\(other)' (timm or squash)")
        }
    }

    /// Labels by index ("class 3" when the checkpoint names none).
    func label(_ i: Int) -> String {
        if let l = c.labels, i >= 0, i < l.count { return l[i] }
        if c.numClasses == 1000, i >= 0, i < 1000 { return ImageNetLabels.names[i] }
        return "class \(i)"
    }

    var configValue: Value {
        var pairs: [(String, Value)] = [
            ("architecture", c.architecture.map { .string($0) } ?? .nil), ("keys", .string(c.keyScheme.rawValue)),
            ("image_size", .int(c.imageSize)), ("patch_size", .int(c.patchSize)), ("in_chans", .int(c.inChannels)),
            ("width", .int(c.width)), ("depth", .int(c.depth)), ("heads", .int(c.heads)), ("mlp_width", .int(c.mlpHidden)),
            ("classes", .int(c.numClasses)), ("class_token", .bool(c.classToken)), ("reg_tokens", .int(c.regTokens)),
            ("distilled", .bool(c.distilled)), ("pool", .string(c.pooling.rawValue)), ("fc_norm", .bool(c.fcNorm)),
            ("pre_norm", .bool(c.preNorm)), ("post_norm_blocks", .bool(c.postNorm)), ("layer_scale", .bool(c.layerScale)),
            ("qkv_bias", .bool(c.qkvBias)), ("no_embed_class", .bool(c.noEmbedClass)), ("eps", .float(Double(c.eps))),
            ("activation", .string(c.activation.rawValue)), ("tokens", .int(c.numTokens)), ("prefix_tokens", .int(c.numPrefixTokens)),
        ]
        pairs.append(("preprocessing", .string((try? preprocessing(nil).description) ?? "-")))
        return .dict(pairs)
    }

    static let methodDocs: [String: (String, String)] = [
        "forward": ("model.forward(x)", "Logits [B, C] for a preprocessed batch x [B, 3, H, W]."),
        "run": ("model.run(x, capture: [], edits: [], grad: false)",
                "Runs x [B, 3, H, W] capturing the named hooks (full names such as \"blocks.3.hook_resid_post\" or short forms such as \"resid_post\" for every block, \"attn_out 3\" for one) and applying the edits in order. Returns a run: run[\"resid_post\"] is [blocks, B, T, D]; run.logits, run.predictions, run.probs."),
        "predict": ("model.predict(image, k: 5, pipeline: nil)", "Top-k classes with names and probabilities for one image (preprocessed with the model's pipeline), as a table."),
        "preprocess": ("model.preprocess(image, pipeline: nil)", "An image (or list of images) as a [B, 3, H, W] tensor, with the checkpoint's own transform by default (\"timm\" or \"squash\" to choose)."),
        "randomized": ("model.randomized(seed: 0)", "The same architecture with timm's random initialisation (seeded), for random-weight baselines."),
        "label": ("model.label(i)", "The name of class i."),
        "hook_names": ("model.hook_names(name)", "The full hook names a short form denotes."),
    ]

    func getProperty(_ name: String, interpreter: Interpreter) throws -> Value? {
        switch name {
        case "config": return configValue
        case "hooks": return .strings(model.hookPoints.map(\.name))
        case "labels": return .strings((0..<c.numClasses).map(label))
        case "depth": return .int(c.depth)
        case "width": return .int(c.width)
        case "heads": return .int(c.heads)
        case "classes": return .int(c.numClasses)
        case "tokens": return .int(c.numTokens)
        case "prefix_tokens": return .int(c.numPrefixTokens)
        case "patches": return .int(c.numPatches)
        case "grid": return .int(c.gridSize)
        case "image_size": return .int(c.imageSize)
        case "patch_size": return .int(c.patchSize)
        case "preprocessing": return .string(try bridged { try preprocessing(nil).description })
        case "path": return .string(model.source)
        case "notes": return .strings(c.notes)
        default: break
        }
        guard let (sig, doc) = ModelObject.methodDocs[name] else { return nil }
        return .native(NativeFunction(name: "model.\(name)", signature: sig, doc: doc, area: "model") { [self] a in
            try bridged { try self.call(name, a) }
        })
    }

    func call(_ name: String, _ a: Arguments) throws -> Value {
        switch name {
        case "forward":
            return .tensor(try model.forward(try a.tensor(0, "x")))
        case "run":
            try a.expectKeywords(["capture", "edits", "grad"])
            let x = try a.tensor(0, "x")
            let names = try a.list(nil, "capture", default: []).map { v -> String in
                guard case .string(let s) = v else { throw a.badArgument(nil, "capture", expected: "list of hook names", got: v) }
                return s
            }
            var points: [HookPoint] = []
            for n in names { for p in try HookNames.resolve(n, model: model) where !points.contains(p) { points.append(p) } }
            let edits = try a.list(nil, "edits", default: []).map { v -> Edit in
                guard case .object(let o as EditObject) = v else { throw a.badArgument(nil, "edits", expected: "list of edits", got: v) }
                return try o.make(self, a.interpreter)
            }
            let grad = try a.bool(nil, "grad", default: false)
            let result = try model.run(x, capture: points, edits: edits)
            return .object(RunObject(result, model: self, names: names, grad: grad, input: x, edits: edits))
        case "predict":
            try a.expectKeywords(["k", "pipeline"])
            let img = try a.object(0, "image", as: ImageObject.self, expected: "image")
            let k = try a.int(1, "k", default: 5)
            let x = try preprocessBatch([img.image], pipeline: try a.optional(nil, "pipeline").map { _ in try a.string(nil, "pipeline") })
            let probs = try model.forward(x).softmax()
            let (idx, val) = try LensMath.topk(probs, k: min(max(k, 1), c.numClasses))
            let rows: [[Value]] = (0..<idx.shape[1]).map { j in
                let ci = Int(idx.item([0, j]))
                return [.int(j + 1), .int(ci), .string(label(ci)), .float(Double(val.item([0, j])))]
            }
            return .object(TableObject(columns: ["rank", "class", "label", "prob"], rows: rows))
        case "preprocess":
            try a.expectKeywords(["pipeline"])
            let v = try a.value(0, "image")
            let images: [Image]
            switch v {
            case .object(let o as ImageObject): images = [o.image]
            case .list(let l):
                images = try l.items.map { item in
                    guard case .object(let o as ImageObject) = item else { throw a.badArgument(0, "image", expected: "image or list of images", got: item) }
                    return o.image
                }
            default: throw a.badArgument(0, "image", expected: "image or list of images", got: v)
            }
            let pipeline = try a.optional(nil, "pipeline").map { _ in try a.string(nil, "pipeline") }
            return .tensor(try preprocessBatch(images, pipeline: pipeline))
        case "randomized":
            let seed = try a.int(0, "seed", default: Int(truncatingIfNeeded: session.options.seed))
            return .object(ModelObject(model.randomized(seed: UInt64(bitPattern: Int64(seed))), session: session))
        case "label":
            let i = try a.index(0, "i")
            guard i >= 0, i < c.numClasses else { throw RuntimeError("class \(i) out of range (0...\(c.numClasses - 1))") }
            return .string(label(i))
        case "hook_names":
            return .strings(try HookNames.resolve(try a.string(0, "name"), model: model).map(\.name))
        default:
            throw RuntimeError("model has no method '\(name)'")
        }
    }

    /// Images through the pipeline into one [B, 3, S, S] tensor.
    func preprocessBatch(_ images: [Image], pipeline: String?) throws -> Tensor {
        let p = try preprocessing(pipeline)
        let S = p.size
        let out = Tensor(uninitialized: [images.count, 3, S, S])
        for (i, img) in images.enumerated() {
            let chw = try p.apply(img)
            chw.withUnsafeBufferPointer { (out.mutablePointer + i * 3 * S * S).update(from: $0.baseAddress!, count: 3 * S * S) }
        }
        return out
    }
}

/// The result of `model.run` as a language value.
final class RunObject: VLSObject {
    let result: RunResult
    let model: ModelObject
    let names: [String]
    let grad: Bool
    let input: Tensor
    let edits: [Edit]

    init(_ result: RunResult, model: ModelObject, names: [String], grad: Bool, input: Tensor, edits: [Edit] = []) {
        self.result = result; self.model = model; self.names = names; self.grad = grad; self.input = input; self.edits = edits
    }

    var typeName: String { "run" }
    var memberNames: [String] { ["logits", "predictions", "probs", "hooks", "tokens", "edits", "input", "model", "grad", "lens", "ranks"] }

    func describe() -> String {
        let b = result.logits.shape[0]
        var s = "run of \(b) image\(b == 1 ? "" : "s"), \(result.tokens) tokens"
        s += result.order.isEmpty ? ", nothing captured" : ", captured: \(result.summarizeCaptured())"
        if !result.edits.isEmpty { s += ", edits: " + result.edits.joined(separator: "; ") }
        return s
    }

    func getProperty(_ name: String, interpreter: Interpreter) throws -> Value? {
        switch name {
        case "logits": return .tensor(result.logits)
        case "probs": return .tensor(result.logits.softmax())
        case "predictions": return .tensor(try bridged { try result.logits.reduce(.argmax, axis: -1) })
        case "hooks": return .strings(result.order.map(\.name))
        case "tokens": return .int(result.tokens)
        case "edits": return .strings(result.edits)
        case "input": return .tensor(input)
        case "model": return .object(model)
        case "grad":
            return .native(NativeFunction(name: "run.grad", signature: "run.grad(hook, target: nil, loss: \"logit\")",
                                          doc: "The gradient of the target class's logit (loss: \"logit\") or cross-entropy (\"ce\") with respect to a hook's activation, same shape as run[hook] (short forms stack over blocks). `target:` a class for every image, a list, or nil for the run's predictions. The run must be made with grad: true; its edits are differentiated through.", area: "runs") { [self] a in
                try bridged { try self.gradient(a) }
            })
        case "lens":
            return .native(NativeFunction(name: "run.lens", signature: "run.lens(layers: nil, head: \"mean\")",
                                          doc: "Lens logits of the run's captured residual-space layers, a dict {layer: [blocks, B, T, C]} (the same numbers as project(m, run[layer]) up to float rounding). `layers:` a list of resid_pre, resid_mid, resid_post, attn_out, mlp_out (default: each of them the run captured). With resid_post, attn_out and mlp_out together, resid_post's lens is the running sum of the sublayers' (the lens is linear up to each token's norm statistics): two head products instead of three.", area: "runs") { [self] a in
                try bridged { try self.lens(a) }
            })
        case "ranks":
            return .native(NativeFunction(name: "run.ranks", signature: "run.ranks(classes, layers: nil, head: \"mean\")",
                                          doc: "Lens ranks of `classes` (strict count of larger logits, 0 = top-1) at every token of every block, a dict {layer: [blocks, B, T]}: ranks(project(m, run[layer]), classes) without keeping the logits (each block is ranked while in cache; memory stays small for big batches). `classes`: one int, one class per image ([B] list or tensor), or a [B, T] tensor. `layers:` as in run.lens.", area: "runs") { [self] a in
                try bridged { try self.lens(a, ranksOf: a.value(0, "classes")) }
            })
        default: return nil
        }
    }

    func lens(_ a: Arguments, ranksOf classes: Value? = nil) throws -> Value {
        try a.expectKeywords(["layers", "head"])
        let name = classes == nil ? "run.lens" : "run.ranks"
        let headName = try a.string(nil, "head", default: "mean")
        guard let head = ViT.HeadChoice(rawValue: headName) else { throw RuntimeError("\(name): head must be \"mean\", \"cls\" or \"dist\"") }
        var kinds: [HookPoint.Kind]
        let requested = try a.list(nil, "layers", default: []).map { v -> String in
            guard case .string(let s) = v else { throw a.badArgument(nil, "layers", expected: "list of layer names", got: v) }
            return s
        }
        if !requested.isEmpty {
            kinds = []
            for layer in requested {
                guard let k = ViT.lensKinds.first(where: { $0.shortName == layer }) else {
                    throw RuntimeError("\(name): '\(layer)' is not a residual-space layer (one of \(ViT.lensKinds.map(\.shortName).joined(separator: ", ")))")
                }
                if !kinds.contains(k) { kinds.append(k) }
            }
        } else {
            kinds = ViT.lensKinds.filter { k in result.order.contains { $0.kind == k } }
            guard !kinds.isEmpty else {
                throw RuntimeError("\(name): the run captured no residual-space layer; pass capture: [\"resid_post\"] (or attn_out, mlp_out, resid_pre, resid_mid) to model.run")
            }
        }
        guard let classes else {
            let logits = try model.model.lens(result, layers: kinds, head: head)
            return .dict(kinds.map { ($0.shortName, Value.tensor(logits[$0]!)) })
        }
        // One class per token [B, T], from an int, [B] (per image) or [B, T].
        let B = result.logits.shape[0], T = result.tokens
        var c: Tensor
        if case .int(let k) = classes { c = Tensor(scalar: Float(k)) } else { c = try tensorValue(classes) }
        if c.rank == 1 {
            guard c.shape[0] == B else { throw RuntimeError("run.ranks: \(c.shape[0]) classes for \(B) images (give one int, one class per image, or a [\(B), \(T)] tensor)") }
            c = try c.reshaped([B, 1])
        }
        guard c.rank == 0 || (c.rank == 2 && (c.shape[0] == B || c.shape[0] == 1) && (c.shape[1] == T || c.shape[1] == 1)) else {
            throw RuntimeError("run.ranks: classes of shape \(c.shape) (give one int, one class per image [\(B)], or a [\(B), \(T)] tensor)")
        }
        let ranks = try model.model.lensRanks(result, layers: kinds, classes: try c.broadcast(to: [B, T]).contiguous(), head: head)
        return .dict(kinds.map { ($0.shortName, Value.tensor(ranks[$0]!)) })
    }

    /// Target classes from a `target:` argument (nil: the run's predictions).
    func targets(_ v: Value?) throws -> [Int] {
        let B = input.shape[0]
        switch v {
        case nil, .nil?: return try result.logits.reduce(.argmax, axis: -1).scalars.map { Int($0) }
        case .int(let c)?: return [Int](repeating: c, count: B)
        case let other?:
            let t = try tensorValue(other).scalars.map { Int($0) }
            guard t.count == B else { throw RuntimeError("target: \(t.count) classes for \(B) images") }
            return t
        }
    }

    func gradient(_ a: Arguments) throws -> Value {
        try a.expectKeywords(["target", "loss"])
        guard grad else { throw RuntimeError("run.grad: make the run with grad: true (model.run(x, capture: [...], grad: true))") }
        let name = try a.string(0, "hook")
        let points = try HookNames.resolve(name, model: model.model)
        let classes = try targets(a.keyword("target"))
        let lossName = try a.string(nil, "loss", default: "logit")
        let target: GradTarget
        switch lossName {
        case "logit": target = .logit(classes: classes)
        case "ce": target = .crossEntropy(classes: classes)
        default: throw RuntimeError("run.grad: loss must be \"logit\" or \"ce\", got \"\(lossName)\"")
        }
        let g = try model.model.gradients(input, target: target, at: points, edits: edits)
        let tensors = try points.map { try g.gradient(at: $0) }
        if points.count == 1 && (HookPoint(name: name) != nil || !points[0].kind.isPerBlock || name.contains(" ") || name.contains("[")) {
            return .tensor(tensors[0])
        }
        return .tensor(try Tensor.stack(tensors))
    }

    func subscriptGet(_ items: [IndexItem], interpreter: Interpreter) throws -> Value {
        guard items.count == 1, case .value(.string(let name)) = items[0] else {
            throw RuntimeError("a run is indexed by hook name, e.g. run[\"resid_post\"] or run[\"blocks.3.hook_attn_out\"]")
        }
        return .tensor(try bridged { try result.activation(name) })
    }
}
