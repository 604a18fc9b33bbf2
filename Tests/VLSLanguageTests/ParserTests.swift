import XCTest
@testable import VLSLanguage

final class ParserTests: XCTestCase {
    private func errors(_ s: String) -> [String] {
        Parser.parse(s).errors.map { "\($0.location): \($0.message)" }
    }

    func testPrecedence() throws {
        let (stmts, errs) = Parser.parse("1 + 2 * 3 ** 2")
        XCTAssertTrue(errs.isEmpty)
        guard case .expression(let e) = stmts[0].kind, case .binary(.add, _, let rhs) = e.kind,
              case .binary(.multiply, _, let pow) = rhs.kind, case .binary(.power, _, _) = pow.kind else {
            return XCTFail("wrong tree")
        }
    }

    func testKeywordArgumentsAndSubscripts() {
        let (stmts, errs) = Parser.parse("m.run(x, capture: [\"a\"])\nt[0, 1:, ::-1]")
        XCTAssertEqual(errs.count, 0)
        guard case .expression(let call) = stmts[0].kind, case .call(_, let args) = call.kind else { return XCTFail() }
        XCTAssertEqual(args.map(\.label), [nil, "capture"])
        guard case .expression(let sub) = stmts[1].kind, case .subscripted(_, let items) = sub.kind else { return XCTFail() }
        XCTAssertEqual(items.count, 3)
    }

    func testEveryErrorIsReported() {
        let errs = errors("a = (1\nb = 2\nif x\n    pass\nc = ]\n")
        XCTAssertEqual(errs.count, 3, "\(errs)")
        XCTAssertEqual(errs.first, "1:7: expected ')' to close '(' at 1:5, got newline")
    }

    func testMessagesNameTheOpener() {
        XCTAssertEqual(errors("f(1, 2"), ["1:7: expected ')' to close '(' at 1:2, got end of input"])
        XCTAssertEqual(errors("[1, 2"), ["1:6: expected ']' to close '[' at 1:1, got end of input"])
    }

    func testDocstring() {
        let (stmts, _) = Parser.parse("def f():\n    \"doc\"\n    return 1\n")
        guard case .function(let d) = stmts[0].kind else { return XCTFail() }
        XCTAssertEqual(d.doc, "doc")
    }

    func testLambdaAndConditional() {
        XCTAssertTrue(errors("g = fn(x, y = 2) => x if y else 0").isEmpty)
        XCTAssertEqual(errors("g = fn(x) x"), ["1:11: expected '=>' after the parameters of 'fn' at 1:5, got 'x'"])
    }

    func testCompleteness() {
        XCTAssertEqual(Completeness.check("x = 1"), .complete)
        XCTAssertEqual(Completeness.check("f(1,"), .incomplete)
        XCTAssertEqual(Completeness.check("def f(x):"), .incomplete)
        XCTAssertEqual(Completeness.check("def f(x):\n    return x"), .incomplete)
        XCTAssertEqual(Completeness.check("def f(x):\n    return x\n"), .complete)
        XCTAssertEqual(Completeness.check("if x: y = 1"), .complete)
        XCTAssertEqual(Completeness.check("s = \"\"\"abc"), .incomplete)
        XCTAssertEqual(Completeness.check("x = )"), .invalid)
        XCTAssertEqual(Completeness.check("x = (1 +"), .incomplete)
        XCTAssertEqual(Completeness.check("1 +"), .invalid)
        XCTAssertEqual(Completeness.check("def f():\n    while true:"), .incomplete)
        XCTAssertEqual(Completeness.check("def f():\n    if x:\n        y = 1\n    else:"), .incomplete)
        XCTAssertEqual(Completeness.check("def f():\n    while true:\n        pass\n"), .complete)
        XCTAssertEqual(Completeness.check("def f():\n    x = (1 +\n"), .incomplete)
        XCTAssertEqual(Completeness.check("def f():\n"), .invalid, "an empty line ends a block header without body")
    }
}
