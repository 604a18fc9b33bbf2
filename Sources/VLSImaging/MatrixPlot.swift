import Foundation

/// A matrix as a coloured grid (rank matrices, attention patterns, agreement tables).
///
/// Cells are coloured by a colour map over [vmin, vmax] (data range by default); row and
/// column labels, a title, an optional value printed in each cell, and a vertical colour
/// bar with its range on the right.
public struct MatrixPlot: Figure, Sendable {
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

    /// Checks the shape, labels and cell size.
    public func validate() throws(ImagingError) {
        guard rows > 0, cols > 0, values.count == rows * cols else {
            throw ImagingError("matrix plot has \(values.count) values, expected \(rows)x\(cols)")
        }
        guard rowLabels.isEmpty || rowLabels.count == rows, colLabels.isEmpty || colLabels.count == cols else {
            throw ImagingError("matrix plot needs \(rows) row labels and \(cols) column labels, got \(rowLabels.count) and \(colLabels.count)")
        }
        guard cellSize > 0, rows * cellSize <= 7000, cols * cellSize <= 7000 else {
            throw ImagingError("matrix plot of \(rows)x\(cols) cells of \(cellSize) px is too large (at most 7000 px a side)")
        }
        if let (lo, hi) = range, !(lo.isFinite && hi.isFinite && hi >= lo) {
            throw ImagingError("matrix plot range must be two finite numbers, low <= high, got (\(lo), \(hi))")
        }
    }

    /// Layout: the matrix's top left corner, and the colour range.
    var layout: (left: Double, top: Double, lo: Double, hi: Double) {
        let finite = values.filter(\.isFinite)
        var (lo, hi) = range ?? (finite.min() ?? 0, finite.max() ?? 1)
        if hi <= lo { hi = lo + 1 }
        let left = (12.0 + 6.5 * Double(rowLabels.map(\.count).max() ?? 0)).rounded()
        let top = title.isEmpty ? 12.0 : 36.0
        return (left, top, lo, hi)
    }

    /// The widest a title makes the figure (pixels).
    public static let maxTitleWidth = 1600

    /// Matrix, labels and colour bar.
    public var width: Int {
        // Room for the title too (DejaVu Sans Bold 14 px averages under 10 px a character),
        // up to maxTitleWidth: a longer title is ellipsized, not a 20000 px figure.
        max(Int(layout.left) + cols * cellSize + 16 + 16 + 56, min(title.count * 10 + 24, MatrixPlot.maxTitleWidth))
    }
    public var height: Int {
        let bottom = colLabels.isEmpty ? 12.0 : 16.0 + 6.5 * Double(colLabels.map(\.count).max() ?? 0)
        return Int((layout.top + Double(rows * cellSize) + bottom).rounded(.up))
    }

    /// The pixel rectangle of cell (r, c): x, y, side.
    public func cellRect(_ r: Int, _ c: Int) -> (x: Double, y: Double, side: Double) {
        let l = layout
        return (l.left + Double(c * cellSize), l.top + Double(r * cellSize), Double(cellSize))
    }

    /// Cells (NaN white), optional values, frame, row and column labels, colour bar.
    public func draw(_ c: Canvas) {
        let (left, top, lo, hi) = layout
        let cell = Double(cellSize)
        let mw = cell * Double(cols), mh = cell * Double(rows)
        if !title.isEmpty {
            // Centred over the matrix when it fits there, else over the figure.
            let w = Double(width)
            let title = c.ellipsized(self.title, maxWidth: w - 16, size: 14, bold: true)
            let tw = c.textWidth(title, size: 14, bold: true)
            let x = left + mw / 2 - tw / 2 >= 8 && left + mw / 2 + tw / 2 <= w - 8 ? left + mw / 2 : w / 2
            c.text(title, x, 22, size: 14, bold: true)
        }
        for r in 0..<rows {
            for col in 0..<cols {
                let v = values[r * cols + col]
                let t = Float((v - lo) / (hi - lo))
                let x = left + Double(col) * cell, y = top + Double(r) * cell
                c.fillRect(x, y, cell, cell, v.isFinite ? Color(bytes: colormap.color(t)) : .white)
                if annotate && v.isFinite {
                    let light = MatrixPlot.isDark(colormap.color(t))
                    c.textCentred(Ticks.label(v), x + cell / 2, y + cell / 2, size: Double(max(7, cellSize / 3)), color: light ? .white : .black)
                }
            }
        }
        c.strokeRect(left + 0.5, top + 0.5, mw - 1, mh - 1, .black)
        for (r, name) in rowLabels.enumerated() {
            c.textCentred(name, left - 6, top + (Double(r) + 0.5) * cell, size: 11, anchor: .end)
        }
        for (col, name) in colLabels.enumerated() {
            c.text(name, left + (Double(col) + 0.5) * cell + 4, top + mh + 8, size: 11, anchor: .end, rotate: true)
        }
        let bx = left + mw + 16
        c.colorbar(bx, top, 16, mh, colormap)
        c.strokeRect(bx + 0.5, top + 0.5, 15, mh - 1, .black)
        c.text(Ticks.label(hi), bx + 20, top + 10, size: 11, anchor: .start)
        c.text(Ticks.label(lo), bx + 20, top + mh, size: 11, anchor: .start)
    }

    /// Whether a colour is dark enough to need white text.
    static func isDark(_ c: (r: UInt8, g: UInt8, b: UInt8)) -> Bool {
        0.299 * Double(c.r) + 0.587 * Double(c.g) + 0.114 * Double(c.b) < 128
    }
}
