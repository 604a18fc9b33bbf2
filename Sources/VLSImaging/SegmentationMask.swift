/// An ImageNet-S style segmentation mask: a PNG whose pixel class id is G * 256 + R.
///
/// (ImageNet-S stores 0 for background, 1000 for "ignore", and class ids 1...919 in
/// between, as R + 256 G.) `patchGrid` downsamples to a ViT's patch grid with Pillow's
/// `resize(NEAREST)` semantics: output cell (r, c) reads pixel
/// (`nearestIndices(width, cols)[c]`, `nearestIndices(height, rows)[r]`), i.e. the pixel
/// under the cell's centre, `floor((c + 0.5) * width / cols)` (accumulated in Double as
/// Pillow does). For a 224-pixel mask and a 14 x 14 grid that is pixel 8 + 16 c.
public struct SegmentationMask: Equatable, Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Class id per pixel, row-major.
    public let ids: [Int32]

    /// Reads a mask PNG (errors name the file).
    public init(contentsOf path: String) throws(ImagingError) {
        self.init(image: try Image(contentsOf: path))
    }

    /// Builds a mask from decoded RGB pixels: id = G * 256 + R (blue ignored).
    public init(image: Image) {
        var ids = [Int32](repeating: 0, count: image.width * image.height)
        for i in 0..<ids.count {
            ids[i] = Int32(image.pixels[3 * i + 1]) * 256 + Int32(image.pixels[3 * i])
        }
        self.width = image.width
        self.height = image.height
        self.ids = ids
    }

    /// Builds a mask from ids directly; the count must be width * height.
    public init(width: Int, height: Int, ids: [Int32]) throws(ImagingError) {
        try Image.checkSize(width: width, height: height)
        guard ids.count == width * height else {
            throw ImagingError("mask has \(ids.count) ids, expected \(width)x\(height)")
        }
        self.width = width
        self.height = height
        self.ids = ids
    }

    /// Class id per patch, row-major over a rows x cols grid (Pillow NEAREST semantics).
    public func patchGrid(rows: Int, cols: Int) throws(ImagingError) -> [Int32] {
        guard rows > 0, cols > 0, rows <= Image.maxSide, cols <= Image.maxSide else {
            throw ImagingError("bad patch grid \(rows)x\(cols)")
        }
        let xs = Image.nearestIndices(inSize: width, outSize: cols)
        let ys = Image.nearestIndices(inSize: height, outSize: rows)
        var out = [Int32](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            for c in 0..<cols {
                out[r * cols + c] = ids[ys[r] * width + xs[c]]
            }
        }
        return out
    }

    /// The distinct class ids present, sorted.
    public var classIDs: [Int32] { Array(Set(ids)).sorted() }
}
