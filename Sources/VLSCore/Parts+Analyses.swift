/// The statistics of the core's accumulators as part statistics, and back (every shape
/// checked against the model config the part records).

extension IdentifiabilityMetrics {
    public var partStatistics: [String: PartStatistic] {
        let d = depth, bins = Self.bins
        return [
            "images": .counts([images], shape: []), "correct": .counts([correct], shape: []),
            "identifiable_tokens": .counts(identifiableTokens, shape: [d]),
            "images_with_identifiable": .counts(imagesWithIdentifiable, shape: [d]),
            "cls_identifiable": .counts(clsIdentifiable, shape: [d]),
            "sum_s_cls": .sums(sumSCls, shape: [d]), "sum_s_image": .sums(sumSImage, shape: [d]),
            "hist_cls": .counts(histCls.flatMap { $0 }, shape: [d, bins]),
            "hist_image": .counts(histImage.flatMap { $0 }, shape: [d, bins]),
            "block_increase": .counts(blockIncrease, shape: [d]),
            "attn_increase_cls": .counts(attnIncreaseCls, shape: [d]), "attn_increase_image": .counts(attnIncreaseImage, shape: [d]),
            "mlp_increase_cls": .counts(mlpIncreaseCls, shape: [d]), "mlp_increase_image": .counts(mlpIncreaseImage, shape: [d]),
            "m6_attn": .counts(m6Attn.flatMap { $0 }, shape: [d, 2]), "m6_mlp": .counts(m6Mlp.flatMap { $0 }, shape: [d, 2]),
            "m6_prev": .counts(m6Prev.flatMap { $0 }, shape: [d, 2]), "m6_none": .counts(m6None.flatMap { $0 }, shape: [d, 2]),
        ]
    }

    /// The metrics a part holds (analysis "identifiability").
    public init(part p: Part, name: String) throws {
        guard let m = MetricsMode(rawValue: try p.argument("mode", name: name)) else {
            throw CoreError("\(name): field arguments.mode must be correct or paper")
        }
        mode = m
        depth = try p.config("depth", name: name); classes = try p.config("classes", name: name)
        tokens = try p.config("tokens", name: name); prefixTokens = try p.config("prefix_tokens", name: name)
        hasClassToken = try p.config("class_token", name: name) != 0
        guard tokens >= 1, prefixTokens < tokens, classes >= 1 else { throw CoreError("\(name): field model.config: tokens/prefix_tokens/classes are inconsistent") }
        let d = depth, bins = Self.bins
        func one(_ k: String) throws -> Int { try p.ints(k, shape: [], name: name)[0] }
        func vec(_ k: String) throws -> [Int] { try p.ints(k, shape: [d], name: name) }
        func mat(_ k: String, _ w: Int) throws -> [[Int]] {
            let v = try p.ints(k, shape: [d, w], name: name)
            return (0..<d).map { Array(v[($0 * w)..<(($0 + 1) * w)]) }
        }
        images = try one("images"); correct = try one("correct")
        guard correct <= images else { throw CoreError("\(name): field statistics.correct (\(correct)) exceeds statistics.images (\(images))") }
        identifiableTokens = try vec("identifiable_tokens"); imagesWithIdentifiable = try vec("images_with_identifiable")
        clsIdentifiable = try vec("cls_identifiable")
        sumSCls = try p.floats("sum_s_cls", shape: [d], name: name); sumSImage = try p.floats("sum_s_image", shape: [d], name: name)
        histCls = try mat("hist_cls", bins); histImage = try mat("hist_image", bins)
        blockIncrease = try vec("block_increase")
        attnIncreaseCls = try vec("attn_increase_cls"); attnIncreaseImage = try vec("attn_increase_image")
        mlpIncreaseCls = try vec("mlp_increase_cls"); mlpIncreaseImage = try vec("mlp_increase_image")
        m6Attn = try mat("m6_attn", 2); m6Mlp = try mat("m6_mlp", 2); m6Prev = try mat("m6_prev", 2); m6None = try mat("m6_none", 2)
        // rates are percentages of these totals: images * tokens must not overflow
        let (_, o) = images.multipliedReportingOverflow(by: tokens)
        if o { throw CoreError("\(name): field statistics.images (\(images)) is too large for \(tokens) tokens per image") }
    }
}

extension MemoryStats {
    public var partStatistics: [String: PartStatistic] {
        let d = depth, c = classes, g = MemoryTokenGroup.allCases.count, n = correct.count
        func flat3(_ v: [[[Int]]]) -> [Int] { v.flatMap { $0.flatMap { $0 } } }
        // rows: per image, [kind][block] CLS agreement
        var cls: [Int] = []
        cls.reserveCapacity(n * 2 * d)
        for i in 0..<n { for kd in 0..<2 { for b in 0..<d { cls.append(clsAgree[kd][b].isEmpty ? 0 : Int(clsAgree[kd][b][i])) } } }
        return [
            "agree": .counts(flat3(agree), shape: [2, d, c]), "agree_random": .counts(flat3(agreeRandom), shape: [2, d, c]),
            "tokens": .counts(flat3(tokens), shape: [2, d, c]),
            "composed": .counts(flat3(composed), shape: [2, d, g]), "composed_total": .counts(flat3(composedTotal), shape: [2, d, g]),
            "correct": .counts(correct.map(Int.init), shape: [n, 1], rows: true),
            "cls_agree": .counts(cls, shape: [n, 2, d], rows: true),
        ]
    }

    /// The statistics a part holds (analysis "memories"); `hasCls`: the per-image CLS rows are meaningful.
    public init(part p: Part, name: String, hasCls: Bool) throws {
        let d = try p.config("depth", name: name), c = try p.config("classes", name: name)
        depth = d; classes = c
        guard let kk = Int(try p.argument("k", name: name)), kk >= 1 else { throw CoreError("\(name): field arguments.k must be a positive integer") }
        k = kk
        guard let m = MemoryMode(rawValue: try p.argument("mode", name: name)) else { throw CoreError("\(name): field arguments.mode must be correct or paper") }
        mode = m
        let rc = try p.argument("random_classes", name: name).split(separator: ",").map { Int($0) }
        guard rc.count == c, rc.allSatisfy({ $0 != nil && $0! >= 0 && $0! < c }) else {
            throw CoreError("\(name): field arguments.random_classes must list \(classes) class indices")
        }
        randomClass = rc.map { $0! }
        let g = MemoryTokenGroup.allCases.count
        func un3(_ v: [Int], _ w: Int) -> [[[Int]]] { (0..<2).map { kd in (0..<d).map { b in Array(v[((kd * d + b) * w)..<((kd * d + b + 1) * w)]) } } }
        agree = un3(try p.ints("agree", shape: [2, d, c], name: name), c)
        agreeRandom = un3(try p.ints("agree_random", shape: [2, d, c], name: name), c)
        tokens = un3(try p.ints("tokens", shape: [2, d, c], name: name), c)
        composed = un3(try p.ints("composed", shape: [2, d, g], name: name), g)
        composedTotal = un3(try p.ints("composed_total", shape: [2, d, g], name: name), g)
        for kd in 0..<2 { for b in 0..<d { for j in 0..<c where agree[kd][b][j] > tokens[kd][b][j] || agreeRandom[kd][b][j] > tokens[kd][b][j] {
            throw CoreError("\(name): field statistics.agree exceeds statistics.tokens at [\(kd), \(b), \(j)]")
        } } }
        let n = p.items.count
        let corr = try p.ints("correct", shape: [1], rows: true, name: name)
        guard corr.allSatisfy({ $0 <= 1 }) else { throw CoreError("\(name): field statistics.correct must hold 0 or 1 per image") }
        correct = corr.map { UInt8($0) }
        let cls = try p.ints("cls_agree", shape: [2, d], rows: true, name: name)
        guard cls.allSatisfy({ $0 <= 1 }) else { throw CoreError("\(name): field statistics.cls_agree must hold 0 or 1 per image") }
        clsAgree = (0..<2).map { kd in (0..<d).map { b in hasCls ? (0..<n).map { UInt8(cls[($0 * 2 + kd) * d + b]) } : [] } }
    }
}

extension RidgeStats {
    /// The sufficient statistics of many probes ([blocks][positions]) as part statistics.
    public static func partStatistics(_ stats: [[RidgeStats]]) -> [String: PartStatistic] {
        let L = stats.count, T = stats.first?.count ?? 0
        let D = stats.first?.first?.width ?? 0, C = stats.first?.first?.classes ?? 0
        let all = stats.flatMap { $0 }
        return [
            "n": .counts(all.map(\.n), shape: [L, T]),
            "sum_x": .sums(all.flatMap(\.sumX), shape: [L, T, D]),
            "sum_y": .sums(all.flatMap(\.sumY), shape: [L, T, C]),
            "sum_yy": .sums(all.flatMap(\.sumYY), shape: [L, T, C]),
            "xtx": .sums(all.flatMap(\.xtx), shape: [L, T, D, D]),
            "xty": .sums(all.flatMap(\.xty), shape: [L, T, D, C]),
        ]
    }

    /// The statistics a part holds (analysis "probes"), [blocks][positions].
    public static func fromPart(_ p: Part, name: String) throws -> [[RidgeStats]] {
        let L = try p.config("depth", name: name), T = try p.config("tokens", name: name)
        let D = try p.config("width", name: name), C = try p.config("classes", name: name)
        let n = try p.ints("n", shape: [L, T], name: name)
        let sx = try p.floats("sum_x", shape: [L, T, D], name: name), sy = try p.floats("sum_y", shape: [L, T, C], name: name)
        let syy = try p.floats("sum_yy", shape: [L, T, C], name: name)
        let xtx = try p.floats("xtx", shape: [L, T, D, D], name: name), xty = try p.floats("xty", shape: [L, T, D, C], name: name)
        return (0..<L).map { b in (0..<T).map { t in
            let i = b * T + t
            var s = RidgeStats(width: D, classes: C)
            s.n = n[i]
            s.sumX = Array(sx[(i * D)..<((i + 1) * D)]); s.sumY = Array(sy[(i * C)..<((i + 1) * C)]); s.sumYY = Array(syy[(i * C)..<((i + 1) * C)])
            s.xtx = Array(xtx[(i * D * D)..<((i + 1) * D * D)]); s.xty = Array(xty[(i * D * C)..<((i + 1) * D * C)])
            return s
        } }
    }
}
