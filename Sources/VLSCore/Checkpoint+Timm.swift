import Foundation
import VLSFiles
import VLSImaging

extension Checkpoint {
    /// Architecture of a timm-layout checkpoint: name table, then `model_args`, then shapes.
    static func timmConfig(_ json: [String: Any]?, reader: TensorReader, path: String) throws -> ViTConfig {
        var c = ViTConfig()
        var fromConfig = Set<String>()   // fields a config fixed, which shapes must then agree with
        var explicit: (width: Int?, depth: Int?) = (nil, nil)   // model_args.embed_dim, model_args.depth
        // Values the weights decide: when the config states another, a note says so (they
        // were ignored without a word). Key, stated value.
        var statedClasses: [(String, Int)] = []
        var statedChannels: (String, Int)?
        var statedRatio: Double?
        var statedInputSize: [Int]?
        if let json {
            if let arch = try ViTConfig.jsonString(json["architecture"], key: "architecture") {
                if let named = ViTConfig.fromTimmName(arch) {
                    c = named
                    fromConfig.formUnion(["heads", "image"])
                } else {
                    c.architecture = arch
                    c.notes.append("architecture '\(arch)' is not in the table of timm ViT names; what it implies beyond the tensor shapes is assumed standard")
                }
            }
            let args = try object(json["model_args"], key: "model_args")
            if let args {
                try c.apply(timmArgs: args)
                if args["num_heads"] != nil { fromConfig.insert("heads") }
                if args["img_size"] != nil { fromConfig.insert("image") }
            }
            if let pool = try ViTConfig.jsonString(json["global_pool"], key: "global_pool"), args?["global_pool"] == nil {
                try c.apply(timmArgs: ["global_pool": pool])
            }
            if let n = try ViTConfig.jsonInt(json["num_classes"], key: "num_classes") { c.numClasses = n; statedClasses.append(("num_classes", n)) }
            if let args {
                if let n = try ViTConfig.jsonInt(args["num_classes"], key: "model_args.num_classes") { statedClasses.append(("model_args.num_classes", n)) }
                if let n = try ViTConfig.jsonInt(args["in_chans"], key: "model_args.in_chans") { statedChannels = ("model_args.in_chans", n) }
                statedRatio = try ViTConfig.jsonNumber(args["mlp_ratio"], key: "model_args.mlp_ratio")
            }
            if let cfg = try object(json["pretrained_cfg"], key: "pretrained_cfg") {
                try timmPreprocessing(cfg, into: &c, fromConfig: &fromConfig)
                // timm's own bookkeeping, not read otherwise: compared only when it is an integer.
                if let n = try? ViTConfig.jsonInt(cfg["num_classes"], key: "pretrained_cfg.num_classes") { statedClasses.append(("pretrained_cfg.num_classes", n)) }
                if let v = cfg["input_size"] as? [Any] { statedInputSize = v.compactMap { try? ViTConfig.jsonInt($0, key: "") } }
            } else {
                c.notes.append("config.json has no pretrained_cfg: preprocessing assumed (timm defaults for the name)")
            }
            c.labels = try labelNames(json)
            // What the config states explicitly must agree with the tensors (they used to
            // overwrite it silently).
            if let args {
                explicit = (try ViTConfig.jsonInt(args["embed_dim"], key: "model_args.embed_dim"),
                            try ViTConfig.jsonInt(args["depth"], key: "model_args.depth"))
            }
        } else {
            c.notes.append("no config.json: architecture inferred from tensor shapes (pre-norm blocks, eps 1e-6, exact GELU assumed)")
        }
        c.preprocessing.pipeline = "timm"

        // Shapes fill in and check what the config said.
        guard let pe = reader.shape("patch_embed.proj.weight"), pe.count == 4, pe[2] == pe[3] else {
            throw CoreError("\(reader.describe): missing tensor 'patch_embed.proj.weight' [D, C, P, P] (is this a timm ViT checkpoint?)")
        }
        if json?["model_args"] != nil || json?["architecture"] != nil, fromConfig.contains("image"), pe[2] != c.patchSize {
            throw CoreError("\(reader.describe): config says patch size \(c.patchSize) but 'patch_embed.proj.weight' has \(pe[2])")
        }
        if let w = explicit.width, w != pe[0] {
            throw CoreError("config.json: 'model_args.embed_dim' is \(w) but 'patch_embed.proj.weight' in \(reader.describe) has width \(pe[0]) (shape \(pe))")
        }
        c.width = pe[0]; c.inChannels = pe[1]; c.patchSize = pe[2]
        if c.heads < 1 { throw CoreError("\(path): invalid architecture: num_heads \(c.heads) (check config.json)") }
        if c.patchSize < 1 || fromConfig.contains("image") && !(c.patchSize...ViTConfig.maxConfigInt).contains(c.imageSize) {
            throw CoreError("\(path): invalid architecture: image size \(c.imageSize) with patch size \(c.patchSize) (check config.json)")
        }
        c.patchBias = reader.has("patch_embed.proj.bias")
        var depth = 0
        while reader.has("blocks.\(depth).norm1.weight") || reader.has("blocks.\(depth).attn.qkv.weight") { depth += 1 }
        guard depth > 0 else { throw CoreError("\(reader.describe): no transformer blocks ('blocks.0.attn.qkv.weight' missing)") }
        if let d = explicit.depth, d != depth {
            throw CoreError("config.json: 'model_args.depth' is \(d) but \(reader.describe) holds \(depth) blocks ('blocks.0' to 'blocks.\(depth - 1)')")
        }
        c.depth = depth
        if let fc1 = reader.shape("blocks.0.mlp.fc1.weight"), fc1.count == 2 { c.mlpHidden = fc1[0] }
        c.qkvBias = reader.has("blocks.0.attn.qkv.bias")
        c.classToken = reader.has("cls_token")
        c.distilled = reader.has("dist_token")
        c.regTokens = reader.shape("reg_token").map { $0.count == 3 ? $0[1] : 0 } ?? 0
        c.preNorm = reader.has("norm_pre.weight")
        c.layerScale = reader.has("blocks.0.ls1.gamma")
        if reader.has("fc_norm.weight") {
            c.fcNorm = true
            if json == nil || !c.classToken { c.pooling = .avg }
        } else {
            c.fcNorm = false
            if !c.classToken && c.pooling == .token { c.pooling = .avg }
        }
        c.finalNorm = reader.has("norm.weight") || reader.has("fc_norm.weight")
        if let head = reader.shape("head.weight"), head.count == 2 { c.numClasses = head[0] }
        guard let pos = reader.shape("pos_embed"), pos.count == 3 else {
            throw CoreError("\(reader.describe): missing tensor 'pos_embed' [1, L, D]")
        }
        let prefix = c.numPrefixTokens
        if fromConfig.contains("image") {
            let patches = (c.imageSize / c.patchSize) * (c.imageSize / c.patchSize)
            if pos[1] == patches + prefix { c.noEmbedClass = false }
            else if pos[1] == patches { c.noEmbedClass = prefix > 0 }
            else {
                throw CoreError("\(reader.describe): 'pos_embed' has \(pos[1]) positions but image size \(c.imageSize) with patch \(c.patchSize) gives \(patches) patches (+\(prefix) prefix tokens)")
            }
        } else {
            func square(_ n: Int) -> Int? { let r = Int(Double(n).squareRoot().rounded()); return r * r == n && n > 0 ? r : nil }
            if let g = square(pos[1] - prefix) { c.imageSize = g * c.patchSize; c.noEmbedClass = false }
            else if let g = square(pos[1]) { c.imageSize = g * c.patchSize; c.noEmbedClass = prefix > 0 }
            else { throw CoreError("\(reader.describe): 'pos_embed' has \(pos[1]) positions, not a square grid") }
            c.preprocessing.size = c.imageSize
            if json == nil { c.preprocessing.cropPct = 0.9 }
        }
        if !fromConfig.contains("heads") {
            let h = max(1, c.width / 64)
            c.heads = h
            c.notes.append("number of heads not in the config: \(h) assumed from the width (64 per head)")
        }
        guard c.width % c.heads == 0 else {
            throw CoreError("\(reader.describe): width \(c.width) is not divisible by \(c.heads) heads")
        }
        if let labels = c.labels, labels.count != c.numClasses {
            c.notes.append("config names \(labels.count) labels but the classifier has \(c.numClasses) outputs: label names ignored")
            c.labels = nil
        }
        if let head = reader.shape("head.weight"), head.count == 2 {
            for (key, n) in statedClasses where n != head[0] {
                c.notes.append("config.json: '\(key)' is \(n) but 'head.weight' has \(head[0]) rows: \(head[0]) classes used")
            }
        }
        if let (key, n) = statedChannels, n != c.inChannels {
            c.notes.append("config.json: '\(key)' is \(n) but 'patch_embed.proj.weight' has \(c.inChannels) input channels: \(c.inChannels) used")
        }
        if let r = statedRatio, Int((Double(c.width) * r).rounded(.down)) != c.mlpHidden, reader.shape("blocks.0.mlp.fc1.weight") != nil {
            c.notes.append("config.json: 'model_args.mlp_ratio' is \(ViTConfig.shownNumber(r)) (an MLP width of \(Int((Double(c.width) * r).rounded(.down)))) but 'blocks.0.mlp.fc1.weight' has \(c.mlpHidden) rows: \(c.mlpHidden) used")
        }
        if let size = statedInputSize, size.count == 3 {
            if size[2] != c.imageSize {
                c.notes.append("config.json: 'pretrained_cfg.input_size' is \(size) but the model's image size is \(c.imageSize) (the grid of 'pos_embed'): images are preprocessed to \(c.imageSize)x\(c.imageSize)")
            }
            if size[0] != c.inChannels {
                c.notes.append("config.json: 'pretrained_cfg.input_size' says \(size[0]) channel\(size[0] == 1 ? "" : "s") but 'patch_embed.proj.weight' has \(c.inChannels) input channels: \(c.inChannels) used")
            }
        }
        try c.validate(path)
        return c
    }

    /// Label names of a config (`label_names` or `id2label`), control characters escaped
    /// (an ESC in a name would otherwise reach the terminal in every table that shows it).
    static func labelNames(_ json: [String: Any]) throws -> [String]? {
        try rawLabelNames(json)?.map(escapingControlCharacters)
    }

    /// `label_names` (a list of strings) or `id2label` (an object whose keys are exactly
    /// "0" to "N-1", each naming a string); anything else is an error naming the key (a
    /// malformed map used to drop every name silently).
    static func rawLabelNames(_ json: [String: Any]) throws -> [String]? {
        if let v = json["label_names"], !(v is NSNull) {
            guard let l = v as? [Any] else { throw CoreError("config.json: 'label_names' must be a list of strings, got \(ViTConfig.shown(v))") }
            return try l.enumerated().map { i, x in
                guard let s = x as? String else { throw CoreError("config.json: 'label_names' must be a list of strings, got \(ViTConfig.shown(x)) at index \(i)") }
                return s
            }
        }
        if let v = json["id2label"], !(v is NSNull) {
            guard let map = v as? [String: Any] else { throw CoreError("config.json: 'id2label' must be an object from \"0\", \"1\", ... to names, got \(ViTConfig.shown(v))") }
            var out = [String?](repeating: nil, count: map.count)
            for (k, v) in map.sorted(by: { $0.key < $1.key }) {
                guard let i = Int(k), String(i) == k, i >= 0, i < out.count else {
                    throw CoreError("config.json: 'id2label' key '\(escapingControlCharacters(String(k.prefix(40))))' is not a class index in 0...\(map.count - 1) (the keys must be \"0\" to \"\(map.count - 1)\")")
                }
                guard let s = v as? String else { throw CoreError("config.json: 'id2label.\(k)' must be a string, got \(ViTConfig.shown(v))") }
                out[i] = s
            }
            return out.map { $0 ?? "" }   // keys are distinct and in range, so all are set
        }
        return nil
    }

    /// A JSON object, nil when absent or null, else an error naming the key.
    static func object(_ value: Any?, key: String, file: String = "config.json") throws -> [String: Any]? {
        guard let value, !(value is NSNull) else { return nil }
        guard let o = value as? [String: Any] else { throw CoreError("\(file): '\(key)' must be an object, got \(ViTConfig.shown(value))") }
        return o
    }

    /// timm's `pretrained_cfg`: every value vls uses is checked, naming its key; values
    /// vls does not implement (a crop mode other than center) are errors, never guessed.
    /// Keys vls does not read (url, hf_hub_id, license, first_conv, classifier, ...) are
    /// ignored: they do not change what the model computes.
    static func timmPreprocessing(_ cfg: [String: Any], into c: inout ViTConfig, fromConfig: inout Set<String>) throws {
        if let v = cfg["input_size"], !(v is NSNull) {
            guard let size = v as? [Any], size.count == 3 else {
                throw CoreError("config.json: 'pretrained_cfg.input_size' must be a list [channels, height, width], got \(ViTConfig.shown(v))")
            }
            let ints = try size.enumerated().map { i, x in try ViTConfig.jsonInt(x, key: "pretrained_cfg.input_size[\(i)]") ?? -1 }
            guard ints[1] == ints[2], ints[2] >= 1 else {
                throw CoreError("config.json: 'pretrained_cfg.input_size' \(ints) is not a square image size (non-square inputs are not supported)")
            }
            let s = ints[2]
            if !fromConfig.contains("image") { c.imageSize = s }
            fromConfig.insert("image")
            c.preprocessing.size = s
        }
        if let v = try ViTConfig.jsonString(cfg["interpolation"], key: "pretrained_cfg.interpolation") {
            guard ResampleFilter(name: v) != nil else {
                throw CoreError("config.json: 'pretrained_cfg.interpolation' is '\(escapingControlCharacters(String(v.prefix(40))))', not a known filter (\(ResampleFilter.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            c.preprocessing.interpolation = v
        }
        if let v = cfg["crop_pct"], !(v is NSNull) {
            // timm's crop fractions lie in (0, 1]; a tiny one made a resize to an
            // astronomically large size that failed later, on printing.
            guard let n = v as? NSNumber, !ViTConfig.isJSONBool(n), n.doubleValue >= 0.01, n.doubleValue <= 1 else {
                throw CoreError("config.json: 'pretrained_cfg.crop_pct' must be a number in 0.01...1, got \(v)")
            }
            c.preprocessing.cropPct = n.doubleValue
        }
        if let v = try ViTConfig.jsonString(cfg["crop_mode"], key: "pretrained_cfg.crop_mode"), v != "center" {
            throw CoreError("config.json: 'pretrained_cfg.crop_mode' is '\(escapingControlCharacters(String(v.prefix(40))))'; vls implements timm's 'center' only (resize the short side, center crop)")
        }
        if let v = try ViTConfig.jsonNumbers(cfg["mean"], key: "pretrained_cfg.mean", count: 3) { c.preprocessing.mean = v }
        if let v = try ViTConfig.jsonNumbers(cfg["std"], key: "pretrained_cfg.std", count: 3, positive: true) { c.preprocessing.std = v }
    }

    static func timmWeights(_ r: inout TensorReader, config c: ViTConfig) throws -> ViTWeights {
        let d = c.width, f = c.mlpHidden
        func norm(_ key: String) throws -> Norm {
            Norm(weight: try r.take("\(key).weight", [d]), bias: try r.take("\(key).bias", [d]))
        }
        func linear(_ key: String, out: Int, in inF: Int, bias: Bool = true) throws -> Linear {
            Linear(weight: try r.take("\(key).weight", [out, inF]), bias: bias ? try r.take("\(key).bias", [out]) : nil)
        }
        let p = c.patchSize, ch = c.inChannels
        let peW = try r.take("patch_embed.proj.weight", [d, ch, p, p]).reshaped([d, ch * p * p])
        let peB = c.patchBias ? try r.take("patch_embed.proj.bias", [d]) : nil
        let posLen = c.numPatches + (c.noEmbedClass ? 0 : c.numPrefixTokens)
        var blocks: [BlockWeights] = []
        for i in 0..<c.depth {
            let b = "blocks.\(i)"
            let qkvW = try r.take("\(b).attn.qkv.weight", [3 * d, d])
            let qkvB = c.qkvBias ? try r.take("\(b).attn.qkv.bias", [3 * d]) : nil
            blocks.append(BlockWeights(
                norm1: try norm("\(b).norm1"),
                qkv: Linear(weight: qkvW, bias: qkvB),
                proj: try linear("\(b).attn.proj", out: d, in: d),
                norm2: try norm("\(b).norm2"),
                fc1: try linear("\(b).mlp.fc1", out: f, in: d),
                fc2: try linear("\(b).mlp.fc2", out: d, in: f),
                ls1: c.layerScale ? try r.take("\(b).ls1.gamma", [d]) : nil,
                ls2: c.layerScale ? try r.take("\(b).ls2.gamma", [d]) : nil))
        }
        let finalNorm: Norm? = c.finalNorm ? try norm(c.fcNorm ? "fc_norm" : "norm") : nil
        return ViTWeights(
            patchEmbed: Linear(weight: peW, bias: peB),
            clsToken: c.classToken ? try r.take("cls_token", [1, 1, d]) : nil,
            distToken: c.distilled ? try r.take("dist_token", [1, 1, d]) : nil,
            regToken: c.regTokens > 0 ? try r.take("reg_token", [1, c.regTokens, d]) : nil,
            posEmbed: try r.take("pos_embed", [1, posLen, d]),
            normPre: c.preNorm ? try norm("norm_pre") : nil,
            blocks: blocks,
            norm: finalNorm,
            head: try linear("head", out: c.numClasses, in: d),
            headDist: c.distilled ? try linear("head_dist", out: c.numClasses, in: d) : nil)
    }
}
