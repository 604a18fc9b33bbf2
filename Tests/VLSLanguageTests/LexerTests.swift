import XCTest
@testable import VLSLanguage

final class LexerTests: XCTestCase {
    private func kinds(_ s: String) -> [String] {
        Lexer.tokenize(s).tokens.map { t in
            switch t.kind {
            case .newline: return "NL"
            case .indent: return "IN"
            case .dedent: return "DE"
            case .eof: return "EOF"
            case .string: return "S"
            default: return t.text
            }
        }
    }

    func testIndentationProducesBlocks() {
        XCTAssertEqual(kinds("if x:\n    y\nz\n"), ["if", "x", ":", "NL", "IN", "y", "NL", "DE", "z", "NL", "EOF"])
    }

    func testBlankAndCommentLinesAreIgnored() {
        XCTAssertEqual(kinds("a\n\n   # note\n\nb"), ["a", "NL", "b", "NL", "EOF"])
    }

    func testNewlinesInsideBracketsAreJoined() {
        XCTAssertEqual(kinds("f(1,\n  2)\n"), ["f", "(", "1", ",", "2", ")", "NL", "EOF"])
    }

    func testOperatorsLongestMatch() {
        XCTAssertEqual(kinds("a ** b // c == d => e += 1"), ["a", "**", "b", "//", "c", "==", "d", "=>", "e", "+=", "1", "NL", "EOF"])
    }

    func testNumbers() {
        let toks = Lexer.tokenize("12 1_000 0x1F 2.5 1e-3 3.").tokens
        XCTAssertEqual(toks[0].intValue, 12)
        XCTAssertEqual(toks[1].intValue, 1000)
        XCTAssertEqual(toks[2].intValue, 31)
        XCTAssertEqual(toks[3].floatValue, 2.5)
        XCTAssertEqual(toks[4].floatValue, 0.001)
        XCTAssertEqual(toks[5].kind, .float)
    }

    func testStringEscapesAndInterpolationParts() {
        let t = Lexer.tokenize(#""a\tb {x + 1:.2f} {{c}}""#).tokens[0]
        XCTAssertEqual(t.parts, [.text("a\tb "), .expr(source: "x + 1", location: SourceLocation(line: 1, column: 8), spec: ".2f"), .text(" {c}")])
    }

    func testLocationsAreOneBased() {
        let toks = Lexer.tokenize("a\n  bb").tokens
        XCTAssertEqual(toks[0].location, SourceLocation(line: 1, column: 1))
        let bb = toks.first { $0.text == "bb" }
        XCTAssertEqual(bb?.location, SourceLocation(line: 2, column: 3))
    }

    func testErrorsAreCollectedNotThrown() {
        let r = Lexer.tokenize("x = $\ny = \"open\n")
        XCTAssertEqual(r.errors.map(\.message), ["unexpected character '$'", "unterminated string"])
        XCTAssertEqual(r.errors.map(\.location.line), [1, 2])
    }

    func testUnterminatedTripleQuoteIsAtEnd() {
        let r = Lexer.tokenize("s = \"\"\"abc\n")
        XCTAssertTrue(r.lexer.unterminatedAtEnd)
    }
}
