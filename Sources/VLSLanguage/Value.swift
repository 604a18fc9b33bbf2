/// A value of the language. Lists and dictionaries have reference semantics (like Python);
/// tuples are lists.
public enum Value {
    case `nil`
    case bool(Bool)
    case int(Int)
    case float(Double)
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
        case .string: return "string"
        case .list: return "list"
        case .dict: return "dict"
        case .range: return "range"
        case .function, .native: return "function"
        case .object(let o): return o.typeName
        }
    }

    /// Python truthiness: nil, false, 0, 0.0, "" and empty containers are false.
    @inline(__always) public var isTruthy: Bool {
        switch self {
        case .nil: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .float(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let l): return !l.items.isEmpty
        case .dict(let d): return d.count != 0
        case .range(let r): return r.count != 0
        case .function, .native: return true
        case .object(let o): return o.truthiness() ?? true
        }
    }

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
}

/// An immutable lazy integer range (`range(a, b, step)`).
public final class RangeRef {
    public let start: Int
    public let stop: Int
    public let step: Int
    public init(start: Int, stop: Int, step: Int) { self.start = start; self.stop = stop; self.step = step == 0 ? 1 : step }
    public var count: Int {
        let (span, o1) = step > 0 ? stop.subtractingReportingOverflow(start) : start.subtractingReportingOverflow(stop)
        if o1 { return Int.max }
        if span <= 0 { return 0 }
        let s = step > 0 ? step : (step == Int.min ? Int.max : -step)
        return (span - 1) / s + 1
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
    public var signature: String {
        "\(decl.name)(" + decl.params.map { $0.defaultValue == nil ? $0.name : "\($0.name) = ..." }.joined(separator: ", ") + ")"
    }
}

/// A function implemented in Swift. `area` groups it in `:help`.
public final class NativeFunction {
    public let name: String
    public let signature: String
    public let doc: String
    public let area: String
    public let body: (Arguments) throws -> Value
    public init(name: String, signature: String, doc: String, area: String, body: @escaping (Arguments) throws -> Value) {
        self.name = name; self.signature = signature; self.doc = doc; self.area = area; self.body = body
    }
}
