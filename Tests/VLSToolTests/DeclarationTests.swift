import Foundation
import XCTest
import VLSBuiltins
@testable import VLSLanguage

/// help, :help, dir and the member lists come from the same declarations the checker binds
/// against, so they cannot disagree with what a call accepts.
final class DeclarationTests: XCTestCase {
    private func session() -> (Interpreter, () -> String) {
        let interp = Interpreter()
        var out = ""
        interp.output = { out += $0 }
        Builtins.install(into: interp, options: SessionOptions(threads: 1, seed: 0))
        _ = FileManager.default.changeCurrentDirectoryPath(BuiltinCaseTests.root)
        return (interp, { out })
    }

    private func run(_ interp: Interpreter, _ src: String) {
        if case .runtimeError(let d) = interp.run(source: src, path: "t.vls") { XCTFail(d.rendered()) }
        if case .syntaxErrors(let ds) = interp.run(source: "", path: "t.vls") { XCTFail(ds.map { $0.rendered() }.joined()) }
    }

    func testHelpOfMembersAndModuleFunctions() {
        let (interp, _) = session()
        run(interp, "m = load(\"Examples/models/fashion-vit\")\nimport context\nxs = [1]\nd = dataset(\"fashion-mnist\")")
        let h = interp.helpText(for: "m.run") ?? ""
        XCTAssertTrue(h.hasPrefix("model.run(x: tensorlike, capture: list[string] = [], edits: list[edit] = [], grad: bool = false)"), h)
        XCTAssertTrue((interp.helpText(for: "m.config") ?? "").contains("The architecture"))
        XCTAssertTrue((interp.helpText(for: "xs.append") ?? "").hasPrefix("xs.append(item)"))
        XCTAssertTrue((interp.helpText(for: "context.patch_masks") ?? "").hasPrefix("patch_masks(model, data, masks = nil, threshold = 0.2)"),
                      interp.helpText(for: "context.patch_masks") ?? "nil")
        XCTAssertTrue((interp.helpText(for: "d.per_class") ?? "").hasPrefix("data.per_class(n: int)"))
        XCTAssertNil(interp.helpText(for: "d.shard"))
        XCTAssertNil(interp.helpText(for: "nope.x"))
        // help(x) of an object lists every member with its signature.
        let model = interp.helpText(for: "m") ?? ""
        for line in ["model.predict(image: image, k: int = 5, pipeline: string = nil)", "model.label(i: int)", "  model.hooks — Every hook name"] {
            XCTAssertTrue(model.contains(line), "help(m) lacks \(line):\n\(model)")
        }
    }

    func testDirListsExactlyTheDeclaredMembers() {
        let (interp, out) = session()
        run(interp, "d = dataset(\"fashion-mnist\")\nprint(dir(d))\nprint(dir(d.take(1)) == dir(d))")
        let printed = out()
        XCTAssertTrue(printed.contains("\"per_class\""), printed)
        XCTAssertFalse(printed.contains("\"shard\""), printed)
        XCTAssertTrue(printed.hasSuffix("true\n"), printed)
        // Every listed member resolves, and every method's keywords are what its call accepts.
        for name in Methods.memberNames(of: .list(ListRef())) {
            XCTAssertNotNil(try Methods.member(.list(ListRef()), name, interp), name)
        }
    }

    func testEveryDeclaredKeywordIsAccepted() throws {
        // For every global builtin: each keyword name in its declaration binds (a wrong
        // value may still be refused by its type, but never as an unknown keyword), and a
        // made-up keyword is refused naming the accepted ones.
        let (interp, _) = session()
        var checked = 0
        for (_, fns) in interp.builtinsByArea() {
            for f in fns {
                let sig = f.spec.signature
                for k in sig.keywordNames {
                    do {
                        _ = try sig.bind([], [(k, .nil)], function: f.name)
                    } catch {
                        let msg = "\(error)"
                        XCTAssertFalse(msg.contains("unexpected keyword"), "\(f.name): \(msg)")
                    }
                }
                if sig.params.contains(where: { $0.kind == .keywords }) { checked += 1; continue }   // dict(**entries)
                XCTAssertThrowsError(try sig.bind([], [("zz_not_a_parameter", .int(1))], function: f.name)) { e in
                    XCTAssertTrue("\(e)".contains("unexpected keyword argument 'zz_not_a_parameter'"), "\(f.name): \(e)")
                }
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 60)
    }

    func testSignatureParsingAndBinding() throws {
        let s = Signature("f(a: int, b = 2, /, c: list[int] = [], *rest, d: bool = false, **kw)")
        XCTAssertEqual(s.params.map(\.name), ["a", "b", "c", "rest", "d", "kw"])
        guard let slots = try s.bind([.float(3), .int(4), .list(ListRef([.float(1)])), .int(9)], [("d", .bool(true)), ("x", .int(0))], function: "f") else { return XCTFail("no slots") }
        guard case .int(3)? = slots[0], case .int(4)? = slots[1], case .bool(true)? = slots[4] else { return XCTFail("\(slots)") }
        guard case .list(let l)? = slots[2], case .int(1) = l.items[0] else { return XCTFail("c not converted: \(slots)") }
        XCTAssertThrowsError(try s.bind([.float(3.5)], [], function: "f")) { XCTAssertTrue("\($0)".contains("an integer expected, got 3.5"), "\($0)") }
        XCTAssertThrowsError(try s.bind([.int(1)], [("b", .int(1))], function: "f")) { XCTAssertTrue("\($0)".contains("takes 'b' by position only"), "\($0)") }
        XCTAssertThrowsError(try s.bind([.int(1)], [("d", .int(1))], function: "f")) { XCTAssertTrue("\($0)".contains("bad argument 'd' to 'f' (bool expected, got int 1)"), "\($0)") }
        XCTAssertThrowsError(try s.bind([.int(1), .int(2), .list(ListRef([.string("x")]))], [], function: "f")) {
            XCTAssertTrue("\($0)".contains("list of ints expected; item 0 is string"), "\($0)")
        }
        let g = Signature("g(x, y = 1)")
        XCTAssertThrowsError(try g.bind([.int(1), .int(2), .int(3)], [], function: "g")) { XCTAssertTrue("\($0)".contains("takes at most 2 positional arguments (3 given)"), "\($0)") }
        XCTAssertThrowsError(try g.bind([.int(1)], [("x", .int(2))], function: "g")) { XCTAssertTrue("\($0)".contains("multiple values for argument 'x'"), "\($0)") }
        XCTAssertThrowsError(try g.bind([], [], function: "g")) { XCTAssertTrue("\($0)".contains("missing argument #1 'x'"), "\($0)") }
    }
}
