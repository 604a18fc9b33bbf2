import CCairo
import Foundation

/// An RGB colour with components in [0, 1].
public struct Color: Equatable, Sendable {
    public var r: Double, g: Double, b: Double
    public init(_ r: Double, _ g: Double, _ b: Double) { self.r = r; self.g = g; self.b = b }
    /// From 8-bit components.
    public init(bytes: (UInt8, UInt8, UInt8)) { self.init(Double(bytes.0) / 255, Double(bytes.1) / 255, Double(bytes.2) / 255) }
    /// `#rrggbb` (or `#rgb`); nil for anything else.
    public init?(hex: String) {
        var s = Substring(hex)
        guard s.first == "#" else { return nil }
        s = s.dropFirst()
        if s.count == 3 { s = Substring(s.map { "\($0)\($0)" }.joined()) }
        guard s.count == 6, let v = UInt32(s, radix: 16) else { return nil }
        self.init(bytes: (UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)))
    }
    public static let black = Color(0, 0, 0)
    public static let white = Color(1, 1, 1)
    public static let grid = Color(0.878, 0.878, 0.878)
    public static let gray = Color(0.6, 0.6, 0.6)
    /// matplotlib's tab10, the default series colours.
    public static let palette: [Color] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"].map { Color(hex: $0)! }
    /// The i-th palette colour (wrapping).
    public static func series(_ i: Int) -> Color { palette[((i % palette.count) + palette.count) % palette.count] }
}

/// How a text is placed relative to its anchor point.
public enum TextAnchor { case start, middle, end }

/// A figure: a fixed size and one drawing routine, rendered through cairo to PNG (image
/// surface) or SVG (SVG surface). Every figure kind draws only here, so the two formats
/// show the same thing.
public protocol Figure {
    /// Size in pixels (PNG) and in CSS pixels (SVG).
    var width: Int { get }
    var height: Int { get }
    /// Checks the data before anything is drawn (lengths, ranges); errors name the field.
    func validate() throws(ImagingError)
    /// Draws the figure on a canvas of `width` x `height`.
    func draw(_ canvas: Canvas)
}

extension Figure {
    /// The figure as RGB pixels (cairo image surface, antialiased, white background).
    public func image() throws(ImagingError) -> Image {
        try validate()
        try Canvas.checkFigureSize(width, height)
        return try Canvas.raster(width: width, height: height) { draw($0) }
    }

    /// The figure as PNG bytes.
    public func pngData() throws(ImagingError) -> [UInt8] { try image().pngData() }

    /// The figure as an SVG document (cairo SVG surface; text as DejaVu Sans glyph outlines).
    public func svg() throws(ImagingError) -> String {
        try validate()
        try Canvas.checkFigureSize(width, height)
        return try Canvas.vector(width: width, height: height) { draw($0) }
    }
}

/// A cairo context with the few operations the figures use. Coordinates are pixels with
/// the origin at the top left; where crispness matters, the caller offsets a line of odd
/// width on integer coordinates by half a pixel (as Axes does for its frame and ticks).
public final class Canvas {
    let cr: OpaquePointer
    /// The font family of all text.
    public static let fontFamily = "DejaVu Sans"

    init(_ cr: OpaquePointer) {
        self.cr = cr
        cairo_select_font_face(cr, Canvas.fontFamily, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL)
        let options = cairo_font_options_create()
        cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY)
        cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE)
        cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF)
        cairo_set_font_options(cr, options)
        cairo_font_options_destroy(options)
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
    }

    /// Largest figure side in pixels.
    public static let maxSide = 16384

    static func checkFigureSize(_ width: Int, _ height: Int) throws(ImagingError) {
        guard width > 0, height > 0, width <= maxSide, height <= maxSide else {
            throw ImagingError("figure size \(width)x\(height) out of range (1...\(maxSide) pixels per side)")
        }
    }

    /// Paints `surface` white and draws `body` on it; returns the drawing's cairo status, or
    /// nil when the surface failed or takes no drawing context.
    private static func paint(_ surface: OpaquePointer, _ body: (Canvas) -> Void) -> cairo_status_t? {
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS, let cr = cairo_create(surface) else { return nil }
        cairo_set_source_rgb(cr, 1, 1, 1)
        cairo_paint(cr)
        body(Canvas(cr))
        let status = cairo_status(cr)
        cairo_destroy(cr)
        return status
    }

    /// Draws on a white RGB24 image surface and returns its pixels.
    static func raster(width: Int, height: Int, _ body: (Canvas) -> Void) throws(ImagingError) -> Image {
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(width), Int32(height)) else {
            throw ImagingError("cannot create a \(width)x\(height) drawing surface")
        }
        defer { cairo_surface_destroy(surface) }
        guard let status = paint(surface, body) else {
            throw ImagingError("cannot create a \(width)x\(height) drawing surface")
        }
        guard status == CAIRO_STATUS_SUCCESS else { throw ImagingError("drawing failed: \(String(cString: cairo_status_to_string(status)))") }
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        guard let data = cairo_image_surface_get_data(surface) else { throw ImagingError("drawing surface has no pixels") }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        // RGB24: one native-endian 32-bit word per pixel, 0x00RRGGBB.
        for y in 0..<height {
            let row = UnsafeRawPointer(data + y * stride)
            for x in 0..<width {
                let v = row.loadUnaligned(fromByteOffset: x * 4, as: UInt32.self)
                let i = (y * width + x) * 3
                pixels[i] = UInt8(v >> 16 & 0xff)
                pixels[i + 1] = UInt8(v >> 8 & 0xff)
                pixels[i + 2] = UInt8(v & 0xff)
            }
        }
        return Image(unchecked: width, height, pixels)
    }

    /// Collects the bytes cairo's SVG surface writes.
    private final class Sink { var bytes: [UInt8] = [] }

    /// Draws on an SVG surface (pixel units, white background) and returns the document.
    static func vector(width: Int, height: Int, _ body: (Canvas) -> Void) throws(ImagingError) -> String {
        let sink = Sink()
        let box = Unmanaged.passRetained(sink)
        defer { box.release() }
        let write: cairo_write_func_t = { closure, data, length in
            guard let closure, let data else { return CAIRO_STATUS_WRITE_ERROR }
            let sink = Unmanaged<Sink>.fromOpaque(closure).takeUnretainedValue()
            sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length)))
            return CAIRO_STATUS_SUCCESS
        }
        guard let surface = cairo_svg_surface_create_for_stream(write, box.toOpaque(), Double(width), Double(height)) else {
            throw ImagingError("cannot create an SVG surface")
        }
        cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PX)
        guard let status = paint(surface, body) else {
            cairo_surface_destroy(surface)
            throw ImagingError("cannot create an SVG surface")
        }
        cairo_surface_finish(surface)
        let surfaceStatus = cairo_surface_status(surface)
        cairo_surface_destroy(surface)
        guard status == CAIRO_STATUS_SUCCESS, surfaceStatus == CAIRO_STATUS_SUCCESS else {
            throw ImagingError("SVG drawing failed: \(String(cString: cairo_status_to_string(status == CAIRO_STATUS_SUCCESS ? surfaceStatus : status)))")
        }
        return String(decoding: sink.bytes, as: UTF8.self)
    }

    // MARK: - Drawing

    private func source(_ c: Color, _ alpha: Double = 1) {
        if alpha >= 1 { cairo_set_source_rgb(cr, c.r, c.g, c.b) } else { cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha) }
    }

    /// A filled rectangle.
    public func fillRect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, _ color: Color, alpha: Double = 1) {
        cairo_rectangle(cr, x, y, w, h)
        source(color, alpha)
        cairo_fill(cr)
    }

    /// A rectangle outline of `width` (1 by default), drawn on the given edges.
    public func strokeRect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, _ color: Color, width: Double = 1) {
        cairo_rectangle(cr, x, y, w, h)
        source(color)
        cairo_set_line_width(cr, width)
        cairo_stroke(cr)
    }

    /// A straight line.
    public func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ color: Color, width: Double = 1, dash: [Double] = []) {
        polyline([(x0, y0), (x1, y1)], color, width: width, dash: dash)
    }

    /// Connected line segments.
    public func polyline(_ points: [(Double, Double)], _ color: Color, width: Double = 2, dash: [Double] = []) {
        guard let first = points.first else { return }
        cairo_move_to(cr, first.0, first.1)
        for p in points.dropFirst() { cairo_line_to(cr, p.0, p.1) }
        source(color)
        cairo_set_line_width(cr, width)
        cairo_set_dash(cr, dash, Int32(dash.count), 0)
        cairo_stroke(cr)
        cairo_set_dash(cr, nil, 0, 0)
    }

    /// A filled polygon.
    public func polygon(_ points: [(Double, Double)], _ color: Color, alpha: Double = 1) {
        guard let first = points.first else { return }
        cairo_move_to(cr, first.0, first.1)
        for p in points.dropFirst() { cairo_line_to(cr, p.0, p.1) }
        cairo_close_path(cr)
        source(color, alpha)
        cairo_fill(cr)
    }

    /// A filled disc, with an optional outline.
    public func circle(_ x: Double, _ y: Double, radius: Double, _ color: Color, alpha: Double = 1, edge: Color? = nil) {
        cairo_new_sub_path(cr)
        cairo_arc(cr, x, y, radius, 0, 2 * Double.pi)
        source(color, alpha)
        if let edge {
            cairo_fill_preserve(cr)
            source(edge)
            cairo_set_line_width(cr, 0.75)
            cairo_stroke(cr)
        } else {
            cairo_fill(cr)
        }
    }

    /// Width of a text in pixels at a font size.
    /// `s` cut to fit `maxWidth` pixels, ending in "…" when cut (the longest such prefix).
    public func ellipsized(_ s: String, maxWidth: Double, size: Double, bold: Bool = false) -> String {
        if textWidth(s, size: size, bold: bold) <= maxWidth { return s }
        let chars = Array(s)
        var lo = 0, hi = chars.count
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if textWidth(String(chars[..<mid]) + "…", size: size, bold: bold) <= maxWidth { lo = mid } else { hi = mid - 1 }
        }
        return String(chars[..<lo]) + "…"
    }

    public func textWidth(_ s: String, size: Double, bold: Bool = false) -> Double {
        font(size, bold)
        var e = cairo_text_extents_t()
        cairo_text_extents(cr, s, &e)
        return e.x_advance
    }

    private func font(_ size: Double, _ bold: Bool) {
        cairo_select_font_face(cr, Canvas.fontFamily, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(cr, size)
    }

    /// Text with its baseline at `y`, anchored at `x`; `rotate` turns it a quarter to the
    /// left (reading upwards) around the anchor.
    public func text(_ s: String, _ x: Double, _ y: Double, size: Double = 12, anchor: TextAnchor = .middle,
                     bold: Bool = false, color: Color = .black, rotate: Bool = false) {
        guard !s.isEmpty else { return }
        font(size, bold)
        var e = cairo_text_extents_t()
        cairo_text_extents(cr, s, &e)
        let dx: Double
        switch anchor {
        case .start: dx = 0
        case .middle: dx = -e.x_advance / 2
        case .end: dx = -e.x_advance
        }
        cairo_save(cr)
        cairo_translate(cr, x, y)
        if rotate { cairo_rotate(cr, -Double.pi / 2) }
        cairo_move_to(cr, dx, 0)
        source(color)
        cairo_show_text(cr, s)
        cairo_restore(cr)
    }

    /// Text centred vertically on `y` (for labels beside a row).
    public func textCentred(_ s: String, _ x: Double, _ y: Double, size: Double = 11, anchor: TextAnchor = .middle, color: Color = .black) {
        text(s, x, y + size * 0.36, size: size, anchor: anchor, color: color)
    }

    /// Restricts drawing to a rectangle until `unclip`.
    public func clip(_ x: Double, _ y: Double, _ w: Double, _ h: Double) {
        cairo_save(cr)
        cairo_rectangle(cr, x, y, w, h)
        cairo_clip(cr)
    }

    /// Ends the last `clip`.
    public func unclip() { cairo_restore(cr) }

    /// A raster image with its top left corner at (x, y), scaled by `scale` (nearest
    /// neighbour, so pixels stay sharp). At scale 1 on integer coordinates the pixels are exact.
    public func image(_ image: Image, _ x: Double, _ y: Double, scale: Double = 1) {
        let w = image.width, h = image.height
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(w), Int32(h)),
              cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS, let data = cairo_image_surface_get_data(surface) else { return }
        defer { cairo_surface_destroy(surface) }
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        image.pixels.withUnsafeBufferPointer { px in
            for row in 0..<h {
                let out = UnsafeMutableRawPointer(data + row * stride)
                for col in 0..<w {
                    let i = (row * w + col) * 3
                    let v = UInt32(px[i]) << 16 | UInt32(px[i + 1]) << 8 | UInt32(px[i + 2]) | 0xff00_0000
                    out.storeBytes(of: v, toByteOffset: col * 4, as: UInt32.self)
                }
            }
        }
        cairo_surface_mark_dirty(surface)
        cairo_save(cr)
        cairo_translate(cr, x, y)
        cairo_scale(cr, scale, scale)
        cairo_set_source_surface(cr, surface, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST)
        cairo_rectangle(cr, 0, 0, Double(w), Double(h))
        cairo_fill(cr)
        cairo_restore(cr)
    }

    /// A vertical colour bar: the colour map from `bottom` (0) to `top` (1), one band per entry.
    public func colorbar(_ x: Double, _ y: Double, _ w: Double, _ h: Double, _ colormap: Colormap) {
        let pattern = cairo_pattern_create_linear(0, y + h, 0, y)
        for i in 0...16 {
            let t = Float(i) / 16
            let c = Color(bytes: colormap.color(t))
            cairo_pattern_add_color_stop_rgb(pattern, Double(t), c.r, c.g, c.b)
        }
        cairo_rectangle(cr, x, y, w, h)
        cairo_set_source(cr, pattern)
        cairo_fill(cr)
        cairo_pattern_destroy(pattern)
    }
}
