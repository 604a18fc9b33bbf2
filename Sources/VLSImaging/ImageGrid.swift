import Foundation

/// Tiling several images into one figure: a PNG-ready `Image`, or an SVG with captions.
public enum ImageGrid {
    /// Tiles images row by row, `columns` per row, each centred in a cell as large as the
    /// largest image, separated by `padding` pixels of `background`.
    public static func tiled(_ images: [Image], columns: Int, padding: Int = 4,
                             background: (UInt8, UInt8, UInt8) = (255, 255, 255)) throws(ImagingError) -> Image {
        guard !images.isEmpty else { throw ImagingError("image grid needs at least one image") }
        guard columns > 0, padding >= 0, padding <= 1000 else {
            throw ImagingError("image grid needs columns > 0 and padding in 0...1000")
        }
        let cols = min(columns, images.count)
        let rows = (images.count + cols - 1) / cols
        let cw = images.map(\.width).max() ?? 1
        let ch = images.map(\.height).max() ?? 1
        let width = cols * cw + (cols + 1) * padding
        let height = rows * ch + (rows + 1) * padding
        var out = try Image(width: width, height: height, fill: background)
        for (i, image) in images.enumerated() {
            let ox = padding + (i % cols) * (cw + padding) + (cw - image.width) / 2
            let oy = padding + (i / cols) * (ch + padding) + (ch - image.height) / 2
            for y in 0..<image.height {
                let s = y * image.width * 3
                let d = ((oy + y) * width + ox) * 3
                out.pixels.replaceSubrange(d..<(d + image.width * 3), with: image.pixels[s..<(s + image.width * 3)])
            }
        }
        return out
    }

    /// An SVG grid with a caption under each image (images embedded as base64 PNGs),
    /// each shown at `scale` times its size (pixelated, so patch grids stay sharp).
    public static func svg(_ images: [Image], captions: [String] = [], columns: Int, scale: Double = 1,
                           title: String = "") throws(ImagingError) -> String {
        guard !images.isEmpty else { throw ImagingError("image grid needs at least one image") }
        guard columns > 0, scale > 0, scale <= 64 else { throw ImagingError("image grid needs columns > 0 and scale in (0, 64]") }
        guard captions.isEmpty || captions.count == images.count else {
            throw ImagingError("image grid has \(images.count) images but \(captions.count) captions")
        }
        let cols = min(columns, images.count)
        let rows = (images.count + cols - 1) / cols
        let cw = Double(images.map(\.width).max() ?? 1) * scale
        let ch = Double(images.map(\.height).max() ?? 1) * scale
        let captionHeight = captions.isEmpty ? 0.0 : 18.0
        let pad = 8.0, top = title.isEmpty ? 0.0 : 28.0
        let width = Int((Double(cols) * (cw + pad) + pad).rounded(.up))
        let height = Int((top + Double(rows) * (ch + captionHeight + pad) + pad).rounded(.up))
        var out = SVG.header(width: width, height: height)
        if !title.isEmpty { out += SVG.text(title, x: Double(width) / 2, y: 20, size: 14, weight: "bold") }
        for (i, image) in images.enumerated() {
            let png = try image.pngData()
            let w = Double(image.width) * scale, h = Double(image.height) * scale
            let x = pad + Double(i % cols) * (cw + pad) + (cw - w) / 2
            let y = top + pad + Double(i / cols) * (ch + captionHeight + pad) + (ch - h) / 2
            out += "<image x=\"\(SVG.num(x))\" y=\"\(SVG.num(y))\" width=\"\(SVG.num(w))\" height=\"\(SVG.num(h))\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64,\(Data(png).base64EncodedString())\"/>\n"
            if !captions.isEmpty {
                let cx = pad + Double(i % cols) * (cw + pad) + cw / 2
                let cy = top + pad + Double(i / cols) * (ch + captionHeight + pad) + ch + 14
                out += SVG.text(captions[i], x: cx, y: cy, size: 11)
            }
        }
        out += "</svg>\n"
        return out
    }
}
