import Foundation

/// Inline image display in a terminal: 24-bit colour half-blocks, sixel and the kitty protocol.
///
/// These only build strings; the caller decides whether the terminal can show them
/// (kitty graphics where supported, half-blocks as the portable fallback).
public enum TerminalPreview {
    /// Renders an image as rows of `▀` characters, each cell showing two pixels (top in
    /// the foreground colour, bottom in the background colour), `columns` cells wide.
    ///
    /// The image is resized (Pillow box filter) to `columns` x `2 * rows` pixels, where
    /// rows keeps the aspect ratio for cells twice as tall as they are wide. Every line
    /// ends with a colour reset and a newline.
    public static func halfBlocks(_ image: Image, columns: Int) throws(ImagingError) -> String {
        guard columns > 0, columns <= 1000 else { throw ImagingError("preview width must be 1...1000 columns, got \(columns)") }
        let rows = max(1, Int((Double(columns) * Double(image.height) / Double(image.width) / 2).rounded()))
        let small = try image.resized(width: columns, height: rows * 2, filter: .box)
        var out = ""
        out.reserveCapacity(rows * columns * 40)
        for r in 0..<rows {
            for c in 0..<columns {
                let t = small.pixel(x: c, y: 2 * r)
                let b = small.pixel(x: c, y: 2 * r + 1)
                out += "\u{1B}[38;2;\(t.r);\(t.g);\(t.b)m\u{1B}[48;2;\(b.r);\(b.g);\(b.b)m\u{2580}"
            }
            out += "\u{1B}[0m\n"
        }
        return out
    }

    /// Wraps PNG bytes in kitty graphics protocol escapes (`a=T,f=100`), base64 in chunks
    /// of at most 4096 bytes with `m=1` on all but the last chunk.
    ///
    /// `columns`, when given, asks the terminal to scale the image to that many cells.
    public static func kitty(png: [UInt8], columns: Int? = nil) -> String {
        let payload = Data(png).base64EncodedString()
        let chunkSize = 4096
        var chunks: [Substring] = []
        var start = payload.startIndex
        while start < payload.endIndex {
            let end = payload.index(start, offsetBy: chunkSize, limitedBy: payload.endIndex) ?? payload.endIndex
            chunks.append(payload[start..<end])
            start = end
        }
        if chunks.isEmpty { chunks = [""] }
        var out = ""
        for (i, chunk) in chunks.enumerated() {
            let more = i < chunks.count - 1 ? 1 : 0
            if i == 0 {
                let size = columns.map { ",c=\($0)" } ?? ""
                out += "\u{1B}_Ga=T,f=100\(size),m=\(more);\(chunk)\u{1B}\\"
            } else {
                out += "\u{1B}_Gm=\(more);\(chunk)\u{1B}\\"
            }
        }
        return out
    }

    /// The kitty escape sequence for an image (encoded as PNG).
    public static func kitty(_ image: Image, columns: Int? = nil) throws(ImagingError) -> String {
        kitty(png: try image.pngData(), columns: columns)
    }

    /// Encodes an image as a DEC sixel sequence (`ESC P 0;1;0 q ... ESC \\`): raster
    /// attributes with the size, a palette of the 6x6x6 colour cube entries the image uses
    /// (components in percent), then bands of six rows, one pass per colour (`$` returns to
    /// the band's start, `-` moves to the next band), runs of four or more as `!n`.
    public static func sixel(_ image: Image) -> String {
        let w = image.width, h = image.height
        func level(_ v: UInt8) -> Int { (Int(v) * 5 + 127) / 255 }
        var index = [Int](repeating: 0, count: w * h)
        var used = [Bool](repeating: false, count: 216)
        for i in 0..<(w * h) {
            let c = level(image.pixels[3 * i]) * 36 + level(image.pixels[3 * i + 1]) * 6 + level(image.pixels[3 * i + 2])
            index[i] = c
            used[c] = true
        }
        var out = "\u{1B}P0;1;0q\"1;1;\(w);\(h)"
        for c in 0..<216 where used[c] {
            out += "#\(c);2;\(c / 36 * 20);\(c / 6 % 6 * 20);\(c % 6 * 20)"
        }
        var bits = [UInt8](repeating: 0, count: 216 * w)
        var present = [Bool](repeating: false, count: 216)
        for band in stride(from: 0, to: h, by: 6) {
            for k in 0..<216 where present[k] {
                for x in 0..<w { bits[k * w + x] = 0 }
                present[k] = false
            }
            for dy in 0..<min(6, h - band) {
                let row = (band + dy) * w
                for x in 0..<w {
                    let c = index[row + x]
                    bits[c * w + x] |= UInt8(1 << dy)
                    present[c] = true
                }
            }
            var first = true
            for c in 0..<216 where present[c] {
                if !first { out += "$" }
                first = false
                out += "#\(c)"
                var x = 0
                while x < w {
                    let b = bits[c * w + x]
                    var n = 1
                    while x + n < w, bits[c * w + x + n] == b { n += 1 }
                    let ch = Character(Unicode.Scalar(63 + b))
                    if n >= 4 { out += "!\(n)\(ch)" } else { out += String(repeating: ch, count: n) }
                    x += n
                }
            }
            out += "-"
        }
        return out + "\u{1B}\\"
    }
}
