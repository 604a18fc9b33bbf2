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
            self = try Image(bytes: bytes, held: bytes.count)
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
        try self.init(bytes: bytes, held: 0)
    }

    /// `held`: bytes the caller keeps alive during the decode (the file), counted against the cap.
    init(bytes: [UInt8], held: Int) throws(ImagingError) {
        if bytes.isEmpty { throw ImagingError("file is empty") }
        guard let format = ImageFormat.detect(bytes) else {
            throw ImagingError("not a PNG or JPEG file (unrecognised leading bytes)")
        }
        self = try Image.decode(bytes, format: format, held: held)
    }

    /// Runs the C decoder for `format` in two calls: the probe reads the header (size and
    /// the decode's peak memory), checked against the cap before anything large exists;
    /// then the pixels are decoded straight into the image's own array (no second copy).
    /// `held` is what the caller already holds for this image (the file's bytes), counted
    /// with the decoder's peak.
    static func decode(_ bytes: [UInt8], format: ImageFormat, held: Int = 0) throws(ImagingError) -> Image {
        var width: Int32 = 0
        var height: Int32 = 0
        var peak = 0
        var message = [CChar](repeating: 0, count: 512)
        let cap = MemoryCap.bytes
        let probed: Int32 = bytes.withUnsafeBufferPointer { buf in
            message.withUnsafeMutableBufferPointer { msg in
                switch format {
                case .png: vls_png_probe(buf.baseAddress, buf.count, &width, &height, &peak, msg.baseAddress, msg.count)
                case .jpeg: vls_jpeg_probe(buf.baseAddress, buf.count, &width, &height, &peak, msg.baseAddress, msg.count)
                }
            }
        }
        guard probed == VLS_OK else { throw ImagingError(shimMessage(message)) }
        let w = Int(width), h = Int(height)
        try checkSize(width: w, height: h)
        let rgb = w * h * 3
        let need = peak + held
        guard need <= cap else {
            throw ImagingError("a \(w)x\(h) image needs \(need) bytes to decode (\(rgb) of RGB output, the rest the file and the decoder's buffers), more than the limit of \(cap) bytes (set \(MemoryCap.variable) to change it)")
        }
        var status: Int32 = VLS_ERROR
        let pixels = [UInt8](unsafeUninitializedCapacity: rgb) { out, count in
            status = bytes.withUnsafeBufferPointer { buf in
                message.withUnsafeMutableBufferPointer { msg in
                    switch format {
                    case .png:
                        vls_png_decode(buf.baseAddress, buf.count, out.baseAddress, width, height, msg.baseAddress, msg.count)
                    case .jpeg:
                        // libjpeg's own arrays get what the cap leaves beside the output and the file.
                        vls_jpeg_decode(buf.baseAddress, buf.count, out.baseAddress, width, height, max(1, cap - rgb - held),
                                        msg.baseAddress, msg.count)
                    }
                }
            }
            count = status == VLS_OK ? rgb : 0
        }
        guard status == VLS_OK else { throw ImagingError(shimMessage(message)) }
        return Image(unchecked: w, h, pixels)
    }
}

/// Reads a whole file into bytes (one buffer, `Files.readFile`), with an `ImagingError`
/// naming it on failure and saying why (strerror: "Too many levels of symbolic links" for
/// a symlink loop, "Permission denied", ...); a FIFO or device is refused before reading.
func readFileBytes(_ path: String, what: String) throws(ImagingError) -> [UInt8] {
    do {
        guard let bytes = try Files.readFile(path) else {
            throw ImagingError.file(path, "no such file", what: what)
        }
        return bytes
    } catch let e as FileError {
        throw ImagingError.file(path, e.reason, what: what)
    } catch let e as ImagingError {
        throw e
    } catch {
        throw ImagingError.file(path, "\(error)", what: what)
    }
}

/// Converts a C message buffer into a Swift string.
func shimMessage(_ message: [CChar]) -> String {
    String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
