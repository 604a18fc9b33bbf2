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
