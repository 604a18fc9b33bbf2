import Foundation
import VLSFiles

/// Caps on what user input (scripts, checkpoints, data files) may make the core allocate.
///
/// A tensor larger than `maxTensorBytes` is refused before any memory is touched, with an
/// error naming the operation and the shape, so a typo like `zeros(100000, 100000)` is a
/// message rather than the machine swapping or the process being killed.
public enum Limits {
    /// Environment variable overriding the tensor cap: bytes, a decimal or exponent form
    /// (`1e9`), with a K/M/G/T suffix (powers of 1024, `KiB`/`GiB` spelled out too, `1.5G`).
    public static let tensorBytesVariable = "VLS_MAX_TENSOR_BYTES"

    /// Largest tensor, in bytes, one operation may allocate. Default: half the physical
    /// memory, or `VLS_MAX_TENSOR_BYTES` when set. Settable (tests, embedders). The value
    /// lives in `MemoryCap` (VLSFiles), which the image decoders read too.
    public static var maxTensorBytes: Int {
        get { MemoryCap.bytes }
        set { MemoryCap.bytes = newValue }
    }
    private static var tensorCap: Int { MemoryCap.bytes }

    /// The cap from the environment, else half the physical memory. A value the tool
    /// refuses also gives the default here; `environmentProblem` says so, and the tool
    /// refuses to start on it (never a silent fallback).
    public static func defaultMaxTensorBytes(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        MemoryCap.defaultBytes(environment: environment)
    }

    /// Why `VLS_MAX_TENSOR_BYTES` cannot be used (not a size, under one byte, above the
    /// physical memory), or nil when it is unset or valid.
    public static func environmentProblem(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        MemoryCap.problem(environment)
    }

    /// Parses a size (see `MemoryCap.parse`).
    public static func parseBytes(_ text: String) -> Int? { MemoryCap.parse(text) }

    /// Most axes any tensor may have (numpy allows 64 since 2.0). A shape read from a file
    /// or built by a script with more is an error naming the rank, before anything sized
    /// by it (strides, headers, printing) is made.
    public static let maxRank = 64

    /// Refuses a shape of more than `maxRank` axes, naming `operation` and the rank.
    @inline(__always)
    public static func checkRank(_ shape: [Int], for operation: String) throws {
        guard shape.count <= maxRank else {
            throw CoreError("\(operation): a tensor of rank \(shape.count) has more than the \(maxRank) axes a tensor may have")
        }
    }

    /// Most classes a label may name (a label sizes the class list: 3e8 asked for gigabytes).
    public static let maxClasses = 1 << 20

    /// Class labels given as numbers: each must be a whole number in 0..<`maxClasses`
    /// (NaN, infinities, negatives and fractions are refused, naming the first and its index).
    public static func classLabels(_ values: [Float], for operation: String) throws -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(values.count)
        for (i, v) in values.enumerated() {
            guard v.isFinite, v >= 0, v < Float(maxClasses), v == v.rounded() else {
                throw CoreError("\(operation): label \(i) is \(v); labels must be whole numbers in 0..<\(maxClasses)")
            }
            out.append(Int(v))
        }
        return out
    }

    /// The number of elements of `shape`; nil when a dimension is negative or the product
    /// of the non-zero dimensions overflows (so strides can be computed even for an empty
    /// tensor like [0, 2^40, 2^40]).
    @inline(__always)
    public static func elementCount(_ shape: [Int]) -> Int? {
        var extent = 1
        var empty = false
        for d in shape {
            guard d >= 0 else { return nil }
            if d == 0 { empty = true; continue }
            let (p, overflow) = extent.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            extent = p
        }
        return empty ? 0 : extent
    }

    /// Checks that a Float32 tensor of `shape` may be allocated; returns its element count.
    /// Throws a `CoreError` naming `operation` and the shape otherwise.
    @inline(__always)
    public static func checkTensor(_ shape: [Int], for operation: String, elementSize: Int = 4) throws -> Int {
        try checkRank(shape, for: operation)
        guard let n = elementCount(shape) else {
            if shape.contains(where: { $0 < 0 }) {
                throw CoreError("\(operation): negative dimension in shape \(shape)")
            }
            throw CoreError("\(operation): a tensor of shape \(shape) has more elements than can be counted")
        }
        guard n <= tensorCap / elementSize else {
            throw CoreError("\(operation): a tensor of shape \(shape) needs \(describeBytes(n, elementSize)), more than the limit of \(describeBytes(tensorCap, 1)) (set \(tensorBytesVariable) to change it)")
        }
        return n
    }

    /// `count * size` bytes in readable units.
    static func describeBytes(_ count: Int, _ size: Int) -> String {
        let bytes = Double(count) * Double(size)
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var v = bytes, i = 0
        while v >= 1024, i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(Int(bytes)) bytes" : String(format: "%.1f", v) + " " + units[i]
    }
}
