import CImageShim
import Foundation
import VLSFiles

// MARK: - PNG encoding

extension Image {
    /// Encodes the image as an 8-bit RGB PNG.
    public func pngData() throws(ImagingError) -> [UInt8] {
        try encodePNG(pixels: pixels, width: width, height: height, channels: 3)
    }

    /// Writes the image as a PNG file; errors name the file.
    public func writePNG(to path: String) throws(ImagingError) {
        let bytes = try pngData()
        try writeFileBytes(bytes, to: path, what: "cannot write image")
    }
}

/// Encodes RGB8 (`channels` 3) or RGBA8 (`channels` 4) interleaved pixels as PNG bytes.
public func encodePNG(pixels: [UInt8], width: Int, height: Int, channels: Int) throws(ImagingError) -> [UInt8] {
    guard channels == 3 || channels == 4, width > 0, height > 0,
          width <= Image.maxSide, height <= Image.maxSide, pixels.count == width * height * channels
    else {
        throw ImagingError("cannot encode PNG: \(pixels.count) bytes for \(width)x\(height)x\(channels)")
    }
    var out: UnsafeMutablePointer<UInt8>? = nil
    var size = 0
    var message = [CChar](repeating: 0, count: 512)
    let status: Int32 = pixels.withUnsafeBufferPointer { buf in
        message.withUnsafeMutableBufferPointer { msg in
            vls_png_encode(buf.baseAddress, Int32(width), Int32(height), Int32(channels), &out, &size, msg.baseAddress, msg.count)
        }
    }
    defer { vls_image_free(out) }
    guard status == VLS_OK, let bytes = out else {
        throw ImagingError("cannot encode PNG: \(shimMessage(message))")
    }
    return [UInt8](UnsafeBufferPointer(start: bytes, count: size))
}

/// Writes bytes to a file atomically (temporary file, then rename), with an
/// `ImagingError` naming it on failure.
func writeFileBytes(_ bytes: [UInt8], to path: String, what: String) throws(ImagingError) {
    do {
        try bytes.withUnsafeBytes { try Files.writeAtomically($0, to: path) }
    } catch let e as FileError {
        throw ImagingError(e.message)
    } catch {
        throw ImagingError.file(path, "\(error)", what: what)
    }
}
