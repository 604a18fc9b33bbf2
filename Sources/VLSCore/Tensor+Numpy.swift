import Foundation

/// numpy's reductions over several axes, cumulative operations, sorting along an axis,
/// `where`, `clip` and in-place assignment through views.
extension Tensor {
    public enum NumpyReduction: String, Sendable {
        case sum, mean, max, min, argmax, argmin, std, `var`, prod, any, all
    }

    /// Axes in range and distinct (negative counts from the end), sorted.
    public func normalizedAxes(_ axes: [Int]) throws -> [Int] {
        var out = [Int]()
        for a in axes {
            let i = a < 0 ? a + rank : a
            guard i >= 0, i < rank else { throw CoreError("axis \(a) is out of range for a tensor of shape \(shape)") }
            guard !out.contains(i) else { throw CoreError("axis \(a) is repeated in \(axes)") }
            out.append(i)
        }
        return out.sorted()
    }

    /// Reduces over `axes` (all when nil) as numpy does. Sums accumulate in double; `std`
    /// and `var` divide by n - ddof; `max`/`min` propagate NaN, `argmax`/`argmin` give the
    /// first NaN (numpy's rules); `any`/`all` give 1 or 0 (NaN counts as non-zero).
    /// argmax/argmin take one axis or none (into the flattened tensor).
    public func reduce(_ r: NumpyReduction, axes: [Int]?, keepDims: Bool = false, ddof: Int = 0) throws -> Tensor {
        let ax = try normalizedAxes(axes ?? Array(0..<rank))
        if (r == .argmax || r == .argmin) && axes != nil && ax.count > 1 {
            throw CoreError("\(r.rawValue) takes one axis, not \(axes!)")
        }
        let kept = (0..<rank).filter { !ax.contains($0) }
        let n = ax.reduce(1) { $0 * shape[$1] }
        if (r == .std || r == .var) && n - ddof <= 0 {
            throw CoreError("\(r.rawValue) with ddof \(ddof) of \(n) element\(n == 1 ? "" : "s") per result: n - ddof must be positive (numpy warns and gives NaN)")
        }
        if n == 0 && ![.sum, .prod, .any, .all].contains(r) {
            throw CoreError("\(r.rawValue) of an empty selection (shape \(shape), axes \(ax))")
        }
        let moved = try permuted(kept + ax).contiguous()
        let outShape = keepDims ? (0..<rank).map { ax.contains($0) ? 1 : shape[$0] } : kept.map { shape[$0] }
        let out = Tensor(uninitialized: outShape)
        let rows = out.count
        let src = moved.pointer, dst = out.mutablePointer
        for row in 0..<rows {
            let p = src + row * n
            var result: Float
            switch r {
            case .sum, .mean:
                var s = 0.0
                for i in 0..<n { s += Double(p[i]) }
                result = Float(r == .mean ? s / Double(n) : s)
            case .prod:
                var s = 1.0
                for i in 0..<n { s *= Double(p[i]) }
                result = Float(s)
            case .max, .min:
                var m = p[0]
                for i in 0..<n {
                    if p[i].isNaN { m = p[i]; break }
                    if r == .max ? p[i] > m : p[i] < m { m = p[i] }
                }
                result = m
            case .argmax, .argmin:
                var best = 0
                for i in 0..<n {
                    if p[i].isNaN { best = i; break }
                    if r == .argmax ? p[i] > p[best] : p[i] < p[best] { best = i }
                }
                result = Float(best)
            case .std, .var:
                var s = 0.0
                for i in 0..<n { s += Double(p[i]) }
                let mean = s / Double(n)
                var v = 0.0
                for i in 0..<n { let d = Double(p[i]) - mean; v += d * d }
                let dof = n - ddof
                v /= Double(dof)
                result = Float(r == .std ? v.squareRoot() : v)
            case .any:
                result = (0..<n).contains { p[$0] != 0 } ? 1 : 0
            case .all:
                result = (0..<n).allSatisfy { p[$0] != 0 } ? 1 : 0
            }
            dst[row] = result
        }
        return out
    }

    /// The axis in range (negative counts from the end).
    public func normalizedAxis(_ a: Int) throws -> Int {
        let i = a < 0 ? a + rank : a
        guard i >= 0, i < rank else { throw CoreError("axis \(a) is out of range for a tensor of shape \(shape)") }
        return i
    }

    /// Runs `body` over every 1-d line along `axis` of a contiguous copy with that axis last,
    /// then moves the axis back: the shape of the result is the shape of `self`.
    public func alongAxis(_ axis: Int, _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) throws -> Tensor {
        let ax = try normalizedAxis(axis)
        var order = Array(0..<rank)
        order.remove(at: ax)
        order.append(ax)
        let moved = try permuted(order).contiguous()
        let out = Tensor(uninitialized: moved.shape)
        let n = shape[ax]
        if n > 0 {
            for row in 0..<(moved.count / n) { body(moved.pointer + row * n, out.mutablePointer + row * n, n) }
        }
        var back = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { back[o] = i }
        return try out.permuted(back).contiguous()
    }

    /// Running sums (or products) along `axis`, or along the flattened tensor when nil,
    /// accumulated in float32 as numpy's float32 cumsum/cumprod (each partial result
    /// rounded to float32, so the values match numpy's bit for bit); `exact` accumulates in
    /// double (integer tensors: every partial result is an integer the caller checks).
    public func cumulative(product: Bool, axis: Int?, exact: Bool = false) throws -> Tensor {
        let t = axis == nil ? try contiguous().reshaped([count]) : self
        return try t.alongAxis(axis ?? 0) { src, dst, n in
            if exact {
                var acc = product ? 1.0 : 0.0
                for i in 0..<n {
                    acc = product ? acc * Double(src[i]) : acc + Double(src[i])
                    dst[i] = Float(acc)
                }
            } else {
                var acc: Float = product ? 1 : 0
                for i in 0..<n {
                    acc = product ? acc * src[i] : acc + src[i]
                    dst[i] = acc
                }
            }
        }
    }

    /// A stable order of one line: ascending with NaN last (numpy), or descending with NaN last.
    static func order(_ p: UnsafePointer<Float>, _ n: Int, descending: Bool) -> [Int] {
        (0..<n).sorted { a, b in
            let (x, y) = (p[a], p[b])
            if x.isNaN || y.isNaN { return !x.isNaN && y.isNaN || (x.isNaN && y.isNaN && a < b) }
            if x == y { return a < b }
            return descending ? x > y : x < y
        }
    }

    /// Indices that sort along `axis` (stable; NaN last).
    public func argsort(axis: Int, descending: Bool = false) throws -> Tensor {
        if rank == 0 { return Tensor(scalar: 0) }
        return try alongAxis(axis) { src, dst, n in
            for (i, j) in Tensor.order(src, n, descending: descending).enumerated() { dst[i] = Float(j) }
        }
    }

    /// The values sorted along `axis` (stable; NaN last).
    public func sorted(axis: Int, descending: Bool = false) throws -> Tensor {
        if rank == 0 { return copy() }
        return try alongAxis(axis) { src, dst, n in
            for (i, j) in Tensor.order(src, n, descending: descending).enumerated() { dst[i] = src[j] }
        }
    }

    /// numpy's `where(cond, a, b)` with broadcasting (cond non-zero, NaN included, picks a).
    public static func select(_ cond: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let shape = try broadcastShape(broadcastShape(cond.shape, a.shape), b.shape)
        // The result (and the three broadcast copies) are checked before any is made.
        _ = try Limits.checkTensor(shape + [4], for: "where")
        let out = try Tensor(uninitialized: shape, for: "where")
        let c = try cond.broadcast(to: shape).scalars, x = try a.broadcast(to: shape).scalars, y = try b.broadcast(to: shape).scalars
        for i in 0..<out.count { out.mutablePointer[i] = c[i] != 0 ? x[i] : y[i] }
        return out
    }

    /// Element offsets (into `storage`) of the elements of this view, row-major.
    public var elementOffsets: [Int] {
        var out = [Int]()
        out.reserveCapacity(count)
        forEachOffset { out.append($0) }
        return out
    }

    /// Writes `values` (broadcast to `shape` of the targets) at storage `offsets`, which
    /// belong to this tensor's storage. Values are read before any write, so overlapping
    /// source and target (`t[1:] = t[:-1]`) behave as numpy's copy semantics.
    public func assign(offsets: [Int], shape targetShape: [Int], from value: Tensor) throws {
        guard storage.isWritable else {
            throw CoreError("this tensor is read-only (memory-mapped weights); assign into a .copy() of it")
        }
        let v = try value.broadcast(to: targetShape).scalars
        precondition(v.count == offsets.count)
        for (o, x) in zip(offsets, v) {
            precondition(o >= 0 && o < storage.count)
            storage.base[o] = x
        }
    }
}

extension Tensor {
    /// numpy's einsum without ellipses: "ij,jk->ik", "bij,bjk->bik", "i,i->", "ii->i", and the
    /// implicit form ("ij,jk": the letters used once, in alphabetical order). Products are
    /// accumulated in double.
    public static func einsum(_ spec: String, _ operands: [Tensor]) throws -> Tensor {
        let clean = spec.filter { $0 != " " }
        let parts = clean.components(separatedBy: "->")
        guard parts.count <= 2 else { throw CoreError("einsum: more than one '->' in \"\(spec)\"") }
        let inputs = parts[0].split(separator: ",", omittingEmptySubsequences: false).map { Array($0) }
        guard inputs.count == operands.count else {
            throw CoreError("einsum: \"\(spec)\" names \(inputs.count) operand\(inputs.count == 1 ? "" : "s"), \(operands.count) given")
        }
        var size: [Character: Int] = [:]
        var seen: [Character: Int] = [:]
        var letters: [Character] = []
        for (sub, t) in zip(inputs, operands) {
            guard sub.count == t.rank else { throw CoreError("einsum: \"\(String(sub))\" has \(sub.count) letters for an operand of shape \(t.shape)") }
            for (c, d) in zip(sub, t.shape) {
                guard c.isLetter, c.isASCII else { throw CoreError("einsum: '\(c)' is not a subscript letter (ellipses are not supported)") }
                if let s = size[c], s != d {
                    guard s == 1 || d == 1 else { throw CoreError("einsum: '\(c)' has sizes \(s) and \(d)") }
                    size[c] = Swift.max(s, d)
                } else if size[c] == nil { size[c] = d; letters.append(c) }
                seen[c, default: 0] += 1
            }
        }
        let output: [Character]
        if parts.count == 2 {
            output = Array(parts[1])
            for c in output {
                guard size[c] != nil else { throw CoreError("einsum: output letter '\(c)' is not in the inputs") }
            }
            guard Set(output).count == output.count else { throw CoreError("einsum: output letters repeat in \"\(spec)\"") }
        } else {
            output = letters.filter { seen[$0] == 1 }.sorted()
        }
        let summed = letters.filter { !output.contains($0) }
        let outShape = output.map { size[$0]! }
        let sumShape = summed.map { size[$0]! }
        let outCount = try Limits.checkTensor(outShape, for: "einsum")
        let sumCount = sumShape.reduce(1, *)
        let (work, overflow) = outCount.multipliedReportingOverflow(by: Swift.max(sumCount, 1) * Swift.max(operands.count, 1))
        guard !overflow, work <= 2_000_000_000 else { throw CoreError("einsum \"\(spec)\": \(outCount) x \(sumCount) products are too many for this loop; use @ for large contractions") }
        // Per operand, the stride of each output and summed letter (0 when absent or broadcast).
        func strides(_ order: [Character]) -> [[Int]] {
            zip(inputs, operands).map { sub, t in
                order.map { c in
                    var s = 0
                    for (i, d) in sub.enumerated() where d == c && t.shape[i] != 1 { s += t.strides[i] }
                    return s
                }
            }
        }
        let outStrides = strides(output), sumStrides = strides(summed)
        let out = Tensor(uninitialized: outShape)
        let dst = out.mutablePointer
        let k = operands.count
        var oIdx = [Int](repeating: 0, count: output.count)
        var base = operands.map(\.offset)
        for o in 0..<outCount {
            var acc = 0.0
            if sumCount > 0 {
                var sIdx = [Int](repeating: 0, count: summed.count)
                var off = base
                for _ in 0..<sumCount {
                    var p = 1.0
                    for j in 0..<k { p *= Double(operands[j].storage.base[off[j]]) }
                    acc += p
                    var d = summed.count - 1
                    while d >= 0 {
                        sIdx[d] += 1
                        for j in 0..<k { off[j] += sumStrides[j][d] }
                        if sIdx[d] < sumShape[d] { break }
                        for j in 0..<k { off[j] -= sumStrides[j][d] * sumShape[d] }
                        sIdx[d] = 0
                        d -= 1
                    }
                }
            }
            dst[o] = Float(acc)
            var d = output.count - 1
            while d >= 0 {
                oIdx[d] += 1
                for j in 0..<k { base[j] += outStrides[j][d] }
                if oIdx[d] < outShape[d] { break }
                for j in 0..<k { base[j] -= outStrides[j][d] * outShape[d] }
                oIdx[d] = 0
                d -= 1
            }
        }
        return out
    }

    /// The sorted distinct values of the flattened tensor (NaNs collapsed into one, last, as
    /// numpy's unique) and how often each occurs.
    public func unique() -> (Tensor, Tensor) {
        let v = scalars
        let finite = v.filter { !$0.isNaN }.sorted()
        var values = [Float](), counts = [Float]()
        for x in finite {
            if let last = values.last, last == x { counts[counts.count - 1] += 1 } else { values.append(x); counts.append(1) }
        }
        let nans = v.count - finite.count
        if nans > 0 { values.append(.nan); counts.append(Float(nans)) }
        return (Tensor(values, shape: [values.count]), Tensor(counts, shape: [counts.count]))
    }
}
