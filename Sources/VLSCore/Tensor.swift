import Foundation

/// Errors of the numerical core. Each message names what was asked and what was found.
public struct CoreError: Error, CustomStringConvertible, Sendable {
    public let message: String
    /// Set only by `CoreInterrupt.check()`: the call stopped because Ctrl-C (or an
    /// interrupt request) was seen, not because anything was wrong.
    public let isInterrupt: Bool
    public init(_ message: String) { self.message = message; isInterrupt = false }
    private init(interruptMessage: String) { message = interruptMessage; isInterrupt = true }
    public var description: String { message }
    /// What a long core call throws when interrupted.
    public static let interrupted = CoreError(interruptMessage: "interrupted")
}

/// Float32 storage: owned memory, or a read-only window into a memory-mapped file.
public final class TensorStorage: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int
    /// Keeps a memory map (or another storage) alive while this storage is used.
    private let owner: AnyObject?
    /// False for memory-mapped weights: nothing may write through `base`.
    public let isWritable: Bool

    /// Fresh zeroed storage of `count` floats.
    public init(zeros count: Int) {
        self.count = count
        base = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
        owner = nil
        isWritable = true
    }

    /// Fresh storage whose contents the caller fills before any read.
    public init(uninitialized count: Int) {
        self.count = count
        base = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        owner = nil
        isWritable = true
    }

    /// A window into memory owned by `owner` (a memory map), never written.
    public init(borrowing pointer: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        base = pointer
        self.count = count
        self.owner = owner
        isWritable = false
    }

    deinit {
        if owner == nil { base.deallocate() }
    }
}

/// An n-dimensional Float32 tensor: shape, strides (in elements) and offset into a storage.
///
/// Tensors are values: operations return new tensors; slicing returns strided views that
/// share storage. Kernels that need contiguous rows call `contiguous()` first.
public struct Tensor: @unchecked Sendable {
    public let storage: TensorStorage
    public let shape: [Int]
    public let strides: [Int]
    public let offset: Int

    /// Row-major strides of a shape.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = acc
            acc *= shape[i]
        }
        return strides
    }

    public init(storage: TensorStorage, shape: [Int], strides: [Int]? = nil, offset: Int = 0) {
        self.storage = storage
        self.shape = shape
        self.strides = strides ?? Tensor.contiguousStrides(shape)
        self.offset = offset
    }

    /// A zero tensor of the given shape.
    public init(zeros shape: [Int]) {
        self.init(storage: TensorStorage(zeros: shape.reduce(1, *)), shape: shape)
    }

    /// A tensor whose storage the caller fills through `mutablePointer` before reading.
    public init(uninitialized shape: [Int]) {
        self.init(storage: TensorStorage(uninitialized: shape.reduce(1, *)), shape: shape)
    }

    /// A zero tensor whose shape comes from user input: refused before allocating when
    /// it is larger than `Limits.maxTensorBytes`, with an error naming `operation`.
    public init(zeros shape: [Int], for operation: String) throws {
        let n = try Limits.checkTensor(shape, for: operation)
        self.init(storage: TensorStorage(zeros: n), shape: shape)
    }

    /// An unfilled tensor whose shape comes from user input (checked as `init(zeros:for:)`).
    public init(uninitialized shape: [Int], for operation: String) throws {
        let n = try Limits.checkTensor(shape, for: operation)
        self.init(storage: TensorStorage(uninitialized: n), shape: shape)
    }

    /// A contiguous tensor holding `values` (count must equal the shape's size).
    public init(_ values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "tensor: \(values.count) values for shape \(shape)")
        let t = Tensor(uninitialized: shape)
        values.withUnsafeBufferPointer { src in
            if let s = src.baseAddress { t.storage.base.update(from: s, count: values.count) }
        }
        self = t
    }

    /// A scalar (rank-0) tensor.
    public init(scalar: Float) { self.init([scalar], shape: []) }

    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }

    /// True when elements are laid out row-major without gaps.
    public var isContiguous: Bool { strides == Tensor.contiguousStrides(shape) || count <= 1 && strides.count == shape.count }

    /// Pointer to the first element (read-only use).
    public var pointer: UnsafePointer<Float> { UnsafePointer(storage.base + offset) }

    /// Pointer for writing; only for tensors made by this process, never memory-mapped ones.
    public var mutablePointer: UnsafeMutablePointer<Float> {
        precondition(storage.isWritable, "write to a read-only (memory-mapped) tensor")
        return storage.base + offset
    }

    /// A contiguous copy (or self when already contiguous).
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let out = Tensor(uninitialized: shape)
        var i = 0
        let dst = out.mutablePointer
        forEachOffset { off in
            dst[i] = storage.base[off]
            i += 1
        }
        return out
    }

    /// A copy that owns fresh writable storage.
    public func copy() -> Tensor {
        let out = Tensor(uninitialized: shape)
        if isContiguous {
            out.mutablePointer.update(from: pointer, count: count)
        } else {
            var i = 0
            let dst = out.mutablePointer
            forEachOffset { off in dst[i] = storage.base[off]; i += 1 }
        }
        return out
    }

    /// Calls `body` with the storage offset of every element in row-major order.
    public func forEachOffset(_ body: (Int) -> Void) {
        let n = count
        if n == 0 { return }
        if rank == 0 { body(offset); return }
        var index = [Int](repeating: 0, count: rank)
        var off = offset
        let last = rank - 1
        let lastStride = strides[last]
        let lastDim = shape[last]
        var done = 0
        while done < n {
            var o = off
            for _ in 0..<lastDim { body(o); o += lastStride }
            done += lastDim
            // advance the outer indices
            var d = last - 1
            while d >= 0 {
                index[d] += 1
                off += strides[d]
                if index[d] < shape[d] { break }
                off -= strides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
            if d < 0 { break }
        }
    }

    /// The elements in row-major order.
    public var scalars: [Float] {
        if isContiguous { return Array(UnsafeBufferPointer(start: pointer, count: count)) }
        var out = [Float]()
        out.reserveCapacity(count)
        forEachOffset { out.append(storage.base[$0]) }
        return out
    }

    /// Element at a full index (no bounds beyond debug checks; callers validate).
    public func item(_ index: [Int]) -> Float {
        var off = offset
        for (i, s) in zip(index, strides) { off += i * s }
        return storage.base[off]
    }

    /// The same elements with a new shape (a view when contiguous, else a copy).
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        try Limits.checkRank(newShape, for: "reshape")
        var dims = newShape
        if let inferred = dims.firstIndex(of: -1) {
            var rest = dims
            rest.remove(at: inferred)
            guard let known = Limits.elementCount(rest), known > 0, count % known == 0 else {
                throw CoreError("cannot reshape tensor of shape \(shape) into \(newShape)")
            }
            dims[inferred] = count / known
        }
        guard Limits.elementCount(dims) == count else {
            throw CoreError("cannot reshape tensor of shape \(shape) (\(count) elements) into \(newShape)")
        }
        let base = contiguous()
        return Tensor(storage: base.storage, shape: dims, offset: base.offset)
    }

    /// A view with two axes swapped.
    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var s = shape, st = strides
        s.swapAt(a, b)
        st.swapAt(a, b)
        return Tensor(storage: storage, shape: s, strides: st, offset: offset)
    }

    /// A view with axes permuted.
    public func permuted(_ order: [Int]) throws -> Tensor {
        guard order.count == rank, Set(order) == Set(0..<rank) else {
            throw CoreError("permute: \(order) is not a permutation of the \(rank) axes of \(shape)")
        }
        return Tensor(storage: storage, shape: order.map { shape[$0] }, strides: order.map { strides[$0] }, offset: offset)
    }

    /// A view of index `i` along axis 0.
    public func select(_ i: Int) -> Tensor {
        Tensor(storage: storage, shape: Array(shape.dropFirst()), strides: Array(strides.dropFirst()), offset: offset + i * strides[0])
    }

    /// A view of indices `start..<end` (by `step`) along `axis`.
    public func narrowed(axis: Int, start: Int, count n: Int, step: Int = 1) -> Tensor {
        var s = shape, st = strides
        s[axis] = n
        st[axis] = strides[axis] * step
        return Tensor(storage: storage, shape: s, strides: st, offset: offset + start * strides[axis])
    }
}
