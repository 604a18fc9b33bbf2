import Foundation
import VLSFiles
import VLSImaging

/// The architecture of a Vision Transformer, as timm builds it.
///
/// Filled from config.json (timm or Hugging Face) where present, from the timm
/// architecture-name table for what a name implies, and from tensor shapes otherwise.
/// Every inference that is a guess is recorded in `notes` and printed on load.
public struct ViTConfig: Sendable, Equatable {
    public enum Pooling: String, Sendable { case token, avg }
    public enum Activation: String, Sendable { case gelu, quickGelu = "quick_gelu" }
    public enum KeyScheme: String, Sendable { case timm, huggingFace = "hf" }

    public var architecture: String?
    public var keyScheme: KeyScheme = .timm
    public var imageSize: Int = 224
    public var patchSize: Int = 16
    public var inChannels: Int = 3
    public var width: Int = 768
    public var depth: Int = 12
    public var heads: Int = 12
    public var mlpHidden: Int = 3072
    public var numClasses: Int = 1000
    public var qkvBias: Bool = true
    public var patchBias: Bool = true
    public var classToken: Bool = true
    public var regTokens: Int = 0
    public var distilled: Bool = false
    public var pooling: Pooling = .token
    /// Final norm after pooling (`fc_norm`) instead of before it (`norm`).
    public var fcNorm: Bool = false
    public var finalNorm: Bool = true
    /// Norm after the embeddings (`norm_pre`, CLIP).
    public var preNorm: Bool = false
    /// timm `ResPostBlock`: x = x + norm1(attn(x)); x = x + norm2(mlp(x)).
    public var postNorm: Bool = false
    /// Layer scale (`ls1.gamma`, `ls2.gamma`).
    public var layerScale: Bool = false
    /// Position table without the prefix-token slots (DeiT-3, registers).
    public var noEmbedClass: Bool = false
    public var eps: Float = 1e-6
    public var activation: Activation = .gelu
    /// Class names (index = class id), when the checkpoint names them.
    public var labels: [String]?
    /// The checkpoint's own preprocessing.
    public var preprocessing = PreprocessSettings()
    /// What was inferred rather than read (printed on load).
    public var notes: [String] = []

    public init() {}

    public var headWidth: Int { width / heads }
    public var gridSize: Int { imageSize / patchSize }
    public var numPatches: Int { gridSize * gridSize }
    /// Tokens before the patches: CLS, distillation, registers.
    public var numPrefixTokens: Int { (classToken ? 1 : 0) + (distilled ? 1 : 0) + regTokens }
    public var numTokens: Int { numPrefixTokens + numPatches }

    /// One line: patch, width, depth, heads, tokens, classes, pooling, norm style, activation, eps.
    public var summary: String {
        var parts = ["patch \(patchSize)", "width \(width)", "depth \(depth)", "heads \(heads)",
                     "tokens \(numTokens)" + (numPrefixTokens > 0 ? " (\(prefixDescription) + \(numPatches) patches)" : ""),
                     "classes \(numClasses)", "pool \(pooling.rawValue)" + (fcNorm ? "+fc_norm" : ""),
                     postNorm ? "post-norm" : "pre-norm" + (preNorm ? "+norm_pre" : ""),
                     activation == .gelu ? "gelu" : "quick_gelu", "eps \(eps)"]
        if !qkvBias { parts.append("no qkv bias") }
        if layerScale { parts.append("layer scale") }
        return parts.joined(separator: ", ")
    }

    var prefixDescription: String {
        var p: [String] = []
        if classToken { p.append("cls") }
        if distilled { p.append("dist") }
        if regTokens > 0 { p.append("\(regTokens) reg") }
        return p.joined(separator: "+")
    }
}

/// The preprocessing a checkpoint was trained with (timm `pretrained_cfg` or HF
/// `preprocessor_config.json`).
public struct PreprocessSettings: Sendable, Equatable {
    /// "timm" (resize short side to floor(size / cropPct), center crop) or "squash"
    /// (resize the whole image to size x size, as Hugging Face's ViT processor does).
    public var pipeline: String = "timm"
    public var size: Int = 224
    public var interpolation: String = "bicubic"
    public var cropPct: Double = 0.9
    public var mean: [Double] = [0.5, 0.5, 0.5]
    public var std: [Double] = [0.5, 0.5, 0.5]
    public init() {}
}

// MARK: - timm architecture names

extension ViTConfig {
    /// What a timm ViT architecture name implies (the `model_args` of its registration),
    /// for what no tensor shows: eps, activation, block style, qkv bias, pooling, registers.
    /// Returns nil for names that are not ViTs of the supported family.
    public static func fromTimmName(_ name: String) -> ViTConfig? {
        let n = name.split(separator: ".").first.map(String.init) ?? name   // drop pretrained tag
        var c = ViTConfig()
        c.architecture = n
        let isDeit = n.hasPrefix("deit")
        guard n.hasPrefix("vit_") || isDeit else { return nil }
        let sizes: [(String, Int, Int, Int)] = [   // name, width, depth, heads
            ("tiny", 192, 12, 3), ("small", 384, 12, 6), ("medium", 512, 12, 8), ("base", 768, 12, 12),
            ("large", 1024, 24, 16), ("huge", 1280, 32, 16), ("giant", 1408, 40, 16), ("gigantic", 1664, 48, 16),
            ("wee", 256, 14, 4), ("pwee", 256, 16, 4), ("little", 320, 14, 5), ("mediumd", 512, 20, 8), ("betwixt", 640, 18, 10),
        ]
        let tokens = n.split(separator: "_").map(String.init)
        for (s, w, d, h) in sizes where tokens.contains(s) {
            c.width = w; c.depth = d; c.heads = h; c.mlpHidden = 4 * w
        }
        for t in tokens {
            if t.hasPrefix("patch"), let p = Int(t.dropFirst(5)) { c.patchSize = p }
            if t.hasPrefix("reg"), let r = Int(t.dropFirst(3)) { c.regTokens = r }
            if let r = Int(t), r >= 32 { c.imageSize = r }
        }
        if tokens.contains("miil") { c.qkvBias = false }
        if tokens.contains("clip") || tokens.contains("openai") {
            c.preNorm = true; c.patchBias = false; c.eps = 1e-5
        }
        if tokens.contains("quickgelu") { c.activation = .quickGelu }
        if tokens.contains("rpn") {
            c.postNorm = true; c.qkvBias = false; c.classToken = false; c.pooling = .avg; c.fcNorm = true
        }
        if tokens.contains("gap") {
            c.classToken = false; c.pooling = .avg; c.fcNorm = true
        }
        if c.regTokens > 0 { c.noEmbedClass = true }
        if n.hasPrefix("deit3") { c.noEmbedClass = true; c.layerScale = true }
        if isDeit && tokens.contains("distilled") { c.distilled = true }
        if tokens.contains("dinov2") { c.layerScale = true }
        if n == "vit_medium_patch16_gap_256" || n == "vit_medium_patch16_gap_384" || n == "vit_medium_patch16_gap_240" {
            c.qkvBias = false; c.layerScale = true; c.fcNorm = false
        }
        c.preprocessing.size = c.imageSize
        return c
    }

    /// Applies timm `model_args` (the kwargs of `VisionTransformer`) over the name's defaults.
    mutating func apply(timmArgs a: [String: Any]) throws {
        func int(_ k: String) throws -> Int? { try ViTConfig.jsonInt(a[k], key: "model_args.\(k)") }
        func bool(_ k: String) throws -> Bool? { try ViTConfig.jsonBool(a[k], key: "model_args.\(k)") }
        func string(_ k: String) throws -> String? { try ViTConfig.jsonString(a[k], key: "model_args.\(k)") }
        if let v = a["img_size"] {
            if let l = v as? [Any] {
                guard let f = l.first, let n = try ViTConfig.jsonInt(f, key: "model_args.img_size[0]") else {
                    throw CoreError("config.json: 'model_args.img_size' is an empty list")
                }
                guard try l.allSatisfy({ try ViTConfig.jsonInt($0, key: "model_args.img_size") == n }) else {
                    throw CoreError("config.json: non-square 'model_args.img_size' \(l) is not supported")
                }
                imageSize = n
            } else if let n = try ViTConfig.jsonInt(v, key: "model_args.img_size") {
                imageSize = n
            }
        }
        if let v = try int("patch_size") { patchSize = v }
        if let v = try int("in_chans") { inChannels = v }
        if let v = try int("embed_dim") { width = v; mlpHidden = 4 * v }
        if let v = try int("depth") { depth = v }
        if let v = try int("num_heads") { heads = v }
        if let r = try ViTConfig.jsonNumber(a["mlp_ratio"], key: "model_args.mlp_ratio") {
            guard r > 0, r <= 64 else { throw CoreError("mlp_ratio \(r) is out of range (0, 64]") }
            mlpHidden = Int((Double(width) * r).rounded(.down))
        }
        if let v = try bool("qkv_bias") { qkvBias = v }
        if let v = try bool("class_token") { classToken = v }
        if let v = try int("reg_tokens") { regTokens = v }
        if let v = try bool("no_embed_class") { noEmbedClass = v }
        if let v = try bool("pre_norm") { preNorm = v; if v { patchBias = false } }
        if let v = try bool("final_norm") { finalNorm = v }
        if let v = try string("global_pool") {
            guard let p = Pooling(rawValue: v) else { throw CoreError("global_pool '\(v)' is not supported (token or avg)") }
            pooling = p
            fcNorm = p == .avg
        }
        if let v = try bool("fc_norm") { fcNorm = v }
        if try ViTConfig.jsonNumber(a["init_values"], key: "model_args.init_values") != nil, !postNorm { layerScale = true }
        if let v = try string("act_layer") {
            switch v {
            case "gelu": activation = .gelu
            case "quick_gelu", "quickgelu": activation = .quickGelu
            default: throw CoreError("act_layer '\(v)' is not supported (gelu or quick_gelu)")
            }
        }
        if let v = try string("block_fn") { postNorm = v.contains("ResPostBlock") }
        if let v = try ViTConfig.jsonEps(a["norm_eps"], key: "model_args.norm_eps") { eps = v }
        if let v = try int("num_classes") { numClasses = v }
    }
}

// MARK: - Validation

extension ViTConfig {
    /// Largest integer a config field may hold: keeps every size product far from overflow.
    static let maxConfigInt = 1 << 24

    /// True for JSON `true`/`false` (which JSONSerialization also hands out as NSNumber).
    static func isJSONBool(_ n: NSNumber) -> Bool {
        type(of: n) == type(of: NSNumber(value: true)) || String(cString: n.objCType) == "c"
    }

    /// An integer from a JSON value: nil when absent (or null); an integral number within
    /// 0...`maxConfigInt` otherwise, else an error naming the file and key (a value that
    /// is there but unusable, like `1e9`, `"28"`, `28.5` or `true`, is never dropped).
    static func jsonInt(_ value: Any?, key: String, file: String = "config.json") throws -> Int? {
        guard let value, !(value is NSNull) else { return nil }
        func fail() -> CoreError {
            let shown: String
            if let s = value as? String { shown = "the string \"\(s.prefix(40))\"" }
            else if let n = value as? NSNumber, ViTConfig.isJSONBool(n) { shown = n.boolValue ? "true" : "false" }
            else if let n = value as? NSNumber { shown = "\(n)" }
            else { shown = "a \(value is [Any] ? "list" : value is [String: Any] ? "object" : "value of another type")" }
            return CoreError("\(file): '\(key)' must be an integer in 0...\(maxConfigInt), got \(shown)")
        }
        guard let n = value as? NSNumber, !ViTConfig.isJSONBool(n) else { throw fail() }
        let d = n.doubleValue
        guard d.isFinite, d >= 0, d <= Double(maxConfigInt), let i = Int(exactly: d) else { throw fail() }
        return i
    }

    /// A number as a config would write it: 2 for 2.0, 4.5 as is.
    static func shownNumber(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : "\(d)"
    }

    /// How a JSON value shows in an error.
    static func shown(_ value: Any) -> String {
        if let s = value as? String { return "the string \"\(escapingControlCharacters(String(s.prefix(40))))\"" }
        if let n = value as? NSNumber, isJSONBool(n) { return n.boolValue ? "true" : "false" }
        if let n = value as? NSNumber { return "\(n)" }
        if value is NSNull { return "null" }
        return "a \(value is [Any] ? "list" : value is [String: Any] ? "object" : "value of another type")"
    }

    /// A string, nil when absent or null, else an error naming the file and key.
    static func jsonString(_ value: Any?, key: String, file: String = "config.json") throws -> String? {
        guard let value, !(value is NSNull) else { return nil }
        guard let s = value as? String else { throw CoreError("\(file): '\(key)' must be a string, got \(shown(value))") }
        return s
    }

    /// A JSON `true`/`false`, nil when absent or null (a 0, 1 or "true" is an error).
    static func jsonBool(_ value: Any?, key: String, file: String = "config.json") throws -> Bool? {
        guard let value, !(value is NSNull) else { return nil }
        guard let n = value as? NSNumber, isJSONBool(n) else { throw CoreError("\(file): '\(key)' must be true or false, got \(shown(value))") }
        return n.boolValue
    }

    /// A finite number that float32 can hold (1e39 would become infinity in a kernel).
    static func jsonNumber(_ value: Any?, key: String, file: String = "config.json") throws -> Double? {
        guard let value, !(value is NSNull) else { return nil }
        guard let n = value as? NSNumber, !isJSONBool(n), n.doubleValue.isFinite, abs(n.doubleValue) <= Double(Float.greatestFiniteMagnitude) else {
            throw CoreError("\(file): '\(key)' must be a finite number within float32's range, got \(shown(value))")
        }
        return n.doubleValue
    }

    /// A layer-norm epsilon: a number whose float32 value is positive and finite (a string
    /// "1e-12" was ignored for the default; 1e-300 becomes 0 in float32).
    static func jsonEps(_ value: Any?, key: String, file: String = "config.json") throws -> Float? {
        guard let value, !(value is NSNull) else { return nil }
        guard let d = try? jsonNumber(value, key: key, file: file), Float(d) > 0, Float(d).isFinite, d < 1 else {
            throw CoreError("\(file): '\(key)' must be a positive number below 1 (float32), got \(shown(value))")
        }
        return Float(d)
    }

    /// Exactly `count` finite float32 numbers (a preprocessing mean or std, one per channel).
    static func jsonNumbers(_ value: Any?, key: String, count: Int, positive: Bool = false, file: String = "config.json") throws -> [Double]? {
        guard let value, !(value is NSNull) else { return nil }
        let what = "a list of \(count) finite\(positive ? " positive" : "") numbers (one per channel)"
        guard let l = value as? [Any], l.count == count else { throw CoreError("\(file): '\(key)' must be \(what), got \(shown(value))\((value as? [Any]).map { " of \($0.count)" } ?? "")") }
        return try l.enumerated().map { i, v in
            guard let d = try? jsonNumber(v, key: key, file: file), !positive || d > 0 else {
                throw CoreError("\(file): '\(key)' must be \(what), got \(shown(v)) at index \(i)")
            }
            return d
        }
    }

    /// Checks that the architecture is one a forward pass can run, before any tensor is
    /// read with it; the error names `source` and the offending field.
    public func validate(_ source: String) throws {
        func fail(_ why: String) -> CoreError { CoreError("\(source): invalid architecture: \(why) (check config.json)") }
        let limit = ViTConfig.maxConfigInt
        for (name, v, least) in [("width", width, 1), ("heads", heads, 1), ("depth", depth, 0), ("patch size", patchSize, 1),
                                 ("image size", imageSize, 1), ("input channels", inChannels, 1), ("MLP width", mlpHidden, 1),
                                 ("register tokens", regTokens, 0), ("classes", numClasses, 0)] {
            guard v >= least, v <= limit else { throw fail("\(name) \(v) is out of range \(least)...\(limit)") }
        }
        guard width % heads == 0 else { throw fail("width \(width) is not divisible by \(heads) heads") }
        guard imageSize >= patchSize else { throw fail("image size \(imageSize) is smaller than patch size \(patchSize)") }
        guard numPatches <= limit else { throw fail("\(numPatches) patches (image size \(imageSize), patch \(patchSize)) are too many") }
        guard eps.isFinite, eps >= 0 else { throw fail("eps \(eps) is not a finite non-negative number") }
        let p = preprocessing
        guard p.size >= 1, p.size <= limit else { throw fail("preprocessing size \(p.size) is out of range") }
        guard p.cropPct.isFinite, p.cropPct > 0 else { throw fail("crop_pct \(p.cropPct) is not a positive number") }
        guard (p.mean + p.std).allSatisfy(\.isFinite), !p.std.contains(0) else {
            throw fail("mean \(p.mean) / std \(p.std) must be finite, std non-zero")
        }
    }
}
