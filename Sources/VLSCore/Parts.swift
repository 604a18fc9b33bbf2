import Foundation
import VLSFiles

// MARK: - The part format

/// One mergeable partial result of a sharded run (`vls run --shard K/N`), version 2:
///
///     { "format": "vls-part", "version": 1,
///       "analysis": "identifiability", "arguments": {"mode": "correct", ...},
///       "shard_count": N, "shards": [K], "missing_shards": [],
///       "dataset": {"name": ..., "split": ..., "size": ..., "selection": "take(10)", "selected": 10, "digest": ...},
///       (digest: SHA-256 of the data's identity: tensors' bytes and labels, a folder's file
///       list with sizes and labels, Fashion-MNIST's labels; equal digests = the same images)
///       "model": {"sha256": ..., "config": {...}, "summary": ..., "seed": 0},
///       "items": [positions in the selection this part covers],
///       "statistics": {"name": {"combine": "sum"|"rows", "type": "int"|"float", "shape": [...],
///                               "ints": [...] | "floats": [...]}} }
///
/// Image i of the selection belongs to shard (i mod N) + 1, so `items` is fixed by
/// `shards`; a merged file lists every shard it holds (all N unless `--partial`).
/// "sum" statistics add elementwise (integer counts exactly, with overflow checks);
/// "rows" statistics hold one row per item (axis 0) and are put back in dataset order.
/// Version 2 (this one): read by a strict reader (unknown fields, duplicate keys and
/// out-of-range numbers refused), no per-statistic "finite" flag (which statistics may hold
/// NaN is fixed by the analysis, `PartSchema`), a content digest for every dataset.
public struct Part: Codable, Equatable {
    public static let formatName = "vls-part"
    public static let currentVersion = 2
    /// Most elements all statistics of a part may hold together (8 bytes each once read),
    /// and the largest selection a part may declare.
    public static let maxElements = 1 << 26
    public static let maxItems = 1 << 31
    public static let maxShards = 1 << 20
    /// Most shuffles of a permutation test a part may ask for (merge runs them: a part must
    /// not make it run for hours); the analyses refuse more at run time too.
    public static let maxShuffles = 100_000

    public struct DatasetIdentity: Codable, Equatable {
        public var name: String
        public var split: String?
        /// Images in the whole dataset, before any selection.
        public var size: Int
        /// The selection applied before sharding ("" when none), e.g. "take(10).per_class(2)".
        public var selection: String
        /// Images after the selection (the set the shards partition).
        public var selected: Int
        /// SHA-256 of the data's identity (see above).
        public var digest: String?
        public init(name: String, split: String?, size: Int, selection: String, selected: Int, digest: String?) {
            self.name = name; self.split = split; self.size = size; self.selection = selection; self.selected = selected; self.digest = digest
        }
    }

    public struct ModelIdentity: Codable, Equatable {
        /// SHA-256 of the weight bytes (ViT.weightDigest).
        public var sha256: String
        /// Architecture numbers the analyses need (depth, classes, tokens, ...).
        public var config: [String: Int]
        public var summary: String
        /// The run's `--seed`.
        public var seed: UInt64
        public init(sha256: String, config: [String: Int], summary: String, seed: UInt64) {
            self.sha256 = sha256; self.config = config; self.summary = summary; self.seed = seed
        }
    }

    public var format: String
    public var version: Int
    public var analysis: String
    public var arguments: [String: String]
    public var shardCount: Int
    public var shards: [Int]
    public var missingShards: [Int]
    public var dataset: DatasetIdentity
    public var model: ModelIdentity
    public var items: [Int]
    public var statistics: [String: PartStatistic]

    enum CodingKeys: String, CodingKey {
        case format, version, analysis, arguments, shards, dataset, model, items, statistics
        case shardCount = "shard_count", missingShards = "missing_shards"
    }

    public init(analysis: String, arguments: [String: String], shard: (index: Int, count: Int),
                dataset: DatasetIdentity, model: ModelIdentity, statistics: [String: PartStatistic]) {
        format = Self.formatName; version = Self.currentVersion
        self.analysis = analysis; self.arguments = arguments
        shardCount = shard.count; shards = [shard.index]
        missingShards = (1...shard.count).filter { $0 != shard.index }
        self.dataset = dataset; self.model = model
        items = Self.positions(selected: dataset.selected, shards: [shard.index], of: shard.count)
        self.statistics = statistics
    }

    /// Every field as read (PartReader); `validate` checks them.
    init(analysis: String, arguments: [String: String], shardCount: Int, shards: [Int], missingShards: [Int],
         dataset: DatasetIdentity, model: ModelIdentity, items: [Int], statistics: [String: PartStatistic]) {
        format = Self.formatName; version = Self.currentVersion
        self.analysis = analysis; self.arguments = arguments; self.shardCount = shardCount; self.shards = shards
        self.missingShards = missingShards; self.dataset = dataset; self.model = model; self.items = items; self.statistics = statistics
    }

    /// Positions of the selection that the given shards (1-based, of `n`) hold.
    public static func positions(selected: Int, shards: [Int], of n: Int) -> [Int] {
        if n == 1 { return shards.contains(1) ? Array(0..<selected) : [] }
        let set = Set(shards)
        var out: [Int] = []
        for k in set.sorted() where k >= 1 && k <= n {
            out += Array(stride(from: k - 1, to: selected, by: n))
        }
        return out.sorted()
    }

    /// The items of a shard K/N, counted without building them.
    public static func count(selected: Int, shard k: Int, of n: Int) -> Int {
        selected > k - 1 ? (selected - k) / n + 1 : 0
    }
}

public struct PartStatistic: Codable, Equatable {
    public enum Combine: String, Codable { case sum, rows }
    public enum Scalar: String, Codable { case int, float }
    public var combine: Combine
    public var type: Scalar
    public var shape: [Int]
    public var ints: [Int]?
    public var floats: [Double]?

    public static func counts(_ v: [Int], shape: [Int], rows: Bool = false) -> PartStatistic {
        PartStatistic(combine: rows ? .rows : .sum, type: .int, shape: shape, ints: v, floats: nil)
    }
    public static func sums(_ v: [Double], shape: [Int], rows: Bool = false) -> PartStatistic {
        PartStatistic(combine: rows ? .rows : .sum, type: .float, shape: shape, ints: nil, floats: v)
    }

    var elementCount: Int { type == .int ? (ints?.count ?? 0) : (floats?.count ?? 0) }
}

// MARK: - Reading and validation

public enum PartFile {
    /// Parts are read whole; larger files are refused before reading.
    public static let maxBytes = 1 << 30

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    /// The JSON of a part, after checking it (never a raw encoding error).
    public static func encode(_ part: Part, name: String) throws -> Data {
        try part.validate(name)
        do { return try encoder().encode(part) } catch {
            throw CoreError("\(name): cannot encode the part (\(describe(error)))")
        }
    }

    public static func write(_ part: Part, to path: String) throws {
        let data = try encode(part, name: path)
        // a part too large to read back is refused now, not when the shards are merged
        guard data.count <= maxBytes else {
            throw CoreError("\(path): the part would take \(data.count) bytes, more than a part file may hold (\(maxBytes)); use fewer images per shard (more shards)")
        }
        try AtomicFile.write(data, to: path)
    }

    /// Decodes and validates a part; every refusal names `name` and the field. Arrays are
    /// decoded only after their lengths are checked against what the part declares, so a
    /// part's memory is its bytes plus 8 bytes per declared element (at most `Part.maxElements`).
    public static func decode(_ data: Data, name: String) throws -> Part {
        let part: Part
        do { part = try PartReader(data: data, name: name).part() } catch let e as PartJSON.SyntaxError {
            throw CoreError("\(name): not a valid vls part file: \(e.message)")
        }
        try part.validate(name)
        return part
    }

    public static func read(_ path: String) throws -> Part {
        var st = stat()
        guard stat(path, &st) == 0 else { throw CoreError(Files.failure(path, errno).message) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CoreError("\(path): not a regular file") }
        guard Int(st.st_size) <= maxBytes else { throw CoreError("\(path): \(st.st_size) bytes, more than a part file may hold (\(maxBytes))") }
        // mapped, not copied: the reader keeps no copy of the text
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else { throw CoreError(whyUnreadable(path).message) }
        return try decode(data, name: path)
    }

    /// A decoding error in our words: which field, what was wrong (no Swift type dumps).
    static func describe(_ error: Error) -> String {
        func path(_ p: [CodingKey]) -> String {
            let s = p.map { k in k.intValue.map { "[\($0)]" } ?? ".\(k.stringValue)" }.joined()
            return s.isEmpty ? "the top level" : "field " + (s.hasPrefix(".") ? String(s.dropFirst()) : s)
        }
        switch error {
        case DecodingError.keyNotFound(let key, let ctx): return "\(path(ctx.codingPath + [key])) is missing"
        case DecodingError.typeMismatch(_, let ctx): return "\(path(ctx.codingPath)) has the wrong type or is out of range"
        case DecodingError.valueNotFound(_, let ctx): return "\(path(ctx.codingPath)) is null"
        case DecodingError.dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? "not JSON" : "\(path(ctx.codingPath)) holds an invalid value"
        case EncodingError.invalidValue(_, let ctx): return "\(path(ctx.codingPath)) holds a value JSON cannot store"
        case let e as CoreError: return e.message
        default: return "unreadable"
        }
    }
}

extension Part {
    /// Every field checked before use: format and version, shards, dataset, model, the
    /// items fixed by the shards, and every statistic against its declared shape.
    public func validate(_ name: String) throws {
        func fail(_ field: String, _ why: String) -> CoreError { CoreError("\(name): field \(field): \(why)") }
        guard format == Self.formatName else { throw fail("format", "is '\(format.prefix(40))', not '\(Self.formatName)'") }
        guard version == Self.currentVersion else {
            throw fail("version", "part format version \(version) is not supported (this vls reads version \(Self.currentVersion))")
        }
        guard !analysis.isEmpty, analysis.count <= 100 else { throw fail("analysis", "must name the analysis") }
        guard shardCount >= 1, shardCount <= Self.maxShards else { throw fail("shard_count", "must be in 1...\(Self.maxShards), got \(shardCount)") }
        guard !shards.isEmpty else { throw fail("shards", "is empty") }
        for (i, k) in shards.enumerated() {
            guard k >= 1, k <= shardCount else { throw fail("shards[\(i)]", "shard \(k) is not in 1...\(shardCount)") }
            if i > 0 && shards[i - 1] >= k { throw fail("shards", "must be strictly increasing (shard \(k) repeated or out of order)") }
        }
        let given = Set(shards)   // once, not per shard number (a million shards was quadratic)
        let expectedMissing = shards.count == shardCount ? [] : (1...shardCount).filter { !given.contains($0) }
        guard missingShards == expectedMissing else { throw fail("missing_shards", "does not match shards \(shards) of \(shardCount)") }
        let d = dataset
        guard d.size >= 0, d.size <= Self.maxItems else { throw fail("dataset.size", "must be in 0...\(Self.maxItems), got \(d.size)") }
        guard d.selected >= 0, d.selected <= d.size else { throw fail("dataset.selected", "must be in 0...\(d.size) (dataset.size), got \(d.selected)") }
        guard d.name.count <= 4096, d.selection.count <= 4096 else { throw fail("dataset", "name or selection too long") }
        guard isDigest(model.sha256) else { throw fail("model.sha256", "must be 64 lowercase hex digits") }
        if let dg = d.digest, !isDigest(dg) { throw fail("dataset.digest", "must be 64 lowercase hex digits") }
        for (k, v) in model.config where v < 0 || v > Self.maxItems { throw fail("model.config.\(k)", "must be in 0...\(Self.maxItems), got \(v)") }
        // the shape numbers results are built from (a table row per block, arrays per token):
        // bounded far above any ViT, so that a forged part cannot make a result of 2^31 rows
        for (k, most) in [("depth", 1024), ("tokens", 1 << 16), ("patches", 1 << 16), ("prefix_tokens", 1 << 16), ("classes", 1 << 24)] {
            if let v = model.config[k], v > most { throw fail("model.config.\(k)", "must be at most \(most), got \(v)") }
        }
        // items: exactly the positions of the listed shards, in order
        var expected = 0
        for k in shards { expected += Part.count(selected: d.selected, shard: k, of: shardCount) }
        guard items.count == expected else {
            throw fail("items", "holds \(items.count) positions; shards \(shards) of \(shardCount) over \(d.selected) selected images hold \(expected)")
        }
        let shardSet = Set(shards)
        for (i, p) in items.enumerated() {
            guard p >= 0, p < d.selected else { throw fail("items[\(i)]", "position \(p) is outside the selection (0..<\(d.selected))") }
            if i > 0 && items[i - 1] >= p { throw fail("items", "must be strictly increasing (position \(p) repeated or out of order)") }
            guard shardSet.contains(p % shardCount + 1) else { throw fail("items[\(i)]", "position \(p) belongs to shard \(p % shardCount + 1), not to shards \(shards)") }
        }
        // what the analysis holds is fixed by the analysis, not by the part: its arguments,
        // its statistics (kind and whether NaN is a value), then its counts' invariants
        guard let schema = PartSchema.analyses[analysis] else {
            throw fail("analysis", "unknown analysis '\(analysis.prefix(60))' (vls writes \(PartSchema.analyses.keys.sorted().joined(separator: ", ")))")
        }
        for k in schema.arguments where arguments[k] == nil { throw fail("arguments.\(k)", "is missing (\(analysis) parts hold it)") }
        let unknownArguments = arguments.keys.filter { !schema.arguments.contains($0) && !schema.optionalArguments.contains($0) }.sorted()
        if !unknownArguments.isEmpty { throw fail("arguments", "unknown argument\(unknownArguments.count == 1 ? "" : "s") \(unknownArguments.prefix(5).map { "'\($0.prefix(40))'" }.joined(separator: ", ")) for \(analysis)") }
        let unknownStatistics = statistics.keys.filter { schema.statistics[$0] == nil }.sorted()
        if !unknownStatistics.isEmpty { throw fail("statistics", "unknown statistic\(unknownStatistics.count == 1 ? "" : "s") \(unknownStatistics.prefix(5).map { "'\($0.prefix(40))'" }.joined(separator: ", ")) for \(analysis)") }
        for key in schema.statistics.keys.sorted() {
            let want = schema.statistics[key]!
            guard let s = statistics[key] else { throw fail("statistics.\(key)", "is missing (\(analysis) parts hold it)") }
            guard s.type == want.type, (s.combine == .rows) == want.rows else {
                throw fail("statistics.\(key)", "must be \(want.rows ? "rows" : "sum") of \(want.type.rawValue), got \(s.combine.rawValue) of \(s.type.rawValue)")
            }
            try s.validate(name, field: "statistics.\(key)", rows: items.count, nan: want.nan)
        }
        if let shuffles = arguments["shuffles"] {
            guard let v = Int(shuffles), v >= 1, v <= Self.maxShuffles else {
                throw fail("arguments.shuffles", "must be an integer in 1...\(Self.maxShuffles), got '\(shuffles.prefix(40))'")
            }
        }
    }

    func isDigest(_ s: String) -> Bool { s.utf8.count == 64 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }
}

extension PartStatistic {
    /// `nan`: the analysis stores NaN as a value here (e.g. a skipped image); otherwise every float must be finite.
    func validate(_ name: String, field: String, rows: Int, nan: Bool) throws {
        func fail(_ why: String) -> CoreError { CoreError("\(name): field \(field): \(why)") }
        guard shape.count <= 8 else { throw fail("rank \(shape.count) is more than 8") }
        var n = 1
        for (i, s) in shape.enumerated() {
            guard s >= 0 else { throw fail("shape[\(i)] is negative (\(s))") }
            let (p, o) = n.multipliedReportingOverflow(by: s)
            guard !o, p <= Part.maxElements else { throw fail("shape \(shape) declares more than \(Part.maxElements) elements") }
            n = p
        }
        if combine == .rows {
            guard let first = shape.first, first == rows else {
                throw fail("a rows statistic needs shape[0] = \(rows) (one row per item), got shape \(shape)")
            }
        }
        switch type {
        case .int:
            guard floats == nil else { throw fail("an int statistic holds floats") }
            guard let v = ints else { throw fail("ints are missing") }
            guard v.count == n else { throw fail("holds \(v.count) values, shape \(shape) declares \(n)") }
            if let i = v.firstIndex(where: { $0 < 0 }) { throw fail("count [\(i)] is negative (\(v[i]))") }
        case .float:
            guard ints == nil else { throw fail("a float statistic holds ints") }
            guard let v = floats else { throw fail("floats are missing") }
            guard v.count == n else { throw fail("holds \(v.count) values, shape \(shape) declares \(n)") }
            if let i = v.firstIndex(where: { nan ? $0.isInfinite : !$0.isFinite }) { throw fail("value [\(i)] is \(v[i]), not finite") }
        }
    }
}

// MARK: - What each analysis holds

/// The arguments and statistics of each mergeable analysis, and which statistics may hold
/// NaN: decided here, by the analysis, never by the part.
public enum PartSchema {
    public struct Statistic { public let type: PartStatistic.Scalar; public let rows: Bool; public let nan: Bool }
    public struct Analysis { public let arguments: [String]; public let optionalArguments: [String]; public let statistics: [String: Statistic] }

    static func ints(_ keys: [String], rows: Bool = false) -> [String: Statistic] {
        Dictionary(uniqueKeysWithValues: keys.map { ($0, Statistic(type: .int, rows: rows, nan: false)) })
    }
    static func floats(_ keys: [String], rows: Bool = false, nan: Bool = false) -> [String: Statistic] {
        Dictionary(uniqueKeysWithValues: keys.map { ($0, Statistic(type: .float, rows: rows, nan: nan)) })
    }

    public static let analyses: [String: Analysis] = [
        "identifiability": Analysis(arguments: ["mode", "label"], optionalArguments: [], statistics:
            ints(["images", "correct", "identifiable_tokens", "images_with_identifiable", "cls_identifiable", "hist_cls", "hist_image",
                  "block_increase", "attn_increase_cls", "attn_increase_image", "mlp_increase_cls", "mlp_increase_image",
                  "m6_attn", "m6_mlp", "m6_prev", "m6_none"]).merging(floats(["sum_s_cls", "sum_s_image"])) { a, _ in a }),
        "compare_random": Analysis(arguments: ["seed", "mode"], optionalArguments: [], statistics: ints(["ranks_trained", "ranks_random"], rows: true)),
        "memories": Analysis(arguments: ["k", "seed", "shuffles", "mode", "random_classes", "random_classes_given"], optionalArguments: [], statistics:
            ints(["agree", "agree_random", "tokens", "composed", "composed_total"]).merging(ints(["correct", "cls_agree"], rows: true)) { a, _ in a }),
        "perturbation": Analysis(arguments: ["method", "order", "seeds"], optionalArguments: ["loss", "probes"], statistics: ints(["images", "correct"])),
        "class_context": Analysis(arguments: ["shuffles", "seed", "masks"], optionalArguments: ["permutations"], statistics:
            floats(["s"], rows: true).merging(ints(["mask"], rows: true)) { a, _ in a }
                .merging(floats(["logit_change"], rows: true, nan: true)) { a, _ in a }   // nan: activations holding NaN
                .merging(floats(["removal"], rows: true, nan: true)) { a, _ in a }),   // nan: an image without class or context patches
        "probes": Analysis(arguments: ["layer", "alpha", "solver", "tol"], optionalArguments: [], statistics:
            ints(["n"]).merging(floats(["sum_x", "sum_y", "sum_yy", "xtx", "xty"], nan: true)) { a, _ in a }),   // nan: activations holding NaN (warned of)
        "probe_evaluation": Analysis(arguments: ["layer", "probes"], optionalArguments: [], statistics: ints(["images", "probe_right", "lens_right"])),
    ]
}

// MARK: - Merging

public enum PartMerge {
    /// Merges parts of one sharded run (files named for messages) into one part. Refuses
    /// anything that is not a partition: another analysis, arguments, dataset, selection,
    /// model or shard count, a shard given twice, and (unless `partial`) a missing shard.
    public static func merge(_ parts: [(name: String, part: Part)], partial: Bool) throws -> Part {
        guard let (firstName, first) = parts.first else { throw CoreError("no parts to merge") }
        var owner: [Int: String] = [:]
        for k in first.shards { owner[k] = firstName }
        for (name, p) in parts.dropFirst() {
            try checkSameRun((firstName, first), (name, p))
            for k in p.shards {
                if let other = owner[k] { throw CoreError("shard \(k)/\(p.shardCount) is given twice: in \(other) and in \(name)") }
                owner[k] = name
            }
        }
        let n = first.shardCount
        let present = owner.keys.sorted()
        let missing = (1...n).filter { owner[$0] == nil }
        if !missing.isEmpty && !partial {
            throw CoreError("shards \(ranges(missing)) of \(n) are missing (given: \(ranges(present))); merge them all, or pass --partial to merge what is there and record the rest as missing")
        }
        var out = first
        out.shards = present
        out.missingShards = missing
        out.items = Part.positions(selected: first.dataset.selected, shards: present, of: n)
        for key in first.statistics.keys.sorted() {
            let f = first.statistics[key]!
            var s = f
            switch f.combine {
            case .sum:
                if f.type == .int {
                    var acc = f.ints!
                    for (name, p) in parts.dropFirst() {
                        let v = p.statistics[key]!.ints!
                        for i in acc.indices {
                            let (r, o) = acc[i].addingReportingOverflow(v[i])
                            if o { throw CoreError("\(name): statistics.\(key)[\(i)] overflows when added to the other parts (\(parts.map(\.name).joined(separator: ", ")))") }
                            acc[i] = r
                        }
                    }
                    s.ints = acc
                } else {
                    var acc = f.floats!
                    for (_, p) in parts.dropFirst() {
                        let v = p.statistics[key]!.floats!
                        for i in acc.indices { acc[i] += v[i] }
                    }
                    if let i = acc.firstIndex(where: { !$0.isFinite }) {
                        throw CoreError("statistics.\(key)[\(i)] overflows to \(acc[i]) when the parts are added (\(parts.map(\.name).joined(separator: ", ")))")
                    }
                    s.floats = acc
                }
            case .rows:
                // rows back in dataset order: position -> (part, row)
                let width = f.shape.dropFirst().reduce(1, *)
                var source: [(p: Int, row: Int, pos: Int)] = []
                for (pi, (_, p)) in parts.enumerated() {
                    for (r, pos) in p.items.enumerated() { source.append((pi, r, pos)) }
                }
                source.sort { $0.pos < $1.pos }
                guard source.count <= Part.maxElements, source.count * max(width, 1) <= Part.maxElements else {
                    throw CoreError("statistics.\(key): merged rows exceed \(Part.maxElements) elements")
                }
                s.shape = [source.count] + Array(f.shape.dropFirst())
                if f.type == .int {
                    var acc: [Int] = []
                    acc.reserveCapacity(source.count * width)
                    for e in source { acc += parts[e.p].part.statistics[key]!.ints![(e.row * width)..<((e.row + 1) * width)] }
                    s.ints = acc
                } else {
                    var acc: [Double] = []
                    acc.reserveCapacity(source.count * width)
                    for e in source { acc += parts[e.p].part.statistics[key]!.floats![(e.row * width)..<((e.row + 1) * width)] }
                    s.floats = acc
                }
            }
            out.statistics[key] = s
        }
        try out.validate("the merged result")
        return out
    }

    /// Refuses two parts of different runs (analysis, arguments, model, seed, dataset,
    /// selection, shard count, statistics' kinds and shapes), naming both.
    public static func checkSameRun(_ a: (name: String, part: Part), _ b: (name: String, part: Part)) throws {
        let (firstName, first) = a, (name, p) = b
        func differ(_ what: String, _ a: String, _ b: String) -> CoreError {
            CoreError("\(name) and \(firstName) are parts of different runs: \(what) \(b) vs \(a)")
        }
        if p.analysis != first.analysis { throw differ("analysis", first.analysis, p.analysis) }
        if p.arguments != first.arguments { throw differ("arguments", describe(first.arguments), describe(p.arguments)) }
        if p.model.sha256 != first.model.sha256 { throw differ("model (weights sha256)", String(first.model.sha256.prefix(12)), String(p.model.sha256.prefix(12))) }
        if p.model.config != first.model.config || p.model.summary != first.model.summary { throw differ("model config", first.model.summary, p.model.summary) }
        if p.model.seed != first.model.seed { throw differ("seed", "\(first.model.seed)", "\(p.model.seed)") }
        if p.dataset.name != first.dataset.name || p.dataset.split != first.dataset.split || p.dataset.size != first.dataset.size
            || p.dataset.digest != first.dataset.digest {
            throw differ("dataset", "\(first.dataset.name) (\(first.dataset.size) images)", "\(p.dataset.name) (\(p.dataset.size) images)")
        }
        if p.dataset.selection != first.dataset.selection || p.dataset.selected != first.dataset.selected {
            throw differ("selection", "'\(first.dataset.selection)' (\(first.dataset.selected) images)", "'\(p.dataset.selection)' (\(p.dataset.selected) images)")
        }
        if p.shardCount != first.shardCount { throw differ("shard count", "\(first.shardCount)", "\(p.shardCount)") }
        if Set(p.statistics.keys) != Set(first.statistics.keys) {
            throw CoreError("\(name) and \(firstName) hold different statistics (\(p.statistics.keys.sorted()) vs \(first.statistics.keys.sorted()))")
        }
        for (key, s) in p.statistics {
            let f = first.statistics[key]!
            let same = s.combine == f.combine && s.type == f.type
                && (s.combine == .sum ? s.shape == f.shape : Array(s.shape.dropFirst()) == Array(f.shape.dropFirst()))
            if !same { throw CoreError("\(name) and \(firstName): statistics.\(key) differ in kind or shape (\(s.shape) vs \(f.shape))") }
        }
    }

    static func describe(_ a: [String: String]) -> String {
        "(" + a.keys.sorted().map { "\($0): \(a[$0]!)" }.joined(separator: ", ") + ")"
    }

    /// "1-3, 5" for [1, 2, 3, 5].
    public static func ranges(_ v: [Int]) -> String {
        var out: [String] = []
        var i = 0
        while i < v.count {
            var j = i
            while j + 1 < v.count && v[j + 1] == v[j] + 1 { j += 1 }
            out.append(j > i ? "\(v[i])-\(v[j])" : "\(v[i])")
            i = j + 1
        }
        return out.joined(separator: ", ")
    }
}

// MARK: - Reading statistics back

extension Part {
    /// A statistic of the expected kind and shape, or an error naming the part and field.
    public func ints(_ key: String, shape: [Int], rows: Bool = false, name: String) throws -> [Int] {
        let s = try stat(key, .int, shape: shape, rows: rows, name: name)
        return s.ints!
    }

    public func floats(_ key: String, shape: [Int], rows: Bool = false, name: String) throws -> [Double] {
        let s = try stat(key, .float, shape: shape, rows: rows, name: name)
        return s.floats!
    }

    func stat(_ key: String, _ type: PartStatistic.Scalar, shape: [Int], rows: Bool, name: String) throws -> PartStatistic {
        guard let s = statistics[key] else { throw CoreError("\(name): field statistics.\(key) is missing (\(analysis) parts hold it)") }
        let full = rows ? [items.count] + shape : shape
        guard s.type == type, s.combine == (rows ? .rows : .sum), s.shape == full else {
            throw CoreError("\(name): field statistics.\(key): expected \(rows ? "rows" : "sum") of \(type.rawValue) with shape \(full), got \(s.combine.rawValue) of \(s.type.rawValue) with shape \(s.shape)")
        }
        try s.validate(name, field: "statistics.\(key)", rows: items.count, nan: PartSchema.analyses[analysis]?.statistics[key]?.nan ?? false)
        return s
    }

    /// A model config number the analysis needs, or an error naming the part.
    public func config(_ key: String, name: String) throws -> Int {
        guard let v = model.config[key] else { throw CoreError("\(name): field model.config.\(key) is missing") }
        return v
    }

    public func argument(_ key: String, name: String) throws -> String {
        guard let v = arguments[key] else { throw CoreError("\(name): field arguments.\(key) is missing") }
        return v
    }
}

// MARK: - Model identity

extension ViT {
    /// SHA-256 over every weight tensor (name, shape, little-endian float bytes, in a fixed
    /// order): computed the first time a part is written, then cached for this load.
    public var weightDigest: String {
        weightDigestLock.lock()
        defer { weightDigestLock.unlock() }
        if let d = weightDigestCache { return d }
        var h = SHA256()
        func add(_ name: String, _ t: Tensor?) {
            guard let t else { h.update("\(name):absent;"); return }
            h.update("\(name):\(t.shape);")
            let c = t.contiguous()
            h.update(UnsafeRawBufferPointer(start: UnsafeRawPointer(c.pointer), count: c.count * MemoryLayout<Float>.size))
        }
        func add(_ name: String, _ l: Linear?) { add(name + ".weight", l?.weight); add(name + ".bias", l?.bias) }
        func add(_ name: String, _ n: Norm?) { add(name + ".weight", n?.weight); add(name + ".bias", n?.bias) }
        let w = weights
        add("patch_embed", w.patchEmbed)
        add("cls_token", w.clsToken); add("dist_token", w.distToken); add("reg_token", w.regToken)
        add("pos_embed", w.posEmbed); add("norm_pre", w.normPre)
        for (i, b) in w.blocks.enumerated() {
            add("blocks.\(i).norm1", b.norm1); add("blocks.\(i).qkv", b.qkv); add("blocks.\(i).proj", b.proj)
            add("blocks.\(i).norm2", b.norm2); add("blocks.\(i).fc1", b.fc1); add("blocks.\(i).fc2", b.fc2)
            add("blocks.\(i).ls1", b.ls1); add("blocks.\(i).ls2", b.ls2)
        }
        add("norm", w.norm); add("head", w.head); add("head_dist", w.headDist)
        let d = h.hexDigest()
        weightDigestCache = d
        return d
    }

    /// The config numbers parts record.
    public var partConfig: [String: Int] {
        let c = config
        return ["depth": c.depth, "width": c.width, "classes": c.numClasses, "tokens": c.numTokens,
                "prefix_tokens": c.numPrefixTokens, "patches": c.numPatches, "class_token": c.classToken ? 1 : 0,
                "image_size": c.imageSize, "patch_size": c.patchSize, "heads": c.heads]
    }
}
