/// A position in a source file: 1-based line and column.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public var description: String { "\(line):\(column)" }
}

/// A source text with its path, shared by every diagnostic that points into it.
public final class SourceFile: @unchecked Sendable {
    public let path: String
    public let text: String
    private var cachedLines: [Substring]?
    /// Line ends are normalised as Python reads source: CRLF and lone CR become LF, and a
    /// leading UTF-8 byte-order mark is dropped (Swift would otherwise see "\r\n" as one
    /// character and miss the line end).
    public init(path: String, text: String) {
        self.path = path
        var t = text
        if t.hasPrefix("\u{FEFF}") { t.removeFirst() }
        if t.unicodeScalars.contains("\r") {
            t = String(String.UnicodeScalarView(t.unicodeScalars.split(separator: "\r", omittingEmptySubsequences: false).enumerated().flatMap { i, part -> [Unicode.Scalar] in
                // A part after a CR: drop the LF of a CRLF pair; every CR becomes LF.
                var p = Array(part)
                if i > 0 && p.first == "\n" { p.removeFirst() }
                return (i > 0 ? ["\n"] : []) + p
            }))
        }
        self.text = t
    }

    /// The text of a 1-based line, without its newline.
    public func line(_ n: Int) -> String {
        if cachedLines == nil { cachedLines = text.split(separator: "\n", omittingEmptySubsequences: false) }
        guard let lines = cachedLines, n >= 1, n <= lines.count else { return "" }
        var s = String(lines[n - 1])
        if s.hasSuffix("\r") { s.removeLast() }
        return s
    }
}

/// One piece of a string literal: text, or an interpolated expression `{expr:spec}`.
enum StringPart: Equatable {
    case text(String)
    case expr(source: String, location: SourceLocation, spec: String?)
}

/// A lexical token. Keywords and punctuation are told apart by `text`.
struct Token {
    enum Kind: Equatable { case name, keyword, int, float, string, punct, newline, indent, dedent, eof }
    var kind: Kind
    var text: String
    var location: SourceLocation
    var intValue: Int = 0
    var floatValue: Double = 0
    var parts: [StringPart] = []

    func isPunct(_ p: String) -> Bool { kind == .punct && text == p }
    func isKeyword(_ k: String) -> Bool { kind == .keyword && text == k }

    /// How the token is named in a message: `'x'`, `end of input`, `newline`.
    var display: String {
        switch kind {
        case .eof: return "end of input"
        case .newline: return "newline"
        case .indent: return "indent"
        case .dedent: return "dedent"
        case .string: return "string"
        default: return "'\(text)'"
        }
    }
}

let keywords: Set<String> = [
    "and", "or", "not", "if", "elif", "else", "for", "in", "while", "break", "continue",
    "def", "return", "import", "as", "global", "pass", "true", "false", "nil", "fn",
]
