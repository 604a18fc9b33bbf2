import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A whole file mapped read-only into memory; unmapped when the last user is gone.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let base: UnsafeMutableRawPointer?
    public let size: Int

    /// Maps `path`; throws a `CoreError` naming the file when it cannot be opened or mapped.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw CoreError("\(path): cannot open (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CoreError("\(path): cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CoreError("\(path): not a regular file") }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw CoreError("\(path): cannot map into memory (\(String(cString: strerror(errno))))")
        }
        base = p
    }

    deinit {
        if let base { munmap(base, size) }
    }

    /// The bytes `range` of the file (caller has validated the range).
    public func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }
}
