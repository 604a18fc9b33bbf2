/// An error from decoding, encoding, resampling or reading a dataset.
///
/// The message is complete and names the file (when there is one), so callers can
/// print it as is: `cannot read image 'cat.png': invalid PNG: file is truncated`.
public struct ImagingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The full, human-readable message.
    public let message: String

    /// Creates an error with a complete message.
    public init(_ message: String) {
        self.message = message
    }

    /// The message.
    public var description: String { message }

    /// An error about one file: `<what> '<path>': <reason>`.
    static func file(_ path: String, _ reason: String, what: String = "cannot read image") -> ImagingError {
        ImagingError("\(what) '\(path)': \(reason)")
    }
}

/// `text` with control characters (C0, DEL, C1) written as `\u{1B}` escapes: names read
/// from files (label names in a config, class folders, a labels.csv) reach the terminal in
/// tables and messages, and an ESC there could rewrite the screen or the title.
public func escapingControlCharacters(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: isControl) else { return text }
    var out = ""
    for u in text.unicodeScalars {
        if isControl(u) { out += "\\u{" + String(u.value, radix: 16, uppercase: true) + "}" } else { out.unicodeScalars.append(u) }
    }
    return out
}

private func isControl(_ u: Unicode.Scalar) -> Bool {
    u.value < 0x20 || (0x7F...0x9F).contains(u.value)
}
