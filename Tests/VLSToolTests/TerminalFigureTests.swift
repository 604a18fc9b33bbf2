import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `show(figure)` in a terminal, the test playing the terminal under a pty: kitty graphics
/// when KITTY_WINDOW_ID says kitty (no query sent), sixel when the DA1 answer lists 4,
/// half-blocks when it does not, each sized to the terminal; one line on a pipe.
final class TerminalFigureTests: XCTestCase {
    var tmp = ""
    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "vls-term-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    /// A 640x400 bar chart shown, then "done".
    func script() -> String {
        let path = tmp + "/show.vls"
        FileManager.default.createFile(atPath: path, contents: Data("""
        b = bar(["h0", "h1", "h2"], [0.1, 0.3, 0.2], title: "drop")
        show(b)
        print("done")

        """.utf8))
        return path
    }

    func runShown(env: [String: String], da1: String?, columns: Int = 100, rows: Int = 40, pixelWidth: Int = 0, pixelHeight: Int = 0) throws -> (output: String, queried: Bool) {
        let bin = try builtVLS()
        let pty = try PTY([bin, "run", script()], env: ["TERM": "xterm-256color", "HOME": tmp].merging(env) { $1 },
                          columns: columns, rows: rows, pixelWidth: pixelWidth, pixelHeight: pixelHeight)
        var queried = false
        pty.responder = { text in
            guard text.contains("\u{1B}[c") else { return nil }
            queried = true
            return da1
        }
        pty.expect("done")
        XCTAssertEqual(pty.wait(), 0)
        return (pty.transcript, queried)
    }

    func testSixelFitsTheTerminalHeight() throws {
        let (out, _) = try runShown(env: [:], da1: "\u{1B}[?64;4c", pixelWidth: 1000, pixelHeight: 300)
        XCTAssertTrue(out.contains("\"1;1;384;240"), String(out.prefix(80)).debugDescription)   // 4/5 of 300 px high
    }

    func testSixelWhenDA1Lists4() throws {
        let (out, queried) = try runShown(env: [:], da1: "\u{1B}[?62;4;6;22c", pixelWidth: 400, pixelHeight: 600)
        XCTAssertTrue(queried, "DA1 was not asked")
        XCTAssertTrue(out.contains("\u{1B}P0;1;0q"), out.debugDescription)
        XCTAssertFalse(out.contains("\u{2580}"))
        // 640x400 fitted into a 400 px wide terminal (and at most 4/5 of its height).
        XCTAssertTrue(out.contains("\"1;1;400;250"), String(out.prefix(200)).debugDescription)
        XCTAssertTrue(out.contains("\u{1B}\\"))
        XCTAssertTrue(out.contains("[drop, bar 640x400]"))
    }

    func testHalfBlocksWhenDA1LacksSixel() throws {
        let (out, queried) = try runShown(env: [:], da1: "\u{1B}[?62;22c", columns: 50)
        XCTAssertTrue(queried)
        XCTAssertFalse(out.contains("\u{1B}P"))
        // One line of 50 cells per two pixel rows, as wide as the 50-column terminal.
        let lines = out.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n").filter { $0.contains("\u{2580}") }
        XCTAssertEqual(lines.count, Int((50.0 * 400 / 640 / 2).rounded()))
        for l in lines { XCTAssertEqual(l.components(separatedBy: "\u{2580}").count - 1, 50) }
    }

    func testHalfBlocksWhenNoAnswer() throws {
        let (out, queried) = try runShown(env: [:], da1: nil, columns: 40)
        XCTAssertTrue(queried)
        XCTAssertTrue(out.contains("\u{2580}"))
        XCTAssertFalse(out.contains("\u{1B}P"))
    }

    func testKittyWithoutQuery() throws {
        let (out, queried) = try runShown(env: ["KITTY_WINDOW_ID": "1"], da1: "\u{1B}[?62;4c")
        XCTAssertFalse(queried, "kitty needs no DA1 query")
        XCTAssertTrue(out.contains("\u{1B}_Ga=T,f=100,c="), out.debugDescription)
        XCTAssertFalse(out.contains("\u{1B}P0;1;0q"))
    }

    /// A figure that cannot be drawn (a 3000-character row label makes it wider than
    /// cairo's 16384 px) says why on a terminal, not "TERM=dumb".
    func testDrawingFailureIsReported() throws {
        let path = tmp + "/fail.vls"
        FileManager.default.createFile(atPath: path, contents: Data("""
        show(matrix_plot(ones([1, 1]), rows: ["x" * 3000]))
        print("done")

        """.utf8))
        let pty = try PTY([try builtVLS(), "run", path], env: ["TERM": "xterm-256color", "HOME": tmp], columns: 100, rows: 40, pixelWidth: 0, pixelHeight: 0)
        pty.responder = { $0.contains("\u{1B}[c") ? "\u{1B}[?62;22c" : nil }
        pty.expect("done")
        XCTAssertEqual(pty.wait(), 0)
        XCTAssertTrue(pty.transcript.contains("not shown: drawing failed: figure size"), pty.transcript.debugDescription)
        XCTAssertFalse(pty.transcript.contains("TERM=dumb"))
    }

    /// The REPL under a pty, the test typing as a user and playing the terminal.
    func repl() throws -> PTY {
        let pty = try PTY([try builtVLS()], env: ["TERM": "xterm-256color", "HOME": tmp, "VLS_HISTORY": tmp + "/history"],
                          columns: 100, rows: 30, pixelWidth: 0, pixelHeight: 0)
        pty.expect("> ")
        return pty
    }

    /// What the user types while show() waits for the DA1 answer is kept and run, not
    /// swallowed with the answer.
    func testTypeAheadDuringDA1QueryIsKept() throws {
        let pty = try repl()
        pty.type("show(hist([1, 2]))\rprint(\"TYPE\" + \"AHEAD\")\r", pause: 0)
        pty.expect("\u{1B}[c")
        pty.type("\u{1B}[?62;22c", pause: 0)
        pty.expect("[histogram of 2 values")
        pty.expect("TYPEAHEAD\r\n")
        pty.type("\u{4}")
        XCTAssertEqual(pty.wait(), 0)
    }

    /// An answer arriving after the query gave up (0.5 s) is dropped, not typed into the
    /// next line ("62;4;22cprint(...)" was a syntax error).
    func testLateDA1AnswerIsDropped() throws {
        let pty = try repl()
        pty.type("show(hist([1, 2]))\r", pause: 0)
        pty.expect("\u{1B}[c")
        pty.expect("[histogram of 2 values")
        pty.type("\u{1B}[?62;4;22c")
        pty.readAvailable(timeout: 0.3)
        pty.type("print(40 + 2)\r")
        pty.expect("42\r\n")
        pty.type("\u{4}")
        XCTAssertEqual(pty.wait(), 0)
        XCTAssertFalse(pty.transcript.contains("error"), pty.transcript.debugDescription)
    }

    /// Control characters in a title are shown escaped, not sent to the terminal raw.
    func testCaptionControlsAreEscaped() throws {
        let path = tmp + "/caption.vls"
        FileManager.default.createFile(atPath: path, contents: Data("show(hist([1, 2], title: \"a\\u{1b}[31mRED\\nsecond\"))\n".utf8))
        let (status, out) = try runVLSPiped(["run", path])
        XCTAssertEqual(status, 0)
        XCTAssertEqual(out, "[a\\u{1B}[31mRED\\nsecond, hist 640x400, not shown (output is not a terminal); save(figure, \"figure.png\") writes it]\n")
    }

    func testPipeGetsOneLine() throws {
        let (status, out) = try runVLSPiped(["run", script()])
        XCTAssertEqual(status, 0)
        XCTAssertEqual(out, "[drop, bar 640x400, not shown (output is not a terminal); save(figure, \"figure.png\") writes it]\ndone\n")
    }
}
