#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value of the language. Lists and dictionaries have reference semantics (like Python);
/// tuples are lists.
public enum Value {
    case `nil`
    case bool(Bool)
    case int(Int)
    case float(Double)
    /// numpy's float32 scalar (np.float32): what indexing or reducing a float32 tensor gives.
    /// Under NEP 50 it stays float32 in arithmetic with ints and floats, and compares after
    /// casting them to float32; `float(x)` gives the double. It prints its shortest float32
    /// form (0.895, 1e-06). Plain floats never become float32.
    case float32(Float)
    case string(String)
    case list(ListRef)
    case dict(DictRef)
    case range(RangeRef)
    case function(UserFunction)
    case native(NativeFunction)
    case object(VLSObject)

    /// The type name shown in messages: "int", "list", or the object's `typeName`.
    public var typeName: String {
        switch self {
        case .nil: return "nil"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .float32: return "float32"
        case .string: return "string"
        case .list: return "list"
        case .dict: return "dict"
        case .range: return "range"
        case .function, .native: return "function"
        case .object(let o): return o.typeName
        }
    }

    /// Python truthiness: nil, false, 0, 0.0, "" and empty containers are false; an
    /// object answers for itself (a tensor of several elements is an error, as in numpy).
    @inline(__always) public var isTruthy: Bool { get throws {
        switch self {
        case .nil: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .float(let d): return d != 0
        case .float32(let f): return f != 0
        case .string(let s): return !s.isEmpty
        case .list(let l): return !l.items.isEmpty
        case .dict(let d): return d.count != 0
        case .range(let r): return r.count != 0
        case .function, .native: return true
        case .object(let o): return try o.truthValue()
        }
    } }

    public static func list(_ items: [Value]) -> Value { .list(ListRef(items)) }
}

extension Value: CustomStringConvertible, Equatable {
    /// As the REPL shows it (strings quoted).
    public var description: String { Format.repr(self) }
    /// Python equality: numbers by value (1 == 1.0), containers by contents, objects by identity.
    public static func == (a: Value, b: Value) -> Bool { Ops.equal(a, b) }
}

/// A list with reference semantics.
public final class ListRef {
    public var items: [Value]
    public init(_ items: [Value] = []) { self.items = items }
    /// Releases nested lists and dicts iteratively: dropping `x = [i, x]` built 100,000
    /// deep must not recurse once per level (a stack overflow at exit).
    deinit { if !items.isEmpty { ContainerRelease.drain(&items) } }
}

/// Iterative release of nested containers. The first dying container of a thread drains a
/// work list; a container that dies while that drain runs (a child released by it) hands
/// its items to the same list instead of releasing them itself, so no deinit recurses.
enum ContainerRelease {
    final class State { var draining = false; var work: [Value] = [] }

    nonisolated(unsafe) private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { p in if let p { Unmanaged<State>.fromOpaque(p).release() } }
        return k
    }()

    private static var state: State {
        if let p = pthread_getspecific(key) { return Unmanaged<State>.fromOpaque(p).takeUnretainedValue() }
        let s = State()
        pthread_setspecific(key, Unmanaged.passRetained(s).toOpaque())
        return s
    }

    static func drain(_ items: inout [Value]) {
        let s = state
        if s.draining {
            s.work.append(contentsOf: items)
            items = []
            return
        }
        s.draining = true
        s.work.append(contentsOf: items)
        items = []
        while !s.work.isEmpty {
            // Dropping the popped value may run a deinit that appends to `work`.
            _ = s.work.removeLast()
        }
        s.draining = false
    }
}

/// An immutable lazy integer range (`range(a, b, step)`).
public final class RangeRef {
    public let start: Int
    public let stop: Int
    public let step: Int
    public init(start: Int, stop: Int, step: Int) { self.start = start; self.stop = stop; self.step = step == 0 ? 1 : step }
    /// The number of elements (Int.max when there are more). The span is taken as a UInt:
    /// stop - start of range(-2**62, 2**62, 2**62) overflows Int but not UInt, and the
    /// range holds 2 elements, not Int.max.
    public var count: Int {
        if step > 0 ? stop <= start : start <= stop { return 0 }
        let span = step > 0 ? UInt(bitPattern: stop &- start) : UInt(bitPattern: start &- stop)
        let c = (span - 1) / step.magnitude + 1
        return c > UInt(Int.max) ? Int.max : Int(c)
    }
    public subscript(i: Int) -> Int { start &+ i &* step }
}

/// Dictionary key identity: numbers compare by value (1 == 1.0 == true), strings by content,
/// everything else by reference.
enum HashKey: Hashable {
    case nilKey
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case ref(ObjectIdentifier)

    init(_ v: Value) {
        switch v {
        case .nil: self = .nilKey
        case .bool(let b): self = .int(b ? 1 : 0)   // True is the key 1, as in Python
        case .int(let i): self = .int(i)
        case .float(let d):
            if d.rounded() == d, let i = Int(exactly: d) { self = .int(i) } else { self = .float(d) }
        case .float32(let f):
            // np.float32 hashes as the double it holds (hash(np.float32(0.5)) == hash(0.5)).
            let d = Double(f)
            if d.rounded() == d, let i = Int(exactly: d) { self = .int(i) } else { self = .float(d) }
        case .string(let s): self = .string(s)
        case .list(let l): self = .ref(ObjectIdentifier(l))
        case .dict(let d): self = .ref(ObjectIdentifier(d))
        case .range(let r): self = .ref(ObjectIdentifier(r))
        case .function(let f): self = .ref(ObjectIdentifier(f))
        case .native(let f): self = .ref(ObjectIdentifier(f))
        case .object(let o): self = .ref(ObjectIdentifier(o))
        }
    }
}

/// An insertion-ordered dictionary with reference semantics.
public final class DictRef {
    public private(set) var keys: [Value] = []
    public private(set) var values: [Value] = []
    private var index: [HashKey: Int] = [:]

    public init() {}
    public init(_ pairs: [(String, Value)]) {
        for (k, v) in pairs { self[.string(k)] = v }
    }

    public var count: Int { keys.count }

    /// Looks a key up; assigning nil removes the key.
    public subscript(key: Value) -> Value? {
        get { index[HashKey(key)].map { values[$0] } }
        set {
            let h = HashKey(key)
            if let newValue {
                if let i = index[h] { values[i] = newValue } else {
                    index[h] = keys.count
                    keys.append(key)
                    values.append(newValue)
                }
            } else if let i = index[h] {
                keys.remove(at: i)
                values.remove(at: i)
                index.removeAll(keepingCapacity: true)
                for (j, k) in keys.enumerated() { index[HashKey(k)] = j }
            }
        }
    }

    public subscript(key: String) -> Value? {
        get { self[.string(key)] }
        set { self[.string(key)] = newValue }
    }

    public func removeAll() { keys = []; values = []; index = [:] }

    deinit {
        if !values.isEmpty {
            var vs = values
            values = []
            ContainerRelease.drain(&vs)
        }
    }
}

/// A user-defined function (a `def` or `fn`) with the frame it closes over.
public final class UserFunction {
    let decl: FunctionDecl
    let code: CompiledFunction
    let captured: Frame?
    let defaults: [Value]
    public var name: String { decl.name }
    public var doc: String? { decl.doc }
    init(decl: FunctionDecl, code: CompiledFunction, captured: Frame?, defaults: [Value]) {
        self.decl = decl; self.code = code; self.captured = captured; self.defaults = defaults
    }
    /// `name(a, k = 1)`
    /// `name(a, k = 1)`, with the default values the function was made with.
    public var signature: String {
        var d = 0
        return "\(decl.name)(" + decl.params.map { p -> String in
            guard p.defaultValue != nil else { return p.name }
            defer { d += 1 }
            return d < defaults.count ? "\(p.name) = \(Format.repr(defaults[d]))" : "\(p.name) = ..."
        }.joined(separator: ", ") + ")"
    }
}

/// A function implemented in Swift, declared once (see Declarations.swift): `signature`
/// is parsed when the function is made and every call is bound against it.
public final class NativeFunction {
    public let name: String
    public let spec: NativeSpec
    public let body: (Arguments) throws -> Value
    public var signature: String { spec.signature.text }
    public var doc: String { spec.doc }
    public var area: String { spec.area }

    /// `signature` is "name(params)" in the grammar of `Signature`.
    public init(name: String, signature: String, doc: String, area: String, body: @escaping (Arguments) throws -> Value) {
        self.name = name
        self.spec = NativeSpec(signature: Signature(signature), doc: doc, area: area)
        self.body = body
    }

    /// A bound copy of a declaration (a method of one receiver).
    public init(name: String, spec: NativeSpec, body: @escaping (Arguments) throws -> Value) {
        self.name = name; self.spec = spec; self.body = body
    }

    /// Binds the arguments against the declaration, then runs the body.
    @inline(__always)
    public func invoke(_ positional: [Value], _ keywords: [(String, Value)], _ interp: Interpreter) throws -> Value {
        let sig = spec.signature
        let slots = try sig.bind(positional, keywords, function: name)
        return try body(Arguments(positional: positional, keywords: keywords, slots: slots, signature: sig, interpreter: interp, functionName: name))
    }
}

extension Value {
    /// How an np.float32 prints (`0.895`, `1e-06`): the shortest float32 digits, numpy's layout.
    public static func float32Text(_ f: Float) -> String { Format.float32(f) }
}
