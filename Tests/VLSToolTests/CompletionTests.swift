import Foundation
import XCTest
@testable import VLSBuiltins
@testable import VLSLanguage

/// Completion that follows the value (ReplSession.completions with the builtins), then the
/// same contexts typed at the real prompt under a pty (Tab through readline).
final class CompletionTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func session() throws -> ReplSession {
        let interp = Interpreter()
        Builtins.install(into: interp, options: SessionOptions(threads: 1, seed: 0))
        let repl = ReplSession(interpreter: interp)
        var errors = ""
        repl.errorOutput = { errors += $0 }
        interp.output = { _ in }
        interp.display = { _ in }
        for line in [
            "m = load(\"\(Self.root)/Examples/models/fashion-vit\")",
            "x = zeros([2, 3, 28, 28])",
            "r = m.run(x, capture: [\"resid_post\", \"pattern\"])",
            "data = [1, 2, 3]",
            "m.run(x)",
            "calls = 0",
            "def counted(n):\n    global calls\n    calls = calls + 1\n    return [n]\n",
        ] {
            XCTAssertTrue(repl.evaluate(line), "\(line): \(errors)")
        }
        return repl
    }

    /// Candidates for the text before the cursor (the word as readline splits it).
    func complete(_ repl: ReplSession, _ line: String) -> [String] {
        let breaks = Set(ReplSession.wordBreakCharacters)
        let word = String(line.reversed().prefix { !breaks.contains($0) }.reversed())
        return repl.completions(word: word, lineBeforeCursor: line)
    }

    func testMembersAfterSubscriptWithLiteralKey() throws {
        let repl = try session()
        XCTAssertEqual(complete(repl, "r[\"resid_post\"].sh"), [".shape"])
        XCTAssertTrue(complete(repl, "r[\"resid_post\"].").contains(".mean"))
        XCTAssertEqual(complete(repl, "data[0].") , [])   // an int has no members
        // A run's subscript is answered by a stand-in (stacking activations could take
        // gigabytes), an unknown hook name by nothing.
        XCTAssertTrue(complete(repl, "r[\"pattern\"].T.").contains(".T.shape"))
        XCTAssertEqual(complete(repl, "r[\"mlp_out\"].sh"), [])
        // A variable key is not evaluated.
        XCTAssertEqual(complete(repl, "r[k].sh"), [])
    }

    func testMembersAfterACallOnlyWhenItsResultIsKnown() throws {
        let repl = try session()
        // m.run(x) was shown at the prompt: its result is remembered.
        XCTAssertTrue(complete(repl, "m.run(x).ho").contains(".hooks"))
        XCTAssertTrue(complete(repl, "m.run( x ).pred").contains(".predictions"))
        // A call never made is not made now.
        XCTAssertEqual(complete(repl, "m.run(x, capture: [\"q\"]).ho"), [])
        XCTAssertEqual(complete(repl, "counted(1).app"), [])
        XCTAssertEqual(repl.interpreter.global("calls").map { repl.interpreter.repr($0) }, "0")
        // Assigned results are remembered too.
        XCTAssertTrue(repl.evaluate("t = counted(2)"))
        XCTAssertEqual(complete(repl, "counted(2).app"), [".append"])
        XCTAssertEqual(repl.interpreter.global("calls").map { repl.interpreter.repr($0) }, "1")
    }

    func testKeywordNamesInsideACall() throws {
        let repl = try session()
        XCTAssertEqual(complete(repl, "hist(data, bi").first, "bins:")
        XCTAssertTrue(complete(repl, "hist(data, ").contains("range:"))
        // Already given keywords are not offered again.
        XCTAssertFalse(complete(repl, "hist(data, bins: 3, ").contains("bins:"))
        XCTAssertTrue(complete(repl, "m.run(x, ca").contains("capture:"))
        XCTAssertEqual(complete(repl, "counted(").filter { $0.hasSuffix(":") }, ["n:"])
    }

    func testModulesAfterImport() throws {
        let repl = try session()
        XCTAssertEqual(complete(repl, "import con"), ["context"])
        XCTAssertTrue(complete(repl, "import ").contains("lens"))
    }

    func testHookNamesInStrings() throws {
        let repl = try session()
        XCTAssertEqual(complete(repl, "r[\"resid_p"), ["resid_post"])   // only what the run captured
        XCTAssertEqual(complete(repl, "r[\"pat"), ["pattern"])
        XCTAssertTrue(complete(repl, "r[\"blocks.0.hook_r").contains("blocks.0.hook_resid_post"))
        XCTAssertEqual(complete(repl, "m.run(x, capture: [\"resid_p"), ["resid_post", "resid_pre"])
        XCTAssertEqual(complete(repl, "m.run(x, capture: [\"resid_post\", \"mlp_o"), ["mlp_out"])
        // Other strings still complete paths.
        XCTAssertEqual(complete(repl, "load(\"Examples/mod"), ["Examples/models/"])
    }

    // MARK: - At the prompt (readline under a pty)

    func prompt() throws -> PTY {
        let pty = try PTY([try builtVLS()], env: ["TERM": "xterm", "HOME": NSTemporaryDirectory(), "VLS_HISTORY": NSTemporaryDirectory() + "vls-completion-history-\(getpid())"])
        pty.expect("> ")
        for line in ["m = load(\"\(Self.root)/Examples/models/fashion-vit\")", "x = zeros([2, 3, 28, 28])",
                     "r = m.run(x, capture: [\"resid_post\"])", "data = [1.0, 2.0, 2.5]"] {
            pty.type(line + "\r")
            pty.expect("> ")
        }
        return pty
    }

    /// Types `text` and a Tab, then `rest` and Enter; the echoed line must read `completed`.
    func tab(_ pty: PTY, _ text: String, _ rest: String, completed: String, output: String, file: StaticString = #filePath, line: UInt = #line) {
        pty.type(text)
        pty.type("\t", pause: 200_000)
        pty.type(rest + "\r")
        pty.expect(completed, file: file, line: line)
        if !output.isEmpty { pty.expect(output, file: file, line: line) }
        pty.expect("> ", file: file, line: line)
    }

    func testCompletionAtThePrompt() throws {
        let pty = try prompt()
        tab(pty, "r[\"resid_post\"].sha", "", completed: "r[\"resid_post\"].shape", output: "[6, 2, 50, 64]")
        tab(pty, "m.run(x)", "", completed: "m.run(x)", output: "run of")
        tab(pty, "m.run(x).predictions.sh", "", completed: "m.run(x).predictions.shape", output: "[2]")
        tab(pty, "hist(data, bin", " 2).counts", completed: "hist(data, bins: 2).counts", output: "[1, 2]")
        tab(pty, "import conte", "", completed: "import context", output: "")
        tab(pty, "r[\"resid_po", "\"].shape[0]", completed: "r[\"resid_post\"].shape[0]", output: "6")
        tab(pty, "m.run(x, capture: [\"mlp_o", "\"]).hooks[0]", completed: "capture: [\"mlp_out\"]).hooks[0]", output: "blocks.0.hook_mlp_out")
    }

    /// A pasted def with a blank line inside its body stays one entry (bracketed paste).
    func testBracketedPasteKeepsABlockWhole() throws {
        let pty = try prompt()
        XCTAssertTrue(pty.transcript.contains("\u{1B}[?2004h"), "readline did not turn bracketed paste on")
        pty.type("\u{1B}[200~def f(a):\n    b = a + 1\n\n    return b * 2\n\u{1B}[201~")
        pty.type("\r")
        pty.expect("> ")
        pty.type("f(20)\r")
        pty.expect("42")
        XCTAssertFalse(pty.transcript.contains("error"), pty.transcript)
    }
}
