import Foundation
import VLSFiles

/// The JSON header of a safetensors file, parsed straight from the mapped bytes.
///
/// Not JSONSerialization: that builds a Foundation object per value (a 95 MB header, within
/// the format's 100 MB limit, took over 5 GB), keeps the last of two equal keys, reads
/// `true` as 1 and refuses deep nesting as "not valid JSON". Here a duplicate key is an
/// error, only integers make a shape, and values the format does not use (inside an entry)
/// are skipped iteratively, so any depth is accepted without recursion.
struct SafetensorsHeaderParser {
    struct RawEntry {
        var dtype: String?
        var shape: [Int]?
        var offsets: [Int]?
    }

    var s: StrictJSONScanner
    let fail: (String) -> CoreError
    /// How syntax errors name the text ("the header", "the file") and where byte 0 of
    /// `bytes` sits in the file (8 for a safetensors header, after its length).
    var subject = "the header"
    var base = 8

    init(_ bytes: UnsafeRawBufferPointer, fail: @escaping (String) -> CoreError) {
        s = StrictJSONScanner(bytes)
        self.fail = fail
    }

    /// Hands each entry to `entry` in order of appearance (no list of them is built: a
    /// 95 MB header holds over a million); returns the `__metadata__` map. `entry` refuses
    /// a name it has seen (the caller's table is the only set of names).
    mutating func parse(_ each: (String, RawEntry) throws -> Void) throws -> [String: String] {
        do {
            return try parseObject(each)
        } catch let f as StrictJSONScanner.Failure {
            throw error(f, end: "unexpected end of the header")
        }
    }

    private mutating func parseObject(_ each: (String, RawEntry) throws -> Void) throws -> [String: String] {
        var metadata: [String: String]?
        s.skipSpace()
        guard s.next() == UInt8(ascii: "{") else { throw syntax("the header is not a JSON object") }
        s.skipSpace()
        if s.peek() == UInt8(ascii: "}") {
            s.i += 1
        } else {
            while true {
                s.skipSpace()
                let key = try s.string()
                try s.colon()
                if key == "__metadata__" {
                    guard metadata == nil else { throw fail("the header names '\(key)' twice") }
                    metadata = try stringMap(key)
                } else {
                    try each(key, try entry(key))
                }
                s.skipSpace()
                let c = s.next()
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "}") { break }
                throw syntax("expected ',' or '}'")
            }
        }
        s.skipSpace()
        guard s.i == s.bytes.count else { throw syntax("unexpected text after the header object") }
        return metadata ?? [:]
    }

    // MARK: - The format's values

    mutating func entry(_ key: String) throws -> RawEntry {
        s.skipSpace()
        guard s.next() == UInt8(ascii: "{") else { throw fail("entry '\(key)' is not an object") }
        var e = RawEntry()
        var seen = Set<String>()
        s.skipSpace()
        if s.peek() == UInt8(ascii: "}") { s.i += 1; return e }
        while true {
            s.skipSpace()
            let field = try s.string()
            guard seen.insert(field).inserted else { throw fail("tensor '\(key)' names '\(field)' twice") }
            try s.colon()
            s.skipSpace()
            switch field {
            case "dtype":
                guard s.peek() == UInt8(ascii: "\"") else { throw fail("tensor '\(key)' has no dtype") }
                e.dtype = try s.string()
            case "shape":
                guard let list = try intList() else { throw fail("tensor '\(key)' has an invalid shape (a list of non-negative integers)") }
                e.shape = list
            case "data_offsets":
                guard let list = try intList(), list.count == 2 else { throw fail("tensor '\(key)' has invalid data_offsets") }
                e.offsets = list
            default:
                try s.skipValue(strict: false)
            }
            s.skipSpace()
            let c = s.next()
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { return e }
            throw syntax("expected ',' or '}' in entry '\(key)'")
        }
    }

    mutating func stringMap(_ key: String) throws -> [String: String] {
        s.skipSpace()
        guard s.next() == UInt8(ascii: "{") else { throw fail("\(key) is not an object") }
        var out: [String: String] = [:]
        s.skipSpace()
        if s.peek() == UInt8(ascii: "}") { s.i += 1; return out }
        while true {
            s.skipSpace()
            let k = try s.string()
            guard out[k] == nil else { throw fail("\(key) names '\(k)' twice") }
            try s.colon()
            s.skipSpace()
            guard s.peek() == UInt8(ascii: "\"") else { throw fail("\(key) value '\(k)' is not a string") }
            out[k] = try s.string()
            s.skipSpace()
            let c = s.next()
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { return out }
            throw syntax("expected ',' or '}' in \(key)")
        }
    }

    /// A list of non-negative integers (`3` and `3.0` alike, as JSON numbers); nil when
    /// anything else is in it (`true`, `-1`, `2.5`, a string). Skips the value either way.
    mutating func intList() throws -> [Int]? {
        guard s.peek() == UInt8(ascii: "[") else { try s.skipValue(strict: false); return nil }
        s.i += 1
        var out: [Int] = []
        var valid = true
        s.skipSpace()
        if s.peek() == UInt8(ascii: "]") { s.i += 1; return out }
        while true {
            s.skipSpace()
            if let c = s.peek(), c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) {
                let text = s.text(try s.number())
                if let n = Int(text), n >= 0 {
                    out.append(n)
                } else if let d = Double(text), d >= 0, let n = Int(exactly: d) {
                    out.append(n)
                } else {
                    valid = false
                }
            } else {
                try s.skipValue(strict: false)
                valid = false
            }
            s.skipSpace()
            let c = s.next()
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "]") { return valid ? out : nil }
            throw syntax("expected ',' or ']'")
        }
    }

    // MARK: - Errors

    func syntax(_ why: String, at offset: Int? = nil) -> CoreError {
        fail("\(subject) is not valid JSON (\(why) at byte \(base + min(offset ?? s.i, s.bytes.count)))")
    }

    /// Checks that `bytes` is exactly one JSON value (RFC 8259, any depth, without
    /// recursion) in which no object names a key twice. JSONSerialization is lenient
    /// where a config must not be: it keeps the last of two equal keys (which one a
    /// reader takes differs between libraries, so a file could mean two models) and
    /// Foundation's parsers have accepted a trailing comma.
    mutating func checkDocument() throws {
        do {
            s.skipSpace()
            try s.skipValue(strict: true)
        } catch let f as StrictJSONScanner.Failure {
            throw error(f, end: "unexpected end")
        }
        s.skipSpace()
        guard s.i == s.bytes.count else { throw syntax("unexpected text after the value") }
    }

    /// The scanner's failure in this reader's words (`end`: what an unfinished value is
    /// called).
    func error(_ f: StrictJSONScanner.Failure, end: String) -> CoreError {
        let why: String
        switch f.problem {
        case .duplicateKey(let k):
            return fail("the key '\(escapingControlCharacters(k))' appears twice in one object (at byte \(base + f.offset)); JSON readers disagree on which one counts")
        case .expectedString: why = "expected a string"
        case .unterminatedString, .shortUnicodeEscape: why = "unterminated string"
        case .controlCharacter: why = "control character in a string"
        case .invalidEscape: why = "invalid escape in a string"
        case .badUnicodeEscape: why = "invalid \\u escape"
        case .unpairedSurrogate: why = "unpaired surrogate in a string"
        case .notUTF8: why = "a string is not valid UTF-8"
        case .stringTooLong: why = "a string is too long"
        case .numberDigits, .invalidLiteral: why = "invalid value"
        case .leadingZero, .fractionDigits, .exponentDigits: why = "invalid number"
        case .expectedColon: why = "expected ':'"
        case .expectedCommaOrBracket: why = "expected ',' or a closing bracket"
        case .trailingComma: why = "a trailing comma"
        case .unexpectedEnd: why = end
        }
        return syntax(why, at: f.offset)
    }
}
