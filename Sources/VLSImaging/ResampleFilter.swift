import Foundation

/// A resampling filter, named as in Pillow (`Image.Resampling`) and torchvision.
public enum ResampleFilter: String, CaseIterable, Sendable {
    case nearest
    case box
    case bilinear
    case hamming
    case bicubic
    case lanczos

    /// Parses a name as timm configs and users write it (`bicubic`, `BILINEAR`, `linear`,
    /// `antialias`, `lanczos3`).
    public init?(name: String) {
        switch name.lowercased() {
        case "nearest", "nearest-exact": self = .nearest
        case "box", "area": self = .box
        case "bilinear", "linear": self = .bilinear
        case "hamming": self = .hamming
        case "bicubic", "cubic": self = .bicubic
        case "lanczos", "lanczos3", "antialias": self = .lanczos
        default: return nil
        }
    }

    /// The filter's support radius at scale 1 (Pillow's `struct filter.support`).
    var support: Double {
        switch self {
        case .nearest: return 0
        case .box: return 0.5
        case .bilinear, .hamming: return 1
        case .bicubic: return 2
        case .lanczos: return 3
        }
    }

    /// The filter kernel evaluated at x (Pillow's `*_filter` functions, same arithmetic).
    func weight(_ x: Double) -> Double {
        switch self {
        case .nearest:
            return 0
        case .box:
            return (x > -0.5 && x <= 0.5) ? 1 : 0
        case .bilinear:
            let a = abs(x)
            return a < 1 ? 1 - a : 0
        case .hamming:
            let a = abs(x)
            if a == 0 { return 1 }
            if a >= 1 { return 0 }
            let p = a * Double.pi
            // Pillow writes 0.54f and 0.46f: single-precision constants promoted to double.
            return sin(p) / p * (Double(Float(0.54)) + Double(Float(0.46)) * cos(p))
        case .bicubic:
            let a = -0.5
            let t = abs(x)
            if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
            if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
            return 0
        case .lanczos:
            if -3 <= x && x < 3 { return ResampleFilter.sinc(x) * ResampleFilter.sinc(x / 3) }
            return 0
        }
    }

    /// sin(pi x) / (pi x), 1 at 0.
    private static func sinc(_ x: Double) -> Double {
        if x == 0 { return 1 }
        let p = x * Double.pi
        return sin(p) / p
    }
}
