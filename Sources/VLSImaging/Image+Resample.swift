/// Pillow-exact resampling of 8-bit RGB images.
///
/// This follows Pillow's `ImagingResample` (src/libImaging/Resample.c) step by step, so
/// results equal `PIL.Image.resize((w, h), filter)` on an RGB image byte for byte:
/// - per output pixel, the filter support is scaled by the downscale factor
///   (antialiasing), taps run from `Int(center - support + 0.5)` to
///   `Int(center + support + 0.5)` clipped to the image, and the weights are normalised
///   to sum to 1 (in Double);
/// - the weights become fixed-point integers with 22 fractional bits
///   (`PRECISION_BITS = 32 - 8 - 2`), rounded half away from zero;
/// - the horizontal pass runs first, then the vertical pass; a pass is skipped when that
///   side keeps its size; each pass accumulates in integers starting from
///   `1 << 21` (rounding), shifts right by 22 and clips to 0...255, so the intermediate
///   image is 8-bit, as in Pillow;
/// - `nearest` goes through Pillow's affine scaling instead (source coordinate
///   `floor((x + 0.5) * inWidth / outWidth)`, accumulated in Double as Pillow does).
/// This is `Image.resize` with `reducing_gap=None` (its default), which torchvision and
/// timm use; `box` and `hamming` are provided for completeness.
extension Image {
    /// Fixed-point fraction bits of Pillow's 8-bit resampler.
    static let precisionBits = 32 - 8 - 2

    /// Resizes to width x height with a Pillow filter (exactly as `PIL.Image.resize`).
    public func resized(width outWidth: Int, height outHeight: Int, filter: ResampleFilter) throws(ImagingError) -> Image {
        try Image.checkSize(width: outWidth, height: outHeight)
        if outWidth == width && outHeight == height { return self }
        if filter == .nearest { return resizedNearest(width: outWidth, height: outHeight) }

        let needHorizontal = outWidth != width
        let needVertical = outHeight != height
        let vertical = ResampleCoefficients(inSize: height, outSize: outHeight, filter: filter)
        var source = self
        var rowOffset = 0
        if needHorizontal {
            // Only rows the vertical pass reads are computed (as Pillow does).
            let first = vertical.bounds[0]
            let last = vertical.bounds[2 * (outHeight - 1)] + vertical.bounds[2 * (outHeight - 1) + 1]
            let horizontal = ResampleCoefficients(inSize: width, outSize: outWidth, filter: filter)
            source = horizontalPass(horizontal, firstRow: first, rowCount: last - first)
            rowOffset = first
        }
        if needVertical {
            source = source.verticalPass(vertical, rowOffset: rowOffset, outHeight: outHeight)
        }
        return source
    }

    /// Pillow's horizontal pass over rows firstRow ..< firstRow + rowCount.
    private func horizontalPass(_ c: ResampleCoefficients, firstRow: Int, rowCount: Int) -> Image {
        let outWidth = c.outSize
        var out = [UInt8](repeating: 0, count: outWidth * rowCount * 3)
        let half = 1 << (Image.precisionBits - 1)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                c.withBuffers { bounds, fixed in
                for y in 0..<rowCount {
                    let inRow = (y + firstRow) * width * 3
                    let outRow = y * outWidth * 3
                    for xx in 0..<outWidth {
                        let xmin = bounds[2 * xx]
                        let count = bounds[2 * xx + 1]
                        let k = xx * c.kernelSize
                        var s0 = half, s1 = half, s2 = half
                        for x in 0..<count {
                            let w = fixed[k + x]
                            let p = inRow + (x + xmin) * 3
                            s0 += Int(src[p]) * w
                            s1 += Int(src[p + 1]) * w
                            s2 += Int(src[p + 2]) * w
                        }
                        dst[outRow + xx * 3] = Image.clip8(s0)
                        dst[outRow + xx * 3 + 1] = Image.clip8(s1)
                        dst[outRow + xx * 3 + 2] = Image.clip8(s2)
                    }
                }
                }
            }
        }
        return Image(unchecked: outWidth, rowCount, out)
    }

    /// Pillow's vertical pass; `rowOffset` is the first source row this image holds.
    private func verticalPass(_ c: ResampleCoefficients, rowOffset: Int, outHeight: Int) -> Image {
        var out = [UInt8](repeating: 0, count: width * outHeight * 3)
        let half = 1 << (Image.precisionBits - 1)
        let stride = width * 3
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                c.withBuffers { bounds, fixed in
                for yy in 0..<outHeight {
                    let ymin = bounds[2 * yy] - rowOffset
                    let count = bounds[2 * yy + 1]
                    let k = yy * c.kernelSize
                    for i in 0..<stride {
                        var s = half
                        for y in 0..<count {
                            s += Int(src[(y + ymin) * stride + i]) * fixed[k + y]
                        }
                        dst[yy * stride + i] = Image.clip8(s)
                    }
                }
                }
            }
        }
        return Image(unchecked: width, outHeight, out)
    }

    /// Pillow's `clip8`: arithmetic shift by PRECISION_BITS, clipped to 0...255.
    @inline(__always)
    static func clip8(_ v: Int) -> UInt8 {
        let s = v >> precisionBits
        return s < 0 ? 0 : (s > 255 ? 255 : UInt8(s))
    }

    /// Pillow's nearest-neighbour resize (affine scaling with pixel-centre sampling).
    ///
    /// Output column x reads source column `Int(x0 + x * sx)` accumulated as Pillow does,
    /// with `x0 = sx / 2` and `sx = inWidth / outWidth`; the same for rows. So for an
    /// exact 2x reduction the pixel at odd coordinates (1, 3, ...) is picked.
    func resizedNearest(width outWidth: Int, height outHeight: Int) -> Image {
        let xs = Image.nearestIndices(inSize: width, outSize: outWidth)
        let ys = Image.nearestIndices(inSize: height, outSize: outHeight)
        var out = [UInt8](repeating: 0, count: outWidth * outHeight * 3)
        for (yy, y) in ys.enumerated() {
            for (xx, x) in xs.enumerated() {
                let s = (y * width + x) * 3
                let d = (yy * outWidth + xx) * 3
                out[d] = pixels[s]
                out[d + 1] = pixels[s + 1]
                out[d + 2] = pixels[s + 2]
            }
        }
        return Image(unchecked: outWidth, outHeight, out)
    }

    /// The source index each output index reads under Pillow's NEAREST resize.
    ///
    /// Pillow (Geometry.c `ImagingScaleAffine`) starts at `a/2` with `a = in/out` and adds
    /// `a` per step in Double, truncating; indices outside the image are clamped here
    /// (Pillow leaves such pixels unfilled, which cannot happen for a plain resize).
    public static func nearestIndices(inSize: Int, outSize: Int) -> [Int] {
        guard inSize > 0, outSize > 0 else { return [] }
        let a = Double(inSize) / Double(outSize)
        var pos = a * 0.5
        var result = [Int](repeating: 0, count: outSize)
        for i in 0..<outSize {
            let v = pos < 0 ? 0 : Int(pos)
            result[i] = min(max(v, 0), inSize - 1)
            pos += a
        }
        return result
    }
}

/// Pillow's precomputed resampling taps for one axis (`precompute_coeffs` plus
/// `normalize_coeffs_8bpc`).
struct ResampleCoefficients {
    /// Output length.
    let outSize: Int
    /// Maximum taps per output sample (`ceil(support) * 2 + 1`).
    let kernelSize: Int
    /// Per output sample: first input index and number of taps.
    let bounds: [Int]
    /// Fixed-point weights, `kernelSize` per output sample.
    let fixed: [Int]

    /// Calls `body` with the bounds and weights as unsafe buffers (for the hot loops).
    func withBuffers(_ body: (UnsafeBufferPointer<Int>, UnsafeBufferPointer<Int>) -> Void) {
        bounds.withUnsafeBufferPointer { b in fixed.withUnsafeBufferPointer { f in body(b, f) } }
    }

    /// Computes the taps for resizing inSize samples to outSize with `filter`.
    init(inSize: Int, outSize: Int, filter: ResampleFilter) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = filter.support * filterScale
        let kernelSize = Int(support.rounded(.up)) * 2 + 1
        var bounds = [Int](repeating: 0, count: outSize * 2)
        var fixed = [Int](repeating: 0, count: outSize * kernelSize)
        var weights = [Double](repeating: 0, count: kernelSize)
        let one = Double(1 << Image.precisionBits)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let ss = 1.0 / filterScale
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var total = 0.0
            for x in 0..<max(xmax, 0) {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                weights[x] = w
                total += w
            }
            for x in 0..<max(xmax, 0) {
                let w = total != 0 ? weights[x] / total : weights[x]
                fixed[xx * kernelSize + x] = w < 0 ? Int(-0.5 + w * one) : Int(0.5 + w * one)
            }
            bounds[2 * xx] = xmin
            bounds[2 * xx + 1] = max(xmax, 0)
        }
        self.outSize = outSize
        self.kernelSize = kernelSize
        self.bounds = bounds
        self.fixed = fixed
    }
}
