/// The byte-level grammar of JSON (RFC 8259) shared by vls's strict readers: the
/// safetensors header and config.json (SafetensorsHeader.swift) and part files
/// (PartJSON.swift). It reads strings (escapes, surrogate pairs, UTF-8 checked), numbers
/// (their text, checked) and whole values of any depth without recursion. It names no
/// file and words no message: it throws a `Failure` (what went wrong, at which byte), and
/// each reader says it in its own words (`SafetensorsHeaderParser.error`,
/// `PartJSON.message`).
struct StrictJSONScanner {
    enum Problem: Equatable {
        // strings
        case expectedString, unterminatedString, controlCharacter, invalidEscape
        case shortUnicodeEscape, badUnicodeEscape, unpairedSurrogate, notUTF8, stringTooLong
        // numbers
        case numberDigits, leadingZero, fractionDigits, exponentDigits
        // values (`literal`, `colon`, `skipValue`)
        case invalidLiteral, expectedColon, expectedCommaOrBracket, trailingComma, unexpectedEnd
        case duplicateKey(String)
    }

    /// A problem and the offset of the byte the scanner stood at (within `bytes`).
    struct Failure: Error {
        let problem: Problem
        let offset: Int
    }

    let bytes: UnsafeRawBufferPointer
    var i = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    func failure(_ problem: Problem) -> Failure { Failure(problem: problem, offset: i) }

    @inline(__always) func peek() -> UInt8? { i < bytes.count ? bytes[i] : nil }

    @inline(__always) mutating func next() -> UInt8? {
        guard i < bytes.count else { return nil }
        defer { i += 1 }
        return bytes[i]
    }

    @inline(__always) mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    func text(_ r: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self)
    }

    // MARK: - Strings and numbers

    /// A string, from its opening quote to past its closing one, escapes decoded. A
    /// decoded string over `maxBytes` is refused (checked at each escape and at the end).
    mutating func string(maxBytes: Int = .max) throws -> String {
        guard next() == UInt8(ascii: "\"") else { throw failure(.expectedString) }
        var out: [UInt8] = []
        while true {
            guard let c = next() else { throw failure(.unterminatedString) }
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw failure(.controlCharacter) }
            if c != UInt8(ascii: "\\") { out.append(c); continue }
            guard let e = next() else { throw failure(.unterminatedString) }
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
                    guard next() == UInt8(ascii: "\\"), next() == UInt8(ascii: "u") else { throw failure(.unpairedSurrogate) }
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw failure(.unpairedSurrogate) }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw failure(.unpairedSurrogate)
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default: throw failure(.invalidEscape)
            }
            guard out.count <= maxBytes else { throw failure(.stringTooLong) }
        }
        guard out.count <= maxBytes else { throw failure(.stringTooLong) }   // a run of plain bytes
        guard let s = String(validating: out, as: UTF8.self) else { throw failure(.notUTF8) }
        return s
    }

    mutating func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let c = next() else { throw failure(.shortUnicodeEscape) }
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw failure(.badUnicodeEscape)
            }
            v = v * 16 + d
        }
        return v
    }

    /// A JSON number's bytes (grammar checked, nothing decoded). Digits after a leading
    /// zero are read and refused as one number (`01`).
    mutating func number() throws -> Range<Int> {
        let start = i
        func digits() -> Int {
            var n = 0
            while let c = peek(), c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { i += 1; n += 1 }
            return n
        }
        if peek() == UInt8(ascii: "-") { i += 1 }
        if peek() == UInt8(ascii: "0") {
            i += 1
            if digits() > 0 { throw failure(.leadingZero) }
        } else {
            guard digits() > 0 else { throw failure(.numberDigits) }
        }
        if peek() == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw failure(.fractionDigits) }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            i += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw failure(.exponentDigits) }
        }
        return start..<i
    }

    // MARK: - Values

    mutating func literal(_ word: String) throws {
        for c in word.utf8 {
            guard next() == c else { throw failure(.invalidLiteral) }
        }
    }

    mutating func colon() throws {
        skipSpace()
        guard next() == UInt8(ascii: ":") else { throw failure(.expectedColon) }
    }

    /// Skips one JSON value of any depth without recursion (an explicit stack of open
    /// containers), checking its syntax. `strict`, for a whole document: a comma before a
    /// closing bracket is named a trailing comma, and an object that names a key twice is
    /// refused (JSONSerialization keeps the last of two equal keys, and which one a reader
    /// takes differs between libraries, so a file could mean two things).
    mutating func skipValue(strict: Bool) throws {
        var stack: [UInt8] = []
        var keys: [Set<String>] = []   // strict: the keys of each open object
        func key(_ scanner: inout StrictJSONScanner) throws {
            let k = try scanner.string()
            if strict, !keys[keys.count - 1].insert(k).inserted { throw scanner.failure(.duplicateKey(k)) }
            try scanner.colon()
        }
        while true {
            // A value starts here.
            skipSpace()
            guard let c = peek() else { throw failure(.unexpectedEnd) }
            var opened = false
            switch c {
            case UInt8(ascii: "{"):
                i += 1
                skipSpace()
                if peek() == UInt8(ascii: "}") { i += 1 } else {
                    stack.append(c)
                    if strict { keys.append([]) }
                    try key(&self)
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
                    skipSpace()
                    if strict, peek() == UInt8(ascii: "}") || peek() == UInt8(ascii: "]") { throw failure(.trailingComma) }
                    if top == UInt8(ascii: "{") { try key(&self) }
                    break closing
                }
                if top == UInt8(ascii: "{") && d == UInt8(ascii: "}") || top == UInt8(ascii: "[") && d == UInt8(ascii: "]") {
                    if strict && top == UInt8(ascii: "{") { keys.removeLast() }
                    stack.removeLast()
                    continue
                }
                throw failure(.expectedCommaOrBracket)
            }
            if stack.isEmpty { return }
        }
    }
}
