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

/// Tick positions and labels shared by the figures.
public enum Ticks {
    /// A tick label: up to 4 significant digits, no exponent for ordinary magnitudes.
    public static func label(_ v: Double) -> String {
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

    /// Labels for a row of ticks: `label` each, with more significant digits (up to 17)
    /// while two neighbours would read the same (ticks at 100000 and 100002 are "1e+05" at
    /// 2 digits).
    public static func labels(_ ticks: [Double]) -> [String] {
        var out = ticks.map(label)
        var digits = 3
        while digits <= 17, zip(out, out.dropFirst()).contains(where: { $0 == $1 }) {
            out = ticks.map { $0 == 0 ? "0" : String(format: "%.\(digits)g", $0) }
            digits += 1
        }
        return out
    }

    /// "Nice" ticks covering [lo, hi] (steps of 1, 2, 2.5 or 5 times a power of ten).
    public static func nice(_ lo: Double, _ hi: Double, target: Int = 6) -> [Double] {
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
}

/// Cartesian axes: the plot rectangle inside a figure, the data ranges, and the linear map
/// between them. The rectangle has integer edges, so its 1 px frame is crisp and a value
/// maps to `left + (v - xlo) / (xhi - xlo) * plotWidth` exactly.
public struct Axes: Sendable {
    /// Plot rectangle in pixels (integers).
    public let left: Double, top: Double, plotWidth: Double, plotHeight: Double
    /// Data ranges.
    public let xlo: Double, xhi: Double, ylo: Double, yhi: Double

    /// The standard layout of a figure of `width` x `height`: room for a title, tick labels
    /// and axis labels around the plot.
    public init(width: Int, height: Int, title: String, x: (Double, Double), y: (Double, Double), rightMargin: Double = 16) {
        left = 64
        top = title.isEmpty ? 16 : 36
        plotWidth = max(1, Double(width) - left - rightMargin.rounded())
        plotHeight = max(1, Double(height) - top - 48)
        (xlo, xhi) = Axes.widened(x.0, x.1)
        (ylo, yhi) = Axes.widened(y.0, y.1)
    }

    /// A range with room in it: a zero (or reversed) range around v becomes
    /// v -/+ max(0.5, |v| * 1e-6), at least one ulp each side and clamped to the finite
    /// doubles, so that 1e16 (where v + 0.5 == v) still maps to pixels.
    public static func widened(_ lo: Double, _ hi: Double) -> (Double, Double) {
        guard !(hi > lo), lo.isFinite else { return (lo, hi) }
        let pad = max(0.5, abs(lo) * 1e-6)
        let a = max(min(lo - pad, lo.nextDown), -Double.greatestFiniteMagnitude)
        let b = min(max(lo + pad, lo.nextUp), Double.greatestFiniteMagnitude)
        return (a, b)
    }

    /// Errors unless both data ranges are finite with a finite, positive width: values
    /// such as 1e308 and -1e308 are finite but their span overflows, which would draw
    /// nothing. `x` and `y` name the data for the message.
    public func check(x: String, y: String) throws(ImagingError) {
        for (lo, hi, what) in [(xlo, xhi, x), (ylo, yhi, y)] where !(lo.isFinite && hi.isFinite && (hi - lo).isFinite && hi > lo) {
            throw ImagingError("\(what) span more than a figure can show (from \(lo) to \(hi), a width that overflows a double)")
        }
    }

    /// Pixel column of a data x.
    public func px(_ v: Double) -> Double { left + (v - xlo) / (xhi - xlo) * plotWidth }
    /// Pixel row of a data y.
    public func py(_ v: Double) -> Double { top + (1 - (v - ylo) / (yhi - ylo)) * plotHeight }

    /// A data range padded by 5% on each side (matplotlib's margins), NaN-free.
    public static func padded(_ values: [Double], includeZero: Bool = false) -> (Double, Double) {
        var finite = values.filter(\.isFinite)
        if includeZero { finite.append(0) }
        var lo = finite.min() ?? 0, hi = finite.max() ?? 1
        (lo, hi) = widened(lo, hi)
        let pad = (hi - lo) * 0.05
        if includeZero && lo == 0 { return (0, hi + pad) }
        if includeZero && hi == 0 { return (lo - pad, 0) }
        return (lo - pad, hi + pad)
    }

    /// Title, horizontal grid lines with y tick labels, and the axis labels.
    public func drawBackground(_ c: Canvas, width: Int, height: Int, title: String, xLabel: String, yLabel: String) {
        if !title.isEmpty { c.text(c.ellipsized(title, maxWidth: Double(width) - 16, size: 14, bold: true), Double(width) / 2, 22, size: 14, bold: true) }
        let ticks = Ticks.nice(ylo, yhi)
        for (t, text) in zip(ticks, Ticks.labels(ticks)) {
            let y = py(t).rounded() + 0.5
            c.line(left, y, left + plotWidth, y, .grid)
            c.textCentred(text, left - 6, py(t), size: 11, anchor: .end)
        }
        if !xLabel.isEmpty { c.text(xLabel, left + plotWidth / 2, Double(height) - 10, size: 12) }
        if !yLabel.isEmpty { c.text(yLabel, 16, top + plotHeight / 2, size: 12, rotate: true) }
    }

    /// Numeric x ticks below the plot.
    public func drawXTicks(_ c: Canvas, target: Int = 6) {
        let ticks = Ticks.nice(xlo, xhi, target: target)
        for (t, text) in zip(ticks, Ticks.labels(ticks)) {
            let x = px(t).rounded() + 0.5
            c.line(x, top + plotHeight, x, top + plotHeight + 5, .black)
            c.text(text, px(t), top + plotHeight + 18, size: 11)
        }
    }

    /// The 1 px black frame around the plot rectangle (drawn last, over the data).
    public func drawFrame(_ c: Canvas) {
        c.strokeRect(left + 0.5, top + 0.5, plotWidth - 1, plotHeight - 1, .black)
    }

    /// Clips drawing to the plot rectangle until `c.unclip()`.
    public func clip(_ c: Canvas) { c.clip(left, top, plotWidth, plotHeight) }

    /// A legend box in the top right corner of the plot: one swatch per named entry.
    public func drawLegend(_ c: Canvas, _ entries: [(name: String, color: Color, kind: LegendKind)]) {
        let named = entries.filter { !$0.name.isEmpty }
        guard !named.isEmpty else { return }
        let textWidth = named.map { c.textWidth($0.name, size: 11) }.max() ?? 0
        let w = 30 + textWidth, h = Double(named.count) * 18 + 6
        let x = left + plotWidth - w - 8, y = top + 8
        c.fillRect(x, y, w, h, .white, alpha: 0.85)
        c.strokeRect(x + 0.5, y + 0.5, w, h, .gray)
        for (row, e) in named.enumerated() {
            let cy = y + 12 + Double(row) * 18
            switch e.kind {
            case .line(let dashed): c.line(x + 5, cy, x + 21, cy, e.color, width: 2, dash: dashed ? [6, 4] : [])
            case .box: c.fillRect(x + 6, cy - 5, 14, 10, e.color)
            case .dot: c.circle(x + 13, cy, radius: 4, e.color)
            }
            c.textCentred(e.name, x + 25, cy, size: 11, anchor: .start)
        }
    }

    /// What a legend entry shows.
    public enum LegendKind { case line(dashed: Bool), box, dot }
}
