/// A line plot: several series over a shared x axis, optional confidence bands.
///
/// Used for per-block curves (identifiability, accuracy, perturbation curves). Non-finite
/// points break a line. Axis ranges cover every series and band; ticks are "nice" numbers.
public struct LinePlot: Figure, Sendable {
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
        /// Line colour; the tab10 palette by position when nil.
        public var color: Color?
        /// Dashed line.
        public var dashed: Bool

        /// Creates a series.
        public init(name: String, y: [Double], lower: [Double]? = nil, upper: [Double]? = nil,
                    color: Color? = nil, dashed: Bool = false) {
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
        if let (lo, hi) = yRange, !(lo.isFinite && hi.isFinite && hi > lo) {
            throw ImagingError("line plot y range must be two finite numbers, low < high, got (\(lo), \(hi))")
        }
        for s in series {
            for (what, values) in [("y", s.y), ("lower", s.lower ?? s.y), ("upper", s.upper ?? s.y)] where values.count != x.count {
                throw ImagingError("series '\(s.name)' has \(values.count) \(what) values for \(x.count) x values")
            }
        }
        try axes().check(x: "line plot x values", y: "line plot y values (with their bands)")
    }

    /// The axes: x over the data, y over every series and band with a 5% margin.
    public func axes() -> Axes {
        let finiteX = x.filter(\.isFinite)
        let xr = (finiteX.min() ?? 0, finiteX.max() ?? 1)
        let yr = yRange ?? Axes.padded(series.flatMap { $0.y + ($0.lower ?? []) + ($0.upper ?? []) })
        return Axes(width: width, height: height, title: title, x: xr, y: yr)
    }

    /// Draws grid, ticks, bands, lines (a lone finite point as a dot), frame and legend.
    public func draw(_ c: Canvas) {
        let ax = axes()
        ax.drawBackground(c, width: width, height: height, title: title, xLabel: xLabel, yLabel: yLabel)
        ax.drawXTicks(c, target: min(max(x.count, 2), 10))
        ax.clip(c)
        for (i, s) in series.enumerated() {
            let color = s.color ?? Color.series(i)
            if let lower = s.lower, let upper = s.upper {
                let idx = x.indices.filter { x[$0].isFinite && lower[$0].isFinite && upper[$0].isFinite }
                if idx.count >= 2 {
                    let pts = LinePlot.decimated(idx.map { (ax.px(x[$0]), ax.py(upper[$0])) })
                        + LinePlot.decimated(idx.reversed().map { (ax.px(x[$0]), ax.py(lower[$0])) })
                    c.polygon(pts, color, alpha: 0.2)
                }
            }
            for run in LinePlot.runs(x: x, y: s.y) {
                if run.count == 1 {
                    c.circle(ax.px(x[run[0]]), ax.py(s.y[run[0]]), radius: 2.5, color)
                } else {
                    c.polyline(LinePlot.decimated(run.map { (ax.px(x[$0]), ax.py(s.y[$0])) }), color, width: 2, dash: s.dashed ? [6, 4] : [])
                }
            }
        }
        c.unclip()
        ax.drawFrame(c)
        ax.drawLegend(c, series.enumerated().map { (i, s) in (s.name, s.color ?? Color.series(i), .line(dashed: s.dashed)) })
    }

    /// A polyline reduced to what a pixel grid shows: each stretch of consecutive points
    /// in the same pixel column becomes its first, lowest, highest and last point (in their
    /// order), so the stroke covers the same pixels while cairo strokes at most about four
    /// points per column instead of every point (100k points took 28 s, 1M ten minutes).
    /// Short polylines are returned as they are.
    static func decimated(_ points: [(Double, Double)]) -> [(Double, Double)] {
        guard points.count > 2000 else { return points }
        var out: [(Double, Double)] = []
        out.reserveCapacity(4096)
        var start = 0
        while start < points.count {
            let column = points[start].0.rounded(.down)
            var end = start + 1
            var lo = start, hi = start
            while end < points.count, points[end].0.rounded(.down) == column {
                if points[end].1 < points[lo].1 { lo = end }
                if points[end].1 > points[hi].1 { hi = end }
                end += 1
            }
            var keep = [start, lo, hi, end - 1]
            keep.sort()
            var last = -1
            for k in keep where k != last { out.append(points[k]); last = k }
            start = end
        }
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
