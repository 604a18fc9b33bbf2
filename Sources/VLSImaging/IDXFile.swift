import CImageShim
import Foundation

/// An IDX file (the MNIST / Fashion-MNIST format), optionally gzip-compressed.
///
/// Layout: two zero bytes, a type byte (only 0x08, unsigned byte, is accepted), the
/// number of dimensions, each dimension as a big-endian UInt32, then the data. Every
/// field is checked before the data is used: the dimensions must be positive, their
/// product must not overflow, and the payload must hold exactly that many bytes.
/// `*-idx3-ubyte` files hold [N, rows, cols] images, `*-idx1-ubyte` files [N] labels.
public struct IDXFile: Sendable {
    /// The file this was read from (or a name given for in-memory bytes).
    public let path: String
    /// Dimensions, outermost first: [N, rows, cols] for images, [N] for labels.
    public let shape: [Int]
    /// The payload, row-major, `shape.reduce(1, *)` bytes.
    public let data: [UInt8]

    /// Largest decompressed size accepted (1 GiB).
    public static let maxBytes = 1 << 30

    /// Reads an IDX file; a name ending in `.gz` or gzip magic bytes is inflated first.
    public init(contentsOf path: String) throws(ImagingError) {
        let raw = try readFileBytes(path, what: "cannot read IDX file")
        try self.init(bytes: raw, name: path)
    }

    /// Parses IDX bytes (gzip'd or not); errors name `name`.
    public init(bytes raw: [UInt8], name: String) throws(ImagingError) {
        func fail(_ reason: String) -> ImagingError { ImagingError.file(name, reason, what: "cannot read IDX file") }
        var bytes = raw
        if raw.count >= 2, raw[0] == 0x1F, raw[1] == 0x8B {
            do {
                bytes = try gunzip(raw, maxBytes: IDXFile.maxBytes)
            } catch {
                throw fail(error.message)
            }
        }
        guard !bytes.isEmpty else { throw fail("file is empty") }
        guard bytes.count >= 4 else { throw fail("file is too short for an IDX header (\(bytes.count) bytes)") }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw fail("bad magic number (first two bytes must be zero, got \(bytes[0]), \(bytes[1]))")
        }
        guard bytes[2] == 0x08 else {
            throw fail(String(format: "unsupported element type 0x%02X (only 0x08, unsigned byte, is supported)", bytes[2]))
        }
        let rank = Int(bytes[3])
        guard (1...4).contains(rank) else { throw fail("unsupported number of dimensions \(rank) (1 to 4)") }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw fail("header declares \(rank) dimensions but the file has only \(bytes.count) bytes")
        }
        var shape: [Int] = []
        var total = 1
        for d in 0..<rank {
            let o = 4 + 4 * d
            let v = Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
            guard v > 0 else { throw fail("dimension \(d) is zero") }
            let (product, overflow) = total.multipliedReportingOverflow(by: v)
            guard !overflow, product <= IDXFile.maxBytes else { throw fail("dimensions \(shape + [v]) are too large") }
            total = product
            shape.append(v)
        }
        let payload = bytes.count - headerSize
        guard payload == total else {
            let dims = shape.map(String.init).joined(separator: "x")
            throw fail("header declares shape \(dims) (\(total) bytes of data) but the file holds \(payload) bytes")
        }
        self.path = name
        self.shape = shape
        self.data = Array(bytes[headerSize...])
    }

    /// Number of items (the first dimension).
    public var count: Int { shape[0] }

    /// Shape of one item ([rows, cols] for images, [] for labels).
    public var itemShape: [Int] { Array(shape.dropFirst()) }

    /// The bytes of item i (rows x cols for images), nil when out of range.
    public func item(_ i: Int) -> ArraySlice<UInt8>? {
        guard i >= 0, i < count else { return nil }
        let size = itemShape.reduce(1, *)
        return data[(i * size)..<((i + 1) * size)]
    }

    /// Item i of a [N, rows, cols] file as an RGB image (gray replicated).
    public func image(_ i: Int) throws(ImagingError) -> Image {
        guard shape.count == 3 else {
            throw ImagingError.file(path, "holds shape \(shape), not [N, rows, cols] images", what: "IDX file")
        }
        guard let bytes = item(i) else {
            throw ImagingError.file(path, "image index \(i) out of range 0..<\(count)", what: "IDX file")
        }
        return try Image(width: shape[2], height: shape[1], gray: Array(bytes))
    }

    /// The values of a 1-d file (labels) as Ints; throws for other ranks.
    public func labels() throws(ImagingError) -> [Int] {
        guard shape.count == 1 else {
            throw ImagingError.file(path, "holds shape \(shape), not [N] labels", what: "IDX file")
        }
        return data.map(Int.init)
    }
}

/// Inflates gzip or zlib bytes through the C shim; more than `maxBytes` is an error.
public func gunzip(_ bytes: [UInt8], maxBytes: Int) throws(ImagingError) -> [UInt8] {
    var out: UnsafeMutablePointer<UInt8>? = nil
    var size = 0
    var message = [CChar](repeating: 0, count: 512)
    let status: Int32 = bytes.withUnsafeBufferPointer { buf in
        message.withUnsafeMutableBufferPointer { msg in
            vls_gunzip(buf.baseAddress, buf.count, max(maxBytes, 0), &out, &size, msg.baseAddress, msg.count)
        }
    }
    defer { vls_image_free(out) }
    guard status == VLS_OK else { throw ImagingError(shimMessage(message)) }
    guard let p = out else { return [] }
    return [UInt8](UnsafeBufferPointer(start: p, count: size))
}
