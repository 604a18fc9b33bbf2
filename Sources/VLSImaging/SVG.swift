import Foundation

/// Escapes text for HTML/SVG/XML content and attribute values (& < > " ').
public func escapeMarkup(_ s: String) -> String {
    var out = ""
    for ch in s {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(ch)
        }
    }
    return out
}

/// Small helpers shared by the SVG figures: escaping, number formatting, axis ticks.
enum SVG {
    /// Escapes text for SVG/XML content and attribute values.
    static func escape(_ s: String) -> String { escapeMarkup(s) }

    /// A coordinate with two decimals, trailing zeros removed (`12.5`, `3`).
    static func num(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        var s = String(format: "%.2f", v)
        while s.contains("."), s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s == "-0" ? "0" : s
    }

    /// A tick label: up to 4 significant digits, no exponent for ordinary magnitudes.
    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1e5 || a < 1e-3 { return String(format: "%.2g", v) }
        var s = String(format: "%.4g", v)
        if s.contains("."), !s.contains("e") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s
    }

    /// "Nice" ticks covering [lo, hi] (steps of 1, 2, 2.5 or 5 times a power of ten).
    static func ticks(_ lo: Double, _ hi: Double, target: Int = 6) -> [Double] {
        guard lo.isFinite, hi.isFinite else { return [] }
        if hi <= lo { return [lo] }
        let raw = (hi - lo) / Double(max(target - 1, 1))
        let exponent = floor(log10(raw))
        let multiplier = [1.0, 2, 2.5, 5, 10].first { $0 * pow(10, exponent) >= raw } ?? 10
        // Ticks are k * multiplier * 10^exponent, computed so that 0.6 prints as 0.6.
        let value = { (k: Double) -> Double in
            exponent < 0 ? k * multiplier / pow(10, -exponent) : k * multiplier * pow(10, exponent)
        }
        let step = value(1)
        var out: [Double] = []
        var k = (lo / step).rounded(.up)
        while value(k) <= hi + step * 1e-9 && out.count < 50 {
            out.append(value(k) == 0 ? 0 : value(k))
            k += 1
        }
        return out
    }

    /// The default series colours (matplotlib's tab10).
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    /// Opening `<svg>` element with a white background.
    static func header(width: Int, height: Int) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" font-family=\"sans-serif\" font-size=\"12\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    }

    /// A text element.
    static func text(_ s: String, x: Double, y: Double, anchor: String = "middle", size: Int = 12,
                     weight: String? = nil, rotate: Bool = false) -> String {
        let transform = rotate ? " transform=\"rotate(-90 \(num(x)) \(num(y)))\"" : ""
        let bold = weight.map { " font-weight=\"\($0)\"" } ?? ""
        return "<text x=\"\(num(x))\" y=\"\(num(y))\" text-anchor=\"\(anchor)\" font-size=\"\(size)\"\(bold)\(transform)>\(escape(s))</text>\n"
    }
}
