import Foundation

/// How token sets and rates are aggregated (Docs/method.md#ranks-and-identifiability).
public enum MetricsMode: String, Codable, Sendable {
    /// Image tokens are the patch tokens (prefix tokens excluded).
    case correct
    /// The authors' code: token index 0 is dropped for every model (for a GAP model that
    /// drops the first patch), everything else counts as an image token.
    case paper
}

/// The identifiability metrics M1-M6 of Vilas et al. over a dataset, accumulated batch by
/// batch from the lens of every block's residual stream and sublayer outputs. Counts are
/// integers (exact merge); the s sums are doubles (merge within rounding).
public struct IdentifiabilityMetrics: Codable, Sendable {
    public let mode: MetricsMode
    public let depth: Int
    public let classes: Int
    public let tokens: Int
    public let prefixTokens: Int
    public let hasClassToken: Bool
    public static let bins = 20

    public var images = 0
    public var correct = 0
    /// Per block: image tokens with rank 0 (M1 numerator).
    public var identifiableTokens: [Int]
    /// Per block: images with at least one identifiable image token (M2).
    public var imagesWithIdentifiable: [Int]
    /// Per block: images whose CLS is identifiable.
    public var clsIdentifiable: [Int]
    /// Per block: sums of s = 1 - r/C over CLS tokens and over image tokens (M3 means).
    public var sumSCls: [Double]
    public var sumSImage: [Double]
    /// Per block: histograms of s (bins of width 1/20) for CLS and image tokens (M3 distribution).
    public var histCls: [[Int]]
    public var histImage: [[Int]]
    /// Per block b >= 1: image tokens whose true-class logit rose from block b-1 (M4).
    public var blockIncrease: [Int]
    /// Per block b >= 1: tokens where the sublayer's true-class logit exceeds the block input's (M5).
    public var attnIncreaseCls: [Int], attnIncreaseImage: [Int]
    public var mlpIncreaseCls: [Int], mlpIncreaseImage: [Int]
    /// Per block b >= 1: tokens whose residual top-1 equals the top-1 of attn_out, of
    /// mlp_out, of the previous residual, or none of them (M6; not exclusive).
    public var m6Attn: [[Int]], m6Mlp: [[Int]], m6Prev: [[Int]], m6None: [[Int]]   // [block][0 = CLS, 1 = image]

    public init(model: ViT, mode: MetricsMode) {
        let c = model.config
        self.mode = mode
        depth = c.depth; classes = c.numClasses; tokens = c.numTokens
        prefixTokens = c.numPrefixTokens; hasClassToken = c.classToken
        let z = [Int](repeating: 0, count: depth)
        identifiableTokens = z; imagesWithIdentifiable = z; clsIdentifiable = z
        sumSCls = [Double](repeating: 0, count: depth); sumSImage = sumSCls
        histCls = [[Int]](repeating: [Int](repeating: 0, count: Self.bins), count: depth); histImage = histCls
        blockIncrease = z; attnIncreaseCls = z; attnIncreaseImage = z; mlpIncreaseCls = z; mlpIncreaseImage = z
        let pair = [[Int]](repeating: [0, 0], count: depth)
        m6Attn = pair; m6Mlp = pair; m6Prev = pair; m6None = pair
    }

    /// First image-token index under the mode.
    public var firstImageToken: Int { mode == .paper ? 1 : prefixTokens }
    public var imageTokensPerImage: Int { tokens - firstImageToken }

    /// Adds another shard's counts (same model and mode).
    public mutating func merge(_ o: IdentifiabilityMetrics) throws {
        guard o.mode == mode, o.depth == depth, o.classes == classes, o.tokens == tokens else {
            throw CoreError("cannot merge metrics of different models or modes (\(depth) blocks/\(classes) classes/\(mode.rawValue) vs \(o.depth)/\(o.classes)/\(o.mode.rawValue))")
        }
        images += o.images; correct += o.correct
        func add(_ a: inout [Int], _ b: [Int]) { for i in a.indices { a[i] += b[i] } }
        func add2(_ a: inout [[Int]], _ b: [[Int]]) { for i in a.indices { for j in a[i].indices { a[i][j] += b[i][j] } } }
        add(&identifiableTokens, o.identifiableTokens); add(&imagesWithIdentifiable, o.imagesWithIdentifiable)
        add(&clsIdentifiable, o.clsIdentifiable)
        for i in 0..<depth { sumSCls[i] += o.sumSCls[i]; sumSImage[i] += o.sumSImage[i] }
        add2(&histCls, o.histCls); add2(&histImage, o.histImage)
        add(&blockIncrease, o.blockIncrease)
        add(&attnIncreaseCls, o.attnIncreaseCls); add(&attnIncreaseImage, o.attnIncreaseImage)
        add(&mlpIncreaseCls, o.mlpIncreaseCls); add(&mlpIncreaseImage, o.mlpIncreaseImage)
        add2(&m6Attn, o.m6Attn); add2(&m6Mlp, o.m6Mlp); add2(&m6Prev, o.m6Prev); add2(&m6None, o.m6None)
    }
}

/// Streams one batch through the model, projecting each block's sublayer outputs and
/// residual stream as they are computed (no activation is stored past its block).
public final class MetricsCollector: HookHandler {
    public private(set) var metrics: IdentifiabilityMetrics
    let model: ViT
    private var labels: [Int] = []
    private var attnLogits: Tensor?
    private var mlpLogits: Tensor?
    private var prevLogits: Tensor?

    /// The name its NaN warning gives (`NaNWatch`).
    public let analysis: String

    /// `analysis`: the name of the analysis for its NaN warning.
    public init(model: ViT, mode: MetricsMode, analysis: String = "identifiability_metrics") {
        self.analysis = analysis
        self.model = model
        metrics = IdentifiabilityMetrics(model: model, mode: mode)
    }

    /// Adds a batch: images [B, 3, H, W], labels [B] (class indices of the model).
    public func add(images: Tensor, labels: [Int]) throws {
        let C = model.config.numClasses
        for l in labels where l < 0 || l >= C { throw CoreError("label \(l) is not a class of the model (0...\(C - 1))") }
        guard images.rank == 4, labels.count == images.shape[0] else {
            throw CoreError("metrics: \(labels.count) labels for images of shape \(images.shape)")
        }
        self.labels = labels
        prevLogits = nil
        let logits = try model.forward(images, hooks: self)
        NaNWatch.check(logits, at: "the logits (final norm or head)", analysis: analysis)
        let pred = LensMath.predictions(logits)   // a row holding NaN predicts nothing (counted wrong)
        metrics.images += labels.count
        metrics.correct += zip(pred, labels).filter { $0 == $1 }.count
    }

    public func wants(_ p: HookPoint) -> Bool {
        p.kind == .attnOut || p.kind == .mlpOut || p.kind == .residPost
    }

    public func visit(_ p: HookPoint, _ value: inout Tensor) throws {
        guard let b = p.block else { return }
        if p.kind == .residPost { NaNWatch.check(value, block: b, analysis: analysis) }
        let logits = try model.project(value)   // [B, T, C]
        switch p.kind {
        case .attnOut: attnLogits = logits
        case .mlpOut: mlpLogits = logits
        case .residPost:
            try update(block: b, resid: logits)
            prevLogits = logits
        default: break
        }
    }

    private func update(block b: Int, resid: Tensor) throws {
        var m = metrics
        let B = resid.shape[0], T = resid.shape[1], C = resid.shape[2]
        guard T == m.tokens else { throw CoreError("metrics need the full token sequence (\(m.tokens) tokens, got \(T)); do not drop tokens") }
        let first = m.firstImageToken
        let r = resid.pointer
        let a = attnLogits?.pointer, mp = mlpLogits?.pointer, pv = prevLogits?.pointer
        func top1(_ p: UnsafePointer<Float>) -> Int { LensMath.top1(p, count: C) }
        for i in 0..<B {
            let c = labels[i]
            var anyIdentifiable = false
            for t in 0..<T {
                let row = r + (i * T + t) * C
                let v = row[c]
                let rank = LensMath.rank(row, count: C, of: c)   // NaN never ranks first
                let s = 1 - Double(rank) / Double(C)
                let bin = min(IdentifiabilityMetrics.bins - 1, Int(s * Double(IdentifiabilityMetrics.bins)))
                let isCls = t == 0 && m.hasClassToken
                let isImage = t >= first
                guard isCls || isImage else { continue }
                let kind = isCls ? 0 : 1
                if isCls {
                    m.sumSCls[b] += s; m.histCls[b][bin] += 1
                    if rank == 0 { m.clsIdentifiable[b] += 1 }
                } else {
                    m.sumSImage[b] += s; m.histImage[b][bin] += 1
                    if rank == 0 { m.identifiableTokens[b] += 1; anyIdentifiable = true }
                }
                guard b >= 1, let pv else { continue }
                let prev = pv + (i * T + t) * C
                if isImage && v > prev[c] { m.blockIncrease[b] += 1 }
                if let a, a[(i * T + t) * C + c] > prev[c] {
                    if isCls { m.attnIncreaseCls[b] += 1 } else { m.attnIncreaseImage[b] += 1 }
                }
                if let mp, mp[(i * T + t) * C + c] > prev[c] {
                    if isCls { m.mlpIncreaseCls[b] += 1 } else { m.mlpIncreaseImage[b] += 1 }
                }
                let top = top1(row)
                let ta = a.map { top1($0 + (i * T + t) * C) }
                let tm = mp.map { top1($0 + (i * T + t) * C) }
                let tp = top1(prev)
                // A row holding NaN has no top-1 (`noPrediction`): it matches nothing.
                var matched = false
                let valid = top != LensMath.noPrediction
                if valid && ta == top { m.m6Attn[b][kind] += 1; matched = true }
                if valid && tm == top { m.m6Mlp[b][kind] += 1; matched = true }
                if valid && tp == top { m.m6Prev[b][kind] += 1; matched = true }
                if !matched { m.m6None[b][kind] += 1 }
            }
            if anyIdentifiable { m.imagesWithIdentifiable[b] += 1 }
        }
        metrics = m
    }
}

extension IdentifiabilityMetrics {
    /// Column names and per-block rows (percentages; block numbered from 1).
    /// Over no images (a shard that holds none) every rate is 0/0: nan, never 0.
    public func rows() -> (columns: [String], rows: [[Double?]]) {
        let n = Double(images)
        let nImg = Double(images * imageTokensPerImage)
        let clsN = hasClassToken ? Double(images) : 0
        var out: [[Double?]] = []
        for b in 0..<depth {
            let later = b >= 1
            let allTokens = Double(images * (imageTokensPerImage + (hasClassToken ? 1 : 0)))
            func pct(_ v: Int, _ d: Double) -> Double? { d > 0 ? 100 * Double(v) / d : .nan }
            out.append([
                Double(b + 1),
                pct(identifiableTokens[b], nImg),
                pct(imagesWithIdentifiable[b], n),
                hasClassToken ? pct(clsIdentifiable[b], clsN) : nil,
                hasClassToken ? sumSCls[b] / clsN : nil,
                sumSImage[b] / nImg,
                later ? pct(blockIncrease[b], nImg) : nil,
                later && hasClassToken ? pct(attnIncreaseCls[b], clsN) : nil,
                later ? pct(attnIncreaseImage[b], nImg) : nil,
                later && hasClassToken ? pct(mlpIncreaseCls[b], clsN) : nil,
                later ? pct(mlpIncreaseImage[b], nImg) : nil,
                later ? pct(m6Attn[b][0] + m6Attn[b][1], allTokens) : nil,
                later ? pct(m6Mlp[b][0] + m6Mlp[b][1], allTokens) : nil,
                later ? pct(m6Prev[b][0] + m6Prev[b][1], allTokens) : nil,
                later ? pct(m6None[b][0] + m6None[b][1], allTokens) : nil,
            ])
        }
        return (["block", "m1_tokens", "m2_images", "cls_top1", "s_cls", "s_image", "m4_block_up",
                 "m5_attn_cls", "m5_attn_image", "m5_mlp_cls", "m5_mlp_image",
                 "m6_attn", "m6_mlp", "m6_prev", "m6_none"], out)
    }

    /// Top-1 accuracy of the model over the images seen (percent).
    public var accuracy: Double { images == 0 ? .nan : 100 * Double(correct) / Double(images) }
}
