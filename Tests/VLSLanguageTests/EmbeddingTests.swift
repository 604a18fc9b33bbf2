import XCTest
@testable import VLSLanguage

/// A stand-in for the core's tensor: a vector of doubles.
final class FakeVector: VLSObject {
    var values: [Double]
    init(_ v: [Double]) { values = v }
    var typeName: String { "tensor" }
    func describe() -> String { "tensor(\(values))" }
    var memberNames: [String] { ["shape", "sum"] }
    func length() throws -> Int? { values.count }
    func getProperty(_ name: String, interpreter: Interpreter) throws -> Value? {
        switch name {
        case "shape": return .list([.int(values.count)])
        case "sum":
            return .native(NativeFunction(name: "sum", signature: "t.sum()", doc: "Sum.", area: "tensor") { _ in
                .float(self.values.reduce(0, +))
            })
        default: return nil
        }
    }
    func subscriptGet(_ items: [IndexItem], interpreter: Interpreter) throws -> Value {
        .string(items.map { item -> String in
            switch item {
            case .value(let v): return interpreter.repr(v)
            case .slice(let a, let b, let c): return "\(a.map(String.init) ?? "_"):\(b.map(String.init) ?? "_"):\(c.map(String.init) ?? "_")"
            }
        }.joined(separator: ","))
    }
    func binary(_ op: BinaryOperator, _ other: Value, reversed: Bool) throws -> Value? {
        let k: Double
        switch other {
        case .int(let i): k = Double(i)
        case .float(let d): k = d
        case .object(let o as FakeVector) where op == .matmul:
            return .float(zip(values, o.values).map(*).reduce(0, +))
        default: return nil
        }
        switch op {
        case .multiply: return .object(FakeVector(values.map { $0 * k }))
        case .subtract: return .object(FakeVector(values.map { reversed ? k - $0 : $0 - k }))
        default: return nil
        }
    }
    func unary(_ op: UnaryOperator) throws -> Value? {
        op == .negate ? .object(FakeVector(values.map { -$0 })) : nil
    }
    func makeIterator(interpreter: Interpreter) throws -> (() throws -> Value?)? {
        var i = 0
        return { [values] in
            defer { i += 1 }
            return i < values.count ? .float(values[i]) : nil
        }
    }
}

final class FakeFigure: Displayable {
    var typeName: String { "figure" }
    func pngData() -> [UInt8]? { [1, 2, 3] }
    func svgText() -> String? { nil }
    var caption: String { "a heatmap" }
}

final class EmbeddingTests: XCTestCase {
    private func make() -> (Interpreter, () -> String) {
        let interp = Interpreter()
        var out = ""
        interp.output = { out += $0 }
        interp.define(NativeFunction(name: "vec", signature: "vec(xs: list, scale: number = 1)", doc: "A vector.", area: "tensors") { a in
            let xs = try a.list(0, "xs").map { v -> Double in
                if case .int(let i) = v { return Double(i) }
                if case .float(let d) = v { return d }
                throw RuntimeError("vec wants numbers")
            }
            let scale = try a.double(nil, "scale", default: 1)
            return .object(FakeVector(xs.map { $0 * scale }))
        })
        interp.define(NativeFunction(name: "norm", signature: "norm(t)", doc: "Norm.", area: "tensors") { a in
            let t = try a.object(0, "t", as: FakeVector.self, expected: "tensor")
            return .float(t.values.map { $0 * $0 }.reduce(0, +).squareRoot())
        })
        interp.define(NativeFunction(name: "apply", signature: "apply(f, x)", doc: "Calls f.", area: "tensors") { a in
            try a.interpreter.call(try a.value(0, "f"), [try a.value(1, "x")], keywords: [("k", .int(3))])
        })
        interp.define(NativeFunction(name: "figure", signature: "figure()", doc: "A figure.", area: "figures") { _ in
            .object(FakeFigure())
        })
        return (interp, { out })
    }

    private func run(_ interp: Interpreter, _ src: String) -> String? {
        switch interp.run(source: src, path: "t.vls") {
        case .ok: return nil
        case .syntaxErrors(let ds): return ds.map { $0.rendered() }.joined()
        case .runtimeError(let d): return d.rendered()
        }
    }

    func testObjectsGetOperatorsPropertiesSubscriptsAndIteration() {
        let (interp, out) = make()
        let err = run(interp, """
        t = vec([1, 2, 3])
        print(t * 2, 2 * t, 10 - t, -t, t @ t, len(t), t.shape, t.sum())
        print(t[0, 1:, ::-1], t[-1])
        for x in t:
            print(x, end: " ")
        print()
        print(norm(vec([3, 4])), vec([1], scale: 2.5), type(t))
        """)
        XCTAssertNil(err)
        XCTAssertEqual(out(), """
        tensor([2.0, 4.0, 6.0]) tensor([2.0, 4.0, 6.0]) tensor([9.0, 8.0, 7.0]) tensor([-1.0, -2.0, -3.0]) 14.0 3 [3] 6.0
        0,1:_:_,_:_:-1 -1
        1.0 2.0 3.0 \n5.0 tensor([2.5]) tensor

        """)
    }

    func testArgumentErrorsNameFunctionArgumentAndTypes() {
        let (interp, _) = make()
        XCTAssertTrue(run(interp, "norm(\"x\")")?.contains("bad argument #1 't' to 'norm' (tensor expected, got string)") ?? false)
        XCTAssertTrue(run(interp, "vec([1], colour: 1)")?.contains("'vec' got an unexpected keyword argument 'colour'") ?? false)
        XCTAssertTrue(run(interp, "norm()")?.contains("'norm' missing argument #1 't'") ?? false)
        XCTAssertTrue(run(interp, "vec([1]) + 1")?.contains("unsupported operand types for +: tensor and int") ?? false)
        XCTAssertTrue(run(interp, "vec([1]).nope")?.contains("no property 'nope' on tensor") ?? false)
        XCTAssertTrue(run(interp, "vec([1], scale: \"big\")")?.contains("bad argument 'scale' to 'vec' (number expected, got string)") ?? false)
    }

    func testNativesCallUserFunctionsWithKeywords() {
        let (interp, out) = make()
        XCTAssertNil(run(interp, "def f(x, k = 1):\n    return x * k\nprint(apply(f, 5))"))
        XCTAssertEqual(out(), "15\n")
        let err = run(interp, "def g(x):\n    return x / 0\napply(fn(x, k = 0) => g(x), 1)")
        XCTAssertTrue(err?.contains("t.vls:2:14: error: division by zero") ?? false, err ?? "")
        XCTAssertTrue(err?.contains("in call to 'g'") ?? false, err ?? "")
    }

    func testDisplayableGoesToTheDisplaySink() {
        let (interp, out) = make()
        var shown: [String] = []
        interp.display = { shown.append($0.caption) }
        XCTAssertNil(run(interp, "show(figure())\nprint(1)"))
        XCTAssertEqual(shown, ["a heatmap"])
        XCTAssertEqual(out(), "1\n")
        if case .ok(let v) = interp.run(source: "figure()", path: "t") {
            if case .object(let o)? = v { XCTAssertTrue(o is Displayable) } else { XCTFail("no value") }
        } else { XCTFail("run failed") }
    }

    func testHelpAndGlobals() {
        let (interp, _) = make()
        interp.setGlobal("args", .list([.string("a")]))
        XCTAssertNil(run(interp, "n = len(args)"))
        if case .int(1)? = interp.global("n") {} else { XCTFail("n") }
        XCTAssertEqual(interp.helpText(for: "norm"), "norm(t)\n    Norm.")
        XCTAssertTrue(interp.builtinsByArea().contains { $0.0 == "tensors" && $0.1.map(\.name) == ["vec", "norm", "apply"] })
        XCTAssertTrue(interp.globalNames().contains("n"))
    }

    func testInterruptStopsLoops() {
        let (interp, _) = make()
        interp.define(NativeFunction(name: "ctrl_c", signature: "ctrl_c()", doc: "", area: "test") { _ in
            Interrupt.request()
            return .nil
        })
        let err = run(interp, "i = 0\nwhile true:\n    i += 1\n    if i == 100:\n        ctrl_c()\n")
        XCTAssertTrue(err?.contains("t.vls:2:1: error: interrupted") ?? false, err ?? "")
        Interrupt.clear()
        XCTAssertFalse(Interrupt.isRequested)
    }

    /// A Ctrl-C stop is marked on the diagnostic (the kernel's `Interrupted`), whether the
    /// loop, a call or a native saw it; a spent step budget or an error that merely says
    /// "interrupted" is not.
    func testInterruptIsFlaggedNotMatchedByMessage() {
        let (interp, _) = make()
        interp.define(NativeFunction(name: "ctrl_c", signature: "ctrl_c()", doc: "", area: "test") { _ in
            Interrupt.request()
            return .nil
        })
        interp.define(NativeFunction(name: "stop", signature: "stop()", doc: "", area: "test") { _ in
            throw RuntimeError.interrupted
        })
        func outcome(_ source: String) -> Diagnostic? {
            defer { Interrupt.clear() }
            if case .runtimeError(let d) = interp.run(source: source, path: "t.vls") { return d }
            return nil
        }
        let loop = outcome("i = 0\nwhile true:\n    i += 1\n    if i == 100:\n        ctrl_c()\n")
        XCTAssertEqual(loop?.message, "interrupted")
        XCTAssertEqual(loop?.isInterrupt, true)
        let call = outcome("def f():\n    return 1\nctrl_c()\nf()\n")
        XCTAssertEqual(call?.isInterrupt, true)
        let native = outcome("def g():\n    stop()\ng()\n")
        XCTAssertEqual(native?.message, "interrupted")
        XCTAssertEqual(native?.isInterrupt, true)
        let said = outcome("assert(false, \"interrupted\")\n")
        XCTAssertEqual(said?.message, "interrupted")
        XCTAssertEqual(said?.isInterrupt, false)
        Interrupt.setStepLimit(50)
        defer { Interrupt.setStepLimit(nil) }
        let budget = outcome("n = 0\nwhile true:\n    n += 1\n")
        XCTAssertEqual(budget?.message.hasPrefix("step limit of 50 exceeded"), true)
        XCTAssertEqual(budget?.isInterrupt, false)
    }

    /// The budgets an embedder (the fuzzer, `vls run --max-steps`) sets: steps and the size
    /// of one string or list operation; both are errors with a location, never a hang or an
    /// out-of-memory kill, and lifting them lets the same program finish.
    func testStepAndCollectionBudgets() {
        let (interp, _) = make()
        defer { Interrupt.setStepLimit(nil); Interrupt.maxCollectionBytes = 1 << 30 }
        Interrupt.setStepLimit(1000)
        let err = run(interp, "n = 0\nwhile true:\n    n += 1\n")
        XCTAssertTrue(err?.contains("t.vls:2:1: error: step limit of 1000 exceeded") ?? false, err ?? "")
        Interrupt.setStepLimit(nil)
        Interrupt.maxCollectionBytes = 1 << 16
        let doubling = "s = \"ab\"\nfor i in range(40):\n    s = s + s\n"
        let e2 = run(interp, doubling)
        XCTAssertTrue(e2?.contains("t.vls:3:7: error: string concatenation too large (over 65536 bytes)") ?? false, e2 ?? "")
        let e3 = run(interp, "xs = [1, 2]\nfor i in range(40):\n    xs = xs + xs\n")
        XCTAssertTrue(e3?.contains("list concatenation too large") ?? false, e3 ?? "")
        XCTAssertTrue(run(interp, "t = \"x\" * 70000")?.contains("string repetition too large") ?? false)
        Interrupt.maxCollectionBytes = 1 << 30
        XCTAssertNil(run(interp, "s = \"ab\"\nfor i in range(15):\n    s = s + s\nassert(len(s) == 65536)\n"))
    }

    func testDeepRecursionIsACleanError() {
        let (interp, _) = make()
        let err = run(interp, "def f(n):\n    return f(n + 1)\nf(0)")
        XCTAssertTrue(err?.contains("stack overflow") ?? false)
        // The session still works afterwards.
        XCTAssertNil(run(interp, "def g(n):\n    return 0 if n == 0 else g(n - 1)\ng(900)"))
    }

    func testStdlibProviderAndRunOutcomeValue() {
        let (interp, out) = make()
        interp.stdlibProvider = { name in name == "lens" ? ("def top(xs):\n    return max(xs)\n", "<stdlib>/lens.vls") : nil }
        XCTAssertNil(run(interp, "import lens\nprint(lens.top([3, 9, 2]))"))
        XCTAssertEqual(out(), "9\n")
        if case .ok(let v) = interp.run(source: "1 + 1", path: "t"), case .int(2)? = v {} else { XCTFail("value") }
        if case .ok(let v) = interp.run(source: "x = 1", path: "t") { XCTAssertNil(v) } else { XCTFail() }
    }
}
