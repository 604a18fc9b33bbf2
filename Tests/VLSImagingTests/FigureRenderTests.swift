import Foundation
import XCTest
@testable import VLSImaging

/// Every figure kind rendered through cairo: pixels against committed reference images
/// (looked at when they were made; regenerate with VLS_UPDATE_FIGURES=1 and look again),
/// marks within 1 px of their data (positions found in the pixels, against the frame found
/// in the pixels), and histogram counts against numpy.histogram (Scripts/fixtures_hist.py).
final class FigureRenderTests: XCTestCase {
    static let directory: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/figures").path
    }()

    // MARK: - Figures under test (fixed sizes)

    static let lineX: [Double] = [0, 1, 2, 3, 4, 5, 6, 7]
    static let lineY: [Double] = [0.2, 0.2, 0.9, 0.9, 0.5, 0.5, 0.1, 0.1]
    static var line: LinePlot {
        LinePlot(x: lineX, series: [.init(name: "acc", y: lineY), .init(name: "chance", y: lineX.map { _ in 0.3 }, dashed: true)],
                 title: "line", xLabel: "block", yLabel: "value", width: 320, height: 200)
    }
    static var matrix: MatrixPlot {
        MatrixPlot(values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, .nan], rows: 3, cols: 4, rowLabels: ["r0", "r1", "r2"],
                   colLabels: ["a", "b", "c", "d"], title: "matrix", colormap: .viridis, annotate: false, cellSize: 20)
    }
    static let histData: [Double] = [1, 2, 2, 3, 3, 3, 3, 4, 4, 5, 7, 7.5]
    static var hist: Histogram {
        try! Histogram(values: histData, bins: 6, range: (1, 7), title: "hist", xLabel: "x", width: 320, height: 200)
    }
    static var bar: BarChart {
        BarChart(labels: ["h0", "h1", "h2"], series: [.init(name: "drop", values: [0.1, 0.4, 0.25], errors: [0.02, 0.05, 0]),
                                                      .init(name: "random", values: [0.05, 0.1, 0.15])],
                 title: "bar", yLabel: "drop", width: 320, height: 200)
    }
    static let scatterX: [Double] = [0, 1, 2.5, 4, 3]
    static let scatterY: [Double] = [1, 3, 2, 0, 4]
    static var scatter: ScatterPlot {
        ScatterPlot(x: scatterX, y: scatterY, groups: ["a", "a", "b", "b", "b"], title: "scatter", radius: 3, width: 320, height: 200)
    }
    static func heatmapImage() throws -> Image {
        var px = [UInt8](repeating: 0, count: 32 * 32 * 3)
        for i in px.indices { px[i] = UInt8((i * 7) % 256) }
        let base = try Image(width: 32, height: 32, pixels: px)
        return try Heatmap.overlay([0, 1, 2, 3, 4, 5, 6, 7, 8], rows: 3, cols: 3, on: base, colormap: .jet, alpha: 0.5)
    }

    // MARK: - Reference images

    func checkReference(_ name: String, _ figure: some Figure, file: StaticString = #filePath, line: UInt = #line) throws {
        let image = try figure.image()
        XCTAssertEqual(try Image(bytes: try figure.pngData()), image, "PNG round trip", file: file, line: line)
        XCTAssertTrue(try figure.svg().contains("<svg"), file: file, line: line)
        let path = FigureRenderTests.directory + "/" + name + ".png"
        if ProcessInfo.processInfo.environment["VLS_UPDATE_FIGURES"] == "1" {
            try image.writePNG(to: path)
            return
        }
        let reference = try Image(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        XCTAssertEqual(reference.width, image.width, name, file: file, line: line)
        XCTAssertEqual(reference.height, image.height, name, file: file, line: line)
        guard reference.width == image.width, reference.height == image.height else { return }
        // Tolerance: text antialiasing may differ between cairo/freetype versions; marks may not.
        var total = 0, far = 0
        for i in image.pixels.indices {
            let d = abs(Int(image.pixels[i]) - Int(reference.pixels[i]))
            total += d
            if d > 48 { far += 1 }
        }
        let mean = Double(total) / Double(image.pixels.count)
        XCTAssertLessThan(mean, 1.0, "\(name): mean difference \(mean) from the reference", file: file, line: line)
        XCTAssertLessThan(Double(far) / Double(image.pixels.count), 0.005, "\(name): \(far) channel values differ by more than 48", file: file, line: line)
    }

    func testLineMatchesReference() throws { try checkReference("line", Self.line) }
    func testMatrixMatchesReference() throws { try checkReference("matrix", Self.matrix) }
    func testHistMatchesReference() throws { try checkReference("hist", Self.hist) }
    func testBarMatchesReference() throws { try checkReference("bar", Self.bar) }
    func testScatterMatchesReference() throws { try checkReference("scatter", Self.scatter) }
    func testHeatmapMatchesReference() throws {
        let overlay = try Self.heatmapImage()
        try checkReference("heatmap", RasterFigure(overlay))
        // Drawn 1:1: the figure's pixels are exactly the overlay's.
        XCTAssertEqual(try RasterFigure(overlay).image(), overlay)
    }

    // MARK: - Pixel helpers

    /// The plot frame found in the pixels: the outermost columns and rows with a long run of pure black.
    func frame(_ image: Image) -> (left: Int, top: Int, width: Int, height: Int)? {
        func black(_ x: Int, _ y: Int) -> Bool { image.pixel(x: x, y: y) == (0, 0, 0) }
        let cols = (0..<image.width).filter { x in (0..<image.height).filter { black(x, $0) }.count > image.height / 2 }
        let rows = (0..<image.height).filter { y in (0..<image.width).filter { black($0, y) }.count > image.width / 2 }
        guard let l = cols.first, let r = cols.last, let t = rows.first, let b = rows.last else { return nil }
        return (l, t, r - l + 1, b - t + 1)
    }

    /// Expected pixel of a data value on an axis spanning [start, start + size).
    func map(_ v: Double, _ lo: Double, _ hi: Double, _ start: Int, _ size: Int, flip: Bool = false) -> Double {
        let t = (v - lo) / (hi - lo)
        return Double(start) + (flip ? 1 - t : t) * Double(size)
    }

    func close(_ a: (r: UInt8, g: UInt8, b: UInt8), _ c: Color, _ tol: Int = 40) -> Bool {
        abs(Int(a.r) - Int(c.r * 255)) <= tol && abs(Int(a.g) - Int(c.g * 255)) <= tol && abs(Int(a.b) - Int(c.b * 255)) <= tol
    }

    /// Rows (or columns) in [from, to) where `test` holds, as the centre of the first run.
    func runCentre(_ range: [Int], _ test: (Int) -> Bool) -> Double? {
        var run: [Int] = []
        for i in range {
            if test(i) { run.append(i) } else if !run.isEmpty { break }
        }
        guard let f = run.first, let l = run.last else { return nil }
        return Double(f + l) / 2 + 0.5
    }

    // MARK: - Marks within 1 px

    func testLineMarksSitOnTheirData() throws {
        let image = try Self.line.image()
        let f = try XCTUnwrap(frame(image))
        let ax = Self.line.axes()
        XCTAssertEqual(Double(f.left), ax.left); XCTAssertEqual(Double(f.top), ax.top)
        XCTAssertEqual(Double(f.width), ax.plotWidth); XCTAssertEqual(Double(f.height), ax.plotHeight)
        // y range: the data (and the 0.3 line) padded by 5% each side, as matplotlib's margins.
        let lo = 0.1 - 0.04, hi = 0.9 + 0.04
        for i in stride(from: 0, to: Self.lineX.count, by: 2) {   // flat pairs: the line is level between them
            let x = Int(map((Self.lineX[i] + Self.lineX[i + 1]) / 2, 0, 7, f.left, f.width))
            let found = try XCTUnwrap(runCentre(Array(f.top..<(f.top + f.height))) { close(image.pixel(x: x, y: $0), Color.series(0)) },
                                      "no line at column \(x)")
            XCTAssertEqual(found, map(Self.lineY[i], lo, hi, f.top, f.height, flip: true), accuracy: 1, "segment \(i)")
        }
    }

    func testScatterMarksSitOnTheirData() throws {
        let plot = Self.scatter
        let image = try plot.image()
        let f = try XCTUnwrap(frame(image))
        let (xlo, xhi) = (0 - 0.2, 4 + 0.2), (ylo, yhi) = (0 - 0.2, 4 + 0.2)
        for i in plot.x.indices {
            let ex = map(plot.x[i], xlo, xhi, f.left, f.width), ey = map(plot.y[i], ylo, yhi, f.top, f.height, flip: true)
            let colour = Color.series(plot.groups[i] == "a" ? 0 : 1)
            var sx = 0.0, sy = 0.0, n = 0.0
            for y in max(0, Int(ey) - 10)..<min(image.height, Int(ey) + 11) {
                for x in max(0, Int(ex) - 10)..<min(image.width, Int(ex) + 11) where close(image.pixel(x: x, y: y), colour, 60) {
                    sx += Double(x) + 0.5; sy += Double(y) + 0.5; n += 1
                }
            }
            XCTAssertGreaterThan(n, 10, "point \(i) not drawn")
            XCTAssertEqual(sx / n, ex, accuracy: 1, "point \(i) x")
            XCTAssertEqual(sy / n, ey, accuracy: 1, "point \(i) y")
        }
    }

    /// Finite values whose span overflows (1e308 and -1e308) are an error naming the data,
    /// never an empty plot; a flat range at 1e16 (where v + 0.5 == v) is widened relative
    /// to the magnitude, so the points are drawn (cairo refused the zero-width range).
    func testHugeAndFlatRanges() throws {
        func message(_ f: () throws -> Any) -> String {
            do { _ = try f(); return "no error" } catch { return "\(error)" }
        }
        let bar = BarChart(labels: ["a", "b"], series: [.init(name: "", values: [1e308, -1e308])], width: 320, height: 200)
        XCTAssertTrue(message { try bar.pngData() }.contains("bar values (with their error bars) span more than a figure can show"), message { try bar.pngData() })
        let wide = ScatterPlot(x: [1e308, -1e308], y: [1, 2], width: 320, height: 200)
        XCTAssertTrue(message { try wide.svg() }.contains("scatter x values span more than a figure can show"), message { try wide.svg() })
        let line = LinePlot(x: [0, 1], series: [.init(name: "", y: [1e308, -1e308])], width: 320, height: 200)
        XCTAssertTrue(message { try line.pngData() }.contains("line plot y values"), message { try line.pngData() })

        for v in [0.0, 1e16, -9e15, 1e300, Double.greatestFiniteMagnitude] {
            let (lo, hi) = Axes.widened(v, v)
            XCTAssertTrue(lo < v && v <= hi && (v < hi || v == .greatestFiniteMagnitude) && lo.isFinite && hi.isFinite && (hi - lo).isFinite, "\(v): (\(lo), \(hi))")
            XCTAssertLessThanOrEqual(hi - lo, max(1, abs(v) * 2e-6) * (1 + 1e-12), "\(v): widened by more than max(0.5, |v| 1e-6)")
        }
        XCTAssertTrue(Axes.widened(1, 2) == (1, 2))
        let flat = ScatterPlot(x: [1e16, 1e16], y: [1, 2], width: 320, height: 200)
        let image = try flat.image()
        let f = try XCTUnwrap(frame(image))
        // Both points sit on the centre column of the plot.
        let cx = f.left + f.width / 2
        var rows = Set<Int>()
        for y in f.top..<(f.top + f.height) where close(image.pixel(x: cx, y: y), Color.series(0), 60) { rows.insert(y) }
        XCTAssertGreaterThan(rows.count, 8, "the two points at x = 1e16 are not drawn")
    }

    /// A long line is stroked per pixel column (first, lowest, highest, last point), which
    /// keeps every column's vertical extent and the order of points, and draws 200k points
    /// quickly (stroking every point took 28 s for 100k).
    func testLongLineIsDecimatedToThePixelGrid() throws {
        var g = SystemRandomNumberGenerator()
        let n = 50_000
        let pts = (0..<n).map { i in (10 + Double(i) * 300 / Double(n), 100 + Double.random(in: -50...50, using: &g)) }
        let d = LinePlot.decimated(pts)
        XCTAssertLessThanOrEqual(d.count, 4 * 301)
        XCTAssertEqual(d.first?.0, pts.first?.0); XCTAssertEqual(d.last?.0, pts.last?.0)
        var full: [Double: (Double, Double)] = [:], kept: [Double: (Double, Double)] = [:]
        for (x, y) in pts { let k = x.rounded(.down); let r = full[k] ?? (y, y); full[k] = (min(r.0, y), max(r.1, y)) }
        for (x, y) in d { let k = x.rounded(.down); let r = kept[k] ?? (y, y); kept[k] = (min(r.0, y), max(r.1, y)) }
        XCTAssertEqual(full.count, kept.count)
        for (k, r) in full { XCTAssertTrue(kept[k]! == r, "column \(k)") }
        XCTAssertTrue(zip(d, d.dropFirst()).allSatisfy { $0.0 <= $1.0 }, "points stay in order")
        XCTAssertEqual(LinePlot.decimated(Array(pts.prefix(100))).count, 100, "short lines are kept whole")

        let xs = (0..<200_000).map(Double.init)
        let plot = LinePlot(x: xs, series: [.init(name: "", y: xs.map { sin($0 / 5000) + Double.random(in: -0.1...0.1, using: &g) })], width: 320, height: 200)
        let t0 = Date()
        let image = try plot.image()
        XCTAssertLessThan(Date().timeIntervalSince(t0), 10, "200k points")
        let f = try XCTUnwrap(frame(image))
        let mid = f.left + f.width / 2
        XCTAssertTrue((f.top..<(f.top + f.height)).contains { close(image.pixel(x: mid, y: $0), Color.series(0), 60) }, "the line is drawn")
    }

    /// A long title widens a matrix plot only up to maxTitleWidth and is ellipsized there
    /// (2000 characters made it 20024 px wide, which cairo refused at save).
    func testLongMatrixTitleIsEllipsized() throws {
        let plot = MatrixPlot(values: [1, 2, 3, 4], rows: 2, cols: 2, title: String(repeating: "W", count: 2000))
        XCTAssertEqual(plot.width, MatrixPlot.maxTitleWidth)
        let image = try plot.image()
        XCTAssertEqual(image.width, MatrixPlot.maxTitleWidth)
        let short = MatrixPlot(values: [1, 2, 3, 4], rows: 2, cols: 2, title: "ab")
        XCTAssertLessThan(short.width, 400)
        let c = try Canvas.raster(width: 10, height: 10) { c in
            let cut = c.ellipsized(String(repeating: "W", count: 2000), maxWidth: 300, size: 14, bold: true)
            XCTAssertTrue(cut.hasSuffix("…")); XCTAssertLessThanOrEqual(c.textWidth(cut, size: 14, bold: true), 300)
            XCTAssertGreaterThan(c.textWidth(cut, size: 14, bold: true), 280)
            XCTAssertEqual(c.ellipsized("short", maxWidth: 300, size: 14), "short")
        }
        XCTAssertEqual(c.width, 10)
    }

    /// Neighbouring tick labels never read the same: 2 significant digits made every tick
    /// between 100000 and 100010 "1e+05".
    func testTickLabelsAreDistinct() {
        for (lo, hi) in [(100_000.0, 100_010.0), (1e16, 1e16 + 2e10), (0.0, 1.0), (-3e-4, 7e-4), (123_456.0, 123_457.0)] {
            let ticks = Ticks.nice(lo, hi)
            let labels = Ticks.labels(ticks)
            XCTAssertEqual(labels.count, ticks.count)
            XCTAssertEqual(Set(labels).count, labels.count, "\(lo)...\(hi): \(labels)")
            for (t, l) in zip(ticks, labels) { XCTAssertEqual(Double(l)!, t, accuracy: abs(t) * 1e-9 + 1e-12, "\(l) for \(t)") }
        }
        XCTAssertEqual(Ticks.labels([0, 0.5, 1]), ["0", "0.5", "1"])
    }

    func testBarMarksSitOnTheirData() throws {
        let chart = Self.bar
        let image = try chart.image()
        let f = try XCTUnwrap(frame(image))
        // x: label i centred on i over [-0.5, n - 0.5]; y: 0 up to the highest error bar + 5%.
        let hi = 0.45 * 1.05
        for (s, series) in chart.series.enumerated() {
            for i in chart.labels.indices {
                let x0 = Double(i) - 0.4 + Double(s) * 0.4
                let ex0 = map(x0, -0.5, 2.5, f.left, f.width), ex1 = map(x0 + 0.4, -0.5, 2.5, f.left, f.width)
                let ey = map(series.values[i], 0, hi, f.top, f.height, flip: true)
                let cx = Int((ex0 + ex1) / 2) + 9   // beside a centred error bar and its caps (6 px)
                let bottom = f.top + f.height - 2
                // Scan up from the bottom: the bar's colour ends at its top.
                var top = bottom
                while top > f.top, close(image.pixel(x: cx, y: top - 1), Color.series(s), 60) { top -= 1 }
                XCTAssertEqual(Double(top), ey, accuracy: 1, "series \(s) label \(i) top")
                let midY = Int((ey + Double(bottom)) / 2)
                var left = cx, right = cx
                while close(image.pixel(x: left - 1, y: midY), Color.series(s), 60) { left -= 1 }
                while close(image.pixel(x: right + 1, y: midY), Color.series(s), 60) { right += 1 }
                XCTAssertEqual(Double(left), ex0, accuracy: 1, "series \(s) label \(i) left")
                XCTAssertEqual(Double(right + 1), ex1, accuracy: 1, "series \(s) label \(i) right")
            }
        }
    }

    func testHistMarksSitOnTheirData() throws {
        let h = Self.hist
        XCTAssertEqual(h.counts, [1, 2, 4, 2, 1, 1])   // [1,2) [2,3) [3,4) [4,5) [5,6) [6,7]; 7.5 is outside
        let image = try h.image()
        let f = try XCTUnwrap(frame(image))
        let hi = 4 * 1.05
        for (i, n) in h.counts.enumerated() {
            let cx = Int(map(Double(i) + 1.5, 1, 7, f.left, f.width))
            var top = f.top + f.height - 2
            while top > f.top, close(image.pixel(x: cx, y: top - 1), Color.series(0), 60) { top -= 1 }
            XCTAssertEqual(Double(top), map(Double(n), 0, hi, f.top, f.height, flip: true), accuracy: 1, "bin \(i)")
        }
    }

    func testMatrixCellsSitOnTheirGrid() throws {
        let plot = Self.matrix
        let image = try plot.image()
        let rect = plot.cellRect(0, 0)
        // The frame of the matrix is the outermost long black lines around the cells.
        for r in 0..<3 {
            for c in 0..<4 {
                let v = Double(r * 4 + c)
                let expected = v == 11 ? (UInt8(255), UInt8(255), UInt8(255)) : Colormap.viridis.color(Float(v / 10))
                let x = Int(rect.x) + c * 20 + 10, y = Int(rect.y) + r * 20 + 10
                XCTAssertTrue(image.pixel(x: x, y: y) == expected, "cell \(r), \(c)")
                // The colour changes at the cell's left edge (within 1 px).
                if c > 0 {
                    let edge = runCentre(Array((x - 15)..<(x + 1))) { image.pixel(x: $0, y: y) == expected }
                    XCTAssertNotNil(edge)
                    var left = x
                    while image.pixel(x: left - 1, y: y) == expected { left -= 1 }
                    XCTAssertEqual(Double(left), rect.x + Double(c * 20), accuracy: 1, "cell \(r), \(c) left edge")
                }
            }
        }
    }

    // MARK: - Histogram counts against numpy

    func testHistogramCountsMatchNumpy() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: FigureRenderTests.directory + "/hist.json"))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 18)
        XCTAssertEqual(cases.filter { $0["dtype"] as? String == "float32" }.count, 8)
        for c in cases {
            let name = c["name"] as? String ?? "?"
            // Numbers are repr strings: Double(String) round-trips them exactly.
            func doubles(_ key: String) -> [Double]? { (c[key] as? [String])?.compactMap(Double.init) }
            let values = try XCTUnwrap(doubles("data"), name)
            XCTAssertEqual(values.count, (c["data"] as? [String])?.count)
            let bins = try XCTUnwrap(c["bins"] as? Int, name)
            let range = doubles("range").map { ($0[0], $0[1]) }
            let float32 = try XCTUnwrap(c["dtype"] as? String, name) == "float32"
            if float32 { XCTAssertEqual(values, values.map { Double(Float($0)) }, "\(name): float32 data") }
            let h = try Histogram(values: values, bins: bins, range: range, float32: float32)
            XCTAssertEqual(h.counts, c["counts"] as? [Int], name)
            XCTAssertEqual(h.edges, doubles("edges"), name)
        }
        XCTAssertThrowsError(try Histogram(values: [1, .nan], bins: 3))
        XCTAssertThrowsError(try Histogram(values: [1, 2], bins: 0))
        XCTAssertThrowsError(try Histogram(values: [1, 2], bins: 3, range: (2, 1)))
        XCTAssertThrowsError(try Histogram(values: [1, 2], bins: 3, range: (-1e308, 1e308)))
        // numpy.histogram([1.0], bins=1000, range=(1, 1 + 1e-13)) raises "Too many bins for data range".
        XCTAssertThrowsError(try Histogram(values: [1], bins: 1000, range: (1, 1 + 1e-13)))
    }
}
