import CImageShim
import Foundation
import VLSFiles

/// The container formats the decoder recognises by their leading bytes.
public enum ImageFormat: String, Sendable {
    case png
    case jpeg

    /// Detects PNG (`89 50 4E 47 0D 0A 1A 0A`) or JPEG (`FF D8 FF`) from the first bytes.
    public static func detect(_ bytes: [UInt8]) -> ImageFormat? {
        let pngMagic: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if bytes.count >= 8, Array(bytes[0..<8]) == pngMagic { return .png }
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
        return nil
    }
}

// MARK: - Decoding

extension Image {
    /// Reads and decodes a PNG or JPEG file into 8-bit RGB.
    ///
    /// Gray, gray+alpha, palette, 16-bit and RGBA PNGs become RGB as Pillow's
    /// `convert('RGB')` does (alpha dropped, 16-bit samples keep the high byte);
    /// gray and CMYK JPEGs too. Any failure (missing file, empty, truncated, corrupt,
    /// unknown format) throws one `ImagingError` naming the file.
    public init(contentsOf path: String) throws(ImagingError) {
        let bytes = try readFileBytes(path, what: "cannot read image")
        do {
            self = try Image(bytes: bytes)
        } catch {
            throw ImagingError.file(path, error.message)
        }
    }

    /// Decodes PNG or JPEG bytes; errors do not name a file (use `init(contentsOf:)`).
    public init(data: Data) throws(ImagingError) {
        try self.init(bytes: [UInt8](data))
    }

    /// Decodes PNG or JPEG bytes held in an array.
    public init(bytes: [UInt8]) throws(ImagingError) {
        if bytes.isEmpty { throw ImagingError("file is empty") }
        guard let format = ImageFormat.detect(bytes) else {
            throw ImagingError("not a PNG or JPEG file (unrecognised leading bytes)")
        }
        self = try Image.decode(bytes, format: format)
    }

    /// Runs the C decoder for `format` and copies its buffer into an `Image`.
    static func decode(_ bytes: [UInt8], format: ImageFormat) throws(ImagingError) -> Image {
        var width: Int32 = 0
        var height: Int32 = 0
        var out: UnsafeMutablePointer<UInt8>? = nil
        var message = [CChar](repeating: 0, count: 512)
        let cap = MemoryCap.bytes   // width x height x 3 is checked against it from the header
        let status: Int32 = bytes.withUnsafeBufferPointer { buf in
            message.withUnsafeMutableBufferPointer { msg in
                switch format {
                case .png:
                    vls_png_decode(buf.baseAddress, buf.count, &width, &height, &out, cap, msg.baseAddress, msg.count)
                case .jpeg:
                    vls_jpeg_decode(buf.baseAddress, buf.count, &width, &height, &out, cap, msg.baseAddress, msg.count)
                }
            }
        }
        defer { vls_image_free(out) }
        guard status == VLS_OK, let pixels = out else {
            throw ImagingError(shimMessage(message))
        }
        let w = Int(width)
        let h = Int(height)
        try checkSize(width: w, height: h)
        let copy = [UInt8](UnsafeBufferPointer(start: pixels, count: w * h * 3))
        return Image(unchecked: w, h, copy)
    }
}

/// Reads a whole file into bytes, with an `ImagingError` naming it on failure.
func readFileBytes(_ path: String, what: String) throws(ImagingError) -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw ImagingError.file(path, "no such file", what: what)
    }
    if isDirectory.boolValue {
        throw ImagingError.file(path, "is a directory", what: what)
    }
    // A FIFO or device would block the read (or never end): refused before opening.
    var st = stat()
    guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
        throw ImagingError.file(path, "not a regular file", what: what)
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ImagingError.file(path, "cannot open file for reading", what: what)
    }
    return [UInt8](data)
}

/// Converts a C message buffer into a Swift string.
func shimMessage(_ message: [CChar]) -> String {
    String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
