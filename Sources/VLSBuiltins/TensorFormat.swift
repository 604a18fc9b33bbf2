import Foundation
import VLSCore

/// Printing of tensors by numpy's rules (`np.array2string` of numpy >= 1.14, float32):
/// past `threshold` elements only `edgeitems` rows/columns at each end are shown (and only
/// they decide the format); one format for the whole tensor, positional with up to
/// `precision` fractional digits (the shortest float32 digits, trailing zeros trimmed,
/// columns padded to align) or scientific when the largest magnitude is >= 1e6 (numpy >= 2.3's cutoff for float32), the
/// smallest non-zero one < 1e-4 or their ratio > 1000 (numpy's default, suppress off);
/// lines wrap at `linewidth`. `print_options(...)` changes the four settings.
enum TensorFormat {
    struct Options: Equatable {
        var threshold = 1000
        var edgeitems = 3
        var precision = 4
        var linewidth = 75
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var current = Options()

    static var options: Options {
        get { lock.lock(); defer { lock.unlock() }; return current }
        set { lock.lock(); current = newValue; lock.unlock() }
    }

    /// `tensor(<grid>, shape [..])`, the grid indented as numpy's `array(...)` repr.
    static func describe(_ t: Tensor, dtype: DType = .float32) -> String {
        let prefix = "tensor("
        var o = options
        o.linewidth -= 1  // the closing parenthesis, as array_repr's suffix
        return prefix + grid(t, options: o, prefix: prefix, dtype: dtype) + ", shape \(t.shape))"
    }

    /// The grid `np.array2string(a, separator=', ', prefix=prefix)` prints with the options;
    /// int64 and bool tensors as numpy prints those dtypes (`[0, 3, 5]`, `[ True, False]`).
    static func grid(_ t: Tensor, options o: Options = options, prefix: String = "", dtype: DType = .float32) -> String {
        if t.count == 0 && t.rank > 0 { return "[]" }
        let summarise = t.count > o.threshold
        let data = summarise ? leadingTrailing(t, edge: o.edgeitems) : t.scalars
        let format: (Float) -> String
        switch dtype {
        case .float32:
            let f = FloatFormat(data, precision: o.precision)
            format = f.format
        case .int64:
            // numpy's IntegerFormat: every element right-aligned to the widest of the shown ones.
            // Checked: a value that is no integer (never written, but never a trap) prints as a float.
            let text: (Float) -> String = { x in x.isFinite && x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x) }
            let width = data.map { text($0).count }.max() ?? 1
            format = { x in let s = text(x); return String(repeating: " ", count: max(0, width - s.count)) + s }
        case .bool:
            // numpy's BoolFormat: " True" beside "False" (a 0-d bool prints "True").
            let rank0 = t.rank == 0
            format = { x in x != 0 ? (rank0 ? "True" : " True") : "False" }
        }
        let c = t.contiguous()
        return formatArray(c, format, lineWidth: o.linewidth, nextLinePrefix: 1 + prefix.count,
                           edge: o.edgeitems, summary: summarise)
    }

    /// The elements numpy's `_leading_trailing` keeps (in row-major order).
    static func leadingTrailing(_ t: Tensor, edge: Int) -> [Float] {
        var out = [Float]()
        func walk(_ view: Tensor) {
            if view.rank == 0 { out.append(view.scalars[0]); return }
            let n = view.shape[0]
            let rows = n > 2 * edge ? Array(0..<edge) + Array((n - edge)..<n) : Array(0..<n)
            for i in rows { walk(view.select(i)) }
        }
        walk(t)
        return out
    }

    /// numpy's `_formatArray` (separator ", ", numpy >= 1.14 wrapping), written into one
    /// buffer: the work is linear in the printed text, whatever the rank (a rank-30 tensor
    /// of size-1 axes copied its nested text once per level before). `hanging` is a count
    /// of spaces.
    static func formatArray(_ a: Tensor, _ f: (Float) -> String, lineWidth: Int, nextLinePrefix: Int, edge: Int, summary: Bool) -> String {
        let sep = ", "
        var out = ""
        // The innermost axis: words wrapped at `width`, continuation lines indented by
        // `hanging` spaces; the first line's indent is taken by the enclosing brackets.
        func row(_ offset: Int, _ axis: Int, _ hanging: Int, _ width: Int) {
            let n = a.shape[axis], st = a.strides[axis]
            let show = summary && 2 * edge < n
            let leading = show ? edge : 0
            let trailing = show ? edge : n
            let elemWidth = width - 1
            let pad = String(repeating: " ", count: hanging)
            var first = true
            var line = pad
            func extend(_ word: String) {
                var wrap = line.count + word.count > elemWidth
                if line.count <= hanging { wrap = false }
                if wrap {
                    while line.last == " " { line.removeLast() }
                    out += first ? String(line.dropFirst(hanging)) : line
                    out += "\n"
                    first = false
                    line = pad
                }
                line += word
            }
            out += "["
            for i in 0..<leading { extend(f(a.storage.base[offset + i * st])); line += sep }
            if show { extend("..."); line += sep }
            if trailing >= 2 {
                for i in stride(from: trailing, to: 1, by: -1) { extend(f(a.storage.base[offset + (n - i) * st])); line += sep }
            }
            extend(f(a.storage.base[offset + (n - 1) * st]))
            out += first ? String(line.dropFirst(hanging)) : line
            out += "]"
        }
        func recurse(_ offset: Int, _ axis: Int, _ hanging: Int, _ width: Int) {
            let left = a.rank - axis
            if left == 0 { out += f(a.storage.base[offset]); return }
            if left == 1 { row(offset, axis, hanging, width); return }
            let n = a.shape[axis], st = a.strides[axis]
            let show = summary && 2 * edge < n
            let leading = show ? edge : 0
            let trailing = show ? edge : n
            let lineSep = "," + String(repeating: "\n", count: left - 1)
            var first = true
            func child(_ body: () -> Void) {
                if !first { out += String(repeating: " ", count: hanging) }
                first = false
                body()
            }
            out += "["
            for i in 0..<leading { child { recurse(offset + i * st, axis + 1, hanging + 1, width - 1) }; out += lineSep }
            if show { child { out += "..." }; out += lineSep }
            if trailing >= 2 {
                for i in stride(from: trailing, to: 1, by: -1) {
                    child { recurse(offset + (n - i) * st, axis + 1, hanging + 1, width - 1) }
                    out += lineSep
                }
            }
            child { recurse(offset + (n - 1) * st, axis + 1, hanging + 1, width - 1) }
            out += "]"
        }
        recurse(a.offset, 0, nextLinePrefix, lineWidth)
        return out
    }

    /// A float32 number as numpy prints a scalar element of a tensor alone.
    static func number(_ v: Float) -> String { FloatFormat([v], precision: options.precision).format(v) }
}

/// numpy's `FloatingFormat` (floatmode "maxprec", sign "-", suppress_small off) for float32.
struct FloatFormat {
    let exp: Bool
    let precision: Int
    let padLeft: Int
    let padRight: Int
    let expSize: Int

    init(_ data: [Float], precision p: Int) {
        let finite = data.filter(\.isFinite)
        let nonZero = finite.filter { $0 != 0 }.map(abs)
        var exp = false
        if let mx = nonZero.max(), let mn = nonZero.min() {
            // numpy >= 2.3: the cutoff is 10^min(8, finfo.precision), 1e6 for float32
            exp = mx >= Float(1e6) || mn < Float(0.0001) || mx / mn > 1000
        }
        self.exp = exp
        var padLeft = 0, padRight = 0, precision = p, expSize = -1
        if finite.isEmpty {
            padLeft = 0; padRight = 0
        } else if exp {
            let strs = finite.map { FloatFormat.scientific($0, precision: p) }
            var ints = 0, fracs = 0, exps = 0
            for s in strs {
                let (mant, e) = s
                let parts = mant.split(separator: ".", omittingEmptySubsequences: false)
                ints = max(ints, parts[0].count)
                fracs = max(fracs, parts.count > 1 ? parts[1].count : 0)
                exps = max(exps, String(abs(e)).count)
            }
            expSize = max(exps, 2)
            precision = fracs
            padLeft = ints
            padRight = expSize + 2 + precision
        } else {
            var ints = 0, fracs = 0
            for x in finite {
                let s = FloatFormat.positional(x, precision: p)
                let parts = s.split(separator: ".", omittingEmptySubsequences: false)
                ints = max(ints, parts[0].count)
                fracs = max(fracs, parts.count > 1 ? parts[1].count : 0)
            }
            padLeft = ints
            padRight = fracs
        }
        if finite.count != data.count {
            let negInf = data.contains { $0.isInfinite && $0 < 0 }
            let offset = padRight + 1
            padLeft = max(padLeft, 3 - offset, 3 + (negInf ? 1 : 0) - offset)
        }
        self.precision = precision
        self.padLeft = padLeft
        self.padRight = padRight
        self.expSize = expSize
    }

    func format(_ x: Float) -> String {
        if !x.isFinite {
            let r = x.isNaN ? "nan" : x < 0 ? "-inf" : "inf"
            return String(repeating: " ", count: max(0, padLeft + padRight + 1 - r.count)) + r
        }
        if exp {
            // numpy's min_digits: the shortest digits when they fill `precision` places,
            // else the exact value rounded to `precision` places (not zero padding).
            var (mant, e) = FloatFormat.scientific(x, precision: precision)
            var parts = mant.split(separator: ".", omittingEmptySubsequences: false)
            let frac = parts.count > 1 ? String(parts[1]) : ""
            if frac.count != precision {
                let s = String(format: "%.\(precision)e", Double(abs(x))).split(separator: "e")
                mant = (x.sign == .minus ? "-" : "") + String(s[0]) + (precision == 0 ? "." : "")
                e = Int(s[1]) ?? 0
                parts = mant.split(separator: ".", omittingEmptySubsequences: false)
            }
            let digits = String(abs(e))
            let es = (e < 0 ? "-" : "+") + String(repeating: "0", count: max(0, expSize - digits.count)) + digits
            let intLen = parts[0].count
            return String(repeating: " ", count: max(0, padLeft - intLen)) + mant + "e" + es
        }
        let s = FloatFormat.positional(x, precision: precision)
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        let intLen = parts[0].count, fracLen = parts.count > 1 ? parts[1].count : 0
        return String(repeating: " ", count: max(0, padLeft - intLen)) + s + String(repeating: " ", count: max(0, padRight - fracLen))
    }

    /// The shortest float32 digits and decimal exponent: x = 0.d1d2... * 10^e (digits without
    /// leading or trailing zeros; "" for zero).
    static func shortestDigits(_ x: Float) -> (String, Int) {
        let d = "\(abs(x))"   // Swift prints the shortest round-trip float32 form
        var mant = d, e = 0
        if let i = d.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mant = String(d[..<i])
            e = Int(d[d.index(after: i)...]) ?? 0
        }
        let parts = mant.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts[0]), fracPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = intPart + fracPart
        var exp10 = e + intPart.count
        while digits.first == "0" { digits.removeFirst(); exp10 -= 1 }
        while digits.last == "0" { digits.removeLast() }
        if digits.isEmpty { return ("", 0) }
        return (digits, exp10)
    }

    /// numpy's `dragon4_positional(x, precision, unique=True, trim='.')`: the shortest digits
    /// when they need at most `precision` fractional digits, else the exact value rounded to
    /// `precision` digits; trailing zeros trimmed, the point kept ("1.", "0.25").
    static func positional(_ x: Float, precision: Int) -> String {
        let (digits, e) = shortestDigits(x)
        let sign = x.sign == .minus && x != 0 ? "-" : (x == 0 && x.sign == .minus ? "-" : "")
        var body: String
        if digits.isEmpty {
            body = "0."
        } else if digits.count - e <= precision {
            // shortest digits fit
            if e <= 0 {
                body = "0." + String(repeating: "0", count: -e) + digits
            } else if digits.count <= e {
                body = digits + String(repeating: "0", count: e - digits.count) + "."
            } else {
                let i = digits.index(digits.startIndex, offsetBy: e)
                body = String(digits[..<i]) + "." + String(digits[i...])
            }
            return sign + body
        } else {
            body = String(format: "%.\(precision)f", Double(abs(x)))
            if body.contains(".") { while body.last == "0" { body.removeLast() } } else { body += "." }
        }
        return sign + body
    }

    /// numpy's `dragon4_scientific(x, precision, unique=True, trim='.')` split into the
    /// mantissa ("1.5", "-2.", "1.2346") and the decimal exponent.
    static func scientific(_ x: Float, precision: Int) -> (String, Int) {
        let (digits, e) = shortestDigits(x)
        let sign = x.sign == .minus ? "-" : ""
        if digits.isEmpty { return (sign + "0.", 0) }
        if digits.count - 1 <= precision {
            let first = digits.prefix(1), rest = digits.dropFirst()
            return (sign + first + "." + rest, e - 1)
        }
        let s = String(format: "%.\(precision)e", Double(abs(x)))
        let parts = s.split(separator: "e")
        var mant = String(parts[0])
        if mant.contains(".") { while mant.last == "0" { mant.removeLast() } } else { mant += "." }
        return (sign + mant, Int(parts[1]) ?? 0)
    }
}
