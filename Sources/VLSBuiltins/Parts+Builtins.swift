import Foundation
import VLSFiles
import VLSCore
import VLSLanguage
#if canImport(Glibc)
import Glibc
#endif

// Mergeable analyses: each one accumulates its statistics into a Part (Sources/VLSCore/Parts.swift)
// and builds its result from the part alone, so an unsharded run and `vls merge` of the
// shards go through the same finishing code and give the same result.

extension DatasetObject {
    /// What a part records of the data: the set, the selection before sharding, its size.
    func partIdentity() -> Part.DatasetIdentity {
        var split: String?
        if name.hasPrefix("fashion-mnist/") { split = String(name.dropFirst("fashion-mnist/".count)) }
        // the data's identity, so that parts of different data with the same name and size
        // are refused: the bytes of in-memory sets, the file list of a folder
        var h = SHA256()
        switch source {
        case .tensors(let x, let labels):
            h.update("\(x.shape);")
            let c = x.contiguous()
            h.update(UnsafeRawBufferPointer(start: UnsafeRawPointer(c.pointer), count: c.count * MemoryLayout<Float>.size))
            h.update(labels.map(String.init).joined(separator: ","))
        case .idx(let d):
            // the pixels are in memory already: their bytes, shape and the labels
            h.update("idx \(d.images.shape);")
            d.images.data.withUnsafeBytes { h.update($0) }
            h.update(d.labels.map(String.init).joined(separator: ","))
        case .folder(let f):
            // every file (root-relative path, byte size, label) and the class names: reading
            // every image's bytes in every shard would cost more than the analysis
            h.update("folder classes \(f.classes.joined(separator: "\u{0}"));")
            let root = f.root.hasSuffix("/") ? f.root : f.root + "/"
            for e in f.entries {
                let rel = e.path.hasPrefix(root) ? String(e.path.dropFirst(root.count)) : e.path
                var st = stat()
                let size = stat(e.path, &st) == 0 ? Int(st.st_size) : -1
                h.update("\(rel)\u{0}\(size)\u{0}\(e.label)\n")
            }
        }
        let digest: String? = h.hexDigest()
        return Part.DatasetIdentity(name: name, split: split, size: sourceSize, selection: selection.joined(separator: "."),
                                    selected: selected.count, digest: digest)
    }
}

/// A part of `analysis` over `data` (its shard, 1/1 when not sharded) for model `m`.
func makePart(_ analysis: String, _ arguments: [String: String], model m: ModelObject, data: DatasetObject,
              session: Session, statistics: [String: PartStatistic]) throws -> Part {
    // probes train on a set of their own: an unsharded training set under --shard is every
    // shard's (probes trained once per shard, evaluated on the shard's test images)
    if analysis != "probes" || data.sharded { try requireSharded(data, session: session, analysis) }
    // The same weights under another preprocessing (mean, std, size, interpolation, crop) is
    // another analysis: the transform is part of the identity parts are compared by.
    let transform = (try? m.preprocessing(nil).description) ?? "-"
    let identity = Part.ModelIdentity(sha256: m.model.weightDigest, config: m.model.partConfig,
                                      summary: m.c.summary + "; preprocessing: " + transform, seed: session.options.seed)
    return Part(analysis: analysis, arguments: arguments, shard: data.shardSpec ?? (1, 1),
                dataset: data.partIdentity(), model: identity, statistics: statistics)
}

/// Under `vls run --shard K/N` (N > 1) an analysis over a dataset not marked `sharded: true`
/// would do all the work in every shard and write N copies of one result: an error, before
/// the work (each analysis calls this first) and again before a part is made.
func requireSharded(_ data: DatasetObject, session: Session, _ analysis: String) throws {
    guard let sh = session.options.shard, sh.count > 1, data.shardSpec == nil else { return }
    throw RuntimeError("\(analysis): vls run --shard \(sh.index)/\(sh.count) is given, but this dataset (\(data.name), \(data.indices.count) images) is not sharded: every shard would repeat all of it. Mark the analysis set dataset(..., sharded: true) (README: Scaling out), or run without --shard")
}

/// A note for titles when a result covers only some shards.
func coverage(_ p: Part) -> String {
    if p.missingShards.isEmpty { return "" }
    return ", PARTIAL: shards \(PartMerge.ranges(p.shards)) of \(p.shardCount) (missing \(PartMerge.ranges(p.missingShards)))"
}

enum PartResults {
    /// The result of an analysis from its statistics (the same code for a single run and a merge).
    static func finish(_ p: Part, name: String, model: ModelObject? = nil, permutations: [[Int]]? = nil) throws -> Value {
        switch p.analysis {
        case "probes": return try probes(p, name: name, model: model)
        case "identifiability":
            let m = try IdentifiabilityMetrics(part: p, name: name)
            let o = MetricsObject(m, label: p.arguments["label"] ?? "model")
            o.part = p
            return .object(o)
        case "compare_random": return .object(try compareRandom(p, name: name))
        case "memories": return .object(try memories(p, name: name))
        case "perturbation": return .object(try perturbation(p, name: name))
        case "class_context": return try classContext(p, name: name, permutations: permutations)
        case "probe_evaluation": return .object(try probeEvaluation(p, name: name))
        default: throw CoreError("\(name): field analysis: unknown analysis '\(p.analysis.prefix(60))'")
        }
    }

    /// Writes the result of a merge: the part (.json) or the finished table (.csv).
    static func write(_ p: Part, to path: String) throws {
        if path.hasSuffix(".csv") {
            let v = try finish(p, name: "the merged result")
            // a partial merge says so in every row: columns shards and missing_shards
            func marked(_ t: TableObject) -> TableObject {
                guard !p.missingShards.isEmpty else { return t }
                let given = "\(PartMerge.ranges(p.shards)) of \(p.shardCount)", missing = PartMerge.ranges(p.missingShards)
                return TableObject(columns: t.columns + ["partial_shards", "missing_shards"],
                                   rows: t.rows.map { $0 + [.string(given), .string(missing)] }, title: t.title)
            }
            switch v {
            case .object(let t as TableObject): try marked(t).save(to: path)
            case .object(let m as MetricsObject): try marked(m.table).save(to: path)
            case .object(let o as PerturbationObject): try marked(o.table).save(to: path)
            case .nil: throw CoreError("\(path): merged probe statistics are solved with the model: write the merged part (.json) and read it with load_part(path, model: m)")
            default: throw CoreError("\(path): a \(p.analysis) result has several tables; write the merged part (.json) and read it with load_part")
            }
            return
        }
        try PartFile.write(p, to: path)
    }

    // MARK: compare_random

    static func compareRandom(_ p: Part, name: String) throws -> TableObject {
        let L = try p.config("depth", name: name), T = try p.config("tokens", name: name)
        let C = Double(try p.config("classes", name: name)), P = try p.config("prefix_tokens", name: name)
        let classToken = try p.config("class_token", name: name) != 0
        guard let mode = MetricsMode(rawValue: try p.argument("mode", name: name)) else { throw CoreError("\(name): field arguments.mode must be correct or paper") }
        let seed = try p.argument("seed", name: name)
        let n = p.items.count
        let rt = try p.ints("ranks_trained", shape: [L, T], rows: true, name: name)
        let rr = try p.ints("ranks_random", shape: [L, T], rows: true, name: name)
        if let i = (rt + rr).firstIndex(where: { Double($0) >= C }) { throw CoreError("\(name): field statistics.ranks: rank [\(i % max(rt.count, 1))] is not below the \(Int(C)) classes") }
        let first = mode == .paper ? 1 : P
        var rows: [[Value]] = []
        for b in 0..<L {
            func s(_ r: [Int], _ keep: (Int) -> Bool) -> [Double] {
                var out: [Double] = []
                for i in 0..<n { for t in 0..<T where keep(t) { out.append(1 - Double(r[(i * L + b) * T + t]) / C) } }
                return out
            }
            func test(_ keep: @escaping (Int) -> Bool) throws -> (Double, Double, Double) {
                let x = s(rt, keep), y = s(rr, keep)
                guard !x.isEmpty else { return (.nan, .nan, .nan) }
                let w = try Stats.wilcoxon(x, y, alternative: "greater")
                return (x.reduce(0, +) / Double(x.count), y.reduce(0, +) / Double(y.count), w.pValue)
            }
            func star(_ p: Double) -> Value {
                let q = mode == .paper ? (p * 1000).rounded() / 1000 : p
                return .string(q < 0.05 ? "*" : "")
            }
            if mode == .paper {
                let (st, sr, pv) = try test { _ in true }
                rows.append([.int(b + 1), .float(st), .float(sr), .float(pv), star(pv)])
            } else {
                let img = try test { $0 >= first }
                var row: [Value] = [.int(b + 1), .float(img.0), .float(img.1), .float(img.2), star(img.2)]
                if classToken {
                    let cls = try test { $0 == 0 }
                    row += [.float(cls.0), .float(cls.1), .float(cls.2), star(cls.2)]
                }
                rows.append(row)
            }
        }
        let cols = mode == .paper ? ["block", "s_trained", "s_random", "p", "sig"]
            : ["block", "s_image", "s_image_random", "p_image", "sig"] + (classToken ? ["s_cls", "s_cls_random", "p_cls", "sig_cls"] : [])
        let t = TableObject(columns: cols, rows: rows,
                            title: "class identifiability vs random init (seed \(seed)), \(n) images, Wilcoxon one-sided greater\(coverage(p))")
        t.part = p
        return t
    }

    // MARK: memories

    static func memories(_ p: Part, name: String) throws -> TableObject {
        let classToken = try p.config("class_token", name: name) != 0
        let s = try MemoryStats(part: p, name: name, hasCls: classToken)
        guard let shuffles = Int(try p.argument("shuffles", name: name)), shuffles >= 1, shuffles <= Part.maxShuffles else {
            throw CoreError("\(name): field arguments.shuffles must be an integer in 1...\(Part.maxShuffles)")
        }
        guard let seed = UInt64(try p.argument("seed", name: name)) else { throw CoreError("\(name): field arguments.seed must be an unsigned integer") }
        let given = p.arguments["random_classes_given"] == "true"
        func rate(_ v: Double?) -> Value { v.map { .float($0) } ?? .nil }
        var rows: [[Value]] = []
        for b in 0..<s.depth {
            var row: [Value] = [.int(b + 1)]
            for (kd, kind) in MemoryKind.allCases.enumerated() {
                let classes = (0..<s.classes).filter { s.tokens[kd][b][$0] > 0 }
                func mean(_ v: [[[Int]]]) -> Double {
                    classes.isEmpty ? .nan : 100 * classes.map { Double(v[kd][b][$0]) / Double(s.tokens[kd][b][$0]) }.reduce(0, +) / Double(classes.count)
                }
                row += [.float(mean(s.agree)), .float(mean(s.agreeRandom))]
                if classToken {
                    let agree = s.clsAgree[kd][b].map(Double.init)
                    let right = zip(agree, s.correct).filter { $0.1 == 1 }.map(\.0)
                    let wrong = zip(agree, s.correct).filter { $0.1 == 0 }.map(\.0)
                    if right.isEmpty || wrong.isEmpty {
                        row += [.nil, .nil]
                    } else {
                        let t = try Stats.permutationTest(right, wrong, shuffles: shuffles, seed: seed &+ UInt64(b))
                        row += [.float(100 * t.difference), .float(t.pValue)]
                    }
                } else {
                    row += [.nil, .nil]
                }
                switch s.mode {
                case .correct:
                    row += [rate(classToken ? s.compositionality(kind, block: b, groups: [.cls]) : nil),
                            rate(s.compositionality(kind, block: b, groups: [.image]))]
                case .paper:
                    row.append(rate(s.compositionality(kind, block: b)))
                }
            }
            rows.append(row)
        }
        var cols = ["block"]
        for kd in ["mlp", "attn"] {
            cols += ["\(kd)_agree", "\(kd)_agree_random", "\(kd)_cls_acc_effect", "\(kd)_acc_p"]
            cols += s.mode == .correct ? ["\(kd)_composed_cls", "\(kd)_composed_image"] : ["\(kd)_composed"]
        }
        let drawn = given ? "random classes given" : "random classes seed \(seed)"
        let t = TableObject(columns: cols, rows: rows,
                            title: "key-value memories, top-\(s.k), \(s.correct.count) images, mode \(s.mode.rawValue) (rates in %, \(drawn))\(coverage(p))")
        t.part = p
        return t
    }

    // MARK: perturbation

    static func perturbation(_ p: Part, name: String) throws -> PerturbationObject {
        let N = try p.config("patches", name: name)
        guard N >= 2 else { throw CoreError("\(name): field model.config.patches must be at least 2") }
        guard let seeds = Int(try p.argument("seeds", name: name)), seeds >= 1, seeds <= 1 << 16 else {
            throw CoreError("\(name): field arguments.seeds must be an integer in 1...\(1 << 16)")
        }
        let method = try p.argument("method", name: name), order = try p.argument("order", name: name)
        guard order == "negative" || order == "positive" else { throw CoreError("\(name): field arguments.order must be negative or positive, got '\(order.prefix(40))'") }
        let images = try p.ints("images", shape: [], name: name)[0]
        guard images == p.items.count else { throw CoreError("\(name): field statistics.images is \(images), but the part covers \(p.items.count) images (items)") }
        let correct = try p.ints("correct", shape: [seeds, N - 1], name: name)
        if let i = correct.firstIndex(where: { $0 > images }) { throw CoreError("\(name): field statistics.correct[\(i)] exceeds statistics.images (\(images))") }
        let acc = (0..<(N - 1)).map { k in (0..<seeds).map { Double(correct[$0 * (N - 1) + k]) / Double(max(images, 1)) }.reduce(0, +) / Double(seeds) }
        let auc = PerturbationCurve.auc(acc, patches: N), trap = PerturbationCurve.trapezoidAUC(acc, patches: N)
        let rows: [[Value]] = acc.enumerated().map { [.int($0.offset + 1), .float($0.element)] }
        let t = TableObject(columns: ["k", "accuracy"], rows: rows,
                            title: "perturbation \(method) \(order): AUC \(String(format: "%.4f", auc)) (paper), \(String(format: "%.4f", trap)) (trapezoid), \(images) images\(coverage(p))")
        t.part = p
        let o = PerturbationObject(table: t, auc: auc, trapezoid: trap)
        return o
    }

    // MARK: probes (sufficient statistics)

    static func probes(_ p: Part, name: String, model: ModelObject?) throws -> Value {
        let kinds: [String: HookPoint.Kind] = ["resid_post": .residPost, "attn_out": .attnOut, "mlp_out": .mlpOut]
        guard let kind = kinds[try p.argument("layer", name: name)] else { throw CoreError("\(name): field arguments.layer must be resid_post, attn_out or mlp_out") }
        guard let alpha = Double(try p.argument("alpha", name: name)), alpha > 0, alpha.isFinite else { throw CoreError("\(name): field arguments.alpha must be a positive number") }
        guard let tol = Double(try p.argument("tol", name: name)), tol.isFinite else { throw CoreError("\(name): field arguments.tol must be a number") }
        let solverName = try p.argument("solver", name: name)
        let solver: RidgeSolver
        switch solverName {
        case "cholesky": solver = .cholesky
        case "lsqr":
            guard tol > 0 else { throw CoreError("\(name): field arguments.tol must be positive for lsqr") }
            solver = .lsqr(tol: tol)
        default: throw CoreError("\(name): field arguments.solver must be cholesky or lsqr")
        }
        let stats = try RidgeStats.fromPart(p, name: name)
        let L = stats.count, T = stats.first?.count ?? 0
        let n = try p.ints("n", shape: [L, T], name: name)
        if let i = n.firstIndex(where: { $0 != p.items.count }) {
            throw CoreError("\(name): field statistics.n[\(i)] is \(n[i]), not the \(p.items.count) images the part covers")
        }
        guard let model else { return .nil }   // vls merge: checked, solved when loaded with the model
        // probes from some of the shards are other probes (fit to part of the data), not an
        // approximation of the run's: refused, as the probes of one shard are in the run itself
        guard p.missingShards.isEmpty else {
            throw CoreError("\(name): holds the probe statistics of shards \(PartMerge.ranges(p.shards)) of \(p.shardCount) only (missing \(PartMerge.ranges(p.missingShards))): probes are solved from the statistics of every shard; merge all \(p.shardCount) parts with vls merge and load the merged file")
        }
        guard model.model.weightDigest == p.model.sha256 else {
            throw CoreError("\(name): the probes were trained on another model (weights sha256 \(p.model.sha256.prefix(12)), this model \(model.model.weightDigest.prefix(12)))")
        }
        guard model.model.partConfig == p.model.config else {
            throw CoreError("\(name): field model.config does not match the model's config (\(model.c.summary))")
        }
        let probes = try solveProbes(stats, alpha: alpha, solver: solver)
        let o = ProbesObject(model: model, kind: kind, alpha: alpha, solver: solverName, probes: probes, trainImages: p.items.count)
        o.part = p
        return .object(o)
    }

    // MARK: probes.evaluate

    static func probeEvaluation(_ p: Part, name: String) throws -> TableObject {
        let L = try p.config("depth", name: name), T = try p.config("tokens", name: name), first = try p.config("prefix_tokens", name: name)
        guard first < T else { throw CoreError("\(name): field model.config.prefix_tokens must be below tokens") }
        let layer = try p.argument("layer", name: name)
        let n = try p.ints("images", shape: [], name: name)[0]
        guard n == p.items.count else { throw CoreError("\(name): field statistics.images is \(n), but the part covers \(p.items.count) images (items)") }
        let probeRight = try p.ints("probe_right", shape: [L, T], name: name), lensRight = try p.ints("lens_right", shape: [L, T], name: name)
        if let i = (probeRight + lensRight).firstIndex(where: { $0 > n }) {
            throw CoreError("\(name): field statistics.\(i < probeRight.count ? "probe_right" : "lens_right"): a count exceeds statistics.images (\(n))")
        }
        func stats(_ v: ArraySlice<Int>) -> (Double, Double) {
            let acc = v.map { 100 * Double($0) / Double(max(n, 1)) }
            let mean = acc.reduce(0, +) / Double(acc.count)
            let sd = (acc.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(acc.count - 1, 1))).squareRoot()
            return (mean, 1.96 * sd / Double(acc.count).squareRoot())
        }
        let rows: [[Value]] = (0..<L).map { b in
            let pr = stats(probeRight[(b * T + first)..<((b + 1) * T)]), lr = stats(lensRight[(b * T + first)..<((b + 1) * T)])
            return [.int(b + 1), .float(pr.0), .float(pr.1), .float(lr.0), .float(lr.1)]
        }
        let t = TableObject(columns: ["block", "probe_acc", "probe_ci95", "lens_acc", "lens_ci95"], rows: rows,
                            title: "\(layer): probe vs lens accuracy (%), mean over image-token positions with 95% CI, \(n) images\(coverage(p))")
        t.part = p
        return t
    }

    // MARK: class_context

    static func classContext(_ p: Part, name: String, permutations: [[Int]]? = nil) throws -> Value {
        let L = try p.config("depth", name: name), N = try p.config("patches", name: name)
        if let given = p.arguments["permutations"], permutations == nil {
            throw CoreError("\(name): its permutation tests used permutations given to class_context (\(given.prefix(90))), which a part does not hold: run class_context without permutations: to save or merge its result")
        }
        guard let shuffles = Int(try p.argument("shuffles", name: name)), shuffles >= 1, shuffles <= Part.maxShuffles else {
            throw CoreError("\(name): field arguments.shuffles must be an integer in 1...\(Part.maxShuffles)")
        }
        guard let seed = UInt64(try p.argument("seed", name: name)) else { throw CoreError("\(name): field arguments.seed must be an unsigned integer") }
        let n = p.items.count
        var s = try p.floats("s", shape: [L, N], rows: true, name: name)
        if let i = s.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
            throw CoreError("\(name): field statistics.s[\(i / (L * N)), \((i / N) % L), \(i % N)] is \(s[i]), not in 0...1 (s = 1 - rank/classes)")
        }
        // s = 1 - rank/C lies on a grid of 1/C; the driver computes it in float32, so each
        // value is put back on the grid in double precision: the permutation tests count
        // ties (equal sums of ranks), which float32 rounding would split
        let C = Double(try p.config("classes", name: name))
        for i in s.indices {
            let rank = ((1 - s[i]) * C).rounded()
            guard abs((1 - s[i]) * C - rank) < 0.25 else {   // float32 s: at C = 10^6 classes, 0.06 ranks off
                throw CoreError("\(name): field statistics.s[\(i / (L * N)), \((i / N) % L), \(i % N)] is \(s[i]), not 1 - rank/\(Int(C)) for a whole rank")
            }
            s[i] = 1 - rank / C
        }
        if let perms = permutations, let bad = perms.first(where: { $0.count != p.items.count * N }) {
            throw CoreError("\(name): permutations must be [S, \(p.items.count * N)] (one index for each image token of the data), got rows of \(bad.count)")
        }
        let d = try p.floats("logit_change", shape: [L, N], rows: true, name: name)
        // a change of the class's lens logit: finite (nan where a token is missing)
        if let i = d.firstIndex(where: { $0.isInfinite }) {
            throw CoreError("\(name): field statistics.logit_change[\(i / (L * N)), \((i / N) % L), \(i % N)] is \(d[i]), not a finite logit change")
        }
        let mask = try p.ints("mask", shape: [N], rows: true, name: name)
        guard mask.allSatisfy({ $0 <= 1 }) else { throw CoreError("\(name): field statistics.mask must hold 0 or 1") }
        let removal = try p.floats("removal", shape: [6], rows: true, name: name)
        if let i = removal.firstIndex(where: { $0.isInfinite || (!$0.isNaN && ($0 < 0 || $0 > 100)) }) {
            throw CoreError("\(name): field statistics.removal[\(i)] must be a percentage (or nan for a skipped image), got \(removal[i])")
        }
        // an image has removal rates exactly when it has class and context patches
        for i in 0..<n {
            let kinds = Set(mask[(i * N)..<((i + 1) * N)])
            let row = removal[(i * 6)..<((i + 1) * 6)]
            let skipped = row.allSatisfy(\.isNaN)
            guard skipped || !row.contains(where: \.isNaN) else {
                throw CoreError("\(name): field statistics.removal[\(i)]: holds NaN beside rates (an image is either measured or skipped)")
            }
            guard skipped == (kinds.count < 2) else {
                throw CoreError("\(name): field statistics.removal[\(i)]: \(skipped ? "NaN (skipped)" : "rates") for an image whose mask has \(kinds.count < 2 ? "no class or no context patches" : "both class and context patches")")
            }
        }
        var sClass = [[Double]](repeating: [], count: L), sContext = sClass, dClass = sClass, dContext = sClass
        var rem = [[Double]](repeating: [], count: 6)
        for i in 0..<n {
            for b in 0..<L {
                for j in 0..<N {
                    let isClass = mask[i * N + j] == 1
                    let v = s[(i * L + b) * N + j]
                    if isClass { sClass[b].append(v) } else { sContext[b].append(v) }
                    if b >= 1 {
                        let dv = d[(i * L + b) * N + j]
                        if isClass { dClass[b].append(dv) } else { dContext[b].append(dv) }
                    }
                }
            }
            if !removal[i * 6].isNaN { for r in 0..<6 { rem[r].append(removal[i * 6 + r]) } }
        }
        func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
        var idRows: [[Value]] = [], lcRows: [[Value]] = []
        // no class or no context tokens (an empty shard, or masks of one kind): no test, nil
        func test(_ a: [Double], _ b: [Double], seed: UInt64) throws -> [Value] {
            guard !a.isEmpty, !b.isEmpty else { return [.nil, .nil] }
            // NaN activations (warned of when they were met): no test, and the means say nan
            if a.contains(where: \.isNaN) || b.contains(where: \.isNaN) { return [.float(.nan), .float(.nan)] }
            let t = try Stats.permutationTest(a, b, shuffles: shuffles, seed: seed, permutations: permutations)
            return [.float(t.difference), .float(t.pValue)]
        }
        for b in 0..<L {
            idRows.append([.int(b + 1), .float(mean(sClass[b])), .float(mean(sContext[b]))] + (try test(sClass[b], sContext[b], seed: seed &+ UInt64(b))))
            if b >= 1 {
                lcRows.append([.int(b + 1), .float(mean(dClass[b])), .float(mean(dContext[b]))] + (try test(dClass[b], dContext[b], seed: seed &+ UInt64(100 + b))))
            }
        }
        let names = ["unperturbed: CLS", "unperturbed: class tokens", "unperturbed: context tokens",
                     "context removed: CLS", "context removed: class tokens", "class removed: context tokens"]
        let remRows: [[Value]] = (0..<6).map { [.string(names[$0]), .float(mean(rem[$0])), .int(rem[$0].count)] }
        let tables = [
            TableObject(columns: ["block", "s_class", "s_context", "difference", "p"], rows: idRows,
                        title: "class vs context identifiability (s = 1 - rank/C), permutation test (\(permutations.map { "\($0.count) given permutations" } ?? "\(shuffles) shuffles"), one-sided)\(coverage(p))"),
            TableObject(columns: ["block", "class", "context", "difference", "p"], rows: lcRows,
                        title: "true-class logit change p_c(attn_out[b]) - p_c(resid_post[b-1]), permutation test\(coverage(p))"),
            TableObject(columns: ["tokens", "identifiable_pct", "images"], rows: remRows,
                        title: "token removal at the last block (% with the true class top-1, mean over images)\(coverage(p))"),
        ]
        // with given permutations the part cannot reproduce the tests: the tables save as
        // tables (.csv, .json of the rows), not as a part that load_part would refuse
        for t in tables { t.part = permutations == nil ? p : nil }
        return .dict([("identifiability", .object(tables[0])), ("logit_change", .object(tables[1])), ("removal", .object(tables[2]))])
    }
}

// MARK: - vls merge

extension Builtins {
    /// `vls merge PARTS... -o OUT [--partial]`: checks that the parts partition one run,
    /// merges them and writes the merged part (.json) or the finished table (.csv).
    /// Returns a one-line summary.
    @discardableResult
    public static func mergeParts(_ paths: [String], output: String, partial: Bool = false) throws -> String {
        guard !paths.isEmpty else { throw CoreError("no part files given") }
        // as cp and mv: the output's folder must exist (a typo is not a new folder)
        let folder = Paths.folder(of: output)
        var isDir: ObjCBool = false
        if !folder.isEmpty, !(FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) && isDir.boolValue) {
            throw CoreError("-o \(output): the folder \(folder) does not exist (vls merge creates no folders; mkdir -p \(folder) first)")
        }
        var seen: [String: String] = [:]   // "dev:ino" -> path
        func key(_ path: String) -> String? {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            return "\(st.st_dev):\(st.st_ino)"
        }
        let outKey = key(output)
        for p in paths {
            guard let k = key(p) else { throw CoreError("\(p): cannot read (\(String(cString: strerror(errno))))") }
            if k == outKey {
                throw CoreError("the output \(output) is also among the inputs (as \(p)): it would count an earlier merged result as a part; leave it out of the inputs (e.g. out/part-*.json) or write elsewhere")
            }
            if let other = seen[k] { throw CoreError("\(p) and \(other) are the same file, given twice") }
            seen[k] = p
        }
        // One part at a time: each is read, checked against the parts before it (one run's
        // partition; errors name both parts), its statistics must make a result of its
        // analysis, and, when all its statistics are sums, it is added to the running total
        // and dropped, so N parts of sums take the memory of two, not N. Per-image rows
        // are kept until the end (all of them together are at most one part's cap).
        var total: (name: String, part: Part)?
        var held: [(name: String, part: Part)] = []
        var owner: [Int: String] = [:]
        for path in paths {
            let p = try PartFile.read(path)
            if let (firstName, first) = total ?? held.first {
                try PartMerge.checkSameRun((firstName, first), (path, p))
                for k in p.shards { if let other = owner[k] { throw CoreError("shard \(k)/\(p.shardCount) is given twice: in \(other) and in \(path)") } }
                if !held.isEmpty {
                    held.append((path, p))
                } else {
                    total = (firstName, try PartMerge.merge([(firstName, first), (path, p)], partial: true))
                }
            } else if p.statistics.values.contains(where: { $0.combine == .rows }) {
                held.append((path, p))
            } else {
                total = (path, p)
            }
            for k in p.shards { owner[k] = path }
            _ = try PartResults.finish(p, name: path)
        }
        let merged: Part
        if let total {
            merged = try PartMerge.merge([total], partial: partial)   // the missing-shard check
        } else {
            merged = try PartMerge.merge(held, partial: partial)
        }
        _ = try PartResults.finish(merged, name: "the merged result")   // the result must build
        try PartResults.write(merged, to: output)
        let missing = merged.missingShards.isEmpty ? "" : "; missing shards \(PartMerge.ranges(merged.missingShards)) (recorded in the result)"
        return "merged \(paths.count) part\(paths.count == 1 ? "" : "s") of \(merged.analysis): shards \(PartMerge.ranges(merged.shards)) of \(merged.shardCount), \(merged.items.count) of \(merged.dataset.selected) images\(missing) -> \(output)"
    }

    /// Kept for callers of the first version.
    public static func mergePartials(_ parts: [String], output: String) throws {
        try mergeParts(parts, output: output, partial: false)
    }
}

/// The statistics of a Stdlib driver (a dict of tensors or numbers) as a part's statistics,
/// shaped and typed by the analysis's schema: per-image statistics (`rows`) have one row
/// per image of the data (this shard's), counts must be whole numbers.
func partStatistics(_ analysis: String, _ given: DictRef, images: Int, function: String) throws -> [String: PartStatistic] {
    guard let schema = PartSchema.analyses[analysis] else { throw RuntimeError("\(function): no mergeable analysis '\(analysis)'") }
    var out: [String: PartStatistic] = [:]
    for (k, v) in zip(given.keys, given.values) {
        guard case .string(let key) = k, let stat = schema.statistics[key] else {
            throw RuntimeError("\(function): statistic \(keyText(k)) is not one of \(analysis)'s (\(schema.statistics.keys.sorted().joined(separator: ", ")))")
        }
        guard let t = try? tensorValue(v) else { throw RuntimeError("\(function): statistic '\(key)' must be a tensor or a number, got \(v.typeName)") }
        let c = t.contiguous()
        if stat.rows {
            guard c.rank >= 1, c.shape[0] == images else {
                throw RuntimeError("\(function): statistic '\(key)' holds one row per image: shape [\(images), ...], got \(c.shape)")
            }
        }
        let shape = c.shape
        let values = UnsafeBufferPointer(start: c.pointer, count: c.count)
        switch stat.type {
        case .int:
            var ints = [Int](repeating: 0, count: c.count)
            for (i, x) in values.enumerated() {
                guard x.isFinite, x == x.rounded(), abs(x) < 16_777_216 else {
                    throw RuntimeError("\(function): statistic '\(key)' counts, so it holds whole numbers below 2^24; element \(i) is \(x)")
                }
                ints[i] = Int(x)
            }
            out[key] = .counts(ints, shape: shape, rows: stat.rows)
        case .float:
            out[key] = .sums(values.map(Double.init), shape: shape, rows: stat.rows)
        }
    }
    if let missing = schema.statistics.keys.sorted().first(where: { out[$0] == nil }) {
        throw RuntimeError("\(function): statistic '\(missing)' of \(analysis) is missing")
    }
    return out
}

/// Probes from their sufficient statistics over `data`: solved, unless the set is one shard
/// of several (then the statistics are kept for .save, vls merge and load_part(path, model:));
/// the part is kept only for a training set marked sharded.
func trainedProbes(_ part: Part, model m: ModelObject, data: DatasetObject, name: String) throws -> Value {
    let solved: Value
    if (data.shardSpec?.count ?? 1) > 1 {
        guard let layer = [HookPoint.Kind.residPost, .attnOut, .mlpOut].first(where: { $0.shortName == part.arguments["layer"] }),
              let alpha = Double(part.arguments["alpha"] ?? "") else { throw RuntimeError("\(name): layer and alpha must be recorded") }
        solved = .object(ProbesObject(model: m, kind: layer, alpha: alpha, solver: part.arguments["solver"] ?? "", probes: [], trainImages: data.indices.count))
    } else {
        solved = try bridged { try PartResults.finish(part, name: name, model: m) }
    }
    guard case .object(let o as ProbesObject) = solved else { throw RuntimeError("\(name): the statistics did not make probes") }
    o.part = data.sharded ? part : nil
    return .object(o)
}

/// A fused streaming pass of an analysis (identifiability_pass, memory_pass): the Stdlib
/// driver feeds it batches with `.add(images, labels)` and hands it to finish_analysis as
/// the statistics. Counts stay integers and sums doubles (no float32 tensors between).
final class AnalysisPass: DeclaredObject {
    let analysis: String
    let model: ModelObject
    private let addBatch: (Tensor, [Int]) throws -> Void
    private let collect: () -> [String: PartStatistic]
    /// Images added so far.
    private(set) var images = 0
    /// Extra facts of the pass for the driver's arguments (memory_pass: the random classes).
    let facts: [(String, Value)]

    init(_ analysis: String, model: ModelObject, facts: [(String, Value)] = [],
         add: @escaping (Tensor, [Int]) throws -> Void, statistics: @escaping () -> [String: PartStatistic]) {
        self.analysis = analysis; self.model = model; self.facts = facts; addBatch = add; collect = statistics
        NaNWatch.reset()   // a new pass is a new analysis: its NaN warning is its own
    }

    var typeName: String { "pass" }
    func describe() -> String { "<\(analysis) pass, \(images) images>" }
    var statistics: [String: PartStatistic] { collect() }

    static let members: Members<AnalysisPass> = bridgedMembers("pass")
        .method("pass.add(images: tensorlike, labels: classes)", "Adds a batch: images [B, 3, H, W] preprocessed for the pass's model, labels [B] (its class indices).") { o, a in
            let x = try a.tensor(0, "images")
            guard x.rank == 4 else { throw RuntimeError("\(o.analysis) pass: images must be [B, 3, H, W], got \(x.shape)") }
            let labels = try classIndices(try a.value(1, "labels"), images: x.shape[0], classes: o.model.c.numClasses, function: "\(o.analysis) pass")
            try bridged { try o.addBatch(x, labels) }
            o.images += labels.count
            return .nil
        }
        .property("images", "Images added so far.") { o, _ in .int(o.images) }
        .property("facts", "What the pass decided that its driver records (memory_pass: random_classes), as a dict.") { o, _ in .dict(DictRef(o.facts)) }
}

/// A dict key in a message: a string quoted, anything else by its type.
private func keyText(_ k: Value) -> String {
    if case .string(let s) = k { return "'\(s.prefix(60))'" }
    return k.typeName
}

/// An argument's record in a part: a tensor by its shape and SHA-256 (shards that used other
/// masks or permutations are not merged), anything else as printed.
func partArgument(_ v: Value, _ interpreter: Interpreter) -> String {
    // probes by their weights' digest (a description does not tell two probe sets apart)
    if case .object(let p as ProbesObject) = v { return "\(p.describe()), sha256 \(p.weightDigest)" }
    let t: Tensor
    switch v {
    case .object(let o as TensorObject): t = o.tensor
    case .list: guard let l = try? tensorValue(v) else { return interpreter.str(v) }; t = l
    default: return interpreter.str(v)
    }
    let c = t.contiguous()
    var h = SHA256()
    h.update("\(c.shape);")
    h.update(UnsafeRawBufferPointer(start: UnsafeRawPointer(c.pointer), count: c.count * MemoryLayout<Float>.size))
    return "given \(c.shape), sha256 \(h.hexDigest())"
}

/// `load_part(path)`: the result a part file (one shard or a merge) holds.
func partBuiltins(_ session: Session) -> [NativeFunction] {
    [
        native("require_shard", "require_shard(data: dataset, analysis: string)", area: "metrics",
               "Errors when the run is sharded (vls run --shard K/N, N > 1) but `data` is not (every shard would repeat all of it): the Stdlib's analysis drivers call it before their work, naming themselves as `analysis`; also when the selection holds no images. It starts the analysis's NaN warnings afresh (each call warns once).") { a in
            NaNWatch.reset()
            let data = try a.object(0, "data", as: DatasetObject.self, expected: "dataset")
            let analysis = try a.string(1, "analysis")
            try data.requireImages(analysis)
            try requireSharded(data, session: session, analysis)
            return .nil
        },
        native("finish_analysis", "finish_analysis(analysis: string, model: model, data: dataset, arguments: dict, statistics, *, function: string = nil, permutations: tensorlike = nil)", area: "metrics",
               "The result of a Stdlib analysis driver from the statistics it gathered over `data` (this shard's images under `vls run --shard K/N`): the statistics (a dict of tensors, or an analysis pass fed every batch) become a part (`analysis`'s schema: Sources/VLSCore/Parts.swift), finished by the same code as `vls merge` and `load_part`; the result's `.save(path)` writes the part. `function` names the driver in messages; `permutations` ([S, n] index permutations) replace class_context's seeded shuffles.") { a in
            let analysis = try a.string(0, "analysis")
            let function = try a.string(nil, "function", default: analysis)
            let m = try a.model(1)
            let data = try a.object(2, "data", as: DatasetObject.self, expected: "dataset")
            // no images at all: every rate would be 0/0 (a shard may be empty, its selection not)
            try data.requireImages(function)
            guard case .dict(let given) = try a.value(3, "arguments") else { throw RuntimeError("\(function): arguments must be a dict") }
            var arguments: [String: String] = [:]
            for (k, v) in zip(given.keys, given.values) {
                guard case .string(let key) = k else { throw RuntimeError("\(function): argument names must be strings, got \(keyText(k))") }
                arguments[key] = partArgument(v, a.interpreter)
            }
            let statistics: [String: PartStatistic]
            switch try a.value(4, "statistics") {
            case .dict(let d): statistics = try partStatistics(analysis, d, images: data.indices.count, function: function)
            case .object(let pass as AnalysisPass):
                // what the pass did is recorded as it did it: a driver's arguments that say
                // otherwise (probes of attn_out labelled resid_post) are an error
                for (k, v) in pass.facts {
                    let did = partArgument(v, a.interpreter)
                    if let said = arguments[k], said != did {
                        throw RuntimeError("\(function): arguments say \(k) = \(said.prefix(60)), but the pass ran with \(did.prefix(60))")
                    }
                    arguments[k] = did
                }
                guard pass.analysis == analysis else { throw RuntimeError("\(function): statistics come from a \(pass.analysis) pass, not \(analysis)") }
                guard pass.model === m else { throw RuntimeError("\(function): the pass ran another model object than `model`") }
                guard pass.images == data.indices.count else {
                    throw RuntimeError("\(function): the pass saw \(pass.images) images, the data holds \(data.indices.count) (this shard's)")
                }
                statistics = pass.statistics
            case let v: throw RuntimeError("\(function): statistics must be a dict of tensors or an analysis pass, got \(v.typeName)")
            }
            var perms: [[Int]]?
            if let p = try a.optionalTensor(nil, "permutations") {
                guard analysis == "class_context" else { throw RuntimeError("\(function): permutations are class_context's only") }
                perms = try permutationRows(p, function: function)
                if let sh = data.shardSpec, sh.count > 1 {
                    throw RuntimeError("\(function): permutations given in a sharded run (--shard \(sh.index)/\(sh.count)): the merged result would draw its own; give them unsharded")
                }
                arguments["permutations"] = partArgument(a.optional(nil, "permutations") ?? .nil, a.interpreter)
            }
            let part = try makePart(analysis, arguments, model: m, data: data, session: session, statistics: statistics)
            try bridged { try part.validate(function) }   // what a save and a merge would check, now
            if analysis == "probes" { return try trainedProbes(part, model: m, data: data, name: function) }
            return try bridged { try PartResults.finish(part, name: function, permutations: perms) }
        },
        native("load_part", "load_part(path: string, model: model = nil)", area: "metrics",
               "The result held by a part file written by `.save(path)` in a sharded run or by `vls merge` (metrics, a table, a perturbation curve, class_context's tables, or, with `model:`, probes solved from merged sufficient statistics), checked field by field.") { a in
            let path = try a.string(0, "path")
            var model: ModelObject?
            if let mv = a.optional(nil, "model") {
                guard case .object(let o as ModelObject) = mv else { throw a.badArgument(nil, "model", expected: "model", got: mv) }
                model = o
            }
            let part = try bridged { try PartFile.read(path) }
            if part.analysis == "probes" && model == nil {
                throw RuntimeError("load_part: \(path) holds probe statistics; solve them with load_part(path, model: m)")
            }
            return try bridged { try PartResults.finish(part, name: path, model: model) }
        },
    ]
}
