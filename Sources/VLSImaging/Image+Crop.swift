/// Cropping and padding, with torchvision's rounding.
extension Image {
    /// Crops the rectangle at (left, top) of size width x height; the part outside the
    /// image is filled with black (as `PIL.Image.crop` does).
    public func cropped(left: Int, top: Int, width outWidth: Int, height outHeight: Int) throws(ImagingError) -> Image {
        try Image.checkSize(width: outWidth, height: outHeight)
        var out = [UInt8](repeating: 0, count: outWidth * outHeight * 3)
        for y in 0..<outHeight {
            let sy = y + top
            guard sy >= 0, sy < height else { continue }
            for x in 0..<outWidth {
                let sx = x + left
                guard sx >= 0, sx < width else { continue }
                let s = (sy * width + sx) * 3
                let d = (y * outWidth + x) * 3
                out[d] = pixels[s]
                out[d + 1] = pixels[s + 1]
                out[d + 2] = pixels[s + 2]
            }
        }
        return Image(unchecked: outWidth, outHeight, out)
    }

    /// torchvision's `CenterCrop`: offsets `int(round((h - th) / 2.0))` with Python's
    /// round-half-to-even, and zero padding (left/top `(th - h) // 2`) when the crop is
    /// larger than the image.
    public func centerCropped(width outWidth: Int, height outHeight: Int) throws(ImagingError) -> Image {
        var source = self
        if outWidth > width || outHeight > height {
            let padLeft = outWidth > width ? (outWidth - width) / 2 : 0
            let padTop = outHeight > height ? (outHeight - height) / 2 : 0
            let padRight = outWidth > width ? (outWidth - width + 1) / 2 : 0
            let padBottom = outHeight > height ? (outHeight - height + 1) / 2 : 0
            source = try cropped(left: -padLeft, top: -padTop,
                                 width: width + padLeft + padRight, height: height + padTop + padBottom)
            if source.width == outWidth && source.height == outHeight { return source }
        }
        let top = Image.roundHalfEven(Double(source.height - outHeight) / 2.0)
        let left = Image.roundHalfEven(Double(source.width - outWidth) / 2.0)
        return try source.cropped(left: left, top: top, width: outWidth, height: outHeight)
    }

    /// Python 3's `round()` for the halves a centre crop produces (0.5 -> 0, 1.5 -> 2).
    static func roundHalfEven(_ v: Double) -> Int {
        Int(v.rounded(.toNearestOrEven))
    }
}
