import Foundation

/// Elementwise operations with numpy broadcasting, reductions, matrix products.
extension Tensor {
    public enum BinaryOp: String, Sendable {
        case add = "+", sub = "-", mul = "*", div = "/", pow = "**", mod = "%"
        case lt = "<", le = "<=", gt = ">", ge = ">=", eq = "==", ne = "!="
        case minimum = "minimum", maximum = "maximum"
        /// numpy's floor_divide of floats (npy_floor_divide, in float32 as numpy's for
        /// float32): from fmod, so 1 // 0.1 is 9 (0.1 is a little more than a tenth), not
        /// floor(1 / 0.1) = 10.
        case floorDiv = "//"

        @inline(__always) func apply(_ a: Float, _ b: Float) -> Float {
            switch self {
            case .add: return a + b
            case .sub: return a - b
            case .mul: return a * b
            case .div: return a / b
            case .pow: return powf(a, b)
            case .mod: let r = fmodf(a, b); return (r != 0 && (r < 0) != (b < 0)) ? r + b : r
            case .lt: return a < b ? 1 : 0
            case .le: return a <= b ? 1 : 0
            case .gt: return a > b ? 1 : 0
            case .ge: return a >= b ? 1 : 0
            case .eq: return a == b ? 1 : 0
            case .ne: return a != b ? 1 : 0
            case .minimum: return Swift.min(a, b)
            case .maximum: return Swift.max(a, b)
            case .floorDiv: return Tensor.floorDivide(a, b)
            }
        }
    }

    /// numpy's npy_floor_divide for float32 (npymath's npy_divmodf): div = (a - fmod(a, b)) / b,
    /// one less when the remainder and b differ in sign, then rounded to the nearest integer
    /// below (floor, plus one when floor lost more than a half). b == 0 gives a / b (inf or NaN).
    @inline(__always) public static func floorDivide(_ a: Float, _ b: Float) -> Float {
        if b == 0 { return a / b }
        let mod = fmodf(a, b)
        var div = (a - mod) / b
        if mod != 0, (b < 0) != (mod < 0) { div -= 1 }
        guard div != 0 else { return Float(signOf: a / b, magnitudeOf: 0) }
        var floordiv = div.rounded(.down)
        if div - floordiv > 0.5 { floordiv += 1 }
        return floordiv
    }

    /// The broadcast shape of two shapes (numpy rules), or an error naming both.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let n = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            guard da == db || da == 1 || db == 1 else {
                throw CoreError("shapes \(a) and \(b) cannot be broadcast together")
            }
            out[i] = da == 1 ? db : da
        }
        return out
    }

    /// A view of this tensor broadcast to `shape` (stride 0 on expanded axes).
    public func broadcast(to shape: [Int]) throws -> Tensor {
        let n = shape.count
        guard n >= rank else { throw CoreError("cannot broadcast shape \(self.shape) to \(shape)") }
        var st = [Int](repeating: 0, count: n)
        for i in 0..<rank {
            let j = i + n - rank
            if self.shape[i] == shape[j] { st[j] = strides[i] }
            else if self.shape[i] == 1 { st[j] = 0 }
            else { throw CoreError("cannot broadcast shape \(self.shape) to \(shape)") }
        }
        return Tensor(storage: storage, shape: shape, strides: st, offset: offset)
    }

    /// Elementwise `op` with broadcasting.
    public func binary(_ op: BinaryOp, _ other: Tensor) throws -> Tensor {
        let shape = try Tensor.broadcastShape(self.shape, other.shape)
        let out = try Tensor(uninitialized: shape, for: "\(self.shape) \(op.rawValue) \(other.shape)")
        let dst = out.mutablePointer
        let n = out.count
        if self.shape == other.shape && isContiguous && other.isContiguous {
            let a = pointer, b = other.pointer
            Threads.parallelFor(n) { lo, hi in for i in lo..<hi { dst[i] = op.apply(a[i], b[i]) } }
            return out
        }
        if other.count == 1 && isContiguous && self.shape == shape {
            let a = pointer, s = other.storage.base[other.offset]
            Threads.parallelFor(n) { lo, hi in for i in lo..<hi { dst[i] = op.apply(a[i], s) } }
            return out
        }
        if count == 1 && other.isContiguous && other.shape == shape {
            let b = other.pointer, s = storage.base[offset]
            Threads.parallelFor(n) { lo, hi in for i in lo..<hi { dst[i] = op.apply(s, b[i]) } }
            return out
        }
        let a = try broadcast(to: shape).scalars, b = try other.broadcast(to: shape).scalars
        for i in 0..<n { dst[i] = op.apply(a[i], b[i]) }
        return out
    }

    /// Elementwise `op` with a scalar on the right (or left when `reversed`).
    public func binary(_ op: BinaryOp, scalar s: Float, reversed: Bool = false) -> Tensor {
        let src = contiguous()
        let out = Tensor(uninitialized: shape)
        let a = src.pointer, dst = out.mutablePointer
        Threads.parallelFor(count) { lo, hi in
            if reversed { for i in lo..<hi { dst[i] = op.apply(s, a[i]) } }
            else { for i in lo..<hi { dst[i] = op.apply(a[i], s) } }
        }
        return out
    }

    /// Applies `f` to every element.
    public func map(_ f: (Float) -> Float) -> Tensor {
        let src = contiguous()
        let out = Tensor(uninitialized: shape)
        let a = src.pointer, dst = out.mutablePointer
        for i in 0..<count { dst[i] = f(a[i]) }
        return out
    }

    // MARK: - Reductions

    public enum Reduction: String, Sendable { case sum, mean, max, min, argmax, argmin, std, variance = "var" }

    /// Reduces over `axis` (negative counts from the end), or over everything when nil.
    public func reduce(_ r: Reduction, axis: Int? = nil, keepDims: Bool = false) throws -> Tensor {
        guard let axis0 = axis else {
            let flat = try contiguous().reshaped([count])
            return try flat.reduce(r, axis: 0, keepDims: false)
        }
        let ax = axis0 < 0 ? axis0 + rank : axis0
        guard ax >= 0, ax < rank else { throw CoreError("axis \(axis0) out of range for shape \(shape)") }
        let n = shape[ax]
        guard n > 0 || r == .sum else { throw CoreError("\(r.rawValue) of an empty axis (shape \(shape))") }
        // Move the reduced axis last, then reduce contiguous rows.
        var order = Array(0..<rank)
        order.remove(at: ax)
        order.append(ax)
        let moved = try permuted(order).contiguous()
        let rows = n == 0 ? 0 : moved.count / n
        var outShape = shape
        if keepDims { outShape[ax] = 1 } else { outShape.remove(at: ax) }
        let out = Tensor(uninitialized: outShape)
        let src = moved.pointer, dst = out.mutablePointer
        for row in 0..<rows {
            let p = src + row * n
            switch r {
            case .sum, .mean:
                var s: Double = 0
                for i in 0..<n { s += Double(p[i]) }
                dst[row] = Float(r == .mean ? s / Double(n) : s)
            case .max:
                var m = p[0]; for i in 1..<Swift.max(n, 1) where p[i] > m || p[i].isNaN { m = p[i] }; dst[row] = m
            case .min:
                var m = p[0]; for i in 1..<Swift.max(n, 1) where p[i] < m || p[i].isNaN { m = p[i] }; dst[row] = m
            case .argmax:
                var best = 0; for i in 1..<Swift.max(n, 1) where p[i] > p[best] { best = i }; dst[row] = Float(best)
            case .argmin:
                var best = 0; for i in 1..<Swift.max(n, 1) where p[i] < p[best] { best = i }; dst[row] = Float(best)
            case .std, .variance:
                var s: Double = 0
                for i in 0..<n { s += Double(p[i]) }
                let mean = s / Double(n)
                var v: Double = 0
                for i in 0..<n { let d = Double(p[i]) - mean; v += d * d }
                v /= Double(n)
                dst[row] = Float(r == .std ? v.squareRoot() : v)
            }
        }
        if n == 0 { for i in 0..<out.count { dst[i] = 0 } }
        return out
    }

    /// Softmax along the last axis.
    public func softmax() -> Tensor {
        let out = contiguous().copy()
        guard let n = shape.last, n > 0 else { return out }
        Kernels.softmaxRows(out.mutablePointer, rows: count / n, n: n)
        return out
    }

    /// Indices that sort the last axis, ascending or descending; stable (ties keep the lower
    /// index first, as torch's `argsort(stable=True)`). A 0-d tensor gives [0].
    public func argsort(descending: Bool = false) throws -> Tensor {
        let src = contiguous()
        let n = shape.last ?? 1
        let out = Tensor(uninitialized: shape)
        guard n > 0 else { return out }
        for row in 0..<(count / n) {
            let p = src.pointer + row * n
            let order = (0..<n).sorted { a, b in
                let (x, y) = (p[a], p[b])
                if x == y || (x.isNaN && y.isNaN) { return a < b }
                if x.isNaN { return false }            // NaN last either way
                if y.isNaN { return true }
                return descending ? x > y : x < y
            }
            for (i, j) in order.enumerated() { out.mutablePointer[row * n + i] = Float(j) }
        }
        return out
    }

    // MARK: - Matrix products

    /// Matrix product with numpy `matmul` semantics for rank 1 and 2, and batched
    /// [..., m, k] @ [..., k, n] with broadcast leading axes.
    public func matmul(_ other: Tensor) throws -> Tensor {
        var a = self, b = other
        let aVec = a.rank == 1, bVec = b.rank == 1
        if aVec { a = try a.reshaped([1, a.shape[0]]) }
        if bVec { b = try b.reshaped([b.shape[0], 1]) }
        guard a.rank >= 2, b.rank >= 2 else { throw CoreError("matmul needs tensors of rank >= 1, got \(shape) @ \(other.shape)") }
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], k2 = b.shape[b.rank - 2], n = b.shape[b.rank - 1]
        guard k == k2 else { throw CoreError("matmul: inner dimensions differ, \(self.shape) @ \(other.shape)") }
        let lead = try Tensor.broadcastShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)))
        let what = "matmul \(self.shape) @ \(other.shape)"
        let batch = try Limits.checkTensor(lead, for: what)
        _ = try Limits.checkTensor(lead + [m, k], for: what)
        _ = try Limits.checkTensor(lead + [k, n], for: what)
        let ab = try a.broadcast(to: lead + [m, k]).contiguous()
        let bb = try b.broadcast(to: lead + [k, n]).contiguous()
        var outShape = lead + [m, n]
        let out = try Tensor(uninitialized: outShape, for: what)
        for i in 0..<batch {
            BLAS.gemm(m: m, n: n, k: k, a: ab.pointer + i * m * k, lda: k, b: bb.pointer + i * k * n, ldb: n,
                      transB: false, c: out.mutablePointer + i * m * n, ldc: n)
        }
        if aVec { outShape.remove(at: outShape.count - 2) }
        if bVec { outShape.removeLast() }
        return try out.reshaped(outShape)
    }

    // MARK: - Joining

    /// Concatenates tensors along `axis`.
    public static func concatenate(_ tensors: [Tensor], axis: Int = 0) throws -> Tensor {
        guard let first = tensors.first else { throw CoreError("concatenate of an empty list") }
        let ax = axis < 0 ? axis + first.rank : axis
        guard ax >= 0, ax < first.rank else { throw CoreError("axis \(axis) out of range for shape \(first.shape)") }
        for t in tensors {
            guard t.rank == first.rank, (0..<t.rank).allSatisfy({ $0 == ax || t.shape[$0] == first.shape[$0] }) else {
                throw CoreError("concatenate: shape \(t.shape) does not match \(first.shape) except on axis \(ax)")
            }
        }
        var shape = first.shape
        var joined = 0
        for t in tensors {
            let (sum, overflow) = joined.addingReportingOverflow(t.shape[ax])
            guard !overflow else { throw CoreError("concatenate: \(tensors.count) tensors are too large to join") }
            joined = sum
        }
        shape[ax] = joined
        let out = try Tensor(uninitialized: shape, for: "concatenate")
        let outer = shape[..<ax].reduce(1, *)
        let inner = shape[(ax + 1)...].reduce(1, *)
        var dstOffset = 0
        let dst = out.mutablePointer
        for t in tensors {
            let c = t.contiguous()
            let chunk = t.shape[ax] * inner
            for o in 0..<outer {
                (dst + o * shape[ax] * inner + dstOffset).update(from: c.pointer + o * chunk, count: chunk)
            }
            dstOffset += chunk
        }
        return out
    }

    /// Stacks equally shaped tensors along a new leading axis.
    public static func stack(_ tensors: [Tensor]) throws -> Tensor {
        guard let first = tensors.first else { throw CoreError("stack of an empty list") }
        _ = try Limits.checkTensor([tensors.count] + first.shape, for: "stack")
        return try concatenate(tensors.map { try $0.reshaped([1] + $0.shape) }, axis: 0).reshaped([tensors.count] + first.shape)
    }
}
