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
        try checkInvariants(items: p.items.count, name: name)
    }

    /// Every count within what the images allow (a part that contradicts itself is refused,
    /// not turned into rates above 100% or means above 1).
    func checkInvariants(items: Int, name: String) throws {
        func fail(_ field: String, _ why: String) -> CoreError { CoreError("\(name): field statistics.\(field): \(why)") }
        guard images == items else { throw fail("images", "is \(images), but the part covers \(items) images (items)") }
        let cls = hasClassToken ? images : 0, img = images * imageTokensPerImage
        for b in 0..<depth {
            func atMost(_ field: String, _ v: Int, _ limit: Int, _ what: String) throws {
                guard v <= limit else { throw fail("\(field)[\(b)]", "is \(v), more than the \(limit) \(what)") }
            }
            func total(_ row: [Int], _ field: String) throws -> Int {
                var sum = 0
                for v in row {
                    let (r, overflow) = sum.addingReportingOverflow(v)
                    guard !overflow else { throw fail("\(field)[\(b)]", "its counts overflow a 64-bit sum") }
                    sum = r
                }
                return sum
            }
            let hc = try total(histCls[b], "hist_cls"), hi = try total(histImage[b], "hist_image")
            guard hc == cls else { throw fail("hist_cls[\(b)]", "counts \(hc) CLS tokens, the \(images) images have \(cls)") }
            guard hi == img else { throw fail("hist_image[\(b)]", "counts \(hi) image tokens, the \(images) images have \(img)") }
            try atMost("cls_identifiable", clsIdentifiable[b], cls, "CLS tokens")
            try atMost("identifiable_tokens", identifiableTokens[b], img, "image tokens")
            try atMost("images_with_identifiable", imagesWithIdentifiable[b], images, "images")
            try atMost("block_increase", blockIncrease[b], img, "image tokens")
            try atMost("attn_increase_cls", attnIncreaseCls[b], cls, "CLS tokens")
            try atMost("attn_increase_image", attnIncreaseImage[b], img, "image tokens")
            try atMost("mlp_increase_cls", mlpIncreaseCls[b], cls, "CLS tokens")
            try atMost("mlp_increase_image", mlpIncreaseImage[b], img, "image tokens")
            for (field, v) in [("m6_attn", m6Attn), ("m6_mlp", m6Mlp), ("m6_prev", m6Prev), ("m6_none", m6None)] {
                guard v[b][0] <= cls, v[b][1] <= img else { throw fail("\(field)[\(b)]", "counts \(v[b]), more than the \(cls) CLS and \(img) image tokens") }
            }
            // s = 1 - rank/C lies in (0, 1]: a sum of s is at most the number of tokens
            let slack = 1e-9 * Double(max(img, 1))
            guard sumSCls[b] >= 0, sumSCls[b] <= Double(cls) + slack else { throw fail("sum_s_cls[\(b)]", "is \(sumSCls[b]), not in 0...\(cls) (one s in 0...1 per CLS token)") }
            guard sumSImage[b] >= 0, sumSImage[b] <= Double(img) + slack else { throw fail("sum_s_image[\(b)]", "is \(sumSImage[b]), not in 0...\(img) (one s in 0...1 per image token)") }
        }
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
        // every count is of tokens of the part's images: at most images x tokens per image
        let tokensPerImage = try p.config("tokens", name: name)
        let (most, over) = p.items.count.multipliedReportingOverflow(by: max(tokensPerImage, 1))
        for kd in 0..<2 { for b in 0..<d {
            var sum = 0
            for j in 0..<c {
                let (r, o) = sum.addingReportingOverflow(tokens[kd][b][j])
                guard !o, over || r <= most else {
                    throw CoreError("\(name): field statistics.tokens[\(kd), \(b)] counts more tokens than the part's \(p.items.count) images have (\(tokensPerImage) each)")
                }
                sum = r
            }
            for j in 0..<g where composedTotal[kd][b][j] > most && !over {
                throw CoreError("\(name): field statistics.composed_total[\(kd), \(b), \(j)] is \(composedTotal[kd][b][j]), more tokens than the part's \(p.items.count) images have")
            }
        } }
        for kd in 0..<2 { for b in 0..<d { for j in 0..<g where composed[kd][b][j] > composedTotal[kd][b][j] {
            throw CoreError("\(name): field statistics.composed[\(kd), \(b), \(j)] is \(composed[kd][b][j]), more than statistics.composed_total (\(composedTotal[kd][b][j]))")
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
        // targets are +1 for the true class and -1 for the others: per probe, sum_y[c] =
        // 2 n_c - n with the class counts n_c adding to n, and sum_yy[c] = n
        guard C >= 1 else { throw CoreError("\(name): field model.config.classes must be at least 1") }
        for i in 0..<(L * T) {
            let nn = Double(n[i])
            var classCount = 0.0
            for c in 0..<C {
                let y = sy[i * C + c], yy = syy[i * C + c]
                let nc = (y + nn) / 2
                guard nc >= 0, nc <= nn, nc == nc.rounded() else {
                    throw CoreError("\(name): field statistics.sum_y[\(i / T), \(i % T), \(c)] is \(y): with n = \(n[i]) images and targets ±1 it must be 2·(images of the class) - n")
                }
                guard yy == nn else { throw CoreError("\(name): field statistics.sum_yy[\(i / T), \(i % T), \(c)] is \(yy), not n = \(n[i]) (targets are ±1)") }
                classCount += nc
            }
            guard classCount == nn else {
                throw CoreError("\(name): field statistics.sum_y[\(i / T), \(i % T)]: the class counts it implies add to \(classCount), not n = \(n[i])")
            }
            // XᵀX is a Gram matrix: its diagonal holds sums of squares (NaN where the
            // activations held NaN: the schema lets it through, warned of when met)
            for j in 0..<D where xtx[i * D * D + j * D + j] < 0 {
                throw CoreError("\(name): field statistics.xtx[\(i / T), \(i % T), \(j), \(j)] is \(xtx[i * D * D + j * D + j]): a sum of squares cannot be negative")
            }
        }
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
