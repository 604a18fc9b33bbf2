import Foundation

/// Caps on what user input (scripts, checkpoints, data files) may make the core allocate.
///
/// A tensor larger than `maxTensorBytes` is refused before any memory is touched, with an
/// error naming the operation and the shape, so a typo like `zeros(100000, 100000)` is a
/// message rather than the machine swapping or the process being killed.
public enum Limits {
    /// Environment variable overriding the tensor cap: bytes, or with a K/M/G/T suffix
    /// (powers of 1024), e.g. `VLS_MAX_TENSOR_BYTES=8G`.
    public static let tensorBytesVariable = "VLS_MAX_TENSOR_BYTES"

    nonisolated(unsafe) private static var tensorCap: Int = defaultMaxTensorBytes()

    /// Largest tensor, in bytes, one operation may allocate. Default: half the physical
    /// memory, or `VLS_MAX_TENSOR_BYTES` when set. Settable (tests, embedders).
    public static var maxTensorBytes: Int {
        get { tensorCap }
        set { tensorCap = max(0, newValue) }
    }

    /// The cap from the environment, else half the physical memory.
    public static func defaultMaxTensorBytes(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        if let text = environment[tensorBytesVariable], let bytes = parseBytes(text) { return bytes }
        let physical = ProcessInfo.processInfo.physicalMemory
        return physical > 0 ? Int(clamping: physical / 2) : 8 << 30
    }

    /// Parses `123`, `64K`, `512M`, `8G`, `1T` (case-insensitive, optional trailing `B`).
    public static func parseBytes(_ text: String) -> Int? {
        var t = text.trimmingCharacters(in: .whitespaces).uppercased()
        if t.hasSuffix("B") { t.removeLast() }
        var shift = 0
        if let last = t.last, let s = ["K": 10, "M": 20, "G": 30, "T": 40][String(last)] {
            shift = s
            t.removeLast()
        }
        guard let n = Int(t), n >= 0, n <= Int.max >> shift else { return nil }
        return n << shift
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
