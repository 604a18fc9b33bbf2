import Foundation

/// Element types a safetensors file may hold.
public enum DType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    public var size: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

/// A safetensors file, memory-mapped; every header field is validated before a byte of
/// tensor data is touched. F32 tensors are zero-copy views of the map (when aligned);
/// other dtypes are converted to Float32 on access.
public final class SafetensorsFile: @unchecked Sendable {
    /// One entry of the header.
    public struct Entry: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range inside the data section.
        public let range: Range<Int>
    }

    public let path: String
    public let entries: [String: Entry]
    /// Tensor names in file order (by data offset).
    public let names: [String]
    /// The free-form `__metadata__` map of the header.
    public let metadata: [String: String]
    private let file: MappedFile
    private let dataStart: Int

    /// Largest header accepted (the format's own reference reader uses 100 MB).
    public static let maxHeaderBytes = 100_000_000

    public init(path: String) throws {
        self.path = path
        if path.hasSuffix(".pth") || path.hasSuffix(".bin") || path.hasSuffix(".pt") || path.hasSuffix(".ckpt") {
            throw CoreError("\(path): pickle checkpoints are never loaded (they can run code); convert it with Scripts/convert-checkpoint.py")
        }
        file = try MappedFile(path: path)
        let size = file.size
        func fail(_ why: String) -> CoreError { CoreError("\(path): not a valid safetensors file: \(why)") }
        guard size >= 8 else { throw fail(size == 0 ? "the file is empty" : "the file is \(size) bytes, shorter than the 8-byte header length") }
        let lengthBytes = file.bytes(0..<8)
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(lengthBytes[i]) << (8 * UInt64(i)) }
        let pickleMagic = lengthBytes[0] == 0x80 && (2...5).contains(lengthBytes[1])
        let zipMagic = lengthBytes[0] == 0x50 && lengthBytes[1] == 0x4B && lengthBytes[2] == 0x03 && lengthBytes[3] == 0x04
        if (pickleMagic || zipMagic) && n + 8 > UInt64(size) {
            throw CoreError("\(path): this is a PyTorch pickle/zip checkpoint, which is never loaded (it can run code); convert it with Scripts/convert-checkpoint.py")
        }
        guard n <= UInt64(SafetensorsFile.maxHeaderBytes) else { throw fail("header length \(n) exceeds the limit of \(SafetensorsFile.maxHeaderBytes) bytes") }
        guard Int(n) + 8 <= size else { throw fail("header length \(n) runs past the end of the file (\(size) bytes)") }
        let headerLength = Int(n)
        dataStart = 8 + headerLength
        var parser = SafetensorsHeaderParser(file.bytes(8..<dataStart), fail: fail)
        let dataSize = size - dataStart
        var entries: [String: Entry] = [:]
        let metadata = try parser.parse { key, info in
            guard entries[key] == nil else { throw fail("the header names '\(key)' twice") }
            guard let dtypeName = info.dtype else { throw fail("tensor '\(key)' has no dtype") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw fail("tensor '\(key)' has unknown dtype '\(dtypeName)' (known: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let shape = info.shape else { throw fail("tensor '\(key)' has no shape list") }
            guard shape.count <= Limits.maxRank else {
                throw fail("tensor '\(key)' has rank \(shape.count), more than the \(Limits.maxRank) axes a tensor may have")
            }
            // Also refuses empty shapes whose other dimensions overflow (strides must be countable).
            guard let elements = Limits.elementCount(shape) else { throw fail("tensor '\(key)' shape \(shape) overflows") }
            guard let offs = info.offsets else { throw fail("tensor '\(key)' has invalid data_offsets") }
            let begin = offs[0], end = offs[1]
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw fail("tensor '\(key)' data_offsets [\(begin), \(end)] lie outside the data section (\(dataSize) bytes)")
            }
            let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.size)
            guard !overflow, bytes == end - begin else {
                throw fail("tensor '\(key)' holds \(end - begin) bytes but shape \(shape) of \(dtype.rawValue) needs \(overflow ? "more than \(Int.max)" : "\(bytes)")")
            }
            entries[key] = Entry(name: key, dtype: dtype, shape: shape, range: begin..<end)
        }
        let ordered = entries.values.sorted { ($0.range.lowerBound, $0.range.upperBound, $0.name) < ($1.range.lowerBound, $1.range.upperBound, $1.name) }
        var previous: Entry?
        for e in ordered where !e.range.isEmpty {
            if let p = previous, e.range.lowerBound < p.range.upperBound {
                throw fail("tensors '\(p.name)' and '\(e.name)' overlap in the data section")
            }
            previous = e
        }
        self.entries = entries
        self.names = ordered.map(\.name)
        self.metadata = metadata
    }

    /// The tensor `name` as Float32: a zero-copy view for aligned F32, else converted.
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else { throw CoreError("\(path): no tensor named '\(name)'") }
        return try tensor(e)
    }

    /// The tensor of a validated entry as Float32 (a converted copy goes through the tensor cap).
    public func tensor(_ e: Entry) throws -> Tensor {
        let count = e.shape.reduce(1, *)
        let raw = file.bytes((dataStart + e.range.lowerBound)..<(dataStart + e.range.upperBound))
        if e.dtype == .f32, let base = raw.baseAddress, Int(bitPattern: base) % 4 == 0, count > 0 {
            let p = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Float.self))
            return Tensor(storage: TensorStorage(borrowing: p, count: count, owner: file), shape: e.shape)
        }
        let out = try Tensor(uninitialized: e.shape, for: "\(path): tensor '\(e.name)' (\(e.dtype.rawValue) to F32)")
        let dst = out.mutablePointer
        for i in 0..<count {
            dst[i] = SafetensorsFile.decode(raw, index: i, dtype: e.dtype)
        }
        return out
    }

    @inline(__always)
    static func decode(_ raw: UnsafeRawBufferPointer, index i: Int, dtype: DType) -> Float {
        switch dtype {
        case .f32: return Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
        case .f64: return Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
        case .f16: return Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
        case .bf16: return Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16)
        case .i64: return Float(raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
        case .i32: return Float(raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
        case .i16: return Float(raw.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))
        case .i8: return Float(raw.load(fromByteOffset: i, as: Int8.self))
        case .u8, .bool: return Float(raw[i])
        }
    }
}

/// Writes tensors as a safetensors file (F32), atomically (temporary file, then rename).
public enum SafetensorsWriter {
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to path: String) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for (name, t) in tensors {
            let bytes = t.count * 4
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var data = Data()
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
        data.append(json)
        for (_, t) in tensors {
            let c = t.contiguous()
            data.append(UnsafeBufferPointer(start: c.pointer, count: c.count))
        }
        try AtomicFile.write(data, to: path)
    }
}
