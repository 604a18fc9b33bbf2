#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Operators, indexing, iteration and attribute access on values. Objects are asked
/// first (`VLSObject.binary`, then the reversed form on the right operand).
enum Ops {
    static func binary(_ op: BinaryOperator, _ l: Value, _ r: Value) throws -> Value {
        if case .object(let o) = l, let v = try o.binary(op, r, reversed: false) { return v }
        if case .object(let o) = r, let v = try o.binary(op, l, reversed: true) { return v }
        switch op {
        case .equal: return .bool(try equalChecked(l, r))
        case .notEqual: return .bool(!(try equalChecked(l, r)))
        case .less, .lessEqual, .greater, .greaterEqual:
            guard let c = try compare(l, r) else { throw unsupported(op, l, r) }
            // c is 2 for unordered values (a NaN): every ordering is false, as in Python.
            switch op {
            case .less: return .bool(c == -1)
            case .lessEqual: return .bool(c == -1 || c == 0)
            case .greater: return .bool(c == 1)
            default: return .bool(c == 1 || c == 0)
            }
        default: break
        }
        switch (l, r) {
        case (.int(let a), .int(let b)): return try intOp(op, a, b)
        case (.int(let a), .float(let b)): return try floatOp(op, Double(a), b)
        case (.float(let a), .int(let b)): return try floatOp(op, a, Double(b))
        case (.float(let a), .float(let b)): return try floatOp(op, a, b)
        // NEP 50: an np.float32 stays float32 with Python ints and floats (which are cast).
        case (.float32(let a), .float32(let b)): return try float32Op(op, a, b)
        case (.float32(let a), .int(let b)): return try float32Op(op, a, Float(b))
        case (.float32(let a), .float(let b)): return try float32Op(op, a, Float(b))
        case (.int(let a), .float32(let b)): return try float32Op(op, Float(a), b)
        case (.float(let a), .float32(let b)): return try float32Op(op, Float(a), b)
        case (.bool, _), (_, .bool):
            if let a = asNumber(l), let b = asNumber(r), op != .matmul {
                return try binary(op, a, b)
            }
        case (.string(let a), .string(let b)) where op == .add:
            if a.utf8.count + b.utf8.count > Interrupt.maxCollectionBytes { throw RuntimeError("string concatenation too large (over \(Interrupt.maxCollectionBytes) bytes)") }
            return .string(a + b)
        case (.string(let a), .int(let n)) where op == .multiply: return .string(try repeated(a, n))
        case (.int(let n), .string(let a)) where op == .multiply: return .string(try repeated(a, n))
        case (.string, _) where op == .modulo:
            throw RuntimeError("'%' formatting of strings is not supported; use interpolation \"{x}\"")
        case (.list(let a), .list(let b)) where op == .add:
            if (a.items.count + b.items.count) * MemoryLayout<Value>.stride > Interrupt.maxCollectionBytes { throw RuntimeError("list concatenation too large (over \(Interrupt.maxCollectionBytes) bytes)") }
            return .list(ListRef(a.items + b.items))
        case (.list(let a), .int(let n)) where op == .multiply: return .list(ListRef(try repeated(a.items, n)))
        case (.int(let n), .list(let a)) where op == .multiply: return .list(ListRef(try repeated(a.items, n)))
        default: break
        }
        throw unsupported(op, l, r)
    }

    private static func asNumber(_ v: Value) -> Value? {
        switch v {
        case .bool(let b): return .int(b ? 1 : 0)
        case .int, .float, .float32: return v
        default: return nil
        }
    }

    /// `x op= y`, Python's in-place forms: a list is extended (`+=`, by any iterable) or
    /// repeated (`*=`) in place, so every alias of it sees the change; any other value
    /// gets `x op y`, a new value.
    static func augmented(_ op: BinaryOperator, _ l: Value, _ r: Value, _ interp: Interpreter) throws -> Value {
        // An object that updates itself (a tensor: numpy's `t += x` writes into t's memory).
        if case .object(let o) = l, let v = try o.inPlace(op, r) { return v }
        if case .list(let xs) = l {
            if op == .add {
                let more: [Value]
                if case .list(let ys) = r { more = ys.items } else { more = try toArray(r, interp) }
                if (xs.items.count + more.count) * MemoryLayout<Value>.stride > Interrupt.maxCollectionBytes { throw RuntimeError("list concatenation too large (over \(Interrupt.maxCollectionBytes) bytes)") }
                xs.items.append(contentsOf: more)
                return l
            }
            if op == .multiply, case .int(let n) = r {
                xs.items = try repeated(xs.items, n)
                return l
            }
        }
        return try binary(op, l, r)
    }

    private static func repeated(_ s: String, _ n: Int) throws -> String {
        if n <= 0 { return "" }
        if s.utf8.count.multipliedReportingOverflow(by: n).overflow || s.utf8.count * n > Interrupt.maxCollectionBytes {
            throw RuntimeError("string repetition too large")
        }
        return String(repeating: s, count: n)
    }

    private static func repeated(_ xs: [Value], _ n: Int) throws -> [Value] {
        if n <= 0 || xs.isEmpty { return [] }
        if xs.count.multipliedReportingOverflow(by: n).overflow || xs.count * n > Interrupt.maxCollectionBytes / MemoryLayout<Value>.stride {
            throw RuntimeError("list repetition too large")
        }
        var out: [Value] = []
        out.reserveCapacity(xs.count * n)
        for _ in 0..<n { out.append(contentsOf: xs) }
        return out
    }

    static func unsupported(_ op: BinaryOperator, _ l: Value, _ r: Value) -> RuntimeError {
        RuntimeError("unsupported operand types for \(op.rawValue): \(l.typeName) and \(r.typeName)")
    }

    static func intOp(_ op: BinaryOperator, _ a: Int, _ b: Int) throws -> Value {
        func check(_ r: (partialValue: Int, overflow: Bool)) throws -> Value {
            if r.overflow { throw RuntimeError("integer overflow in \(a) \(op.rawValue) \(b)") }
            return .int(r.partialValue)
        }
        switch op {
        case .add: return try check(a.addingReportingOverflow(b))
        case .subtract: return try check(a.subtractingReportingOverflow(b))
        case .multiply: return try check(a.multipliedReportingOverflow(by: b))
        case .divide:
            if b == 0 { throw RuntimeError("division by zero") }
            return .float(Double(a) / Double(b))
        case .floorDivide:
            if b == 0 { throw RuntimeError("integer division by zero") }
            if a == Int.min && b == -1 { throw RuntimeError("integer overflow in \(a) // \(b)") }
            let q = a / b
            return .int((a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q)
        case .modulo:
            if b == 0 { throw RuntimeError("integer modulo by zero") }
            if b == -1 { return .int(0) }
            let m = a % b
            return .int(m != 0 && (m < 0) != (b < 0) ? m + b : m)
        case .power:
            if b < 0 {
                if a == 0 { throw RuntimeError("0 cannot be raised to a negative power") }
                return .float(pow(Double(a), Double(b)))
            }
            var result = 1, base = a, e = b
            while e > 0 {
                if e & 1 == 1 {
                    let r = result.multipliedReportingOverflow(by: base)
                    if r.overflow { throw RuntimeError("integer overflow in \(a) ** \(b)") }
                    result = r.partialValue
                }
                e >>= 1
                if e > 0 {
                    let r = base.multipliedReportingOverflow(by: base)
                    if r.overflow { throw RuntimeError("integer overflow in \(a) ** \(b)") }
                    base = r.partialValue
                }
            }
            return .int(result)
        default: throw unsupported(op, .int(a), .int(b))
        }
    }

    /// Python's float `//` and `%` (CPython's float_divmod): the remainder has the sign of
    /// the divisor (a zero one too: -7.5 % 0.5 is 0.0), and the quotient is the floor of
    /// (a - remainder) / b, rounded to the nearest integer (1 // 0.1 is 9.0, not 10.0).
    static func floatDivmod(_ a: Double, _ b: Double) -> (div: Double, mod: Double) {
        var mod = fmod(a, b)
        var div = (a - mod) / b
        if mod != 0 {
            if (b < 0) != (mod < 0) { mod += b; div -= 1 }
        } else {
            mod = Double(signOf: b, magnitudeOf: 0)
        }
        if div != 0 {
            var floored = div.rounded(.down)
            if div - floored > 0.5 { floored += 1 }
            div = floored
        } else {
            div = Double(signOf: a / b, magnitudeOf: 0)
        }
        return (div, mod)
    }

    static func floatOp(_ op: BinaryOperator, _ a: Double, _ b: Double) throws -> Value {
        switch op {
        case .add: return .float(a + b)
        case .subtract: return .float(a - b)
        case .multiply: return .float(a * b)
        case .divide:
            if b == 0 { throw RuntimeError("division by zero") }
            return .float(a / b)
        case .floorDivide:
            if b == 0 { throw RuntimeError("division by zero") }
            return .float(floatDivmod(a, b).div)
        case .modulo:
            if b == 0 { throw RuntimeError("modulo by zero") }
            return .float(floatDivmod(a, b).mod)
        case .power:
            if a == 0 && b < 0 { throw RuntimeError("0.0 cannot be raised to a negative power") }
            if a < 0 && b != b.rounded() { throw RuntimeError("negative number raised to a fractional power") }
            return .float(pow(a, b))
        default: throw unsupported(op, .float(a), .float(b))
        }
    }

    /// np.float32 arithmetic: computed in float32. Where numpy warns and carries on (division
    /// by zero, 0 to a negative power, a negative base to a fractional power) it is an error,
    /// as for Python floats.
    static func float32Op(_ op: BinaryOperator, _ a: Float, _ b: Float) throws -> Value {
        switch op {
        case .add: return .float32(a + b)
        case .subtract: return .float32(a - b)
        case .multiply: return .float32(a * b)
        case .divide:
            if b == 0 { throw RuntimeError("float32 division by zero") }
            return .float32(a / b)
        case .floorDivide:
            if b == 0 { throw RuntimeError("float32 division by zero") }
            return .float32(Float(floatDivmod(Double(a), Double(b)).div))
        case .modulo:
            if b == 0 { throw RuntimeError("float32 modulo by zero") }
            return .float32(Float(floatDivmod(Double(a), Double(b)).mod))
        case .power:
            if a == 0 && b < 0 { throw RuntimeError("0.0 cannot be raised to a negative power") }
            if a < 0 && b != b.rounded() { throw RuntimeError("negative number raised to a fractional power") }
            return .float32(powf(a, b))
        default: throw unsupported(op, .float32(a), .float32(b))
        }
    }

    static func unary(_ op: UnaryOperator, _ v: Value) throws -> Value {
        if case .object(let o) = v, let r = try o.unary(op) { return r }
        switch (op, v) {
        case (.negate, .int(let i)):
            if i == Int.min { throw RuntimeError("integer overflow in -\(i)") }
            return .int(-i)
        case (.negate, .float(let d)): return .float(-d)
        case (.negate, .float32(let f)): return .float32(-f)
        case (.plus, .float32): return v
        case (.negate, .bool(let b)): return .int(b ? -1 : 0)
        case (.plus, .int), (.plus, .float): return v
        case (.plus, .bool(let b)): return .int(b ? 1 : 0)
        case (.not, _): return .bool(!(try v.isTruthy))
        default: throw RuntimeError("bad operand type for unary \(op.rawValue): \(v.typeName)")
        }
    }

    // MARK: - Equality and ordering

    static func equal(_ l: Value, _ r: Value) -> Bool {
        switch (l, r) {
        case (.nil, .nil): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.int(let a), .float(let b)): return Double(a) == b
        case (.float(let a), .int(let b)): return a == Double(b)
        case (.float(let a), .float(let b)): return a == b
        // NEP 50: the Python number is cast to float32 before comparing.
        case (.float32(let a), .float32(let b)): return a == b
        case (.float32(let a), .float(let b)): return a == Float(b)
        case (.float(let a), .float32(let b)): return Float(a) == b
        case (.float32(let a), .int(let b)): return a == Float(b)
        case (.int(let a), .float32(let b)): return Float(a) == b
        case (.float32(let a), .bool(let b)): return a == (b ? 1 : 0)
        case (.bool(let a), .float32(let b)): return (a ? 1 : 0) == b
        case (.string(let a), .string(let b)): return a == b
        case (.list(let a), .list(let b)):
            if a === b { return true }
            guard a.items.count == b.items.count else { return false }
            for i in 0..<a.items.count where !equal(a.items[i], b.items[i]) { return false }
            return true
        case (.dict(let a), .dict(let b)):
            if a === b { return true }
            guard a.count == b.count else { return false }
            for (i, k) in a.keys.enumerated() {
                guard let v = b[k], equal(a.values[i], v) else { return false }
            }
            return true
        case (.range(let a), .range(let b)):
            return a.count == b.count && (a.count == 0 || (a.start == b.start && (a.count == 1 || a.step == b.step)))
        // A bool equals the number it counts as (Python: True == 1, False == 0.0).
        case (.bool(let a), .int), (.bool(let a), .float): return equal(.int(a ? 1 : 0), r)
        case (.int, .bool(let b)), (.float, .bool(let b)): return equal(l, .int(b ? 1 : 0))
        case (.function(let a), .function(let b)): return a === b
        case (.native(let a), .native(let b)): return a === b
        case (.object(let a), .object(let b)): return a === b
        default: return false
        }
    }

    /// Python's `==` with objects asked (a tensor answers elementwise, and a tensor of
    /// several elements has no single truth value: an error, as in numpy), containers
    /// compared item by item, and cycles or very deep nesting a recursion error.
    static func equalChecked(_ l: Value, _ r: Value, depth: Int = 0) throws -> Bool {
        if depth > maxCompareDepth { throw RuntimeError("maximum recursion depth exceeded in comparison") }
        switch (l, r) {
        case (.object(let a), _):
            if case .object(let b) = r, a === b { return true }
            if let v = try a.binary(.equal, r, reversed: false) { return try v.isTruthy }
            if case .object(let b) = r, let v = try b.binary(.equal, l, reversed: true) { return try v.isTruthy }
            return false
        case (_, .object(let b)):
            if let v = try b.binary(.equal, l, reversed: true) { return try v.isTruthy }
            return false
        case (.list(let a), .list(let b)):
            if a === b { return true }
            guard a.items.count == b.items.count else { return false }
            var i = 0
            while i < a.items.count && i < b.items.count {
                if try !equalChecked(a.items[i], b.items[i], depth: depth + 1) { return false }
                i += 1
            }
            return a.items.count == b.items.count
        case (.dict(let a), .dict(let b)):
            if a === b { return true }
            guard a.count == b.count else { return false }
            let (ks, vs) = (a.keys, a.values)
            for (i, k) in ks.enumerated() {
                guard let v = b[k], try equalChecked(vs[i], v, depth: depth + 1) else { return false }
            }
            return true
        default:
            return equal(l, r)
        }
    }

    /// How deep `==` and ordering follow nested lists before a recursion error.
    static let maxCompareDepth = 10_000

    /// "no property 'x' on list" with the near matches among the members.
    static func noMember(_ v: Value, _ name: String) -> String {
        let names = Methods.memberNames(of: v)
        var msg = "no property '\(name)' on \(v.typeName)"
        if let near = Declarations.nearest(name, in: names) { msg += " (did you mean '\(near)'?)" }
        return msg
    }

    /// -1, 0, 1, or nil when the values are not ordered.
    static func compare(_ l: Value, _ r: Value, depth: Int = 0) throws -> Int? {
        if depth > maxCompareDepth { throw RuntimeError("maximum recursion depth exceeded in comparison") }
        switch (l, r) {
        case (.int(let a), .int(let b)): return a < b ? -1 : (a > b ? 1 : 0)
        case (.int(let a), .float(let b)): return cmp(Double(a), b)
        case (.float(let a), .int(let b)): return cmp(a, Double(b))
        case (.float(let a), .float(let b)): return cmp(a, b)
        case (.float32(let a), .float32(let b)): return cmp(Double(a), Double(b))
        case (.float32(let a), .float(let b)): return cmp(Double(a), Double(Float(b)))
        case (.float(let a), .float32(let b)): return cmp(Double(Float(a)), Double(b))
        case (.float32(let a), .int(let b)): return cmp(Double(a), Double(Float(b)))
        case (.int(let a), .float32(let b)): return cmp(Double(Float(a)), Double(b))
        case (.float32(let a), .bool(let b)): return cmp(Double(a), b ? 1 : 0)
        case (.bool(let a), .float32(let b)): return cmp(a ? 1 : 0, Double(b))
        case (.string(let a), .string(let b)): return a < b ? -1 : (a > b ? 1 : 0)
        case (.bool(let a), .bool(let b)): return a == b ? 0 : (!a ? -1 : 1)
        case (.bool(let a), .int), (.bool(let a), .float): return try compare(.int(a ? 1 : 0), r)
        case (.int, .bool(let b)), (.float, .bool(let b)): return try compare(l, .int(b ? 1 : 0))
        case (.list(let a), .list(let b)):
            for i in 0..<min(a.items.count, b.items.count) {
                if try equalChecked(a.items[i], b.items[i], depth: depth + 1) { continue }
                guard let c = try compare(a.items[i], b.items[i], depth: depth + 1) else {
                    throw RuntimeError("'<' not supported between \(a.items[i].typeName) and \(b.items[i].typeName)")
                }
                return c
            }
            return a.items.count < b.items.count ? -1 : (a.items.count > b.items.count ? 1 : 0)
        default: return nil
        }
    }

    /// -1, 0, 1, or 2 when unordered (a NaN).
    private static func cmp(_ a: Double, _ b: Double) -> Int { a < b ? -1 : (a > b ? 1 : (a == b ? 0 : 2)) }

    static func checkHashable(_ v: Value) throws {
        switch v {
        case .list, .dict: throw RuntimeError("unhashable type: \(v.typeName) (use a string or number as a dictionary key)")
        case .object(let o) where !o.isHashable:
            throw RuntimeError("unhashable type: \(o.typeName) (as numpy's arrays; use a string, number or t.tolist() converted to a key)")
        default: return
        }
    }

    static func contains(_ container: Value, _ item: Value, _ interp: Interpreter) throws -> Bool {
        switch container {
        case .list(let l): return try l.items.contains { try equalChecked($0, item) }
        case .dict(let d):
            try checkHashable(item)
            return d[item] != nil
        case .string(let s):
            guard case .string(let sub) = item else { throw RuntimeError("'in <string>' requires a string on the left, not \(item.typeName)") }
            return sub.isEmpty || s.contains(sub)
        case .range(let r):
            guard case .int(let i) = item else { return false }
            // The differences fit in UInt even when they overflow Int.
            if r.step > 0 { return i >= r.start && i < r.stop && UInt(bitPattern: i &- r.start) % r.step.magnitude == 0 }
            return i <= r.start && i > r.stop && UInt(bitPattern: r.start &- i) % r.step.magnitude == 0
        case .object(let o):
            if let r = try o.containsValue(item) { return r }
            let next = try iterator(.object(o), interp)
            while let v = try next() { if try equalChecked(v, item) { return true } }
            return false
        default:
            throw RuntimeError("argument of type \(container.typeName) is not a container")
        }
    }

    // MARK: - Iteration

    static func iterator(_ v: Value, _ interp: Interpreter) throws -> () throws -> Value? {
        switch v {
        case .list(let l):
            var i = 0
            return { if i < l.items.count { i += 1; return l.items[i - 1] }; return nil }
        case .range(let r):
            var i = 0
            let n = r.count
            return { if i < n { i += 1; return .int(r[i - 1]) }; return nil }
        case .string(let s):
            var it = s.makeIterator()
            return { it.next().map { .string(String($0)) } }
        case .dict(let d):
            let keys = d.keys
            var i = 0
            // As in Python: adding or removing keys while iterating is an error, not a
            // loop over a stale snapshot.
            return {
                if d.count != keys.count { throw RuntimeError("dictionary changed size during iteration") }
                if i < keys.count { i += 1; return keys[i - 1] }
                return nil
            }
        case .object(let o):
            if let it = try o.makeIterator(interpreter: interp) { return it }
            throw RuntimeError("\(o.typeName) is not iterable")
        default:
            throw RuntimeError("\(v.typeName) is not iterable")
        }
    }

    static func toArray(_ v: Value, _ interp: Interpreter) throws -> [Value] {
        if case .list(let l) = v { return l.items }
        if case .range(let r) = v, r.count > 1 << 28 { throw RuntimeError("range of \(r.count) items is too large to make a list") }
        let next = try iterator(v, interp)
        var out: [Value] = []
        while let x = try next() {
            out.append(x)
            if Interrupt.poll() { throw RuntimeError.interrupted }
        }
        return out
    }

    // MARK: - Indexing

    static func normalize(_ i: Int, _ count: Int, _ what: String) throws -> Int {
        let j = i < 0 ? i + count : i
        if j < 0 || j >= count { throw RuntimeError("\(what) index \(i) out of range (length \(count))") }
        return j
    }

    /// Python slice semantics: the indices selected by start:stop:step.
    static func sliceIndices(_ count: Int, _ start: Int?, _ stop: Int?, _ step: Int?) throws -> StrideTo<Int> {
        if step == 0 { throw RuntimeError("slice step cannot be zero") }
        // A step of count or more (either sign) selects at most one index: clamped to count,
        // the same indices without overflow (StrideTo's next index would overflow at 2**62).
        let st = clampedStep(step ?? 1, count)
        func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { min(max(v, lo), hi) }
        if st > 0 {
            let a = start.map { $0 < 0 ? clamp($0 + count, 0, count) : clamp($0, 0, count) } ?? 0
            let b = stop.map { $0 < 0 ? clamp($0 + count, 0, count) : clamp($0, 0, count) } ?? count
            return stride(from: a, to: max(a, b), by: st)
        }
        let a = start.map { $0 < 0 ? clamp($0 + count, -1, count - 1) : clamp($0, -1, count - 1) } ?? count - 1
        let b = stop.map { $0 < 0 ? clamp($0 + count, -1, count - 1) : clamp($0, -1, count - 1) } ?? -1
        return stride(from: a, to: min(a, b), by: st)
    }

    /// A slice step over `count` items with the same selection and no overflow.
    static func clampedStep(_ step: Int, _ count: Int) -> Int {
        let m = max(count, 1)
        return step > 0 ? min(step, m) : max(step, -m)
    }

    /// Python's range slicing, overflow-safe: the first selected index and how many there
    /// are come from arithmetic on the range's length (never a list of the indices); the new
    /// step is the range's times the slice's. Where Python's bounds (arbitrary-precision
    /// ints) fit in Int they are Python's; where they do not, the same elements with the
    /// tightest bounds that do (range(0, 9, 3)[::2**62] holds 0, as Python's); an "integer
    /// overflow" error only when even those do not fit.
    static func sliceRange(_ r: RangeRef, _ a: Int?, _ b: Int?, _ c: Int?) throws -> RangeRef {
        if c == 0 { throw RuntimeError("slice step cannot be zero") }
        let n = r.count
        let st = clampedStep(c ?? 1, n)
        func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { min(max(v, lo), hi) }
        let lo: Int, count: Int
        if st > 0 {
            lo = a.map { $0 < 0 ? clamp($0 &+ n, 0, n) : clamp($0, 0, n) } ?? 0
            let e = b.map { $0 < 0 ? clamp($0 &+ n, 0, n) : clamp($0, 0, n) } ?? n
            count = e > lo ? (e - lo - 1) / st + 1 : 0
        } else {
            lo = a.map { $0 < 0 ? clamp($0 &+ n, -1, n - 1) : clamp($0, -1, n - 1) } ?? n - 1
            let e = b.map { $0 < 0 ? clamp($0 &+ n, -1, n - 1) : clamp($0, -1, n - 1) } ?? -1
            count = lo > e ? (lo - e - 1) / (-st) + 1 : 0
        }
        guard count > 0 else { return RangeRef(start: 0, stop: 0, step: 1) }
        let first = r[lo]
        let (step, o1) = r.step.multipliedReportingOverflow(by: c ?? 1)
        if !o1 {
            let (span, o2) = count.multipliedReportingOverflow(by: step)
            let (stop, o3) = first.addingReportingOverflow(span)
            if !o2 && !o3 { return RangeRef(start: first, stop: stop, step: step) }
        }
        let positive = (r.step > 0) == ((c ?? 1) > 0)
        if count == 1 {
            let (stop, o) = first.addingReportingOverflow(positive ? 1 : -1)
            if !o { return RangeRef(start: first, stop: stop, step: positive ? 1 : -1) }
        } else if !o1 {
            let last = r[lo + (count - 1) * st]
            let (stop, o) = last.addingReportingOverflow(positive ? 1 : -1)
            if !o { return RangeRef(start: first, stop: stop, step: step) }
        }
        throw RuntimeError("integer overflow: range(\(r.start), \(r.stop), \(r.step))[\(a.map(String.init) ?? ""):\(b.map(String.init) ?? ""):\(c.map(String.init) ?? "")] has bounds beyond 64-bit ints")
    }

    static func getItem(_ container: Value, _ items: [IndexItem], _ interp: Interpreter) throws -> Value {
        if case .object(let o) = container { return try o.subscriptGet(items, interpreter: interp) }
        if case .dict(let d) = container {
            guard items.count == 1, case .value(let k) = items[0] else { throw RuntimeError("a dict is indexed by one key") }
            try checkHashable(k)
            if let v = d[k] { return v }
            throw RuntimeError("key \(Format.reprExcerpt(k)) not found in dict")
        }
        guard items.count == 1 else {
            throw RuntimeError("\(container.typeName) indices must be a single int or slice, not \(items.count) components")
        }
        switch (container, items[0]) {
        case (.list(let l), .value(let iv)):
            return l.items[try normalize(try intIndex(iv, "list"), l.items.count, "list")]
        case (.list(let l), .slice(let a, let b, let c)):
            return .list(ListRef(try sliceIndices(l.items.count, a, b, c).map { l.items[$0] }))
        case (.string(let s), .value(let iv)):
            let chars = Array(s)
            return .string(String(chars[try normalize(try intIndex(iv, "string"), chars.count, "string")]))
        case (.string(let s), .slice(let a, let b, let c)):
            let chars = Array(s)
            return .string(String(try sliceIndices(chars.count, a, b, c).map { chars[$0] }))
        case (.range(let r), .value(let iv)):
            return .int(r[try normalize(try intIndex(iv, "range"), r.count, "range")])
        case (.range(let r), .slice(let a, let b, let c)):
            return .range(try sliceRange(r, a, b, c))
        default:
            throw RuntimeError("\(container.typeName) is not subscriptable")
        }
    }

    private static func intIndex(_ v: Value, _ what: String) throws -> Int {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: throw RuntimeError("\(what) indices must be integers or slices, not \(v.typeName)")
        }
    }

    static func setItem(_ container: Value, _ items: [IndexItem], _ value: Value, _ interp: Interpreter) throws {
        switch container {
        case .object(let o):
            if try o.subscriptSet(items, value, interpreter: interp) { return }
            throw RuntimeError("\(o.typeName) does not support item assignment")
        case .dict(let d):
            guard items.count == 1, case .value(let k) = items[0] else { throw RuntimeError("a dict is indexed by one key") }
            try checkHashable(k)
            d[k] = value
        case .list(let l):
            guard items.count == 1 else { throw RuntimeError("list indices must be a single int or slice") }
            switch items[0] {
            case .value(let iv):
                l.items[try normalize(try intIndex(iv, "list"), l.items.count, "list")] = value
            case .slice(let a, let b, let c):
                let new = try toArray(value, interp)
                if c == nil || c == 1 {
                    let idx = try sliceIndices(l.items.count, a, b, 1)
                    let arr = Array(idx)
                    let lo = arr.first ?? (a.map { $0 < 0 ? max(0, $0 + l.items.count) : min($0, l.items.count) } ?? 0)
                    let hi = (arr.last.map { $0 + 1 }) ?? lo
                    l.items.replaceSubrange(lo..<hi, with: new)
                } else {
                    let idx = Array(try sliceIndices(l.items.count, a, b, c))
                    guard idx.count == new.count else {
                        throw RuntimeError("attempt to assign a sequence of size \(new.count) to an extended slice of size \(idx.count)")
                    }
                    for (k, i) in idx.enumerated() { l.items[i] = new[k] }
                }
            }
        default:
            throw RuntimeError("\(container.typeName) does not support item assignment")
        }
    }

    // MARK: - Attributes

    static func getAttribute(_ v: Value, _ name: String, _ interp: Interpreter) throws -> Value {
        switch v {
        case .object(let o):
            if let p = try o.getProperty(name, interpreter: interp) { return p }
            throw RuntimeError(noMember(v, name))
        default: break
        }
        if let m = try Methods.member(v, name, interp) { return m }
        throw RuntimeError(noMember(v, name))
    }

    static func setAttribute(_ v: Value, _ name: String, _ value: Value, _ interp: Interpreter) throws {
        if case .object(let o) = v, try o.setProperty(name, value, interpreter: interp) { return }
        throw RuntimeError("cannot set property '\(name)' on \(v.typeName)")
    }
}
