import Foundation
import VLSCore
import VLSLanguage

/// A tensor as a language value: prints like numpy, broadcasts, indexes and slices.
final class TensorObject: DeclaredObject {
    let tensor: Tensor
    /// numpy's dtype (TensorObject+DType.swift): float32, int64 (indices, counts) or bool
    /// (comparisons and tests such as `t > 0`, `isnan`; `t[mask]` selects where it is true).
    let dtype: DType
    /// A bool tensor: indexes as a mask; any other tensor index holds positions.
    var isMask: Bool { dtype == .bool }
    init(_ t: Tensor, dtype: DType = .float32) { tensor = t; self.dtype = dtype }
    init(_ t: Tensor, isMask: Bool) { tensor = t; dtype = isMask ? .bool : .float32 }

    /// A view, copy or reshape of this tensor: the dtype stays (numpy's dtype survives copy,
    /// slicing, reshape and transposes).
    func like(_ t: Tensor) -> Value { .object(TensorObject(t, dtype: dtype)) }

    var typeName: String { "tensor" }

    func describe() -> String { TensorFormat.describe(tensor, dtype: dtype) }

    func length() throws -> Int? {
        guard tensor.rank > 0 else { throw RuntimeError("len() of a 0-d tensor") }
        return tensor.shape[0]
    }

    /// numpy's `x in t`: `(t == x).any()` over every element, whatever the rank.
    func containsValue(_ item: Value) throws -> Bool? {
        guard case .object(let r as TensorObject)? = try binary(.equal, item, reversed: false) else {
            throw RuntimeError("'in <tensor>' needs a number or tensor on the left, not \(item.typeName)")
        }
        return r.tensor.scalars.contains { $0 != 0 }
    }

    /// numpy's arrays are unhashable: a tensor is not a dictionary key.
    var isHashable: Bool { false }

    /// numpy's rule: only a one-element tensor has a truth value.
    func truthValue() throws -> Bool {
        if tensor.count == 1 { return tensor.scalars[0] != 0 }
        throw RuntimeError("the truth value of a tensor with \(tensor.count) elements is ambiguous; use .any() or .all()")
    }

    /// float(t), int(t): the element of a one-element tensor.
    func numberValue() throws -> Value? {
        guard tensor.count == 1 else {
            throw RuntimeError("only a one-element tensor converts to a number (this one has shape \(tensor.shape))")
        }
        let x = tensor.scalars[0]
        switch dtype {
        case .float32: return .float(Double(x))
        case .int64: return .int(try TensorObject.intElement(x))
        case .bool: return .int(x != 0 ? 1 : 0)
        }
    }

    /// An axis in range (negative counts from the end).
    static func axis(_ a: Arguments, _ name: String, rank: Int, insert: Bool = false) throws -> Int {
        let ax = try a.int(nil, name)
        let n = insert ? rank + 1 : rank
        let i = ax < 0 ? ax + n : ax
        guard i >= 0, i < max(n, 1) else { throw RuntimeError("\(a.functionName): axis \(ax) is out of range for a tensor of rank \(rank)") }
        return i
    }

    /// Softmax along any axis, as numpy computes it in float32: exp(x - max) / sum with
    /// the library's expf, so a value far below the maximum underflows to 0 (or a
    /// subnormal) as numpy's does. (The model's kernel uses a faster exp clamped at
    /// e^-87.3, about 1.2e-38, which is not what a user's softmax should print.)
    static func softmax(_ t: Tensor, axis: Int) throws -> Tensor {
        if t.rank == 0 { return Tensor(scalar: t.scalars[0].isNaN ? .nan : 1) }
        return try t.alongAxis(axis) { src, dst, n in
            var m = -Float.infinity
            for i in 0..<n { if src[i].isNaN { m = .nan; break }; if src[i] > m { m = src[i] } }
            var s: Float = 0
            for i in 0..<n { dst[i] = expf(src[i] - m); s += dst[i] }
            for i in 0..<n { dst[i] /= s }
        }
    }

    static func elementwise(_ m: Members<TensorObject>, _ name: String, _ doc: String, _ f: @escaping (Float) -> Float) -> Members<TensorObject> {
        // abs keeps an int64 or bool tensor's dtype (numpy's); the others give float32.
        m.method("t.\(name)()", doc) { o, _ in name == "abs" ? o.like(o.tensor.map(f)) : .tensor(o.tensor.map(f)) }
    }

    static let members: Members<TensorObject> = {
        let m: Members<TensorObject> = bridgedMembers("tensor")
            .property("shape", "The size of each axis, a list of ints.") { o, _ in .ints(o.tensor.shape) }
            .property("rank", "The number of axes.") { o, _ in .int(o.tensor.rank) }
            .property("ndim", "The number of axes (numpy's name).") { o, _ in .int(o.tensor.rank) }
            .property("size", "The number of elements.") { o, _ in .int(o.tensor.count) }
            .property("dtype", "The element type: \"float32\", \"int64\" (indices, counts) or \"bool\" (comparisons).") { o, _ in .string(o.dtype.rawValue) }
            .property("T", "The last two axes swapped (a 1-d tensor as it is).") { o, _ in
                let t = o.tensor
                guard t.rank >= 2 else { return o.like(t) }
                return o.like(t.transposed(t.rank - 2, t.rank - 1))
            }
        numpyMembers(m)
        _ = elementwise(m, "exp", "Elementwise e^x.", expf)
        _ = elementwise(m, "log", "Elementwise natural logarithm.", logf)
        _ = elementwise(m, "sqrt", "Elementwise square root.", sqrtf)
        _ = elementwise(m, "abs", "Elementwise absolute value (what abs(t) gives).", abs)
        _ = elementwise(m, "tanh", "Elementwise tanh.", tanhf)
        _ = elementwise(m, "sigmoid", "Elementwise 1 / (1 + e^-x).") { 1 / (1 + expf(-$0)) }
        m.method("t.round(decimals: int = 0)", "Elementwise rounding to `decimals` places, half to even (numpy's round; what round(t, n) gives).") { o, a in
            let d = try a.int(0, "decimals", default: 0)
            if o.dtype != .float32 && d >= 0 { return o.like(o.tensor.copy()) }   // numpy: integers round to themselves
            guard d >= -38, d <= 38 else { return .tensor(o.tensor) }
            let scale = powf(10, Float(d))
            return .tensor(o.tensor.map { x in
                guard x.isFinite else { return x }
                let y = (x * scale).rounded(.toNearestOrEven) / scale
                return y.isFinite ? y : x
            })
        }
        m.method("t.reshape(*shape: int|list[int])", "The same elements in a new shape, given as ints or one list; one dimension may be -1.") { o, a in
            let dims: [Int]
            if a.count == 1, case .list = a.positional[0] { dims = try a.intList(0, "shape") ?? [] }
            else {
                dims = try a.positional.map { v in
                    guard case .int(let i) = v else {
                        if case .float(let d) = v, d == d.rounded(), let i = Int(exactly: d) { return i }
                        if case .float32(let f) = v, f == f.rounded(), let i = Int(exactly: f) { return i }
                        throw RuntimeError("\(a.functionName): dimensions must be ints (or one list of ints), got \(v.typeName)")
                    }
                    return i
                }
            }
            return o.like(try o.tensor.reshaped(dims))
        }
        m.method("t.flatten()", "A 1-d copy of all elements (its own memory, as numpy's flatten).") { o, _ in o.like(try o.tensor.copy().reshaped([o.tensor.count])) }
        m.method("t.transpose(a: int = -2, b: int = -1)", "Swaps axes a and b (default the last two).") { o, a in
            let t = o.tensor
            guard t.rank >= 2 else { return o.like(t) }
            let x = try a.int(0, "a"), y = try a.int(1, "b")
            let n = t.rank
            let (i, j) = (x < 0 ? x + n : x, y < 0 ? y + n : y)
            guard (0..<n).contains(i), (0..<n).contains(j) else { throw RuntimeError("transpose: axes (\(x), \(y)) out of range for shape \(t.shape)") }
            return o.like(t.transposed(i, j))
        }
        m.method("t.permute(*axes: int)", "Reorders the axes.") { o, a in
            o.like(try o.tensor.permuted(try a.positional.map { v in guard case .int(let i) = v else { return 0 }; return i }))
        }
        m.method("t.softmax(axis: int = -1)", "Softmax along `axis` (default the last).") { o, a in
            .tensor(try softmax(o.tensor, axis: try axis(a, "axis", rank: o.tensor.rank)))
        }
        m.method("t.item()", "The single element of a one-element tensor as a Python number: a float (double) for float32, an int for int64, a bool for bool.") { o, _ in
            let t = o.tensor
            guard t.count == 1 else { throw RuntimeError("item(): tensor of shape \(t.shape) has \(t.count) elements, not 1") }
            let x = t.scalars[0]
            switch o.dtype {
            case .float32: return .float(Double(x))
            case .int64: return .int(try TensorObject.intElement(x))
            case .bool: return .bool(x != 0)
            }
        }
        m.method("t.tolist()", "Nested lists of Python numbers (floats, ints for int64, bools for bool).") { o, _ in
            if o.dtype == .int64 { for x in o.tensor.scalars { _ = try intElement(x) } }
            return nestedList(o.tensor, ints: o.dtype == .int64, bools: o.dtype == .bool)
        }
        m.method("t.copy()", "A copy with its own memory.") { o, _ in o.like(o.tensor.copy()) }
        m.method("t.squeeze(axis: int = nil)", "Drops the axes of length 1 (or only `axis`, which must have length 1).") { o, a in
            let t = o.tensor
            guard a.optional(0, "axis") != nil else { return o.like(try t.reshaped(t.shape.filter { $0 != 1 })) }
            let i = try axis(a, "axis", rank: t.rank)
            guard t.shape[i] == 1 else { throw RuntimeError("squeeze: axis \(i) has length \(t.shape[i]), not 1") }
            var s = t.shape
            s.remove(at: i)
            return o.like(try t.reshaped(s))
        }
        m.method("t.unsqueeze(axis: int)", "Inserts an axis of length 1.") { o, a in
            var s = o.tensor.shape
            s.insert(1, at: try axis(a, "axis", rank: s.count, insert: true))
            return o.like(try o.tensor.reshaped(s))
        }
        return m
    }()

    // MARK: - Operators

    func binary(_ op: BinaryOperator, _ other: Value, reversed: Bool) throws -> Value? {
        if op == .matmul {
            let o = try tensorValue(other)
            return .tensor(try bridged { reversed ? try o.matmul(tensor) : try tensor.matmul(o) })
        }
        // int64 (and bool) with ints: numpy's integer arithmetic, exact, errors where numpy warns.
        if dtype != .float32, TensorObject.operandIsInteger(other) == true {
            if dtype == .bool, TensorObject.isBool(other), [.add, .multiply, .subtract].contains(op) {
                // numpy: bool + bool is or, bool * bool is and, bool - bool an error (a
                // Python bool counts as a bool here: mask + True is all True).
                guard op != .subtract else { throw RuntimeError("numpy boolean subtract, the - operator, is not supported; use != (xor)") }
                let b = try tensorValue(other)
                return .mask(try bridged { try tensor.binary(op == .add ? .maximum : .mul, b) })
            }
            let o = try tensorValue(other)
            if let v = try (reversed ? TensorObject.integerBinary(op, o, tensor) : TensorObject.integerBinary(op, tensor, o)) { return v }
        }
        // Integer true division by zero: numpy warns and gives inf or nan; vls raises.
        if op == .divide, TensorObject.operandIsInteger(other) == true, dtype != .float32 {
            let divisor = reversed ? tensor : try tensorValue(other)
            if divisor.scalars.contains(0) { throw RuntimeError("division by zero in an integer tensor (numpy warns and gives inf or nan)") }
        }
        let map: [BinaryOperator: Tensor.BinaryOp] = [.add: .add, .subtract: .sub, .multiply: .mul, .divide: .div,
                                                      .power: .pow, .modulo: .mod, .less: .lt, .lessEqual: .le,
                                                      .greater: .gt, .greaterEqual: .ge, .equal: .eq, .notEqual: .ne,
                                                      .floorDivide: .floorDiv]
        guard let top = map[op] else { return nil }
        let comparison: Set<Tensor.BinaryOp> = [.lt, .le, .gt, .ge, .eq, .ne]
        let wrap: (Tensor) -> Value = { comparison.contains(top) ? .mask($0) : .tensor($0) }
        switch other {
        case .int(let i): return wrap(tensor.binary(top, scalar: Float(i), reversed: reversed))
        case .float(let d): return wrap(tensor.binary(top, scalar: Float(d), reversed: reversed))
        case .float32(let f): return wrap(tensor.binary(top, scalar: f, reversed: reversed))
        case .bool(let b): return wrap(tensor.binary(top, scalar: b ? 1 : 0, reversed: reversed))
        default:
            guard let o = try? tensorValue(other) else { return nil }
            return wrap(try bridged { reversed ? try o.binary(top, tensor) : try tensor.binary(top, o) })
        }
    }

    /// numpy's `t += x` (and -=, *=, /=, **=, %=): the result is written into t's memory, so
    /// aliases and views see it; it must keep t's shape.
    func inPlace(_ op: BinaryOperator, _ other: Value) throws -> Value? {
        guard [.add, .subtract, .multiply, .divide, .power, .modulo].contains(op) else { return nil }
        try checkSameKind(op, other)
        guard case .object(let r as TensorObject)? = try binary(op, other, reversed: false) else { return nil }
        guard r.tensor.shape == tensor.shape else {
            throw RuntimeError("in-place \(op.rawValue)=: the result's shape \(r.tensor.shape) differs from the tensor's \(tensor.shape) (write t = t \(op.rawValue) x for a new tensor)")
        }
        let (shape, offsets) = try TensorIndexing.targets(tensor, [])
        let cast = try castForWrite(r.tensor, "in-place \(op.rawValue)=")
        try bridged { try tensor.assign(offsets: offsets, shape: shape, from: cast) }
        return .object(self)
    }

    /// A Python bool or a bool tensor (numpy's bool operand).
    static func isBool(_ v: Value) -> Bool {
        switch v {
        case .bool: return true
        case .object(let o as TensorObject): return o.dtype == .bool
        default: return false
        }
    }

    /// numpy's in-place casting rule (same_kind): the result of `t op= x` must be of t's kind
    /// or a lower one (bool < integer < float). So an int64 tensor refuses /= and any float
    /// operand, and a bool tensor refuses arithmetic with numbers (bool += bool, or, and
    /// bool *= bool, and, stay), as numpy's UFuncTypeError; vls never truncates silently.
    func checkSameKind(_ op: BinaryOperator, _ other: Value) throws {
        guard dtype != .float32 else { return }
        // The operand's dtype as numpy names it.
        let otherType: String
        switch other {
        case .bool: otherType = "bool"
        case .int: otherType = "int64"
        case .float: otherType = "float64"
        case .float32: otherType = "float32"
        case .object(let o as TensorObject): otherType = o.dtype.rawValue
        default: return   // lists and others: binary() decides
        }
        let resultType: String
        if otherType.hasPrefix("float") { resultType = otherType == "float32" && dtype == .bool ? "float32" : "float64" }
        else if op == .divide { resultType = "float64" }
        else if dtype == .bool && otherType == "bool" { resultType = [.add, .multiply].contains(op) ? "bool" : "int8" }
        else { resultType = "int64" }
        let kind: (String) -> Int = { $0 == "bool" ? 0 : $0.hasPrefix("int") ? 1 : 2 }
        guard kind(resultType) > kind(dtype.rawValue) else { return }
        let ufunc: [BinaryOperator: String] = [.add: "add", .subtract: "subtract", .multiply: "multiply", .divide: "divide", .power: "power", .modulo: "remainder"]
        throw RuntimeError("in-place \(op.rawValue)= on a\(dtype == .int64 ? "n" : "") \(dtype.rawValue) tensor with a\(otherType == "int64" ? "n" : "") \(otherType) operand: cannot cast ufunc '\(ufunc[op] ?? op.rawValue)' output from \(resultType) to \(dtype.rawValue) (numpy's same_kind rule); write t = t \(op.rawValue) x for a new tensor")
    }

    func unary(_ op: UnaryOperator) throws -> Value? {
        switch op {
        case .negate:
            if dtype == .bool { throw RuntimeError("the numpy boolean negative, the - operator, is not supported; use `t == false` for not") }
            return like(tensor.map { -$0 == 0 ? 0 : -$0 })
        case .plus: return like(tensor.copy())   // a new tensor, as numpy's +t (assignment must not alias it)
        case .not: return nil
        }
    }

    // MARK: - Indexing

    func subscriptGet(_ items: [IndexItem], interpreter: Interpreter) throws -> Value {
        let out = try TensorIndexing.index(tensor, items)
        return out.rank == 0 ? try scalar(out.scalars[0]) : like(out)
    }

    func makeIterator(interpreter: Interpreter) throws -> (() throws -> Value?)? {
        guard tensor.rank > 0 else { throw RuntimeError("iteration over a 0-d tensor") }
        var i = 0
        let t = tensor
        return { [self] in
            guard i < t.shape[0] else { return nil }
            defer { i += 1 }
            let row = t.select(i)
            return row.rank == 0 ? try scalar(row.scalars[0]) : like(row)
        }
    }
}

/// Index and slice semantics of numpy for ints, slices and lists of ints.
enum TensorIndexing {
    /// An index item after resolution: an int, a slice, or an integer array (numpy's
    /// advanced index: a list, nested lists or a tensor of positions, of any shape).
    enum Resolved {
        case int(Int)
        case slice(start: Int?, stop: Int?, step: Int?)
        case array(shape: [Int], values: [Int])
    }

    /// Tensor items resolved: a bool tensor alone selects where it is true; among other
    /// items it selects along the axes it spans (of `shape`, the indexed tensor's), as its
    /// true positions (numpy); any other tensor, and any list, holds positions (integral
    /// values, as numpy's integer arrays). A float32 tensor of 0s and 1s is positions, never
    /// silently a mask.
    static func resolve(_ items: [IndexItem], shape: [Int]) throws -> (mask: Tensor?, items: [Resolved]) {
        if items.count == 1, case .value(.object(let o as TensorObject)) = items[0], o.isMask { return (o.tensor, []) }
        // The axis each item starts at (a mask of rank k spans k axes), for masks in a tuple.
        var axis = 0
        var out: [Resolved] = []
        for item in items {
            if case .value(.object(let o as TensorObject)) = item, o.isMask {
                // numpy: a bool array among other indices is its nonzero() positions, one
                // integer array per axis it spans; its shape must match those axes.
                let m = o.tensor
                guard m.rank >= 1 else { throw RuntimeError("a 0-d mask is not a tensor index among others; index with ints, slices or a mask of whole axes") }
                let axes = Array(shape.dropFirst(axis).prefix(m.rank))
                guard axes == m.shape else {
                    throw RuntimeError("boolean index did not match the indexed tensor along axes \(axis)..<\(axis + m.rank): those have sizes \(axes), the mask has shape \(m.shape)")
                }
                let flat = m.scalars
                let hits = (0..<flat.count).filter { flat[$0] != 0 }
                var strides = [Int](repeating: 1, count: m.rank)
                for d in stride(from: m.rank - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * m.shape[d + 1] }
                for d in 0..<m.rank {
                    out.append(.array(shape: [hits.count], values: hits.map { ($0 / strides[d]) % m.shape[d] }))
                }
                axis += m.rank
                continue
            }
            axis += 1
            out.append(try resolveOne(item))
        }
        return (nil, out)
    }

    static func resolveOne(_ item: IndexItem) throws -> Resolved {
            switch item {
            case .slice(let a, let b, let c): return .slice(start: a, stop: b, step: c)
            case .value(.int(let i)): return .int(i)
            case .value(.bool):
                throw RuntimeError("a bool is not a tensor index (numpy would add an axis); index with ints, or with a comparison as a mask")
            case .value(.object(let o as TensorObject)):
                return .array(shape: o.tensor.shape, values: try integral(o.tensor.scalars, what: "tensor index"))
            case .value(.list(let l)):
                let t: Tensor
                do { t = try tensorValue(.list(l)) } catch {
                    throw RuntimeError("a tensor index list must be a (nested, rectangular) list of ints: \(error)")
                }
                for v in l.items {
                    switch v {
                    case .int, .list: continue
                    case .bool: throw RuntimeError("a list of bools is not a tensor index (numpy takes it as a mask): index with a comparison (t[t > 0]) or with ints")
                    case .object(let o as TensorObject) where o.dtype == .int64: continue
                    default: throw RuntimeError("tensor index lists must hold ints, got \(v.typeName)")
                    }
                }
                return .array(shape: t.shape, values: try integral(t.scalars, what: "index list"))
            case .value(let v):
                throw RuntimeError("tensor indices must be ints, slices, lists of ints or tensors, got \(v.typeName)")
            }
    }

    static func integral(_ xs: [Float], what: String) throws -> [Int] {
        try xs.enumerated().map { k, v in
            guard v.isFinite, v == v.rounded(), abs(v) < 1e15 else {
                throw RuntimeError("\(what) element \(k) is \(v), not an integer position; to select by a condition, index with a comparison (t[t > 0])")
            }
            return Int(v)
        }
    }

    /// A 0/1 tensor of the indexed tensor's leading shape that is not a comparison's result
    /// could mean a mask or positions: say which instead of guessing.
    static func checkAmbiguous(_ t: Tensor, _ items: [IndexItem]) throws {
        guard items.count == 1, case .value(.object(let o as TensorObject)) = items[0], o.dtype == .float32 else { return }
        let x = o.tensor
        guard x.rank >= 1, x.rank <= t.rank, Array(t.shape.prefix(x.rank)) == x.shape, x.count > 0,
              x.scalars.allSatisfy({ $0 == 0 || $0 == 1 }) else { return }
        throw RuntimeError("a tensor of 0s and 1s shaped like the indexed tensor: as a mask write t[m == 1]; as positions write t[m.tolist()]")
    }

    static func index(_ t: Tensor, _ rawItems: [IndexItem]) throws -> Tensor {
        try checkAmbiguous(t, rawItems)
        let (mask, items) = try resolve(rawItems, shape: t.shape)
        if let mask { return try masked(t, mask) }
        guard items.count <= t.rank else {
            throw RuntimeError("too many indices for a tensor of shape \(t.shape) (\(items.count) given)")
        }
        if items.contains(where: { if case .array = $0 { return true }; return false }) {
            // Advanced indexing: a new tensor gathered from the selected offsets.
            let (shape, offsets) = try advanced(t, items)
            let out = try Tensor(uninitialized: shape, for: "indexing")
            let dst = out.mutablePointer
            for (k, o) in offsets.enumerated() { dst[k] = t.storage.base[o] }
            return out
        }
        // Basic indexing (ints and slices): a view.
        var view = t
        var axis = 0
        for item in items {
            let n = view.shape[axis]
            switch item {
            case .int(let i0):
                let i = i0 < 0 ? i0 + n : i0
                guard i >= 0, i < n else { throw RuntimeError("index \(i0) out of range for axis \(axis) of size \(n)") }
                view = Tensor(storage: view.storage, shape: dropped(view.shape, axis), strides: dropped(view.strides, axis),
                              offset: view.offset + i * view.strides[axis])
            case .slice(let start, let stop, let step):
                guard step != 0 else { throw RuntimeError("slice step cannot be zero") }
                let st = clampedStep(step ?? 1, n: n)
                let (lo, count) = sliceBounds(n: n, start: start, stop: stop, step: st)
                view = view.narrowed(axis: axis, start: lo, count: count, step: st)
                axis += 1
            case .array:
                preconditionFailure("arrays take the advanced path")
            }
        }
        return view
    }

    /// numpy's advanced indexing over ints, slices and integer arrays: the arrays (and the
    /// ints beside them, which count as 0-d arrays) broadcast together to one shape B; when
    /// they sit next to each other B takes their place among the sliced axes, otherwise it
    /// comes first (numpy's rule). The storage offsets of the selected elements, row-major
    /// in the result's shape.
    static func advanced(_ t: Tensor, _ items: [Resolved]) throws -> ([Int], [Int]) {
        // The broadcast shape of the arrays (ints are 0-d).
        var bshape: [Int] = []
        var positions: [Int] = []   // item indices of the advanced ones
        for (k, item) in items.enumerated() {
            switch item {
            case .array(let s, _):
                do { bshape = try Tensor.broadcastShape(bshape, s) } catch {
                    throw RuntimeError("index arrays of shapes \(items.compactMap { if case .array(let s, _) = $0 { return s }; return nil }) cannot be broadcast together (numpy pairs them element by element)")
                }
                positions.append(k)
            case .int: positions.append(k)
            case .slice: break
            }
        }
        let bcount = try Limits.checkTensor(bshape, for: "indexing")
        // Per element of B, the offset the advanced items contribute.
        var advancedOffsets = [Int](repeating: 0, count: bcount)
        for k in positions {
            let n = t.shape[k], st = t.strides[k]
            let values: [Int], shape: [Int]
            switch items[k] {
            case .array(let s, let v): (shape, values) = (s, v)
            case .int(let i): (shape, values) = ([], [i])
            default: continue
            }
            // Broadcast `values` (shape) to bshape: strides 0 on broadcast axes.
            let pad = bshape.count - shape.count
            var vstrides = [Int](repeating: 0, count: bshape.count)
            var acc = 1
            for d in stride(from: shape.count - 1, through: 0, by: -1) {
                vstrides[pad + d] = shape[d] == 1 ? 0 : acc
                acc *= shape[d]
            }
            var idx = [Int](repeating: 0, count: bshape.count)
            for e in 0..<bcount {
                var src = 0
                for d in 0..<bshape.count { src += idx[d] * vstrides[d] }
                let i0 = values[src]
                let i = i0 < 0 ? i0 + n : i0
                guard i >= 0, i < n else { throw RuntimeError("index \(i0) out of range for axis \(k) of size \(n)") }
                advancedOffsets[e] += i * st
                var d = bshape.count - 1
                while d >= 0 { idx[d] += 1; if idx[d] < bshape[d] { break }; idx[d] = 0; d -= 1 }
            }
        }
        // The groups of the result, in order: slices (and unindexed axes) and B.
        enum Group { case axis([Int]), advanced }
        var groups: [Group] = []
        var shape: [Int] = []
        let adjacent = positions.isEmpty || positions.last! - positions.first! + 1 == positions.count
        if !adjacent { groups.append(.advanced); shape += bshape }
        for (k, item) in items.enumerated() {
            switch item {
            case .slice(let start, let stop, let step):
                guard step != 0 else { throw RuntimeError("slice step cannot be zero") }
                let sp = clampedStep(step ?? 1, n: t.shape[k])
                let (lo, count) = sliceBounds(n: t.shape[k], start: start, stop: stop, step: sp)
                groups.append(.axis((0..<count).map { (lo + $0 * sp) * t.strides[k] }))
                shape.append(count)
            default:
                if adjacent && k == positions.first { groups.append(.advanced); shape += bshape }
            }
        }
        for axis in items.count..<t.rank {
            groups.append(.axis((0..<t.shape[axis]).map { $0 * t.strides[axis] }))
            shape.append(t.shape[axis])
        }
        _ = try Limits.checkTensor(shape, for: "indexing")
        var offsets = [t.offset]
        for g in groups {
            let add: [Int]
            switch g {
            case .axis(let a): add = a
            case .advanced: add = advancedOffsets
            }
            var next = [Int]()
            next.reserveCapacity(offsets.count * add.count)
            for o in offsets { for c in add { next.append(o + c) } }
            offsets = next
        }
        return (shape, offsets)
    }

    /// numpy's boolean indexing `t[mask]`: the mask's shape is t's leading shape; the rows
    /// (elements when the shapes agree) where it is non-zero, in row-major order: [k, rest...].
    static func masked(_ t: Tensor, _ mask: Tensor) throws -> Tensor {
        guard mask.rank >= 1, mask.rank <= t.rank, Array(t.shape.prefix(mask.rank)) == mask.shape else {
            throw RuntimeError("a tensor index is a mask of the indexed tensor's (leading) shape \(t.shape), got \(mask.shape); index with ints, slices or lists of ints otherwise")
        }
        let rest = Array(t.shape.dropFirst(mask.rank))
        let width = rest.reduce(1, *)
        let src = t.contiguous(), m = mask.contiguous()
        let rows = (0..<m.count).filter { m.pointer[$0] != 0 }
        var out = [Float]()
        out.reserveCapacity(rows.count * width)
        for r in rows { out.append(contentsOf: UnsafeBufferPointer(start: src.pointer + r * width, count: width)) }
        return Tensor(out, shape: [rows.count] + rest)
    }

    static func dropped(_ a: [Int], _ i: Int) -> [Int] { var b = a; b.remove(at: i); return b }

    /// A slice step over an axis of length n with the same selection and no overflow: a
    /// step of n or more (either sign) selects at most one element, so it is clamped to n
    /// before anyone multiplies it by a stride (`t[::2**62]` is numpy's first row).
    static func clampedStep(_ step: Int, n: Int) -> Int {
        let m = max(n, 1)
        return step > 0 ? min(step, m) : max(step, -m)
    }

    /// Python slice semantics: (first index, element count).
    static func sliceBounds(n: Int, start: Int?, stop: Int?, step rawStep: Int) -> (Int, Int) {
        let step = clampedStep(rawStep, n: n)
        func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { min(max(v, lo), hi) }
        if step > 0 {
            let s = start.map { $0 < 0 ? clamp($0 + n, 0, n) : clamp($0, 0, n) } ?? 0
            let e = stop.map { $0 < 0 ? clamp($0 + n, 0, n) : clamp($0, 0, n) } ?? n
            return (s, e > s ? (e - s + step - 1) / step : 0)
        } else {
            let s = start.map { $0 < 0 ? clamp($0 + n, -1, n - 1) : clamp($0, -1, n - 1) } ?? n - 1
            let e = stop.map { $0 < 0 ? clamp($0 + n, -1, n - 1) : clamp($0, -1, n - 1) } ?? -1
            return (s, s > e ? (s - e - step - 1) / (-step) : 0)
        }
    }
}
