import Foundation
import XCTest
import VLSCore
#if canImport(Glibc)
import Glibc
#endif

/// Nothing lost, no way in: writes survive a SIGKILL at any moment, the notebook page
/// shows hostile text as text in a real browser.
final class RobustnessTests: XCTestCase {
    var tmp = ""

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "vls-robust-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: tmp)
    }

    /// The built `vls` binary (as ToolTests finds it).
    func binary() throws -> String {
        var candidates = [Bundle.main.bundleURL.appendingPathComponent("vls").path]
        for b in Bundle.allBundles { candidates.append(b.bundleURL.deletingLastPathComponent().appendingPathComponent("vls").path) }
        candidates.append(BuiltinCaseTests.root + "/.build/debug/vls")
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
        throw XCTSkip("vls binary not built (looked in \(candidates))")
    }

    func write(_ name: String, _ text: String) -> String {
        let path = tmp + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    // MARK: - Nothing lost

    /// A script rewrites an 8 MB `.npy` in a loop, each version filled with one value; it
    /// is SIGKILLed at random moments, and every time the file must read back whole.
    func testKillDuringWriteLeavesAWholeFile() throws {
        let vls = try binary()
        let target = tmp + "/big.npy"
        try NPY.write(Tensor([Float](repeating: -1, count: 2_000_000), shape: [2000, 1000]), to: target)
        let script = write("writer.vls", """
        t = zeros(2000, 1000)
        i = 0
        while true:
            write_npy("\(target)", t + float(i))
            i += 1
        """)
        var generator = SystemRandomNumberGenerator()
        var versionsSeen = Set<Float>()
        for round in 0..<6 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: vls)
            p.arguments = ["run", script]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            // Wait until this writer has replaced the file once (a sanitizer build starts
            // slowly), then kill it at a random moment of its next writes.
            let before = try NPY.read(target).scalars.first
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline, (try? NPY.read(target).scalars.first) == before { usleep(20_000) }
            usleep(UInt32.random(in: 20_000...400_000, using: &generator))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationReason, .uncaughtSignal, "round \(round): the writer ended before the kill")
            let t = try NPY.read(target)
            XCTAssertEqual(t.shape, [2000, 1000], "round \(round)")
            let values = Set(t.scalars)
            XCTAssertEqual(values.count, 1, "round \(round): a torn file mixes versions \(values.sorted().prefix(5))")
            versionsSeen.formUnion(values)
        }
        XCTAssertGreaterThan(versionsSeen.count, 1, "the writer never replaced the file")
    }

    /// A REPL under a pseudo-terminal, for the history test.
    final class PtyRepl {
        let pid: pid_t
        let master: Int32
        var transcript = ""

        init(binary: String, history: String, home: String) throws {
            var m: Int32 = -1
            let p = forkpty(&m, nil, nil, nil)
            if p < 0 { throw XCTSkip("forkpty failed") }
            if p == 0 {
                setenv("TERM", "dumb", 1)
                setenv("VLS_HISTORY", history, 1)
                setenv("HOME", home, 1)
                let argv: [UnsafeMutablePointer<CChar>?] = [strdup(binary), nil]
                execv(binary, argv)
                _exit(127)
            }
            pid = p
            master = m
        }

        /// Reads until `text` has appeared `count` times in all output so far.
        func expect(_ text: String, count: Int = 1, timeout: Double = 10) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            var buf = [UInt8](repeating: 0, count: 4096)
            while Date() < deadline {
                if transcript.components(separatedBy: text).count - 1 >= count { return true }
                var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 50) > 0 {
                    let n = read(master, &buf, buf.count)
                    if n <= 0 { break }
                    transcript += String(decoding: buf[0..<n], as: UTF8.self)
                }
            }
            return transcript.components(separatedBy: text).count - 1 >= count
        }

        func type(_ s: String) {
            _ = s.utf8CString.withUnsafeBufferPointer { Glibc.write(master, $0.baseAddress, $0.count - 1) }
            usleep(30_000)
        }

        /// Ctrl-D, then waits for the exit status.
        func quit() -> Int32? {
            type("\u{4}")
            let deadline = Date().addingTimeInterval(10)
            var status: Int32 = 0
            while Date() < deadline {
                _ = expect("\u{0}", timeout: 0.05)   // drain output so the child never blocks
                if waitpid(pid, &status, WNOHANG) == pid { close(master); return status }
            }
            kill(pid, SIGKILL)
            close(master)
            return nil
        }
    }

    /// Two REPLs open on one history file: each keeps its own lines, the older entries stay.
    func testTwoReplsSharingAHistoryLoseNeithersLines() throws {
        let vls = try binary()
        let history = tmp + "/history"
        try "#vls-history v1\nold_entry = 0\n".write(toFile: history, atomically: true, encoding: .utf8)
        let a = try PtyRepl(binary: vls, history: history, home: tmp)
        let b = try PtyRepl(binary: vls, history: history, home: tmp)
        XCTAssertTrue(a.expect("> "), a.transcript)
        XCTAssertTrue(b.expect("> "), b.transcript)
        a.type("from_a = 1\r")
        XCTAssertTrue(a.expect("> ", count: 2), a.transcript)
        b.type("from_b = 2\r")
        XCTAssertTrue(b.expect("> ", count: 2), b.transcript)
        XCTAssertNotNil(a.quit())
        XCTAssertNotNil(b.quit())
        let lines = try String(contentsOfFile: history, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines, ["#vls-history v1", "old_entry = 0", "from_a = 1", "from_b = 2"])
    }

    /// A REPL killed outright (SIGKILL: the OOM killer, a closed terminal) keeps every line it
    /// accepted in the history, and a `:save` interrupted by the kill leaves the old file whole.
    func testKilledReplLosesNoHistoryAndNoSave() throws {
        let vls = try binary()
        let history = tmp + "/history"
        let saved = tmp + "/session.vls"
        let repl = try PtyRepl(binary: vls, history: history, home: tmp)
        XCTAssertTrue(repl.expect("> "), repl.transcript)
        // Enough inputs that each :save is a real write; every :save rewrites the file with
        // the session so far, so a torn file would end mid-line or skip an input.
        var typed = 0
        for i in 0..<60 {
            repl.type("v\(i) = \(i)\r")
            typed += 1
            XCTAssertTrue(repl.expect("> ", count: typed + 1), repl.transcript)
            if i % 3 == 2 {
                repl.type(":save \(saved)\r")
                typed += 1
                XCTAssertTrue(repl.expect("> ", count: typed + 1), repl.transcript)
            }
        }
        kill(repl.pid, SIGKILL)
        var status: Int32 = 0
        waitpid(repl.pid, &status, 0)
        close(repl.master)
        let lines = try String(contentsOfFile: history, encoding: .utf8).split(separator: "\n").map(String.init)
        let expected = ["#vls-history v1"] + (0..<60).flatMap { i in
            ["v\(i) = \(i)"] + (i % 3 == 2 ? [":save \(saved)"] : [])
        }
        // Consecutive duplicates are kept once, so the repeated :save lines stay (they alternate).
        XCTAssertEqual(lines, expected)
        let session = try String(contentsOfFile: saved, encoding: .utf8)
        XCTAssertEqual(session, (0..<60).map { "v\($0) = \($0)\n" }.joined())
    }

    /// Kills a REPL in the middle of a burst of `:save`s: the file is always one whole version.
    func testKillDuringSaveLeavesAWholeSession() throws {
        let vls = try binary()
        let saved = tmp + "/burst.vls"
        var generator = SystemRandomNumberGenerator()
        var linesChecked = 0
        for round in 0..<4 {
            let repl = try PtyRepl(binary: vls, history: tmp + "/history-\(round)", home: tmp)
            XCTAssertTrue(repl.expect("> "), repl.transcript)
            // One paste: 400 assignments, each followed by a :save of the session so far.
            var burst = ""
            for i in 0..<400 { burst += "w\(i) = \"\(String(repeating: "x", count: 200))\"\r:save \(saved)\r" }
            // Typed in non-blocking chunks between reads of the echo: a pty holds a few KB,
            // so writing it all before reading would block both sides.
            let bytes = Array(burst.utf8)
            var sent = 0
            _ = fcntl(repl.master, F_SETFL, fcntl(repl.master, F_GETFL) | O_NONBLOCK)
            let deadline = Date().addingTimeInterval(Double.random(in: 0.3...1.0, using: &generator))
            while Date() < deadline {
                if sent < bytes.count {
                    let n = bytes[sent...].withUnsafeBufferPointer { Glibc.write(repl.master, $0.baseAddress, min(512, $0.count)) }
                    if n > 0 { sent += n }
                }
                _ = repl.expect("\u{0}", timeout: 0.01)
            }
            kill(repl.pid, SIGKILL)
            var status: Int32 = 0
            waitpid(repl.pid, &status, 0)
            close(repl.master)
            guard let text = try? String(contentsOfFile: saved, encoding: .utf8) else { continue }
            let got = text.split(separator: "\n", omittingEmptySubsequences: false)
            XCTAssertEqual(got.last, "", "round \(round): the file does not end with a newline (torn)")
            let body = got.dropLast()
            linesChecked += body.count
            for (i, line) in body.enumerated() {
                XCTAssertEqual(String(line), "w\(i) = \"\(String(repeating: "x", count: 200))\"", "round \(round): line \(i) torn or out of order")
            }
        }
        XCTAssertGreaterThan(linesChecked, 0, "no :save ever completed before the kills")
    }

    /// `AtomicFile.update` (the REPL history) from many threads at once: every line lands.
    func testLockedUpdatesLoseNothing() throws {
        let path = tmp + "/history"
        let threads = 8, each = 25
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<each {
                try? AtomicFile.update(path) { old in
                    var text = old.map { String(decoding: $0, as: UTF8.self) } ?? ""
                    text += "thread \(t) line \(i)\n"
                    return Data(text.utf8)
                }
            }
        }
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, threads * each)
        XCTAssertEqual(Set(lines).count, threads * each)
    }

    // MARK: - No way in

    /// Printed text, a markdown cell, an error message and the script name all carry
    /// markup (`<script>`, `<img onerror>`); headless Chromium must show it as text and run none of it.
    func testNotebookShowsScriptTagsAsTextInABrowser() throws {
        let vls = try binary()
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("no chromium to render the notebook")
        }
        let payload = "<script>alert(1)</script>"
        let script = write("<img src=y onerror=alert(9)>.vls", """
        # %% md
        # Prose <script>document.title = "pwned"</script> and <img src=x onerror="document.title='img'">
        # %%
        print("\(payload)")
        # %%
        "<script>alert(2)</script>"
        # %%
        print(1 / 0, "<script>alert(3)</script>")
        """)
        let html = tmp + "/nb.html"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: vls)
        p.arguments = ["notebook", script, "-o", html]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 70)

        let c = Process()
        c.executableURL = URL(fileURLWithPath: chromium)
        c.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(tmp)/chromium",
                       "--dump-dom", URL(fileURLWithPath: html).absoluteString]
        let out = Pipe()
        c.standardOutput = out
        c.standardError = FileHandle.nullDevice
        try c.run()
        let dom = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        c.waitUntilExit()
        XCTAssertTrue(dom.contains("</html>"), "chromium printed no DOM: \(dom.prefix(500))")
        // The DOM serialiser escapes text: the payload appears only in escaped form.
        XCTAssertTrue(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), dom)
        XCTAssertTrue(dom.contains("&lt;script&gt;alert(2)&lt;/script&gt;"), dom)
        XCTAssertTrue(dom.contains("&lt;script&gt;document.title"), dom)
        for bad in ["<script>alert", "<script>document", "<img src=\"x\"", "<img src=\"y\""] {
            XCTAssertFalse(dom.contains(bad), "a live '\(bad)' element in the page")
        }
        XCTAssertFalse(dom.contains("<title>pwned") || dom.contains("<title>img"), "injected code ran")
    }
}
