/// An 8-bit RGB image: width x height pixels, interleaved R, G, B, row-major.
///
/// `Image` is the currency of the imaging layer: decoders produce it, the resampler and
/// crops transform it, `Preprocessing` turns it into a Float32 CHW array, and the figure
/// functions draw into it. It knows nothing of tensors.
public struct Image: Equatable, Sendable {
    /// Width in pixels (> 0).
    public let width: Int
    /// Height in pixels (> 0).
    public let height: Int
    /// RGB8 pixels, `width * height * 3` bytes, pixel (x, y) at `(y * width + x) * 3`.
    public internal(set) var pixels: [UInt8]

    /// Largest accepted side, as in the C shim: the pixel count is the bound (Pillow has no
    /// limit per side; a 65535x1 PNG it opens must open here).
    public static let maxSide = maxPixels
    /// Largest accepted pixel count, as in the C shim: Pillow's decompression-bomb limit
    /// (2 * `Image.MAX_IMAGE_PIXELS` = 178,956,970).
    public static let maxPixels = 178_956_970

    /// Creates an image from interleaved RGB8 pixels; the count must be width * height * 3.
    public init(width: Int, height: Int, pixels: [UInt8]) throws(ImagingError) {
        try Image.checkSize(width: width, height: height)
        guard pixels.count == width * height * 3 else {
            throw ImagingError("RGB pixel array has \(pixels.count) bytes, expected \(width)x\(height)x3 = \(width * height * 3)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Creates an RGB image from 8-bit gray values (one byte per pixel), replicated to R, G, B.
    ///
    /// This is how Fashion-MNIST digits enter the same pipelines as photographs
    /// (Pillow's `convert('RGB')` of an `L` image does the same).
    public init(width: Int, height: Int, gray: [UInt8]) throws(ImagingError) {
        try Image.checkSize(width: width, height: height)
        guard gray.count == width * height else {
            throw ImagingError("gray pixel array has \(gray.count) bytes, expected \(width)x\(height) = \(width * height)")
        }
        var rgb = [UInt8](repeating: 0, count: gray.count * 3)
        for i in 0..<gray.count {
            let v = gray[i]
            rgb[3 * i] = v
            rgb[3 * i + 1] = v
            rgb[3 * i + 2] = v
        }
        self.width = width
        self.height = height
        self.pixels = rgb
    }

    /// Creates an image filled with one colour.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8)) throws(ImagingError) {
        try Image.checkSize(width: width, height: height)
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            rgb[3 * i] = fill.0
            rgb[3 * i + 1] = fill.1
            rgb[3 * i + 2] = fill.2
        }
        self.width = width
        self.height = height
        self.pixels = rgb
    }

    /// Internal initialiser for sizes and buffers already known to be consistent.
    init(unchecked width: Int, _ height: Int, _ pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Checks that a size is positive and within `maxSide` / `maxPixels`.
    static func checkSize(width: Int, height: Int) throws(ImagingError) {
        guard width > 0, height > 0, width <= maxSide, height <= maxSide, width * height <= maxPixels else {
            throw ImagingError("image size \(width)x\(height) out of range (1...\(maxSide) per side, at most \(maxPixels) pixels)")
        }
    }

    /// The pixel at (x, y) as (r, g, b); x and y must be in range.
    public func pixel(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Sets the pixel at (x, y); x and y must be in range.
    public mutating func setPixel(x: Int, y: Int, _ rgb: (UInt8, UInt8, UInt8)) {
        let i = (y * width + x) * 3
        pixels[i] = rgb.0
        pixels[i + 1] = rgb.1
        pixels[i + 2] = rgb.2
    }
}

extension Image: CustomStringConvertible {
    /// `Image(37x29 RGB)`.
    public var description: String { "Image(\(width)x\(height) RGB)" }
}
