import XCTest
@testable import VLSLanguage

/// Scripts and structures from elsewhere: line ends and byte-order marks read as python3
/// reads them, NUL refused with its position, deep and cyclic structures an error or a
/// bounded print, never a crash.
final class HostileSourceTests: XCTestCase {
    private func run(_ src: String) -> (String, String?) {
        let interp = Interpreter()
        var out = ""
        interp.output = { out += $0 }
        switch interp.run(source: src, path: "h.vls") {
        case .ok: return (out, nil)
        case .syntaxErrors(let ds): return (out, ds.map { $0.rendered() }.joined())
        case .runtimeError(let d): return (out, d.rendered())
        }
    }

    func testCRLFAndLoneCRAndBOMRunAsInPython() {
        XCTAssertEqual(run("x = 1\r\nif x == 1:\r\n    print(\"crlf\")\r\n").0, "crlf\n")
        XCTAssertEqual(run("x = 2\rprint(x)\r").0, "2\n")
        XCTAssertEqual(run("\u{FEFF}print(\"bom\")\n").0, "bom\n")
        // A CR inside a string literal's line end, and a CRLF error message without a raw CR.
        let (_, err) = run("x = 1\r\ny = (\r\n")
        XCTAssertNotNil(err)
        XCTAssertFalse(err?.contains("\r") ?? true, err ?? "")
    }

    func testNulIsASyntaxErrorWithItsPosition() {
        let (_, err) = run("x = 1\nprint(x)\u{0}\n")
        XCTAssertTrue(err?.contains("h.vls:2:9: error: a NUL byte (\\0) in the source") ?? false, err ?? "nil")
    }

    func testDeepAndCyclicStructures() {
        // 200,000 levels: built, printed in linear time (capped) and released without recursion.
        let (out, err) = run("""
        x = []
        for i in range(200000):
            x = [i, x]
        s = str(x)
        print(len(s) > 50000, "[...]" in s)
        d = {}
        for i in range(100000):
            d = {"k": d}
        a = []
        a.append(a)
        print(a, a == a, a in [a])
        """)
        XCTAssertNil(err)
        XCTAssertEqual(out, "true true\n[[...]] true true\n")
        for (code, message) in [("a = []\na.append(a)\nb = []\nb.append(b)\nprint(a == b)", "maximum recursion depth exceeded in comparison"),
                                ("a = []\na.append(a)\nb = []\nb.append(b)\nprint(a < b)", "maximum recursion depth exceeded in comparison"),
                                ("a = []\na.append(a)\nb = []\nb.append(b)\nprint(a in [b])", "maximum recursion depth exceeded in comparison"),
                                ("a = []\na.append(a)\nb = []\nb.append(b)\nprint(sorted([a, b]))", "maximum recursion depth exceeded in comparison")] {
            let (_, e) = run(code)
            XCTAssertTrue(e?.contains(message) ?? false, "\(code): \(e ?? "no error")")
        }
    }

    func testCollectionCapsCoverMethods() {
        let saved = Interrupt.maxCollectionBytes
        Interrupt.maxCollectionBytes = 1 << 16
        defer { Interrupt.maxCollectionBytes = saved }
        for (code, what) in [("xs = list(range(3000))\nxs.extend(xs)\nxs.extend(xs)", "list.extend"),
                             ("s = \"ab\" * 30000\nt = s.replace(\"a\", \"aaaa\")", "string.replace"),
                             ("s = \"x\" * 1000\nt = s.join([s] * 100)", "string.join"),
                             ("s = \"x\".zfill(100000)", "string.zfill")] {
            let (_, e) = run(code)
            XCTAssertTrue(e?.contains("\(what): result too large") ?? false, "\(code): \(e ?? "no error")")
        }
    }
}
