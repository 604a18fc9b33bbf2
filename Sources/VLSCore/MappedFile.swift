import Foundation
import VLSFiles
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
        // Checked before open: opening a FIFO for reading blocks until a writer comes.
        try FileKind.requireRegular(path)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw CoreError("\(path): cannot open (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CoreError("\(path): cannot stat") }
        // Again on the open file: the path may have been swapped since the check.
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

/// What a path names, told apart before anything opens it: a dangling or looping symlink
/// is an error (never "absent"), a FIFO or device is refused (opening one can block).
public enum FileKind: Equatable {
    case missing, regular, directory

    /// The kind of `path` after symlinks; throws for a dangling or looping symlink, a
    /// path that cannot be examined, and anything that is neither a file nor a folder.
    public static func of(_ path: String) throws -> FileKind {
        var st = stat()
        if stat(path, &st) != 0 {
            let code = errno
            var link = stat()
            if code == ENOENT && lstat(path, &link) == 0 && (link.st_mode & S_IFMT) == S_IFLNK {
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)).map { " to '\($0)'" } ?? ""
                throw CoreError("\(path): a dangling symlink\(target) (its target does not exist)")
            }
            if code == ELOOP { throw CoreError("\(path): a symlink loop (too many levels of symbolic links)") }
            if code == ENOENT || code == ENOTDIR { return .missing }
            throw CoreError("\(path): cannot examine (\(String(cString: strerror(code))))")
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        case S_IFIFO: throw CoreError("\(path): not a regular file (a FIFO)")
        case S_IFCHR, S_IFBLK: throw CoreError("\(path): not a regular file (a device)")
        case S_IFSOCK: throw CoreError("\(path): not a regular file (a socket)")
        default: throw CoreError("\(path): not a regular file")
        }
    }

    /// Throws unless `path` is a regular file (after symlinks), naming what it is instead.
    public static func requireRegular(_ path: String) throws {
        switch try of(path) {
        case .regular: return
        case .missing: throw CoreError("\(path): cannot open (\(String(cString: strerror(ENOENT))))")
        case .directory: throw CoreError("\(path): is a folder, not a file")
        }
    }
}

/// A whole file's bytes (`Files.readFile`): a file that cannot be read is an error naming it
/// and the reason (strerror: "Permission denied", "Too many levels of symbolic links").
func readWholeFile(_ path: String) throws -> [UInt8] {
    do {
        guard let bytes = try Files.readFile(path) else { throw CoreError("\(path): cannot read (\(Files.reason(ENOENT)))") }
        return bytes
    } catch let e as FileError {
        throw CoreError(e.message)
    }
}

/// The error of a reader that does not open `path` itself (a mapped Data) and failed:
/// open(2)'s reason (strerror).
func whyUnreadable(_ path: String) -> FileError {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    if fd >= 0 { close(fd); return FileError("\(path): cannot read (an I/O error)") }
    return Files.failure(path, errno)
}
