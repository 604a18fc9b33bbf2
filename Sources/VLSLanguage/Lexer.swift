/// Turns source text into tokens, with Python-style INDENT / DEDENT / NEWLINE tokens.
///
/// Newlines inside brackets are ignored; blank and comment-only lines produce nothing.
/// Errors are collected (never thrown) so the parser can report every problem at once.
struct Lexer {
    struct LexError { var message: String; var location: SourceLocation; var atEnd: Bool }

    private let chars: [Character]
    private var pos = 0
    private var line: Int
    private var column: Int
    private var tokens: [Token] = []
    private var indents: [Int] = [0]
    private var brackets: [(Character, SourceLocation)] = []
    private(set) var errors: [LexError] = []
    /// True when the lexer stopped inside an unterminated triple-quoted string.
    private(set) var unterminatedAtEnd = false
    /// The brackets still open at end of input (for completeness checks).
    var openBrackets: Int { brackets.count }

    init(_ source: String, line: Int = 1, column: Int = 1) {
        self.chars = Array(source)
        self.line = line
        self.column = column
    }

    static func tokenize(_ source: String) -> (tokens: [Token], errors: [LexError], lexer: Lexer) {
        var lexer = Lexer(source)
        let toks = lexer.run()
        return (toks, lexer.errors, lexer)
    }

    private var here: SourceLocation { SourceLocation(line: line, column: column) }
    private func peek(_ k: Int = 0) -> Character? { pos + k < chars.count ? chars[pos + k] : nil }

    @discardableResult
    private mutating func advance() -> Character {
        let c = chars[pos]
        pos += 1
        if c == "\n" { line += 1; column = 1 } else { column += 1 }
        return c
    }

    private mutating func error(_ message: String, _ loc: SourceLocation, atEnd: Bool = false) {
        errors.append(LexError(message: message, location: loc, atEnd: atEnd))
    }

    mutating func run() -> [Token] {
        var atLineStart = true
        while pos < chars.count {
            if atLineStart && brackets.isEmpty {
                atLineStart = false
                if handleIndentation() { continue }
            }
            guard let c = peek() else { break }
            if c == "\n" {
                let nlLoc = here
                advance()
                if !brackets.isEmpty && nextLineStartsStatement() {
                    // An unclosed bracket: resume statement structure so that the parser
                    // reports it here and carries on with the next statements.
                    brackets.removeAll()
                }
                if brackets.isEmpty {
                    if let last = tokens.last, last.kind != .newline {
                        tokens.append(Token(kind: .newline, text: "\n", location: nlLoc))
                    }
                    atLineStart = true
                }
                continue
            }
            if c == " " || c == "\t" || c == "\r" { advance(); continue }
            if c == "#" {
                // A NUL is refused in a comment too, as python3 refuses it anywhere.
                while let d = peek(), d != "\n" {
                    if d == "\0" { error(Lexer.nulMessage, here) }
                    advance()
                }
                continue
            }
            if c == "\\" && peek(1) == "\n" { advance(); advance(); continue }
            lexToken()
        }
        let end = here
        if !brackets.isEmpty {
            // The parser reports the unclosed bracket when it meets end of input.
        } else if let last = tokens.last, last.kind != .newline {
            tokens.append(Token(kind: .newline, text: "\n", location: end))
        }
        if brackets.isEmpty {
            while indents.count > 1 {
                indents.removeLast()
                tokens.append(Token(kind: .dedent, text: "", location: end))
            }
        }
        tokens.append(Token(kind: .eof, text: "", location: end))
        return tokens
    }

    /// Whether the line after a newline inside brackets can only be a new statement:
    /// it starts with a statement keyword or with `name =` (keyword arguments use ':').
    private func nextLineStartsStatement() -> Bool {
        var k = pos
        while k < chars.count, chars[k] == " " || chars[k] == "\t" { k += 1 }
        var word = ""
        while k < chars.count, chars[k].isLetter || chars[k].isNumber || chars[k] == "_" { word.append(chars[k]); k += 1 }
        if ["def", "while", "return", "import", "elif", "global", "pass", "break", "continue"].contains(word) { return true }
        if word.isEmpty || keywords.contains(word) { return false }
        while k < chars.count, chars[k] == " " || chars[k] == "\t" { k += 1 }
        guard k < chars.count, chars[k] == "=" else { return false }
        return k + 1 >= chars.count || chars[k + 1] != "="
    }

    /// Measures the indentation of a new line. Returns true if the line was blank.
    private mutating func handleIndentation() -> Bool {
        var width = 0
        var k = pos
        while k < chars.count, chars[k] == " " || chars[k] == "\t" {
            width += chars[k] == "\t" ? 4 - width % 4 : 1
            k += 1
        }
        // Blank or comment-only lines do not count.
        if k >= chars.count || chars[k] == "\n" || chars[k] == "#" || (chars[k] == "\r") {
            while pos < k { advance() }
            return false
        }
        while pos < k { advance() }
        let loc = here
        if width > indents[indents.count - 1] {
            indents.append(width)
            tokens.append(Token(kind: .indent, text: "", location: loc))
        } else {
            while width < indents[indents.count - 1] {
                indents.removeLast()
                tokens.append(Token(kind: .dedent, text: "", location: loc))
            }
            if width != indents[indents.count - 1] {
                error("unindent does not match any outer indentation level", loc)
                indents.append(width)
            }
        }
        return false
    }

    /// A NUL byte anywhere in the source (python3: "source code cannot contain null bytes").
    static let nulMessage = "a NUL byte (\\0) in the source: not a text file? (write \\0 for a NUL in a string)"

    private static let puncts3: Set<String> = ["**=", "//="]
    private static let puncts2: Set<String> = ["**", "//", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "=>"]
    private static let puncts1: Set<Character> = ["+", "-", "*", "/", "%", "@", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ":", ".", ";"]

    private mutating func lexToken() {
        let start = here
        guard let c = peek() else { return }
        if c.isLetter || c == "_" {
            if (c == "r" || c == "R"), let q = peek(1), q == "\"" || q == "'" {
                advance()
                lexString(start: start, raw: true)
                return
            }
            var s = ""
            while let d = peek(), d.isLetter || d.isNumber || d == "_" { s.append(advance()) }
            tokens.append(Token(kind: keywords.contains(s) ? .keyword : .name, text: s, location: start))
            return
        }
        if c.isASCII && c.isNumber || (c == "." && (peek(1).map { $0.isASCII && $0.isNumber } ?? false)) {
            lexNumber(start: start)
            return
        }
        if c == "\"" || c == "'" { lexString(start: start, raw: false); return }
        // Punctuation, longest match first.
        let s3 = String(chars[pos..<min(pos + 3, chars.count)])
        let s2 = String(chars[pos..<min(pos + 2, chars.count)])
        var text: String
        if Lexer.puncts3.contains(s3) { text = s3 } else if Lexer.puncts2.contains(s2) { text = s2 } else if Lexer.puncts1.contains(c) { text = String(c) } else {
            advance()
            if c == "\0" {
                error(Lexer.nulMessage, start)
            } else if c.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                error("unexpected control character \(c.unicodeScalars.map { "U+" + String($0.value, radix: 16, uppercase: true) }.joined(separator: " "))", start)
            } else {
                error("unexpected character '\(c)'", start)
            }
            return
        }
        for _ in 0..<text.count { advance() }
        if text == "(" || text == "[" || text == "{" {
            brackets.append((c, start))
        } else if text == ")" || text == "]" || text == "}" {
            if !brackets.isEmpty { brackets.removeLast() }
        }
        tokens.append(Token(kind: .punct, text: text, location: start))
    }

    private mutating func lexNumber(start: SourceLocation) {
        var s = ""
        if peek() == "0", let x = peek(1), x == "x" || x == "X" {
            advance(); advance()
            while let d = peek(), d.isHexDigit || d == "_" { let ch = advance(); if ch != "_" { s.append(ch) } }
            if let v = Int(s, radix: 16) {
                tokens.append(Token(kind: .int, text: "0x" + s, location: start, intValue: v))
            } else {
                error("malformed number '0x\(s)'", start)
            }
            return
        }
        var isFloat = false
        while let d = peek(), d.isASCII && d.isNumber || d == "_" { let ch = advance(); if ch != "_" { s.append(ch) } }
        if peek() == ".", let n = peek(1), n.isASCII && n.isNumber {
            isFloat = true
            s.append(advance())
            while let d = peek(), d.isASCII && d.isNumber || d == "_" { let ch = advance(); if ch != "_" { s.append(ch) } }
        } else if peek() == ".", !(peek(1).map { $0.isLetter || $0 == "_" } ?? false) {
            // `1.` is a float
            isFloat = true
            s.append(advance())
            s.append("0")
        }
        if let e = peek(), e == "e" || e == "E" {
            let sign = peek(1)
            let digitAt = (sign == "+" || sign == "-") ? 2 : 1
            if let d = peek(digitAt), d.isASCII && d.isNumber {
                isFloat = true
                s.append(advance())
                if digitAt == 2 { s.append(advance()) }
                while let d = peek(), d.isASCII && d.isNumber { s.append(advance()) }
            }
        }
        if let d = peek(), d.isLetter || d == "_" {
            var junk = ""
            while let d = peek(), d.isLetter || d.isNumber || d == "_" { junk.append(advance()) }
            error("malformed number '\(s)\(junk)'", start)
            return
        }
        if isFloat {
            tokens.append(Token(kind: .float, text: s, location: start, floatValue: Double(s) ?? .nan))
        } else if let v = Int(s) {
            tokens.append(Token(kind: .int, text: s, location: start, intValue: v))
        } else {
            error("integer literal '\(s)' is too large", start)
        }
    }

    private mutating func lexString(start: SourceLocation, raw: Bool) {
        let quote = advance()
        var triple = false
        if peek() == quote && peek(1) == quote { advance(); advance(); triple = true }
        var parts: [StringPart] = []
        var text = ""
        while true {
            guard let c = peek() else {
                if triple {
                    unterminatedAtEnd = true
                    error("unterminated string starting at \(start)", start, atEnd: true)
                } else {
                    error("unterminated string", start)
                }
                return
            }
            if c == quote {
                if !triple { advance(); break }
                if peek(1) == quote && peek(2) == quote { advance(); advance(); advance(); break }
                text.append(advance())
                continue
            }
            if c == "\n" && !triple {
                error("unterminated string", start)
                return
            }
            if c == "\0" {
                error(Lexer.nulMessage, here)
                advance()
                continue
            }
            if c == "\\" && !raw {
                let escLoc = here
                advance()
                guard let e = peek() else { continue }
                advance()
                switch e {
                case "n": text.append("\n")
                case "t": text.append("\t")
                case "r": text.append("\r")
                case "0": text.append("\0")
                case "\\": text.append("\\")
                case "'": text.append("'")
                case "\"": text.append("\"")
                case "{": text.append("{")
                case "}": text.append("}")
                case "\n": break
                case "u":
                    var hex = ""
                    if peek() == "{" {
                        advance()
                        while let h = peek(), h != "}", h != quote, h != "\n" { hex.append(advance()) }
                        if peek() == "}" { advance() }
                    } else {
                        for _ in 0..<4 { if let h = peek(), h.isHexDigit { hex.append(advance()) } }
                    }
                    if let v = UInt32(hex, radix: 16), let u = Unicode.Scalar(v) { text.unicodeScalars.append(u) } else { error("invalid unicode escape '\\u\(hex)'", escLoc) }
                default: error("unknown escape sequence '\\\(e)'", escLoc)
                }
                continue
            }
            if c == "{" && !raw {
                if peek(1) == "{" { advance(); advance(); text.append("{"); continue }
                let exprStart = here
                advance()
                let innerLoc = here
                var depth = 0
                var inner = ""
                var spec: String?
                var innerQuote: Character?
                var closed = false
                while let d = peek() {
                    if d == "\n" && !triple { break }
                    if let q = innerQuote {
                        inner.append(advance())
                        if d == q { innerQuote = nil }
                        continue
                    }
                    if d == "\"" || d == "'" {
                        innerQuote = d; inner.append(advance()); continue
                    }
                    if d == "(" || d == "[" || d == "{" { depth += 1 }
                    if d == ")" || d == "]" { depth -= 1 }
                    if d == "}" {
                        if depth == 0 { advance(); closed = true; break }
                        depth -= 1
                    }
                    if d == ":" && depth == 0 && spec == nil {
                        advance()
                        var s = ""
                        while let f = peek(), f != "}", f != "\n", f != quote { s.append(advance()) }
                        spec = s
                        continue
                    }
                    if spec != nil { break }
                    inner.append(advance())
                }
                if !closed {
                    error("expected '}' to close '{' at \(exprStart) in string", exprStart)
                    continue
                }
                if inner.trimmingWhitespace().isEmpty {
                    error("empty expression in string interpolation", exprStart)
                    continue
                }
                if !text.isEmpty { parts.append(.text(text)); text = "" }
                parts.append(.expr(source: inner, location: innerLoc, spec: spec))
                continue
            }
            if c == "}" && !raw {
                advance()
                if peek() == "}" { advance() }
                text.append("}")
                continue
            }
            text.append(advance())
        }
        if !text.isEmpty || parts.isEmpty { parts.append(.text(text)) }
        var tok = Token(kind: .string, text: "", location: start)
        tok.parts = parts
        if parts.count == 1, case .text(let t) = parts[0] { tok.text = t }
        tokens.append(tok)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
