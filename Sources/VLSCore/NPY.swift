import Foundation

/// numpy `.npy` files: read float32/float64/int/uint8/bool arrays (little-endian, C or
/// Fortran order) as Float32 tensors; write float32.
public enum NPY {
    public static func read(_ path: String) throws -> Tensor {
        try FileKind.requireRegular(path)   // a FIFO would block the read forever
        return try read(bytes: try readWholeFile(path), path: path)
    }

    public static func read(data: Data, path: String) throws -> Tensor {
        try read(bytes: [UInt8](data), path: path)
    }

    static func read(bytes: [UInt8], path: String) throws -> Tensor {
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
        let dict: NPYHeader
        do { dict = try NPYHeader(header) } catch let e as CoreError { throw fail(e.message) }
        let descr = dict.descr, fortran = dict.fortranOrder, shape = dict.shape
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
        case "|b1": (itemSize, kind) = (1, "b1")   // any nonzero byte is True (numpy: astype gives 1.0)
        default: throw fail("dtype '\(descr)' is not supported (float16/32/64, int8/16/32/64, uint8, bool)")
        }
        let dataStart = start + headerLen
        let (need, overflow) = count.multipliedReportingOverflow(by: itemSize)
        guard !overflow, need <= bytes.count - dataStart else { throw fail("data is shorter than shape \(shape) needs") }
        _ = try Limits.checkTensor(shape, for: path)   // the float32 copy (an int8 file grows 4x)
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
                case "b1": values[i] = base[i] == 0 ? 0 : 1
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
        try Limits.checkRank(t.shape, for: "\(path): save")
        let shapeText = t.shape.isEmpty ? "()" : t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        // Version 1.0 has a 2-byte header length; a longer header (never at rank <= 64, but
        // the format allows it) takes version 2.0's 4-byte length, as numpy does.
        let v1 = 10 + header.utf8.count + 1 <= 65535 + 10
        let prefix = v1 ? 10 : 12
        while (prefix + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [v1 ? 1 : 2, 0])
        let n = header.utf8.count
        guard v1 ? n <= 0xFFFF : n <= Int(UInt32.max) else { throw CoreError("\(path): save: the .npy header would be \(n) bytes") }
        for k in 0..<(v1 ? 2 : 4) { data.append(UInt8((n >> (8 * k)) & 0xff)) }
        data.append(contentsOf: Array(header.utf8))
        let c = t.contiguous()
        data.append(UnsafeBufferPointer(start: c.pointer, count: c.count))
        try AtomicFile.write(data, to: path)
    }
}

/// The header dict of a `.npy` file, a Python literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`, parsed strictly as numpy
/// does: exactly the keys descr, fortran_order and shape, each once (a repeated key is
/// refused; Python's literal would keep the last silently), fortran_order a bool, shape a
/// tuple of non-negative integers with at most `Limits.maxRank` entries.
struct NPYHeader {
    var descr = ""
    var fortranOrder = false
    var shape: [Int] = []

    init(_ text: String) throws {
        let b = Array(text.utf8)
        var i = 0
        func ws() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 } }
        func expect(_ c: UInt8, _ what: String) throws {
            ws()
            guard i < b.count, b[i] == c else { throw CoreError("header: expected \(what) at byte \(i)") }
            i += 1
        }
        func string() throws -> String {
            ws()
            guard i < b.count, b[i] == 0x27 || b[i] == 0x22 else { throw CoreError("header: expected a quoted string at byte \(i)") }
            let q = b[i]; i += 1
            let start = i
            while i < b.count, b[i] != q { guard b[i] != 0x5C else { throw CoreError("header: escapes in strings are not supported") }; i += 1 }
            guard i < b.count else { throw CoreError("header: unterminated string") }
            defer { i += 1 }
            return String(decoding: b[start..<i], as: UTF8.self)
        }
        func word() -> String {
            ws()
            let start = i
            while i < b.count, (b[i] >= 0x30 && b[i] <= 0x39) || (b[i] >= 0x41 && b[i] <= 0x5A) || (b[i] >= 0x61 && b[i] <= 0x7A) || b[i] == 0x5F { i += 1 }
            return String(decoding: b[start..<i], as: UTF8.self)
        }
        var seen: Set<String> = []
        try expect(0x7B, "'{'")
        while true {
            ws()
            if i < b.count, b[i] == 0x7D { i += 1; break }
            let key = try string()
            guard seen.insert(key).inserted else { throw CoreError("header names '\(key)' twice") }
            try expect(0x3A, "':' after '\(key)'")
            switch key {
            case "descr":
                descr = try string()
            case "fortran_order":
                let w = word()
                guard w == "True" || w == "False" else { throw CoreError("fortran_order is not a bool (True or False), got '\(w.isEmpty ? "?" : w)'") }
                fortranOrder = w == "True"
            case "shape":
                try expect(0x28, "'(' to open the shape")
                var dims: [Int] = []
                while true {
                    ws()
                    if i < b.count, b[i] == 0x29 { i += 1; break }
                    let w = word()
                    guard let v = Int(w), v >= 0 else { throw CoreError("bad shape (dimension '\(w.isEmpty ? "?" : w)')") }
                    dims.append(v)
                    ws()
                    if i < b.count, b[i] == 0x2C { i += 1; continue }
                    try expect(0x29, "')' to close the shape")
                    break
                }
                guard dims.count <= Limits.maxRank else {
                    throw CoreError("shape has rank \(dims.count), more than the \(Limits.maxRank) axes a tensor may have")
                }
                shape = dims
            default:
                throw CoreError("unexpected key '\(key)' (a .npy header has descr, fortran_order and shape)")
            }
            ws()
            if i < b.count, b[i] == 0x2C { i += 1; continue }
            try expect(0x7D, "'}' to close the header")
            break
        }
        for k in ["descr", "fortran_order", "shape"] where !seen.contains(k) { throw CoreError("no \(k)") }
        ws()
        guard i == b.count else { throw CoreError("text after the header dict at byte \(i)") }
    }
}
