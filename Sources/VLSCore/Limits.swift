import Foundation

/// Caps on what user input (scripts, checkpoints, data files) may make the core allocate.
///
/// A tensor larger than `maxTensorBytes` is refused before any memory is touched, with an
/// error naming the operation and the shape, so a typo like `zeros(100000, 100000)` is a
/// message rather than the machine swapping or the process being killed.
public enum Limits {
    /// Environment variable overriding the tensor cap: bytes, a decimal or exponent form
    /// (`1e9`), with a K/M/G/T suffix (powers of 1024, `KiB`/`GiB` spelled out too, `1.5G`).
    public static let tensorBytesVariable = "VLS_MAX_TENSOR_BYTES"

    nonisolated(unsafe) private static var tensorCap: Int = defaultMaxTensorBytes()

    /// Largest tensor, in bytes, one operation may allocate. Default: half the physical
    /// memory, or `VLS_MAX_TENSOR_BYTES` when set. Settable (tests, embedders).
    public static var maxTensorBytes: Int {
        get { tensorCap }
        set { tensorCap = max(0, newValue) }
    }

    /// The cap from the environment, else half the physical memory. An unparsable value
    /// also gives the default here; `environmentProblem` says so, and the tool refuses to
    /// start on it (never a silent fallback).
    public static func defaultMaxTensorBytes(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        if let text = environment[tensorBytesVariable], let bytes = parseBytes(text) { return bytes }
        let physical = ProcessInfo.processInfo.physicalMemory
        return physical > 0 ? Int(clamping: physical / 2) : 8 << 30
    }

    /// Why `VLS_MAX_TENSOR_BYTES` cannot be used, or nil when it is unset or valid.
    public static func environmentProblem(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard let text = environment[tensorBytesVariable], parseBytes(text) == nil else { return nil }
        return "\(tensorBytesVariable)='\(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0) }.joined())' is not a size (examples: 1073741824, 1e9, 512M, 1.5G, 1GiB)"
    }

    /// Parses `123`, `1e9`, `64K`, `512M`, `1.5G`, `8GB`, `1GiB`, `1T` (case-insensitive;
    /// K/M/G/T are powers of 1024; rounded to a whole byte); nil for anything else, a
    /// negative size, or more than `Int.max`.
    public static func parseBytes(_ text: String) -> Int? {
        var t = text.trimmingCharacters(in: .whitespaces).uppercased()
        if t.hasSuffix("IB") { t.removeLast(2); guard let l = t.last, "KMGT".contains(l) else { return nil } }
        else if t.hasSuffix("B") { t.removeLast() }
        var scale = 1.0
        if let last = t.last, let s = ["K": 10.0, "M": 20.0, "G": 30.0, "T": 40.0][String(last)] {
            scale = pow(2, s)
            t.removeLast()
        }
        t = t.trimmingCharacters(in: .whitespaces)   // "64 KiB"
        guard !t.isEmpty, t.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == "E" || $0 == "+" || $0 == "-") }) else { return nil }
        if scale == 1, let n = Int(t) { return n >= 0 ? n : nil }
        guard let v = Double(t), v.isFinite, v >= 0 else { return nil }
        let bytes = (v * scale).rounded()
        guard bytes < 9.2e18 else { return nil }
        return Int(bytes)
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
