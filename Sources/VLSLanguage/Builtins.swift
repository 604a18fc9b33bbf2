#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The builtins every session has, independent of ViTs. One table entry per function:
/// name, signature, docstring, area (Lua's luaL_Reg).
enum CoreBuiltins {
    static func install(into interp: Interpreter) {
        for f in table { interp.define(f) }
    }

    private static func fn(_ name: String, _ signature: String, _ doc: String, area: String = "basics",
                           _ body: @escaping (Arguments) throws -> Value) -> NativeFunction {
        NativeFunction(name: name, signature: signature, doc: doc, area: area, body: body)
    }

    static var table: [NativeFunction] { [
        fn("print", "print(*values, sep: string = \" \", end: string = \"\\n\")",
           "Prints the values separated by `sep` and followed by `end`. Strings print without quotes.") { a in
            let sep = try a.string(nil, "sep", default: " ")
            let end = try a.string(nil, "end", default: "\n")
            a.interpreter.output(a.positional.map { a.interpreter.str($0) }.joined(separator: sep) + end)
            return .nil
        },
        fn("len", "len(x, /)", "The number of items of a list, dict, range, string (characters) or object.") { a in
            let v = try a.value(0, "x")
            switch v {
            case .list(let l): return .int(l.items.count)
            case .dict(let d): return .int(d.count)
            case .string(let s): return .int(s.count)
            case .range(let r): return .int(r.count)
            case .object(let o): if let n = try o.length() { return .int(n) }
            default: break
            }
            throw a.badArgument(0, "x", expected: "list, dict, string or range", got: v)
        },
        fn("range", "range(start: int, stop: int = nil, step: int = 1, /)",
           "A lazy sequence of integers from `start` up to but not including `stop`; `range(stop)` starts at 0.") { a in
            if a.count == 1 { return .range(RangeRef(start: 0, stop: try a.int(0, "start"), step: 1)) }
            let step = try a.int(2, "step", default: 1)
            if step == 0 { throw RuntimeError("bad argument #3 to 'range' (step must not be zero)") }
            return .range(RangeRef(start: try a.int(0, "start"), stop: try a.int(1, "stop"), step: step))
        },
        fn("clock", "clock()", "Monotonic time in seconds (a float), for timing: `t = clock(); ...; print(clock() - t)`.") { _ in
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return .float(Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9)
        },
        fn("help", "help(f = nil, /)", "Prints the signature and docstring of a function (or the members of a value).") { a in
            guard let v = a.optional(0, "f") else {
                a.interpreter.output("help(f) describes a function; `:help` at the prompt lists every builtin.\n")
                return .nil
            }
            a.interpreter.output(a.interpreter.helpText(of: v) + "\n")
            return .nil
        },
        fn("dir", "dir(x = nil, /)", "The names of the properties and methods of a value (what completes after a dot); without x, the names defined at the top level.") { a in
            guard let x = a.optional(0, "x") else { return .list(ListRef(a.interpreter.globalNames().map { .string($0) })) }
            return .list(ListRef(Methods.memberNames(of: x).sorted().map { .string($0) }))
        },
        fn("str", "str(x = \"\", /)", "The text of a value, as print shows it.", area: "conversions") { a in
            .string(a.interpreter.str(try a.value(0, "x")))
        },
        fn("repr", "repr(x, /)", "The text of a value as the REPL shows it (strings quoted).", area: "conversions") { a in
            .string(a.interpreter.repr(try a.value(0, "x")))
        },
        fn("int", "int(x = 0, /, base: int = 10)", "Converts a float (truncating toward zero), bool, numeric string (in `base`) or one-element tensor to an integer.", area: "conversions") { a in
            let v = try a.value(0, "x")
            let base = try a.int(nil, "base")
            if a.given("base") {
                guard case .string(let s) = v else { throw RuntimeError("int() can't convert non-string with explicit base") }
                guard base >= 2 && base <= 36 else { throw RuntimeError("int() base must be >= 2 and <= 36") }
                var t = s.trimmingWhitespace().filter { $0 != "_" }.lowercased()
                var sign = ""
                if t.hasPrefix("-") || t.hasPrefix("+") { sign = String(t.removeFirst()) }
                // Python accepts the base's own prefix: int("0x1f", 16), int("0b101", 2).
                for (b, p) in [(16, "0x"), (8, "0o"), (2, "0b")] where base == b && t.hasPrefix(p) { t.removeFirst(2) }
                guard !t.isEmpty, let i = Int(sign + t, radix: base) else {
                    if !t.isEmpty && t.allSatisfy({ $0.isASCII && ($0.hexDigitValue ?? 99) < base }) { throw tooManyDigits(s) }
                    throw RuntimeError("invalid literal for int() with base \(base): \(Format.quoteExcerpt(s))")
                }
                return .int(i)
            }
            switch v {
            case .int: return v
            case .bool(let b): return .int(b ? 1 : 0)
            case .float(let d):
                guard d.isFinite, let i = Int(exactly: d.rounded(.towardZero)) else { throw RuntimeError("cannot convert \(Format.float(d)) to int") }
                return .int(i)
            case .float32(let f):
                guard f.isFinite, let i = Int(exactly: f.rounded(.towardZero)) else { throw RuntimeError("cannot convert \(Format.float32(f)) to int") }
                return .int(i)
            case .string(let s):
                let t = s.trimmingWhitespace().filter { $0 != "_" }
                if let i = Int(t) { return .int(i) }
                let digits = t.hasPrefix("-") || t.hasPrefix("+") ? t.dropFirst() : Substring(t)
                if !digits.isEmpty && digits.allSatisfy({ $0.isASCII && $0.isNumber }) { throw tooManyDigits(s) }
                throw RuntimeError("invalid literal for int() with base 10: \(Format.quoteExcerpt(s))")
            case .object(let o):
                guard let n = try o.numberValue() else { throw a.badArgument(0, "x", expected: "number or string", got: v) }
                if case .float(let d) = n {
                    guard d.isFinite, let i = Int(exactly: d.rounded(.towardZero)) else { throw RuntimeError("cannot convert \(Format.float(d)) to int") }
                    return .int(i)
                }
                return n
            default: throw a.badArgument(0, "x", expected: "number or string", got: v)
            }
        },
        fn("float", "float(x = 0.0, /)", "Converts an int, bool, numeric string or one-element tensor to a float.", area: "conversions") { a in
            let v = try a.value(0, "x")
            switch v {
            case .float: return v
            case .float32(let f): return .float(Double(f))
            case .int(let i): return .float(Double(i))
            case .bool(let b): return .float(b ? 1 : 0)
            case .string(let s):
                let t = s.trimmingWhitespace().lowercased()
                if t == "nan" { return .float(.nan) }
                if t == "inf" || t == "+inf" { return .float(.infinity) }
                if t == "-inf" { return .float(-.infinity) }
                if t == "infinity" || t == "+infinity" { return .float(.infinity) }
                if t == "-infinity" { return .float(-.infinity) }
                if t == "+nan" || t == "-nan" { return .float(.nan) }
                if !t.contains("x") && !t.contains("p"), let d = Double(t.filter { $0 != "_" }) { return .float(d) }
                throw RuntimeError("could not convert string to float: \(Format.quoteExcerpt(s))")
            case .object(let o):
                guard let n = try o.numberValue() else { throw a.badArgument(0, "x", expected: "number or string", got: v) }
                if case .int(let i) = n { return .float(Double(i)) }
                if case .float32(let f) = n { return .float(Double(f)) }
                return n
            default: throw a.badArgument(0, "x", expected: "number or string", got: v)
            }
        },
        fn("bool", "bool(x = false, /)", "The truth value of x: nil, false, 0, empty strings and containers are false (a tensor of several elements has none: use .any() or .all()).", area: "conversions") { a in
            .bool(try a.value(0, "x").isTruthy)
        },
        fn("list", "list(xs: iterable = nil, /)", "A new list of the items of any iterable (range, string, dict keys, list).", area: "conversions") { a in
            guard let v = a.optional(0, "xs") else { return .list(ListRef()) }
            return .list(ListRef(try Ops.toArray(v, a.interpreter)))
        },
        fn("dict", "dict(pairs = nil, /, **entries)", "A new dictionary: empty, from a dict or a list of [key, value] pairs, plus the keyword entries.", area: "conversions") { a in
            let d = DictRef()
            if case .dict(let other)? = a.optional(0, "pairs") {
                for (i, k) in other.keys.enumerated() { d[k] = other.values[i] }
            } else if let v = a.optional(0, "pairs") {
                for p in try Ops.toArray(v, a.interpreter) {
                    let kv = try Ops.toArray(p, a.interpreter)
                    guard kv.count == 2 else { throw RuntimeError("'dict' expects [key, value] pairs") }
                    try Ops.checkHashable(kv[0])
                    d[kv[0]] = kv[1]
                }
            }
            for (k, v) in a.keywords { d[.string(k)] = v }
            return .dict(d)
        },
        fn("type", "type(x, /)", "The type name of a value: \"int\", \"float\", \"string\", \"list\", \"tensor\", ...", area: "conversions") { a in
            .string(try a.value(0, "x").typeName)
        },
        fn("format", "format(x, spec: string = \"\", /)", "Formats a value with a spec like \".3f\", \">8\", \".1%\" (as in \"{x:.3f}\").", area: "conversions") { a in
            .string(try Format.apply(spec: try a.string(1, "spec"), to: try a.value(0, "x"), a.interpreter))
        },
        fn("abs", "abs(x, /)", "The absolute value of a number; of a tensor, elementwise.", area: "math") { a in
            let v = try a.value(0, "x")
            switch v {
            case .int(let i):
                if i == Int.min { throw RuntimeError("integer overflow in abs") }
                return .int(abs(i))
            case .float(let d): return .float(abs(d))
            case .float32(let f): return .float32(abs(f))
            case .bool(let b): return .int(b ? 1 : 0)
            case .object(let o):
                if let m = try o.getProperty("abs", interpreter: a.interpreter) { return try a.interpreter.call(m, []) }
                throw a.badArgument(0, "x", expected: "number", got: v)
            default: throw a.badArgument(0, "x", expected: "number", got: v)
            }
        },
        fn("min", "min(*values, key: function = nil, default = nil)", "The smallest item of one iterable (or `default` when it is empty), or of several arguments. Items are compared with <; a tensor iterates over its first axis, and comparing tensors of several elements is an error.", area: "math") { a in
            try extremum(a, wantLess: true)
        },
        fn("max", "max(*values, key: function = nil, default = nil)", "The largest item of one iterable (or `default` when it is empty), or of several arguments. Items are compared with >; a tensor iterates over its first axis, and comparing tensors of several elements is an error.", area: "math") { a in
            try extremum(a, wantLess: false)
        },
        fn("sum", "sum(xs: iterable, /, start = 0)", "start plus the items (numbers, or objects that support +; a tensor iterates over its first axis).", area: "math") { a in
            var acc = a.optional(1, "start") ?? .int(0)
            if case .string = acc { throw RuntimeError("sum() can't sum strings [use ''.join(seq) instead]") }
            for v in try Ops.toArray(try a.value(0, "xs"), a.interpreter) { acc = try Ops.binary(.add, acc, v) }
            return acc
        },
        fn("round", "round(x, ndigits: int = nil)", "Rounds half to even like Python: an int without ndigits, a float with them; a tensor elementwise (numpy's round).", area: "math") { a in
            let v = try a.value(0, "x")
            let digits = a.optional(1, "ndigits")
            if case .object(let o) = v {
                guard let m = try o.getProperty("round", interpreter: a.interpreter) else { throw a.badArgument(0, "x", expected: "number", got: v) }
                return try a.interpreter.call(m, digits.map { [$0] } ?? [])
            }
            if case .bool(let b) = v { return .int(b ? 1 : 0) }
            if case .int(let i) = v {
                guard case .int(let n)? = digits, n < 0 else { return v }
                // Python rounds ints to 10**-n, half to even.
                if n < -18 { return .int(0) }
                var m = 1
                for _ in 0..<(-n) { m *= 10 }
                let q = i / m, r = i - q * m
                var down = r < 0 ? q - 1 : q
                let rem = i - down * m
                if rem * 2 > m || (rem * 2 == m && down % 2 != 0) { down += 1 }
                let (out, o) = down.multipliedReportingOverflow(by: m)
                if o { throw RuntimeError("integer overflow in round") }
                return .int(out)
            }
            if case .float32(let f) = v {
                // numpy's round of an np.float32: float32 with ndigits, an int without.
                guard let digits else {
                    guard f.isFinite, let i = Int(exactly: f.rounded(.toNearestOrEven)) else { throw RuntimeError("cannot round \(Format.float32(f)) to an int") }
                    return .int(i)
                }
                guard case .int(let n) = digits else { throw a.badArgument(1, "ndigits", expected: "int", got: digits) }
                guard f.isFinite, n <= 38, n >= -38 else { return v }
                let m = powf(10, Float(n))
                let y = (f * m).rounded(.toNearestOrEven) / m
                return .float32(y.isFinite ? y : f)
            }
            guard case .float(let d) = v else { throw a.badArgument(0, "x", expected: "number", got: v) }
            if let digits {
                guard case .int(let n) = digits else { throw a.badArgument(1, "ndigits", expected: "int", got: digits) }
                guard d.isFinite else { return v }
                if n >= 0 { return .float(Double(Format.fixed(d, min(n, 100))) ?? d) }
                let m = pow(10.0, Double(min(-max(n, -400), 400)))
                if !m.isFinite { return .float(0.0 * d) }
                return .float((d / m).rounded(.toNearestOrEven) * m)
            }
            let r = d.rounded(.toNearestOrEven)
            guard let i = Int(exactly: r) else { throw RuntimeError("cannot round \(Format.float(d)) to an int") }
            return .int(i)
        },
        fn("sorted", "sorted(xs: iterable, /, *, key: function = nil, reverse: bool = false)", "A new sorted list (stable); `key` is a function applied to each item first.", area: "sequences") { a in
            let xs = try Ops.toArray(try a.value(0, "xs"), a.interpreter)
            return .list(ListRef(try sortValues(xs, key: a.keyword("key"), reverse: a.bool(nil, "reverse", default: false), a.interpreter)))
        },
        fn("reversed", "reversed(xs: iterable, /)", "A new list with the items in reverse order.", area: "sequences") { a in
            .list(ListRef(try Ops.toArray(try a.value(0, "xs"), a.interpreter).reversed()))
        },
        fn("enumerate", "enumerate(xs: iterable, start: int = 0)", "[index, item] pairs: `for i, x in enumerate(xs):`.", area: "sequences") { a in
            let start = try a.int(1, "start", default: 0)
            let xs = try Ops.toArray(try a.value(0, "xs"), a.interpreter)
            return .list(ListRef(try xs.enumerated().map {
                let (i, o) = start.addingReportingOverflow($0.offset)
                if o { throw RuntimeError("integer overflow in enumerate") }
                return .list(ListRef([.int(i), $0.element]))
            }))
        },
        fn("zip", "zip(*xs: iterable)", "Lists of items taken in step from each argument, as long as the shortest.", area: "sequences") { a in
            let seqs = try a.positional.map { try Ops.toArray($0, a.interpreter) }
            let n = seqs.map(\.count).min() ?? 0
            return .list(ListRef((0..<n).map { i in .list(ListRef(seqs.map { $0[i] })) }))
        },
        fn("map", "map(f: function, xs: iterable, /, *more: iterable)", "A list of f(x) for each item x (f(x, y, ...) over several iterables in step, as long as the shortest).", area: "sequences") { a in
            let f = try a.value(0, "f")
            let seqs = try a.positional.dropFirst().map { try Ops.toArray($0, a.interpreter) }
            let n = seqs.map(\.count).min() ?? 0
            return .list(ListRef(try (0..<n).map { i in try a.interpreter.call(f, seqs.map { $0[i] }) }))
        },
        fn("filter", "filter(f: function|nil, xs: iterable, /)", "A list of the items x for which f(x) is true (x itself when f is nil).", area: "sequences") { a in
            let f = a.optional(0, "f").flatMap { v -> Value? in if case .nil = v { return nil }; return v }
            return .list(ListRef(try Ops.toArray(try a.value(1, "xs"), a.interpreter).filter { x in
                if let f { return try a.interpreter.call(f, [x]).isTruthy }
                return try x.isTruthy
            }))
        },
        fn("any", "any(xs: iterable, /)", "True if some item is true.", area: "sequences") { a in
            .bool(try Ops.toArray(try a.value(0, "xs"), a.interpreter).contains { try $0.isTruthy })
        },
        fn("all", "all(xs: iterable, /)", "True if every item is true.", area: "sequences") { a in
            .bool(try Ops.toArray(try a.value(0, "xs"), a.interpreter).allSatisfy { try $0.isTruthy })
        },
        fn("error", "error(message)", "Stops the program with a runtime error carrying the message.", area: "errors") { a in
            throw RuntimeError(a.interpreter.str(try a.value(0, "message")), verbatim: true)
        },
        fn("assert", "assert(condition, message = \"assertion failed\")", "Raises a runtime error if the condition is false.", area: "errors") { a in
            if try a.value(0, "condition").isTruthy { return .nil }
            let msg = a.optional(1, "message").map { a.interpreter.str($0) } ?? "assertion failed"
            throw RuntimeError(msg, verbatim: true)
        },
        fn("show", "show(x, /)", "Shows a figure (inline in a notebook); prints any other value.", area: "basics") { a in
            let v = try a.value(0, "x")
            if case .object(let o) = v, let d = o as? Displayable { a.interpreter.display(d) } else { a.interpreter.output(a.interpreter.str(v) + "\n") }
            return .nil
        },
    ] }

    private static func extremum(_ a: Arguments, wantLess: Bool) throws -> Value {
        let items: [Value]
        if a.count == 0 { throw RuntimeError("'\(a.functionName)' expected at least 1 argument, got 0") }
        if a.count == 1 { items = try Ops.toArray(a.positional[0], a.interpreter) } else {
            if a.given("default") { throw RuntimeError("Cannot specify a default for \(a.functionName)() with multiple positional arguments") }
            items = a.positional
        }
        guard var best = items.first else {
            if a.given("default") { return a.optional(nil, "default") ?? .nil }
            throw RuntimeError("'\(a.functionName)' of an empty sequence")
        }
        let key = a.keyword("key")
        var bestKey = try key.map { try a.interpreter.call($0, [best]) } ?? best
        for v in items.dropFirst() {
            let k = try key.map { try a.interpreter.call($0, [v]) } ?? v
            let c = try Ops.binary(wantLess ? .less : .greater, k, bestKey)
            if try c.isTruthy { best = v; bestKey = k }
        }
        return best
    }

    static func sortValues(_ xs: [Value], key: Value?, reverse: Bool, _ interp: Interpreter) throws -> [Value] {
        let keyed: [(Value, Value)] = try xs.map { x in (try key.map { try interp.call($0, [x]) } ?? x, x) }
        let sorted = try keyed.enumerated().sorted { a, b in
            let c = try Ops.binary(.less, a.element.0, b.element.0).isTruthy
            if c { return !reverse }
            let d = try Ops.binary(.less, b.element.0, a.element.0).isTruthy
            if d { return reverse }
            return a.offset < b.offset
        }
        return sorted.map { $0.element.1 }
    }
}

/// int() of a string of digits too long for 64 bits (vls has no big integers; python3
/// refuses past 4300 digits: "Exceeds the limit (4300 digits) for integer string conversion").
func tooManyDigits(_ s: String) -> RuntimeError {
    RuntimeError("int(): \(Format.quoteExcerpt(s.trimmingWhitespace())) has more digits than a 64-bit integer holds (vls integers are 64-bit)")
}
