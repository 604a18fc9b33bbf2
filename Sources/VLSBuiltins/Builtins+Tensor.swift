import Foundation
import VLSCore
import VLSLanguage

/// Tensor construction, numpy interop and joining.
func tensorBuiltins(_ session: Session) -> [NativeFunction] {
    /// A shape given as ints (`zeros(2, 3)`) or one list (`zeros([2, 3])`); the checker
    /// has made integral floats ints and refused the rest.
    func shapeArgs(_ a: Arguments) throws -> [Int] {
        if a.count == 1, case .list = a.positional[0] { return try a.intList(0, "shape") ?? [] }
        return try a.positional.enumerated().map { k, v in
            switch v {
            case .int(let i): return i
            case .float(let d) where d.isFinite && d == d.rounded() && abs(d) < 1e15: return Int(d)
            case .float32(let f) where f.isFinite && f == f.rounded() && abs(f) < 1e15: return Int(f)
            default: throw RuntimeError("bad argument #\(k + 1) 'shape' to '\(a.functionName)' (dimensions are integers or one list of them, got \(ParamType.describe(v)))")
            }
        }
    }
    /// The shape, after the memory cap (`Limits`) agreed to a tensor of it (natives are
    /// `bridged`: the core error becomes a runtime error).
    func checked(_ shape: [Int], _ fn: String) throws -> [Int] {
        _ = try Limits.checkTensor(shape, for: fn)
        return shape
    }
    let area = "tensor"
    return [
        native("tensor", "tensor(data: tensorlike, /)", area: area,
               "A float32 tensor from a number, a (nested, rectangular) list of numbers, e.g. `tensor([[1, 2], [3, 4]])`, or a tensor (copied, keeping its dtype); of bools only (`tensor([true, false])`) a bool tensor, a mask, as numpy's.") { a in
            // A copy of a tensor argument, as numpy's array(t): assigning into it leaves t alone.
            let v = try a.value(0, "data")
            if case .object(let o as TensorObject) = v { return o.like(o.tensor.copy()) }   // the dtype stays, as numpy's array(t)
            // numpy: np.array([True, False]).dtype is bool, so it indexes as a mask.
            func allBools(_ v: Value) -> Bool {
                switch v {
                case .bool: return true
                case .list(let l): return !l.items.isEmpty && l.items.allSatisfy(allBools)
                case .object(let o as TensorObject): return o.dtype == .bool
                default: return false
                }
            }
            if allBools(v) { return .mask(try tensorValue(v)) }
            return .tensor(try tensorValue(v))
        },
        native("zeros", "zeros(*shape: int|list[int])", area: area, "A tensor of zeros: `zeros(2, 3)` or `zeros([2, 3])`.") { a in
            .tensor(try Tensor(zeros: try shapeArgs(a), for: "zeros"))
        },
        native("ones", "ones(*shape: int|list[int])", area: area, "A tensor of ones: `ones(2, 3)` or `ones([2, 3])`.") { a in
            let s = try checked(try shapeArgs(a), "ones")
            return .tensor(Tensor([Float](repeating: 1, count: s.reduce(1, *)), shape: s))
        },
        native("arange", "arange(start: number, stop: number = nil, step: number = 1)", area: area, "Evenly spaced values in [start, stop), as a 1-d tensor; `arange(stop)` starts at 0.") { a in
            let first = try a.double(0, "start")
            let (start, stop) = a.optional(1, "stop") != nil ? (first, try a.double(1, "stop")) : (0, first)
            let step = try a.double(2, "step", default: 1)
            guard step != 0 else { throw RuntimeError("arange: step cannot be zero") }
            let steps = ((stop - start) / step).rounded(.up)
            guard steps.isFinite else { throw RuntimeError("arange: \(start) to \(stop) by \(step) is not a finite range") }
            let n = steps <= 0 ? 0 : steps >= Double(Int.max / 4) ? Int.max / 4 : Int(steps)
            _ = try checked([n], "arange")
            return .tensor(Tensor((0..<n).map { Float(start + Double($0) * step) }, shape: [n]))
        },
        native("randn", "randn(*shape: int|list[int], seed: int = nil)", area: area,
               "Standard normal draws of the given shape. Without `seed` they come from the session's generator (set by `vls run --seed N`), so a script repeats exactly.") { a in
            let s = try checked(try shapeArgs(a), "randn")
            if let seed = a.keyword("seed") {
                guard case .int(let v) = seed else { throw a.badArgument(nil, "seed", expected: "int", got: seed) }
                var g = SeededGenerator(seed: UInt64(bitPattern: Int64(v)))
                return .tensor(Tensor((0..<s.reduce(1, *)).map { _ in Float(g.normal()) }, shape: s))
            }
            return .tensor(Tensor((0..<s.reduce(1, *)).map { _ in Float(session.rng.normal()) }, shape: s))
        },
        native("print_options", "print_options(*, threshold: int = nil, edgeitems: int = nil, precision: int = nil, linewidth: int = nil)", area: area,
               "Sets how tensors print (numpy's `np.set_printoptions`): past `threshold` elements (default 1000) only `edgeitems` (3) rows and columns at each end are shown; `precision` (4) fractional digits at most; lines wrap at `linewidth` (75) characters. Returns the settings now in force as a dict.") { a in
            var o = TensorFormat.options
            func setting(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
                guard a.keyword(name) != nil else { return nil }
                let v = try a.int(nil, name)
                guard range.contains(v) else { throw RuntimeError("print_options: \(name) must be in \(range.lowerBound)...\(range.upperBound), got \(v)") }
                return v
            }
            if let v = try setting("threshold", 0...Int.max) { o.threshold = v }
            if let v = try setting("edgeitems", 1...1_000_000) { o.edgeitems = v }
            if let v = try setting("precision", 0...16) { o.precision = v }
            if let v = try setting("linewidth", 1...1_000_000) { o.linewidth = v }
            TensorFormat.options = o
            return .dict([("threshold", .int(o.threshold)), ("edgeitems", .int(o.edgeitems)),
                          ("precision", .int(o.precision)), ("linewidth", .int(o.linewidth))])
        },
        native("where", "where(condition: tensorlike, x: tensorlike, y: tensorlike)", area: area,
               "numpy's where: x where condition is non-zero (NaN counts), else y; the three broadcast together. int64 when x and y are both integer (int64 tensors or ints), else float32.") { a in
            let r = try Tensor.select(try a.tensor(0, "condition"), try a.tensor(1, "x"), try a.tensor(2, "y"))
            let ints = [1, 2].allSatisfy { TensorObject.operandIsInteger(a.optional($0, $0 == 1 ? "x" : "y") ?? .nil) == true }
            return ints ? try .indices(r, "where") : .tensor(r)
        },
        native("einsum", "einsum(subscripts: string, *operands: tensorlike)", area: area,
               "numpy's einsum without ellipses: `einsum(\"ij,jk->ik\", a, b)`, `einsum(\"bhqd,bhkd->bhqk\", q, k)`, traces and diagonals (\"ii->\", \"ii->i\"); without `->` the output is the letters used once, alphabetically. Sums accumulate in double.") { a in
            let r = try Tensor.einsum(try a.string(0, "subscripts"), try a.positional.dropFirst().map(tensorValue))
            return r.rank == 0 ? .float32(r.scalars[0]) : .tensor(r)
        },
        native("linspace", "linspace(start: number, stop: number, num: int = 50, *, endpoint: bool = true)", area: area,
               "`num` evenly spaced values from start to stop (stop included unless `endpoint: false`), as numpy's linspace.") { a in
            let start = try a.double(0, "start"), stop = try a.double(1, "stop")
            let n = try a.int(2, "num", default: 50)
            guard n >= 0 else { throw RuntimeError("linspace: num must be >= 0, got \(n)") }
            _ = try checked([n], "linspace")
            let endpoint = try a.bool(nil, "endpoint", default: true)
            let div = Double(endpoint ? n - 1 : n)
            let step = div > 0 ? (stop - start) / div : 0
            var v = (0..<n).map { Float(start + Double($0) * step) }
            if endpoint && n > 1 { v[n - 1] = Float(stop) }
            return .tensor(Tensor(v, shape: [n]))
        },
        native("eye", "eye(n: int, m: int = nil)", area: area, "An n x m (default n x n) tensor with ones on the diagonal.") { a in
            let n = try a.int(0, "n")
            let m = a.optional(1, "m") == nil ? n : try a.int(1, "m")
            let t = try Tensor(zeros: try checked([n, m], "eye"), for: "eye")
            for i in 0..<min(n, m) { t.mutablePointer[i * m + i] = 1 }
            return .tensor(t)
        },
        native("full", "full(shape: int|list[int], value: number)", area: area, "A tensor of the given shape filled with `value`.") { a in
            let s = try checked(a.optional(0, "shape").flatMap { if case .int(let i) = $0 { return [i] } else { return nil } } ?? (try a.intList(0, "shape") ?? []), "full")
            return .tensor(Tensor([Float](repeating: Float(try a.double(1, "value")), count: s.reduce(1, *)), shape: s))
        },
        native("rand", "rand(*shape: int|list[int], seed: int = nil)", area: area,
               "Uniform draws in [0, 1) of the given shape, from the session's generator (set by `vls run --seed N`) or from `seed`.") { a in
            let s = try checked(try shapeArgs(a), "rand")
            if a.keyword("seed") != nil {
                var g = SeededGenerator(seed: UInt64(bitPattern: Int64(try a.int(nil, "seed"))))
                return .tensor(Tensor((0..<s.reduce(1, *)).map { _ in Float(g.next() >> 40) * 0x1p-24 }, shape: s))
            }
            return .tensor(Tensor((0..<s.reduce(1, *)).map { _ in Float(session.rng.next() >> 40) * 0x1p-24 }, shape: s))
        },
        native("read_npy", "read_npy(path: string)", area: area,
               "Reads a numpy `.npy` file (float16/32/64, int8-64, uint8, bool; C or Fortran order) as a float32 tensor.") { a in
            .tensor(try NPY.read(try a.string(0, "path")))
        },
        native("write_npy", "write_npy(path: string, tensor: tensorlike)", area: area,
               "Writes a tensor as a float32 `.npy` file (atomically: a kill mid-write leaves any old file whole).") { a in
            try NPY.write(try a.tensor(1, "tensor"), to: try a.string(0, "path"))
            return .nil
        },
        native("read_safetensors", "read_safetensors(path: string)", area: area,
               "Reads every tensor of a `.safetensors` file (validated before use; F32/F64/F16/BF16 and integer dtypes, converted to float32) as a dict name -> tensor, in the file's key order.") { a in
            let file = try SafetensorsFile(path: try a.string(0, "path"))
            return .dict(try file.names.map { ($0, .tensor(try file.tensor($0))) })
        },
        native("stack", "stack(tensors: list, axis: int = 0)", area: area, "Stacks equally shaped tensors along a new axis (the first by default).") { a in
            let parts = try a.list(0, "tensors").map(tensorValue)
            let stacked = try Tensor.stack(parts)
            let axis = try a.int(1, "axis")
            let r = stacked.rank
            let ax = axis < 0 ? axis + r : axis
            guard ax >= 0, ax < r else { throw RuntimeError("stack: axis \(axis) is out of range for \(r - 1)-d tensors") }
            let dtype = commonDType(try a.list(0, "tensors"))
            if ax == 0 { return .object(TensorObject(stacked, dtype: dtype)) }
            var order = Array(1..<r)
            order.insert(0, at: ax)
            return .object(TensorObject(try stacked.permuted(order).contiguous(), dtype: dtype))
        },
        native("concat", "concat(tensors: list, axis: int = 0)", area: area, "Joins tensors along an existing axis.") { a in
            let items = try a.list(0, "tensors")
            return .object(TensorObject(try Tensor.concatenate(items.map(tensorValue), axis: try a.int(1, "axis", default: 0)), dtype: commonDType(items)))
        },
        native("softmax", "softmax(t: tensorlike, axis: int = -1)", area: area, "Softmax along `axis` (default the last).") { a in
            let t = try a.tensor(0, "t")
            return .tensor(try TensorObject.softmax(t, axis: try TensorObject.axis(a, "axis", rank: t.rank)))
        },
        native("argmax", "argmax(t: tensorlike, axis: int = -1)", area: area, "Index of the largest value along `axis` (default the last), as a tensor of indices; the first NaN wins and ties give the first index (numpy).") { a in
            let t = try a.tensor(0, "t")
            let r = try t.reduce(.argmax, axes: [try a.int(1, "axis")])   // the first NaN wins, as numpy
            return r.rank == 0 ? .int(Int(r.scalars[0])) : try .indices(r, "argmax")
        },
    ] + logicalBuiltins(area)
}

/// The dtype stack and concat keep: the tensors' own when they all share it (int64 indices
/// stay int64, masks stay bool), else float32.
func commonDType(_ items: [Value]) -> DType {
    let types = items.map { v -> DType? in if case .object(let o as TensorObject) = v { return o.dtype }; return nil }
    guard let first = types.first ?? nil, types.allSatisfy({ $0 == first }) else { return .float32 }
    return first
}

/// numpy's logical_and/or/xor/not: elementwise truth (non-zero, NaN included, is true) of
/// tensors or numbers broadcast together, as a bool tensor (a mask). The language has no
/// & | ~ operators; these are numpy's names for what they do on bool arrays.
func logicalBuiltins(_ area: String) -> [NativeFunction] {
    func truth(_ t: Tensor) -> Tensor { t.map { $0 != 0 ? 1 : 0 } }   // NaN != 0 is true
    func binary(_ name: String, _ what: String, _ f: @escaping (Bool, Bool) -> Bool) -> NativeFunction {
        native("logical_\(name)", "logical_\(name)(x: tensorlike, y: tensorlike)", area: area,
               "numpy's logical_\(name): \(what), elementwise, broadcast; non-zero (NaN too) is true; a bool tensor.") { a in
            let x = truth(try a.tensor(0, "x")), y = truth(try a.tensor(1, "y"))
            let shape = try bridged { try Tensor.broadcastShape(x.shape, y.shape) }
            _ = try bridged { try Limits.checkTensor(shape, for: "logical_\(name)") }
            let p = try bridged { try x.broadcast(to: shape).scalars }, q = try bridged { try y.broadcast(to: shape).scalars }
            let r = Tensor((0..<p.count).map { f(p[$0] != 0, q[$0] != 0) ? 1 : 0 }, shape: shape)
            return r.rank == 0 ? .bool(r.scalars[0] != 0) : .mask(r)
        }
    }
    return [
        binary("and", "x and y", { $0 && $1 }),
        binary("or", "x or y", { $0 || $1 }),
        binary("xor", "x or y but not both", { $0 != $1 }),
        native("logical_not", "logical_not(x: tensorlike)", area: area,
               "numpy's logical_not: true where x is zero, elementwise; a bool tensor.") { a in
            let r = try a.tensor(0, "x").map { $0 == 0 ? 1 : 0 }
            return r.rank == 0 ? .bool(r.scalars[0] != 0) : .mask(r)
        },
    ]
}
