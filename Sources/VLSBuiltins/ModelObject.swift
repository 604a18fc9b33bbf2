import Foundation
import VLSCore
import VLSImaging
import VLSLanguage

/// A loaded ViT as a language value.
final class ModelObject: DeclaredObject {
    let model: ViT
    let session: Session
    init(_ model: ViT, session: Session) { self.model = model; self.session = session }

    /// Completion inside `capture: ["`: the short hook names this model has (resid_post,
    /// pattern, ...), and with `blocks.` typed, every full name.
    func stringCompletions(keyword: String, method: String?) -> [String] {
        guard keyword == "capture" else { return [] }
        let points = model.hookPoints
        var short: [String] = []
        for p in points where !short.contains(p.kind.shortName) { short.append(p.kind.shortName) }
        return short + points.map(\.name)
    }

    var typeName: String { "model" }
    var c: ViTConfig { model.config }

    func describe() -> String {
        let name = c.architecture.map { "\($0) " } ?? ""
        return "model \(name)(\(c.summary))"
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
            ("qkv_bias", .bool(c.qkvBias)), ("no_embed_class", .bool(c.noEmbedClass)), ("eps", .float32(c.eps)),  // an np.float32: prints its shortest form (1e-06)
            ("activation", .string(c.activation.rawValue)), ("tokens", .int(c.numTokens)), ("prefix_tokens", .int(c.numPrefixTokens)),
        ]
        pairs.append(("preprocessing", .string((try? preprocessing(nil).description) ?? "-")))
        return .dict(pairs)
    }

    static let members: Members<ModelObject> = bridgedMembers("model")
        .property("config", "The architecture, a dictionary (image_size, patch_size, width, depth, heads, classes, eps, ...).") { m, _ in m.configValue }
        .property("hooks", "Every hook name of the model, in forward order.") { m, _ in .strings(m.model.hookPoints.map(\.name)) }
        .property("labels", "The class names (index = class).") { m, _ in .strings((0..<m.c.numClasses).map(m.label)) }
        .property("depth", "The number of blocks.") { m, _ in .int(m.c.depth) }
        .property("width", "The residual width D.") { m, _ in .int(m.c.width) }
        .property("heads", "Attention heads per block.") { m, _ in .int(m.c.heads) }
        .property("classes", "The number of classes C.") { m, _ in .int(m.c.numClasses) }
        .property("tokens", "Tokens per image T (prefix tokens and patches).") { m, _ in .int(m.c.numTokens) }
        .property("prefix_tokens", "CLS, registers and distillation tokens before the patches.") { m, _ in .int(m.c.numPrefixTokens) }
        .property("patches", "Image patches per image.") { m, _ in .int(m.c.numPatches) }
        .property("grid", "Patches per row (and column).") { m, _ in .int(m.c.gridSize) }
        .property("image_size", "Input size in pixels.") { m, _ in .int(m.c.imageSize) }
        .property("patch_size", "Patch size in pixels.") { m, _ in .int(m.c.patchSize) }
        .property("preprocessing", "The checkpoint's own transform, described.") { m, _ in .string(try m.preprocessing(nil).description) }
        .property("digest", "SHA-256 of the weights: two models with the same digest compute the same (parts and probes record it).") { m, _ in .string(m.model.weightDigest) }
        .property("path", "Where the model was loaded from.") { m, _ in .string(m.model.source) }
        .property("notes", "What was guessed or defaulted while loading.") { m, _ in .strings(m.c.notes) }
        .method("model.forward(x: tensorlike)", "Logits [B, C] for a preprocessed batch x [B, 3, H, W].") { m, a in
            .tensor(try m.model.forward(try a.tensor(0, "x")))
        }
        .method("model.run(x: tensorlike, capture: list[string] = [], edits: list[edit] = [], grad: bool = false)",
                "Runs x [B, 3, H, W] capturing the named hooks (full names such as \"blocks.3.hook_resid_post\" or short forms such as \"resid_post\" for every block, \"attn_out 3\" for one) and applying the edits in order. Returns a run: run[\"resid_post\"] is [blocks, B, T, D]; run.logits, run.predictions, run.probs.") { m, a in
            let x = try a.tensor(0, "x")
            let names = try a.list(1, "capture").map { v -> String in
                guard case .string(let s) = v else { throw a.badArgument(1, "capture", expected: "list of hook names", got: v) }
                return s
            }
            var points: [HookPoint] = []
            for n in names { for p in try HookNames.resolve(n, model: m.model) where !points.contains(p) { points.append(p) } }
            let edits = try a.list(2, "edits").map { v -> Edit in
                guard case .object(let o as EditObject) = v else { throw a.badArgument(2, "edits", expected: "list of edits", got: v) }
                return try o.make(m, a.interpreter)
            }
            let grad = try a.bool(3, "grad")
            let result = try m.model.run(x, capture: points, edits: edits)
            return .object(RunObject(result, model: m, names: names, grad: grad, input: x, edits: edits))
        }
        .method("model.predict(image: image, k: int = 5, pipeline: string = nil)",
                "Top-k classes with names and probabilities for one image (preprocessed with the model's pipeline), as a table.") { m, a in
            let img = try a.object(0, "image", as: ImageObject.self, expected: "image")
            let k = try a.int(1, "k")
            let x = try m.preprocessBatch([img.image], pipeline: try a.optional(2, "pipeline").map { _ in try a.string(2, "pipeline") })
            let logits = try m.model.forward(x)
            _ = try LensMath.requirePredictions(logits, for: "model.predict")   // NaN: an error, not a table led by class 0
            let probs = logits.softmax()
            guard k >= 1, k <= m.c.numClasses else { throw RuntimeError("model.predict: k must be in 1...\(m.c.numClasses), got \(k)") }
            let (idx, val) = try LensMath.topk(probs, k: k)
            let rows: [[Value]] = (0..<idx.shape[1]).map { j in
                let ci = Int(idx.item([0, j]))
                return [.int(j + 1), .int(ci), .string(m.label(ci)), .float(Double(val.item([0, j])))]
            }
            return .object(TableObject(columns: ["rank", "class", "label", "prob"], rows: rows))
        }
        .method("model.preprocess(image: image|list[image]|dataset, pipeline: string = nil)",
                "An image (or list of images) as a [B, 3, H, W] tensor, with the checkpoint's own transform by default (\"timm\" or \"squash\" to choose).") { m, a in
            let v = try a.value(0, "image")
            let images: [Image]
            switch v {
            case .object(let o as ImageObject): images = [o.image]
            case .object(let d as DatasetObject):
                throw RuntimeError("preprocess takes images; for dataset \(d.name) hold a batch with data.batches(n, model: m)[0] (or [:k]) or data.batch(indices, model: m)")
            case .list(let l): images = l.items.compactMap { if case .object(let o as ImageObject) = $0 { return o.image }; return nil }
            default: throw a.badArgument(0, "image", expected: "image or list of images", got: v)
            }
            let pipeline = try a.optional(1, "pipeline").map { _ in try a.string(1, "pipeline") }
            return .tensor(try m.preprocessBatch(images, pipeline: pipeline))
        }
        .method("model.randomized(seed: int = nil)", "The same architecture with timm's random initialisation (seeded; without seed, the session's seed), for random-weight baselines.") { m, a in
            let seed = try a.int(0, "seed", default: Int(truncatingIfNeeded: m.session.options.seed))
            return .object(ModelObject(m.model.randomized(seed: UInt64(bitPattern: Int64(seed))), session: m.session))
        }
        .method("model.label(i: int)", "The name of class i.") { m, a in
            let i = try a.int(0, "i")
            guard i >= 0, i < m.c.numClasses else { throw RuntimeError("class \(i) out of range (0...\(m.c.numClasses - 1))") }
            return .string(m.label(i))
        }
        .method("model.hook_names(name: string)", "The full hook names a short form denotes.") { m, a in
            .strings(try HookNames.resolve(try a.string(0, "name"), model: m.model).map(\.name))
        }

    /// Images through the pipeline into one [B, 3, S, S] tensor.
    func preprocessBatch(_ images: [Image], pipeline: String?) throws -> Tensor {
        let p = try preprocessing(pipeline)
        let S = p.size
        let out = try Tensor(uninitialized: [images.count, 3, S, S], for: "model.preprocess")
        for (i, img) in images.enumerated() {
            let chw = try p.apply(img)
            chw.withUnsafeBufferPointer { (out.mutablePointer + i * 3 * S * S).update(from: $0.baseAddress!, count: 3 * S * S) }
        }
        return out
    }
}

/// The result of `model.run` as a language value.
final class RunObject: DeclaredObject {
    let result: RunResult
    let model: ModelObject
    let names: [String]
    let grad: Bool
    let input: Tensor
    let edits: [Edit]

    init(_ result: RunResult, model: ModelObject, names: [String], grad: Bool, input: Tensor, edits: [Edit] = []) {
        self.result = result; self.model = model; self.names = names; self.grad = grad; self.input = input; self.edits = edits
    }

    /// Completion after `run["name"].`: `run[name]` stacks activations (gigabytes for a large
    /// batch), so an empty tensor stands in: a run's subscript is always a tensor.
    func completionStandIn(forKey key: Value) -> Value? {
        guard case .string(let name) = key, subscriptKeys.contains(name) else { return nil }
        return .object(TensorObject(Tensor(zeros: [0, 0, 0, 0])))
    }

    /// Completion inside `run["`: the short names of the captured hooks and their full names.
    var subscriptKeys: [String] {
        var short: [String] = []
        for p in result.order where !short.contains(p.kind.shortName) { short.append(p.kind.shortName) }
        return short + result.order.map(\.name)
    }

    var typeName: String { "run" }

    func describe() -> String {
        let b = result.logits.shape[0]
        var s = "run of \(b) image\(b == 1 ? "" : "s"), \(result.tokens) tokens"
        s += result.order.isEmpty ? ", nothing captured" : ", captured: \(result.summarizeCaptured())"
        if !result.edits.isEmpty { s += ", edits: " + result.edits.joined(separator: "; ") }
        return s
    }

    static let members: Members<RunObject> = bridgedMembers("run")
        .property("logits", "Class logits [B, C].") { r, _ in .tensor(r.result.logits) }
        .property("probs", "Class probabilities [B, C] (softmax of the logits).") { r, _ in .tensor(r.result.logits.softmax()) }
        .property("predictions", "The top class of each image [B] (lowest index on ties). Logits holding NaN are an error, never a class (argmax(run.logits) gives numpy's answer, the first NaN).") { r, _ in
            let p = try LensMath.requirePredictions(r.result.logits, for: "run.predictions")
            return try .indices(Tensor(p.map(Float.init), shape: [p.count]), "predictions")
        }
        .property("hooks", "The captured hook names.") { r, _ in .strings(r.result.order.map(\.name)) }
        .property("tokens", "Tokens per image in this run (fewer after drop_tokens).") { r, _ in .int(r.result.tokens) }
        .property("edits", "The edits applied, described.") { r, _ in .strings(r.result.edits) }
        .property("input", "The input batch [B, 3, H, W].") { r, _ in .tensor(r.input) }
        .property("model", "The model that made the run.") { r, _ in .object(r.model) }
        .method("run.grad(hook: string, target: classes = nil, loss: string = \"logit\")",
                "The gradient of the target class's logit (loss: \"logit\") or cross-entropy (\"ce\") with respect to a hook's activation, same shape as run[hook] (short forms stack over blocks). `target:` a class for every image, a list, or nil for the run's predictions. The run must be made with grad: true; its edits are differentiated through.") { r, a in
            try r.gradient(a)
        }
        .method("run.lens(layers: list[string] = [], head: string = \"mean\")",
                "Lens logits of the run's captured residual-space layers, a dict {layer: [blocks, B, T, C]} (the same numbers as project(m, run[layer]) up to float rounding). `layers:` a list of resid_pre, resid_mid, resid_post, attn_out, mlp_out (default: each of them the run captured). With resid_post, attn_out and mlp_out together, resid_post's lens is the running sum of the sublayers' (the lens is linear up to each token's norm statistics): two head products instead of three.") { r, a in
            try r.lens(a)
        }
        .method("run.ranks(classes: classes, layers: list[string] = [], head: string = \"mean\")",
                "Lens ranks of `classes` (strict count of larger logits, 0 = top-1) at every token of every block, a dict {layer: [blocks, B, T]}: ranks(project(m, run[layer]), classes) without keeping the logits (each block is ranked while in cache; memory stays small for big batches). `classes`: one int, one class per image ([B] list or tensor), or a [B, T] tensor. `layers:` as in run.lens.") { r, a in
            try r.lens(a, ranksOf: a.value(0, "classes"))
        }

    func lens(_ a: Arguments, ranksOf classes: Value? = nil) throws -> Value {
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
        case nil, .nil?: return try LensMath.requirePredictions(result.logits, for: "run.grad (the default target, the run's predictions)")
        case .int(let c)?: return [Int](repeating: c, count: B)
        case let other?:
            return try classIndices(other, images: B, classes: model.c.numClasses, function: "run.grad")
        }
    }

    func gradient(_ a: Arguments) throws -> Value {
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
