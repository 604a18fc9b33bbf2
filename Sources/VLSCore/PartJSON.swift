import Foundation

/// A strict reader for part files (no JSONDecoder: it kept a boxed copy of every number,
/// so a 400 MB part took 9 GB before any check, took the first of duplicate keys, ignored
/// unknown fields and called an out-of-range number "not JSON").
///
/// One pass checks the syntax and builds a small tree in which every array is kept as a
/// byte range of the file and an element count, never as values: the reader of the part
/// compares the count with what the part declares (its shape, its shards) and only then
/// decodes the numbers, straight into [Int] or [Double]. Objects refuse duplicate keys;
/// `PartJSON.Object` refuses keys its reader did not ask for. Arrays may hold only
/// numbers and the strings "nan", "inf", "-inf" (how vls writes non-finite floats).
public enum PartJSON {
    /// Deepest nesting a part needs is 4; anything deeper is refused (no stack overflow).
    static let maxDepth = 16
    /// Most fields of one object (a part's largest has about 20): the tree's nodes are
    /// bounded, so a file of millions of tiny fields cannot take many times its size.
    static let maxFields = 1000
    /// Most fields of all objects together (a part has a few hundred).
    static let maxTotalFields = 10_000

    public indirect enum Node {
        case object(Object)
        /// Byte range of the elements (between the brackets) and how many there are.
        case array(Range<Int>, count: Int)
        case string(String)
        /// The number's text, checked to be JSON syntax.
        case number(Range<Int>)
        case bool(Bool)
        case null
    }

    /// An object's members in file order; every key must be taken (`take`) or it is refused.
    public final class Object {
        let members: [(key: String, value: Node)]
        let path: String
        var taken: Set<String> = []
        init(_ members: [(key: String, value: Node)], path: String) { self.members = members; self.path = path }

        public var keys: [String] { members.map(\.key) }

        public func take(_ key: String) -> Node? {
            taken.insert(key)
            return members.first { $0.key == key }?.value
        }

        /// Refuses the keys nobody took, naming them (a versioned format has no unknown fields).
        public func finish(_ fail: (String, String) -> Error) throws {
            let unknown = members.map(\.key).filter { !taken.contains($0) }
            if !unknown.isEmpty {
                throw fail(path.isEmpty ? "the top level" : path,
                           "unknown field\(unknown.count == 1 ? "" : "s") \(unknown.prefix(5).map { "'\($0.prefix(60))'" }.joined(separator: ", ")) (not in part format version \(Part.currentVersion))")
            }
        }
    }

    public struct SyntaxError: Error { public let message: String }

    /// Parses `data` (its syntax, duplicate keys and nesting); numbers in arrays stay text.
    public static func parse(_ data: Data) throws -> Node {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Node in
            var p = Parser(s: StrictJSONScanner(raw))
            do {
                p.s.skipSpace()
                let v = try p.value(depth: 0, path: "")
                p.s.skipSpace()
                guard p.pos == p.s.bytes.count else { throw p.error("text after the JSON value") }
                return v
            } catch let f as StrictJSONScanner.Failure {
                throw p.error(message(for: f.problem), at: f.offset)
            }
        }
    }

    /// How the part reader words the scanner's problems.
    static func message(for problem: StrictJSONScanner.Problem) -> String {
        switch problem {
        case .unterminatedString: return "unterminated string"
        case .controlCharacter: return "a control character in a string"
        case .invalidEscape: return "an unknown escape in a string"
        case .shortUnicodeEscape: return "a short \\u escape"
        case .badUnicodeEscape: return "a bad \\u escape"
        case .unpairedSurrogate: return "a lone surrogate in a string"
        case .notUTF8: return "a string that is not UTF-8"
        case .stringTooLong: return "a string longer than 1 MiB"
        case .numberDigits: return "a number needs digits"
        case .leadingZero: return "a number with a leading zero"
        case .fractionDigits: return "a number needs digits after '.'"
        case .exponentDigits: return "a number needs digits in its exponent"
        // The scanner's value walker and literals: this reader walks values itself (`value`).
        case .expectedString, .invalidLiteral, .expectedColon, .expectedCommaOrBracket, .trailingComma, .unexpectedEnd, .duplicateKey:
            return "invalid JSON"
        }
    }

    struct Parser {
        var s: StrictJSONScanner
        var fields = 0

        var pos: Int {
            get { s.i }
            set { s.i = newValue }
        }

        func error(_ what: String, at offset: Int? = nil) -> SyntaxError {
            // line and column for a person to find it
            var line = 1, col = 1
            for i in 0..<min(offset ?? pos, s.bytes.count) { if s.bytes[i] == 10 { line += 1; col = 1 } else { col += 1 } }
            return SyntaxError(message: "not JSON at line \(line), column \(col): \(what)")
        }

        var peek: UInt8? { s.peek() }

        mutating func skipSpace() { s.skipSpace() }

        mutating func expect(_ word: String) throws {
            for b in word.utf8 {
                guard peek == b else { throw error("expected '\(word)'") }
                pos += 1
            }
        }

        mutating func value(depth: Int, path: String) throws -> Node {
            guard depth <= PartJSON.maxDepth else { throw error("nested deeper than \(PartJSON.maxDepth) levels") }
            guard let c = peek else { throw error("unexpected end of the file") }
            switch c {
            case UInt8(ascii: "{"): return .object(try object(depth: depth, path: path))
            case UInt8(ascii: "["): return try array(path: path)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw error("unexpected character '\(Character(Unicode.Scalar(c)))'")
            }
        }

        mutating func object(depth: Int, path: String) throws -> Object {
            pos += 1
            var members: [(key: String, value: Node)] = []
            var seen: Set<String> = []
            skipSpace()
            if peek == UInt8(ascii: "}") { pos += 1; return Object(members, path: path) }
            while true {
                skipSpace()
                guard peek == UInt8(ascii: "\"") else { throw error("expected a field name in quotes") }
                let key = try string()
                let field = path.isEmpty ? key : path + "." + key
                guard members.count < PartJSON.maxFields else {
                    throw SyntaxError(message: "field \(path.isEmpty ? "the top level" : String(path.prefix(200))) has more than \(PartJSON.maxFields) fields")
                }
                fields += 1
                guard fields <= PartJSON.maxTotalFields else {
                    throw SyntaxError(message: "more than \(PartJSON.maxTotalFields) fields in all (a part has a few hundred)")
                }
                guard seen.insert(key).inserted else {
                    throw SyntaxError(message: "field \(field.prefix(200)) is given twice (duplicate key)")
                }
                skipSpace()
                guard peek == UInt8(ascii: ":") else { throw error("expected ':' after \"\(key.prefix(60))\"") }
                pos += 1
                skipSpace()
                members.append((key, try value(depth: depth + 1, path: field)))
                skipSpace()
                if peek == UInt8(ascii: ",") { pos += 1; continue }
                if peek == UInt8(ascii: "}") { pos += 1; return Object(members, path: path) }
                throw error("expected ',' or '}'")
            }
        }

        /// An array of numbers (or "nan"/"inf"/"-inf"): checked and counted, not decoded.
        mutating func array(path: String) throws -> Node {
            pos += 1
            skipSpace()
            let start = pos
            var count = 0
            if peek == UInt8(ascii: "]") { pos += 1; return .array(start..<start, count: 0) }
            while true {
                skipSpace()
                guard let c = peek else { throw error("unexpected end of the file in an array") }
                if c == UInt8(ascii: "\"") {
                    let at = pos
                    let s = try string()
                    // exactly these bytes, no escapes (the number reader looks at the raw text)
                    guard (s == "nan" || s == "inf" || s == "-inf"), pos - at == s.utf8.count + 2 else {
                        throw SyntaxError(message: "field \(path)[\(count)]: expected a number, got the string \"\(s.prefix(40))\"")
                    }
                } else if c == UInt8(ascii: "-") || (c >= 48 && c <= 57) {
                    _ = try number()
                } else {
                    throw SyntaxError(message: "field \(path)[\(count)]: expected a number (part arrays hold only numbers)")
                }
                count += 1
                skipSpace()
                let end = pos
                if peek == UInt8(ascii: ",") { pos += 1; continue }
                if peek == UInt8(ascii: "]") { pos += 1; return .array(start..<end, count: count) }
                throw error("expected ',' or ']' in an array")
            }
        }

        mutating func number() throws -> Range<Int> {
            let r = try s.number()
            guard r.count <= 400 else { throw error("a number of more than 400 characters") }
            return r
        }

        mutating func string() throws -> String { try s.string(maxBytes: 1 << 20) }
    }

    // MARK: numbers, decoded only when asked (after the counts are checked)

    /// The integer the text holds, or nil when it is not an integer or does not fit in Int.
    static func integer(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Int? {
        var i = r.lowerBound
        let negative = b[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var v = 0
        while i < r.upperBound {
            let c = b[i]
            guard c >= 48, c <= 57 else { return nil }   // a fraction or exponent: not an integer
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(Int(c - 48)) : m.addingReportingOverflow(Int(c - 48))
            if o1 || o2 { return nil }
            v = s
            i += 1
        }
        return v
    }

    static func double(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Double? {
        if b[r.lowerBound] == UInt8(ascii: "\"") {   // "nan", "inf" or "-inf" (the parser allows no other string)
            if b[r.lowerBound + 1] == UInt8(ascii: "n") { return .nan }
            return b[r.lowerBound + 1] == UInt8(ascii: "-") ? -.infinity : .infinity
        }
        // the parser checked the JSON number syntax, and every array element is followed by
        // ',' or ']' inside the buffer: strtod stops there, no copy needed
        let start = UnsafeRawPointer(b.baseAddress! + r.lowerBound).assumingMemoryBound(to: CChar.self)
        var end: UnsafeMutablePointer<CChar>?
        let v = strtod(start, &end)
        guard let end, UnsafePointer(end) == start + r.count else { return nil }
        return v.isFinite ? v : nil   // JSON text never means inf: 1e999 is out of range
    }

    /// Calls `body` with the range of each element of an array node (strings include their quotes).
    static func elements(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ body: (Range<Int>) throws -> Void) rethrows {
        var i = r.lowerBound
        while i < r.upperBound {
            while i < r.upperBound, b[i] == 32 || b[i] == 9 || b[i] == 10 || b[i] == 13 || b[i] == UInt8(ascii: ",") { i += 1 }
            guard i < r.upperBound else { break }
            let s = i
            if b[i] == UInt8(ascii: "\"") {
                i += 1
                while b[i] != UInt8(ascii: "\"") { i += 1 }
                i += 1
            } else {
                while i < r.upperBound, b[i] != UInt8(ascii: ","), b[i] != 32, b[i] != 9, b[i] != 10, b[i] != 13 { i += 1 }
            }
            try body(s..<i)
        }
    }

    static func text(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: b[r.lowerBound..<min(r.upperBound, r.lowerBound + 40)]), as: UTF8.self)
    }
}

// MARK: - A part from the tree

/// Reads a `Part` from a part file's JSON: every field by name (missing, wrong type, out of
/// range, unknown and duplicate fields refused, naming the part and the field), arrays
/// decoded only after their lengths are checked.
struct PartReader {
    let data: Data
    let name: String

    func fail(_ field: String, _ why: String) -> CoreError { CoreError("\(name): field \(field): \(why)") }

    func part() throws -> Part {
        let root = try PartJSON.parse(data)
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Part in
            try read(root, raw.bindMemory(to: UInt8.self))
        }
    }

    func kind(_ n: PartJSON.Node) -> String {
        switch n {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "true/false"
        case .null: return "null"
        }
    }

    func read(_ root: PartJSON.Node, _ b: UnsafeBufferPointer<UInt8>) throws -> Part {
        func wrong(_ field: String, _ expected: String, _ n: PartJSON.Node) -> CoreError {
            CoreError("\(name): field \(field) has the wrong type: expected \(expected), got \(kind(n))")
        }
        func required(_ o: PartJSON.Object, _ key: String, _ field: String) throws -> PartJSON.Node {
            guard let v = o.take(key) else { throw CoreError("\(name): field \(field) is missing") }
            return v
        }
        func object(_ n: PartJSON.Node, _ field: String) throws -> PartJSON.Object {
            guard case .object(let o) = n else { throw wrong(field, "an object", n) }
            return o
        }
        func string(_ n: PartJSON.Node, _ field: String) throws -> String {
            guard case .string(let s) = n else { throw wrong(field, "a string", n) }
            return s
        }
        func number(_ r: Range<Int>, _ field: String) throws -> Int {
            guard let v = PartJSON.integer(b, r) else {
                let t = PartJSON.text(b, r)
                if t.contains(".") || t.contains("e") || t.contains("E") { throw fail(field, "expected an integer, got \(t)") }
                throw fail(field, "number \(t) is out of range (integers here are at most \(Int.max))")
            }
            return v
        }
        func int(_ n: PartJSON.Node, _ field: String) throws -> Int {
            guard case .number(let r) = n else { throw wrong(field, "an integer", n) }
            return try number(r, field)
        }
        func ints(_ n: PartJSON.Node, _ field: String, max: Int, what: String) throws -> [Int] {
            guard case .array(let r, let count) = n else { throw wrong(field, "an array of integers", n) }
            guard count <= max else { throw fail(field, "holds \(count) values, more than \(what) (\(max))") }
            var out: [Int] = []
            out.reserveCapacity(count)
            try PartJSON.elements(b, r) { e in
                guard b[e.lowerBound] != UInt8(ascii: "\"") else { throw fail("\(field)[\(out.count)]", "expected an integer, got \(PartJSON.text(b, e))") }
                out.append(try number(e, "\(field)[\(out.count)]"))
            }
            return out
        }
        func floats(_ n: PartJSON.Node, _ field: String, count expected: Int, shape: [Int]) throws -> [Double] {
            guard case .array(let r, let count) = n else { throw wrong(field, "an array of numbers", n) }
            guard count == expected else { throw fail(field, "holds \(count) values, shape \(shape) declares \(expected)") }
            var out: [Double] = []
            out.reserveCapacity(count)
            try PartJSON.elements(b, r) { e in
                guard let v = PartJSON.double(b, e) else { throw fail("\(field)[\(out.count)]", "number \(PartJSON.text(b, e)) is out of range (beyond ±\(Double.greatestFiniteMagnitude))") }
                out.append(v)
            }
            return out
        }
        func strings(_ n: PartJSON.Node, _ field: String) throws -> [String: String] {
            let o = try object(n, field)
            var out: [String: String] = [:]
            for k in o.keys { out[k] = try string(o.take(k)!, "\(field).\(k)") }
            guard out.count <= 100 else { throw fail(field, "more than 100 entries") }
            return out
        }

        let top = try object(root, "the top level")
        func topFail(_ f: String, _ w: String) -> Error { fail(f, w) }
        // format and version first: another version's fields are that version's business
        let format = try string(try required(top, "format", "format"), "format")
        guard format == Part.formatName else { throw fail("format", "is '\(format.prefix(40))', not '\(Part.formatName)'") }
        let version = try int(try required(top, "version", "version"), "version")
        guard version == Part.currentVersion else {
            throw fail("version", "part format version \(version) is not supported (this vls reads version \(Part.currentVersion); write the parts again with this vls)")
        }
        let analysis = try string(try required(top, "analysis", "analysis"), "analysis")
        let arguments = try strings(try required(top, "arguments", "arguments"), "arguments")
        let shardCount = try int(try required(top, "shard_count", "shard_count"), "shard_count")
        let shards = try ints(try required(top, "shards", "shards"), "shards", max: Part.maxShards, what: "the most shards")
        let missing = try ints(try required(top, "missing_shards", "missing_shards"), "missing_shards", max: Part.maxShards, what: "the most shards")

        let dn = try object(try required(top, "dataset", "dataset"), "dataset")
        func optionalString(_ o: PartJSON.Object, _ key: String, _ field: String) throws -> String? {
            guard let v = o.take(key) else { return nil }
            if case .null = v { return nil }
            return try string(v, field)
        }
        let dataset = Part.DatasetIdentity(
            name: try string(try required(dn, "name", "dataset.name"), "dataset.name"),
            split: try optionalString(dn, "split", "dataset.split"),
            size: try int(try required(dn, "size", "dataset.size"), "dataset.size"),
            selection: try string(try required(dn, "selection", "dataset.selection"), "dataset.selection"),
            selected: try int(try required(dn, "selected", "dataset.selected"), "dataset.selected"),
            digest: try optionalString(dn, "digest", "dataset.digest"))
        try dn.finish(topFail)
        guard dataset.selected >= 0, dataset.selected <= Part.maxItems else {
            throw fail("dataset.selected", "must be in 0...\(Part.maxItems), got \(dataset.selected)")
        }

        let mn = try object(try required(top, "model", "model"), "model")
        let sha = try string(try required(mn, "sha256", "model.sha256"), "model.sha256")
        let cn = try object(try required(mn, "config", "model.config"), "model.config")
        var config: [String: Int] = [:]
        for k in cn.keys { config[k] = try int(cn.take(k)!, "model.config.\(k)") }
        guard config.count <= 100 else { throw fail("model.config", "more than 100 entries") }
        let summary = try string(try required(mn, "summary", "model.summary"), "model.summary")
        let seedNode = try required(mn, "seed", "model.seed")
        guard case .number(let sr) = seedNode else { throw wrong("model.seed", "an unsigned integer", seedNode) }
        guard let seed = UInt64(PartJSON.text(b, sr)), sr.count <= 20 else {
            throw fail("model.seed", "number \(PartJSON.text(b, sr)) is out of range (an unsigned 64-bit integer)")
        }
        try mn.finish(topFail)

        // items: never more than the selection (the exact count is checked by validate)
        let items = try ints(try required(top, "items", "items"), "items", max: dataset.selected, what: "the images dataset.selected declares")

        let sn = try object(try required(top, "statistics", "statistics"), "statistics")
        var statistics: [String: PartStatistic] = [:]
        // every declared shape first, against the cap on all statistics together; then the arrays
        var total = 0
        for key in sn.keys {
            let field = "statistics.\(key)"
            guard case .object(let o) = sn.take(key)!, let sh = o.members.first(where: { $0.key == "shape" })?.value,
                  case .array(_, let rank) = sh, rank <= 8, let shape = try? ints(sh, field + ".shape", max: 8, what: "") else { continue }
            var n = 1
            for s in shape {
                let (p, over) = n.multipliedReportingOverflow(by: max(s, 0))
                if over { n = Part.maxElements + 1; break }
                n = min(p, Part.maxElements + 1)
            }
            total += n
            guard total <= Part.maxElements else { throw fail(field, "the statistics declare more than \(Part.maxElements) elements together") }
        }
        total = 0
        for key in sn.keys {
            let field = "statistics.\(key)"
            let o = try object(sn.take(key)!, field)
            let combineText = try string(try required(o, "combine", field + ".combine"), field + ".combine")
            guard let combine = PartStatistic.Combine(rawValue: combineText) else { throw fail(field + ".combine", "must be sum or rows, got '\(combineText.prefix(20))'") }
            let typeText = try string(try required(o, "type", field + ".type"), field + ".type")
            guard let type = PartStatistic.Scalar(rawValue: typeText) else { throw fail(field + ".type", "must be int or float, got '\(typeText.prefix(20))'") }
            let shape = try ints(try required(o, "shape", field + ".shape"), field + ".shape", max: 8, what: "the largest rank")
            var n = 1
            for (i, s) in shape.enumerated() {
                guard s >= 0 else { throw fail(field, "shape[\(i)] is negative (\(s))") }
                let (p, over) = n.multipliedReportingOverflow(by: s)
                guard !over, p <= Part.maxElements else { throw fail(field, "shape \(shape) declares more than \(Part.maxElements) elements") }
                n = p
            }
            total += n
            guard total <= Part.maxElements else { throw fail(field, "the statistics declare more than \(Part.maxElements) elements together") }
            var s = PartStatistic(combine: combine, type: type, shape: shape, ints: nil, floats: nil)
            switch type {
            case .int:
                guard let v = o.take("ints") else { throw fail(field, "ints are missing") }
                guard case .array(_, let count) = v else { throw wrong(field + ".ints", "an array of integers", v) }
                guard count == n else { throw fail(field, "holds \(count) values, shape \(shape) declares \(n)") }
                s.ints = try ints(v, field, max: n, what: "the shape declares")
            case .float:
                guard let v = o.take("floats") else { throw fail(field, "floats are missing") }
                s.floats = try floats(v, field, count: n, shape: shape)
            }
            if o.keys.contains(type == .int ? "floats" : "ints") { throw fail(field, "an \(type.rawValue) statistic holds \(type == .int ? "floats" : "ints")") }
            try o.finish(topFail)
            statistics[key] = s
        }
        try top.finish(topFail)
        return Part(analysis: analysis, arguments: arguments, shardCount: shardCount, shards: shards, missingShards: missing,
                    dataset: dataset, model: Part.ModelIdentity(sha256: sha, config: config, summary: summary, seed: seed),
                    items: items, statistics: statistics)
    }
}
