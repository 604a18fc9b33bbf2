import Foundation
import XCTest
import VLSFiles
#if canImport(Glibc)
import Glibc
#endif

/// End-to-end tests of the built `vls` binary: the script runner's exit codes and `args`,
/// the notebook, and the REPL under a pseudo-terminal.
final class ToolTests: XCTestCase {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The binary next to the test bundle (the same build configuration), else .build/debug.
    /// Release builds keep Swift's bounds and overflow checks: every optimisation setting in
    /// Package.swift is -O (the unchecked mode, and -remove-runtime-asserts, never appear),
    /// and only the interpreter drops exclusivity checks.
    func testReleaseFlagsKeepChecks() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        XCTAssertFalse(manifest.contains("Ounchecked"), "Package.swift names the unchecked optimisation mode")
        XCTAssertFalse(manifest.contains("remove-runtime-asserts"), "Package.swift removes runtime checks")
        XCTAssertTrue(manifest.contains(#"[.unsafeFlags(["-O", "-wmo"], .when(configuration: .release))]"#), "the release flags changed")
        XCTAssertEqual(manifest.components(separatedBy: "enforce-exclusivity=unchecked").count - 1, 1, "only the interpreter drops exclusivity checks")
    }

    func binary() throws -> String {
        var candidates: [String] = []
        let bundleDir = Bundle.main.bundleURL
        candidates.append(bundleDir.appendingPathComponent("vls").path)
        for b in Bundle.allBundles { candidates.append(b.bundleURL.deletingLastPathComponent().appendingPathComponent("vls").path) }
        candidates.append(Self.packageRoot.appendingPathComponent(".build/debug/vls").path)
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
        throw XCTSkip("vls binary not built (looked in \(candidates))")
    }

    var tmp: String = ""

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "vls-tool-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: tmp)
    }

    func write(_ name: String, _ text: String) -> String {
        let path = tmp + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func run(_ args: [String], stdin: String? = nil, env: [String: String] = [:], cwd: String? = nil) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try binary())
        p.arguments = args
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        var environment = ProcessInfo.processInfo.environment
        environment["VLS_HISTORY"] = tmp + "/history"
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        try inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    // MARK: - Runner

    func testRunPassesArgsAndExitsZero() throws {
        let script = write("args.vls", "print(len(args), args)\nprint(clock() > 0)\n")
        let (code, out, err) = try run(["run", "--threads", "1", "--seed", "7", script, "a", "--flag", "-x"])
        XCTAssertEqual(code, 0, err)
        XCTAssertEqual(out, "3 [\"a\", \"--flag\", \"-x\"]\ntrue\n")
        let (code2, out2, _) = try run([script, "only"])
        XCTAssertEqual(code2, 0)
        XCTAssertEqual(out2, "1 [\"only\"]\ntrue\n")
    }

    func testSyntaxErrorsExit65WithEveryError() throws {
        let script = write("bad.vls", "x = (1\ny = 2\nz = ]\n")
        let (code, out, err) = try run(["run", script])
        XCTAssertEqual(code, 65)
        XCTAssertEqual(out, "")
        XCTAssertTrue(err.contains("bad.vls:1:7: error: expected ')' to close '(' at 1:5, got newline\n    x = (1\n          ^"), err)
        XCTAssertTrue(err.contains("bad.vls:3:5: error: expected an expression, got ']'"), err)
    }

    func testRuntimeErrorExits70WithTraceback() throws {
        let script = write("boom.vls", "def f(x):\n    return x[3]\nprint(\"before\")\nf([1])\n")
        let (code, out, err) = try run([script])
        XCTAssertEqual(code, 70)
        XCTAssertEqual(out, "before\n")
        XCTAssertTrue(err.contains("boom.vls:2:13: error: list index 3 out of range (length 1)"), err)
        XCTAssertTrue(err.contains("boom.vls:4:2: in call to 'f'"), err)
    }

    func testCtrlCStopsAScriptWithATraceback() throws {
        let script = write("spin.vls", "def spin():\n    while true:\n        pass\nspin()\n")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try binary())
        p.arguments = [script]
        let err = Pipe()
        p.standardError = err
        try p.run()
        usleep(500_000)
        kill(p.processIdentifier, SIGINT)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 70)
        XCTAssertTrue(e.contains("spin.vls:2:5: error: interrupted"), e)
        XCTAssertTrue(e.contains("spin.vls:4:5: in call to 'spin'"), e)
    }

    func testStepBudgetStopsARunawayScript() throws {
        let script = write("runaway.vls", "def f(n):\n    return n\nx = 0\nwhile true:\n    x = f(x) + 1\n")
        let (code, _, err) = try run(["run", "--max-steps", "50000", script])
        XCTAssertEqual(code, 70)
        XCTAssertTrue(err.contains("runaway.vls:5:10: error: step limit of 50000 exceeded"), err)
        // A script inside its budget runs to the end.
        let fine = write("fine.vls", "s = 0\nfor i in range(100):\n    s += i\nprint(s)\n")
        let (fcode, fout, _) = try run(["run", "--max-steps", "1000", fine])
        XCTAssertEqual(fcode, 0)
        XCTAssertEqual(fout, "4950\n")
        XCTAssertEqual(try run(["run", "--max-steps", "0", fine]).0, 64)
    }

    func testUnreadableScriptExits74() throws {
        let (code, _, err) = try run(["run", tmp + "/missing.vls"])
        XCTAssertEqual(code, 74)
        XCTAssertTrue(err.contains("cannot read"), err)
    }

    func testUsageErrorsExit64() throws {
        let script = write("ok.vls", "print(1)\n")
        XCTAssertEqual(try run(["run", "--shard", "3/2", script]).0, 64)
        XCTAssertEqual(try run(["run", "--threads", "zero", script]).0, 64)
        XCTAssertEqual(try run(["run", script], env: ["VLS_THREADS": "-1"]).0, 64)
        XCTAssertEqual(try run(["notebook", script]).0, 64, "missing -o")
    }

    func testStdinRunsAsScriptAndVersionAndMerge() throws {
        let (code, out, _) = try run([], stdin: "x = 20\nprint(x + 22)\n")
        XCTAssertEqual(code, 0)
        XCTAssertEqual(out, "42\n")
        XCTAssertEqual(try run([], stdin: "1/0\n").0, 70)
        // one-character paths (Foundation's NSString path methods trap on them on Linux)
        let one = tmp + "/a"
        try? FileManager.default.createDirectory(atPath: one, withIntermediateDirectories: true)
        let (ocode, _, oerr) = try run(["run", "/dev/stdin"], stdin: "load(\"m\")\n", cwd: one)
        XCTAssertEqual(ocode, 70, oerr)
        XCTAssertTrue(oerr.contains("m"), oerr)
        XCTAssertEqual(Paths.folder(of: "a"), "")
        XCTAssertEqual(Paths.folder(of: "/a"), "/")
        XCTAssertEqual(Paths.folder(of: "x/y/"), "x")
        XCTAssertEqual(Paths.name(of: "x/y/"), "y")
        XCTAssertEqual(Paths.join("", "c"), "c")
        XCTAssertEqual(Paths.join("d/", "c"), "d/c")
        // a script named on the command line may be a pipe (Scripts/bench runs /dev/stdin)
        let (pcode, pout, perr) = try run(["run", "/dev/stdin"], stdin: "print(6 * 7)\n")
        XCTAssertEqual(pcode, 0, perr)
        XCTAssertEqual(pout, "42\n")
        let (vcode, vout, _) = try run(["--version"])
        XCTAssertEqual(vcode, 0)
        XCTAssertTrue(vout.hasPrefix("vls "))
        let (mcode, _, merr) = try run(["merge", "a.part", "-o", tmp + "/out"])
        // A missing part is a runtime error.
        XCTAssertEqual(mcode, 70)
        XCTAssertTrue(merr.hasPrefix("vls merge: "), merr)
        let (ccode, cout, _) = try run(["--generate-completion-script", "bash"])
        XCTAssertEqual(ccode, 0)
        XCTAssertTrue(cout.contains("notebook"))
    }

    /// Figures embed inline: a plot's SVG (cairo's, ids made unique per figure, since one
    /// page shares one id space) and a heatmap's PNG; Examples/heads.vls shows a heat map
    /// and a bar chart this way.
    func testNotebookEmbedsFigures() throws {
        let script = write("figs.vls", """
        # %%
        drops = [[1.5, -0.5], [3, 0.5]]
        show(matrix_plot(drops, rows: ["block 0", "block 1"], cols: ["head 0", "head 1"], annotate: true))
        # %%
        show(bar(["block 0", "block 1"], {"head 0": [1.5, 3], "head 1": [-0.5, 0.5]}))
        show(heatmap(zeros([3, 8, 8]), [[0, 1], [2, 3]]))
        """)
        let html = tmp + "/figs.html"
        let (code, _, err) = try run(["notebook", script, "-o", html])
        XCTAssertEqual(code, 0, err)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertEqual(page.components(separatedBy: "<svg ").count - 1, 2)
        XCTAssertFalse(page.contains("<?xml"))
        XCTAssertEqual(page.components(separatedBy: "<img alt=").count - 1, 1)
        // Every id is defined once in the page, and every reference names a defined id.
        let ids = page.matches(of: #/id="([^"]+)"/#).map { String($0.1) }
        XCTAssertFalse(ids.isEmpty)
        XCTAssertEqual(Set(ids).count, ids.count, "duplicate ids")
        for ref in page.matches(of: #/(?:href="#|url\(#)([^")]+)/#).map({ String($0.1) }) {
            XCTAssertTrue(ids.contains(ref), "dangling reference #\(ref)")
        }
    }

    func testNotebookWritesOnePageAndKeepsErrorsInTheirCell() throws {
        let script = write("nb.vls", """
        # %% md
        # # Title
        # Some **bold** prose with `code`.
        # %%
        x = 21
        print("x is {x}")
        # %%
        x * 2
        # %%
        print(1 / 0)
        # %%
        print("never")
        """)
        let html = tmp + "/nb.html"
        let (code, _, err) = try run(["notebook", script, "-o", html])
        XCTAssertEqual(code, 70)
        XCTAssertTrue(err.contains("nb.vls:10:9: error: division by zero"), err)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertTrue(page.contains("<h2>Title</h2>"), page)
        XCTAssertTrue(page.contains("<strong>bold</strong>"))
        XCTAssertTrue(page.contains("<pre class=\"out\">x is 21\n</pre>"), page)
        XCTAssertTrue(page.contains("<pre class=\"out\">42\n</pre>"), page)
        XCTAssertTrue(page.contains("<pre class=\"error\">"), page)
        XCTAssertTrue(page.contains("not run"), page)
        let good = write("good.vls", "# %%\nprint(\"a\")\n# %%\nprint(\"b\")\n")
        XCTAssertEqual(try run(["notebook", good, "-o", tmp + "/good.html"]).0, 0)
    }

    // MARK: - REPL under a pseudo-terminal

    func testReplUnderPseudoTerminal() throws {
        let bin = try binary()
        var master: Int32 = -1
        let history = tmp + "/history"
        let pid = forkpty(&master, nil, nil, nil)
        if pid < 0 { throw XCTSkip("forkpty failed") }
        if pid == 0 {
            setenv("TERM", "dumb", 1)
            setenv("VLS_HISTORY", history, 1)
            setenv("HOME", tmp, 1)
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup(bin), nil]
            execv(bin, argv)
            _exit(127)
        }
        defer { close(master) }
        var transcript = ""
        var consumed = 0

        func readAvailable(timeout: Double) {
            var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            let deadline = Date().addingTimeInterval(timeout)
            var buf = [UInt8](repeating: 0, count: 4096)
            while Date() < deadline {
                pfd.revents = 0
                if poll(&pfd, 1, 50) > 0 {
                    let n = read(master, &buf, buf.count)
                    if n <= 0 { return }
                    transcript += String(decoding: buf[0..<n], as: UTF8.self)
                }
            }
        }
        /// Waits until `text` appears in the output after the last match.
        func expect(_ text: String, timeout: Double = 10, file: StaticString = #filePath, line: UInt = #line) {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                let tail = String(transcript.dropFirst(consumed))
                if let r = tail.range(of: text) {
                    consumed += tail.distance(from: tail.startIndex, to: r.upperBound)
                    return
                }
                readAvailable(timeout: 0.1)
            }
            XCTFail("did not see '\(text)' in:\n\(transcript)", file: file, line: line)
        }
        func type(_ s: String) {
            _ = s.utf8CString.withUnsafeBufferPointer { Glibc.write(master, $0.baseAddress, $0.count - 1) }
            usleep(30_000)
        }

        expect("> ")
        type("def twice(x):\r")
        expect(".. ")
        type("    return x * 2\r")
        expect(".. ")
        type("\r")
        expect("> ")
        type("twice(21)\r")
        expect("42")
        type("1 / 0\r")
        expect("division by zero")
        expect("> ")
        // Ctrl-C clears a half-typed line.
        type("partial_input_never_run")
        type("\u{3}")
        expect("> ")
        type("twice(5)\r")
        expect("10")
        // Tab completes names in scope.
        type("twi\t")
        type("(4)\r")
        expect("8")
        // Ctrl-C interrupts a running computation and the session survives.
        type("def spin():\r")
        type("    print(\"spin\" + \"ning\")\r")
        type("    while true:\r")
        type("        pass\r")
        type("\r")
        type("spin()\r")
        expect("spinning")
        usleep(100_000)
        type("\u{3}")
        expect("interrupted")
        type("twice(333)\r")
        expect("666")
        // Ctrl-D quits.
        type("\u{4}")
        var status: Int32 = 0
        var waited: pid_t = 0
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            readAvailable(timeout: 0.05)
            waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { break }
        }
        if waited != pid {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            XCTFail("vls did not exit on Ctrl-D:\n\(transcript)")
            return
        }
        XCTAssertEqual((status >> 8) & 0xff, 0, "exit status")
        XCTAssertFalse(transcript.contains("undefined variable 'partial_input_never_run'"), transcript)
        let saved = (try? String(contentsOfFile: history, encoding: .utf8)) ?? ""
        XCTAssertTrue(saved.contains("def twice(x):\\n    return x * 2"), "history: \(saved)")
        XCTAssertTrue(saved.contains("twice(21)"), "history: \(saved)")
    }
}
