import Foundation
import XCTest
@testable import VLSImaging

/// Colour maps, heatmap overlays, figures (cairo PNG and SVG), grids and terminal previews.
final class FigureTests: XCTestCase {
    /// Float and byte endpoints against matplotlib's `viridis` and `jet`.
    func testColormapsMatchMatplotlib() {
        let viridis = Colormap.viridis.floatTable
        XCTAssertEqual(viridis.count, 768)
        XCTAssertEqual(Array(viridis[0..<3]), [0.267004, 0.004874, 0.329415])
        XCTAssertEqual(Array(viridis[765..<768]), [0.993248, 0.906157, 0.143936])
        XCTAssertEqual(Array(viridis[384..<387]), [0.127568, 0.566949, 0.550556]) // viridis(0.5)
        XCTAssertTrue(Colormap.viridis.color(0) == (68, 1, 84))
        XCTAssertTrue(Colormap.viridis.color(1) == (253, 231, 36))
        let jet = Colormap.jet.floatTable
        XCTAssertEqual(Array(jet[0..<3]), [0, 0, 0.5])
        XCTAssertEqual(Array(jet[765..<768]), [0.5, 0, 0])
        // matplotlib: cm.jet(0.5) = (0.49019607843137253, 1.0, 0.4775458570524984)
        XCTAssertEqual(jet[384], 0.49019607843137253, accuracy: 1e-12)
        XCTAssertEqual(jet[385], 1.0, accuracy: 1e-12)
        XCTAssertEqual(jet[386], 0.4775458570524984, accuracy: 1e-12)
        XCTAssertTrue(Colormap.jet.color(0) == (0, 0, 127))
        XCTAssertTrue(Colormap.jet.color(1) == (127, 0, 0))
        XCTAssertTrue(Colormap.jet.color(.nan) == (0, 0, 127))
        XCTAssertEqual(Colormap.index(0.999), 255)
        XCTAssertEqual(Colormap.index(0.5), 128)
        XCTAssertEqual(Colormap.viridis.hex(0), "#440154")
    }

    /// Bilinear upsampling equals torch `interpolate(bilinear, align_corners=False)`.
    func testUpsampleMatchesTorchBilinear() throws {
        let up = try Heatmap.upsampled([0, 1, 2, 3], rows: 2, cols: 2, width: 4, height: 4)
        XCTAssertEqual(up, [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3])
        XCTAssertEqual(Heatmap.normalized([2, 4, 3]), [0, 1, 0.5])
        XCTAssertEqual(Heatmap.normalized([5, 5]), [0, 0])
        XCTAssertThrowsError(try Heatmap.upsampled([1, 2, 3], rows: 2, cols: 2, width: 4, height: 4))
    }

    /// Overlay blends colour and image; alpha 0 is the image, alpha 1 the colour map.
    func testOverlay() throws {
        let image = try Fixtures.image("base.png")
        let grid: [Float] = [0, 1, 2, 3, 4, 5]
        XCTAssertEqual(try Heatmap.overlay(grid, rows: 2, cols: 3, on: image, alpha: 0), image)
        let full = try Heatmap.overlay(grid, rows: 2, cols: 3, on: image, colormap: .jet, alpha: 1)
        XCTAssertTrue(full.pixel(x: 0, y: 0) == Colormap.jet.color(0))
        XCTAssertTrue(full.pixel(x: image.width - 1, y: image.height - 1) == Colormap.jet.color(1))
        let half = try Heatmap.overlay(grid, rows: 2, cols: 3, on: image, colormap: .viridis, alpha: 0.5)
        let expected = (0.5 * Float(image.pixels[0]) + 0.5 * 68).rounded()
        XCTAssertEqual(Float(half.pixels[0]), expected)
        let png = try half.pngData()
        XCTAssertEqual(try Image(bytes: png), half)
        XCTAssertThrowsError(try Heatmap.overlay(grid, rows: 2, cols: 3, on: image, alpha: 2))
    }

    /// Line plots render to PNG and SVG from the same drawing; bad lengths are errors.
    func testLinePlotRenders() throws {
        let x = (0..<12).map(Double.init)
        let plot = LinePlot(
            x: x,
            series: [
                .init(name: "trained <ViT>", y: x.map { $0 / 11 }, lower: x.map { $0 / 11 - 0.05 }, upper: x.map { $0 / 11 + 0.05 }),
                .init(name: "random", y: x.map { _ in 0.1 }, dashed: true),
                .init(name: "gap", y: [1, 2, .nan, 4, 5, 6, 7, 8, 9, 10, 11, 12].map { $0 / 12 }),
            ],
            title: "M1 over blocks", xLabel: "block", yLabel: "identifiability")
        let svg = try plot.svg()
        XCTAssertTrue(svg.contains("<svg"))
        XCTAssertTrue(svg.contains("width=\"640px\" height=\"400px\""))
        XCTAssertTrue(svg.hasSuffix("</svg>\n"))
        let image = try plot.image()
        XCTAssertEqual(image.width, 640)
        XCTAssertEqual(image.height, 400)
        XCTAssertEqual(try Image(bytes: try plot.pngData()), image)
        XCTAssertEqual(Ticks.nice(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1])
        let bad = LinePlot(x: [0, 1], series: [.init(name: "a", y: [1])])
        XCTAssertThrowsError(try bad.svg())
        XCTAssertThrowsError(try bad.image())
    }

    /// Matrix plots: one cell per value in its colour, NaN white; bad shapes are errors.
    func testMatrixPlotRenders() throws {
        let plot = MatrixPlot(values: [1, 2, 3, 4, 5, .nan], rows: 2, cols: 3, rowLabels: ["b0", "b1"],
                              colLabels: ["M1", "M2", "M3"], title: "ranks", colormap: .viridis, annotate: false)
        let image = try plot.image()
        XCTAssertEqual(image.width, plot.width)
        func centre(_ r: Int, _ c: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
            let rect = plot.cellRect(r, c)
            return image.pixel(x: Int(rect.x + rect.side / 2), y: Int(rect.y + rect.side / 2))
        }
        XCTAssertTrue(centre(0, 0) == Colormap.viridis.color(0))
        XCTAssertTrue(centre(1, 1) == Colormap.viridis.color(1))
        XCTAssertTrue(centre(1, 2) == (255, 255, 255))
        XCTAssertTrue(try plot.svg().contains("<svg"))
        XCTAssertThrowsError(try MatrixPlot(values: [1, 2], rows: 2, cols: 3).svg())
        XCTAssertThrowsError(try MatrixPlot(values: [1, 2], rows: 1, cols: 2, rowLabels: ["a", "b"]).image())
    }

    /// Grids place each image in its cell; the SVG grid embeds PNGs with captions.
    func testImageGrid() throws {
        let red = try Image(width: 2, height: 2, fill: (255, 0, 0))
        let blue = try Image(width: 4, height: 2, fill: (0, 0, 255))
        let grid = try ImageGrid.tiled([red, blue, red], columns: 2, padding: 1, background: (0, 0, 0))
        XCTAssertEqual(grid.width, 2 * 4 + 3)
        XCTAssertEqual(grid.height, 2 * 2 + 3)
        XCTAssertTrue(grid.pixel(x: 0, y: 0) == (0, 0, 0))
        XCTAssertTrue(grid.pixel(x: 2, y: 1) == (255, 0, 0)) // red centred in a 4-wide cell
        XCTAssertTrue(grid.pixel(x: 6, y: 1) == (0, 0, 255))
        XCTAssertThrowsError(try ImageGrid.tiled([], columns: 2))
    }

    /// Half-block previews have one line per two pixel rows; kitty chunks reassemble.
    func testTerminalPreviews() throws {
        let image = try Image(width: 8, height: 8, fill: (10, 20, 30))
        let text = try TerminalPreview.halfBlocks(image, columns: 4)
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(text.components(separatedBy: "\u{2580}").count - 1, 8)
        XCTAssertTrue(text.hasPrefix("\u{1B}[38;2;10;20;30m\u{1B}[48;2;10;20;30m\u{2580}"))
        XCTAssertTrue(text.hasSuffix("\u{1B}[0m\n"))
        XCTAssertThrowsError(try TerminalPreview.halfBlocks(image, columns: 0))

        var noise = [UInt8](repeating: 0, count: 64 * 64 * 3)
        var state: UInt32 = 12345
        for i in noise.indices { state = state &* 1664525 &+ 1013904223; noise[i] = UInt8(state >> 24) }
        let png = try Image(width: 64, height: 64, pixels: noise).pngData()
        let escape = TerminalPreview.kitty(png: png, columns: 20)
        XCTAssertTrue(escape.hasPrefix("\u{1B}_Ga=T,f=100,c=20,m=1;"))
        let parts = escape.components(separatedBy: "\u{1B}\\").filter { !$0.isEmpty }
        XCTAssertGreaterThan(parts.count, 1)
        XCTAssertTrue(parts.last?.hasPrefix("\u{1B}_Gm=0;") ?? false)
        let payload = parts.map { String($0[$0.index(after: $0.firstIndex(of: ";") ?? $0.startIndex)...]) }.joined()
        XCTAssertTrue(parts.allSatisfy { $0.count <= 4096 + 32 })
        XCTAssertEqual(Data(base64Encoded: payload).map { [UInt8]($0) }, png)
    }

    /// Sixel: decoding the sequence gives back every pixel, quantised to the 6x6x6 cube.
    func testSixelDecodesToTheImage() throws {
        var px = [UInt8](repeating: 0, count: 13 * 9 * 3)
        for i in px.indices { px[i] = UInt8((i * 37) % 256) }
        let image = try Image(width: 13, height: 9, pixels: px)
        let text = TerminalPreview.sixel(image)
        XCTAssertTrue(text.hasPrefix("\u{1B}P0;1;0q\"1;1;13;9"))
        XCTAssertTrue(text.hasSuffix("\u{1B}\\"))
        // A minimal decoder: palette (#i;2;r;g;b in percent), colour select, sixel data, !n repeats, $ and -.
        var palette: [Int: (Int, Int, Int)] = [:]
        var out = [[(Int, Int, Int)?]](repeating: [(Int, Int, Int)?](repeating: nil, count: 13), count: 9)
        let body = Array(text.dropFirst("\u{1B}P0;1;0q\"1;1;13;9".count).dropLast(2).unicodeScalars)
        var i = 0, x = 0, band = 0, colour = 0
        func number() -> Int { var n = 0; while i < body.count, let d = Int(String(body[i])) { n = n * 10 + d; i += 1 }; return n }
        while i < body.count {
            let ch = body[i]
            switch ch {
            case "#":
                i += 1
                let c = number()
                if i < body.count, body[i] == ";" {
                    i += 1; _ = number(); i += 1
                    let r = number(); i += 1; let g = number(); i += 1; let b = number()
                    palette[c] = (r, g, b)
                } else { colour = c }
            case "$": x = 0; i += 1
            case "-": x = 0; band += 1; i += 1
            default:
                var n = 1
                if ch == "!" { i += 1; n = number() }
                let bits = Int(body[i].value) - 63
                for _ in 0..<n {
                    for k in 0..<6 where bits & (1 << k) != 0 { out[band * 6 + k][x] = palette[colour] }
                    x += 1
                }
                i += 1
            }
        }
        func level(_ v: UInt8) -> Int { (Int(v) * 5 + 127) / 255 * 20 }
        for y in 0..<9 {
            for x in 0..<13 {
                let p = image.pixel(x: x, y: y)
                let got = try XCTUnwrap(out[y][x], "pixel \(x),\(y) not painted")
                XCTAssertTrue(got == (level(p.r), level(p.g), level(p.b)), "pixel \(x),\(y)")
            }
        }
    }
}
