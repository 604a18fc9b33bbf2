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
            usleep(UInt32.random(in: 150_000...700_000, using: &generator))
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
