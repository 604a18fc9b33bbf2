import XCTest
@testable import VLSLanguage

/// A line reader that replays a script of inputs.
final class ScriptedReader: LineReader {
    var inputs: [LineInput]
    var prompts: [String] = []
    var history: [String] = []
    init(_ inputs: [LineInput]) { self.inputs = inputs }
    func readLine(prompt: String) -> LineInput {
        prompts.append(prompt)
        return inputs.isEmpty ? .endOfInput : inputs.removeFirst()
    }
    func addHistory(_ entry: String) { history.append(entry) }
}

final class ReplTests: XCTestCase {
    private func session() -> (ReplSession, () -> String, () -> String) {
        let interp = Interpreter()
        var out = ""
        var err = ""
        interp.output = { out += $0 }
        let s = ReplSession(interpreter: interp)
        s.errorOutput = { err += $0 }
        return (s, { out }, { err })
    }

    private func lines(_ xs: String...) -> [LineInput] { xs.map { .line($0) } }

    func testBareExpressionPrintsValueAndSetsUnderscore() {
        let (s, out, _) = session()
        s.run(reader: ScriptedReader(lines("1 + 2", "_ * 10", "\"text\"", "print(\"hi\")", "x = 5")))
        XCTAssertEqual(out(), "3\n30\n\"text\"\nhi\n")
    }

    func testMultiLineFunctionUsesContinuationPrompt() {
        let (s, out, _) = session()
        let reader = ScriptedReader(lines("def twice(x):", "    y = x * 2", "    return y", "", "twice(21)"))
        s.run(reader: reader)
        XCTAssertEqual(out(), "42\n")
        XCTAssertEqual(reader.prompts, ["> ", ".. ", ".. ", ".. ", "> ", "> "])
        XCTAssertEqual(reader.history, ["def twice(x):\n    y = x * 2\n    return y", "twice(21)"])
    }

    func testNestedBlocksContinue() {
        let (s, out, err) = session()
        s.run(reader: ScriptedReader(lines("def count(n):", "    total = 0", "    for i in range(n):", "        if i % 2 == 0:",
                                           "            total += i", "    return total", "", "count(10)")))
        XCTAssertEqual(out(), "20\n", err())
    }

    func testUnclosedBracketContinues() {
        let (s, out, _) = session()
        s.run(reader: ScriptedReader(lines("xs = [1,", "2, 3]", "len(xs)")))
        XCTAssertEqual(out(), "3\n")
    }

    func testErrorsDoNotEndTheSession() {
        let (s, out, err) = session()
        s.run(reader: ScriptedReader(lines("1 / 0", "x = )", "undefined_thing", "40 + 2")))
        XCTAssertEqual(out(), "42\n")
        XCTAssertTrue(err().contains("<repl>:1:3: error: division by zero"), err())
        XCTAssertTrue(err().contains("expected an expression, got ')'"), err())
        XCTAssertTrue(err().contains("undefined variable 'undefined_thing'"), err())
    }

    func testInterruptDropsPendingInput() {
        let (s, out, _) = session()
        s.run(reader: ScriptedReader([.line("def f(x):"), .interrupted, .line("7")]))
        XCTAssertEqual(out(), "7\n")
    }

    func testGlobalsPersistAndFunctionsSeeLaterGlobals() {
        let (s, out, _) = session()
        s.run(reader: ScriptedReader(lines("def g():", "    return base + 1", "", "base = 10", "g()")))
        XCTAssertEqual(out(), "11\n")
    }

    func testCommands() throws {
        let (s, out, err) = session()
        let path = NSTemporaryDirectory() + "vls-repl-save-\(getpid()).vls"
        defer { unlink(path) }
        s.run(reader: ScriptedReader(lines("a = 1", "def h(x):", "    \"Adds one.\"", "    return x + 1", "", "1 / 0",
                                           ":vars", ":help h", ":help len", ":time h(1)", ":save \(path)", ":nope", ":quit", "a")))
        let o = out()
        XCTAssertTrue(o.contains("a: int = 1"), o)
        XCTAssertTrue(o.contains("h: function = <function h>"), o)
        XCTAssertTrue(o.contains("h(x)\n    Adds one."), o)
        XCTAssertTrue(o.contains("len(x, /)\n    The number of items"), o)
        XCTAssertTrue(o.contains("2\ntime: "), o)
        XCTAssertTrue(err().contains("unknown command ':nope'"), err())
        XCTAssertFalse(o.hasSuffix("1\n"), "input after :quit must not run")
        let saved = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(saved, "a = 1\ndef h(x):\n    \"Adds one.\"\n    return x + 1\nh(1)\n")
        // The saved session runs as a script.
        let (s2, out2, _) = session()
        s2.run(reader: ScriptedReader(lines(":load \(path)", "h(a)")))
        XCTAssertEqual(out2(), "2\n2\n")
    }

    func testHelpListsBuiltinsByArea() {
        let (s, out, _) = session()
        s.run(reader: ScriptedReader(lines(":help")))
        XCTAssertTrue(out().contains("basics:\n  print len range clock help"), out())
        XCTAssertTrue(out().contains("math:"), out())
    }

    func testCompletion() {
        let (s, _, _) = session()
        s.evaluate("model_size = 3\nmodel_name = \"vit\"\nitems = [1]")
        XCTAssertEqual(s.completions(word: "model_", lineBeforeCursor: "print(model_"), ["model_name", "model_size"])
        XCTAssertEqual(s.completions(word: "items.ap", lineBeforeCursor: "items.ap"), ["items.append"])
        XCTAssertEqual(s.completions(word: "model_name.up", lineBeforeCursor: "model_name.up"), ["model_name.upper"])
        XCTAssertTrue(s.completions(word: "pri", lineBeforeCursor: "pri").contains("print"))
        XCTAssertTrue(s.completions(word: "whi", lineBeforeCursor: "whi").contains("while"))
        // File paths inside strings.
        let dir = NSTemporaryDirectory() + "vls-compl-\(getpid())"
        mkdir(dir, 0o755)
        FileManager.default.createFile(atPath: dir + "/weights.safetensors", contents: Data())
        mkdir(dir + "/wsub", 0o755)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(s.completions(word: dir + "/w", lineBeforeCursor: "load(\"" + dir + "/w"),
                       [dir + "/weights.safetensors", dir + "/wsub/"])
    }
}
