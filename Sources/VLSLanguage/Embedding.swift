// The embedding surface of VLSLanguage: what VLSBuiltins and the tool code against.
// Everything below is public; nothing else is needed to write natives and objects.
//
// VALUES
//   public enum Value { case nil, bool(Bool), int(Int), float(Double), string(String),
//                       list(ListRef), dict(DictRef), range(RangeRef), function(UserFunction),
//                       native(NativeFunction), object(VLSObject) }
//     var typeName: String            "int", "list", or the object's typeName (used in messages)
//     var isTruthy: Bool { get throws }  Python truthiness (objects: truthValue())
//     static func list(_ items: [Value]) -> Value
//     Equatable (Python ==: 1 == 1.0, deep for containers, identity for objects),
//     CustomStringConvertible (the REPL form, strings quoted)
//   final class ListRef { var items: [Value]; init(_ items: [Value] = []) }          reference semantics
//   final class DictRef { init(); init(_ pairs: [(String, Value)]); subscript(key: Value) -> Value?;
//                         subscript(key: String) -> Value?  (assign nil to remove); keys, values, count; removeAll() }
//                         insertion-ordered; numbers hash by value, strings by content, others by identity
//   final class RangeRef { init(start: Int, stop: Int, step: Int); start, stop, step, count; subscript(i: Int) -> Int }
//   final class UserFunction { name: String; doc: String?; signature: String }        a def or fn
//
// OBJECTS (tensor, image, model, run, dataset, figure, ...)
//   protocol VLSObject: AnyObject — every requirement except typeName has a default:
//     var typeName: String { get }
//     func describe() -> String                                                     default "<typeName>"
//     func getProperty(_ name: String, interpreter: Interpreter) throws -> Value?     nil => "no property 'x' on model";
//                                                                                   methods are bound NativeFunction values
//     func setProperty(_ name: String, _ value: Value, interpreter: Interpreter) throws -> Bool   false => error
//     func subscriptGet(_ items: [IndexItem], interpreter: Interpreter) throws -> Value           t[0, 1:, ::-1]
//     func subscriptSet(_ items: [IndexItem], _ value: Value, interpreter: Interpreter) throws -> Bool
//     func binary(_ op: BinaryOperator, _ other: Value, reversed: Bool) throws -> Value?          nil => "unsupported operand types";
//                                                                                   reversed: true for `2 * t` (object on the right)
//     func unary(_ op: UnaryOperator) throws -> Value?                                 -t (and `not t` if you return non-nil)
//     func makeIterator(interpreter: Interpreter) throws -> (() throws -> Value?)?      for-in; return nil to stop
//     var memberNames: [String] { get }                                                 completion after a dot, help(x)
//     func length() throws -> Int?                                                      len(obj)
//     func numberValue() throws -> Value?                                               int(obj), float(obj)
//     func truthValue() throws -> Bool                                            default true
//   enum IndexItem { case value(Value), slice(start: Int?, stop: Int?, step: Int?) }
//   enum BinaryOperator: String { add +, subtract -, multiply *, divide /, floorDivide //, modulo %, power **,
//                                 matmul @, equal ==, notEqual !=, less <, lessEqual <=, greater >, greaterEqual >= }
//     (== and != fall back to identity when binary returns nil)
//   enum UnaryOperator: String { negate -, plus +, not }
//   protocol Displayable: VLSObject { func pngData() -> [UInt8]?; func svgText() -> String?; var caption: String { get } }
//     A bare expression or show(x) that is Displayable goes to Interpreter.display; the notebook embeds it.
//
// NATIVES (declared once each: see Declarations.swift for the signature grammar)
//   final class NativeFunction { init(name: String, signature: String, doc: String, area: String,
//                                     body: @escaping (Arguments) throws -> Value) }   area groups it in :help
//     signature is "name(params)" with Python's parameter forms and types, e.g.
//     "topk(logits: tensorlike, k: int = 5, axis: int = -1)", "print(*values, sep: string = \" \")",
//     "len(x, /)", "sorted(xs: iterable, /, *, key: function = nil, reverse: bool = false)".
//     Every call is bound against it first: unknown keywords (with a near-match hint), too many or missing
//     arguments and wrong types are errors naming the function and parameter; ints from integral floats.
//   final class Members<Receiver> { init(_ typeName: String, wrap:); property(name, doc) { r, interp in };
//                                    method(signature, doc) { r, args in } }    the members of one object type
//   protocol DeclaredObject: VLSObject { static var members: Members<Self> }   getProperty, memberNames and
//                                                                               memberHelp come from the table
//   Declarations.registerType(name, description:) { value in value-or-nil }    a parameter type of the embedder
//   struct Arguments {     (bound to the declaration; the index of an accessor is a hint, names decide)
//     let positional: [Value]; let keywords: [(String, Value)]; let interpreter: Interpreter; let functionName: String
//     var count: Int                                                   positional arguments given
//     func optional(_ index: Int?, _ name: String) -> Value?          the bound value (nil when absent)
//     func given(_ name: String) -> Bool                               passed by the call rather than defaulted
//     func value(_ index: Int, _ name: String) throws -> Value        "'f' missing argument #1 'path'"
//     func int(_ index: Int?, _ name: String, default: Int? = nil) throws -> Int          also double (int or float),
//     func string / bool / list(_ index: Int?, _ name: String, default: ...) throws -> ...  string, bool, list -> [Value]
//     func object<T: VLSObject>(_ index: Int, _ name: String, as: T.Type, expected: String) throws -> T
//     func badArgument(_ index: Int?, _ name: String, expected: String, got: Value) -> Error
//                                                                      "bad argument #2 'h' to 'project' (tensor expected, got string)"
//   }
//   struct RuntimeError: Error { init(_ message: String); static var interrupted; isInterrupt }   natives throw it; the interpreter
//     adds FILE:LINE:COL, the source line and the traceback. Other Error types are shown with String(describing:).
//
// INTERPRETER (one per session; call it only from the thread running the script)
//   final class Interpreter {
//     init()                                                 with the core builtins (print, len, range, clock, help, ...)
//     var output: (String) -> Void                           print writes here (text includes "\n"); default stdout
//     var display: (Displayable) -> Void                     default: prints the caption
//     var stdlibProvider: (String) -> (source: String, path: String)?    `import name` asks here first
//     var maxCallDepth: Int                                  default 1000 (then "stack overflow", never a crash)
//     func define(_ fn: NativeFunction)                      a global builtin (replaces one of the same name)
//     func setGlobal(_ name: String, _ value: Value); func global(_ name: String) -> Value?
//     func call(_ callee: Value, _ args: [Value], keywords: [(String, Value)] = []) throws -> Value   callbacks, hooks
//     func run(source: String, path: String) -> RunOutcome   the one driver (REPL, runner, notebook); runs on a
//                                                            512 MB stack; globals persist between calls
//     func render(_ d: Diagnostic) -> String
//     func str(_ v: Value) -> String  /  repr(_ v: Value) -> String        print form / REPL form
//     func globalNames() -> [String]; func userVariables() -> [(String, Value)]
//     func helpText(for name: String) -> String?; func helpText(of v: Value) -> String
//     func builtinsByArea() -> [(String, [NativeFunction])]
//   }
//   enum RunOutcome { case ok(Value?)  (value of a final bare expression), syntaxErrors([Diagnostic]), runtimeError(Diagnostic) }
//   struct Diagnostic: Error { message, file: SourceFile?, location: SourceLocation?, traceback: [TraceEntry], atEnd,
//                              isInterrupt (a Ctrl-C stop, not a spent step budget);
//                              func rendered() -> String }
//
// INTERRUPTS
//   enum Interrupt { static func request(); static var isRequested: Bool; static func clear() }
//   Lock-free and async-signal-safe (the REPL's SIGINT handler calls request()). The interpreter checks it at
//   loop back-edges and calls; long native loops should poll isRequested between blocks and throw
//   RuntimeError.interrupted.
//
// REPL (the tool supplies a LineReader; tests use a scripted one)
//   protocol LineReader: AnyObject { func readLine(prompt: String) -> LineInput; func addHistory(_ entry: String) }
//   enum LineInput { case line(String), interrupted, endOfInput }
//   final class ReplSession { init(interpreter:); func run(reader:); func evaluate(_:path:) -> Bool;
//                             func command(_:) -> Bool; func completions(word:lineBeforeCursor:) -> [String] }
//   enum Completeness { case complete, incomplete, invalid; static func check(_ source: String) -> Completeness }

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
    /// Completion inside `obj["`: the string keys it can be indexed by (a run's hook names).
    var subscriptKeys: [String] { get }
    /// Completion inside a string given to keyword `keyword` of method `method` of this
    /// object (`m.run(x, capture: ["`): the values that make sense (hook names).
    func stringCompletions(keyword: String, method: String?) -> [String]
    /// Completion after `obj[key].`: a cheap value of the same type as `obj[key]` when
    /// computing it could be expensive (a run stacks activations); nil: `obj[key]` is cheap.
    func completionStandIn(forKey key: Value) -> Value?
    /// `len(obj)`; nil means "object has no length".
    func length() throws -> Int?
    /// What `int(x)` and `float(x)` convert (a one-element tensor's element); nil: none.
    func numberValue() throws -> Value?
    /// The help of one member ("signature\n    doc"), from its declaration; nil: none.
    func memberHelp(_ name: String) -> String?
    /// `x op= other` updating the object itself (returned); nil: `x = x op other`.
    func inPlace(_ op: BinaryOperator, _ other: Value) throws -> Value?
    /// The truth value in `if`, `while`, `and`, `or`, `not`, `bool()` (default true);
    /// throw when it is ambiguous (a tensor of several elements).
    func truthValue() throws -> Bool
    /// `x in obj`; nil: iterate and compare each item with == (the default).
    func containsValue(_ item: Value) throws -> Bool?
    /// False for a value that cannot be a dictionary key (a tensor, as numpy's unhashable
    /// arrays); default true (keyed by identity).
    var isHashable: Bool { get }
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
    public var subscriptKeys: [String] { [] }
    public func stringCompletions(keyword: String, method: String?) -> [String] { [] }
    public func completionStandIn(forKey key: Value) -> Value? { nil }
    public func length() throws -> Int? { nil }
    public func numberValue() throws -> Value? { nil }
    public func memberHelp(_ name: String) -> String? { nil }
    public func inPlace(_ op: BinaryOperator, _ other: Value) throws -> Value? { nil }
    public func truthValue() throws -> Bool { true }
    public func containsValue(_ item: Value) throws -> Bool? { nil }
    public var isHashable: Bool { true }
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
    /// A stop asked for by Ctrl-C (see `Diagnostic.isInterrupt`).
    public let isInterrupt: Bool
    /// The script's own message (error(), assert()): shown whole. Any other message has
    /// its over-long lines cut (`Format.bounded`): it may echo a 100 KB value.
    public let verbatim: Bool
    public init(_ message: String) { self.message = message; isInterrupt = false; verbatim = false }
    public init(_ message: String, verbatim: Bool) { self.message = message; isInterrupt = false; self.verbatim = verbatim }
    private init(stop message: String, isInterrupt: Bool) { self.message = message; self.isInterrupt = isInterrupt; verbatim = false }
    public var description: String { message }
    /// What a long native loop throws when `Interrupt.isRequested` (and the interpreter
    /// when `poll()` says stop): "interrupted", or the spent step budget's message.
    public static var interrupted: RuntimeError {
        RuntimeError(stop: Interrupt.stopMessage, isInterrupt: !Interrupt.budgetSpent)
    }
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

    // MARK: Step budget
    // Scripts from elsewhere (and the fuzzer) may run under a budget of interpreter steps:
    // loop iterations, comprehension items and calls. Past it, the run stops with an error
    // like Ctrl-C would, at the same checks, so the budget costs one decrement per step.

    nonisolated(unsafe) private static var remaining: Int = .max
    nonisolated(unsafe) private static var limit: Int? = nil
    nonisolated(unsafe) private static var exhausted = false

    /// Caps the steps of everything run from now on (nil: no cap, the default).
    public static func setStepLimit(_ steps: Int?) {
        limit = steps
        remaining = steps.map { max(0, $0) } ?? .max
        exhausted = false
    }
    /// The cap set by `setStepLimit`.
    public static var stepLimit: Int? { limit }

    /// Counts one step; true when the computation must stop (Ctrl-C or budget spent).
    @inline(__always)
    public static func poll() -> Bool { poll(flag) }

    /// Largest string or list one repetition or concatenation may build, in bytes (1 GiB;
    /// the fuzzer lowers it): a memory budget for scripts, beside the step budget.
    nonisolated(unsafe) public static var maxCollectionBytes = 1 << 30

    /// `poll()` with the flag's address already at hand (compiled code captures it once),
    /// which saves the lazy-global check of `flag` on every loop iteration and call.
    @inline(__always)
    static func poll(_ flag: UnsafeMutablePointer<sig_atomic_t>) -> Bool {
        remaining &-= 1
        if remaining < 0 { exhausted = true; remaining = 0; return true }
        return flag.pointee != 0
    }

    /// Whether `poll()` said stop because the step budget is spent (else: Ctrl-C).
    static var budgetSpent: Bool { exhausted && limit != nil }

    /// Why `poll()` said stop.
    public static var stopMessage: String {
        if budgetSpent, let limit { return "step limit of \(limit) exceeded (loop iterations and calls; set with --max-steps)" }
        return "interrupted"
    }
}

/// What `Interpreter.run` returns.
public enum RunOutcome {
    /// The value of the final expression statement, if the program ended with one.
    case ok(Value?)
    case syntaxErrors([Diagnostic])
    case runtimeError(Diagnostic)
}

/// The arguments a native receives, already bound to its declaration (`slots`, one per
/// parameter, defaults filled in), with typed accessors. The index argument of the
/// accessors is only a hint: values are found by parameter name.
public struct Arguments {
    /// The positional arguments as given (the variadic parameter's values are read here).
    public let positional: [Value]
    /// The keyword arguments as given (a `**name` parameter's values are read here).
    public let keywords: [(String, Value)]
    /// One per parameter; nil when the positional arguments are the slots (`Signature.bind`).
    let slots: [Value?]?
    let signature: Signature
    /// Unowned: the interpreter outlives every call it makes (and its weak references give
    /// it a side table, which makes each counted retain a slow one).
    public unowned(unsafe) let interpreter: Interpreter
    public let functionName: String

    public init(positional: [Value], keywords: [(String, Value)], slots: [Value?]?, signature: Signature, interpreter: Interpreter, functionName: String) {
        self.positional = positional; self.keywords = keywords; self.slots = slots; self.signature = signature
        self.interpreter = interpreter; self.functionName = functionName
    }

    /// How many positional arguments the call gave.
    public var count: Int { positional.count }

    /// The bound value of a parameter (nil when absent: not given and no default, or a
    /// default of nil).
    public func optional(_ index: Int?, _ name: String) -> Value? {
        let params = signature.params
        if let index, index < params.count, params[index].name == name, params[index].kind != .variadic {
            guard let slots else { return index < positional.count ? positional[index] : nil }
            return slots[index]
        }
        if let i = signature.index(of: name) {
            // The variadic parameter's values are the positional arguments past the others.
            if params[i].kind == .variadic {
                let k = index ?? signature.positionalCount
                return k < positional.count ? positional[k] : nil
            }
            guard let slots else { return i < positional.count ? positional[i] : nil }
            return slots[i]
        }
        assertionFailure("'\(functionName)' reads '\(name)', which its declaration \(signature.text) does not have")
        return nil
    }

    /// A keyword-or-positional parameter by name.
    public func keyword(_ name: String) -> Value? { optional(nil, name) }

    /// Whether the call gave the parameter (rather than its default).
    public func given(_ name: String) -> Bool {
        keywords.contains { $0.0 == name } || (signature.index(of: name).map { i in
            signature.params[..<i].filter(\.acceptsPositional).count < positional.count && signature.params[i].acceptsPositional
        } ?? false)
    }

    /// A required argument.
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
        case .float32(let f): return Double(f)
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

    /// "bad argument #2 to 'project' (tensor expected, got string)".
    public func badArgument(_ index: Int?, _ name: String, expected: String, got: Value) -> Error {
        if let index, index < positional.count, index < signature.params.count, signature.params[index].name == name {
            return RuntimeError("bad argument #\(index + 1) '\(name)' to '\(functionName)' (\(expected) expected, got \(got.typeName))")
        }
        return RuntimeError("bad argument '\(name)' to '\(functionName)' (\(expected) expected, got \(got.typeName))")
    }
}

/// Terminal input that a native read while it waited for a terminal's answer (the DA1
/// query of `show`), handed to the REPL's line reader, which reads it before the terminal.
public enum TerminalInput {
    /// Bytes typed ahead that are not the awaited answer, oldest first.
    nonisolated(unsafe) public static var typeAhead: [UInt8] = []
    /// A device-attributes query went unanswered in time: its answer (`ESC [ ? ... c`) may
    /// still arrive, and the reader drops it instead of taking it as typed input.
    nonisolated(unsafe) public static var lateDA1 = false

    /// The range of the first DA1 answer (`ESC [ ? digits and ; c`) in `bytes`.
    public static func da1Answer(in bytes: [UInt8]) -> Range<Int>? {
        var i = 0
        while i + 2 < bytes.count {
            if bytes[i] == 0x1B, bytes[i + 1] == 0x5B, bytes[i + 2] == 0x3F {
                var j = i + 3
                while j < bytes.count, (bytes[j] >= 0x30 && bytes[j] <= 0x39) || bytes[j] == 0x3B { j += 1 }
                if j < bytes.count, bytes[j] == 0x63 { return i..<(j + 1) }
            }
            i += 1
        }
        return nil
    }

    /// `bytes` without a late DA1 answer, when one is awaited (then no longer).
    public static func droppingLateAnswer(_ bytes: [UInt8]) -> [UInt8] {
        guard lateDA1, let r = da1Answer(in: bytes) else { return bytes }
        lateDA1 = false
        var out = bytes
        out.removeSubrange(r)
        return out
    }
}
