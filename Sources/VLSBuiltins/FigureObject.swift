import Foundation
#if canImport(Glibc)
import Glibc
#endif
import VLSCore
import VLSImaging
import VLSLanguage

/// A figure: one drawing (VLSImaging `Figure`: line, matrix, histogram, bar, scatter
/// plots, or an image such as a heatmap overlay) that renders through cairo to PNG and to
/// SVG. Shown inline by the notebook and the REPL; saved by `save(figure, path)`.
final class FigureObject: Displayable, DeclaredObject {
    let figure: any Figure & Sendable
    /// "line", "matrix", "hist", "bar", "scatter" or "heatmap".
    let kind: String
    let caption: String

    /// Where the figure was last saved, for the one-line description on plain pipes.
    var savedPath: String?
    private var cachedImage: Image?

    init(_ figure: any Figure & Sendable, kind: String, caption: String) {
        self.figure = figure; self.kind = kind; self.caption = caption
    }

    var typeName: String { "figure" }
    /// Images (heatmap overlays) are rasters; plots are drawn from data (vector).
    var isRaster: Bool { figure is RasterFigure }

    func describe() -> String { "figure \(caption) (\(kind), \(figure.width)x\(figure.height))" }

    /// The rendered pixels (cached: a figure never changes).
    func image() throws -> Image {
        if let cachedImage { return cachedImage }
        let i = try figure.image()
        cachedImage = i
        return i
    }

    func pngData() -> [UInt8]? { try? image().pngData() }

    /// The SVG to embed in a page, for plots only (an image overlay embeds as PNG): no XML
    /// declaration, and cairo's element ids (glyph0-1, clip1, ...) made unique per figure,
    /// since inline SVGs of one HTML page share one id space.
    func svgText() -> String? {
        guard !isRaster, let svg = try? figure.svg() else { return nil }
        return FigureObject.embeddable(svg)
    }

    nonisolated(unsafe) private static var embedded = 0
    private static let embedLock = NSLock()

    static func embeddable(_ svg: String) -> String {
        embedLock.lock(); embedded += 1; let n = embedded; embedLock.unlock()
        var text = Substring(svg)
        if text.hasPrefix("<?xml"), let end = text.range(of: "?>") { text = text[end.upperBound...].drop { $0.isNewline } }
        let prefix = "vls\(n)-"
        return String(text)
            .replacingOccurrences(of: " id=\"", with: " id=\"\(prefix)")
            .replacingOccurrences(of: "href=\"#", with: "href=\"#\(prefix)")
            .replacingOccurrences(of: "url(#", with: "url(#\(prefix)")
    }

    static let members: Members<FigureObject> = bridgedMembers("figure")
        .property("caption", "The figure's caption.") { o, _ in .string(o.caption) }
        .property("kind", "\"line\", \"matrix\", \"hist\", \"bar\", \"scatter\" or \"heatmap\".") { o, _ in .string(o.kind) }
        .property("format", "\"png\" for an image (heatmap overlay), \"svg\" for a plot drawn from data; either saves as .png or .svg.") { o, _ in
            .string(o.isRaster ? "png" : "svg")
        }
        .property("counts", "A histogram's count per bin (nil for other figures).") { o, _ in
            guard let h = o.figure as? Histogram else { return .nil }
            return .list(h.counts.map { .int($0) })
        }
        .property("edges", "A histogram's bin edges, one more than its bins (nil for other figures).") { o, _ in
            guard let h = o.figure as? Histogram else { return .nil }
            return .list(h.edges.map { .float($0) })
        }
        .property("width", "Width in pixels.") { o, _ in .int(o.figure.width) }
        .property("height", "Height in pixels.") { o, _ in .int(o.figure.height) }

    /// Writes PNG or SVG by the path's extension, both drawn by the same code (cairo).
    func save(to path: String) throws {
        let lower = path.lowercased()
        if lower.hasSuffix(".png") {
            try AtomicFile.write(Data(try image().pngData()), to: path)
        } else if lower.hasSuffix(".svg") {
            try AtomicFile.write(Data(try figure.svg().utf8), to: path)
        } else {
            throw RuntimeError("save: \(path): figures save as .png or .svg")
        }
        savedPath = path
    }
}

/// Figures and saving.
func figureBuiltins(_ session: Session) -> [NativeFunction] {
    let area = "figures"
    /// Numbers of a column or list; nil entries (undefined cells) become NaN, drawn as gaps.
    func column(_ v: Value) throws -> [Double] {
        if case .list(let l) = v {
            return try l.items.map { item in
                switch item {
                case .nil: return .nan
                case .int(let i): return Double(i)
                case .float(let d): return d
                case .float32(let f): return Double(f)
                default: throw RuntimeError("plot: values must be numbers, got \(item.typeName)")
                }
            }
        }
        return try doubles(v)
    }
    /// The numbers of an argument: a list (ints and floats, kept as Double), a range or a tensor.
    func numbers(_ v: Value, _ name: String, _ fn: String) throws -> [Double] {
        switch v {
        case .list(let l):
            return try l.items.enumerated().map { (i, item) in
                switch item {
                case .int(let n): return Double(n)
                case .float(let d): return d
                case .bool(let b): return b ? 1 : 0
                default: throw RuntimeError("\(fn): \(name)[\(i)] must be a number, got \(item.typeName)")
                }
            }
        case .range(let r): return (0..<r.count).map { Double(r[$0]) }
        case .object(let o as TensorObject): return o.tensor.contiguous().scalars.map(Double.init)
        default: throw RuntimeError("\(fn): \(name) must be a list, range or tensor of numbers, got \(v.typeName)")
        }
    }
    func numbers(_ a: Arguments, _ index: Int, _ name: String) throws -> [Double] {
        try numbers(try a.value(index, name), name, a.functionName)
    }
    func series(_ v: Value, _ what: String) throws -> [Double] {
        switch v {
        case .list, .object, .range: return try column(v)
        default: throw RuntimeError("plot: \(what) must be a list or tensor of numbers, got \(v.typeName)")
        }
    }
    return [
        native("heatmap", "heatmap(image, saliency: tensorlike, cmap: string = \"jet\", alpha: number = 0.5, scale: int = nil)", area: area,
               "Overlays a saliency grid ([rows, cols] tensor, e.g. one value per patch) on an image: min-max normalised, bilinearly upsampled to the image size, coloured (\"jet\" as in the paper, or \"viridis\") and blended. `scale` enlarges small images first (nearest) so patches stay visible. The image may be an image value or a [3, H, W] tensor in [0, 1].") { a in
            var img: Image
            let iv = try a.value(0, "image")
            switch iv {
            case .object(let o as ImageObject): img = o.image
            case .object(let o as TensorObject):
                let t = o.tensor
                guard t.rank == 3, t.shape[0] == 3 else { throw RuntimeError("heatmap: image tensor must be [3, H, W] in [0, 1], got \(t.shape)") }
                let h = t.shape[1], w = t.shape[2]
                let c = t.contiguous().scalars
                var px = [UInt8](repeating: 0, count: h * w * 3)
                for y in 0..<h { for x in 0..<w { for ch in 0..<3 {
                    px[(y * w + x) * 3 + ch] = UInt8(max(0, min(255, (c[(ch * h + y) * w + x] * 255).rounded())))
                } } }
                img = try Image(width: w, height: h, pixels: px)
            default: throw a.badArgument(0, "image", expected: "image or [3, H, W] tensor", got: iv)
            }
            let s = try a.tensor(1, "saliency")
            let grid: Tensor
            if s.rank == 2 { grid = s }
            else if s.rank == 1, let g = Int(exactly: Double(s.count).squareRoot().rounded()), g * g == s.count { grid = try s.reshaped([g, g]) }
            else { throw RuntimeError("heatmap: saliency must be a [rows, cols] grid (or a square number of values), got \(s.shape)") }
            let scale = try a.int(nil, "scale", default: max(1, 224 / max(img.width, 1)))
            guard scale >= 1 else { throw RuntimeError("heatmap: scale must be at least 1, got \(scale)") }
            if scale > 1 { img = try img.resized(width: img.width * scale, height: img.height * scale, filter: .nearest) }
            let cmapName = try a.string(nil, "cmap", default: "jet")
            guard let cmap = Colormap(name: cmapName) else { throw RuntimeError("heatmap: unknown cmap '\(cmapName)' (jet or viridis)") }
            let alpha = Float(try a.double(nil, "alpha", default: 0.5))
            let out = try Heatmap.overlay(grid.contiguous().scalars, rows: grid.shape[0], cols: grid.shape[1], on: img, colormap: cmap, alpha: alpha)
            return .object(FigureObject(RasterFigure(out), kind: "heatmap", caption: "heatmap \(grid.shape[0])x\(grid.shape[1]) (\(cmapName))"))
        },
        native("plot", "plot(table_or_x, y = nil, *, x: string = nil, lower = nil, upper = nil, title: string = \"\", xlabel: string = \"\", ylabel: string = \"\")", area: area,
               "A line plot (saves as .png or .svg). From a table: plot(t, x: \"block\", y: [\"cls\", \"image\"], lower: [...], upper: [...]) draws columns, with optional confidence bands from lower/upper columns. From data: plot(xs, y: {\"name\": ys, ...}) or plot(xs, y: ys).") { a in
            let title = try a.string(nil, "title", default: ""), xl = try a.string(nil, "xlabel", default: ""), yl = try a.string(nil, "ylabel", default: "")
            var xs: [Double] = []
            var out: [LinePlot.Series] = []
            let first = try a.value(0, "table_or_x")
            func names(_ v: Value?) throws -> [String] {
                switch v {
                case nil, .nil?: return []
                case .string(let s)?: return [s]
                case .list(let l)?: return try l.items.map { guard case .string(let s) = $0 else { throw RuntimeError("plot: column names must be strings") }; return s }
                default: throw RuntimeError("plot: expected a column name or a list of names")
                }
            }
            if case .object(let t as TableObject) = first {
                let xName = try a.string(nil, "x")
                xs = try column(try t.column(xName))
                let ys = try names(a.keyword("y")), lo = try names(a.keyword("lower")), hi = try names(a.keyword("upper"))
                guard !ys.isEmpty else { throw RuntimeError("plot: name the y column(s): y: \"col\" or y: [\"a\", \"b\"]") }
                for (i, n) in ys.enumerated() {
                    out.append(LinePlot.Series(name: n, y: try column(try t.column(n)),
                                               lower: i < lo.count ? try column(try t.column(lo[i])) : nil,
                                               upper: i < hi.count ? try column(try t.column(hi[i])) : nil))
                }
            } else {
                // x:, lower: and upper: name columns of a table; with data they would be ignored.
                for k in ["x", "lower", "upper"] where a.optional(nil, k) != nil {
                    throw RuntimeError("plot: \(k): names a table column; it applies to plot(table, ...), not to plot(xs, ys)")
                }
                xs = try series(first, "x")
                guard let yv = a.keyword("y") ?? a.optional(1, "y") else { throw RuntimeError("plot: give y: values") }
                if case .dict(let d) = yv {
                    for (k, v) in zip(d.keys, d.values) {
                        guard case .string(let name) = k else { throw RuntimeError("plot: the names of y: series must be strings, got \(k.typeName)") }
                        out.append(LinePlot.Series(name: name, y: try series(v, "y")))
                    }
                } else {
                    out.append(LinePlot.Series(name: yl.isEmpty ? "y" : yl, y: try series(yv, "y")))
                }
            }
            for s in out where s.y.count != xs.count {
                throw RuntimeError("plot: series '\(s.name)' has \(s.y.count) values for \(xs.count) x values")
            }
            let p = LinePlot(x: xs, series: out, title: title, xLabel: xl, yLabel: yl)
            try p.validate()
            return .object(FigureObject(p, kind: "line", caption: title.isEmpty ? "plot" : title))
        },
        native("matrix_plot", "matrix_plot(t: tensorlike, rows: list|range = nil, cols: list|range = nil, title: string = \"\", cmap: string = \"viridis\", annotate: bool = false)", area: area,
               "A matrix as a coloured grid (saves as .png or .svg) with optional row and column labels: rank matrices (e.g. ranks of the top classes per block), attention patterns (run[\"pattern 5\"][0, head]), probe accuracies per block and position.") { a in
            let t = try a.tensor(0, "t")
            guard t.rank == 2 else { throw RuntimeError("matrix_plot: a 2-d tensor expected, got shape \(t.shape)") }
            func labels(_ k: String) throws -> [String] {
                guard let v = a.keyword(k) else { return [] }
                if case .nil = v { return [] }
                switch v {
                case .list(let l): return l.items.map { a.interpreter.str($0) }
                case .range(let r): return (0..<r.count).map { String(r[$0]) }
                default: throw a.badArgument(nil, k, expected: "list of labels", got: v)
                }
            }
            let cmapName = try a.string(nil, "cmap", default: "viridis")
            guard let cmap = Colormap(name: cmapName) else { throw RuntimeError("matrix_plot: unknown cmap '\(cmapName)'") }
            let title = try a.string(nil, "title", default: "")
            let plot = MatrixPlot(values: t.contiguous().scalars.map(Double.init), rows: t.shape[0], cols: t.shape[1],
                                  rowLabels: try labels("rows"), colLabels: try labels("cols"), title: title, colormap: cmap,
                                  annotate: try a.bool(nil, "annotate", default: false), cellSize: max(6, min(28, 600 / max(t.shape[1], 1))))
            try plot.validate()
            return .object(FigureObject(plot, kind: "matrix", caption: title.isEmpty ? "matrix \(t.shape[0])x\(t.shape[1])" : title))
        },
        native("hist", "hist(values: tensorlike, bins: int = 10, range: list = nil, *, title: string = \"\", xlabel: string = \"\", ylabel: string = \"count\")", area: area,
               "A histogram: the counts of `values` in `bins` equal bins over `range` ([low, high]; the data's range by default), as numpy.histogram (values outside the range are not counted, the last bin includes its right edge). The figure's `counts` and `edges` give the numbers.") { a in
            let values = try numbers(a, 0, "values")
            // numpy bins a float32 array in float32 arithmetic (ints and Python floats in float64).
            var float32 = false
            if case .object(let o as TensorObject) = try a.value(0, "values"), o.dtype == .float32 { float32 = true }
            let bins = try a.int(nil, "bins", default: 10)
            guard bins >= 1, bins <= 10_000 else { throw RuntimeError("hist: bins must be 1...10000, got \(bins)") }
            var range: (Double, Double)?
            if let r = a.keyword("range") {
                let pair = try numbers(r, "range", "hist")
                guard pair.count == 2 else { throw RuntimeError("hist: range must be [low, high], got \(pair.count) numbers") }
                range = (pair[0], pair[1])
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw RuntimeError("hist: values must be finite; values[\(bad)] is \(values[bad])")
            }
            let title = try a.string(nil, "title", default: "")
            let h: Histogram
            do {
                h = try Histogram(values: values, bins: bins, range: range, float32: float32, title: title, xLabel: try a.string(nil, "xlabel", default: ""),
                                  yLabel: try a.string(nil, "ylabel", default: "count"))
            } catch { throw RuntimeError("hist: \(error)") }
            return .object(FigureObject(h, kind: "hist", caption: title.isEmpty ? "histogram of \(values.count) values, \(bins) bins" : title))
        },
        native("bar", "bar(labels: list|range, values, *, errors = nil, title: string = \"\", xlabel: string = \"\", ylabel: string = \"\")", area: area,
               "A bar chart, one bar per label: bar([\"a\", \"b\"], [1, 2]). Grouped bars from a dict of series: bar(labels, {\"trained\": xs, \"random\": ys}). `errors` draws symmetric error bars: a list per bar, or a dict with the same series names.") { a in
            let lv = try a.value(0, "labels")
            let labels: [String]
            switch lv {
            case .list(let l): labels = l.items.map { a.interpreter.str($0) }
            case .range(let r): labels = (0..<r.count).map { String(r[$0]) }
            default: throw a.badArgument(0, "labels", expected: "list of labels", got: lv)
            }
            let vv = try a.value(1, "values")
            var series: [BarChart.Series] = []
            let ev = a.keyword("errors")
            if case .dict(let d) = vv {
                var errorsByName: [String: [Double]] = [:]
                if let ev {
                    guard case .dict(let ed) = ev else { throw RuntimeError("bar: values is a dict of series, so errors must be a dict with the same names, got \(ev.typeName)") }
                    for (k, v) in zip(ed.keys, ed.values) {
                        guard case .string(let name) = k else { throw RuntimeError("bar: the names in errors must be strings, got \(k.typeName)") }
                        errorsByName[name] = try numbers(v, "errors[\"\(name)\"]", "bar")
                    }
                }
                for (k, v) in zip(d.keys, d.values) {
                    guard case .string(let name) = k else { throw RuntimeError("bar: the names of the series in values must be strings, got \(k.typeName)") }
                    series.append(.init(name: name, values: try numbers(v, "values[\"\(name)\"]", "bar"), errors: errorsByName.removeValue(forKey: name)))
                }
                if let extra = errorsByName.keys.sorted().first { throw RuntimeError("bar: errors has a series '\(extra)' that values does not have") }
            } else {
                series.append(.init(name: "", values: try numbers(vv, "values", "bar"), errors: try ev.map { try numbers($0, "errors", "bar") }))
            }
            let title = try a.string(nil, "title", default: "")
            let chart = BarChart(labels: labels, series: series, title: title, xLabel: try a.string(nil, "xlabel", default: ""),
                                 yLabel: try a.string(nil, "ylabel", default: ""))
            do { try chart.validate() } catch { throw RuntimeError("bar: \(error)") }
            return .object(FigureObject(chart, kind: "bar", caption: title.isEmpty ? "bar chart of \(labels.count) labels" : title))
        },
        native("scatter", "scatter(x: tensorlike, y: tensorlike, *, groups: list = nil, size: number = 3, title: string = \"\", xlabel: string = \"\", ylabel: string = \"\")", area: area,
               "A scatter plot of points (x[i], y[i]); `groups` names a group per point (coloured, with a legend); `size` is the dot radius in pixels.") { a in
            let xs = try numbers(a, 0, "x"), ys = try numbers(a, 1, "y")
            guard xs.count == ys.count else { throw RuntimeError("scatter: x has \(xs.count) values and y has \(ys.count)") }
            let groups = try a.keyword("groups").map { v -> [String] in
                guard case .list(let l) = v else { throw a.badArgument(nil, "groups", expected: "list", got: v) }
                return l.items.map { a.interpreter.str($0) }
            } ?? []
            let title = try a.string(nil, "title", default: "")
            let plot = ScatterPlot(x: xs, y: ys, groups: groups, title: title, xLabel: try a.string(nil, "xlabel", default: ""),
                                   yLabel: try a.string(nil, "ylabel", default: ""), radius: try a.double(nil, "size", default: 3))
            do { try plot.validate() } catch { throw RuntimeError("scatter: \(error)") }
            return .object(FigureObject(plot, kind: "scatter", caption: title.isEmpty ? "scatter of \(xs.count) points" : title))
        },
        native("save", "save(value, path: string)", area: area,
               "Saves a figure (.png or .svg), a table (.csv or .json) or a tensor (.npy), atomically: a kill mid-write leaves any old file whole.") { a in
            let v = try a.value(0, "value")
            let path = try a.string(1, "path")
            switch v {
            case .object(let f as FigureObject): try f.save(to: path)
            case .object(let t as TableObject): try t.save(to: path)
            case .object(let t as TensorObject): try NPY.write(t.tensor, to: path)
            default: throw a.badArgument(0, "value", expected: "figure, table or tensor", got: v)
            }
            return .nil
        },
        native("show", "show(figure, /)", area: area,
               "Shows a figure: inline in the notebook page, in the terminal where it can draw images, else as a one-line description.") { a in
            let v = try a.value(0, "figure")
            guard case .object(let f as FigureObject) = v else { throw a.badArgument(0, "figure", expected: "figure", got: v) }
            a.interpreter.display(f)
            return .nil
        },
    ]
}

/// How `show(figure)` draws outside the notebook: kitty graphics in kitty (TERM or
/// KITTY_WINDOW_ID), sixel where the terminal answers the device-attributes query (DA1,
/// `ESC [ c`) with attribute 4, 24-bit colour half-blocks on other terminals, each sized to
/// the terminal; elsewhere (a pipe, a file, TERM=dumb) one line saying what the figure is,
/// that it is not shown, and where it was or can be saved.
enum TerminalDisplay {
    enum Encoding: Equatable { case kitty, sixel, halfBlocks }

    /// The DA1 answer is asked once per process.
    nonisolated(unsafe) static var cachedSixel: Bool?

    static func render(_ figure: Displayable) -> String {
        let env = ProcessInfo.processInfo.environment
        let fig = figure as? FigureObject
        // A caption (a title) may hold control characters: printed raw they would move the
        // cursor or colour the terminal, so they are shown escaped.
        let what = escapingControls(fig.map { "\($0.caption), \($0.kind) \($0.figure.width)x\($0.figure.height)" } ?? figure.caption)
        let saved = fig?.savedPath.map { ", saved to \($0)" }
        guard let fig else { return "[\(what)]" }
        guard isatty(1) != 0, env["TERM"] != "dumb" else {
            let reason = isatty(1) == 0 ? "output is not a terminal" : "TERM=dumb"
            return "[\(what), not shown (\(reason))\(saved ?? "; save(figure, \"figure.png\") writes it")]"
        }
        let image: Image
        do { image = try fig.image() } catch {
            // The terminal is fine: say what failed, not a TERM it does not have.
            return "[\(what), not shown: drawing failed: \(error)]"
        }
        let size = terminalSize()
        let line = "[\(what)\(saved ?? "")]"
        switch chooseProtocol(env) {
        case .kitty:
            // c= asks kitty to scale the PNG to that many cells (never wider than the terminal).
            let cols = max(1, min(size.columns, image.width / max(1, size.cellWidth)))
            return TerminalPreview.kitty(png: (try? image.pngData()) ?? [], columns: cols) + "\n" + line
        case .sixel:
            let maxW = size.pixelWidth > 0 ? size.pixelWidth : size.columns * 10
            let maxH = size.pixelHeight > 0 ? size.pixelHeight * 4 / 5 : max(1, size.rows - 2) * 20
            let scale = min(1, Double(maxW) / Double(image.width), Double(maxH) / Double(image.height))
            let fitted = scale < 1 ? ((try? image.resized(width: max(1, Int(Double(image.width) * scale)),
                                                          height: max(1, Int(Double(image.height) * scale)), filter: .box)) ?? image) : image
            return TerminalPreview.sixel(fitted) + "\n" + line
        case .halfBlocks:
            // Two pixel rows per cell: as wide as the terminal allows, and the rows fit on screen.
            let byHeight = Int(Double(max(1, size.rows - 2) * 2) * Double(image.width) / Double(image.height))
            let cols = max(1, min(size.columns, image.width, byHeight))
            return ((try? TerminalPreview.halfBlocks(image, columns: cols)) ?? "") + line
        }
    }

    /// `s` with C0/C1 control characters and DEL written as `\n`, `\t` or `\u{1B}`.
    static func escapingControls(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u.value {
            case 0x0A: out += "\\n"
            case 0x09: out += "\\t"
            case 0..<0x20, 0x7F...0x9F: out += "\\u{\(String(u.value, radix: 16, uppercase: true))}"
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    static func chooseProtocol(_ env: [String: String]) -> Encoding {
        if env["TERM"]?.contains("kitty") == true || env["KITTY_WINDOW_ID"] != nil { return .kitty }
        if cachedSixel == nil { cachedSixel = queryDA1Sixel() }
        return cachedSixel == true ? .sixel : .halfBlocks
    }

    /// Columns, rows and pixel size of the terminal on standard output (COLUMNS/LINES, then 80x24).
    static func terminalSize() -> (columns: Int, rows: Int, pixelWidth: Int, pixelHeight: Int, cellWidth: Int) {
        var ws = winsize()
        let env = ProcessInfo.processInfo.environment
        if ioctl(1, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0 {
            let cols = Int(ws.ws_col), rows = max(Int(ws.ws_row), 4)
            let cell = ws.ws_xpixel > 0 ? max(1, Int(ws.ws_xpixel) / cols) : 8
            return (cols, rows, Int(ws.ws_xpixel), Int(ws.ws_ypixel), cell)
        }
        return (Int(env["COLUMNS"] ?? "") ?? 80, Int(env["LINES"] ?? "") ?? 24, 0, 0, 8)
    }

    /// Asks the controlling terminal for its primary device attributes (`ESC [ c`) and
    /// whether the answer (`ESC [ ? 62 ; 4 ; ... c`) lists 4, sixel graphics. No answer
    /// within half a second counts as no.
    static func queryDA1Sixel() -> Bool {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { return false }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        guard tcsetattr(fd, TCSANOW, &raw) == 0 else { return false }
        defer { tcsetattr(fd, TCSANOW, &saved) }
        let query: [UInt8] = [0x1B, 0x5B, 0x63]   // ESC [ c
        guard write(fd, query, query.count) == query.count else { return false }
        var answer: [UInt8] = []
        let deadline = Date().addingTimeInterval(0.5)
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var buf = [UInt8](repeating: 0, count: 64)
        while Date() < deadline, answer.count < 256 {
            pfd.revents = 0
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            answer += buf[0..<n]
            if TerminalInput.da1Answer(in: answer) != nil { break }
        }
        // Everything else read here was typed ahead: the REPL's reader gets it back.
        guard let r = TerminalInput.da1Answer(in: answer) else {
            TerminalInput.typeAhead += answer
            TerminalInput.lateDA1 = true
            return false
        }
        TerminalInput.typeAhead += answer[..<r.lowerBound] + answer[r.upperBound...]
        return parseDA1(Array(answer[r])) ?? false
    }

    /// The attributes of a DA1 answer (`ESC [ ? a ; b ; ... c`) include 4 (sixel); nil when
    /// the bytes hold no such answer.
    static func parseDA1(_ bytes: [UInt8]) -> Bool? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let start = text.range(of: "\u{1B}[?"), let end = text[start.upperBound...].firstIndex(of: "c") else { return nil }
        let params = text[start.upperBound..<end].split(separator: ";")
        return params.contains("4")
    }
}
