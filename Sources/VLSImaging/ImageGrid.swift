import Foundation

/// Tiling several images into one image.
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
}
