import Foundation

/// numpy `.npy` files: read float32/float64/int/uint8/bool arrays (little-endian, C or
/// Fortran order) as Float32 tensors; write float32.
public enum NPY {
    public static func read(_ path: String) throws -> Tensor {
        try FileKind.requireRegular(path)   // a FIFO would block the read forever
        guard let data = FileManager.default.contents(atPath: path) else { throw CoreError("\(path): cannot read") }
        return try read(data: data, path: path)
    }

    public static func read(data: Data, path: String) throws -> Tensor {
        let bytes = [UInt8](data)
        func fail(_ why: String) -> CoreError { CoreError("\(path): not a valid .npy file: \(why)") }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else { throw fail("bad magic") }
        let major = bytes[6]
        let headerLen: Int
        let start: Int
        if major == 1 {
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8; start = 10
        } else if major == 2 || major == 3 {
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24; start = 12
        } else { throw fail("unsupported version \(major)") }
        guard headerLen <= 1_000_000, start + headerLen <= bytes.count else { throw fail("header runs past the end") }
        guard let header = String(bytes: bytes[start..<(start + headerLen)], encoding: .utf8) else { throw fail("header is not text") }
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrField = field("descr"), let q1 = descrField.firstIndex(of: "'"),
              let q2 = descrField[descrField.index(after: q1)...].firstIndex(of: "'") else { throw fail("no descr") }
        let descr = String(descrField[descrField.index(after: q1)..<q2])
        let fortran = field("fortran_order")?.hasPrefix("True") ?? false
        guard let shapeField = field("shape"), let open = shapeField.firstIndex(of: "("),
              let close = shapeField[open...].firstIndex(of: ")") else { throw fail("no shape") }
        let dims = shapeField[shapeField.index(after: open)..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for d in dims {
            guard let v = Int(d), v >= 0 else { throw fail("bad shape") }
            shape.append(v)
        }
        guard let count = Limits.elementCount(shape) else { throw fail("shape \(shape) is too large") }
        let itemSize: Int
        let kind: String
        switch descr {
        case "<f4", "=f4": (itemSize, kind) = (4, "f4")
        case "<f8", "=f8": (itemSize, kind) = (8, "f8")
        case "<f2": (itemSize, kind) = (2, "f2")
        case "<i8", "=i8": (itemSize, kind) = (8, "i8")
        case "<i4", "=i4": (itemSize, kind) = (4, "i4")
        case "<i2": (itemSize, kind) = (2, "i2")
        case "|i1": (itemSize, kind) = (1, "i1")
        case "|u1": (itemSize, kind) = (1, "u1")
        case "|b1": (itemSize, kind) = (1, "u1")
        default: throw fail("dtype '\(descr)' is not supported (float16/32/64, int8/16/32/64, uint8, bool)")
        }
        let dataStart = start + headerLen
        let (need, overflow) = count.multipliedReportingOverflow(by: itemSize)
        guard !overflow, need <= bytes.count - dataStart else { throw fail("data is shorter than shape \(shape) needs") }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            let base = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            for i in 0..<count {
                switch kind {
                case "f4": values[i] = Float(bitPattern: base.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
                case "f8": values[i] = Float(Double(bitPattern: base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
                case "f2": values[i] = Float(Float16(bitPattern: base.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
                case "i8": values[i] = Float(base.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
                case "i4": values[i] = Float(base.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
                case "i2": values[i] = Float(base.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))
                case "i1": values[i] = Float(Int8(bitPattern: base[i]))
                default: values[i] = Float(base[i])
                }
            }
        }
        let t = Tensor(values, shape: shape)
        if fortran && shape.count > 1 {
            return try Tensor(values, shape: shape.reversed()).permuted(Array((0..<shape.count).reversed())).contiguous()
        }
        return t
    }

    /// Writes `t` as a little-endian float32 C-order `.npy` (atomically).
    public static func write(_ t: Tensor, to path: String) throws {
        let shapeText = t.shape.isEmpty ? "()" : t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let n = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(n & 0xff), UInt8(n >> 8)])
        data.append(contentsOf: Array(header.utf8))
        let c = t.contiguous()
        data.append(UnsafeBufferPointer(start: c.pointer, count: c.count))
        try AtomicFile.write(data, to: path)
    }
}
