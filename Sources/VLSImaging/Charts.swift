import Foundation

/// A histogram: counts of values in equal-width bins, as `numpy.histogram`.
public struct Histogram: Figure, Sendable {
    /// The counts per bin.
    public let counts: [Int]
    /// The bin edges (`bins + 1`), as `numpy.linspace(lo, hi, bins + 1)`.
    public let edges: [Double]
    public var title: String, xLabel: String, yLabel: String
    public var color: Color
    public var width: Int, height: Int

    /// Bins `values` as `numpy.histogram(values, bins, range)`: the range defaults to the
    /// data's (widened by 0.5 each side when all values are equal); values outside the range
    /// are not counted; every bin is half-open except the last, which includes its right edge.
    /// Non-finite values are an error (numpy refuses them without a range and drops NaN
    /// silently with one). `float32` says the values are a float32 array's (each exactly a
    /// Float): numpy then computes the edges and bin indices in float32 (`bin`), which puts
    /// values near an edge in other bins than float64 arithmetic would.
    public init(values: [Double], bins: Int, range: (Double, Double)? = nil, float32: Bool = false, title: String = "",
                xLabel: String = "", yLabel: String = "count", color: Color = Color.series(0),
                width: Int = 640, height: Int = 400) throws(ImagingError) {
        guard bins >= 1, bins <= 10_000 else { throw ImagingError("histogram bins must be 1...10000, got \(bins)") }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw ImagingError("histogram values must be finite; value \(bad) is \(values[bad])")
        }
        var lo: Double, hi: Double
        if let r = range {
            guard r.0.isFinite, r.1.isFinite, r.0 <= r.1 else {
                throw ImagingError("histogram range must be two finite numbers, low <= high, got (\(r.0), \(r.1))")
            }
            (lo, hi) = r
        } else {
            lo = values.min() ?? 0
            hi = values.max() ?? 1
        }
        // numpy widens a float32 array's own (float32) range in float32, a given range in float64.
        if lo == hi {
            if float32 && range == nil { lo = Double(Float(lo) - 0.5); hi = Double(Float(hi) + 0.5) } else { lo -= 0.5; hi += 0.5 }
        }
        guard (hi - lo).isFinite, !float32 || (Float(hi) - Float(lo)).isFinite else {
            throw ImagingError("histogram range (\(lo), \(hi)) is too wide: its width overflows")
        }
        let (counts, edges) = float32
            ? Histogram.binFloat32(values.map { Float($0) }, bins: bins, lo: lo, hi: hi, rangeGiven: range != nil)
            : Histogram.bin(values, bins: bins, lo: lo, hi: hi)
        // numpy refuses bins that round to nothing ("Too many bins for data range").
        if let i = edges.indices.dropLast().first(where: { edges[$0] >= edges[$0 + 1] }) {
            throw ImagingError("too many bins for the range (\(lo), \(hi)): bin \(i) has no width; use fewer bins")
        }
        self.counts = counts
        self.edges = edges
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.color = color
        self.width = width; self.height = height
    }

    /// numpy's fast path for uniform bins (`numpy/lib/_histograms_impl.py`): the index
    /// `(v - lo) / (hi - lo) * bins` truncated, the last edge folded into the last
    /// bin, then corrected by one against the computed edges (rounding at an edge).
    static func bin(_ values: [Double], bins: Int, lo: Double, hi: Double) -> ([Int], [Double]) {
        // np.linspace(lo, hi, bins + 1): i * step + lo, the last edge exactly hi.
        let step = (hi - lo) / Double(bins)
        var edges = (0...bins).map { Double($0) * step + lo }
        edges[bins] = hi
        var counts = [Int](repeating: 0, count: bins)
        let denom = hi - lo
        for v in values where v >= lo && v <= hi {
            var i = Int((v - lo) / denom * Double(bins))
            if i == bins { i -= 1 }
            if v < edges[i] { i -= 1 }
            if i != bins - 1 && v >= edges[i + 1] { i += 1 }
            counts[i] += 1
        }
        return (counts, edges)
    }

    /// numpy's fast path for a float32 array (numpy 2, NEP 50 promotion): the edges are
    /// `linspace(..., dtype=float32)` and the values are compared with them in float32.
    /// Without a range, the range is the array's own float32 min and max, so the edges
    /// (`arange * step + lo`) and the index `(v - lo) / (hi - lo) * bins` are float32
    /// arithmetic throughout. With a range (Python floats), linspace computes in float64 and
    /// rounds to float32, `v - lo` is float32 (lo rounded to float32) but the division by the
    /// float64 width `hi - lo` promotes the index to float64; the in-range test compares
    /// with lo and hi rounded to float32.
    static func binFloat32(_ values: [Float], bins: Int, lo: Double, hi: Double, rangeGiven: Bool) -> ([Int], [Double]) {
        let flo = Float(lo), fhi = Float(hi)
        var edges: [Float]
        if rangeGiven {
            let step = (hi - lo) / Double(bins)
            edges = (0...bins).map { Float(step == 0 ? Double($0) / Double(bins) * (hi - lo) + lo : Double($0) * step + lo) }
        } else {
            let delta = fhi - flo, step = delta / Float(bins)
            edges = (0...bins).map { step == 0 ? Float($0) / Float(bins) * delta + flo : Float($0) * step + flo }
        }
        edges[bins] = fhi
        var counts = [Int](repeating: 0, count: bins)
        let fdenom = fhi - flo, ddenom = hi - lo
        for v in values where v >= flo && v <= fhi {
            let f: Double = rangeGiven ? Double(v - flo) / ddenom * Double(bins) : Double((v - flo) / fdenom * Float(bins))
            var i = Int(f)
            if i == bins { i -= 1 }
            if v < edges[i] { i -= 1 }
            if i != bins - 1 && v >= edges[i + 1] { i += 1 }
            counts[i] += 1
        }
        return (counts, edges.map(Double.init))
    }

    public func validate() throws(ImagingError) { try axes().check(x: "histogram edges", y: "histogram counts") }

    /// The axes: x over the edges, y from 0 to the largest count plus 5%.
    public func axes() -> Axes {
        Axes(width: width, height: height, title: title, x: (edges[0], edges[edges.count - 1]),
             y: (0, Double(max(counts.max() ?? 1, 1)) * 1.05))
    }

    /// One bar per bin, edges outlined in white.
    public func draw(_ c: Canvas) {
        let ax = axes()
        ax.drawBackground(c, width: width, height: height, title: title, xLabel: xLabel, yLabel: yLabel)
        ax.drawXTicks(c)
        ax.clip(c)
        for (i, n) in counts.enumerated() where n > 0 {
            let x0 = ax.px(edges[i]), x1 = ax.px(edges[i + 1]), y = ax.py(Double(n))
            c.fillRect(x0, y, x1 - x0, ax.py(0) - y, color)
        }
        for (i, n) in counts.enumerated() where n > 0 && counts.count <= 200 {
            let x = ax.px(edges[i])
            if i > 0 { c.line(x, ax.py(Double(n)), x, ax.py(0), .white, width: 1) }
        }
        c.unclip()
        ax.drawFrame(c)
    }
}

/// A bar chart: one group of bars per label, one bar per series, optional error bars.
public struct BarChart: Figure, Sendable {
    /// One series: a value per label, optional symmetric errors.
    public struct Series: Sendable {
        public var name: String
        public var values: [Double]
        public var errors: [Double]?
        public init(name: String, values: [Double], errors: [Double]? = nil) {
            self.name = name; self.values = values; self.errors = errors
        }
    }
    public var labels: [String]
    public var series: [Series]
    public var title: String, xLabel: String, yLabel: String
    public var width: Int, height: Int

    public init(labels: [String], series: [Series], title: String = "", xLabel: String = "", yLabel: String = "",
                width: Int = 640, height: Int = 400) {
        self.labels = labels; self.series = series; self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
        self.width = width; self.height = height
    }

    public func validate() throws(ImagingError) {
        guard !labels.isEmpty else { throw ImagingError("bar chart needs at least one label") }
        guard !series.isEmpty else { throw ImagingError("bar chart needs at least one series of values") }
        guard labels.count <= 1000, series.count <= 50 else { throw ImagingError("bar chart of \(labels.count) labels x \(series.count) series is too large (1000 x 50 at most)") }
        for s in series {
            guard s.values.count == labels.count else {
                throw ImagingError("bar series '\(s.name)' has \(s.values.count) values for \(labels.count) labels")
            }
            if let bad = s.values.firstIndex(where: { !$0.isFinite }) {
                throw ImagingError("bar series '\(s.name)': value \(bad) (\(labels[bad])) is \(s.values[bad])")
            }
            if let e = s.errors {
                guard e.count == labels.count else {
                    throw ImagingError("bar series '\(s.name)' has \(e.count) errors for \(labels.count) labels")
                }
                if let bad = e.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
                    throw ImagingError("bar series '\(s.name)': error \(bad) (\(labels[bad])) must be a finite number >= 0, got \(e[bad])")
                }
            }
        }
        try axes().check(x: "bar labels", y: "bar values (with their error bars)")
    }

    /// The axes: label i is centred on x = i; y covers 0, every bar and error bar.
    public func axes() -> Axes {
        let ys = series.flatMap { s in s.values.indices.flatMap { i -> [Double] in
            let e = s.errors?[i] ?? 0
            return [s.values[i] - e, s.values[i] + e]
        } }
        return Axes(width: width, height: height, title: title, x: (-0.5, Double(labels.count) - 0.5), y: Axes.padded(ys, includeZero: true))
    }

    /// The bar of series s at label i: left, right, and the top (value) pixel.
    public func bar(_ s: Int, _ i: Int) -> (x0: Double, x1: Double, y: Double) {
        let ax = axes()
        let groupWidth = 0.8, w = groupWidth / Double(series.count)
        let x0 = Double(i) - groupWidth / 2 + Double(s) * w
        return (ax.px(x0), ax.px(x0 + w), ax.py(series[s].values[i]))
    }

    public func draw(_ c: Canvas) {
        let ax = axes()
        ax.drawBackground(c, width: width, height: height, title: title, xLabel: xLabel, yLabel: yLabel)
        // Category labels under their groups (every k-th when they would overlap).
        let every = max(1, Int((Double(labels.map(\.count).max() ?? 1) * 7 + 6) / (ax.plotWidth / Double(labels.count))) + 1)
        for (i, name) in labels.enumerated() where i % every == 0 {
            c.line(ax.px(Double(i)).rounded() + 0.5, ax.top + ax.plotHeight, ax.px(Double(i)).rounded() + 0.5, ax.top + ax.plotHeight + 5, .black)
            c.text(name, ax.px(Double(i)), ax.top + ax.plotHeight + 18, size: 11)
        }
        ax.clip(c)
        let zero = ax.py(0)
        for (s, series) in series.enumerated() {
            for i in labels.indices {
                let b = bar(s, i)
                c.fillRect(b.x0, min(b.y, zero), b.x1 - b.x0, abs(zero - b.y), Color.series(s))
            }
        }
        if ax.ylo < 0 { c.line(ax.left, zero.rounded() + 0.5, ax.left + ax.plotWidth, zero.rounded() + 0.5, .black) }
        for (s, series) in series.enumerated() {
            guard let errors = series.errors else { continue }
            for i in labels.indices where errors[i] > 0 {
                let b = bar(s, i)
                let x = (b.x0 + b.x1) / 2, cap = min(6, (b.x1 - b.x0) / 4)
                let y0 = ax.py(series.values[i] - errors[i]), y1 = ax.py(series.values[i] + errors[i])
                c.line(x, y0, x, y1, .black, width: 1.5)
                c.line(x - cap, y0, x + cap, y0, .black, width: 1.5)
                c.line(x - cap, y1, x + cap, y1, .black, width: 1.5)
            }
        }
        c.unclip()
        ax.drawFrame(c)
        if series.count > 1 || !series[0].name.isEmpty {
            ax.drawLegend(c, series.enumerated().map { (s, v) in (v.name, Color.series(s), .box) })
        }
    }
}

/// A scatter plot: one disc per (x, y) point, coloured by group.
public struct ScatterPlot: Figure, Sendable {
    public var x: [Double], y: [Double]
    /// A group name per point (empty: one group); groups get palette colours and a legend.
    public var groups: [String]
    public var title: String, xLabel: String, yLabel: String
    /// Disc radius in pixels.
    public var radius: Double
    public var width: Int, height: Int

    public init(x: [Double], y: [Double], groups: [String] = [], title: String = "", xLabel: String = "", yLabel: String = "",
                radius: Double = 3, width: Int = 640, height: Int = 400) {
        self.x = x; self.y = y; self.groups = groups; self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
        self.radius = radius; self.width = width; self.height = height
    }

    public func validate() throws(ImagingError) {
        guard !x.isEmpty else { throw ImagingError("scatter plot needs at least one point") }
        guard x.count == y.count else { throw ImagingError("scatter plot has \(x.count) x values and \(y.count) y values") }
        guard groups.isEmpty || groups.count == x.count else {
            throw ImagingError("scatter plot has \(groups.count) group names for \(x.count) points")
        }
        guard radius > 0, radius <= 50 else { throw ImagingError("scatter point size must be in (0, 50] pixels, got \(radius)") }
        if let bad = x.indices.first(where: { !x[$0].isFinite || !y[$0].isFinite }) {
            throw ImagingError("scatter point \(bad) is (\(x[bad]), \(y[bad])); points must be finite")
        }
        try axes().check(x: "scatter x values", y: "scatter y values")
    }

    /// The axes: both ranges padded by 5%.
    public func axes() -> Axes {
        Axes(width: width, height: height, title: title, x: Axes.padded(x), y: Axes.padded(y))
    }

    /// Group names in order of first appearance.
    var groupNames: [String] {
        var seen: [String] = []
        for g in groups where !seen.contains(g) { seen.append(g) }
        return seen
    }

    public func draw(_ c: Canvas) {
        let ax = axes()
        ax.drawBackground(c, width: width, height: height, title: title, xLabel: xLabel, yLabel: yLabel)
        ax.drawXTicks(c)
        ax.clip(c)
        let names = groupNames
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        for i in x.indices {
            let color = groups.isEmpty ? Color.series(0) : Color.series(index[groups[i]] ?? 0)
            c.circle(ax.px(x[i]), ax.py(y[i]), radius: radius, color, alpha: 0.8)
        }
        c.unclip()
        ax.drawFrame(c)
        if names.count > 1 || names.first.map({ !$0.isEmpty }) == true {
            ax.drawLegend(c, names.enumerated().map { ($1, Color.series($0), .dot) })
        }
    }
}
