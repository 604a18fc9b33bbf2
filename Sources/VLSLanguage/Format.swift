#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How values are shown: `str` for print and interpolation, `repr` inside containers and
/// at the REPL. Floats print like Python (`0.1`, `1.0`, `1e-05`).
enum Format {
    static func str(_ v: Value) -> String {
        if case .string(let s) = v { return s }
        return repr(v)
    }

    static func repr(_ v: Value) -> String {
        var seen: Set<ObjectIdentifier> = []
        var out = ""
        repr(v, &seen, into: &out, depth: 0)
        return out
    }

    /// Nesting deeper than this prints as `[...]` (Python raises RecursionError near 1000).
    static let maxReprDepth = 10_000

    /// Appends to one buffer, so a deeply nested list prints in linear time.
    private static func repr(_ v: Value, _ seen: inout Set<ObjectIdentifier>, into out: inout String, depth: Int) {
        switch v {
        case .nil: out += "nil"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .float(let d): out += float(d)
        case .float32(let f): out += float32(f)
        case .string(let s): out += quote(s)
        case .list(let l):
            let id = ObjectIdentifier(l)
            if seen.contains(id) || depth > maxReprDepth { out += "[...]"; return }
            seen.insert(id)
            defer { seen.remove(id) }
            out += "["
            for (i, x) in l.items.enumerated() {
                if i > 0 { out += ", " }
                repr(x, &seen, into: &out, depth: depth + 1)
            }
            out += "]"
        case .dict(let d):
            let id = ObjectIdentifier(d)
            if seen.contains(id) || depth > maxReprDepth { out += "{...}"; return }
            seen.insert(id)
            defer { seen.remove(id) }
            out += "{"
            let (ks, vs) = (d.keys, d.values)
            for (i, k) in ks.enumerated() {
                if i > 0 { out += ", " }
                repr(k, &seen, into: &out, depth: depth + 1)
                out += ": "
                repr(vs[i], &seen, into: &out, depth: depth + 1)
            }
            out += "}"
        case .range(let r):
            out += r.step == 1 ? "range(\(r.start), \(r.stop))" : "range(\(r.start), \(r.stop), \(r.step))"
        case .function(let f): out += "<function \(f.name)>"
        case .native(let f): out += "<builtin \(f.name)>"
        case .object(let o): out += o.describe()
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if c.value < 0x20 { out += "\\u{\(String(c.value, radix: 16))}" } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }

    // MARK: - Excerpts of values in error messages

    /// How many characters of a value an error message echoes.
    static let excerptLength = 100

    /// A string quoted for an error message, at most `excerptLength` characters of it: a
    /// longer one ends in `"..." (N characters)` (int("9" * 100000) echoed 100 KB).
    static func quoteExcerpt(_ s: String) -> String {
        guard s.unicodeScalars.count > excerptLength else { return quote(s) }
        return quote(String(String.UnicodeScalarView(s.unicodeScalars.prefix(excerptLength)))) + "... (\(s.count) characters)"
    }

    /// At most `excerptLength` characters of `s` for an error message, "..." marking a cut.
    static func excerpt(_ s: String) -> String {
        guard s.unicodeScalars.count > excerptLength else { return s }
        return String(String.UnicodeScalarView(s.unicodeScalars.prefix(excerptLength))) + "..."
    }

    /// A value's repr for an error message, cut like `quoteExcerpt` (a long string, a big list).
    static func reprExcerpt(_ v: Value) -> String {
        if case .string(let s) = v { return quoteExcerpt(s) }
        let r = repr(v)
        guard r.unicodeScalars.count > 2 * excerptLength else { return r }
        return String(String.UnicodeScalarView(r.unicodeScalars.prefix(2 * excerptLength))) + "... (\(r.count) characters)"
    }

    /// Longest line of a native's error message; a longer one (a 100 KB path or name echoed)
    /// keeps its start and end around a mark saying how much was cut. error() and assert()
    /// messages are the script's own and never cut.
    static let maxMessageLine = 4096

    /// `message` with every line longer than `maxMessageLine` characters cut in the middle.
    static func bounded(_ message: String) -> String {
        guard message.utf8.count > maxMessageLine else { return message }
        return message.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let n = line.count
            guard n > maxMessageLine else { return String(line) }
            let head = maxMessageLine / 2, tail = 200
            return String(line.prefix(head)) + " ... [\(n - head - tail) characters cut] ... " + String(line.suffix(tail))
        }.joined(separator: "\n")
    }

    /// Python's float repr: shortest round-trip digits, scientific below 1e-4 and from 1e16.
    static func float(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        return shortest(d.description, maxExponent: 16)
    }

    /// numpy's str of an np.float32: the shortest digits that round-trip in float32,
    /// positional for 1e-4 <= |x| < 1e6 (0.895, 3.0), scientific otherwise (1e-06,
    /// 1.2345679e+08).
    static func float32(_ f: Float) -> String {
        if f.isNaN { return "nan" }
        if f.isInfinite { return f < 0 ? "-inf" : "inf" }
        if f == 0 { return f.sign == .minus ? "-0.0" : "0.0" }
        // numpy decides by the value (float32 0.0001 is 9.9999997e-05, below 1e-4: "1e-04").
        let a = Double(abs(f))
        return shortest(f.description, maxExponent: 6, scientific: a < 1e-4 || a >= 1e6)
    }

    /// Python's repr layout of a shortest round-trip description (Swift's `description` of
    /// a Double or Float): positional when -4 <= exponent < maxExponent, else d.ddde+XX.
    private static func shortest(_ description: String, maxExponent: Int, scientific: Bool? = nil) -> String {
        var s = description
        var neg = false
        if s.hasPrefix("-") { neg = true; s.removeFirst() }
        var mantissa = Substring(s)
        var exp = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = s[..<e]
            exp = Int(s[s.index(after: e)...]) ?? 0
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = parts.first.map(String.init) ?? ""
        let frac = parts.count > 1 ? String(parts[1]) : ""
        var digits = Array(intPart + frac)
        var point = intPart.count + exp
        while digits.count > 1 && digits.first == "0" { digits.removeFirst(); point -= 1 }
        while digits.count > 1 && digits.last == "0" { digits.removeLast() }
        let sciExp = point - 1
        var out: String
        if !(scientific ?? !(sciExp >= -4 && sciExp < maxExponent)) {
            if point <= 0 {
                out = "0." + String(repeating: "0", count: -point) + String(digits)
            } else if point >= digits.count {
                out = String(digits) + String(repeating: "0", count: point - digits.count) + ".0"
            } else {
                out = String(digits[..<point]) + "." + String(digits[point...])
            }
        } else {
            out = String(digits[0])
            if digits.count > 1 { out += "." + String(digits[1...]) }
            let a = abs(sciExp)
            out += "e" + (sciExp < 0 ? "-" : "+") + (a < 10 ? "0" : "") + String(a)
        }
        return neg ? "-" + out : out
    }

    /// A small subset of Python format specs: `[[fill]align][width][.precision][type]`
    /// with align `<`, `>`, `^`, and type `f`, `e`, `g`, `%`, `d`, `s`.
    static func apply(spec: String, to v: Value, _ interp: Interpreter) throws -> String {
        var chars = Array(spec)
        var fill: Character = " "
        var align: Character?
        if chars.count >= 2, "<>^".contains(chars[1]) { fill = chars[0]; align = chars[1]; chars.removeFirst(2) } else if let f = chars.first, "<>^".contains(f) { align = f; chars.removeFirst() }
        var zeroPad = false
        if chars.first == "0" { zeroPad = true }
        var width = 0
        while let c = chars.first, let d = c.wholeNumberValue, c.isASCII {
            width = width * 10 + d
            chars.removeFirst()
            if width > 10_000 { throw RuntimeError("format width too large in '\(excerpt(spec))'") }
        }
        var precision: Int?
        if chars.first == "." {
            chars.removeFirst()
            var p = 0
            var any = false
            while let c = chars.first, let d = c.wholeNumberValue, c.isASCII {
                p = p * 10 + d
                chars.removeFirst()
                any = true
                if p > 100 { throw RuntimeError("format precision too large in '\(excerpt(spec))'") }
            }
            if !any { throw RuntimeError("invalid format spec '\(excerpt(spec))'") }
            precision = p
        }
        let type = chars.first
        if chars.count > 1 { throw RuntimeError("invalid format spec '\(excerpt(spec))'") }
        var body: String
        func number() throws -> Double {
            switch v {
            case .int(let i): return Double(i)
            case .float(let d): return d
            case .float32(let f): return Double(f)
            case .bool(let b): return b ? 1 : 0
            default: throw RuntimeError("format spec '\(spec)' needs a number, got \(v.typeName)")
            }
        }
        switch type {
        case "f": body = fixed(try number(), precision ?? 6)
        case "%": body = fixed(try number() * 100, precision ?? 6) + "%"
        case "e": body = scientific(try number(), precision ?? 6)
        case "g":
            let x = try number()
            body = x == 0 ? "0" : cFormat("%.\(precision ?? 6)g", x)
        case "d":
            guard case .int(let i) = v else { throw RuntimeError("format spec 'd' needs an int, got \(v.typeName)") }
            body = String(i)
        case nil where precision != nil && { if case .float = v { return true }; if case .float32 = v { return true }; return false }():
            // Python's float format with a precision and no type: 'g' with at least one
            // digit after the point in fixed notation ('{2.0:.2}' is 2.0, '{1e20:.3}' 1e+20).
            // Scientific when the rounded exponent is below -4 or at least precision - 1 (the
            // digit after the point must fit in the precision).
            let x = try number(), p = max(precision ?? 1, 1)
            let sci = cFormat("%.\(p - 1)e", x)
            if !x.isFinite {
                body = cFormat("%g", x)
            } else if let e = sci.split(separator: "e").last.flatMap({ Int($0) }), e < -4 || e >= p - 1 {
                var parts = sci.split(separator: "e", maxSplits: 1).map(String.init)
                if parts[0].contains(".") {
                    while parts[0].hasSuffix("0") { parts[0].removeLast() }
                    if parts[0].hasSuffix(".") { parts[0].removeLast() }
                }
                body = parts[0] + "e" + parts[1]
            } else {
                body = cFormat("%.\(p)g", x)
                if !body.contains(".") { body += ".0" }
            }
        case nil where precision != nil && { if case .int = v { return true }; if case .bool = v { return true }; return false }():
            throw RuntimeError("precision not allowed in an integer format spec '\(excerpt(spec))' (as Python)")
        case "s", nil:
            do {
                body = interp.str(v)
                if let precision, type == "s" { body = String(body.prefix(precision)) }
            }
        default: throw RuntimeError("unknown format type '\(type.map(String.init) ?? "")' in '\(excerpt(spec))'")
        }
        let n = body.count
        if n >= width { return body }
        let pad = width - n
        let isNumber: Bool = { if case .int = v { return true }; if case .float = v { return true }; if case .float32 = v { return true }; return false }()
        if zeroPad && align == nil && isNumber {
            if body.hasPrefix("-") { return "-" + String(repeating: "0", count: pad) + body.dropFirst() }
            return String(repeating: "0", count: pad) + body
        }
        switch align ?? (isNumber ? ">" : "<") {
        case ">": return String(repeating: fill, count: pad) + body
        case "^": return String(repeating: fill, count: pad / 2) + body + String(repeating: fill, count: pad - pad / 2)
        default: return body + String(repeating: fill, count: pad)
        }
    }

    static func fixed(_ x: Double, _ p: Int) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x < 0 ? "-inf" : "inf" }
        return cFormat("%.\(min(p, 100))f", x)
    }

    static func scientific(_ x: Double, _ p: Int) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x < 0 ? "-inf" : "inf" }
        return cFormat("%.\(min(p, 100))e", x)
    }

    static func cFormat(_ fmt: String, _ x: Double) -> String {
        var buf = [CChar](repeating: 0, count: 512)
        _ = withVaList([x]) { vsnprintf(&buf, buf.count, fmt, $0) }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
