#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// No Foundation here (VLSFiles is below the language layer, which has none).

/// The one memory cap (`VLS_MAX_TENSOR_BYTES`), kept here so that every module sized by
/// input reads the same value: the numerical core's tensors (`Limits.maxTensorBytes`
/// forwards here) and the image decoders, which check a header's width x height x
/// channels against it before any pixel buffer exists.
public enum MemoryCap {
    /// The environment variable that sets the cap.
    public static let variable = "VLS_MAX_TENSOR_BYTES"

    nonisolated(unsafe) private static var cap: Int = defaultBytes()

    /// Largest buffer, in bytes, one operation sized by input may allocate. Settable
    /// (tests, embedders); negative values are taken as 0.
    public static var bytes: Int {
        get { cap }
        set { cap = max(0, newValue) }
    }

    /// The soft RLIMIT_AS in bytes, or nil when unlimited.
    public static var addressSpaceLimit: Int? {
        var r = rlimit()
        guard getrlimit(Int32(RLIMIT_AS.rawValue), &r) == 0, r.rlim_cur != rlim_t.max else { return nil }   // RLIM_INFINITY
        return r.rlim_cur > UInt64(Int.max) ? nil : Int(r.rlim_cur)
    }

    /// This machine's physical memory in bytes (8 GiB when unknown).
    public static var physicalMemory: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return 8 << 30 }
        let (p, overflow) = pages.multipliedReportingOverflow(by: size)
        return overflow ? Int.max : p
    }

    /// The process's environment, as far as the cap is concerned.
    public static var processEnvironment: [String: String] {
        getenv(variable).map { [variable: String(cString: $0)] } ?? [:]
    }

    /// The variable's value in `environment`; nil when unset or empty (`VLS_MAX_TENSOR_BYTES=`
    /// means unset, as for most tools: the default cap), or only blanks.
    static func setting(_ environment: [String: String]) -> String? {
        guard let text = environment[variable], text.contains(where: { $0 != " " && $0 != "\t" }) else { return nil }
        return text
    }

    /// The cap from the environment, else half the physical memory. A value the tool
    /// refuses (`problem`) also gives the default here; the tool refuses to start on it.
    public static func defaultBytes(environment: [String: String] = processEnvironment) -> Int {
        if let text = setting(environment), problem(environment, physical: physicalMemory) == nil, let b = parse(text) {
            return min(b, addressSpaceLimit.map { $0 / 2 } ?? b)
        }
        // Half the physical memory, and half the address-space limit (`ulimit -v`) when one
        // is set: under it a larger allocation aborts instead of failing with an error.
        return min(physicalMemory / 2, addressSpaceLimit.map { $0 / 2 } ?? Int.max)
    }

    /// Why the variable cannot be used, or nil when it is unset (or empty) or valid: not a size, less
    /// than one byte (`0`, `1e-3`: every tensor would be refused), or more than the
    /// physical memory (`physical`), where an allocation the cap let through would abort
    /// the process instead of giving an error.
    public static func problem(_ environment: [String: String] = processEnvironment, physical: Int = physicalMemory) -> String? {
        guard let text = setting(environment) else { return nil }
        let shown = text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0) }.joined()
        guard let bytes = parse(text) else {
            return "\(variable)='\(shown)' is not a size (examples: 1073741824, 1e9, 512M, 1.5G, 1GiB)"
        }
        guard bytes >= 1 else {
            return "\(variable)='\(shown)' is less than one byte (examples: 1073741824, 1e9, 512M, 1.5G, 1GiB)"
        }
        guard bytes <= physical else {
            return "\(variable)='\(shown)' is more than this machine's physical memory (\(physical) bytes); allocations that large would abort instead of failing with an error"
        }
        return nil
    }

    /// Parses `123`, `1e9`, `64K`, `512M`, `1.5G`, `8GB`, `1GiB`, `1T` (case-insensitive;
    /// K/M/G/T are powers of 1024; rounded to a whole byte); nil for anything else, a
    /// negative size, or more than `Int.max`.
    public static func parse(_ text: String) -> Int? {
        func trimmed(_ s: String) -> String {
            String(s.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        }
        var t = trimmed(text).uppercased()
        if t.hasSuffix("IB") { t.removeLast(2); guard let l = t.last, "KMGT".contains(l) else { return nil } }
        else if t.hasSuffix("B") { t.removeLast() }
        var scale = 1.0
        if let last = t.last, let s = ["K": 1.0, "M": 2.0, "G": 3.0, "T": 4.0][String(last)] {
            for _ in 0..<Int(s) { scale *= 1024 }
            t.removeLast()
        }
        t = trimmed(t)   // "64 KiB"
        guard !t.isEmpty, t.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == "E" || $0 == "+" || $0 == "-") }) else { return nil }
        if scale == 1, let n = Int(t) { return n >= 0 ? n : nil }
        guard let v = Double(t), v.isFinite, v >= 0 else { return nil }
        let bytes = (v * scale).rounded()
        guard bytes < 9.2e18 else { return nil }
        return Int(bytes)
    }
}
