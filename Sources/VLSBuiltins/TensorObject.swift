import Foundation
import VLSCore
import VLSLanguage

/// A tensor as a language value: prints like numpy, broadcasts, indexes and slices.
final class TensorObject: VLSObject {
    let tensor: Tensor
    init(_ t: Tensor) { tensor = t }

    var typeName: String { "tensor" }

    func describe() -> String { TensorFormat.describe(tensor) }

    func length() throws -> Int? {
        guard tensor.rank > 0 else { throw RuntimeError("len() of a 0-d tensor") }
        return tensor.shape[0]
    }

    func truthiness() -> Bool? {
        if tensor.count == 1 { return tensor.scalars[0] != 0 }
        return nil
    }

    var memberNames: [String] { Array(TensorObject.methods.keys).sorted() + ["shape", "rank", "size", "T", "dtype"] }

    func getProperty(_ name: String, interpreter: Interpreter) throws -> Value? {
        let t = tensor
        switch name {
        case "shape": return .ints(t.shape)
        case "rank", "ndim": return .int(t.rank)
        case "size": return .int(t.count)
        case "dtype": return .string("float32")
        case "T":
            guard t.rank >= 2 else { return .tensor(t) }
            return .tensor(t.transposed(t.rank - 2, t.rank - 1))
        default:
            guard let m = TensorObject.methods[name] else { return nil }
            return .native(NativeFunction(name: "tensor.\(name)", signature: m.0, doc: m.1, area: "tensor") { args in
                try bridged { try m.2(t, args) }
            })
        }
    }

    typealias Method = (String, String, (Tensor, Arguments) throws -> Value)

    static func reduction(_ r: Tensor.Reduction) -> Method {
        ("t.\(r.rawValue)(axis: nil, keepdims: false)",
         "The \(r.rawValue) over `axis` (negative counts from the end), or over all elements when no axis is given; a 0-d result is returned as a number.",
         { t, a in
            try a.expectKeywords(["axis", "keepdims"])
            let axis = try a.optional(0, "axis").flatMap { v -> Int? in if case .nil = v { return nil }; return try a.int(0, "axis") }
            let out = try t.reduce(r, axis: axis, keepDims: try a.bool(nil, "keepdims", default: false))
            if out.rank == 0 { return r == .argmax || r == .argmin ? .int(Int(out.scalars[0])) : .float(Double(out.scalars[0])) }
            return .tensor(out)
        })
    }

    static func elementwise(_ name: String, _ f: @escaping (Float) -> Float) -> Method {
        ("t.\(name)()", "Elementwise \(name).", { t, _ in .tensor(t.map(f)) })
    }

    static let methods: [String: Method] = [
        "sum": reduction(.sum), "mean": reduction(.mean), "max": reduction(.max), "min": reduction(.min),
        "argmax": reduction(.argmax), "argmin": reduction(.argmin), "std": reduction(.std), "var": reduction(.variance),
        "exp": elementwise("exp", expf), "log": elementwise("log", logf), "sqrt": elementwise("sqrt", sqrtf),
        "abs": elementwise("abs", abs), "tanh": elementwise("tanh", tanhf),
        "sigmoid": elementwise("sigmoid") { 1 / (1 + expf(-$0)) },
        "reshape": ("t.reshape(dims...)", "The same elements in a new shape; one dimension may be -1.", { t, a in
            let dims: [Int]
            if a.count == 1, case .list = a.positional[0] { dims = try a.intList(0, "shape") ?? [] }
            else { dims = try (0..<a.count).map { try a.int($0, "dim") } }
            return .tensor(try t.reshaped(dims))
        }),
        "flatten": ("t.flatten()", "A 1-d copy of all elements.", { t, _ in .tensor(try t.reshaped([t.count])) }),
        "transpose": ("t.transpose(a, b)", "Swaps axes a and b (default the last two).", { t, a in
            guard t.rank >= 2 else { return .tensor(t) }
            let x = try a.int(0, "a", default: t.rank - 2), y = try a.int(1, "b", default: t.rank - 1)
            let n = t.rank
            let (i, j) = (x < 0 ? x + n : x, y < 0 ? y + n : y)
            guard (0..<n).contains(i), (0..<n).contains(j) else { throw RuntimeError("transpose: axes (\(x), \(y)) out of range for shape \(t.shape)") }
            return .tensor(t.transposed(i, j))
        }),
        "permute": ("t.permute(axes...)", "Reorders the axes.", { t, a in
            let axes = try (0..<a.count).map { try a.int($0, "axis") }
            return .tensor(try t.permuted(axes))
        }),
        "softmax": ("t.softmax()", "Softmax along the last axis.", { t, _ in .tensor(t.softmax()) }),
        "item": ("t.item()", "The single element of a one-element tensor, as a number.", { t, _ in
            guard t.count == 1 else { throw RuntimeError("item(): tensor of shape \(t.shape) has \(t.count) elements, not 1") }
            return .float(Double(t.scalars[0]))
        }),
        "tolist": ("t.tolist()", "Nested lists of numbers.", { t, _ in nestedList(t) }),
        "copy": ("t.copy()", "A copy with its own memory.", { t, _ in .tensor(t.copy()) }),
        "topk": ("t.topk(k)", "Indices of the k largest values along the last axis (largest first), as a tensor [..., k].", { t, a in
            .tensor(try LensMath.topk(t, k: try a.int(0, "k")).0)
        }),
        "argsort": ("t.argsort(descending: false)", "Indices that sort the last axis (a stable sort: equal values keep their order, lower index first), as a tensor of the same shape.", { t, a in
            try a.expectKeywords(["descending"])
            return .tensor(try t.argsort(descending: try a.bool(nil, "descending", default: false)))
        }),
        "sort": ("t.sort(descending: false)", "The values sorted along the last axis (NaN last), as a new tensor.", { t, a in
            try a.expectKeywords(["descending"])
            let order = try t.argsort(descending: try a.bool(nil, "descending", default: false))
            let src = t.contiguous(), out = Tensor(uninitialized: t.shape)
            let n = t.shape.last ?? 1
            for i in 0..<(n == 0 ? 0 : t.count) { out.mutablePointer[i] = src.pointer[(i / n) * n + Int(order.pointer[i])] }
            return .tensor(out)
        }),
        "squeeze": ("t.squeeze()", "Drops axes of length 1.", { t, _ in .tensor(try t.reshaped(t.shape.filter { $0 != 1 })) }),
        "unsqueeze": ("t.unsqueeze(axis)", "Inserts an axis of length 1.", { t, a in
            var s = t.shape
            let ax = try a.int(0, "axis")
            let i = ax < 0 ? ax + s.count + 1 : ax
            guard i >= 0, i <= s.count else { throw RuntimeError("unsqueeze: axis \(ax) out of range") }
            s.insert(1, at: i)
            return .tensor(try t.reshaped(s))
        }),
    ]

    // MARK: - Operators

    func binary(_ op: BinaryOperator, _ other: Value, reversed: Bool) throws -> Value? {
        if op == .matmul {
            let o = try tensorValue(other)
            return .tensor(try bridged { reversed ? try o.matmul(tensor) : try tensor.matmul(o) })
        }
        let map: [BinaryOperator: Tensor.BinaryOp] = [.add: .add, .subtract: .sub, .multiply: .mul, .divide: .div,
                                                      .power: .pow, .modulo: .mod, .less: .lt, .lessEqual: .le,
                                                      .greater: .gt, .greaterEqual: .ge, .equal: .eq, .notEqual: .ne]
        guard let top = map[op] else {
            if op == .floorDivide {
                let q = try binary(.divide, other, reversed: reversed)
                if case .object(let o as TensorObject)? = q { return .tensor(o.tensor.map { $0.rounded(.down) }) }
            }
            return nil
        }
        switch other {
        case .int(let i): return .tensor(tensor.binary(top, scalar: Float(i), reversed: reversed))
        case .float(let d): return .tensor(tensor.binary(top, scalar: Float(d), reversed: reversed))
        case .bool(let b): return .tensor(tensor.binary(top, scalar: b ? 1 : 0, reversed: reversed))
        default:
            guard let o = try? tensorValue(other) else { return nil }
            return .tensor(try bridged { reversed ? try o.binary(top, tensor) : try tensor.binary(top, o) })
        }
    }

    func unary(_ op: UnaryOperator) throws -> Value? {
        switch op {
        case .negate: return .tensor(tensor.map { -$0 })
        case .plus: return .tensor(tensor)
        case .not: return nil
        }
    }

    // MARK: - Indexing

    func subscriptGet(_ items: [IndexItem], interpreter: Interpreter) throws -> Value {
        let out = try TensorIndexing.index(tensor, items)
        return out.rank == 0 ? .float(Double(out.scalars[0])) : .tensor(out)
    }

    func makeIterator(interpreter: Interpreter) throws -> (() throws -> Value?)? {
        guard tensor.rank > 0 else { throw RuntimeError("iteration over a 0-d tensor") }
        var i = 0
        let t = tensor
        return {
            guard i < t.shape[0] else { return nil }
            defer { i += 1 }
            let row = t.select(i)
            return row.rank == 0 ? .float(Double(row.scalars[0])) : .tensor(row)
        }
    }
}

/// Index and slice semantics of numpy for ints, slices and lists of ints.
enum TensorIndexing {
    static func index(_ t: Tensor, _ items: [IndexItem]) throws -> Tensor {
        if items.count == 1, case .value(.object(let o as TensorObject)) = items[0] { return try masked(t, o.tensor) }
        guard items.count <= t.rank else {
            throw RuntimeError("too many indices for a tensor of shape \(t.shape) (\(items.count) given)")
        }
        var view = t
        var axis = 0
        for item in items {
            let n = view.shape[axis]
            switch item {
            case .value(.int(let i0)):
                let i = i0 < 0 ? i0 + n : i0
                guard i >= 0, i < n else { throw RuntimeError("index \(i0) out of range for axis \(axis) of size \(n)") }
                view = Tensor(storage: view.storage, shape: dropped(view.shape, axis), strides: dropped(view.strides, axis),
                              offset: view.offset + i * view.strides[axis])
            case .slice(let start, let stop, let step):
                let st = step ?? 1
                guard st != 0 else { throw RuntimeError("slice step cannot be zero") }
                let (lo, count) = sliceBounds(n: n, start: start, stop: stop, step: st)
                view = view.narrowed(axis: axis, start: lo, count: count, step: st)
                axis += 1
            case .value(.list(let l)):
                let idx = try l.items.map { v -> Int in
                    guard case .int(let i) = v else { throw RuntimeError("tensor index lists must hold ints, got \(v.typeName)") }
                    let j = i < 0 ? i + n : i
                    guard j >= 0, j < n else { throw RuntimeError("index \(i) out of range for axis \(axis) of size \(n)") }
                    return j
                }
                view = try Tensor.concatenate(idx.map { view.narrowed(axis: axis, start: $0, count: 1) }, axis: axis)
                axis += 1
            case .value(let v):
                throw RuntimeError("tensor indices must be ints, slices or lists of ints, got \(v.typeName)")
            }
        }
        return view
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

    /// Python slice semantics: (first index, element count).
    static func sliceBounds(n: Int, start: Int?, stop: Int?, step: Int) -> (Int, Int) {
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

/// numpy-style printing: shape and a summarised grid (first and last rows/columns past a size).
enum TensorFormat {
    static let edge = 3, threshold = 8

    static func describe(_ t: Tensor) -> String {
        if t.rank == 0 { return "tensor(\(number(t.scalars[0])), shape [])" }
        let values = t.contiguous()
        let allInts = t.count <= 100_000 && values.scalars.allSatisfy { $0 == $0.rounded() && abs($0) < 1e7 }
        let body = grid(values, dim: 0, offset: 0, indent: 7, ints: allInts)
        return "tensor(\(body), shape \(t.shape))"
    }

    static func number(_ v: Float, ints: Bool = false) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        if ints { return String(Int(v)) }
        let a = abs(v)
        if a != 0 && (a < 1e-4 || a >= 1e6) { return String(format: "%.4e", v) }
        return String(format: "%.4f", v)
    }

    static func grid(_ t: Tensor, dim: Int, offset: Int, indent: Int, ints: Bool) -> String {
        let n = t.shape[dim]
        let stride = t.strides[dim]
        let shown: [Int?] = n > threshold ? Array(0..<edge).map { $0 } + [nil] + Array((n - edge)..<n).map { $0 } : Array(0..<n).map { $0 }
        if dim == t.rank - 1 {
            let cells = shown.map { i in i.map { number(t.pointer[offset + $0 * stride], ints: ints) } ?? "..." }
            let width = cells.map(\.count).max() ?? 0
            return "[" + cells.map { String(repeating: " ", count: width - $0.count) + $0 }.joined(separator: ", ") + "]"
        }
        let sep = ",\n" + String(repeating: "\n", count: max(0, t.rank - dim - 2)) + String(repeating: " ", count: indent + 1)
        let rows = shown.map { i in i.map { grid(t, dim: dim + 1, offset: offset + $0 * stride, indent: indent + 1, ints: ints) } ?? "..." }
        return "[" + rows.joined(separator: sep) + "]"
    }
}
