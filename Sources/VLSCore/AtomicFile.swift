import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Atomic file writes: a temporary file beside the target (`NAME.tmp-PID`), flushed to
/// disk, then renamed over it, so a kill, a crash or a full disk mid-write leaves the old
/// file whole (or no file), never a torn one. A writer killed mid-write can leave its
/// `.tmp-PID` file behind; the target itself is always whole.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        // Missing parent folders are created (figures into out/, ...).
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && !FileManager.default.fileExists(atPath: parent) {
            try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        func fail(_ what: String) -> CoreError { CoreError("\(path): cannot write (\(what): \(String(cString: strerror(errno))))") }
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw fail("cannot create a temporary file beside it") }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do {
            defer { close(fd) }
            try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw fail("write")
                    }
                    offset += n
                }
            }
            guard fsync(fd) == 0 else { throw fail("fsync") }
        }
        guard rename(tmp, path) == 0 else { throw fail("rename") }
        ok = true
    }
    /// Read-modify-write under an exclusive `flock` on `PATH.lock`: `transform` gets the
    /// current contents (nil when the file does not exist) and returns the new contents,
    /// which are written atomically. Processes updating one file this way (two REPLs
    /// appending to one history) never lose each other's changes.
    public static func update(_ path: String, _ transform: (Data?) throws -> Data) throws {
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CoreError("\(lockPath): cannot open lock file (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }   // closing releases the lock
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw CoreError("\(lockPath): cannot lock (\(String(cString: strerror(errno))))")
            }
        }
        let old = FileManager.default.contents(atPath: path)
        try write(try transform(old), to: path)
    }
}
