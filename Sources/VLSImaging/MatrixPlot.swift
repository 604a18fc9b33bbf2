import Foundation

/// An SVG heatmap of a matrix (rank matrices, attention patterns, agreement tables).
///
/// Cells are coloured by a colour map over [vmin, vmax] (data range by default); row and
/// column labels, a title, an optional value printed in each cell, and a vertical colour
/// bar with its range on the right.
public struct MatrixPlot: Sendable {
    /// Row-major values, rows x cols.
    public var values: [Double]
    /// Number of rows.
    public var rows: Int
    /// Number of columns.
    public var cols: Int
    /// Labels down the left side (empty for none).
    public var rowLabels: [String]
    /// Labels along the bottom (empty for none).
    public var colLabels: [String]
    /// Title above the matrix.
    public var title: String
    /// Colour map.
    public var colormap: Colormap
    /// Colour range; the finite data range when nil.
    public var range: (Double, Double)?
    /// Print each value inside its cell.
    public var annotate: Bool
    /// Side of one cell in pixels.
    public var cellSize: Int

    /// Creates a matrix plot.
    public init(values: [Double], rows: Int, cols: Int, rowLabels: [String] = [], colLabels: [String] = [],
                title: String = "", colormap: Colormap = .viridis, range: (Double, Double)? = nil,
                annotate: Bool = false, cellSize: Int = 28) {
        self.values = values
        self.rows = rows
        self.cols = cols
        self.rowLabels = rowLabels
        self.colLabels = colLabels
        self.title = title
        self.colormap = colormap
        self.range = range
        self.annotate = annotate
        self.cellSize = cellSize
    }

    /// Renders the SVG document.
    public func svg() throws(ImagingError) -> String {
        guard rows > 0, cols > 0, values.count == rows * cols else {
            throw ImagingError("matrix plot has \(values.count) values, expected \(rows)x\(cols)")
        }
        guard rowLabels.isEmpty || rowLabels.count == rows, colLabels.isEmpty || colLabels.count == cols else {
            throw ImagingError("matrix plot needs \(rows) row labels and \(cols) column labels, got \(rowLabels.count) and \(colLabels.count)")
        }
        guard cellSize > 0, rows * cellSize <= 20000, cols * cellSize <= 20000 else {
            throw ImagingError("matrix plot of \(rows)x\(cols) cells of \(cellSize) px is too large")
        }
        let finite = values.filter(\.isFinite)
        var (lo, hi) = range ?? (finite.min() ?? 0, finite.max() ?? 1)
        if hi <= lo { hi = lo + 1 }
        let cell = Double(cellSize)
        let left = 12.0 + 7.0 * Double(rowLabels.map(\.count).max() ?? 0)
        let top = title.isEmpty ? 12.0 : 36.0
        let bottom = colLabels.isEmpty ? 12.0 : 16.0 + 6.5 * Double(colLabels.map(\.count).max() ?? 0)
        let barWidth = 16.0, barGap = 16.0, barLabels = 56.0
        let mw = cell * Double(cols), mh = cell * Double(rows)
        let width = Int((left + mw + barGap + barWidth + barLabels).rounded(.up))
        let height = Int((top + mh + bottom).rounded(.up))

        var out = SVG.header(width: width, height: height)
        if !title.isEmpty { out += SVG.text(title, x: left + mw / 2, y: 22, size: 14, weight: "bold") }
        for r in 0..<rows {
            for c in 0..<cols {
                let v = values[r * cols + c]
                let t = Float((v - lo) / (hi - lo))
                let fill = v.isFinite ? colormap.hex(t) : "#ffffff"
                let x = left + Double(c) * cell, y = top + Double(r) * cell
                out += "<rect x=\"\(SVG.num(x))\" y=\"\(SVG.num(y))\" width=\"\(SVG.num(cell))\" height=\"\(SVG.num(cell))\" fill=\"\(fill)\"><title>\(SVG.escape(label(r, c, v)))</title></rect>\n"
                if annotate && v.isFinite {
                    let light = MatrixPlot.isDark(colormap.color(t))
                    out += "<text x=\"\(SVG.num(x + cell / 2))\" y=\"\(SVG.num(y + cell / 2 + 4))\" text-anchor=\"middle\" font-size=\"\(max(7, cellSize / 3))\" fill=\"\(light ? "white" : "black")\">\(SVG.escape(SVG.label(v)))</text>\n"
                }
            }
        }
        out += "<rect x=\"\(SVG.num(left))\" y=\"\(SVG.num(top))\" width=\"\(SVG.num(mw))\" height=\"\(SVG.num(mh))\" fill=\"none\" stroke=\"black\"/>\n"
        for (r, name) in rowLabels.enumerated() {
            out += SVG.text(name, x: left - 6, y: top + (Double(r) + 0.5) * cell + 4, anchor: "end", size: 11)
        }
        for (c, name) in colLabels.enumerated() {
            let x = left + (Double(c) + 0.5) * cell + 4, y = top + mh + 8
            out += "<text x=\"\(SVG.num(x))\" y=\"\(SVG.num(y))\" text-anchor=\"end\" font-size=\"11\" transform=\"rotate(-90 \(SVG.num(x)) \(SVG.num(y)))\">\(SVG.escape(name))</text>\n"
        }
        // Colour bar: a vertical gradient with the range at its ends.
        let bx = left + mw + barGap
        out += "<defs><linearGradient id=\"colorbar\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n"
        for i in 0...10 {
            let t = Float(i) / 10
            out += "<stop offset=\"\(SVG.num(Double(t)))\" stop-color=\"\(colormap.hex(t))\"/>\n"
        }
        out += "</linearGradient></defs>\n"
        out += "<rect x=\"\(SVG.num(bx))\" y=\"\(SVG.num(top))\" width=\"\(SVG.num(barWidth))\" height=\"\(SVG.num(mh))\" fill=\"url(#colorbar)\" stroke=\"black\"/>\n"
        out += SVG.text(SVG.label(hi), x: bx + barWidth + 4, y: top + 10, anchor: "start", size: 11)
        out += SVG.text(SVG.label(lo), x: bx + barWidth + 4, y: top + mh, anchor: "start", size: 11)
        out += "</svg>\n"
        return out
    }

    /// Hover text of a cell.
    private func label(_ r: Int, _ c: Int, _ v: Double) -> String {
        let rn = rowLabels.isEmpty ? "\(r)" : rowLabels[r]
        let cn = colLabels.isEmpty ? "\(c)" : colLabels[c]
        return "\(rn), \(cn): \(SVG.label(v))"
    }

    /// Whether a colour is dark enough to need white text.
    static func isDark(_ c: (r: UInt8, g: UInt8, b: UInt8)) -> Bool {
        0.299 * Double(c.r) + 0.587 * Double(c.g) + 0.114 * Double(c.b) < 128
    }
}
