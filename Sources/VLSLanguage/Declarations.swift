/// Declarations of native callables: every builtin and every method of every value is
/// declared once, as a signature string, a docstring and a body (luaL_Reg-style). The
/// signature is parsed once, when the declaration is made, and one checker (`bind`) maps
/// the call's arguments onto it before the body runs: unknown keywords, too many or
/// missing arguments, and wrong types are errors that name the function and the
/// parameter. help, dir, `:help` and completion read the same declarations.
///
/// Signature grammar (Python's, with types from the set below):
///
///     signature := NAME "(" [param ("," param)*] ")"
///     param     := "/"                      parameters before it are positional-only
///                | "*"                      parameters after it are keyword-only
///                | "*" NAME [":" type]      the remaining positional arguments
///                | "**" NAME                the remaining keyword arguments
///                | NAME [":" type] ["=" literal]
///     type      := tname ("|" tname)*       tname: any int float number bool string list
///                                           list[T] dict function nil, or an object type
///                                           name ("tensor", "model", ...) or a type
///                                           registered with `Declarations.registerType`
///     literal   := nil | true | false | INT | FLOAT | "STRING" | "[" "]"
///
/// `int` accepts ints, bools and integral floats (converted to int: a class read from a
/// float tensor is an index); NaN, infinities and 11.5 are errors. `float`/`number` accept
/// ints, floats and bools. A parameter without a default is required; a default of `nil`
/// leaves the parameter absent (the body sees `nil` from `optional`).

/// One parameter of a declared callable.
public struct Param {
    public enum Kind { case positionalOnly, positional, keywordOnly, variadic, keywords }
    public let name: String
    public let kind: Kind
    /// nil: any value.
    public let type: ParamType?
    /// nil: required (or absent when `hasDefault`).
    public let defaultValue: Value?
    public let hasDefault: Bool
    /// The source text of the parameter, for help.
    public let text: String

    var acceptsPositional: Bool { kind == .positionalOnly || kind == .positional }
    var acceptsKeyword: Bool { kind == .positional || kind == .keywordOnly }
}

/// The accepted types of a parameter: a union of simple types.
public struct ParamType {
    public indirect enum Simple {
        case any, int, float, bool, string, list(Simple?), dict, function, `nil`
        case named(String)
    }
    public let alternatives: [Simple]
    public let text: String

    /// The value converted to the parameter's type (ints from integral floats), or an
    /// error message tail ("int expected, got string").
    func check(_ v: Value) -> Result<Value, ArgumentProblem> {
        var integralProblem: ArgumentProblem?
        for alt in alternatives {
            switch ParamType.match(alt, v) {
            case .success(let out): return .success(out)
            case .failure(let p):
                // A specific problem (a non-integral float, a bad list item) says more than "wrong type".
                if case .wrongType = p { continue }
                integralProblem = p
            }
        }
        return .failure(integralProblem ?? .wrongType(expected: text, got: ParamType.describe(v)))
    }

    /// "float 11.5", "int 3", or the type name.
    public static func describe(_ v: Value) -> String {
        switch v {
        case .float(let d): return "float \(Format.float(d))"
        case .float32(let f): return "float32 \(Format.float32(f))"
        case .int(let i): return "int \(i)"
        case .bool(let b): return "bool \(b)"
        default: return v.typeName
        }
    }

    /// The accepted types in words ("int or list of ints").
    public var expected: String {
        func word(_ s: Simple) -> String {
            switch s {
            case .any: return "any value"
            case .int: return "int"
            case .float: return "number"
            case .bool: return "bool"
            case .string: return "string"
            case .dict: return "dict"
            case .function: return "function"
            case .nil: return "nil"
            case .list(nil): return "list"
            case .list(let t?): return "list of \(word(t))s"
            case .named(let n): return Declarations.customTypes[n]?.0 ?? n
            }
        }
        return alternatives.map(word).joined(separator: " or ")
    }

    static func match(_ t: Simple, _ v: Value) -> Result<Value, ArgumentProblem> {
        let wrong = ArgumentProblem.wrongType(expected: "", got: ParamType.describe(v))
        switch t {
        case .any: return .success(v)
        case .int:
            switch v {
            case .int: return .success(v)
            case .bool(let b): return .success(.int(b ? 1 : 0))
            case .float(let d):
                guard d.isFinite, d == d.rounded(), let i = Int(exactly: d) else { return .failure(.notIntegral(d)) }
                return .success(.int(i))
            case .float32(let f):
                let d = Double(f)
                guard d.isFinite, d == d.rounded(), let i = Int(exactly: d) else { return .failure(.notIntegral(d)) }
                return .success(.int(i))
            default: return .failure(wrong)
            }
        case .float:
            switch v {
            case .int, .float: return .success(v)
            // A native taking a number gets the double an np.float32 holds (float(x)).
            case .float32(let f): return .success(.float(Double(f)))
            case .bool(let b): return .success(.int(b ? 1 : 0))
            default: return .failure(wrong)
            }
        case .bool: if case .bool = v { return .success(v) }; return .failure(wrong)
        case .string: if case .string = v { return .success(v) }; return .failure(wrong)
        case .dict: if case .dict = v { return .success(v) }; return .failure(wrong)
        case .nil: if case .nil = v { return .success(v) }; return .failure(wrong)
        case .function:
            switch v {
            case .function, .native: return .success(v)
            default: return .failure(wrong)
            }
        case .list(let item):
            guard case .list(let l) = v else { return .failure(wrong) }
            guard let item else { return .success(v) }
            var out: [Value]? = nil
            for (i, x) in l.items.enumerated() {
                switch match(item, x) {
                case .success(let y):
                    var changed = false
                    if case .int = y { if case .int = x {} else { changed = true } }
                    if out != nil { out!.append(y) } else if changed { out = Array(l.items[..<i]); out!.append(y) }
                case .failure(let p):
                    if case .notIntegral(let d) = p { return .failure(.itemNotIntegral(i, d)) }
                    return .failure(.wrongItem(i, describe(x)))
                }
            }
            // A converted copy only when an item changed (the caller's list is never modified).
            return .success(out.map { .list(ListRef($0)) } ?? v)
        case .named(let name):
            if let check = Declarations.customTypes[name] { return check.1(v).map { .success($0) } ?? .failure(wrong) }
            if case .range = v, name == "range" { return .success(v) }
            if case .object(let o) = v, o.typeName == name { return .success(v) }
            return .failure(wrong)
        }
    }
}

enum ArgumentProblem: Error {
    case wrongType(expected: String, got: String)
    case notIntegral(Double)
    case itemNotIntegral(Int, Double)
    case wrongItem(Int, String)
}

/// A parsed signature: the display form, the parameters and fast facts for the binder.
public final class Signature {
    public let text: String
    public let displayName: String
    public let params: [Param]
    let positionalCount: Int
    let variadic: Int?
    let keywordsCatchAll: Int?
    let allUntypedPositional: Bool

    /// Parses a declaration; a malformed one is a programming error, caught by the first
    /// test that installs the builtins.
    public init(_ text: String) {
        self.text = text
        do {
            var parser = SignatureParser(text)
            (displayName, params) = try parser.parse()
        } catch {
            preconditionFailure("bad native signature \(text): \(error)")
        }
        positionalCount = params.filter(\.acceptsPositional).count
        variadic = params.firstIndex { $0.kind == .variadic }
        keywordsCatchAll = params.firstIndex { $0.kind == .keywords }
        allUntypedPositional = params.allSatisfy { $0.type == nil && $0.acceptsPositional && !$0.hasDefault }
        var seen = Set<String>()
        for p in params { precondition(seen.insert(p.name).inserted, "duplicate parameter '\(p.name)' in \(text)") }
    }

    /// The parameter names a keyword may use.
    public var keywordNames: [String] { params.filter(\.acceptsKeyword).map(\.name) }

    func index(of name: String) -> Int? { params.firstIndex { $0.name == name } }

    /// Maps a call's arguments onto the parameters (the one checker every native call
    /// goes through).
    /// nil: the slots are the positional arguments as given (untyped parameters, one
    /// argument each: nothing to convert, no array to make).
    func bind(_ positional: [Value], _ keywords: [(String, Value)], function: String) throws -> [Value?]? {
        let n = params.count
        // The common case: positional arguments only, untyped, no defaults.
        if keywords.isEmpty && allUntypedPositional && positional.count == n { return nil }
        var slots = [Value?](repeating: nil, count: n)
        var given = [Bool](repeating: false, count: n)
        var pi = 0
        for (ai, v) in positional.enumerated() {
            while pi < n && !params[pi].acceptsPositional && params[pi].kind != .variadic { pi += 1 }
            guard pi < n else {
                let most = positionalCount
                throw RuntimeError("'\(function)' takes \(most == 0 ? "no" : "at most \(most)") positional argument\(most == 1 ? "" : "s") (\(positional.count) given)")
            }
            if params[pi].kind == .variadic {
                // The body reads the variadic values from `positional`; check their type here.
                if let t = params[pi].type, case .failure(let p) = t.check(v) {
                    throw problem(p, function: function, name: params[pi].name, position: ai)
                }
                given[pi] = true
                continue
            }
            slots[pi] = v
            given[pi] = true
            pi += 1
        }
        for (k, v) in keywords {
            guard let i = params.firstIndex(where: { $0.name == k && $0.acceptsKeyword }) else {
                if params.contains(where: { $0.name == k && $0.kind == .positionalOnly }) {
                    throw RuntimeError("'\(function)' takes '\(k)' by position only (\(displayText))")
                }
                if keywordsCatchAll != nil { continue }
                throw RuntimeError(unknownKeyword(k, function: function))
            }
            if given[i] { throw RuntimeError("'\(function)' got multiple values for argument '\(k)'") }
            slots[i] = v
            given[i] = true
        }
        for i in 0..<n {
            let p = params[i]
            if p.kind == .variadic || p.kind == .keywords { continue }
            if let v = slots[i], case .nil = v, p.hasDefault, p.defaultValue == nil {
                // nil given for a parameter whose default is nil: the same as leaving it out.
                slots[i] = nil
            } else if let v = slots[i] {
                if let t = p.type {
                    switch t.check(v) {
                    case .success(let out): slots[i] = out
                    case .failure(let prob):
                        throw problem(prob, function: function, name: p.name,
                                      position: given[i] && keywords.allSatisfy({ $0.0 != p.name }) ? positionalIndex(of: i) : nil)
                    }
                }
            } else if p.hasDefault {
                slots[i] = p.defaultValue
            } else {
                let pos = p.acceptsPositional ? "#\(positionalIndex(of: i) + 1) " : ""
                throw RuntimeError("'\(function)' missing argument \(pos)'\(p.name)' (\(displayText))")
            }
        }
        return slots
    }

    private func positionalIndex(of i: Int) -> Int { params[..<i].filter(\.acceptsPositional).count }

    /// `f(...)` as help shows it.
    public var displayText: String { text }

    private func problem(_ p: ArgumentProblem, function: String, name: String, position: Int?) -> RuntimeError {
        let which = position.map { "#\($0 + 1) '\(name)'" } ?? "'\(name)'"
        switch p {
        case .wrongType(_, let got):
            return RuntimeError("bad argument \(which) to '\(function)' (\(params.first { $0.name == name }?.type?.expected ?? "value") expected, got \(got))")
        case .notIntegral(let d):
            return RuntimeError("bad argument \(which) to '\(function)' (an integer expected, got \(Format.float(d)))")
        case .itemNotIntegral(let i, let d):
            return RuntimeError("bad argument \(which) to '\(function)' (item \(i) is \(Format.float(d)), not an integer)")
        case .wrongItem(let i, let got):
            return RuntimeError("bad argument \(which) to '\(function)' (\(params.first { $0.name == name }?.type?.expected ?? "value") expected; item \(i) is \(got))")
        }
    }

    /// "'argmax' got an unexpected keyword argument 'dim' (did you mean 'axis'?); it takes: axis, keepdims".
    func unknownKeyword(_ k: String, function: String) -> String {
        let names = keywordNames
        var msg = "'\(function)' got an unexpected keyword argument '\(k)'"
        if let hint = Declarations.nearest(k, in: names) { msg += " (did you mean '\(hint):'?)" }
        msg += names.isEmpty ? "; it takes no keyword arguments" : "; it takes: " + names.map { $0 + ":" }.joined(separator: ", ")
        return msg
    }
}

/// The registry of custom parameter types and the keyword hints.
public enum Declarations {
    /// Types the embedder adds (e.g. "tensorlike": a tensor, number or nested list):
    /// name -> (description, check returning the value to bind or nil).
    nonisolated(unsafe) static var customTypes: [String: (String, (Value) -> Value?)] = [
        "iterable": ("iterable", { v in
            switch v {
            case .list, .dict, .string, .range, .object: return v
            default: return nil
            }
        }),
    ]

    /// Object type names a signature may name (values whose `typeName` is that name), and
    /// custom types registered by the embedder (checked when called).
    nonisolated(unsafe) public static var objectTypes: Set<String> = [
        "range", "tensor", "tensorlike", "model", "run", "dataset", "table", "figure", "probe", "edit", "image",
        "metrics", "probes", "perturbation", "batches", "module", "ints", "classes",
    ]

    /// Adds a parameter type usable in signatures.
    public static func registerType(_ name: String, description: String, _ check: @escaping (Value) -> Value?) {
        customTypes[name] = (description, check)
    }

    /// Other libraries' spellings of this language's keywords.
    static let synonyms: [String: String] = [
        "dim": "axis", "dims": "axis", "axes": "axis", "keepdim": "keepdims", "keep_dims": "keepdims",
        "descending": "reverse", "num_classes": "classes", "n": "k", "size": "shape",
    ]

    /// The accepted name closest to `k` (a synonym, or within two edits), if any.
    static func nearest(_ k: String, in names: [String]) -> String? {
        if let s = synonyms[k], names.contains(s) { return s }
        var best: (String, Int)?
        for n in names {
            let d = editDistance(k, n)
            if d <= max(1, min(2, n.count / 3)), best == nil || d < best!.1 { best = (n, d) }
        }
        return best?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
}

/// The members of one kind of value, declared once: read-only properties and methods.
/// `getProperty`, `dir`, `help` and completion all read this table.
public final class Members<Receiver> {
    public let typeName: String
    public private(set) var propertyOrder: [String] = []
    public private(set) var methodOrder: [String] = []
    var properties: [String: (doc: String, get: (Receiver, Interpreter) throws -> Value)] = [:]
    var methods: [String: (fn: NativeSpec, fullName: String, body: (Receiver, Arguments) throws -> Value)] = [:]

    /// Runs every body of the table (the embedder turns its own errors into runtime errors here).
    let wrap: ((() throws -> Value) throws -> Value)?

    public init(_ typeName: String, wrap: ((() throws -> Value) throws -> Value)? = nil) {
        self.typeName = typeName
        self.wrap = wrap
    }

    /// A read-only property.
    @discardableResult
    public func property(_ name: String, _ doc: String, _ get: @escaping (Receiver, Interpreter) throws -> Value) -> Members {
        precondition(properties[name] == nil && methods[name] == nil, "\(typeName).\(name) declared twice")
        propertyOrder.append(name)
        properties[name] = (doc, get)
        return self
    }

    /// A method: `signature` is "name(params)" as in `Signature`.
    @discardableResult
    public func method(_ signature: String, _ doc: String, _ body: @escaping (Receiver, Arguments) throws -> Value) -> Members {
        let spec = NativeSpec(signature: Signature(signature), doc: doc, area: typeName)
        let name = String(spec.signature.displayName.split(separator: ".").last ?? "")
        precondition(properties[name] == nil && methods[name] == nil, "\(typeName).\(name) declared twice")
        methodOrder.append(name)
        methods[name] = (spec, "\(typeName).\(name)", body)
        return self
    }

    /// Every member name, properties first.
    public var names: [String] { propertyOrder + methodOrder }

    /// The property's value or the method bound to `receiver`; nil when there is no such member.
    public func get(_ receiver: Receiver, _ name: String, _ interp: Interpreter) throws -> Value? {
        if let p = properties[name] { return try p.get(receiver, interp) }
        guard let m = methods[name] else { return nil }
        let body = m.body
        if let wrap { return .native(NativeFunction(name: m.fullName, spec: m.fn) { a in try wrap { try body(receiver, a) } }) }
        return .native(NativeFunction(name: m.fullName, spec: m.fn) { a in try body(receiver, a) })
    }

    /// Calls a method directly (no bound function value is made): the path of `xs.append(v)`.
    @inline(__always)
    public func call(_ receiver: Receiver, _ name: String, _ positional: [Value], _ keywords: [(String, Value)], _ interp: Interpreter) throws -> Value? {
        guard let m = methods[name] else { return nil }
        let fname = m.fullName
        let slots = try m.fn.signature.bind(positional, keywords, function: fname)
        let args = Arguments(positional: positional, keywords: keywords, slots: slots, signature: m.fn.signature, interpreter: interp, functionName: fname)
        if let wrap { return try wrap { try m.body(receiver, args) } }
        return try m.body(receiver, args)
    }

    /// Help of one member ("t.sum(axis: ...)\n    doc").
    public func help(_ name: String) -> String? {
        if let p = properties[name] { return "\(typeName).\(name)\n    \(p.doc)" }
        if let m = methods[name] { return "\(m.fn.signature.text)\n    \(m.fn.doc)" }
        return nil
    }

    /// The keyword names of a method (for completion).
    public func keywordNames(_ name: String) -> [String]? { methods[name]?.fn.signature.keywordNames }
}

/// A declaration's parsed signature, docstring and help area, shared by every bound copy.
public struct NativeSpec {
    public let signature: Signature
    public let doc: String
    public let area: String
    public init(signature: Signature, doc: String, area: String) { self.signature = signature; self.doc = doc; self.area = area }
}

/// An object whose members are declared in a `Members` table.
public protocol DeclaredObject: VLSObject {
    static var members: Members<Self> { get }
}

extension DeclaredObject {
    public func getProperty(_ name: String, interpreter: Interpreter) throws -> Value? {
        try Self.members.get(self, name, interpreter)
    }
    public var memberNames: [String] { Self.members.names }
    public func memberHelp(_ name: String) -> String? { Self.members.help(name) }
}

// MARK: - Parsing

private struct SignatureParser {
    let chars: [Character]
    var i = 0
    init(_ text: String) { chars = Array(text) }

    struct Failure: Error, CustomStringConvertible { let description: String }

    mutating func skipSpace() { while i < chars.count, chars[i] == " " { i += 1 } }
    mutating func name() throws -> String {
        skipSpace()
        let start = i
        while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" || chars[i] == "." { i += 1 }
        guard i > start else { throw Failure(description: "name expected at \(i)") }
        return String(chars[start..<i])
    }
    mutating func expect(_ c: Character) throws {
        skipSpace()
        guard i < chars.count, chars[i] == c else { throw Failure(description: "'\(c)' expected at \(i)") }
        i += 1
    }
    mutating func peek(_ c: Character) -> Bool { skipSpace(); return i < chars.count && chars[i] == c }

    mutating func parse() throws -> (String, [Param]) {
        let fname = try name()
        try expect("(")
        var params: [Param] = []
        var mode: Param.Kind = .positional
        if peek(")") { i += 1; return (fname, params) }
        while true {
            let start = i
            if peek("/") {
                i += 1
                params = params.map { Param(name: $0.name, kind: .positionalOnly, type: $0.type, defaultValue: $0.defaultValue, hasDefault: $0.hasDefault, text: $0.text) }
            } else if peek("*") {
                i += 1
                if peek("*") {
                    i += 1
                    let n = try name()
                    params.append(Param(name: n, kind: .keywords, type: nil, defaultValue: nil, hasDefault: false, text: "**" + n))
                } else if peek(",") || peek(")") {
                    mode = .keywordOnly
                } else {
                    let n = try name()
                    var t: ParamType? = nil
                    if peek(":") { i += 1; t = try type() }
                    params.append(Param(name: n, kind: .variadic, type: t, defaultValue: nil, hasDefault: false, text: String(chars[start..<i]).trimmingWhitespace()))
                    mode = .keywordOnly
                }
            } else {
                let n = try name()
                var t: ParamType? = nil
                var def: Value? = nil
                var hasDefault = false
                if peek(":") { i += 1; t = try type() }
                if peek("=") { i += 1; def = try literal(); hasDefault = true }
                if case .nil? = def { def = nil }
                if let d = def, let t, case .failure = t.check(d) { throw Failure(description: "default of '\(n)' is not a \(t.text)") }
                params.append(Param(name: n, kind: mode, type: t, defaultValue: def, hasDefault: hasDefault, text: String(chars[start..<i]).trimmingWhitespace()))
            }
            if peek(",") { i += 1; continue }
            try expect(")")
            break
        }
        skipSpace()
        guard i == chars.count else { throw Failure(description: "text after ')'") }
        return (fname, params)
    }

    mutating func type() throws -> ParamType {
        let start = i
        var alts: [ParamType.Simple] = []
        repeat {
            if peek("|") { i += 1 }
            alts.append(try simple())
        } while peek("|")
        if alts.count == 1, case .nil = alts[0] { throw Failure(description: "'nil' alone is not a type (did you mean '= nil'?)") }
        return ParamType(alternatives: alts, text: String(chars[start..<i]).trimmingWhitespace().replacingPipes())
    }

    mutating func simple() throws -> ParamType.Simple {
        let n = try name()
        switch n {
        case "any": return .any
        case "int": return .int
        case "float", "number": return .float
        case "bool": return .bool
        case "string": return .string
        case "dict": return .dict
        case "function": return .function
        case "nil": return .nil
        case "list":
            if peek("[") { i += 1; let s = try simple(); try expect("]"); return .list(s) }
            return .list(nil)
        default:
            guard Declarations.objectTypes.contains(n) || Declarations.customTypes[n] != nil else {
                throw Failure(description: "unknown type '\(n)'")
            }
            return .named(n)
        }
    }

    mutating func literal() throws -> Value {
        skipSpace()
        if peek("\"") {
            i += 1
            var s = ""
            while i < chars.count, chars[i] != "\"" {
                if chars[i] == "\\", i + 1 < chars.count {
                    i += 1
                    switch chars[i] {
                    case "n": s.append("\n")
                    case "t": s.append("\t")
                    default: s.append(chars[i])
                    }
                } else {
                    s.append(chars[i])
                }
                i += 1
            }
            try expect("\"")
            return .string(s)
        }
        if peek("[") { i += 1; try expect("]"); return .list(ListRef()) }
        let start = i
        while i < chars.count, !",) ".contains(chars[i]) { i += 1 }
        let word = String(chars[start..<i])
        switch word {
        case "nil": return .nil
        case "true": return .bool(true)
        case "false": return .bool(false)
        default:
            if let n = Int(word) { return .int(n) }
            if let d = Double(word) { return .float(d) }
            throw Failure(description: "default '\(word)' is not a literal")
        }
    }
}

private extension String {
    func replacingPipes() -> String { split(separator: "|").map { $0.trimmingWhitespace() }.joined(separator: " or ") }
}

private extension Substring {
    func trimmingWhitespace() -> String { String(self).trimmingWhitespace() }
}
