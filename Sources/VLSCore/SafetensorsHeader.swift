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

    let bytes: UnsafeRawBufferPointer
    var i = 0
    let fail: (String) -> CoreError
    /// How syntax errors name the text ("the header", "the file") and where byte 0 of
    /// `bytes` sits in the file (8 for a safetensors header, after its length).
    var subject = "the header"
    var base = 8

    init(_ bytes: UnsafeRawBufferPointer, fail: @escaping (String) -> CoreError) {
        self.bytes = bytes
        self.fail = fail
    }

    /// Hands each entry to `entry` in order of appearance (no list of them is built: a
    /// 95 MB header holds over a million); returns the `__metadata__` map. `entry` refuses
    /// a name it has seen (the caller's table is the only set of names).
    mutating func parse(_ each: (String, RawEntry) throws -> Void) throws -> [String: String] {
        var metadata: [String: String]?
        skipSpace()
        guard next() == UInt8(ascii: "{") else { throw syntax("the header is not a JSON object") }
        skipSpace()
        if peek() == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipSpace()
                let key = try string()
                try colon()
                if key == "__metadata__" {
                    guard metadata == nil else { throw fail("the header names '\(key)' twice") }
                    metadata = try stringMap(key)
                } else {
                    try each(key, try entry(key))
                }
                skipSpace()
                let c = next()
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "}") { break }
                throw syntax("expected ',' or '}'")
            }
        }
        skipSpace()
        guard i == bytes.count else { throw syntax("unexpected text after the header object") }
        return metadata ?? [:]
    }

    // MARK: - The format's values

    mutating func entry(_ key: String) throws -> RawEntry {
        skipSpace()
        guard next() == UInt8(ascii: "{") else { throw fail("entry '\(key)' is not an object") }
        var e = RawEntry()
        var seen = Set<String>()
        skipSpace()
        if peek() == UInt8(ascii: "}") { i += 1; return e }
        while true {
            skipSpace()
            let field = try string()
            guard seen.insert(field).inserted else { throw fail("tensor '\(key)' names '\(field)' twice") }
            try colon()
            skipSpace()
            switch field {
            case "dtype":
                guard peek() == UInt8(ascii: "\"") else { throw fail("tensor '\(key)' has no dtype") }
                e.dtype = try string()
            case "shape":
                guard let list = try intList() else { throw fail("tensor '\(key)' has an invalid shape (a list of non-negative integers)") }
                e.shape = list
            case "data_offsets":
                guard let list = try intList(), list.count == 2 else { throw fail("tensor '\(key)' has invalid data_offsets") }
                e.offsets = list
            default:
                try skipValue()
            }
            skipSpace()
            let c = next()
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { return e }
            throw syntax("expected ',' or '}' in entry '\(key)'")
        }
    }

    mutating func stringMap(_ key: String) throws -> [String: String] {
        skipSpace()
        guard next() == UInt8(ascii: "{") else { throw fail("\(key) is not an object") }
        var out: [String: String] = [:]
        skipSpace()
        if peek() == UInt8(ascii: "}") { i += 1; return out }
        while true {
            skipSpace()
            let k = try string()
            guard out[k] == nil else { throw fail("\(key) names '\(k)' twice") }
            try colon()
            skipSpace()
            guard peek() == UInt8(ascii: "\"") else { throw fail("\(key) value '\(k)' is not a string") }
            out[k] = try string()
            skipSpace()
            let c = next()
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { return out }
            throw syntax("expected ',' or '}' in \(key)")
        }
    }

    /// A list of non-negative integers (`3` and `3.0` alike, as JSON numbers); nil when
    /// anything else is in it (`true`, `-1`, `2.5`, a string). Skips the value either way.
    mutating func intList() throws -> [Int]? {
        guard peek() == UInt8(ascii: "[") else { try skipValue(); return nil }
        i += 1
        var out: [Int] = []
        var valid = true
        skipSpace()
        if peek() == UInt8(ascii: "]") { i += 1; return out }
        while true {
            skipSpace()
            if let c = peek(), c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) {
                let text = try number()
                if let n = Int(text), n >= 0 {
                    out.append(n)
                } else if let d = Double(text), d >= 0, let n = Int(exactly: d) {
                    out.append(n)
                } else {
                    valid = false
                }
            } else {
                try skipValue()
                valid = false
            }
            skipSpace()
            let c = next()
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "]") { return valid ? out : nil }
            throw syntax("expected ',' or ']'")
        }
    }

    // MARK: - JSON grammar

    /// Skips one JSON value of any depth without recursion (an explicit stack of open
    /// containers), checking its syntax.
    mutating func skipValue() throws {
        var stack: [UInt8] = []
        while true {
            // A value starts here.
            skipSpace()
            guard let c = peek() else { throw syntax("unexpected end of the header") }
            var opened = false
            switch c {
            case UInt8(ascii: "{"):
                i += 1
                skipSpace()
                if peek() == UInt8(ascii: "}") { i += 1 } else {
                    stack.append(c)
                    _ = try string()
                    try colon()
                    opened = true
                }
            case UInt8(ascii: "["):
                i += 1
                skipSpace()
                if peek() == UInt8(ascii: "]") { i += 1 } else {
                    stack.append(c)
                    opened = true
                }
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: _ = try number()
            }
            if opened { continue }
            // After a value: close containers until one expects another value.
            closing: while let top = stack.last {
                skipSpace()
                let d = next()
                if d == UInt8(ascii: ",") {
                    if top == UInt8(ascii: "{") {
                        skipSpace()
                        _ = try string()
                        try colon()
                    }
                    break closing
                }
                if top == UInt8(ascii: "{") && d == UInt8(ascii: "}") || top == UInt8(ascii: "[") && d == UInt8(ascii: "]") {
                    stack.removeLast()
                    continue
                }
                throw syntax("expected ',' or a closing bracket")
            }
            if stack.isEmpty { return }
        }
    }

    mutating func string() throws -> String {
        guard next() == UInt8(ascii: "\"") else { throw syntax("expected a string") }
        var out: [UInt8] = []
        while true {
            guard let c = next() else { throw syntax("unterminated string") }
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw syntax("control character in a string") }
            if c != UInt8(ascii: "\\") { out.append(c); continue }
            guard let e = next() else { throw syntax("unterminated string") }
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard next() == UInt8(ascii: "\\"), next() == UInt8(ascii: "u") else { throw syntax("unpaired surrogate in a string") }
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw syntax("unpaired surrogate in a string") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw syntax("unpaired surrogate in a string")
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default: throw syntax("invalid escape in a string")
            }
        }
        let s = String(decoding: out, as: UTF8.self)
        guard s.utf8.count == out.count, s.utf8.elementsEqual(out) else { throw syntax("a string is not valid UTF-8") }
        return s
    }

    mutating func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let c = next() else { throw syntax("unterminated string") }
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw syntax("invalid \\u escape")
            }
            v = v * 16 + d
        }
        return v
    }

    /// A JSON number's text (grammar checked).
    mutating func number() throws -> String {
        let start = i
        func digits() -> Int {
            var n = 0
            while let c = peek(), c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { i += 1; n += 1 }
            return n
        }
        if peek() == UInt8(ascii: "-") { i += 1 }
        let first = peek()
        guard digits() > 0 else { throw syntax("invalid value") }
        if first == UInt8(ascii: "0"), i - start > (bytes[start] == UInt8(ascii: "-") ? 2 : 1) { throw syntax("invalid number") }
        if peek() == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw syntax("invalid number") }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            i += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw syntax("invalid number") }
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
    }

    mutating func literal(_ word: String) throws {
        for c in word.utf8 {
            guard next() == c else { throw syntax("invalid value") }
        }
    }

    mutating func colon() throws {
        skipSpace()
        guard next() == UInt8(ascii: ":") else { throw syntax("expected ':'") }
    }

    @inline(__always) func peek() -> UInt8? { i < bytes.count ? bytes[i] : nil }

    @inline(__always) mutating func next() -> UInt8? {
        guard i < bytes.count else { return nil }
        defer { i += 1 }
        return bytes[i]
    }

    @inline(__always) mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    func syntax(_ why: String) -> CoreError {
        fail("\(subject) is not valid JSON (\(why) at byte \(base + min(i, bytes.count)))")
    }

    /// Checks that `bytes` is exactly one JSON value (RFC 8259, any depth, without
    /// recursion) in which no object names a key twice. JSONSerialization is lenient
    /// where a config must not be: it keeps the last of two equal keys (which one a
    /// reader takes differs between libraries, so a file could mean two models) and
    /// Foundation's parsers have accepted a trailing comma.
    mutating func checkDocument() throws {
        var stack: [UInt8] = []
        var keys: [Set<String>] = []
        func key(_ k: String) throws {
            guard keys[keys.count - 1].insert(k).inserted else {
                throw fail("the key '\(escapingControlCharacters(k))' appears twice in one object (at byte \(base + i)); JSON readers disagree on which one counts")
            }
        }
        skipSpace()
        while true {
            skipSpace()
            guard let c = peek() else { throw syntax("unexpected end") }
            var opened = false
            switch c {
            case UInt8(ascii: "{"):
                i += 1
                skipSpace()
                if peek() == UInt8(ascii: "}") { i += 1 } else {
                    stack.append(c); keys.append([])
                    try key(try string())
                    try colon()
                    opened = true
                }
            case UInt8(ascii: "["):
                i += 1
                skipSpace()
                if peek() == UInt8(ascii: "]") { i += 1 } else {
                    stack.append(c)
                    opened = true
                }
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: _ = try number()
            }
            if opened { continue }
            closing: while let top = stack.last {
                skipSpace()
                let d = next()
                if d == UInt8(ascii: ",") {
                    skipSpace()
                    if peek() == UInt8(ascii: "}") || peek() == UInt8(ascii: "]") { throw syntax("a trailing comma") }
                    if top == UInt8(ascii: "{") {
                        try key(try string())
                        try colon()
                    }
                    break closing
                }
                if top == UInt8(ascii: "{") && d == UInt8(ascii: "}") || top == UInt8(ascii: "[") && d == UInt8(ascii: "]") {
                    if top == UInt8(ascii: "{") { keys.removeLast() }
                    stack.removeLast()
                    continue
                }
                throw syntax("expected ',' or a closing bracket")
            }
            if stack.isEmpty { break }
        }
        skipSpace()
        guard i == bytes.count else { throw syntax("unexpected text after the value") }
    }
}
