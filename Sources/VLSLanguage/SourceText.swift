/// Source text from a file's bytes. A `.vls` file is UTF-8, as python3 reads a `.py` file:
/// an invalid byte is a syntax error at its line and column (it used to become U+FFFD
/// silently, inside a string literal too).
public enum SourceText {
    /// The text of `bytes`, or the diagnostic of the first byte that is not UTF-8, naming
    /// `path`, the line and the column (counted in characters, as the lexer counts them).
    public static func decode(_ bytes: [UInt8], path: String) -> Result<String, Diagnostic> {
        guard let bad = firstInvalidByte(bytes) else { return .success(String(decoding: bytes, as: UTF8.self)) }
        var line = 1, lineStart = 0
        for i in 0..<bad where bytes[i] == UInt8(ascii: "\n") { line += 1; lineStart = i + 1 }
        let column = String(decoding: bytes[lineStart..<bad], as: UTF8.self).count + 1
        let hex = String(bytes[bad], radix: 16, uppercase: true)
        let file = SourceFile(path: path, text: String(decoding: bytes, as: UTF8.self))
        return .failure(Diagnostic(message: "invalid UTF-8 (byte 0x\(hex.count < 2 ? "0" + hex : hex)): a source file must be UTF-8 text",
                                   file: file, location: SourceLocation(line: line, column: column)))
    }

    /// The offset of the first byte that does not start or continue a valid UTF-8 sequence.
    static func firstInvalidByte(_ bytes: [UInt8]) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var it = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &it) {
            case .valid(let encoded): offset += encoded.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }
}
