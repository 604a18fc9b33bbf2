import Foundation
import VLSCore
import VLSLanguage

/// The numpy operations of tensors: reductions over axes, cumulative sums, sorting along
/// an axis, elementwise tests, and assignment into a tensor (`t[i, j] = v`, `t[mask] = 0`).
extension TensorObject {
    /// `axis:` of a reduction: nil (all), an int or a list of ints.
    static func axes(_ a: Arguments, _ index: Int) throws -> [Int]? {
        switch a.optional(index, "axis") {
        case nil: return nil
        case .int(let i)?: return [i]
        case .list?: return try a.intList(index, "axis")
        case let v?: throw a.badArgument(index, "axis", expected: "int or list of ints", got: v)
        }
    }

    /// A reduction's result with numpy's dtype: int64 for arg-reductions and for sums and
    /// products of int64 or bool tensors, bool for any/all, the input's dtype for max/min,
    /// float32 otherwise; a 0-d result is the scalar (np.float32, int or bool).
    static func value(_ r: Tensor.NumpyReduction, _ out: Tensor, from dtype: DType = .float32) throws -> Value {
        let outType: DType
        switch r {
        case .argmax, .argmin: outType = .int64
        case .any, .all: outType = .bool
        case .max, .min: outType = dtype
        case .sum, .prod: outType = dtype == .float32 ? .float32 : .int64
        default: outType = .float32
        }
        let o: TensorObject
        if outType == .int64 {
            guard case .object(let t as TensorObject) = try int64(out, r.rawValue) else { fatalError() }
            o = t
        } else {
            o = TensorObject(out, dtype: outType)
        }
        return out.rank == 0 ? try o.scalar(out.scalars[0]) : .object(o)
    }

    /// mean, std and var of a whole int64 or bool tensor: numpy's float64 scalar (a Python
    /// float: the mean of a mask of 895 of 1000 is 0.895 exactly as printed).
    static func wholeDouble(_ r: Tensor.NumpyReduction, _ t: Tensor, ddof: Int) throws -> Value {
        let x = t.scalars.map(Double.init)
        let n = x.count
        guard n > 0 else { throw RuntimeError("\(r.rawValue) of an empty tensor") }
        let mean = x.reduce(0, +) / Double(n)
        if r == .mean { return .float(mean) }
        guard n - ddof > 0 else { throw RuntimeError("\(r.rawValue) with ddof \(ddof) of \(n) elements: n - ddof must be positive (numpy warns and gives NaN)") }
        let v = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - ddof)
        return .float(r == .std ? v.squareRoot() : v)
    }

    static func numpyMembers(_ m: Members<TensorObject>) {
        let over = "over `axis` (an int, negative counting from the end, or a list of ints), or over all elements when no axis is given; `keepdims: true` keeps the reduced axes with length 1; a 0-d result is numpy's scalar (an np.float32 for a float32 tensor, an int, a bool)"
        let docs: [(Tensor.NumpyReduction, String)] = [
            (.sum, "The sum \(over) (accumulated in double); int64 for an int64 or bool tensor, so `(pred == y).sum()` is an int."),
            (.mean, "The mean \(over); of a whole int64 or bool tensor a Python float (`(pred == y).mean()` is 0.895, as numpy's float64)."),
            (.max, "The largest value \(over); NaN if any value is NaN (numpy)."),
            (.min, "The smallest value \(over); NaN if any value is NaN (numpy)."),
            (.prod, "The product \(over)."),
            (.any, "Whether any element is non-zero (NaN counts) \(over); a bool without an axis."),
            (.all, "Whether every element is non-zero (NaN counts) \(over); a bool without an axis."),
        ]
        for (r, doc) in docs {
            m.method("t.\(r.rawValue)(axis: int|list[int] = nil, keepdims: bool = false)", doc) { o, a in
                let ax = try axes(a, 0), keep = try a.bool(1, "keepdims", default: false)
                if r == .mean, o.dtype != .float32, ax == nil, !keep { return try wholeDouble(r, o.tensor, ddof: 0) }
                return try value(r, try o.tensor.reduce(r, axes: ax, keepDims: keep), from: o.dtype)
            }
        }
        for r in [Tensor.NumpyReduction.argmax, .argmin] {
            let what = r == .argmax ? "largest" : "smallest"
            m.method("t.\(r.rawValue)(axis: int = nil, keepdims: bool = false)",
                     "The index of the \(what) value along `axis`, or into the flattened tensor without one; the first NaN wins (numpy); ties give the first index.") { o, a in
                let ax = try a.optional(0, "axis").map { _ in [try a.int(0, "axis")] }
                return try value(r, try o.tensor.reduce(r, axes: ax, keepDims: try a.bool(1, "keepdims", default: false)))
            }
        }
        for r in [Tensor.NumpyReduction.std, .var] {
            let what = r == .std ? "standard deviation" : "variance"
            m.method("t.\(r.rawValue)(axis: int|list[int] = nil, keepdims: bool = false, ddof: int = 0)",
                     "The \(what) \(over). It divides by n - ddof: ddof 0 (numpy's default) is the population \(what), ddof 1 the sample one (PyTorch's default); an error when n - ddof <= 0 (numpy warns and gives NaN).") { o, a in
                let ax = try axes(a, 0), keep = try a.bool(1, "keepdims", default: false), ddof = try a.int(2, "ddof", default: 0)
                if o.dtype != .float32, ax == nil, !keep { return try wholeDouble(r, o.tensor, ddof: ddof) }
                return try value(r, try o.tensor.reduce(r, axes: ax, keepDims: keep, ddof: ddof))
            }
        }
        m.method("t.norm(axis: int|list[int] = nil, keepdims: bool = false)",
                 "The Euclidean (Frobenius) norm sqrt(sum(x^2)) \(over).") { o, a in
            let sq = o.tensor.map { $0 * $0 }
            let s = try sq.reduce(.sum, axes: try axes(a, 0), keepDims: try a.bool(1, "keepdims", default: false))
            return try value(.sum, s.map { $0.squareRoot() })
        }
        for (name, product) in [("cumsum", false), ("cumprod", true)] {
            m.method("t.\(name)(axis: int = nil)", "Running \(product ? "products" : "sums") along `axis`, or along the flattened tensor without one, accumulated in float32 as numpy's float32 \(name) (int64 for int64 and bool tensors).") { o, a in
                let r = try o.tensor.cumulative(product: product, axis: try a.optional(0, "axis").map { _ in try a.int(0, "axis") },
                                                exact: o.dtype != .float32)
                return o.dtype == .float32 ? .tensor(r) : try int64(r, name)
            }
        }
        m.method("t.argsort(axis: int = -1, *, descending: bool = false)",
                 "Indices that sort along `axis` (default the last): a stable sort, equal values keep their order and NaN goes last (numpy's order); `descending: true` puts the largest first (NaN still last).") { o, a in
            try int64(try o.tensor.argsort(axis: try a.int(0, "axis", default: -1), descending: try a.bool(nil, "descending", default: false)), "argsort")
        }
        m.method("t.sort(axis: int = -1, *, descending: bool = false)",
                 "The values sorted along `axis` (default the last), NaN last, as a new tensor (numpy's np.sort).") { o, a in
            o.like(try o.tensor.sorted(axis: try a.int(0, "axis", default: -1), descending: try a.bool(nil, "descending", default: false)))
        }
        m.method("t.clip(min: number = nil, max: number = nil)",
                 "Each value limited to [min, max] (either may be nil); NaN stays NaN (numpy's clip).") { o, a in
            try clip(o.tensor, a)
        }
        m.method("t.clamp(min: number = nil, max: number = nil)", "The same as clip (PyTorch's name).") { o, a in
            try clip(o.tensor, a)
        }
        m.method("t.topk(k: int, axis: int = -1)",
                 "The k largest values along `axis` (default the last), largest first, and their indices: [values, indices], each [..., k, ...] (PyTorch's topk; ties give the lower index first).") { o, a in
            try topk(o.tensor, k: try a.int(0, "k"), axis: try a.int(1, "axis", default: -1), dtype: o.dtype)
        }
        m.method("t.unique(*, counts: bool = false)",
                 "The sorted distinct values of the flattened tensor (NaNs collapsed into one, last, as numpy); with `counts: true`, [values, counts].") { o, a in
            let (v, c) = o.tensor.unique()
            return try a.bool(nil, "counts", default: false) ? .list([o.like(v), try int64(c, "unique counts")]) : o.like(v)
        }
        m.method("t.isnan()", "A bool tensor, true where the value is NaN (a mask: t[t.isnan()] selects them).") { o, _ in .mask(o.tensor.map { $0.isNaN ? 1 : 0 }) }
        m.method("t.isfinite()", "A bool tensor, true where the value is finite (not NaN or infinite): a mask.") { o, _ in .mask(o.tensor.map { $0.isFinite ? 1 : 0 }) }
    }

    /// [values, indices] of the k largest along `axis`.
    static func topk(_ t: Tensor, k: Int, axis: Int, dtype: DType = .float32) throws -> Value {
        let ax = try t.normalizedAxis(axis)
        if t.rank <= 1 || ax == t.rank - 1 {
            let (idx, val) = try LensMath.topk(t, k: k)
            return .list([.object(TensorObject(val, dtype: dtype)), try int64(idx, "topk")])
        }
        var order = Array(0..<t.rank)
        order.swapAt(ax, t.rank - 1)
        let (idx, val) = try LensMath.topk(try t.permuted(order).contiguous(), k: k)
        return .list([.object(TensorObject(try val.permuted(order).contiguous(), dtype: dtype)), try int64(try idx.permuted(order).contiguous(), "topk")])
    }

    static func clip(_ t: Tensor, _ a: Arguments) throws -> Value {
        let lo = try a.optional(0, "min").map { _ in Float(try a.double(0, "min")) }
        let hi = try a.optional(1, "max").map { _ in Float(try a.double(1, "max")) }
        guard lo != nil || hi != nil else { throw RuntimeError("\(a.functionName): give min:, max: or both") }
        // numpy's clip is minimum(maximum(x, min), max): a NaN bound makes every value NaN.
        if lo?.isNaN == true || hi?.isNaN == true { return .tensor(t.map { _ in .nan }) }
        return .tensor(t.map { x in
            if x.isNaN { return x }
            var y = x
            if let lo, y < lo { y = lo }
            if let hi, y > hi { y = hi }
            return y
        })
    }

    // MARK: - Assignment

    /// `t[items] = value` as numpy: the selected elements (a view of ints and slices, lists
    /// of indices, or a mask) take the value broadcast to their shape. The write goes into
    /// the tensor's memory, so every name and view sharing it sees it (numpy's aliasing).
    func subscriptSet(_ items: [IndexItem], _ value: Value, interpreter: Interpreter) throws -> Bool {
        let src: Tensor
        switch value {
        case .int, .float, .float32, .bool, .list, .range, .object(is TensorObject): src = try tensorValue(value)
        default: throw RuntimeError("a tensor's items take numbers or tensors, got \(value.typeName)")
        }
        // A Python int beyond float32's exact integers is named as written (its float32
        // conversion would print rounded).
        if dtype == .int64, case .int(let v) = value, v.magnitude >= 1 << 24 {
            throw RuntimeError("assignment into an int64 tensor: \(v) reaches 2^24 = 16777216; vls keeps int64 tensors in float32 storage, which holds integers exactly only below that")
        }
        let (shape, offsets) = try TensorIndexing.targets(tensor, items)
        let cast = try castForWrite(src, "assignment into a\(dtype == .int64 ? "n" : "") \(dtype.rawValue) tensor")
        try bridged { try tensor.assign(offsets: offsets, shape: shape, from: cast) }
        return true
    }
}

extension TensorIndexing {
    /// The storage offsets and shape of the elements `t[items]` selects, with the getter's
    /// semantics (ints drop an axis, slices and index lists keep one, a mask of t's leading
    /// shape selects rows).
    static func targets(_ t: Tensor, _ rawItems: [IndexItem]) throws -> ([Int], [Int]) {
        try checkAmbiguous(t, rawItems)
        let (maskTensor, items) = try resolve(rawItems, shape: t.shape)
        if let mask = maskTensor {
            guard mask.rank >= 1, mask.rank <= t.rank, Array(t.shape.prefix(mask.rank)) == mask.shape else {
                throw RuntimeError("a tensor index is a mask of the indexed tensor's (leading) shape \(t.shape), got \(mask.shape)")
            }
            let m = mask.scalars
            let restShape = Array(t.shape.dropFirst(mask.rank))
            var offsets = [Int]()
            var rows = 0
            let leadStrides = Array(t.strides.prefix(mask.rank))
            let leadShape = mask.shape
            let rest = Tensor(storage: t.storage, shape: restShape, strides: Array(t.strides.dropFirst(mask.rank)), offset: 0).elementOffsets
            for (flat, x) in m.enumerated() where x != 0 {
                var rem = flat, off = t.offset
                for d in stride(from: leadShape.count - 1, through: 0, by: -1) {
                    off += (rem % leadShape[d]) * leadStrides[d]
                    rem /= leadShape[d]
                }
                offsets.append(contentsOf: rest.map { $0 + off })
                rows += 1
            }
            return ([rows] + restShape, offsets)
        }
        guard items.count <= t.rank else {
            throw RuntimeError("too many indices for a tensor of shape \(t.shape) (\(items.count) given)")
        }
        return try advanced(t, items)
    }
}
