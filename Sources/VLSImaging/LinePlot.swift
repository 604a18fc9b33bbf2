/// An SVG line plot: several series over a shared x axis, optional confidence bands.
///
/// Used for per-block curves (identifiability, accuracy, perturbation curves). Non-finite
/// points break a line. Axis ranges cover every series and band; ticks are "nice" numbers.
public struct LinePlot: Sendable {
    /// One line, with an optional band (lower and upper, same length as `y`).
    public struct Series: Sendable {
        /// Legend name.
        public var name: String
        /// Values, one per x.
        public var y: [Double]
        /// Lower edge of the confidence band.
        public var lower: [Double]?
        /// Upper edge of the confidence band.
        public var upper: [Double]?
        /// CSS colour; the tab10 palette by position when nil.
        public var color: String?
        /// Dashed line.
        public var dashed: Bool

        /// Creates a series.
        public init(name: String, y: [Double], lower: [Double]? = nil, upper: [Double]? = nil,
                    color: String? = nil, dashed: Bool = false) {
            self.name = name
            self.y = y
            self.lower = lower
            self.upper = upper
            self.color = color
            self.dashed = dashed
        }
    }

    /// x values shared by every series.
    public var x: [Double]
    /// The lines.
    public var series: [Series]
    /// Title above the plot.
    public var title: String
    /// x axis label.
    public var xLabel: String
    /// y axis label.
    public var yLabel: String
    /// Fixed y range; computed from the data when nil.
    public var yRange: (Double, Double)?
    /// Size in pixels.
    public var width: Int
    /// Size in pixels.
    public var height: Int

    /// Creates a plot.
    public init(x: [Double], series: [Series], title: String = "", xLabel: String = "", yLabel: String = "",
                yRange: (Double, Double)? = nil, width: Int = 640, height: Int = 400) {
        self.x = x
        self.series = series
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.yRange = yRange
        self.width = width
        self.height = height
    }

    /// Checks that every series (and band) has one value per x.
    public func validate() throws(ImagingError) {
        guard !x.isEmpty else { throw ImagingError("line plot needs at least one x value") }
        for s in series {
            for (what, values) in [("y", s.y), ("lower", s.lower ?? s.y), ("upper", s.upper ?? s.y)] where values.count != x.count {
                throw ImagingError("series '\(s.name)' has \(values.count) \(what) values for \(x.count) x values")
            }
        }
    }

    /// Renders the SVG document.
    public func svg() throws(ImagingError) -> String {
        try validate()
        let left = 64.0, right = 16.0, top = title.isEmpty ? 16.0 : 36.0, bottom = 48.0
        let pw = Double(width) - left - right
        let ph = Double(height) - top - bottom
        let finiteX = x.filter(\.isFinite)
        var xlo = finiteX.min() ?? 0, xhi = finiteX.max() ?? 1
        if xhi <= xlo { xlo -= 0.5; xhi += 0.5 }
        var ylo: Double, yhi: Double
        if let r = yRange {
            (ylo, yhi) = r
        } else {
            let all = series.flatMap { $0.y + ($0.lower ?? []) + ($0.upper ?? []) }.filter(\.isFinite)
            ylo = all.min() ?? 0
            yhi = all.max() ?? 1
            let pad = (yhi - ylo) * 0.05
            ylo -= pad
            yhi += pad
        }
        if yhi <= ylo { ylo -= 0.5; yhi += 0.5 }
        let sx = { (v: Double) in left + (v - xlo) / (xhi - xlo) * pw }
        let sy = { (v: Double) in top + (1 - (v - ylo) / (yhi - ylo)) * ph }

        var out = SVG.header(width: width, height: height)
        if !title.isEmpty { out += SVG.text(title, x: Double(width) / 2, y: 22, size: 14, weight: "bold") }
        // Grid and ticks.
        for t in SVG.ticks(ylo, yhi) {
            let y = sy(t)
            out += "<line x1=\"\(SVG.num(left))\" y1=\"\(SVG.num(y))\" x2=\"\(SVG.num(left + pw))\" y2=\"\(SVG.num(y))\" stroke=\"#e0e0e0\"/>\n"
            out += SVG.text(SVG.label(t), x: left - 6, y: y + 4, anchor: "end", size: 11)
        }
        for t in SVG.ticks(xlo, xhi, target: min(max(x.count, 2), 10)) {
            let xx = sx(t)
            out += "<line x1=\"\(SVG.num(xx))\" y1=\"\(SVG.num(top + ph))\" x2=\"\(SVG.num(xx))\" y2=\"\(SVG.num(top + ph + 5))\" stroke=\"black\"/>\n"
            out += SVG.text(SVG.label(t), x: xx, y: top + ph + 18, size: 11)
        }
        out += "<rect x=\"\(SVG.num(left))\" y=\"\(SVG.num(top))\" width=\"\(SVG.num(pw))\" height=\"\(SVG.num(ph))\" fill=\"none\" stroke=\"black\"/>\n"
        if !xLabel.isEmpty { out += SVG.text(xLabel, x: left + pw / 2, y: Double(height) - 10) }
        if !yLabel.isEmpty { out += SVG.text(yLabel, x: 16, y: top + ph / 2, rotate: true) }

        // Bands, then lines, clipped to the plot area.
        out += "<clipPath id=\"plot-area\"><rect x=\"\(SVG.num(left))\" y=\"\(SVG.num(top))\" width=\"\(SVG.num(pw))\" height=\"\(SVG.num(ph))\"/></clipPath>\n"
        out += "<g clip-path=\"url(#plot-area)\">\n"
        for (i, s) in series.enumerated() {
            let color = SVG.escape(s.color ?? SVG.palette[i % SVG.palette.count])
            if let lower = s.lower, let upper = s.upper {
                let idx = x.indices.filter { x[$0].isFinite && lower[$0].isFinite && upper[$0].isFinite }
                if idx.count >= 2 {
                    let pts = idx.map { "\(SVG.num(sx(x[$0]))),\(SVG.num(sy(upper[$0])))" }
                        + idx.reversed().map { "\(SVG.num(sx(x[$0]))),\(SVG.num(sy(lower[$0])))" }
                    out += "<polygon points=\"\(pts.joined(separator: " "))\" fill=\"\(color)\" fill-opacity=\"0.2\" stroke=\"none\"/>\n"
                }
            }
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            for run in LinePlot.runs(x: x, y: s.y) {
                let pts = run.map { "\(SVG.num(sx(x[$0]))),\(SVG.num(sy(s.y[$0])))" }.joined(separator: " ")
                if run.count == 1 {
                    out += "<circle cx=\"\(SVG.num(sx(x[run[0]])))\" cy=\"\(SVG.num(sy(s.y[run[0]])))\" r=\"2.5\" fill=\"\(color)\"/>\n"
                } else {
                    out += "<polyline points=\"\(pts)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>\n"
                }
            }
        }
        out += "</g>\n"
        // Legend (top right, inside the plot).
        let named = series.enumerated().filter { !$0.element.name.isEmpty }
        if !named.isEmpty {
            let lw = 24.0 + 7.0 * Double(named.map(\.element.name.count).max() ?? 0)
            let lx = left + pw - lw - 8
            out += "<rect x=\"\(SVG.num(lx))\" y=\"\(SVG.num(top + 8))\" width=\"\(SVG.num(lw))\" height=\"\(SVG.num(Double(named.count) * 18 + 6))\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#999\"/>\n"
            for (row, (i, s)) in named.enumerated() {
                let color = SVG.escape(s.color ?? SVG.palette[i % SVG.palette.count])
                let y = top + 20 + Double(row) * 18
                out += "<line x1=\"\(SVG.num(lx + 4))\" y1=\"\(SVG.num(y - 4))\" x2=\"\(SVG.num(lx + 18))\" y2=\"\(SVG.num(y - 4))\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
                out += SVG.text(s.name, x: lx + 22, y: y, anchor: "start", size: 11)
            }
        }
        out += "</svg>\n"
        return out
    }

    /// Index runs where both x and y are finite (a NaN breaks the line).
    static func runs(x: [Double], y: [Double]) -> [[Int]] {
        var runs: [[Int]] = []
        var current: [Int] = []
        for i in x.indices {
            if x[i].isFinite && y[i].isFinite {
                current.append(i)
            } else if !current.isEmpty {
                runs.append(current)
                current = []
            }
        }
        if !current.isEmpty { runs.append(current) }
        return runs
    }
}
