import Foundation

/// A named image-to-tensor pipeline: 8-bit resize (and crop), then x/255, (x - mean)/std.
///
/// Two pipelines exist, as the method notes require (Docs/method.md#preprocessing):
/// - `timm`: timm's eval transform for PIL images: resize the SHORTER side to
///   `floor(size / cropPct)` with the config's interpolation (torchvision `Resize(int)`:
///   the long side becomes `int(resize * long / short)`), center crop size x size,
///   x/255, (x - mean)/std;
/// - `squash`: the paper's pipeline for CLS ViTs: resize the whole image to size x size
///   (bilinear, antialiased, on 8-bit pixels), no crop, x/255, (x - 0.5)/0.5.
/// All resizing is Pillow-exact (see `Image.resized`); the float steps are done in
/// Float32 in torchvision's order, so outputs equal torchvision's to the last bit in the
/// usual case. Printing a pipeline shows every parameter.
public struct Preprocessing: Equatable, Sendable, CustomStringConvertible {
    /// Which pipeline this is.
    public enum Kind: String, Sendable {
        /// Resize the short side, then center crop (timm/torchvision eval).
        case timm
        /// Resize the whole image to a square, no crop (the paper).
        case squash
    }

    /// The pipeline kind.
    public var kind: Kind
    /// Output side: images come out as 3 x size x size.
    public var size: Int
    /// For `timm`: the short-side target before cropping (`floor(size / cropPct)`);
    /// for `squash`: equal to `size`.
    public var resizeSize: Int
    /// Resampling filter of the resize.
    public var interpolation: ResampleFilter
    /// Per-channel mean subtracted after scaling to [0, 1] (R, G, B).
    public var mean: [Float]
    /// Per-channel standard deviation divided by (R, G, B).
    public var std: [Float]

    /// ImageNet mean (0.485, 0.456, 0.406), timm's default.
    public static let imagenetMean: [Float] = [0.485, 0.456, 0.406]
    /// ImageNet std (0.229, 0.224, 0.225), timm's default.
    public static let imagenetStd: [Float] = [0.229, 0.224, 0.225]

    /// timm's eval transform: short side to `floor(size / cropPct)`, center crop, normalise.
    public static func timm(size: Int = 224, cropPct: Double = 0.875, interpolation: ResampleFilter = .bicubic,
                            mean: [Float] = imagenetMean, std: [Float] = imagenetStd) throws(ImagingError) -> Preprocessing {
        guard cropPct > 0, cropPct <= 1 else {
            throw ImagingError("crop_pct must be in (0, 1], got \(cropPct)")
        }
        guard size > 0, size <= Image.maxSide else {
            throw ImagingError("bad preprocessing size \(size) (1...\(Image.maxSide))")
        }
        let resize = Int((Double(size) / cropPct).rounded(.down))
        return try Preprocessing(kind: .timm, size: size, resizeSize: resize, interpolation: interpolation, mean: mean, std: std)
    }

    /// The paper's squash: resize to size x size (bilinear by default), normalise with 0.5/0.5.
    public static func squash(size: Int = 224, interpolation: ResampleFilter = .bilinear,
                              mean: [Float] = [0.5, 0.5, 0.5], std: [Float] = [0.5, 0.5, 0.5]) throws(ImagingError) -> Preprocessing {
        try Preprocessing(kind: .squash, size: size, resizeSize: size, interpolation: interpolation, mean: mean, std: std)
    }

    /// Creates a pipeline from all its parameters, checking them.
    public init(kind: Kind, size: Int, resizeSize: Int, interpolation: ResampleFilter,
                mean: [Float], std: [Float]) throws(ImagingError) {
        guard size > 0, size <= Image.maxSide, resizeSize >= size, resizeSize <= Image.maxSide else {
            throw ImagingError("bad preprocessing size \(size) (resize \(resizeSize))")
        }
        guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 != 0 && $0.isFinite }), mean.allSatisfy(\.isFinite) else {
            throw ImagingError("mean and std need 3 finite values each (std non-zero), got \(mean) and \(std)")
        }
        self.kind = kind
        self.size = size
        self.resizeSize = resizeSize
        self.interpolation = interpolation
        self.mean = mean
        self.std = std
    }

    /// Shape of one output: [3, size, size] (CHW).
    public var outputShape: [Int] { [3, size, size] }

    /// `timm: resize short side 256 (bicubic), center crop 224, mean (0.5, 0.5, 0.5), std (0.5, 0.5, 0.5)`.
    public var description: String {
        let stats = "mean \(Preprocessing.triple(mean)), std \(Preprocessing.triple(std))"
        switch kind {
        case .timm:
            return "timm: resize short side \(resizeSize) (\(interpolation.rawValue)), center crop \(size), \(stats)"
        case .squash:
            return "squash: resize to \(size)x\(size) (\(interpolation.rawValue)), \(stats)"
        }
    }

    /// Formats three values as `(0.485, 0.456, 0.406)`.
    private static func triple(_ v: [Float]) -> String {
        "(" + v.map { "\($0)" }.joined(separator: ", ") + ")"
    }

    // MARK: - Applying

    /// The 8-bit stage: resize (and crop for `timm`) to size x size.
    public func geometry(_ image: Image) throws(ImagingError) -> Image {
        switch kind {
        case .squash:
            return try image.resized(width: size, height: size, filter: interpolation)
        case .timm:
            let (w, h) = Preprocessing.shortSideSize(width: image.width, height: image.height, short: resizeSize)
            let resized = try image.resized(width: w, height: h, filter: interpolation)
            return try resized.centerCropped(width: size, height: size)
        }
    }

    /// torchvision `Resize(int)` output size: short side `short`, long side `int(short * long / short_in)`.
    public static func shortSideSize(width: Int, height: Int, short: Int) -> (width: Int, height: Int) {
        if width <= height {
            let long = Int(Double(short) * Double(height) / Double(width))
            return (short, long)
        } else {
            let long = Int(Double(short) * Double(width) / Double(height))
            return (long, short)
        }
    }

    /// Runs the whole pipeline: a Float32 CHW array of `outputShape` (3 * size * size values).
    public func apply(_ image: Image) throws(ImagingError) -> [Float] {
        normalize(try geometry(image))
    }

    /// x/255 then (x - mean)/std per channel, in Float32 and torchvision's order, HWC -> CHW.
    public func normalize(_ image: Image) -> [Float] {
        let plane = image.width * image.height
        var out = [Float](repeating: 0, count: 3 * plane)
        for c in 0..<3 {
            let m = mean[c]
            let s = std[c]
            for i in 0..<plane {
                let x = Float(image.pixels[3 * i + c]) / 255
                out[c * plane + i] = (x - m) / s
            }
        }
        return out
    }

    /// Runs the pipeline on several images: [N, 3, size, size] values, image after image.
    public func apply(batch images: [Image]) throws(ImagingError) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(images.count * 3 * size * size)
        for image in images { out += try apply(image) }
        return out
    }

    /// Inverts `normalize` for display: x * std + mean, times 255, rounded and clipped.
    public func denormalize(_ chw: [Float], width: Int, height: Int) throws(ImagingError) -> Image {
        try Image.checkSize(width: width, height: height)
        let plane = width * height
        guard chw.count == 3 * plane else {
            throw ImagingError("CHW array has \(chw.count) values, expected 3x\(height)x\(width)")
        }
        var pixels = [UInt8](repeating: 0, count: 3 * plane)
        for c in 0..<3 {
            for i in 0..<plane {
                let v = ((chw[c * plane + i] * std[c] + mean[c]) * 255).rounded()
                pixels[3 * i + c] = v.isNaN ? 0 : UInt8(min(max(v, 0), 255))
            }
        }
        return Image(unchecked: width, height, pixels)
    }
}
