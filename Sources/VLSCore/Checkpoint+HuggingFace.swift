import Foundation

extension Checkpoint {
    /// Architecture of a Hugging Face `ViTForImageClassification` checkpoint.
    static func hfConfig(_ json: [String: Any]?, preprocessor: [String: Any]?, reader: TensorReader, path: String) throws -> ViTConfig {
        var c = ViTConfig()
        c.eps = 1e-12
        c.preprocessing.pipeline = "squash"
        c.preprocessing.interpolation = "bilinear"
        c.preprocessing.cropPct = 1
        if let json {
            func int(_ k: String) throws -> Int? { try ViTConfig.jsonInt(json[k], key: k) }
            if let v = try int("hidden_size") { c.width = v }
            if let v = try int("num_hidden_layers") { c.depth = v }
            if let v = try int("num_attention_heads") { c.heads = v }
            if let v = try int("intermediate_size") { c.mlpHidden = v }
            if let v = try int("image_size") { c.imageSize = v }
            if let v = try int("patch_size") { c.patchSize = v }
            if let v = try int("num_channels") { c.inChannels = v }
            if let v = try ViTConfig.jsonEps(json["layer_norm_eps"], key: "layer_norm_eps") { c.eps = v }
            if let v = try ViTConfig.jsonBool(json["qkv_bias"], key: "qkv_bias") { c.qkvBias = v }
            if let act = try ViTConfig.jsonString(json["hidden_act"], key: "hidden_act") {
                switch act {
                case "gelu": c.activation = .gelu
                case "quick_gelu": c.activation = .quickGelu
                default: throw CoreError("\(path): hidden_act '\(act)' is not supported (gelu or quick_gelu)")
                }
            }
            if let m = try ViTConfig.jsonString(json["model_type"], key: "model_type"), m != "vit" {
                throw CoreError("\(path): model_type '\(m)' is not supported (Hugging Face 'vit' only)")
            }
            c.architecture = (json["architectures"] as? [String])?.first ?? "ViTForImageClassification"
            c.labels = try labelNames(json)
            if c.labels == nil, json["layer_norm_eps"] == nil { c.notes.append("config.json has no layer_norm_eps: Hugging Face default 1e-12 used") }
        } else {
            c.notes.append("no config.json: architecture inferred from tensor shapes (eps 1e-12, the Hugging Face default)")
            if let pe = reader.shape("vit.embeddings.patch_embeddings.projection.weight"), pe.count == 4 {
                c.width = pe[0]; c.patchSize = pe[2]; c.inChannels = pe[1]
            }
            var depth = 0
            while reader.has("vit.encoder.layer.\(depth).layernorm_before.weight") { depth += 1 }
            c.depth = depth
            if let f = reader.shape("vit.encoder.layer.0.intermediate.dense.weight") { c.mlpHidden = f[0] }
            if let pos = reader.shape("vit.embeddings.position_embeddings"), pos.count == 3 {
                let g = Int(Double(pos[1] - 1).squareRoot().rounded())
                c.imageSize = g * c.patchSize
            }
            c.heads = max(1, c.width / 64)
            c.notes.append("number of heads not in the config: \(c.heads) assumed from the width (64 per head)")
            c.qkvBias = reader.has("vit.encoder.layer.0.attention.attention.query.bias")
        }
        if let head = reader.shape("classifier.weight"), head.count == 2 {
            c.numClasses = head[0]
            // num_labels is what the weights decide: another value is said, not used.
            if let n = try? ViTConfig.jsonInt(json?["num_labels"], key: "num_labels"), n != head[0] {
                c.notes.append("config.json: 'num_labels' is \(n) but 'classifier.weight' has \(head[0]) rows: \(head[0]) classes used")
            }
        }
        if let labels = c.labels, labels.count != c.numClasses {
            c.notes.append("config names \(labels.count) labels but the classifier has \(c.numClasses) outputs: label names ignored")
            c.labels = nil
        }
        c.preprocessing.size = c.imageSize
        if let p = preprocessor {
            try hfPreprocessing(p, into: &c)
            // The processor's size is not what vls preprocesses to (the model's image size
            // is): a size that differs is said.
            if c.preprocessing.size != c.imageSize {
                let s = c.preprocessing.size
                c.notes.append("preprocessor_config.json: 'size' is \(s)x\(s) but the model's image size is \(c.imageSize) (the grid of 'vit.embeddings.position_embeddings'): images are preprocessed to \(c.imageSize)x\(c.imageSize)")
            }
        } else {
            c.notes.append("no preprocessor_config.json: squash resize, mean/std 0.5 assumed")
        }
        guard c.width % max(c.heads, 1) == 0, c.heads > 0 else {
            throw CoreError("\(path): width \(c.width) is not divisible by \(c.heads) heads")
        }
        try c.validate(path)
        return c
    }

    /// Hugging Face's `preprocessor_config.json` (ViTImageProcessor): every value vls uses
    /// is checked, naming the file and key; a step vls does not implement (no resize, no
    /// rescale, a center crop) is an error, never skipped. `do_normalize: false` means no
    /// normalisation (mean 0, std 1), as in the processor. Other keys (processor class
    /// names) are ignored: they do not change the pixels.
    static func hfPreprocessing(_ p: [String: Any], into c: inout ViTConfig) throws {
        let file = "preprocessor_config.json"
        if let m = try ViTConfig.jsonNumbers(p["image_mean"], key: "image_mean", count: 3, file: file) { c.preprocessing.mean = m }
        if let s = try ViTConfig.jsonNumbers(p["image_std"], key: "image_std", count: 3, positive: true, file: file) { c.preprocessing.std = s }
        if try ViTConfig.jsonBool(p["do_normalize"], key: "do_normalize", file: file) == false {
            c.preprocessing.mean = [0, 0, 0]; c.preprocessing.std = [1, 1, 1]
        }
        for (key, meaning) in [("do_resize", "without resizing"), ("do_rescale", "without scaling pixels to 0...1")] {
            if try ViTConfig.jsonBool(p[key], key: key, file: file) == false {
                throw CoreError("\(file): '\(key)' is false; vls does not implement preprocessing \(meaning)")
            }
        }
        if let f = try ViTConfig.jsonNumber(p["rescale_factor"], key: "rescale_factor", file: file), abs(f * 255 - 1) > 1e-6 {
            throw CoreError("\(file): 'rescale_factor' is \(f); vls scales pixels by 1/255 only")
        }
        if try ViTConfig.jsonBool(p["do_center_crop"], key: "do_center_crop", file: file) == true {
            throw CoreError("\(file): 'do_center_crop' is true; vls implements the ViT processor's squash resize only")
        }
        if let v = p["size"], !(v is NSNull) {
            if let size = v as? [String: Any] {
                guard let h = try ViTConfig.jsonInt(size["height"], key: "size.height", file: file),
                      let w = try ViTConfig.jsonInt(size["width"], key: "size.width", file: file) else {
                    throw CoreError("\(file): 'size' must give height and width (got keys \(size.keys.sorted()))")
                }
                guard h == w, h >= 1 else { throw CoreError("\(file): 'size' \(h)x\(w) is not a square size (non-square inputs are not supported)") }
                c.preprocessing.size = h
            } else if let n = try ViTConfig.jsonInt(v, key: "size", file: file) {
                guard n >= 1 else { throw CoreError("\(file): 'size' must be at least 1, got 0") }
                c.preprocessing.size = n
            }
        }
        if let r = try ViTConfig.jsonInt(p["resample"], key: "resample", file: file) {
            guard let name = [0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"][r] else {
                throw CoreError("\(file): 'resample' \(r) is not a PIL filter (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)")
            }
            c.preprocessing.interpolation = name
        }
    }

    static func hfWeights(_ r: inout TensorReader, config c: ViTConfig) throws -> ViTWeights {
        let d = c.width, f = c.mlpHidden
        func norm(_ key: String) throws -> Norm {
            Norm(weight: try r.take("\(key).weight", [d]), bias: try r.take("\(key).bias", [d]))
        }
        func linear(_ key: String, out: Int, in inF: Int) throws -> Linear {
            Linear(weight: try r.take("\(key).weight", [out, inF]), bias: try r.take("\(key).bias", [out]))
        }
        let p = c.patchSize, ch = c.inChannels
        let e = "vit.embeddings"
        var blocks: [BlockWeights] = []
        for i in 0..<c.depth {
            let b = "vit.encoder.layer.\(i)"
            // Fuse query, key, value into timm's qkv layout (rows q|k|v). The parts are read
            // (and their shapes checked against the file) first: a config's width alone
            // never sizes an allocation (hidden_size 200000 with a 100-byte file asked for 480 GB).
            let parts = ["query", "key", "value"]
            let ws = try parts.map { try r.take("\(b).attention.attention.\($0).weight", [d, d]) }
            let bs = c.qkvBias ? try parts.map { try r.take("\(b).attention.attention.\($0).bias", [d]) } : []
            let qkvW = try Tensor(uninitialized: [3 * d, d], for: "\(r.describe): fused qkv of block \(i)")
            let qkvB: Tensor? = c.qkvBias ? try Tensor(uninitialized: [3 * d], for: "\(r.describe): fused qkv bias of block \(i)") : nil
            for (j, w) in ws.enumerated() {
                let w = w.contiguous()
                (qkvW.mutablePointer + j * d * d).update(from: w.pointer, count: d * d)
                if let qkvB {
                    let bias = bs[j].contiguous()
                    (qkvB.mutablePointer + j * d).update(from: bias.pointer, count: d)
                }
            }
            blocks.append(BlockWeights(
                norm1: try norm("\(b).layernorm_before"),
                qkv: Linear(weight: qkvW, bias: qkvB),
                proj: try linear("\(b).attention.output.dense", out: d, in: d),
                norm2: try norm("\(b).layernorm_after"),
                fc1: try linear("\(b).intermediate.dense", out: f, in: d),
                fc2: try linear("\(b).output.dense", out: d, in: f),
                ls1: nil, ls2: nil))
        }
        return ViTWeights(
            patchEmbed: Linear(weight: try r.take("\(e).patch_embeddings.projection.weight", [d, ch, p, p]).reshaped([d, ch * p * p]),
                               bias: try r.take("\(e).patch_embeddings.projection.bias", [d])),
            clsToken: try r.take("\(e).cls_token", [1, 1, d]),
            distToken: nil, regToken: nil,
            posEmbed: try r.take("\(e).position_embeddings", [1, c.numPatches + 1, d]),
            normPre: nil,
            blocks: blocks,
            norm: try norm("vit.layernorm"),
            head: try linear("classifier", out: c.numClasses, in: d),
            headDist: nil)
    }
}
