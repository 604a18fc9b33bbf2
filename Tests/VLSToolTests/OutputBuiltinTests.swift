import Foundation
import XCTest
import VLSBuiltins
import VLSLanguage

/// warn and clear_output go through OutputHooks (the kernel's iopub, else stderr / nothing);
/// tables render as escaped HTML for notebook front ends.
final class OutputBuiltinTests: XCTestCase {
    func interpreter() -> Interpreter {
        let interp = Interpreter()
        interp.output = { _ in }
        Builtins.install(into: interp, options: SessionOptions(threads: 1))
        return interp
    }

    func testWarnAndClearOutputUseTheHooks() {
        let savedErr = OutputHooks.standardError, savedClear = OutputHooks.clearOutput
        defer { OutputHooks.standardError = savedErr; OutputHooks.clearOutput = savedClear }
        var err: [String] = []
        var clears: [Bool] = []
        OutputHooks.standardError = { err.append($0) }
        OutputHooks.clearOutput = nil
        let interp = interpreter()
        guard case .ok = interp.run(source: "warn(\"low {1 + 1}\")\nwarn(3.5)\nclear_output()", path: "t.vls") else {
            return XCTFail("the script failed")
        }
        XCTAssertEqual(err, ["low 2\n", "3.5\n"])
        OutputHooks.clearOutput = { clears.append($0) }
        guard case .ok = interp.run(source: "clear_output(wait: true)\nclear_output(false)", path: "t.vls") else {
            return XCTFail("the script failed")
        }
        XCTAssertEqual(clears, [true, false])
        guard case .runtimeError(let d) = interp.run(source: "clear_output(now: true)", path: "t.vls") else {
            return XCTFail("an unknown keyword was accepted")
        }
        XCTAssertTrue(d.message.contains("now"), d.message)
        guard case .runtimeError = interp.run(source: "warn()", path: "t.vls") else {
            return XCTFail("warn() without a message was accepted")
        }
    }

    func testTablesAsHTML() {
        let interp = interpreter()
        guard case .ok(let v?) = interp.run(source: "table([\"name\", \"v\"], [[\"a<b&c\", 1.5], [\"d\", 2]], title: \"T <1>\")", path: "t.vls"),
              case .object(let o) = v, let h = o as? HTMLRepresentable else { return XCTFail("no table value") }
        XCTAssertEqual(h.htmlText(), "<table class=\"vls-table\"><caption>T &lt;1&gt;</caption><thead><tr><th>name</th><th>v</th></tr></thead><tbody>"
            + "<tr><td>a&lt;b&amp;c</td><td style=\"text-align:right\">1.5000</td></tr>"
            + "<tr><td>d</td><td style=\"text-align:right\">2</td></tr></tbody></table>")
        // more than 60 rows: the same elision as the text form
        guard case .ok(let big?) = interp.run(source: "table([\"i\"], [[i] for i in range(100)])", path: "t.vls"),
              case .object(let b) = big, let bh = b as? HTMLRepresentable else { return XCTFail("no table value") }
        let html = bh.htmlText()
        XCTAssertEqual(html.components(separatedBy: "<tr>").count - 1, 1 + 25 + 1 + 25)
        XCTAssertTrue(html.hasSuffix("<p>(100 rows)</p>"))
        XCTAssertTrue(html.contains("<td style=\"text-align:right\">99</td>"))
        XCTAssertFalse(html.contains(">50<"))
    }
}
