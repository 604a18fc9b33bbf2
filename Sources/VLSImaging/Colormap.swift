/// A 256-entry colour map matching matplotlib's (`cmap(x, bytes=True)`).
///
/// Lookup follows matplotlib's `Colormap.__call__`: a value x in [0, 1] selects entry
/// `Int(x * 256)` clamped to 0...255 (so 1.0 is the last entry), and 8-bit colours are
/// `UInt8(entry * 255)` truncated, as matplotlib's `bytes=True` path does. Values below 0
/// take the first entry, above 1 the last, NaN the first.
public enum Colormap: String, CaseIterable, Sendable {
    /// Perceptually uniform blue-green-yellow (matplotlib's default).
    case viridis
    /// The rainbow map the paper's figures use (matplotlib `jet`).
    case jet
    /// Black to white.
    case gray

    /// Parses a name (`viridis`, `jet`, `gray`/`grey`).
    public init?(name: String) {
        switch name.lowercased() {
        case "viridis": self = .viridis
        case "jet": self = .jet
        case "gray", "grey", "greys_r": self = .gray
        default: return nil
        }
    }

    /// The float table, 256 x 3 values in [0, 1], flattened.
    public var floatTable: [Double] {
        switch self {
        case .viridis: return Colormap.viridisData
        case .jet: return Colormap.jetData
        case .gray: return (0..<256).flatMap { i -> [Double] in let v = Double(i) / 255; return [v, v, v] }
        }
    }

    /// The 8-bit table, 256 x 3 bytes, flattened (matplotlib `bytes=True` truncation).
    public var table: [UInt8] {
        switch self {
        case .viridis: return Colormap.viridisBytes
        case .jet: return Colormap.jetBytes
        case .gray: return (0..<256).flatMap { i in [UInt8(i), UInt8(i), UInt8(i)] }
        }
    }

    /// The 8-bit colour of a value in [0, 1].
    public func color(_ x: Float) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = Colormap.index(x)
        let t = table
        return (t[3 * i], t[3 * i + 1], t[3 * i + 2])
    }

    /// matplotlib's index for a float: `Int(x * 256)`, clamped to 0...255.
    static func index(_ x: Float) -> Int {
        guard !x.isNaN else { return 0 }
        let scaled = Double(x) * 256
        if scaled < 0 { return 0 }
        if scaled >= 255 { return 255 }
        return Int(scaled)
    }

    /// `#rrggbb` for a value in [0, 1] (for SVG figures).
    public func hex(_ x: Float) -> String {
        let c = color(x)
        return "#" + [c.r, c.g, c.b].map { byte in
            let s = String(byte, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }

    // MARK: - Tables

    private static let viridisBytes: [UInt8] = viridisData.map { UInt8(($0 * 255).rounded(.towardZero)) }
    private static let jetBytes: [UInt8] = jetData.map { UInt8(($0 * 255).rounded(.towardZero)) }

    /// matplotlib's `_jet_data` segments: (x, y0, y1) per channel.
    private static let jetSegments: [[(Double, Double, Double)]] = [
        [(0, 0, 0), (0.35, 0, 0), (0.66, 1, 1), (0.89, 1, 1), (1, 0.5, 0.5)],
        [(0, 0, 0), (0.125, 0, 0), (0.375, 1, 1), (0.64, 1, 1), (0.91, 0, 0), (1, 0, 0)],
        [(0, 0.5, 0.5), (0.11, 1, 1), (0.34, 1, 1), (0.65, 0, 0), (1, 0, 0)],
    ]

    /// jet sampled as matplotlib's `LinearSegmentedColormap._create_lookup_table(256, ...)`.
    static let jetData: [Double] = {
        let n = 256
        var out = [Double](repeating: 0, count: n * 3)
        for (channel, segments) in jetSegments.enumerated() {
            let xs = segments.map { $0.0 * Double(n - 1) }
            for i in 0..<n {
                let v: Double
                if i == 0 {
                    v = segments[0].2
                } else if i == n - 1 {
                    v = segments[segments.count - 1].1
                } else {
                    let x = Double(n - 1) * (Double(i) / Double(n - 1))
                    // searchsorted (left): first k with xs[k] >= x.
                    let k = xs.firstIndex { $0 >= x } ?? (xs.count - 1)
                    let distance = (x - xs[k - 1]) / (xs[k] - xs[k - 1])
                    v = distance * (segments[k].1 - segments[k - 1].2) + segments[k - 1].2
                }
                out[i * 3 + channel] = min(max(v, 0), 1)
            }
        }
        return out
    }()
}
