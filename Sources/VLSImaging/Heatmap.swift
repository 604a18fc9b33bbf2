/// Saliency heatmaps: normalise, upsample, colour and blend over an image.
///
/// The display of Docs/method.md#saliency-and-the-perturbation-test: min-max normalise the patch-grid values,
/// bilinear-upsample to the image size, apply a colour map, alpha-blend with the image.
/// Upsampling is `torch.nn.functional.interpolate(mode='bilinear', align_corners=False)`
/// (no antialias): output pixel x samples source coordinate `(x + 0.5) * cols / width - 0.5`
/// clamped at 0, between the two neighbouring cells (the last cell repeats at the edge).
/// cv2.resize(INTER_LINEAR) uses the same coordinates for upsampling.
public enum Heatmap {
    /// Min-max normalises to [0, 1]; a constant (or empty) input gives zeros, NaN becomes 0.
    public static func normalized(_ values: [Float]) -> [Float] {
        let finite = values.filter(\.isFinite)
        guard let lo = finite.min(), let hi = finite.max(), hi > lo else {
            return [Float](repeating: 0, count: values.count)
        }
        let range = hi - lo
        return values.map { $0.isFinite ? ($0 - lo) / range : ($0 == .infinity ? 1 : 0) }
    }

    /// Bilinear upsampling of a rows x cols grid to width x height (align_corners=False).
    public static func upsampled(_ grid: [Float], rows: Int, cols: Int, width: Int, height: Int) throws(ImagingError) -> [Float] {
        guard rows > 0, cols > 0, grid.count == rows * cols else {
            throw ImagingError("heatmap grid has \(grid.count) values, expected \(rows)x\(cols)")
        }
        try Image.checkSize(width: width, height: height)
        let xs = axis(inSize: cols, outSize: width)
        let ys = axis(inSize: rows, outSize: height)
        var out = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            let (y0, y1, ly) = ys[y]
            for x in 0..<width {
                let (x0, x1, lx) = xs[x]
                let top = grid[y0 * cols + x0] * (1 - lx) + grid[y0 * cols + x1] * lx
                let bottom = grid[y1 * cols + x0] * (1 - lx) + grid[y1 * cols + x1] * lx
                out[y * width + x] = top * (1 - ly) + bottom * ly
            }
        }
        return out
    }

    /// Per output index: the two source indices and the weight of the second.
    static func axis(inSize: Int, outSize: Int) -> [(Int, Int, Float)] {
        let scale = Float(inSize) / Float(outSize)
        return (0..<outSize).map { i in
            let src = max((Float(i) + 0.5) * scale - 0.5, 0)
            let i0 = min(Int(src), inSize - 1)
            let i1 = min(i0 + 1, inSize - 1)
            return (i0, i1, src - Float(i0))
        }
    }

    /// Colours values in [0, 1] (width x height) with a colour map.
    public static func colorized(_ values: [Float], width: Int, height: Int, colormap: Colormap) throws(ImagingError) -> Image {
        try Image.checkSize(width: width, height: height)
        guard values.count == width * height else {
            throw ImagingError("heatmap has \(values.count) values, expected \(width)x\(height)")
        }
        let table = colormap.table
        var pixels = [UInt8](repeating: 0, count: values.count * 3)
        for (i, v) in values.enumerated() {
            let k = Colormap.index(v) * 3
            pixels[3 * i] = table[k]
            pixels[3 * i + 1] = table[k + 1]
            pixels[3 * i + 2] = table[k + 2]
        }
        return Image(unchecked: width, height, pixels)
    }

    /// The saliency display: normalise a rows x cols grid, upsample to the image, colour,
    /// and blend `alpha * colour + (1 - alpha) * image` (rounded to nearest).
    public static func overlay(_ grid: [Float], rows: Int, cols: Int, on image: Image,
                               colormap: Colormap = .jet, alpha: Float = 0.5) throws(ImagingError) -> Image {
        guard alpha >= 0, alpha <= 1 else { throw ImagingError("overlay alpha must be in [0, 1], got \(alpha)") }
        let values = try upsampled(normalized(grid), rows: rows, cols: cols, width: image.width, height: image.height)
        let colour = try colorized(values, width: image.width, height: image.height, colormap: colormap)
        var out = image
        for i in 0..<out.pixels.count {
            let v = alpha * Float(colour.pixels[i]) + (1 - alpha) * Float(image.pixels[i])
            out.pixels[i] = UInt8(min(max(v.rounded(), 0), 255))
        }
        return out
    }
}
