// The embedding surface of VLSLanguage: what VLSBuiltins and the tool code against.
//
//   Values
//     public enum Value { case nil, bool(Bool), int(Int), float(Double), string(String),
//                         list(ListRef), dict(DictRef), range(RangeRef), function(UserFunction),
//                         native(NativeFunction), object(VLSObject) }
//       .typeName: String, .isTruthy: Bool, static func list(_ items: [Value]) -> Value
//     ListRef(items)            .items: [Value] (reference semantics)
//     DictRef() / DictRef([(String, Value)])   ordered; subscript(Value) -> Value? and
//                               subscript(String) -> Value? (assign nil to remove); .keys .values .count
//     RangeRef(start:stop:step:)  .count, subscript(Int) -> Int
//
//   Objects (tensors, models, runs, ...) implement VLSObject; every requirement has a default
//   (nil / [] / "<typeName>"), so an object implements only what it needs:
//     typeName, describe(), getProperty(_:interpreter:), setProperty(_:_:interpreter:),
//     subscriptGet(_:interpreter:), subscriptSet(_:_:interpreter:), binary(_:_:reversed:),
//     unary(_:), makeIterator(interpreter:), memberNames, length(), truthiness(), equals(_:)
//   `binary` gets `reversed: true` for `2 * t` (the object is the right operand).
//   Methods are returned from getProperty as bound NativeFunction values.
//   Displayable (figures): pngData(), svgText(), caption.
//
//   Natives
//     NativeFunction(name:signature:doc:area:body:) with body (Arguments) throws -> Value
//     Arguments: positional, keywords, interpreter, functionName; helpers value / optional /
//       int / double / string / bool / list / object / expectKeywords / badArgument / count
//     throw RuntimeError("message") — the interpreter adds FILE:LINE:COL and the traceback.
//
//   Interpreter
//     init(); define(_:); setGlobal(_:_:); global(_:) -> Value?; call(_:_:keywords:)
//     output: (String) -> Void  (receives text including the newline)
//     display: (Displayable) -> Void; stdlibProvider: (String) -> (source: String, path: String)?
//     run(source:path:) -> RunOutcome (.ok(Value?) / .syntaxErrors([Diagnostic]) / .runtimeError(Diagnostic))
//     render(_:) -> String; globalNames(); helpText(for:); builtinsByArea()
//     str(_:) / repr(_:) (how print and the REPL show values)
//
//   Interrupt.request() / Interrupt.isRequested / Interrupt.clear(): a lock-free flag the
//   interpreter checks at loop back-edges and calls (Ctrl-C); long native loops may poll
//   `Interrupt.isRequested` and throw `RuntimeError.interrupted`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One component of a subscript: `t[0, 1:, ::2]` has three.
public enum IndexItem {
    case value(Value)
    case slice(start: Int?, stop: Int?, step: Int?)
}

/// An object supplied by the embedder (tensor, model, run, dataset, figure, ...).
public protocol VLSObject: AnyObject {
    /// "tensor", "model", "run", ...
    var typeName: String { get }
    /// What print and the REPL show.
    func describe() -> String
    /// nil means "no property 'x' on model"; methods are bound NativeFunction values.
    func getProperty(_ name: String, interpreter: Interpreter) throws -> Value?
    /// `obj.name = value`; return false if the property cannot be assigned.
    func setProperty(_ name: String, _ value: Value, interpreter: Interpreter) throws -> Bool
    func subscriptGet(_ items: [IndexItem], interpreter: Interpreter) throws -> Value
    /// `obj[i] = value`; return false if unsupported.
    func subscriptSet(_ items: [IndexItem], _ value: Value, interpreter: Interpreter) throws -> Bool
    /// nil means "unsupported operand types"; `reversed` is true when the object is on the right.
    func binary(_ op: BinaryOperator, _ other: Value, reversed: Bool) throws -> Value?
    func unary(_ op: UnaryOperator) throws -> Value?
    /// for-in over the object; return nil from the iterator to stop.
    func makeIterator(interpreter: Interpreter) throws -> (() throws -> Value?)?
    /// Completion after a dot.
    var memberNames: [String] { get }
    /// `len(obj)`; nil means "object has no length".
    func length() throws -> Int?
    /// nil means true.
    func truthiness() -> Bool?
}

extension VLSObject {
    public func describe() -> String { "<\(typeName)>" }
    public func getProperty(_ name: String, interpreter: Interpreter) throws -> Value? { nil }
    public func setProperty(_ name: String, _ value: Value, interpreter: Interpreter) throws -> Bool { false }
    public func subscriptGet(_ items: [IndexItem], interpreter: Interpreter) throws -> Value {
        throw RuntimeError("\(typeName) is not subscriptable")
    }
    public func subscriptSet(_ items: [IndexItem], _ value: Value, interpreter: Interpreter) throws -> Bool { false }
    public func binary(_ op: BinaryOperator, _ other: Value, reversed: Bool) throws -> Value? { nil }
    public func unary(_ op: UnaryOperator) throws -> Value? { nil }
    public func makeIterator(interpreter: Interpreter) throws -> (() throws -> Value?)? { nil }
    public var memberNames: [String] { [] }
    public func length() throws -> Int? { nil }
    public func truthiness() -> Bool? { nil }
}

/// A figure: the notebook embeds it, the REPL and runner pass it to `Interpreter.display`.
public protocol Displayable: VLSObject {
    func pngData() -> [UInt8]?
    func svgText() -> String?
    var caption: String { get }
}

/// An error raised by a native (or the interpreter); location and traceback are added
/// where it crosses into the script.
public struct RuntimeError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    /// What a long native loop throws when `Interrupt.isRequested`.
    public static var interrupted: RuntimeError { RuntimeError("interrupted") }
}

/// The Ctrl-C flag. Lock-free and async-signal-safe to set.
public enum Interrupt {
    nonisolated(unsafe) private static let flag: UnsafeMutablePointer<sig_atomic_t> = {
        let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()
    /// Asks the running computation to stop at its next check.
    public static func request() { flag.pointee = 1 }
    public static var isRequested: Bool { flag.pointee != 0 }
    public static func clear() { flag.pointee = 0 }
    /// The raw flag, for a signal handler (touch `clear()` once before installing it).
    public static var rawFlag: UnsafeMutablePointer<sig_atomic_t> { flag }
}

/// What `Interpreter.run` returns.
public enum RunOutcome {
    /// The value of the final expression statement, if the program ended with one.
    case ok(Value?)
    case syntaxErrors([Diagnostic])
    case runtimeError(Diagnostic)
}

/// The arguments a native receives, with helpers that raise Lua-style argument errors.
public struct Arguments {
    public let positional: [Value]
    public let keywords: [(String, Value)]
    public let interpreter: Interpreter
    public let functionName: String

    public init(positional: [Value], keywords: [(String, Value)], interpreter: Interpreter, functionName: String) {
        self.positional = positional; self.keywords = keywords; self.interpreter = interpreter; self.functionName = functionName
    }

    public var count: Int { positional.count }

    /// A keyword argument by name.
    public func keyword(_ name: String) -> Value? { keywords.first { $0.0 == name }?.1 }

    /// A positional argument (if `index` is given and present) or a keyword argument.
    public func optional(_ index: Int?, _ name: String) -> Value? {
        if let index, index < positional.count { return positional[index] }
        return keyword(name)
    }

    /// A required argument: "'f' missing argument #1 'path'".
    public func value(_ index: Int, _ name: String) throws -> Value {
        if let v = optional(index, name) { return v }
        throw RuntimeError("'\(functionName)' missing argument #\(index + 1) '\(name)'")
    }

    private func required(_ index: Int?, _ name: String) throws -> Value {
        if let v = optional(index, name) { return v }
        if let index { throw RuntimeError("'\(functionName)' missing argument #\(index + 1) '\(name)'") }
        throw RuntimeError("'\(functionName)' missing argument '\(name)'")
    }

    public func int(_ index: Int?, _ name: String, default def: Int? = nil) throws -> Int {
        guard let v = optional(index, name) else {
            if let def { return def }
            return try int(index, name, from: required(index, name))
        }
        return try int(index, name, from: v)
    }

    private func int(_ index: Int?, _ name: String, from v: Value) throws -> Int {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: throw badArgument(index, name, expected: "int", got: v)
        }
    }

    public func double(_ index: Int?, _ name: String, default def: Double? = nil) throws -> Double {
        guard let v = optional(index, name) else {
            if let def { return def }
            _ = try required(index, name)
            return 0
        }
        switch v {
        case .int(let i): return Double(i)
        case .float(let d): return d
        default: throw badArgument(index, name, expected: "number", got: v)
        }
    }

    public func string(_ index: Int?, _ name: String, default def: String? = nil) throws -> String {
        guard let v = optional(index, name) else {
            if let def { return def }
            _ = try required(index, name)
            return ""
        }
        if case .string(let s) = v { return s }
        throw badArgument(index, name, expected: "string", got: v)
    }

    public func bool(_ index: Int?, _ name: String, default def: Bool? = nil) throws -> Bool {
        guard let v = optional(index, name) else {
            if let def { return def }
            _ = try required(index, name)
            return false
        }
        if case .bool(let b) = v { return b }
        throw badArgument(index, name, expected: "bool", got: v)
    }

    public func list(_ index: Int?, _ name: String, default def: [Value]? = nil) throws -> [Value] {
        guard let v = optional(index, name) else {
            if let def { return def }
            _ = try required(index, name)
            return []
        }
        if case .list(let l) = v { return l.items }
        throw badArgument(index, name, expected: "list", got: v)
    }

    public func object<T: VLSObject>(_ index: Int, _ name: String, as type: T.Type, expected: String) throws -> T {
        let v = try value(index, name)
        if case .object(let o) = v, let t = o as? T { return t }
        throw badArgument(index, name, expected: expected, got: v)
    }

    /// Unknown keyword => "'f' got an unexpected keyword argument 'x'".
    public func expectKeywords(_ allowed: Set<String>) throws {
        for (k, _) in keywords where !allowed.contains(k) {
            throw RuntimeError("'\(functionName)' got an unexpected keyword argument '\(k)'")
        }
    }

    /// At most `n` positional arguments.
    public func expectAtMost(_ n: Int) throws {
        if positional.count > n {
            throw RuntimeError("'\(functionName)' takes at most \(n) argument\(n == 1 ? "" : "s") (\(positional.count) given)")
        }
    }

    /// "bad argument #2 to 'project' (tensor expected, got string)".
    public func badArgument(_ index: Int?, _ name: String, expected: String, got: Value) -> Error {
        if let index, index < positional.count {
            return RuntimeError("bad argument #\(index + 1) to '\(functionName)' (\(expected) expected, got \(got.typeName))")
        }
        return RuntimeError("bad argument '\(name)' to '\(functionName)' (\(expected) expected, got \(got.typeName))")
    }
}
