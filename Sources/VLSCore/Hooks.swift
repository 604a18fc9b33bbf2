/// Hook points of the forward pass, with TransformerLens / ViT-Prisma names.
///
/// Shapes (B batch, T tokens, N patches, D width, H heads, dh head width, F mlp width,
/// C classes):
/// - `hook_embed` [B, N, D]: patch embeddings, before prefix tokens and positions.
/// - `hook_pos_embed` [B, T, D]: the token sequence after the position embedding (token
///   removal edits here; a replacement may change T).
/// - `blocks.i.hook_resid_pre`, `hook_resid_mid`, `hook_resid_post` [B, T, D].
/// - `blocks.i.ln1.hook_normalized`, `ln2.hook_normalized` [B, T, D] (pre-norm blocks only).
/// - `blocks.i.attn.hook_q` / `hook_k` / `hook_v` / `hook_z` [B, T, H, dh].
/// - `blocks.i.attn.hook_attn_scores` (scaled, before softmax) / `hook_pattern` [B, H, T, T].
/// - `blocks.i.hook_attn_out`, `hook_mlp_out` [B, T, D]: what is added to the residual
///   stream (after layer scale; after the block's norm for post-norm blocks).
/// - `blocks.i.mlp.hook_pre` (fc1 output, before the activation) / `hook_post` [B, T, F].
/// - `ln_final.hook_normalized`: [B, T, D] for `norm` models, [B, D] (after pooling) for
///   `fc_norm` models.
/// - `hook_logits` [B, C].
public struct HookPoint: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, CaseIterable, Sendable {
        case embed = "hook_embed", posEmbed = "hook_pos_embed"
        case residPre = "hook_resid_pre", ln1 = "ln1.hook_normalized"
        case q = "attn.hook_q", k = "attn.hook_k", v = "attn.hook_v"
        case attnScores = "attn.hook_attn_scores", pattern = "attn.hook_pattern", z = "attn.hook_z"
        case attnOut = "hook_attn_out", residMid = "hook_resid_mid", ln2 = "ln2.hook_normalized"
        case mlpPre = "mlp.hook_pre", mlpPost = "mlp.hook_post", mlpOut = "hook_mlp_out"
        case residPost = "hook_resid_post", lnFinal = "ln_final.hook_normalized", logits = "hook_logits"

        public var isPerBlock: Bool { ![.embed, .posEmbed, .lnFinal, .logits].contains(self) }
        /// The short form: `resid_post`, `pattern`, `mlp_pre`, ...
        public var shortName: String {
            switch self {
            case .ln1: return "ln1"
            case .ln2: return "ln2"
            case .mlpPre: return "mlp_pre"
            case .mlpPost: return "mlp_post"
            case .lnFinal: return "ln_final"
            default:
                let last = rawValue.split(separator: ".").last.map(String.init) ?? rawValue
                return last.hasPrefix("hook_") ? String(last.dropFirst(5)) : last
            }
        }
    }

    public let kind: Kind
    /// Block index (0-based) for per-block points, nil otherwise.
    public let block: Int?

    public init(_ kind: Kind, block: Int? = nil) {
        self.kind = kind
        self.block = kind.isPerBlock ? block : nil
    }

    public var name: String {
        if let block { return "blocks.\(block).\(kind.rawValue)" }
        return kind.rawValue
    }

    public var description: String { name }

    /// Every hook point of a model, in execution order.
    public static func all(depth: Int, preNormBlocks: Bool) -> [HookPoint] {
        var out = [HookPoint(.embed), HookPoint(.posEmbed)]
        for b in 0..<depth {
            for k in Kind.allCases where k.isPerBlock {
                if !preNormBlocks && (k == .ln1 || k == .ln2) { continue }
                out.append(HookPoint(k, block: b))
            }
        }
        out += [HookPoint(.lnFinal), HookPoint(.logits)]
        return out
    }

    /// Parses a full hook name (`blocks.3.hook_resid_post`).
    public init?(name: String) {
        if let k = Kind(rawValue: name), !k.isPerBlock { self.init(k); return }
        let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blocks", let b = Int(parts[1]), b >= 0,
              let k = Kind(rawValue: parts[2]), k.isPerBlock else { return nil }
        self.init(k, block: b)
    }
}

/// Sees the forward pass at the hook points it asks for; may capture or replace activations.
///
/// The tensor given to `visit` is a view of the forward pass's working memory, valid only
/// during the call: copy it to keep it. Assigning a new tensor replaces the activation
/// (same shape, except at `hook_pos_embed`, where the token count may change).
public protocol HookHandler: AnyObject {
    func wants(_ point: HookPoint) -> Bool
    func visit(_ point: HookPoint, _ value: inout Tensor) throws
}
